//! The Prometheus-compatible API in process: remote write in, PromQL out,
//! the requests Grafana's Prometheus data source sends (its health check,
//! metric browser, range queries, exemplars, metadata) answered in the
//! shapes it parses, per tenant, behind tokens.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;
use watchfloor_server::api::AppState;
use watchfloor_server::auth;
use watchfloor_telemetry::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};

struct Server {
    router: Router,
    app: Arc<AppState>,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let (router, app, dir) = common::assembled().await;
    Server {
        router,
        app,
        _dir: dir,
    }
}

/// 2023-11-14T22:13:20Z: a round time for the series below.
const T0: i64 = 1_700_000_000_000;

impl Server {
    fn token(&self, role: &str, tenant: &str) -> String {
        auth::create_token(
            self.app.access.as_ref(),
            &format!("{role}-{tenant}"),
            role,
            tenant,
        )
        .expect("token")
        .0
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, token, None, Vec::new()).await
    }

    /// A form POST, as Grafana sends queries.
    async fn form(&self, path: &str, token: &str, form: &str) -> (StatusCode, Value) {
        self.send(
            Method::POST,
            path,
            token,
            Some("application/x-www-form-urlencoded"),
            form.as_bytes().to_vec(),
        )
        .await
    }

    async fn remote_write(&self, token: &str, series: Vec<TimeSeries>) -> (StatusCode, Value) {
        let body = encode(&WriteRequest {
            timeseries: series,
            metadata: Vec::new(),
        });
        self.send(
            Method::POST,
            "/api/v1/write",
            token,
            Some("application/x-protobuf"),
            body,
        )
        .await
    }
}

fn series(labels: &[(&str, &str)], samples: impl IntoIterator<Item = (i64, f64)>) -> TimeSeries {
    TimeSeries {
        labels: labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        samples: samples
            .into_iter()
            .map(|(t, v)| Sample {
                timestamp: t,
                value: v,
            })
            .collect(),
    }
}

/// An hour of a counter growing 10/s for two instances, every 15 s.
fn counters() -> Vec<TimeSeries> {
    ["a:9100", "b:9100"]
        .iter()
        .map(|inst| {
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("instance", inst),
                ],
                (0..240).map(|i| (T0 + i * 15_000, (i * 150) as f64)),
            )
        })
        .collect()
}

