//! Indicators: a value of a known kind, in one normal form, with what the
//! floor knows about it (source, confidence, TLP, labels, times, sightings).

use std::net::IpAddr;

use ipnet::IpNet;

pub use watchfloor_model::indicator::{Indicator, IndicatorKind as Kind, Tlp};

/// Why a value is not an indicator of a kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind} indicator: {reason}")]
pub struct InvalidValue {
    pub kind: &'static str,
    pub value: String,
    pub reason: &'static str,
}

fn invalid(kind: Kind, value: &str, reason: &'static str) -> InvalidValue {
    InvalidValue {
        kind: kind.as_str(),
        value: value.chars().take(200).collect(),
        reason,
    }
}

/// The normal form of `value` as an indicator of `kind`: addresses and
/// networks as `ipnet` writes them (host bits cleared), domains in lower
/// case without a trailing dot, URLs by the WHATWG URL standard (lower-case
/// scheme and host, default port and fragment dropped), hashes in lower-case
/// hex of their length, e-mail addresses in lower case.
pub fn normalize(kind: Kind, value: &str) -> Result<String, InvalidValue> {
    let v = value.trim();
    match kind {
        Kind::Ip => normalize_ip(v).ok_or_else(|| invalid(kind, value, "not an address or CIDR")),
        Kind::Domain => {
            normalize_domain(v).ok_or_else(|| invalid(kind, value, "not a domain name"))
        }
        Kind::Url => normalize_url(v).ok_or_else(|| invalid(kind, value, "not an absolute URL")),
        Kind::Md5 => hex_of_len(v, 32).ok_or_else(|| invalid(kind, value, "not 32 hex digits")),
        Kind::Sha1 => hex_of_len(v, 40).ok_or_else(|| invalid(kind, value, "not 40 hex digits")),
        Kind::Sha256 => hex_of_len(v, 64).ok_or_else(|| invalid(kind, value, "not 64 hex digits")),
        Kind::Email => {
            normalize_email(v).ok_or_else(|| invalid(kind, value, "not an e-mail address"))
        }
    }
}

/// An address or network as a network (an address is its own /32 or /128).
pub fn parse_net(v: &str) -> Option<IpNet> {
    if let Ok(net) = v.parse::<IpNet>() {
        return Some(net.trunc());
    }
    v.parse::<IpAddr>().ok().map(IpNet::from)
}

fn normalize_ip(v: &str) -> Option<String> {
    let net = parse_net(v)?;
    Some(if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    })
}

/// A domain name: labels of letters, digits, hyphens and underscores (seen
/// in the wild), at most 63 bytes each and 253 in all, at least two labels.
pub fn normalize_domain(v: &str) -> Option<String> {
    let d = v.strip_suffix('.').unwrap_or(v).to_ascii_lowercase();
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let labels = d.split('.').count();
    (d.len() <= 253 && labels >= 2 && d.split('.').all(ok_label) && d.parse::<IpAddr>().is_err())
        .then_some(d)
}

fn normalize_url(v: &str) -> Option<String> {
    let mut url = url::Url::parse(v).ok()?;
    url.host_str()?;
    url.set_fragment(None);
    Some(url.to_string())
}

fn hex_of_len(v: &str, len: usize) -> Option<String> {
    (v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit())).then(|| v.to_ascii_lowercase())
}

fn normalize_email(v: &str) -> Option<String> {
    let (local, domain) = v.rsplit_once('@')?;
    let domain = normalize_domain(domain)?;
    (!local.is_empty() && !local.contains(char::is_whitespace))
        .then(|| format!("{}@{domain}", local.to_ascii_lowercase()))
}

/// The registrable domain of a name by the public suffix list
/// (`www.example.co.uk` → `example.co.uk`), when it has one.
pub fn registrable_domain(name: &str) -> Option<String> {
    let d = psl::domain_str(name)?;
    Some(d.to_string())
}

/// The kind of a bare value, as a plain list gives it (one a line):
/// an address or network, a hash by its length, a URL by its scheme, an
/// e-mail address, else a domain.
pub fn guess_kind(value: &str) -> Option<Kind> {
    let v = value.trim();
    if parse_net(v).is_some() {
        return Some(Kind::Ip);
    }
    if v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match v.len() {
            32 => Some(Kind::Md5),
            40 => Some(Kind::Sha1),
            64 => Some(Kind::Sha256),
            _ => None,
        };
    }
    if v.contains("://") {
        return Some(Kind::Url);
    }
    if v.contains('@') {
        return normalize_email(v).map(|_| Kind::Email);
    }
    normalize_domain(v).map(|_| Kind::Domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_one_normal_form() {
        assert_eq!(normalize(Kind::Ip, " 203.0.113.9 ").unwrap(), "203.0.113.9");
        assert_eq!(normalize(Kind::Ip, "10.1.2.3/8").unwrap(), "10.0.0.0/8");
        assert_eq!(
            normalize(Kind::Ip, "2001:DB8::1/128").unwrap(),
            "2001:db8::1"
        );
        assert_eq!(
            normalize(Kind::Ip, "2001:db8:0:0::/32").unwrap(),
            "2001:db8::/32"
        );
        assert_eq!(
            normalize(Kind::Domain, "Evil.Example.COM.").unwrap(),
            "evil.example.com"
        );
        assert_eq!(
            normalize(Kind::Url, "HTTP://Evil.Example.com:80/a/../b?x=1#frag").unwrap(),
            "http://evil.example.com/b?x=1"
        );
        assert_eq!(
            normalize(Kind::Sha256, &"AB".repeat(32)).unwrap(),
            "ab".repeat(32)
        );
        assert_eq!(
            normalize(Kind::Email, "Bob@Mail.Example.org").unwrap(),
            "bob@mail.example.org"
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let e = normalize(Kind::Ip, "300.1.1.1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"300.1.1.1\" is not a valid ip indicator: not an address or CIDR"
        );
        assert!(normalize(Kind::Domain, "localhost").is_err(), "one label");
        assert!(normalize(Kind::Domain, "a..b").is_err());
        assert!(normalize(Kind::Domain, "10.0.0.1").is_err(), "an address");
        assert!(normalize(Kind::Url, "/relative/path").is_err());
        assert!(normalize(Kind::Md5, "xyz").is_err());
        assert!(normalize(Kind::Email, "no-at-sign").is_err());
    }

    #[test]
    fn kinds_are_guessed_from_bare_values_and_domains_registered() {
        assert_eq!(guess_kind("198.51.100.0/24"), Some(Kind::Ip));
        assert_eq!(guess_kind(&"a".repeat(40)), Some(Kind::Sha1));
        assert_eq!(guess_kind("https://x.example/p"), Some(Kind::Url));
        assert_eq!(guess_kind("phish@example.net"), Some(Kind::Email));
        assert_eq!(guess_kind("cdn.example.net"), Some(Kind::Domain));
        assert_eq!(guess_kind("not a value"), None);
        assert_eq!(
            registrable_domain("www.example.co.uk").as_deref(),
            Some("example.co.uk")
        );
    }
}
