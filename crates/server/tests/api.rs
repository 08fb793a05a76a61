//! Handler behaviour on the router in process (no socket): status codes,
//! validation messages, roles and tenant scoping. Each test assembles a
//! server on a fresh data directory and sends requests with
//! `tower::ServiceExt::oneshot`; the flows that need real sockets and peers
//! are in `crates/cli/tests`.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;
use watchfloor_server::api::AppState;
use watchfloor_server::auth;

/// A server on its own data directory, and its first admin's token.
struct Server {
    router: Router,
    app: Arc<AppState>,
    admin: String,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let (router, app, dir) = common::assembled().await;
    let admin = std::fs::read_to_string(dir.path().join("initial-admin-token"))
        .expect("initial admin token")
        .trim()
        .to_string();
    Server {
        router,
        app,
        admin,
        _dir: dir,
    }
}

impl Server {
    /// A token of `role` in `tenant`.
    fn token(&self, role: &str, tenant: &str) -> String {
        auth::create_token(self.app.access.as_ref(), role, role, tenant)
            .expect("token")
            .0
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }
}

fn error(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn health_is_open_and_everything_else_needs_a_token() {
    let s = server().await;
    let (status, body) = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    for path in [
        "/api/v1/alerts",
        "/api/v1/incidents",
        "/metrics",
        "/api/v1/nothing-here",
    ] {
        let (status, _) = s.call(Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} without a token");
        let (status, _) = s
            .call(Method::GET, path, Some("wf_not-a-real-token"), None)
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
    }
    let (status, body) = s.get("/api/v1/nothing-here", &s.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn filters_are_checked_and_named_in_the_answer() {
    let s = server().await;
    let (status, body) = s.get("/api/v1/alerts?level=severe", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error(&body).contains("level") && error(&body).contains("severe"),
        "{body}"
    );
    let (status, body) = s.get("/api/v1/alerts?level=HIGH", &s.admin).await;
    assert_eq!(status, StatusCode::OK, "levels in any case: {body}");
    let (status, body) = s.get("/api/v1/incidents?domain=space", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("domain"), "{body}");
    let (status, body) = s.get("/api/v1/events?q=host:(", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = s.get("/api/v1/events?from=yesterday-ish", &s.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).starts_with("from:"), "{body}");
}

#[tokio::test]
async fn bodies_with_unknown_or_missing_fields_are_refused_by_name() {
    let s = server().await;
    let (status, body) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "x", "type": "outage", "colour": "red"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("colour"), "{body}");
    let (status, body) = s
        .post("/api/v1/incidents", &s.admin, json!({"type": "outage"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("title"), "{body}");
    let (status, body) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "x", "type": "outage", "severity": "severe"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "typed severity: {body}");
}

#[tokio::test]
async fn roles_allow_what_they_may_and_refuse_the_rest() {
    let s = server().await;
    let viewer = s.token("viewer", "default");
    let ingest = s.token("ingest", "default");
    let analyst = s.token("soc_analyst", "default");
    let (status, _) = s.get("/api/v1/incidents", &viewer).await;
    assert_eq!(status, StatusCode::OK, "a viewer reads");
    let new = json!({"title": "Phishing wave", "type": "phishing"});
    let (status, _) = s.post("/api/v1/incidents", &viewer, new.clone()).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer does not open incidents"
    );
    let (status, _) = s.get("/api/v1/incidents", &ingest).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an ingest token only sends events"
    );
    let (status, _) = s
        .post(
            "/api/v1/tokens",
            &analyst,
            json!({"name": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "only admins make tokens");
    let (status, body) = s.post("/api/v1/incidents", &analyst, new).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["severity"], "medium", "the default severity, typed");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_incidents() {
    let s = server().await;
    let (status, body) = s
        .post("/api/v1/tenants", &s.admin, json!({"name": "acme"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, opened) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "Uplink down", "type": "outage"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let id = opened["id"].as_i64().expect("id");
    let acme = s.token("incident_manager", "acme");
    let (status, _) = s.get(&format!("/api/v1/incidents/{id}"), &acme).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's incident does not exist for acme"
    );
    let (status, list) = s.get("/api/v1/incidents", &acme).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["incidents"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/api/v1/incidents/{id}"),
            Some(&acme),
            Some(json!({"version": 1, "status": "acknowledged"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nor can acme change it");
    let (status, list) = s.get("/api/v1/incidents", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["incidents"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
}

#[tokio::test]
async fn ingest_answers_after_the_log_has_the_events() {
    let s = server().await;
    let ingest = s.token("ingest", "default");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/ingest?source=app")
        .header(header::AUTHORIZATION, format!("Bearer {ingest}"))
        .body(Body::from(
            "{\"message\":\"one\"}\nnot json\n{\"message\":\"two\"}\n",
        ))
        .expect("request");
    let response = s.router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(
        (body["accepted"].as_u64(), body["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{body}"
    );
    assert_eq!(body["errors"][0]["line"], 2);
    assert!(s.app.wal.durable() >= body["last_id"].as_u64().expect("last id"));
    let (status, body) = s
        .post("/api/v1/ingest?source=bad%20name", &ingest, json!({"m": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).starts_with("source:"), "{body}");
}

#[tokio::test]
async fn aggregations_count_by_time_and_by_value_in_the_callers_tenant() {
    let s = server().await;
    let now = watchfloor_model::now_ns();
    let event = |id: u64, tenant: &str, host: &str| watchfloor_search::EventDoc {
        id,
        time_ns: now - 30_000_000_000,
        received_ns: now,
        tenant: tenant.into(),
        source: "test".into(),
        host: Some(host.into()),
        truncated: false,
        fields: serde_json::Map::new(),
    };
    let events = [
        event(1, "default", "web1"),
        event(2, "default", "web1"),
        event(3, "default", "db1"),
        event(4, "other", "web1"),
    ];
    s.app.events.append(&events).expect("append");
    s.app.events.commit(4).expect("commit");
    let viewer = s.token("viewer", "default");
    let (status, a) = s
        .get(
            "/api/v1/events/aggregate?from=now-1h&histogram=10m&count_by=host&distinct=host",
            &viewer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["matched"], 3, "the other tenant's event is not counted");
    assert_eq!(a["complete"], true);
    assert_eq!(a["top"]["values"][0], json!({"value": "web1", "count": 2}));
    assert_eq!(a["distinct"]["count"], 2);
    let buckets = a["histogram"].as_array().expect("histogram");
    assert!(
        (6..=7).contains(&buckets.len()),
        "every 10 minutes of the hour"
    );
    assert_eq!(
        buckets
            .iter()
            .map(|b| b["count"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    for (query, message) in [
        ("", "at least one of histogram"),
        ("?histogram=1y", "unknown unit"),
        ("?histogram=1s&from=now-30d", "widen the interval"),
        ("?count_by=host&top=0", "between 1 and 1000"),
        ("?count_by=host&q=(", "column"),
    ] {
        let (status, body) = s
            .get(&format!("/api/v1/events/aggregate{query}"), &viewer)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(error(&body).contains(message), "{query}: {body}");
    }
}

impl Server {
    /// A request with a text body.
    async fn send_text(
        &self,
        method: Method,
        path: &str,
        token: &str,
        text: &str,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(text.to_string()))
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn indicators_are_imported_listed_explained_and_expired_per_tenant() {
    let s = server().await;
    let analyst = s.token("soc_analyst", "acme");
    let viewer = s.token("viewer", "acme");
    let other = s.token("soc_analyst", "globex");
    let path = "/api/v1/intel/indicators?source=blocklist&labels=c2,botnet&tlp=green&confidence=80";
    let list = "# a feed\n203.0.113.0/24\nevil.example\nhttp://phish.example/login\nnot a value\n";
    let (status, body) = s.send_text(Method::POST, path, &viewer, list).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer imports nothing: {body}"
    );
    let (status, body) = s.send_text(Method::POST, path, &analyst, list).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (body["added"].as_u64(), body["refused"].as_u64()),
        (Some(3), Some(1))
    );
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap_or_default()
            .contains("line 5"),
        "{body}"
    );
    // Re-importing merges.
    let (_, body) = s.send_text(Method::POST, path, &analyst, list).await;
    assert_eq!(
        (body["added"].as_u64(), body["merged"].as_u64()),
        (Some(0), Some(3))
    );

    let (status, page) = s.get("/api/v1/intel/indicators?kind=domain", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);
    let ind = &page["indicators"][0];
    assert_eq!(
        (
            ind["value"].as_str(),
            ind["scope"].as_str(),
            ind["tlp"].as_str()
        ),
        (Some("evil.example"), Some("acme"), Some("green"))
    );
    assert_eq!(ind["labels"], json!(["c2", "botnet"]));
    assert_eq!(ind["live"], true);

    let (_, ex) = s
        .get("/api/v1/intel/match?value=www.EVIL.example", &viewer)
        .await;
    assert_eq!(
        (ex["outcome"].as_str(), ex["kind"].as_str()),
        (Some("hit"), Some("domain")),
        "{ex}"
    );
    assert_eq!(ex["indicator"]["value"], "evil.example");
    let (_, ex) = s
        .get("/api/v1/intel/match?value=203.0.113.200", &other)
        .await;
    assert_eq!(ex["outcome"], "miss", "acme's indicators are not globex's");
    let (_, page) = s.get("/api/v1/intel/indicators", &other).await;
    assert_eq!(page["total"], 0);

    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/intel/indicators?value=203.0.113.0/24",
            Some(&analyst),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, ex) = s
        .get("/api/v1/intel/match?value=203.0.113.7", &viewer)
        .await;
    assert_eq!(ex["outcome"], "expired", "{ex}");
    let (status, _) = s
        .call(
            Method::DELETE,
            "/api/v1/intel/indicators?value=198.51.100.1",
            Some(&analyst),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, page) = s.get("/api/v1/intel/indicators?live=true", &viewer).await;
    assert_eq!(
        page["total"], 2,
        "the expired one is listed only without live=true"
    );
}

#[tokio::test]
async fn shared_indicators_are_the_providers_to_change_and_everyones_to_match() {
    let s = server().await;
    let tenant_admin = s.token("admin", "acme");
    // Yesterday: decay counts from the indicator's last change.
    let yesterday =
        watchfloor_model::format_rfc3339(watchfloor_model::now_ns() - 86_400_000_000_000);
    let bundle = json!({
        "type": "bundle", "id": "bundle--1",
        "objects": [{
            "type": "indicator", "spec_version": "2.1",
            "id": "indicator--5f1b8a70-5a0e-4d9d-9f8e-0c1a5c7a3e11",
            "created": yesterday, "modified": yesterday, "valid_from": yesterday,
            "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'c2.example']",
            "pattern_type": "stix", "confidence": 90
        }]
    })
    .to_string();
    let shared = "/api/v1/intel/indicators?scope=shared&source=provider-feed";
    let (status, body) = s
        .send_text(Method::POST, shared, &tenant_admin, &bundle)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(error(&body).contains("provider"), "{body}");
    let (status, body) = s.send_text(Method::POST, shared, &s.admin, &bundle).await;
    assert_eq!(
        (status, body["added"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{body}"
    );
    let (_, ex) = s
        .get("/api/v1/intel/match?value=198.51.100.7", &tenant_admin)
        .await;
    assert_eq!(ex["outcome"], "hit", "{ex}");
    assert_eq!(ex["indicator"]["scope"], "shared");
    let (status, body) = s
        .get("/api/v1/intel/match?value=not%20a%20value", &tenant_admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("kind="), "{body}");
    let (status, body) = s
        .get("/api/v1/intel/indicators?kind=ipv9", &tenant_admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&body).contains("ipv9"), "{body}");
}

impl Server {
    /// A GET whose answer is text: status, headers, body.
    async fn get_raw(&self, path: &str, token: &str) -> (StatusCode, header::HeaderMap, String) {
        let request = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            status,
            headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }
}

#[tokio::test]
async fn exports_hold_what_matches_now_within_the_tlp_ceiling_per_tenant() {
    let s = server().await;
    let analyst = s.token("soc_analyst", "acme");
    let other = s.token("soc_analyst", "globex");
    let green = "/api/v1/intel/indicators?source=feed&tlp=green";
    let list = "45.137.21.0/24\n45.137.21.9\n2001:db8::/32\nevil.example\nhttp://phish.example/a\n";
    let (status, body) = s.send_text(Method::POST, green, &analyst, list).await;
    assert_eq!(
        (status, body["added"].as_u64()),
        (StatusCode::CREATED, Some(5)),
        "{body}"
    );
    let red = "/api/v1/intel/indicators?source=closed&tlp=red";
    s.send_text(Method::POST, red, &analyst, "10.66.0.1\n")
        .await;
    s.call(
        Method::DELETE,
        "/api/v1/intel/indicators?value=45.137.21.9",
        Some(&analyst),
        None,
    )
    .await;

    let (status, headers, text) = s
        .get_raw("/api/v1/intel/export?format=text&kind=ip", &analyst)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "45.137.21.0/24\n2001:db8::/32\n");
    let count = |name: &str| headers[name].to_str().unwrap().to_string();
    assert_eq!(
        (
            count("x-watchfloor-expired"),
            count("x-watchfloor-withheld")
        ),
        ("1".into(), "1".into()),
        "the expired address and the red one are left out"
    );
    let (_, _, text) = s
        .get_raw(
            "/api/v1/intel/export?format=text&kind=ip&max_tlp=red",
            &analyst,
        )
        .await;
    assert!(text.contains("10.66.0.1\n"), "{text}");

    let (_, headers, nft) = s
        .get_raw(
            "/api/v1/intel/export?format=nftables&table=ip%20edge&set=bad",
            &analyst,
        )
        .await;
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{nft}"
    );
    assert!(
        nft.contains("add element ip edge bad_v4 { 45.137.21.0/24 }"),
        "{nft}"
    );
    let (_, headers, zone) = s.get_raw("/api/v1/intel/export?format=rpz", &analyst).await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/dns");
    assert!(zone.contains("*.evil.example CNAME ."), "{zone}");
    assert!(zone.contains("24.0.21.137.45.rpz-ip CNAME ."), "{zone}");
    let (_, headers, stix) = s
        .get_raw("/api/v1/intel/export?format=stix", &analyst)
        .await;
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .contains("stix"));
    let bundle: Value = serde_json::from_str(&stix).unwrap();
    let patterns: Vec<&str> = bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["pattern"].as_str())
        .collect();
    assert_eq!(patterns.len(), 4, "{patterns:?}");
    assert!(patterns.contains(&"[url:value = 'http://phish.example/a']"));

    for (query, message) in [
        ("format=pdf", "rpz"),
        ("format=nftables&kind=domain", "cannot hold"),
        (
            "format=nftables&table=inet%20x%3B%20flush%20ruleset",
            "nftables table",
        ),
        ("format=text&max_tlp=purple", "purple"),
    ] {
        let (status, body) = s
            .get(&format!("/api/v1/intel/export?{query}"), &analyst)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(error(&body).contains(message), "{query}: {body}");
    }
    let (_, _, theirs) = s.get_raw("/api/v1/intel/export?format=text", &other).await;
    assert_eq!(theirs, "", "acme's indicators are not globex's to export");
}

#[tokio::test]
async fn imports_start_retro_hunts_each_tenant_sees_its_own() {
    let s = server().await;
    let analyst = s.token("soc_analyst", "acme");
    let other = s.token("soc_analyst", "globex");
    let path = "/api/v1/intel/indicators?source=late-feed";
    let (_, body) = s
        .send_text(Method::POST, path, &analyst, "late.example\n")
        .await;
    let id = body["retro_hunt"]
        .as_u64()
        .expect("a hunt for the new indicator");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let hunt = loop {
        let (status, page) = s.get("/api/v1/intel/hunts", &analyst).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let hunt = page["hunts"][0].clone();
        if hunt["state"] == "done" || std::time::Instant::now() > deadline {
            break hunt;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(hunt["id"].as_u64(), Some(id));
    assert_eq!(
        (hunt["state"].as_str(), hunt["source"].as_str()),
        (Some("done"), Some("late-feed"))
    );
    assert_eq!(hunt["report"]["indicators"], 1);
    let (_, again) = s
        .send_text(Method::POST, path, &analyst, "late.example\n")
        .await;
    assert_eq!(
        again["retro_hunt"],
        Value::Null,
        "nothing new, nothing to hunt"
    );
    let (_, theirs) = s.get("/api/v1/intel/hunts", &other).await;
    assert_eq!(theirs["hunts"], json!([]));
}

#[tokio::test]
async fn an_incident_shows_its_techniques_and_the_mitigations_for_them() {
    let s = server().await;
    let (status, incident) = s
        .post(
            "/api/v1/incidents",
            &s.admin,
            json!({"title": "Phishing wave", "type": "phishing"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    let id = incident["id"].as_i64().unwrap();
    // The shipped phishing playbook works on the new incident meanwhile
    // (tasks, comments): a write based on an older version answers 409,
    // and the analyst writes again on the current one.
    let mut version = incident["version"].clone();
    loop {
        let (status, patched) = s
            .call(
                Method::PATCH,
                &format!("/api/v1/incidents/{id}"),
                Some(&s.admin),
                Some(json!({"version": version, "attack": ["attack.t1566", "attack.t1059", "attack.initial-access"]})),
            )
            .await;
        match status {
            StatusCode::OK => break,
            StatusCode::CONFLICT => {
                let (_, now) = s.get(&format!("/api/v1/incidents/{id}"), &s.admin).await;
                version = now["version"].clone();
            }
            other => panic!("{other}: {patched}"),
        }
    }
    let viewer = s.token("viewer", "default");
    let (status, view) = s
        .get(&format!("/api/v1/incidents/{id}/attack"), &viewer)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["techniques"][0]["id"], "T1059");
    assert_eq!(view["techniques"][1]["name"], "Phishing");
    assert_eq!(view["techniques"][1]["tactics"], json!(["Initial Access"]));
    let first = &view["mitigations"][0];
    assert_eq!(first["techniques"], json!(["T1059", "T1566"]), "{view}");
    assert!(view["notice"].as_str().unwrap().contains("MITRE"));
    let other = s.token("viewer", "globex");
    let (status, _) = s
        .get(&format!("/api/v1/incidents/{id}/attack"), &other)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's incident");
}

#[tokio::test]
async fn rule_coverage_is_listed_and_exported_as_a_navigator_layer() {
    let s = server().await;
    let viewer = s.token("viewer", "default");
    let (status, coverage) = s.get("/api/v1/rules/coverage", &viewer).await;
    assert_eq!(status, StatusCode::OK, "{coverage}");
    let techniques = coverage["techniques"].as_array().unwrap();
    assert!(
        techniques
            .iter()
            .any(|t| t["id"] == "T1110" && t["rules"].as_u64() >= Some(1)),
        "the starter brute-force rules cover T1110: {coverage}"
    );
    let (status, layer) = s
        .get("/api/v1/rules/coverage?format=navigator", &viewer)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(layer["domain"], "enterprise-attack");
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(
        layer["techniques"].as_array().unwrap().len(),
        techniques.len()
    );
    let (status, body) = s.get("/api/v1/rules/coverage?format=pdf", &viewer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