#[tokio::test]
async fn remote_write_then_grafanas_requests_answer_as_prometheus_would() {
    let s = server().await;
    let ingest = s.token("ingest", "acme");
    let viewer = s.token("viewer", "acme");
    let (status, _) = s.remote_write(&ingest, counters()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let end = (T0 + 239 * 15_000) / 1000;

    // Grafana's data source: version probe, then its health check query.
    let (status, v) = s.get("/prometheus/api/v1/status/buildinfo", &viewer).await;
    assert_eq!(
        (status, v["data"]["version"].as_str()),
        (StatusCode::OK, Some("2.42.0"))
    );
    let (status, v) = s
        .form(
            "/prometheus/api/v1/query",
            &viewer,
            &format!("query=1%2B1&time={end}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["resultType"], "scalar");
    assert_eq!(v["data"]["result"][1], "2");

    // The metric browser.
    let (_, v) = s
        .get(
            &format!("/prometheus/api/v1/labels?start={}&end={end}", T0 / 1000),
            &viewer,
        )
        .await;
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );
    let (_, v) = s
        .get("/prometheus/api/v1/label/__name__/values", &viewer)
        .await;
    assert_eq!(v["data"], serde_json::json!(["http_requests_total"]));
    let (_, v) = s.get("/prometheus/api/v1/label/instance/values?match[]=http_requests_total%7Bjob%3D%22api%22%7D", &viewer).await;
    assert_eq!(v["data"], serde_json::json!(["a:9100", "b:9100"]));
    let (_, v) = s
        .get(
            &format!(
                "/prometheus/api/v1/series?match[]=http_requests_total&start={}&end={end}",
                T0 / 1000
            ),
            &viewer,
        )
        .await;
    assert_eq!(v["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["data"][0]["instance"], "a:9100");

    // A panel's range query, form-encoded, with the step in seconds.
    let form = format!(
        "query=sum(rate(http_requests_total%5B5m%5D))&start={}&end={end}&step=60",
        T0 / 1000 + 600
    );
    let (status, v) = s
        .form("/prometheus/api/v1/query_range", &viewer, &form)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let values = v["data"]["result"][0]["values"].as_array().expect("values");
    assert_eq!(values.len(), 50);
    assert_eq!(values[0][0], T0 / 1000 + 600, "times are seconds");
    assert_eq!(values[0][1], "20", "two counters at 10/s");

    // Exemplars and metadata: empty but well-formed.
    let (status, v) = s
        .form(
            "/prometheus/api/v1/query_exemplars",
            &viewer,
            "query=up&start=0&end=1",
        )
        .await;
    assert_eq!(
        (status, v["data"].clone()),
        (StatusCode::OK, serde_json::json!([]))
    );
    let (status, v) = s.get("/prometheus/api/v1/metadata", &viewer).await;
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::OK, Some("success"))
    );

    // The same query by GET under /api/v1, with an RFC 3339 time.
    let (status, v) = s.get("/api/v1/query?query=http_requests_total%7Binstance%3D%22a%3A9100%22%7D&time=2023-11-14T22:30:00Z", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["data"]["result"][0]["metric"]["__name__"],
        "http_requests_total"
    );
    assert_eq!(
        v["data"]["result"][0]["value"],
        serde_json::json!([1_700_000_000 + 1000, "9900"]),
        "the sample at 990 s"
    );
}

#[tokio::test]
async fn errors_come_in_prometheus_shape_and_roles_hold() {
    let s = server().await;
    let viewer = s.token("viewer", "acme");
    let ingest = s.token("ingest", "acme");
    let (status, v) = s.get("/api/v1/query?query=sum(", &viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (v["status"].as_str(), v["errorType"].as_str()),
        (Some("error"), Some("bad_data"))
    );
    let (status, v) = s
        .get(
            "/api/v1/query_range?query=up&start=10&end=0&step=1",
            &viewer,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = s
        .get(
            "/api/v1/query_range?query=up&start=0&end=100000&step=1",
            &viewer,
        )
        .await;
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("11,000 points")),
        "{status} {v}"
    );
    let (status, _) = s.get("/api/v1/series", &viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "match[] is required");
    // A viewer may not write, an ingest token may not read.
    let (status, _) = s.remote_write(&viewer, counters()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.get("/api/v1/query?query=up", &ingest).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // No token at all.
    let response = s
        .router
        .clone()
        .oneshot(
            Request::get("/api/v1/query?query=up")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Garbage bodies and refused samples say what and where.
    let (status, v) = s
        .send(
            Method::POST,
            "/api/v1/write",
            &ingest,
            None,
            b"\x00garbage".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("remote write body")),
        "{v}"
    );
    s.remote_write(&ingest, vec![series(&[("__name__", "m")], [(2000, 1.0)])])
        .await;
    let (status, v) = s
        .remote_write(
            &ingest,
            vec![series(&[("__name__", "m")], [(1000, 1.0), (3000, 3.0)])],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("out of order") && e.contains("m{}")),
        "{v}"
    );
    let (_, v) = s.get("/api/v1/query?query=m&time=3", &viewer).await;
    assert_eq!(
        v["data"]["result"][0]["value"][1], "3",
        "the rest of the batch is kept"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_series() {
    let s = server().await;
    s.remote_write(&s.token("ingest", "acme"), counters()).await;
    let (status, v) = s
        .get(
            "/api/v1/query?query=count(http_requests_total)&time=1700001000",
            &s.token("viewer", "globex"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["result"], serde_json::json!([]));
    let (_, v) = s.get("/api/v1/labels", &s.token("viewer", "globex")).await;
    assert_eq!(v["data"], serde_json::json!([]));
    let (_, v) = s
        .get(
            "/api/v1/query?query=count(http_requests_total)&time=1700001000",
            &s.token("viewer", "acme"),
        )
        .await;
    assert_eq!(v["data"]["result"][0]["value"][1], "2");
}

#[tokio::test]
async fn scripts_push_json_samples() {
    let s = server().await;
    let ingest = s.token("ingest", "acme");
    let body = br#"[{"metric":{"__name__":"backup_age_seconds","host":"db1"},"value":3600,"timestamp":1700000000000},{"metric":{"__name__":"backup_age_seconds","host":"db2"},"value":"NaN","timestamp":1700000000000}]"#;
    let (status, v) = s
        .send(
            Method::POST,
            "/api/v1/metrics/push",
            &ingest,
            Some("application/json"),
            body.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = s
        .get(
            "/api/v1/query?query=backup_age_seconds%20%3E%201000&time=1700000000",
            &s.token("viewer", "acme"),
        )
        .await;
    assert_eq!(v["data"]["result"].as_array().map(Vec::len), Some(1));
    let (status, v) = s
        .send(
            Method::POST,
            "/api/v1/metrics/push",
            &ingest,
            Some("application/json"),
            br#"[{"metric":{},"value":1}]"#.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("sample 1")),
        "{v}"
    );
}

#[tokio::test]
async fn metric_rules_fire_into_the_alert_list_and_show_in_prometheus_shape() {
    let (router, app, dir) = common::assembled_with(|cfg, dir| {
        let rules = dir.join("rules.yml");
        std::fs::write(
            &rules,
            "groups:\n  - name: lab\n    interval: 1s\n    rules:\n      - alert: BackupLate\n        expr: backup_age_seconds > 3600\n        labels:\n          severity: critical\n        annotations:\n          summary: \"backup of {{ $labels.host }} is {{ $value | humanize }}s old\"\n      - record: backup:age:max\n        expr: max(backup_age_seconds)\n",
        )
        .expect("rules");
        cfg.telemetry.rule_files = vec![rules];
        cfg.telemetry.shipped_rules = false;
    })
    .await;
    let s = Server {
        router,
        app,
        _dir: dir,
    };
    let ingest = s.token("ingest", "default");
    let viewer = s.token("viewer", "default");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let (status, _) = s
        .remote_write(
            &ingest,
            vec![series(
                &[("__name__", "backup_age_seconds"), ("host", "db1")],
                [(now, 7200.0)],
            )],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut found = Value::Null;
    for _ in 0..100 {
        let (_, v) = s.get("/api/v1/alerts?kind=metric", &viewer).await;
        if v["alerts"].as_array().is_some_and(|a| !a.is_empty()) {
            found = v;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let alert = &found["alerts"][0];
    assert_eq!(alert["rule_title"], "backup of db1 is 7.2ks old", "{found}");
    assert_eq!(
        (
            alert["level"].as_str(),
            alert["domain"].as_str(),
            alert["host"].as_str()
        ),
        (Some("critical"), Some("operations"), Some("db1"))
    );
    let (_, v) = s.get("/prometheus/api/v1/alerts", &viewer).await;
    assert_eq!(v["data"]["alerts"][0]["state"], "firing", "{v}");
    let (_, v) = s.get("/prometheus/api/v1/rules", &viewer).await;
    assert_eq!(
        v["data"]["groups"][0]["rules"][1]["type"], "recording",
        "{v}"
    );
    let (_, v) = s
        .get(
            &format!(
                "/api/v1/query?query=backup:age:max&time={}",
                now as f64 / 1000.0 + 5.0
            ),
            &viewer,
        )
        .await;
    assert_eq!(
        v["data"]["result"][0]["value"][1], "7200",
        "the recording rule wrote its series: {v}"
    );
    // Another tenant has the rules but not the data, nor the alert.
    let (_, v) = s
        .get("/prometheus/api/v1/alerts", &s.token("viewer", "globex"))
        .await;
    assert_eq!(v["data"]["alerts"], serde_json::json!([]));
}
