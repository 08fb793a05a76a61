//! Check definitions, as written in the configuration or sent to the API,
//! and their validation (every problem at once, each naming its field).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One check: what to probe and what counts as healthy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Check {
    Icmp(IcmpCheck),
    Tcp(TcpCheck),
    Http(Box<HttpCheck>),
    Tls(TlsCheck),
    Dns(DnsCheck),
}

/// ICMP echo (an unprivileged datagram socket, raw when that is refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IcmpCheck {
    pub host: String,
    /// Echo requests sent; the check is OK if any is answered, WARNING
    /// when some are lost.
    #[serde(default = "one")]
    pub count: u32,
    pub warn_ms: Option<u64>,
    pub crit_ms: Option<u64>,
}

/// A TCP connection that must be accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpCheck {
    pub host: String,
    pub port: u16,
    pub warn_ms: Option<u64>,
    pub crit_ms: Option<u64>,
}

/// An HTTP(S) request and what its answer must show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpCheck {
    pub url: String,
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// Accepted status codes; 200 to 399 when empty.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// The body must contain this text.
    pub contains: Option<String>,
    /// The body must match this regular expression.
    pub regex: Option<String>,
    /// A dotted path into a JSON body (`status`, `checks.0.state`) ...
    pub json_path: Option<String>,
    /// ... that must hold this value (any value when unset: the path must exist).
    pub json_equals: Option<serde_json::Value>,
    pub warn_ms: Option<u64>,
    pub crit_ms: Option<u64>,
    /// Redirects followed (0: a redirect is the answer).
    #[serde(default = "five")]
    pub max_redirects: u32,
    /// A PEM file with the client certificate and its key.
    pub client_cert: Option<PathBuf>,
    /// A PEM file of CA certificates trusted besides the usual roots.
    pub ca_file: Option<PathBuf>,
    /// Read at most this much of the body for the assertions.
    #[serde(default = "mebibyte")]
    pub max_body_bytes: u64,
}

/// A TLS handshake: chain validity and days to the certificate's expiry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsCheck {
    pub host: String,
    #[serde(default = "https_port")]
    pub port: u16,
    /// The name to ask for and verify (SNI); `host` by default.
    pub server_name: Option<String>,
    #[serde(default = "fourteen")]
    pub warn_days: i64,
    #[serde(default = "seven")]
    pub crit_days: i64,
    pub ca_file: Option<PathBuf>,
}

/// A DNS query to a chosen resolver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// `address` or `address:port` of the resolver asked.
    pub resolver: String,
    /// The name looked up.
    pub query: String,
    #[serde(default = "a_record")]
    pub record_type: String,
    /// Answers that must all be present (addresses, names, texts).
    #[serde(default)]
    pub expect: Vec<String>,
    /// The response code expected: NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...
    #[serde(default = "noerror")]
    pub rcode: String,
    pub warn_ms: Option<u64>,
    pub crit_ms: Option<u64>,
}

fn one() -> u32 {
    1
}
fn five() -> u32 {
    5
}
fn get() -> String {
    "GET".into()
}
fn mebibyte() -> u64 {
    1 << 20
}
fn https_port() -> u16 {
    443
}
fn fourteen() -> i64 {
    14
}
fn seven() -> i64 {
    7
}
fn a_record() -> String {
    "A".into()
}
fn noerror() -> String {
    "NOERROR".into()
}

pub(crate) const RCODES: [&str; 6] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
];

fn thresholds(warn: Option<u64>, crit: Option<u64>, out: &mut Vec<String>) {
    if let (Some(w), Some(c)) = (warn, crit) {
        if w > c {
            out.push(format!("warn_ms ({w}) must not exceed crit_ms ({c})"));
        }
    }
}

fn host(h: &str, out: &mut Vec<String>) {
    if h.trim().is_empty() || h.contains(char::is_whitespace) {
        out.push(format!("host: {h:?} is not a host name or address"));
    }
}

impl HttpCheck {
    fn problems(&self, out: &mut Vec<String>) {
        match url::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(u) => out.push(format!("url: {} is not an http(s) URL with a host", u)),
            Err(e) => out.push(format!("url: {:?}: {e}", self.url)),
        }
        if reqwest::Method::from_bytes(self.method.as_bytes()).is_err() {
            out.push(format!("method: {:?} is not an HTTP method", self.method));
        }
        for code in &self.expect_status {
            if !(100..=599).contains(code) {
                out.push(format!("expect_status: {code} is not an HTTP status"));
            }
        }
        if let Some(r) = &self.regex {
            if let Err(e) = regex::Regex::new(r) {
                out.push(format!("regex: {e}"));
            }
        }
        if self.json_equals.is_some() && self.json_path.is_none() {
            out.push("json_equals needs json_path".into());
        }
        for (name, path) in [
            ("client_cert", &self.client_cert),
            ("ca_file", &self.ca_file),
        ] {
            if let Some(p) = path.as_ref().filter(|p| !p.is_file()) {
                out.push(format!("{name}: {}: no such file", p.display()));
            }
        }
        thresholds(self.warn_ms, self.crit_ms, out);
    }
}

