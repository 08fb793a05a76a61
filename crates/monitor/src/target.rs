//! Check targets written as URLs, for `watchfloor check`:
//! `tcp://host:port`, `http(s)://host/path`, `icmp://host`,
//! `tls://host[:port]`, `dns://resolver[:port]/name?type=A&expect=ADDR&rcode=NOERROR`.

use std::collections::BTreeMap;

use url::Url;

use crate::check::{Check, DnsCheck, HttpCheck, IcmpCheck, TcpCheck, TlsCheck};

fn host_of(u: &Url, target: &str) -> Result<String, String> {
    u.host_str()
        .filter(|h| !h.is_empty())
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .ok_or_else(|| format!("{target}: no host"))
}

/// The check a target URL stands for, with default expectations.
pub fn parse_target(target: &str) -> Result<Check, String> {
    let u = Url::parse(target).map_err(|e| format!("{target}: {e}"))?;
    let check = match u.scheme() {
        "tcp" => Check::Tcp(TcpCheck {
            host: host_of(&u, target)?,
            port: u.port().ok_or_else(|| format!("{target}: tcp:// needs a port"))?,
            warn_ms: None,
            crit_ms: None,
        }),
        "icmp" | "ping" => Check::Icmp(IcmpCheck {
            host: host_of(&u, target)?,
            count: 1,
            warn_ms: None,
            crit_ms: None,
        }),
        "http" | "https" => Check::Http(Box::new(HttpCheck {
            url: target.to_string(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: Vec::new(),
            contains: None,
            regex: None,
            json_path: None,
            json_equals: None,
            warn_ms: None,
            crit_ms: None,
            max_redirects: 5,
            client_cert: None,
            ca_file: None,
            max_body_bytes: 1 << 20,
        })),
        "tls" => Check::Tls(TlsCheck {
            host: host_of(&u, target)?,
            port: u.port().unwrap_or(443),
            server_name: None,
            warn_days: 14,
            crit_days: 7,
            ca_file: None,
        }),
        "dns" => dns_target(&u, target)?,
        other => {
            return Err(format!(
                "{target}: unknown scheme {other:?}; use tcp://, http://, https://, icmp://, tls:// or dns://"
            ))
        }
    };
    Ok(check)
}

fn dns_target(u: &Url, target: &str) -> Result<Check, String> {
    let host = host_of(u, target)?;
    let resolver = match u.port() {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let query = u.path().trim_start_matches('/').to_string();
    if query.is_empty() {
        return Err(format!(
            "{target}: dns:// needs a name to look up (dns://resolver/name)"
        ));
    }
    let mut check = DnsCheck {
        resolver,
        query,
        record_type: "A".into(),
        expect: Vec::new(),
        rcode: "NOERROR".into(),
        warn_ms: None,
        crit_ms: None,
    };
    for (k, v) in u.query_pairs() {
        match k.as_ref() {
            "type" => check.record_type = v.to_ascii_uppercase(),
            "expect" => check.expect.push(v.into_owned()),
            "rcode" => check.rcode = v.to_ascii_uppercase(),
            other => {
                return Err(format!(
                    "{target}: unknown parameter {other:?} (type, expect, rcode)"
                ))
            }
        }
    }
    Ok(Check::Dns(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_checks() {
        assert!(matches!(parse_target("tcp://db1:5432"), Ok(Check::Tcp(c)) if c.port == 5432));
        assert!(parse_target("tcp://db1")
            .unwrap_err()
            .contains("needs a port"));
        assert!(
            matches!(parse_target("icmp://10.0.0.1"), Ok(Check::Icmp(c)) if c.host == "10.0.0.1")
        );
        assert!(
            matches!(parse_target("tls://[::1]:8443"), Ok(Check::Tls(c)) if c.host == "::1" && c.port == 8443)
        );
        let Ok(Check::Dns(d)) =
            parse_target("dns://127.0.0.1:5353/www.example.org?type=aaaa&expect=::1&rcode=noerror")
        else {
            panic!("dns");
        };
        assert_eq!(
            (
                d.resolver.as_str(),
                d.query.as_str(),
                d.record_type.as_str(),
                d.expect.as_slice()
            ),
            (
                "127.0.0.1:5353",
                "www.example.org",
                "AAAA",
                &["::1".to_string()][..]
            )
        );
        assert!(parse_target("dns://1.1.1.1/").is_err());
        assert!(parse_target("gopher://x")
            .unwrap_err()
            .contains("unknown scheme"));
        assert!(parse_target("not a url").is_err());
    }
}
