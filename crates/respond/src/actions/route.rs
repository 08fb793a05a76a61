//! `route.replace`: points a route at a next hop (the backup uplink, or
//! back to the primary) through netlink with iproute2's `ip route replace`,
//! in the host or in a network namespace. `replace` creates or changes the
//! route, so a repeated call leaves one route (idempotent); the answer is
//! the route as the kernel now has it.

use std::net::IpAddr;
use std::process::Stdio;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::{show, string};
use crate::config::RespondConfig;

/// A destination: `default` or a network (an address is its /32 or /128).
fn destination(input: &Value) -> Result<String, String> {
    let text = string(input, "destination")?;
    if text == "default" {
        return Ok(text);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip).to_string());
    }
    text.parse::<IpNet>()
        .map(|n| n.trunc().to_string())
        .map_err(|_| format!("`destination` {text:?}: `default`, an address or a network"))
}

/// A name for `ip`'s arguments (device, namespace, table): no spaces,
/// no option look-alikes.
fn word(input: &Value, key: &str) -> Result<Option<String>, String> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if show(v).is_empty() => Ok(None),
        Some(v) => {
            let text = show(v);
            let ok = text.len() <= 64
                && !text.starts_with('-')
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b));
            ok.then_some(Some(text.clone())).ok_or_else(|| {
                format!("`{key}` {text:?}: letters, digits, '_', '-', '.' and '@' only")
            })
        }
    }
}

pub fn describe(input: &Value) -> String {
    let get = |k: &str| input.get(k).filter(|v| !v.is_null() && *v != "").map(show);
    let mut line = format!(
        "route {} via {}",
        get("destination").unwrap_or_default(),
        get("via").unwrap_or_default()
    );
    if let Some(dev) = get("dev") {
        line.push_str(&format!(" dev {dev}"));
    }
    if let Some(ns) = get("netns") {
        line.push_str(&format!(" (netns {ns})"));
    }
    line
}

pub async fn replace(config: &RespondConfig, input: &Value) -> Result<Value, String> {
    let destination = destination(input)?;
    let via_text = string(input, "via")?;
    let via: IpAddr = via_text
        .parse()
        .map_err(|_| format!("`via` {via_text:?} is not an address"))?;
    let dev = word(input, "dev")?;
    let table = word(input, "table")?;
    let netns = word(input, "netns")?;
    let metric = match input.get("metric") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            show(v)
                .parse::<u32>()
                .map_err(|_| format!("`metric` {}: a whole number", show(v)))?,
        ),
    };
    let mut args: Vec<String> = Vec::new();
    if let Some(ns) = &netns {
        args.extend(["-n".into(), ns.clone()]);
    }
    if via.is_ipv6() {
        args.push("-6".into());
    }
    args.extend(["route".into(), "replace".into(), destination.clone()]);
    args.extend(["via".into(), via.to_string()]);
    if let Some(d) = &dev {
        args.extend(["dev".into(), d.clone()]);
    }
    if let Some(m) = metric {
        args.extend(["metric".into(), m.to_string()]);
    }
    if let Some(t) = &table {
        args.extend(["table".into(), t.clone()]);
    }
    ip(config, &args).await?;
    // What the kernel has now, as the step's output.
    let mut show_args: Vec<String> = Vec::new();
    if let Some(ns) = &netns {
        show_args.extend(["-n".into(), ns.clone()]);
    }
    show_args.extend([
        "-j".into(),
        "route".into(),
        "show".into(),
        destination.clone(),
    ]);
    if let Some(t) = &table {
        show_args.extend(["table".into(), t.clone()]);
    }
    let now = ip(config, &show_args).await?;
    let routes: Value = serde_json::from_str(&now).unwrap_or(Value::Null);
    Ok(
        json!({"destination": destination, "via": via.to_string(), "dev": dev,
              "netns": netns, "routes": routes}),
    )
}

async fn ip(config: &RespondConfig, args: &[String]) -> Result<String, String> {
    let out = super::command(&config.ip)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", config.ip))?;
    if !out.status.success() {
        return Err(format!(
            "ip {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn destinations_and_words_are_checked() {
        assert_eq!(
            destination(&json!({"destination": "default"})).unwrap(),
            "default"
        );
        assert_eq!(
            destination(&json!({"destination": "10.1.2.3"})).unwrap(),
            "10.1.2.3/32"
        );
        assert_eq!(
            destination(&json!({"destination": "10.1.2.3/24"})).unwrap(),
            "10.1.2.0/24"
        );
        assert!(destination(&json!({"destination": "10.0.0.0/8 via 1.2.3.4"})).is_err());
        assert!(word(&json!({"dev": "-all"}), "dev").is_err());
        assert!(word(&json!({"dev": "eth0 table 5"}), "dev").is_err());
        assert_eq!(word(&json!({"dev": ""}), "dev").unwrap(), None);
        assert_eq!(
            describe(&json!({"destination": "default", "via": "10.0.7.2", "netns": "dc1"})),
            "route default via 10.0.7.2 (netns dc1)"
        );
    }
}
