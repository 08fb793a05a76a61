//! `dns.block` / `dns.unblock`: domains answered NXDOMAIN by the site's
//! resolver. Watchfloor keeps one file of its blocked domains, in
//! Unbound's `local-zone` form (included from unbound.conf) or as an RPZ
//! zone (for BIND, Knot Resolver, Unbound's rpz module), writes it whole
//! and atomically (a temporary file renamed over it), then runs the
//! configured reload command. The file is the state: blocking a domain
//! that is there, or unblocking one that is not, changes nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;

use serde_json::{json, Value};

use super::{show, strings};
use crate::config::RespondConfig;

/// A domain as DNS names it, checked: letters, digits, '-', '_' and dots.
fn domain(text: &str) -> Result<String, String> {
    let d = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok && d.parse::<std::net::IpAddr>().is_err() {
        Ok(d)
    } else {
        Err(format!("{text:?} is not a domain name"))
    }
}

/// The domains a file holds (either form; comments and others ignored).
fn read_domains(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("local-zone:") {
            if let Some(name) = rest.split('"').nth(1) {
                out.insert(name.trim_end_matches('.').to_string());
            }
        } else if !line.starts_with(';') && !line.starts_with('$') && !line.starts_with('@') {
            let mut words = line.split_whitespace();
            if let (Some(name), Some("CNAME"), Some(".")) =
                (words.next(), words.next(), words.next())
            {
                if !name.starts_with("*.") {
                    out.insert(name.trim_end_matches('.').to_string());
                }
            }
        }
    }
    out
}

fn render(domains: &BTreeSet<String>, format: &str) -> String {
    const HEADER: &str = "Written by Watchfloor's dns.block action: the domains it blocks. Edited by hand, it is overwritten.";
    if format == "rpz" {
        let mut text = format!(
            "; {HEADER}\n$TTL 60\n@ IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ IN NS localhost.\n"
        );
        for d in domains {
            text.push_str(&format!("{d} CNAME .\n*.{d} CNAME .\n"));
        }
        return text;
    }
    let mut text = format!("# {HEADER}\n");
    for d in domains {
        text.push_str(&format!("local-zone: \"{d}.\" always_nxdomain\n"));
    }
    text
}

pub async fn block(config: &RespondConfig, input: &Value, add: bool) -> Result<Value, String> {
    let wanted = strings(input, "domains")?
        .iter()
        .map(|d| domain(d))
        .collect::<Result<BTreeSet<_>, _>>()?;
    let file = match input
        .get("file")
        .filter(|v| !v.is_null() && !show(v).is_empty())
    {
        Some(v) => std::path::PathBuf::from(show(v)),
        None => config
            .dns
            .file
            .clone()
            .ok_or("no `file`, and no [respond.dns] file")?,
    };
    let format = input
        .get("format")
        .filter(|v| !v.is_null() && !show(v).is_empty())
        .map(show)
        .unwrap_or_else(|| config.dns.format.clone());
    if format != "unbound" && format != "rpz" {
        return Err(format!("`format` {format:?}: unbound or rpz"));
    }
    let current = match std::fs::read_to_string(&file) {
        Ok(text) => read_domains(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    };
    let next: BTreeSet<String> = if add {
        current.union(&wanted).cloned().collect()
    } else {
        current.difference(&wanted).cloned().collect()
    };
    let changed: Vec<&String> = if add {
        wanted.difference(&current).collect()
    } else {
        wanted.intersection(&current).collect()
    };
    if !changed.is_empty() {
        write_atomically(&file, &render(&next, &format))?;
        reload(config).await?;
    }
    Ok(json!({
        if add { "blocked" } else { "unblocked" }: wanted,
        "changed": changed,
        "file": file.display().to_string(),
        "total": next.len(),
    }))
}

fn write_atomically(file: &Path, text: &str) -> Result<(), String> {
    let tmp = file.with_extension("watchfloor-tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("{}: {e}", file.display()))
}

async fn reload(config: &RespondConfig) -> Result<(), String> {
    let Some((program, args)) = config.dns.reload.split_first() else {
        return Ok(());
    };
    let out = super::command(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}{}",
            config.dns.reload.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_both_forms_read_back() {
        assert_eq!(
            domain("Login.Corp-Example.HELP.").unwrap(),
            "login.corp-example.help"
        );
        assert!(domain("evil.example\" always_transparent\nlocal-zone: \"x").is_err());
        assert!(domain("203.0.113.50").is_err());
        assert!(domain("").is_err());
        let set: BTreeSet<String> = ["a.example".to_string(), "b.example".to_string()].into();
        for format in ["unbound", "rpz"] {
            assert_eq!(read_domains(&render(&set, format)), set, "{format}");
        }
        assert!(render(&set, "unbound").contains("local-zone: \"a.example.\" always_nxdomain"));
        assert!(render(&set, "rpz").contains("*.b.example CNAME ."));
    }
}
