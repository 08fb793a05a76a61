//! HTTP(S) requests: status, body text or pattern, a JSON value, latency.

use std::time::Instant;

use crate::{HttpCheck, Outcome, Status};

/// Clients by their settings: building one (TLS roots, certificates) costs
/// far more than a check, so checks with the same settings share one.
/// Idle connections are not kept: every check connects afresh, as a
/// monitor must to see a server that stopped accepting connections.
fn client(c: &HttpCheck) -> Result<reqwest::Client, String> {
    type Key = (u32, Option<std::path::PathBuf>, Option<std::path::PathBuf>);
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<Key, reqwest::Client>>,
    > = std::sync::OnceLock::new();
    let key: Key = (c.max_redirects, c.ca_file.clone(), c.client_cert.clone());
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(found) = clients.lock().ok().and_then(|m| m.get(&key).cloned()) {
        return Ok(found);
    }
    let built = build_client(c)?;
    if let Ok(mut m) = clients.lock() {
        // Bounded: settings are few in practice; start over if not.
        if m.len() > 1024 {
            m.clear();
        }
        m.insert(key, built.clone());
    }
    Ok(built)
}

fn build_client(c: &HttpCheck) -> Result<reqwest::Client, String> {
    let redirects = if c.max_redirects == 0 {
        reqwest::redirect::Policy::none()
    } else {
        reqwest::redirect::Policy::limited(c.max_redirects as usize)
    };
    let mut b = reqwest::Client::builder()
        .redirect(redirects)
        .pool_max_idle_per_host(0)
        .user_agent(concat!("watchfloor-check/", env!("CARGO_PKG_VERSION")))
        .use_rustls_tls();
    if let Some(path) = &c.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("ca_file {}: {e}", path.display()))?
        {
            b = b.add_root_certificate(cert);
        }
    }
    if let Some(path) = &c.client_cert {
        let pem =
            std::fs::read(path).map_err(|e| format!("client_cert {}: {e}", path.display()))?;
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("client_cert {}: {e}", path.display()))?;
        b = b.identity(id);
    }
    b.build().map_err(|e| e.to_string())
}

/// The full error chain: reqwest's own message is often just "error
/// sending request".
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Reads at most `limit` bytes of the body (a server streaming forever is
/// cut there, and the outer deadline ends a slow one).
async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| chain(&e))? {
        let room = (limit as usize).saturating_sub(body.len());
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The value at a dotted path (`a.b.0.c`) of a JSON document.
fn json_at<'a>(doc: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(doc, |v, key| match v {
            serde_json::Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            other => other.get(key),
        })
}

/// The first assertion about the body that fails, if any.
fn body_problem(c: &HttpCheck, body: &[u8], cut: bool) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let cut_note = if cut {
        " (in the first bytes read)"
    } else {
        ""
    };
    if let Some(needle) = &c.contains {
        if !text.contains(needle.as_str()) {
            return Some(format!("body does not contain {needle:?}{cut_note}"));
        }
    }
    if let Some(re) = &c.regex {
        // Checked at validation; a failure here is treated as a mismatch.
        if !regex::Regex::new(re).is_ok_and(|r| r.is_match(&text)) {
            return Some(format!("body does not match /{re}/{cut_note}"));
        }
    }
    if let Some(path) = &c.json_path {
        let doc: serde_json::Value = match serde_json::from_slice(body) {
            Ok(d) => d,
            Err(e) => return Some(format!("body is not JSON: {e}")),
        };
        match (json_at(&doc, path), &c.json_equals) {
            (None, _) => return Some(format!("JSON has nothing at {path}")),
            (Some(v), Some(want)) if v != want => {
                return Some(format!("JSON {path} is {v}, expected {want}"))
            }
            _ => {}
        }
    }
    None
}

pub(crate) async fn run(c: &HttpCheck) -> Outcome {
    let client = match client(c) {
        Ok(c) => c,
        Err(e) => return Outcome::new(Status::Unknown, e),
    };
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut req = client.request(method, &c.url);
    for (k, v) in &c.headers {
        req = req.header(k, v);
    }
    if let Some(b) = &c.body {
        req = req.body(b.clone());
    }
    let start = Instant::now();
    let response = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::new(Status::Critical, format!("{}: {}", c.url, chain(&e))),
    };
    let elapsed = start.elapsed();
    let status = response.status();
    let accepted = if c.expect_status.is_empty() {
        (200..400).contains(&status.as_u16())
    } else {
        c.expect_status.contains(&status.as_u16())
    };
    if !accepted {
        return Outcome::new(Status::Critical, format!("{} answered {status}", c.url))
            .with_latency(elapsed, None, None);
    }
    let needs_body = c.contains.is_some() || c.regex.is_some() || c.json_path.is_some();
    if needs_body {
        let (body, cut) = match read_body(response, c.max_body_bytes).await {
            Ok(b) => b,
            Err(e) => {
                return Outcome::new(
                    Status::Critical,
                    format!("{}: reading the body: {e}", c.url),
                )
            }
        };
        if let Some(problem) = body_problem(c, &body, cut) {
            return Outcome::new(
                Status::Critical,
                format!("{} answered {status} but {problem}", c.url),
            )
            .with_latency(elapsed, None, None);
        }
    }
    Outcome::new(Status::Ok, format!("{} answered {status}", c.url))
        .with_latency(elapsed, c.warn_ms, c.crit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let doc =
            serde_json::json!({"status": "up", "checks": [{"state": "ok"}, {"state": "bad"}]});
        assert_eq!(json_at(&doc, "status"), Some(&serde_json::json!("up")));
        assert_eq!(
            json_at(&doc, "checks.1.state"),
            Some(&serde_json::json!("bad"))
        );
        assert_eq!(json_at(&doc, "checks.9.state"), None);
        assert_eq!(json_at(&doc, "nope"), None);
    }
}
