//! nftables: addresses into and out of a named set (the router's drop rule
//! matches the set), in the host or in a network namespace.
//!
//! The script is built from parsed addresses and checked names only, and
//! handed to `nft -f -`: one transaction, all or nothing. Adding an element
//! that is there is a no-op (so a repeated call is harmless); removal reads
//! the set first and deletes only what is in it, because `nft delete
//! element` of an absent element fails the whole transaction (and nftables
//! 1.0.6, Debian 12's, has no `destroy`).

use std::net::IpAddr;
use std::process::Stdio;

use ipnet::IpNet;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::{show, string, strings};
use crate::config::RespondConfig;

const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "bridge", "netdev", "arp"];

/// Where the elements go.
struct Target {
    family: String,
    table: String,
    set: String,
    set6: Option<String>,
    netns: Option<String>,
}

fn name(input: &Value, key: &str, default: Option<&str>) -> Result<Option<String>, String> {
    let value = match input.get(key) {
        None | Some(Value::Null) => return Ok(default.map(String::from)),
        Some(_) => string(input, key)?,
    };
    let ok = value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(Some(value))
    } else {
        Err(format!(
            "`{key}` {value:?}: letters, digits, '_', '-' and '.' only"
        ))
    }
}

fn target(input: &Value) -> Result<Target, String> {
    let family = name(input, "family", Some("inet"))?.unwrap_or_default();
    if !FAMILIES.contains(&family.as_str()) {
        return Err(format!(
            "`family` {family:?} is not one of {}",
            FAMILIES.join(", ")
        ));
    }
    Ok(Target {
        family,
        table: name(input, "table", Some("watchfloor"))?.unwrap_or_default(),
        set: name(input, "set", None)?.ok_or("`set` is missing")?,
        set6: name(input, "set6", None)?,
        netns: name(input, "netns", None)?,
    })
}

/// The addresses, parsed (an address or a network each), v4 and v6 apart.
fn addresses(input: &Value) -> Result<(Vec<IpNet>, Vec<IpNet>), String> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for text in strings(input, "addresses")? {
        let net = match text.trim().parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => text
                .trim()
                .parse::<IpNet>()
                .map(|n| n.trunc())
                .map_err(|_| format!("`addresses`: {text:?} is not an address or a network"))?,
        };
        match net {
            IpNet::V4(_) => v4.push(net),
            IpNet::V6(_) => v6.push(net),
        }
    }
    v4.sort();
    v4.dedup();
    v6.sort();
    v6.dedup();
    Ok((v4, v6))
}

/// An element as nft writes it: `10.0.0.1`, `10.0.0.0/8`.
fn element(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The timeout in whole seconds, if any.
fn timeout(input: &Value) -> Result<Option<u64>, String> {
    match input.get("timeout") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("`timeout` {n}: whole seconds")),
        Some(v) => {
            let text = show(v);
            humantime::parse_duration(&text)
                .map(|d| Some(d.as_secs().max(1)))
                .map_err(|e| format!("`timeout` {text:?}: {e}"))
        }
    }
}

pub fn describe(action: &str, input: &Value) -> String {
    let verb = if action == "nftables.add" {
        "add"
    } else {
        "remove"
    };
    let prep = if verb == "add" { "to" } else { "from" };
    let given = |k: &str| input.get(k).filter(|v| !v.is_null() && *v != "");
    let get = |k: &str, d: &str| given(k).map(show).unwrap_or_else(|| d.into());
    let mut line = format!(
        "nftables: {verb} {} {prep} {} {} {}",
        get("addresses", ""),
        get("family", "inet"),
        get("table", "watchfloor"),
        get("set", "")
    );
    if let Some(t) = given("timeout") {
        line.push_str(&format!(" for {}", show(t)));
    }
    if let Some(ns) = given("netns") {
        line.push_str(&format!(" (netns {})", show(ns)));
    }
    line
}

fn set_for(t: &Target, v6: bool) -> Result<&str, String> {
    if v6 {
        t.set6
            .as_deref()
            .ok_or_else(|| "IPv6 addresses need `set6` (a set of type ipv6_addr)".into())
    } else {
        Ok(&t.set)
    }
}

pub async fn add(config: &RespondConfig, input: &Value) -> Result<Value, String> {
    let t = target(input)?;
    let (v4, v6) = addresses(input)?;
    let secs = timeout(input)?;
    let suffix = secs.map(|s| format!(" timeout {s}s")).unwrap_or_default();
    let mut script = String::new();
    for (nets, is_v6) in [(&v4, false), (&v6, true)] {
        if nets.is_empty() {
            continue;
        }
        let set = set_for(&t, is_v6)?;
        let elements: Vec<String> = nets.iter().map(|n| element(n) + &suffix).collect();
        script.push_str(&format!(
            "add element {} {} {set} {{ {} }}\n",
            t.family,
            t.table,
            elements.join(", ")
        ));
    }
    if !script.is_empty() {
        nft(config, &t, &["-f", "-"], Some(&script)).await?;
    }
    Ok(json!({
        "added": v4.iter().chain(&v6).map(element).collect::<Vec<_>>(),
        "table": format!("{} {}", t.family, t.table),
        "set": t.set, "timeout_secs": secs, "netns": t.netns,
    }))
}

