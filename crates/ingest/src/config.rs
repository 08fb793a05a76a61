//! `[syslog]`, `[wal]` and `[[files]]`: the sources and the log, as the
//! configuration file sets them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogConfig {
    /// Listen addresses; an empty string turns a receiver off.
    #[schemars(extend("format" = "socket-address"))]
    pub udp: String,
    #[schemars(extend("format" = "socket-address"))]
    pub tcp: String,
    #[schemars(extend("format" = "socket-address"))]
    pub tls: String,
    /// RELP (rsyslog's `omrelp`): each message acknowledged once durable.
    #[schemars(extend("format" = "socket-address"))]
    pub relp: String,
    /// RELP over TLS, with the same certificate as `tls`.
    #[schemars(extend("format" = "socket-address"))]
    pub relp_tls: String,
    #[schemars(extend("format" = "file"))]
    pub tls_cert: Option<PathBuf>,
    #[schemars(extend("format" = "file"))]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) that sign the senders' client certificates:
    /// when set, `tls` and `relp_tls` accept only senders that present
    /// one (mutual TLS).
    #[schemars(extend("format" = "file"))]
    pub tls_client_ca: Option<PathBuf>,
    #[schemars(range(min = 64, max = 67_108_864))]
    pub max_message_bytes: u64,
    #[schemars(range(min = 1, max = 604_800))]
    pub idle_timeout_secs: u64,
    #[schemars(range(min = 1, max = 86_400))]
    pub frame_timeout_secs: u64,
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_connections: u64,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp: "0.0.0.0:5514".into(),
            tcp: "0.0.0.0:5514".into(),
            tls: String::new(),
            relp: String::new(),
            relp_tls: String::new(),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            max_message_bytes: 64 * 1024,
            idle_timeout_secs: 3600,
            frame_timeout_secs: 30,
            max_connections: 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    #[schemars(range(min = 1, max = 4096))]
    pub segment_mb: u64,
    /// Received but unprocessed events beyond which sources are pushed back.
    #[schemars(range(min = 1000, max = 1_099_511_627_776u64))]
    pub max_unprocessed: u64,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_mb: 64,
            max_unprocessed: 1_000_000,
        }
    }
}

/// A file to follow.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-required" = ["path"]))]
pub struct FileConfig {
    #[schemars(extend("format" = "path"))]
    pub path: PathBuf,
    /// `syslog` (one message per line) or `json` (one object per line).
    pub format: FileFormat,
    pub tenant: Option<String>,
    /// Where to begin the first time: `end` (default) or `beginning`.
    pub start_at: StartAt,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            path: PathBuf::new(),
            format: FileFormat::Syslog,
            tenant: None,
            start_at: StartAt::End,
        }
    }
}

/// How a followed file holds its messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    #[default]
    Syslog,
    Json,
}

/// Where a followed file is first read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    End,
    Beginning,
}

impl SyslogConfig {
    /// Problems between keys (each key's own form is checked from the schema).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push("[syslog] needs both `tls_cert` and `tls_key`, or neither".to_string());
        }
        for (key, addr) in [("tls", &self.tls), ("relp_tls", &self.relp_tls)] {
            if !addr.is_empty() && self.tls_cert.is_none() {
                out.push(format!(
                    "[syslog] `{key}` listens for TLS and needs `tls_cert` and `tls_key`"
                ));
            }
        }
        if self.tls_client_ca.is_some() && self.tls_cert.is_none() {
            out.push("[syslog] `tls_client_ca` checks senders over TLS and needs `tls_cert` and `tls_key`".into());
        }
        out
    }
}
