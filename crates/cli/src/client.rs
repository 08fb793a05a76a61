//! Talking to a running server: address, token, TLS trust, and errors that
//! say what the server answered.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

/// How to reach the server.
#[derive(Args, Clone)]
pub struct ServerArgs {
    /// Server URL.
    #[arg(
        long,
        env = "WATCHFLOOR_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server: String,
    /// API token; by default the one in <data-dir>/initial-admin-token.
    #[arg(long, env = "WATCHFLOOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Data directory to find the initial admin token in.
    #[arg(long, default_value = "./watchfloor-data")]
    pub data_dir: PathBuf,
    /// Extra CA certificate (PEM) to trust, for a server with its own certificate.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
}

pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: String,
}

impl ServerArgs {
    fn token(&self) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.trim().to_string());
        }
        let path = self.data_dir.join("initial-admin-token");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no --token or WATCHFLOOR_TOKEN given, and {} cannot be read",
                path.display()
            )
        })?;
        Ok(text.trim().to_string())
    }

    pub fn connect(&self) -> anyhow::Result<Client> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(300))
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &self.ca_cert {
            let pem = std::fs::read(ca).with_context(|| format!("{}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("{}: not a PEM certificate", ca.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(Client {
            http: builder.build()?,
            base: self.server.trim_end_matches('/').to_string(),
            token: self.token()?,
        })
    }
}

/// A response that is not 2xx, with the server's message.
#[derive(Debug)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server answered {}: {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn finish(
        &self,
        response: reqwest::Result<reqwest::blocking::Response>,
    ) -> anyhow::Result<serde_json::Value> {
        let response = response.with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = response.text().unwrap_or_default();
        let body: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            let message = body["error"].as_str().map(String::from).unwrap_or(text);
            return Err(HttpError {
                status: status.as_u16(),
                message,
                retry_after,
            }
            .into());
        }
        Ok(body)
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<serde_json::Value> {
        self.finish(
            self.http
                .get(self.url(path))
                .bearer_auth(&self.token)
                .query(query)
                .send(),
        )
    }

    /// GET a text resource (such as `/metrics`, or an export).
    pub fn get_text(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let text = response.text()?;
        if !status.is_success() {
            let error = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from));
            return Err(HttpError {
                status: status.as_u16(),
                message: error.unwrap_or(text),
                retry_after: None,
            }
            .into());
        }
        Ok(text)
    }

    pub fn post(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Vec<u8>,
        gzip: bool,
    ) -> anyhow::Result<serde_json::Value> {
        let mut req = self
            .http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson");
        if gzip {
            req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
        }
        self.finish(req.body(body).send())
    }

    /// Sends a JSON body with `method` (POST, PATCH, ...).
    pub fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.finish(
            self.http
                .request(method, self.url(path))
                .bearer_auth(&self.token)
                .json(body)
                .send(),
        )
    }
}

impl Client {
    /// DELETE with query parameters.
    pub fn delete(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        self.finish(
            self.http
                .delete(self.url(path))
                .bearer_auth(&self.token)
                .query(query)
                .send(),
        )
    }
}
