//! `http.request`: a webhook or any REST call, with an `Idempotency-Key`
//! header (the IETF draft's name) so a receiver can tell a repeat after a
//! restart from a new request, and credentials from a named secret.

use serde_json::{json, Value};

use super::{secret, show, string, Call};
use crate::config::RespondConfig;

/// Answer bodies kept in the run's log at most.
const BODY_LIMIT: usize = 64 * 1024;

pub async fn request(
    client: &reqwest::Client,
    config: &RespondConfig,
    input: &Value,
    call: &Call<'_>,
) -> Result<Value, String> {
    let url = string(input, "url")?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("`url` {url:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`url` {url:?}: only http and https"));
    }
    let method = input
        .get("method")
        .map(show)
        .unwrap_or_else(|| "POST".into());
    let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`method` {method:?} is not an HTTP method"))?;
    let mut req = client
        .request(method.clone(), parsed)
        .header("Idempotency-Key", call.key);
    if let Some(headers) = input.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            req = req.header(name.as_str(), show(value));
        }
    }
    if let Some(name) = input.get("auth_secret").map(show) {
        let scheme = input
            .get("auth_scheme")
            .map(show)
            .unwrap_or_else(|| "Bearer".into());
        req = req.header(
            "Authorization",
            format!("{scheme} {}", secret(config, &name)?),
        );
    }
    match input.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => req = req.body(text.clone()),
        Some(body) => req = req.json(body),
    }
    let answer = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {}", describe_error(&e)))?;
    let status = answer.status().as_u16();
    let text = answer
        .text()
        .await
        .map_err(|e| format!("{method} {url}: reading the answer: {e}"))?;
    let body = serde_json::from_str::<Value>(&text)
        .unwrap_or_else(|_| Value::String(text.chars().take(BODY_LIMIT).collect()));
    if !expected(input, status) {
        return Err(format!("{method} {url}: status {status}: {}", show(&body)));
    }
    Ok(json!({ "status": status, "body": body }))
}

fn expected(input: &Value, status: u16) -> bool {
    match input.get("expect").and_then(Value::as_array) {
        Some(codes) => codes.iter().any(|c| c.as_u64() == Some(u64::from(status))),
        None => (200..300).contains(&status),
    }
}

/// reqwest's error with its causes (connection refused, TLS, ...).
fn describe_error(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