impl Check {
    /// Every problem of the definition.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Check::Icmp(c) => {
                host(&c.host, &mut out);
                if !(1..=100).contains(&c.count) {
                    out.push("count: 1 to 100".into());
                }
                thresholds(c.warn_ms, c.crit_ms, &mut out);
            }
            Check::Tcp(c) => {
                host(&c.host, &mut out);
                if c.port == 0 {
                    out.push("port: 1 to 65535".into());
                }
                thresholds(c.warn_ms, c.crit_ms, &mut out);
            }
            Check::Http(c) => c.problems(&mut out),
            Check::Tls(c) => {
                host(&c.host, &mut out);
                if c.port == 0 {
                    out.push("port: 1 to 65535".into());
                }
                if c.warn_days < c.crit_days {
                    out.push(format!(
                        "warn_days ({}) must not be below crit_days ({})",
                        c.warn_days, c.crit_days
                    ));
                }
                if let Some(p) = c.ca_file.as_ref().filter(|p| !p.is_file()) {
                    out.push(format!("ca_file: {}: no such file", p.display()));
                }
            }
            Check::Dns(c) => {
                host(&c.resolver, &mut out);
                if c.query.trim().is_empty() {
                    out.push("query: must not be empty".into());
                }
                if c.record_type
                    .parse::<hickory_proto::rr::RecordType>()
                    .is_err()
                {
                    out.push(format!(
                        "record_type: {:?} is not a DNS record type",
                        c.record_type
                    ));
                }
                if !RCODES.contains(&c.rcode.to_ascii_uppercase().as_str()) {
                    out.push(format!(
                        "rcode: {:?}: one of {}",
                        c.rcode,
                        RCODES.join(", ")
                    ));
                }
                thresholds(c.warn_ms, c.crit_ms, &mut out);
            }
        }
        out
    }

    /// What is checked, for messages: `tcp 127.0.0.1:22`.
    pub fn describe(&self) -> String {
        match self {
            Check::Icmp(c) => format!("icmp {}", c.host),
            Check::Tcp(c) => format!("tcp {}:{}", c.host, c.port),
            Check::Http(c) => format!("{} {}", c.method, c.url),
            Check::Tls(c) => format!("tls {}:{}", c.host, c.port),
            Check::Dns(c) => format!("dns {} {} @{}", c.record_type, c.query, c.resolver),
        }
    }

    /// The host probed, when the check has one.
    pub fn host(&self) -> Option<&str> {
        match self {
            Check::Icmp(c) => Some(&c.host),
            Check::Tcp(c) => Some(&c.host),
            Check::Tls(c) => Some(&c.host),
            Check::Http(_) | Check::Dns(_) => None,
        }
    }

    /// The service name in plugin output.
    pub fn service(&self) -> &'static str {
        match self {
            Check::Icmp(_) => "PING",
            Check::Tcp(_) => "TCP",
            Check::Http(_) => "HTTP",
            Check::Tls(_) => "TLS",
            Check::Dns(_) => "DNS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once() {
        let c: Check = serde_json::from_value(serde_json::json!({
            "type": "http", "url": "ftp://x", "method": "GE T", "expect_status": [700],
            "regex": "(", "json_equals": 1, "warn_ms": 10, "crit_ms": 5,
            "ca_file": "/no/such/ca.pem"
        }))
        .expect("parses");
        let p = c.problems();
        assert_eq!(p.len(), 7, "{p:?}");
        let unknown = serde_json::from_value::<Check>(serde_json::json!({
            "type": "tcp", "host": "h", "port": 1, "colour": "red"
        }));
        assert!(unknown.unwrap_err().to_string().contains("colour"));
        let dns: Check = serde_json::from_value(serde_json::json!({
            "type": "dns", "resolver": "", "query": "", "record_type": "AAAAA", "rcode": "WHAT"
        }))
        .expect("parses");
        assert_eq!(dns.problems().len(), 4, "{:?}", dns.problems());
    }
}