pub async fn remove(config: &RespondConfig, input: &Value) -> Result<Value, String> {
    let t = target(input)?;
    let (v4, v6) = addresses(input)?;
    let mut script = String::new();
    let mut removed = Vec::new();
    for (nets, is_v6) in [(&v4, false), (&v6, true)] {
        if nets.is_empty() {
            continue;
        }
        let set = set_for(&t, is_v6)?;
        let present = elements_of(config, &t, set).await?;
        let gone: Vec<String> = nets
            .iter()
            .map(element)
            .filter(|e| present.contains(e))
            .collect();
        if !gone.is_empty() {
            script.push_str(&format!(
                "delete element {} {} {set} {{ {} }}\n",
                t.family,
                t.table,
                gone.join(", ")
            ));
            removed.extend(gone);
        }
    }
    if !script.is_empty() {
        nft(config, &t, &["-f", "-"], Some(&script)).await?;
    }
    Ok(
        json!({"removed": removed, "table": format!("{} {}", t.family, t.table),
              "set": t.set, "netns": t.netns}),
    )
}

/// The set's elements as nft names them.
async fn elements_of(config: &RespondConfig, t: &Target, set: &str) -> Result<Vec<String>, String> {
    let listed = nft(
        config,
        t,
        &["-j", "list", "set", &t.family, &t.table, set],
        None,
    )
    .await?;
    let doc: Value = serde_json::from_str(&listed)
        .map_err(|e| format!("nft -j list set: unreadable answer: {e}"))?;
    let mut out = Vec::new();
    let sets = doc
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("set"));
    for set in sets {
        for elem in set
            .get("elem")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(element_text(elem));
        }
    }
    Ok(out)
}

/// One element of nft's JSON: `"1.2.3.4"`, `{"prefix": {...}}`, or either
/// wrapped in `{"elem": {"val": ...}}` when it carries a timeout.
fn element_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => {
            if let Some(inner) = o.get("elem").and_then(|e| e.get("val")) {
                return element_text(inner);
            }
            let p = o.get("prefix")?;
            Some(format!(
                "{}/{}",
                p.get("addr")?.as_str()?,
                p.get("len")?.as_u64()?
            ))
        }
        _ => None,
    }
}

/// Runs nft (in the namespace when one is named) and returns its output.
async fn nft(
    config: &RespondConfig,
    t: &Target,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut command = match &t.netns {
        Some(ns) => {
            let mut c = super::command(&config.ip);
            c.args(["netns", "exec", ns, &config.nft]);
            c
        }
        None => super::command(&config.nft),
    };
    command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", config.nft))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        match pipe.write_all(text.as_bytes()).await {
            // nft can refuse and exit before it has read the whole script:
            // its exit status and message below say why.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(format!("nft: writing the script: {e}")),
            Ok(()) => {}
        }
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("nft: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "nft {} failed ({}): {}",
            args.join(" "),
            out.status,
            err.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn addresses_are_parsed_split_and_deduplicated() {
        let (v4, v6) = addresses(&json!({"addresses": [
            "203.0.113.9", "198.51.100.0/24", "203.0.113.9", "2001:db8::1", "10.1.2.3/8"
        ]}))
        .unwrap();
        let v4: Vec<String> = v4.iter().map(element).collect();
        assert_eq!(v4, ["10.0.0.0/8", "198.51.100.0/24", "203.0.113.9"]);
        assert_eq!(v6.iter().map(element).collect::<Vec<_>>(), ["2001:db8::1"]);
        let bad = addresses(&json!({"addresses": ["1.2.3.4; flush ruleset"]})).unwrap_err();
        assert!(bad.contains("not an address"), "{bad}");
    }

    #[test]
    fn names_cannot_smuggle_commands() {
        let e = target(&json!({"set": "x }; flush ruleset; {"}))
            .err()
            .unwrap();
        assert!(e.contains("`set`"), "{e}");
        assert!(target(&json!({"set": "s", "family": "inet6"})).is_err());
        let t = target(&json!({"set": "blocked"})).unwrap();
        assert_eq!(
            (t.family.as_str(), t.table.as_str()),
            ("inet", "watchfloor")
        );
    }

    #[test]
    fn nft_json_elements_with_and_without_timeouts() {
        let elems = [
            json!("10.0.0.1"),
            json!({"prefix": {"addr": "10.1.0.0", "len": 16}}),
            json!({"elem": {"val": "203.0.113.9", "timeout": 600, "expires": 598}}),
            json!({"elem": {"val": {"prefix": {"addr": "2001:db8::", "len": 32}}, "timeout": 60}}),
        ];
        let texts: Vec<String> = elems.iter().filter_map(element_text).collect();
        assert_eq!(
            texts,
            ["10.0.0.1", "10.1.0.0/16", "203.0.113.9", "2001:db8::/32"]
        );
    }
}
