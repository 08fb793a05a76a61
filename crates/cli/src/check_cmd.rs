//! `watchfloor check TARGET`: one check, run once, answered as a Nagios or
//! Icinga plugin (one line with performance data; exit 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN), so it also serves existing monitoring setups.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use watchfloor_monitor::{parse_target, Check, Status};

#[derive(Args)]
pub struct CheckArgs {
    /// tcp://host:port, http(s)://host/path, icmp://host, tls://host[:port],
    /// dns://resolver[:port]/name?type=A&expect=ADDR&rcode=NOERROR
    target: String,
    /// Give up after this long (CRITICAL).
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// WARNING when the answer takes this long or longer.
    #[arg(long)]
    warn_ms: Option<u64>,
    /// CRITICAL when the answer takes this long or longer.
    #[arg(long)]
    crit_ms: Option<u64>,
    /// HTTP method.
    #[arg(long)]
    method: Option<String>,
    /// HTTP request header, `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// HTTP request body.
    #[arg(long)]
    body: Option<String>,
    /// Accepted HTTP status (repeatable; 200-399 by default).
    #[arg(long = "expect-status")]
    expect_status: Vec<u16>,
    /// The HTTP body must contain this text.
    #[arg(long)]
    contains: Option<String>,
    /// The HTTP body must match this regular expression.
    #[arg(long)]
    regex: Option<String>,
    /// A dotted path into a JSON body that must exist ...
    #[arg(long)]
    json_path: Option<String>,
    /// ... and hold this JSON value.
    #[arg(long)]
    json_equals: Option<String>,
    /// Do not follow HTTP redirects.
    #[arg(long)]
    no_redirects: bool,
    /// PEM file with a client certificate and key (HTTPS).
    #[arg(long)]
    client_cert: Option<PathBuf>,
    /// PEM file of CA certificates to trust besides the usual roots.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// TLS: WARNING below this many days to expiry.
    #[arg(long)]
    warn_days: Option<i64>,
    /// TLS: CRITICAL below this many days to expiry.
    #[arg(long)]
    crit_days: Option<i64>,
    /// TLS: the name to ask for and verify (SNI).
    #[arg(long)]
    server_name: Option<String>,
    /// ICMP: echo requests to send.
    #[arg(long)]
    count: Option<u32>,
    /// Print the result as JSON instead of the plugin line.
    #[arg(long)]
    json: bool,
}

fn apply_http(check: &mut watchfloor_monitor::HttpCheck, a: &CheckArgs) -> Result<(), String> {
    if let Some(m) = &a.method {
        check.method = m.to_ascii_uppercase();
    }
    for h in &a.headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h:?}: expected `Name: value`"))?;
        check
            .headers
            .insert(k.trim().to_string(), v.trim().to_string());
    }
    check.body.clone_from(&a.body);
    check.expect_status.clone_from(&a.expect_status);
    check.contains.clone_from(&a.contains);
    check.regex.clone_from(&a.regex);
    check.json_path.clone_from(&a.json_path);
    check.json_equals = a
        .json_equals
        .as_deref()
        .map(|v| serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into())))
        .or(check.json_equals.take());
    if a.no_redirects {
        check.max_redirects = 0;
    }
    check.client_cert.clone_from(&a.client_cert);
    check.ca_file.clone_from(&a.ca_cert);
    check.warn_ms = a.warn_ms;
    check.crit_ms = a.crit_ms;
    Ok(())
}

/// The target's check with the options applied.
fn build(a: &CheckArgs) -> Result<Check, String> {
    let mut check = parse_target(&a.target)?;
    match &mut check {
        Check::Http(c) => apply_http(c, a)?,
        Check::Tls(c) => {
            c.server_name.clone_from(&a.server_name);
            c.ca_file.clone_from(&a.ca_cert);
            c.warn_days = a.warn_days.unwrap_or(c.warn_days);
            c.crit_days = a.crit_days.unwrap_or(c.crit_days);
        }
        Check::Tcp(c) => (c.warn_ms, c.crit_ms) = (a.warn_ms, a.crit_ms),
        Check::Dns(c) => (c.warn_ms, c.crit_ms) = (a.warn_ms, a.crit_ms),
        Check::Icmp(c) => {
            (c.warn_ms, c.crit_ms) = (a.warn_ms, a.crit_ms);
            c.count = a.count.unwrap_or(c.count);
        }
    }
    Ok(check)
}

pub fn run(a: CheckArgs) -> anyhow::Result<u8> {
    let check = match build(&a) {
        Ok(c) => c,
        Err(e) => {
            println!("CHECK UNKNOWN - {e}");
            return Ok(Status::Unknown.exit_code());
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(watchfloor_monitor::run(
        &check,
        Duration::from_millis(a.timeout_ms.max(1)),
    ));
    if a.json {
        println!("{}", serde_json::json!({"check": check, "result": outcome}));
    } else {
        println!("{}", outcome.plugin_line(check.service()));
    }
    Ok(outcome.status.exit_code())
}
