//! The log shippers' ingest APIs on the router in process: each protocol's
//! answers and error shapes, the authorization schemes shippers send,
//! roles, and `/` telling a browser from an Elasticsearch client. The real
//! shippers (Python clients, rsyslog) are in `crates/cli/tests/shippers.rs`.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use base64::Engine;
use serde_json::Value;
use tower::ServiceExt;
use watchfloor_server::api::AppState;
use watchfloor_server::auth;

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

impl Server {
    fn token(&self, role: &str) -> String {
        auth::create_token(self.app.access.as_ref(), role, role, "default")
            .expect("token")
            .0
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: impl Into<Body>,
    ) -> Response {
        let mut request = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let request = request.body(body.into()).expect("request");
        self.router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible")
    }
}

async fn json_of(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn auth(value: String) -> (header::HeaderName, String) {
    (header::AUTHORIZATION, value)
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn the_root_is_the_console_for_browsers_and_the_product_check_for_shippers() {
    let s = server().await;
    let browser = s.send(Method::GET, "/", &[], Body::empty()).await;
    assert_eq!(browser.status(), StatusCode::SEE_OTHER);
    assert_eq!(browser.headers()[header::LOCATION], "/login");

    let token = s.token("ingest");
    let es = s
        .send(
            Method::GET,
            "/",
            &[auth(format!("ApiKey {token}"))],
            Body::empty(),
        )
        .await;
    assert_eq!(es.headers()["x-elastic-product"], "Elasticsearch");
    let (status, body) = json_of(es).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["version"]["number"], "8.19.0");
    assert_eq!(body["tagline"], "You Know, for Search");

    let wrong = s
        .send(
            Method::GET,
            "/",
            &[auth("ApiKey nope".into())],
            Body::empty(),
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_scheme_shippers_send_carries_the_token_and_roles_still_apply() {
    let s = server().await;
    let token = s.token("ingest");
    let body = "{\"index\":{\"_index\":\"logs\"}}\n{\"message\":\"m\"}\n";
    for scheme in [
        format!("Bearer {token}"),
        format!("ApiKey {token}"),
        format!("ApiKey {}", b64(&format!("key-id:{token}"))),
        format!("Basic {}", b64(&format!("filebeat:{token}"))),
    ] {
        let r = s
            .send(Method::POST, "/_bulk", &[auth(scheme.clone())], body)
            .await;
        let (status, answer) = json_of(r).await;
        assert_eq!(status, StatusCode::OK, "{scheme}: {answer}");
        assert_eq!(answer["errors"], false);
    }
    let r = s
        .send(
            Method::POST,
            "/_bulk",
            &[auth(format!("Digest {token}"))],
            body,
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        answer["error"].as_str().unwrap().contains("Basic"),
        "{answer}"
    );

    // A read-only analyst token may not write events, in any protocol.
    let analyst = s.token("analyst");
    let r = s
        .send(
            Method::POST,
            "/_bulk",
            &[auth(format!("Bearer {analyst}"))],
            body,
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(answer["error"]["type"], "security_exception");
    let r = s
        .send(
            Method::POST,
            "/services/collector/event",
            &[auth(format!("Splunk {analyst}"))],
            "{\"event\":\"x\"}",
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn bulk_items_are_answered_one_by_one_and_a_broken_body_as_a_whole() {
    let s = server().await;
    let token = format!("Bearer {}", s.token("ingest"));
    let before = s.app.wal.durable();
    let body = concat!(
        "{\"create\":{}}\n{\"message\":\"kept\"}\n",
        "{\"delete\":{\"_id\":\"1\"}}\n",
        "{\"index\":{}}\nnot json\n",
    );
    let r = s
        .send(
            Method::POST,
            "/winlogbeat-8/_bulk",
            &[auth(token.clone())],
            body,
        )
        .await;
    assert_eq!(r.headers()["x-elastic-product"], "Elasticsearch");
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items[0]["create"]["status"], 201);
    assert_eq!(items[0]["create"]["_index"], "winlogbeat-8");
    assert_eq!(items[1]["delete"]["status"], 400);
    assert_eq!(items[2]["index"]["status"], 400);
    assert_eq!(
        s.app.wal.durable(),
        before + 1,
        "only the good document is stored"
    );

    let r = s
        .send(
            Method::POST,
            "/_bulk",
            &[auth(token)],
            "{\"index\":{}}\n{}\n{oops\n{}\n",
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("line 3"),
        "{answer}"
    );
}

#[tokio::test]
async fn hec_takes_events_and_raw_lines_and_answers_with_splunk_codes() {
    let s = server().await;
    let token = format!("Splunk {}", s.token("ingest"));
    let before = s.app.wal.durable();
    let events =
        "{\"event\":{\"message\":\"a\"},\"sourcetype\":\"x\"}{\"event\":\"b\",\"time\":1700000000}";
    let r = s
        .send(
            Method::POST,
            "/services/collector/event",
            &[auth(token.clone())],
            events,
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(
        (status, answer["code"].as_u64()),
        (StatusCode::OK, Some(0)),
        "{answer}"
    );
    let r = s
        .send(
            Method::POST,
            "/services/collector/raw",
            &[auth(token.clone())],
            "line one\nline two\n",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(s.app.wal.durable(), before + 4);

    let r = s
        .send(
            Method::POST,
            "/services/collector/event",
            &[auth(token.clone())],
            "{\"event\":\"ok\"}{\"fields\":{}}",
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["code"], 12);
    assert_eq!(answer["invalid-event-number"], 1);
    assert_eq!(
        s.app.wal.durable(),
        before + 4,
        "a refused batch stores nothing"
    );

    let r = s
        .send(
            Method::GET,
            "/services/collector/health",
            &[],
            Body::empty(),
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(
        (status, answer["code"].as_u64()),
        (StatusCode::OK, Some(17))
    );
    let r = s
        .send(
            Method::POST,
            "/services/collector/event",
            &[],
            "{\"event\":\"x\"}",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn otlp_takes_both_encodings_and_names_what_it_refuses() {
    let s = server().await;
    let token = format!("Bearer {}", s.token("ingest"));
    let json_body =
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}"#;
    let headers = [
        auth(token.clone()),
        (header::CONTENT_TYPE, "application/json".to_string()),
    ];
    let r = s.send(Method::POST, "/v1/logs", &headers, json_body).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let (status, answer) = json_of(r).await;
    assert_eq!((status, answer), (StatusCode::OK, serde_json::json!({})));

    let protobuf = [
        auth(token.clone()),
        (header::CONTENT_TYPE, "application/x-protobuf".to_string()),
    ];
    let r = s
        .send(
            Method::POST,
            "/v1/logs",
            &protobuf,
            vec![0xffu8, 0xff, 0xff],
        )
        .await;
    let (status, answer) = json_of(r).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().unwrap().contains("OTLP protobuf"),
        "{answer}"
    );

    let text = [
        auth(token),
        (header::CONTENT_TYPE, "text/plain".to_string()),
    ];
    let r = s.send(Method::POST, "/v1/logs", &text, "hi").await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}
