//! Indicators out, in the forms that enforcing systems read: plain lists
//! (firewalls' external dynamic lists, proxies), a DNS response policy
//! zone (RPZ, for BIND, Unbound, PowerDNS, Knot), an nftables script that
//! fills named sets, and STIX 2.1 bundles (other platforms, TAXII).
//!
//! The caller chooses the indicators ([`crate::Intel::exportable`]: live,
//! within a TLP ceiling, not vouched for by a warninglist); this module only
//! writes them.

use std::fmt::Write as _;
use std::str::FromStr;

use ipnet::IpNet;
use serde_json::{json, Value};
use watchfloor_model::format_rfc3339;

use crate::indicator::{parse_net, Indicator, Kind, Tlp};

/// The forms of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One value a line.
    Text,
    /// A DNS RPZ zone: domains (and everything under them) answer NXDOMAIN,
    /// addresses and networks as response-IP triggers.
    Rpz,
    /// An nftables script: a table with one interval set per address
    /// family, flushed and filled in one transaction.
    Nftables,
    /// A STIX 2.1 bundle of indicator objects.
    Stix,
}

impl Format {
    pub const NAMES: &'static str = "text, rpz, nftables or stix";

    /// The kinds a form can hold.
    pub fn holds(self, kind: Kind) -> bool {
        match self {
            Format::Text | Format::Stix => true,
            Format::Rpz => matches!(kind, Kind::Domain | Kind::Ip),
            Format::Nftables => kind == Kind::Ip,
        }
    }

    /// The media type of the form.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text | Format::Nftables => "text/plain; charset=utf-8",
            Format::Rpz => "text/dns",
            Format::Stix => "application/stix+json;version=2.1",
        }
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" | "plain" => Ok(Format::Text),
            "rpz" => Ok(Format::Rpz),
            "nftables" | "nft" => Ok(Format::Nftables),
            "stix" | "stix2" => Ok(Format::Stix),
            _ => Err(format!(
                "unknown export format {s:?}: expected {}",
                Format::NAMES
            )),
        }
    }
}

/// Names the forms put in their output.
#[derive(Debug, Clone)]
pub struct Names {
    /// The RPZ zone's origin.
    pub zone: String,
    /// The nftables table (`family name`).
    pub nft_table: String,
    /// The nftables sets' name prefix: `{prefix}_v4` and `{prefix}_v6`.
    pub nft_set: String,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            zone: "rpz.watchfloor".into(),
            nft_table: "inet watchfloor".into(),
            nft_set: "intel".into(),
        }
    }
}

impl Names {
    /// Problems with the names (they end up in files other programs
    /// parse, so only plain names pass).
    pub fn check(&self) -> Result<(), String> {
        let plain = |s: &str, extra: &[u8]| {
            !s.is_empty()
                && s.len() <= 200
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
        };
        if !plain(&self.zone, b".-") {
            return Err(format!(
                "zone {:?}: letters, digits, '.', '-', '_' only",
                self.zone
            ));
        }
        let (family, table) = self.nft_table.split_once(' ').unwrap_or(("", ""));
        if !matches!(family, "ip" | "ip6" | "inet" | "bridge" | "netdev") || !plain(table, b"-") {
            return Err(format!(
                "nftables table {:?}: expected \"FAMILY NAME\" with FAMILY ip, ip6, inet, bridge or netdev",
                self.nft_table
            ));
        }
        if !plain(&self.nft_set, b"-") {
            return Err(format!(
                "nftables set {:?}: letters, digits, '-', '_' only",
                self.nft_set
            ));
        }
        Ok(())
    }
}

/// Writes `indicators` in `format`; `now_ns` stamps the output.
pub fn write(format: Format, indicators: &[Indicator], names: &Names, now_ns: i64) -> String {
    match format {
        Format::Text => text(indicators),
        Format::Rpz => rpz(indicators, &names.zone, now_ns),
        Format::Nftables => nftables(indicators, names, now_ns),
        Format::Stix => {
            serde_json::to_string_pretty(&stix_bundle(indicators, now_ns)).unwrap_or_default()
        }
    }
}

fn text(indicators: &[Indicator]) -> String {
    let mut out = String::with_capacity(indicators.len() * 24);
    for ind in indicators {
        out.push_str(&ind.value);
        out.push('\n');
    }
    out
}

/// Addresses and networks of the indicators, merged: contained networks
/// dropped and neighbours joined, as interval sets and RPZ want them.
fn merged_networks(indicators: &[Indicator]) -> Vec<IpNet> {
    let nets: Vec<IpNet> = indicators
        .iter()
        .filter(|i| i.kind == Kind::Ip)
        .filter_map(|i| parse_net(&i.value))
        .collect();
    IpNet::aggregate(&nets)
}

fn rpz(indicators: &[Indicator], zone: &str, now_ns: i64) -> String {
    let serial = (now_ns / 1_000_000_000).clamp(1, u32::MAX as i64);
    let mut out = format!(
        "; Watchfloor intel export, {}\n$TTL 300\n$ORIGIN {zone}.\n\
         @ IN SOA localhost. hostmaster.localhost. ( {serial} 3600 600 86400 300 )\n\
         @ IN NS localhost.\n",
        format_rfc3339(now_ns)
    );
    for ind in indicators.iter().filter(|i| i.kind == Kind::Domain) {
        // A domain indicator names the domain and every name under it.
        let _ = writeln!(out, "{0} CNAME .\n*.{0} CNAME .", ind.value);
    }
    for net in merged_networks(indicators) {
        let _ = writeln!(out, "{} CNAME .", rpz_ip_owner(net));
    }
    out
}

/// The owner name of an RPZ response-IP trigger: the prefix length, then
/// the address's parts in reverse order (IPv6 groups with the longest run
/// of zero groups written `zz`), under `rpz-ip`.
fn rpz_ip_owner(net: IpNet) -> String {
    let prefix = net.prefix_len();
    let parts: Vec<String> = match net {
        IpNet::V4(n) => n.addr().octets().iter().rev().map(u8::to_string).collect(),
        IpNet::V6(n) => {
            let groups = n.addr().segments();
            let (start, len) = longest_zero_run(&groups);
            let mut parts: Vec<String> = Vec::new();
            let mut i = 0;
            while i < groups.len() {
                if len > 1 && i == start {
                    parts.push("zz".into());
                    i += len;
                } else {
                    parts.push(format!("{:x}", groups[i]));
                    i += 1;
                }
            }
            parts.reverse();
            parts
        }
    };
    format!("{prefix}.{}.rpz-ip", parts.join("."))
}

fn longest_zero_run(groups: &[u16; 8]) -> (usize, usize) {
    let (mut best, mut run_start, mut run) = ((0, 0), 0, 0);
    for (i, g) in groups.iter().enumerate() {
        if *g == 0 {
            if run == 0 {
                run_start = i;
            }
            run += 1;
            if run > best.1 {
                best = (run_start, run);
            }
        } else {
            run = 0;
        }
    }
    best
}

fn nftables(indicators: &[Indicator], names: &Names, now_ns: i64) -> String {
    let (table, set) = (&names.nft_table, &names.nft_set);
    let nets = merged_networks(indicators);
    let mut out = format!(
        "#!/usr/sbin/nft -f\n# Watchfloor intel export, {}: load with `nft -f FILE`\n\
         table {table} {{\n\
         \tset {set}_v4 {{ type ipv4_addr; flags interval; }}\n\
         \tset {set}_v6 {{ type ipv6_addr; flags interval; }}\n\
         }}\n\
         flush set {table} {set}_v4\n\
         flush set {table} {set}_v6\n",
        format_rfc3339(now_ns)
    );
    for (suffix, v4) in [("v4", true), ("v6", false)] {
        let elements: Vec<String> = nets
            .iter()
            .filter(|n| matches!(n, IpNet::V4(_)) == v4)
            .map(|n| element(*n))
            .collect();
        // nft refuses an empty element list, and very long lines are slow
        // to parse, so elements go in commands of a thousand.
        for chunk in elements.chunks(1000) {
            let _ = writeln!(
                out,
                "add element {table} {set}_{suffix} {{ {} }}",
                chunk.join(", ")
            );
        }
    }
    out
}

fn element(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

/// The namespace the ids of Watchfloor's STIX objects are derived in.
const ID_NAMESPACE: uuid::Uuid = uuid::uuid!("6f2d5c44-0f55-4c7e-9d0c-5a1f1b0e7a11");

/// A STIX id derived from `name`: the same indicator keeps its id across
/// exports, so consumers update it instead of adding a duplicate. STIX 2.1
/// wants UUIDv4 ids for domain objects (v5 is for observables), so the
/// name's v5 hash is written with version 4's bits.
fn derived_id(object_type: &str, name: &str) -> String {
    format!("{object_type}--{}", derived_uuid(name))
}

/// A UUID derived from `name` (version 4's bits on a v5 hash).
pub fn derived_uuid(name: &str) -> uuid::Uuid {
    let hash = uuid::Uuid::new_v5(&ID_NAMESPACE, name.as_bytes()).into_bytes();
    uuid::Builder::from_random_bytes(hash).into_uuid()
}

/// The STIX id of an indicator.
pub fn stix_id(ind: &Indicator) -> String {
    derived_id("indicator", &format!("{}:{}", ind.kind, ind.value))
}

/// The identity object Watchfloor's exports are created by.
pub fn stix_identity() -> Value {
    json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": derived_id("identity", "watchfloor"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Watchfloor",
        "identity_class": "system",
    })
}

/// A bundle of the indicators, created by [`stix_identity`].
pub fn stix_bundle(indicators: &[Indicator], now_ns: i64) -> Value {
    let identity = stix_identity();
    let mut objects = vec![identity.clone()];
    let creator = identity["id"].as_str().unwrap_or_default();
    objects.extend(indicators.iter().map(|i| stix_indicator(i, creator)));
    let bundle_name = format!("bundle:{}:{}", indicators.len(), now_ns);
    json!({
        "type": "bundle",
        "id": derived_id("bundle", &bundle_name),
        "objects": objects,
    })
}

/// One indicator as a STIX 2.1 indicator object.
pub fn stix_indicator(ind: &Indicator, created_by: &str) -> Value {
    let first = ind.first_seen_ns;
    let mut object = json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id(ind),
        "created_by_ref": created_by,
        "created": format_rfc3339(first),
        "modified": format_rfc3339(ind.last_seen_ns.max(first)),
        "name": format!("{} {}", ind.kind, ind.value),
        "pattern": stix_pattern(ind),
        "pattern_type": "stix",
        "valid_from": format_rfc3339(first),
        "confidence": ind.confidence.min(100),
        "object_marking_refs": [tlp_marking(ind.tlp)],
    });
    if let Some(until) = ind.valid_until_ns.filter(|u| *u > first) {
        object["valid_until"] = json!(format_rfc3339(until));
    }
    if !ind.labels.is_empty() {
        object["labels"] = json!(ind.labels);
    }
    if !ind.source.is_empty() {
        object["description"] = json!(format!("source: {}", ind.source));
    }
    object
}

/// The STIX pattern of an indicator's value.
pub fn stix_pattern(ind: &Indicator) -> String {
    let path = match ind.kind {
        Kind::Ip if ind.value.contains(':') => "ipv6-addr:value",
        Kind::Ip => "ipv4-addr:value",
        Kind::Domain => "domain-name:value",
        Kind::Url => "url:value",
        Kind::Md5 => "file:hashes.MD5",
        Kind::Sha1 => "file:hashes.'SHA-1'",
        Kind::Sha256 => "file:hashes.'SHA-256'",
        Kind::Email => "email-addr:value",
    };
    let quoted = ind.value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("[{path} = '{quoted}']")
}

/// The TLP 1.0 marking definitions STIX 2.1 predefines (consumers know them
/// without the definition in the bundle). AMBER+STRICT has none there, so
/// it is written as RED: the stricter label, never a looser one.
fn tlp_marking(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Clear => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Green => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Amber => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::AmberStrict | Tlp::Red => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stix::import_bundle;

    fn ind(kind: Kind, value: &str) -> Indicator {
        Indicator {
            kind,
            value: value.into(),
            source: "test".into(),
            confidence: 80,
            tlp: Tlp::Green,
            labels: vec!["phishing".into()],
            first_seen_ns: 1_780_000_000_000_000_000,
            last_seen_ns: 1_780_000_100_000_000_000,
            valid_until_ns: None,
            sightings: 0,
        }
    }

    fn sample() -> Vec<Indicator> {
        vec![
            ind(Kind::Ip, "45.137.21.9"),
            ind(Kind::Ip, "45.137.21.0/24"),
            ind(Kind::Ip, "2001:db8::/32"),
            ind(Kind::Ip, "2001:db8:0:0:1::5"),
            ind(Kind::Domain, "evil.example"),
            ind(Kind::Url, "http://evil.example/it's"),
            ind(Kind::Sha256, &"ab".repeat(32)),
        ]
    }

    #[test]
    fn rpz_blocks_domains_with_their_subdomains_and_networks_as_response_ips() {
        let zone = write(
            Format::Rpz,
            &sample(),
            &Names::default(),
            1_780_000_000_000_000_000,
        );
        assert!(zone.contains("$ORIGIN rpz.watchfloor.\n"), "{zone}");
        assert!(zone.contains("\nevil.example CNAME .\n*.evil.example CNAME .\n"));
        // the /32 inside the /24 is dropped; the /128 inside the /32 too
        assert!(zone.contains("\n24.0.21.137.45.rpz-ip CNAME .\n"), "{zone}");
        assert!(!zone.contains("32.9.21.137.45"), "{zone}");
        assert!(zone.contains("\n32.zz.db8.2001.rpz-ip CNAME .\n"), "{zone}");
        assert!(!zone.contains("http"), "URLs are not DNS names: {zone}");
    }

    #[test]
    fn rpz_ip_owners_follow_the_draft() {
        let owner = |s: &str| rpz_ip_owner(s.parse().unwrap());
        assert_eq!(owner("192.0.2.0/24"), "24.0.2.0.192.rpz-ip");
        assert_eq!(owner("2001:db8::1/128"), "128.1.zz.db8.2001.rpz-ip");
        assert_eq!(owner("2001:0:0:1::/64"), "64.zz.1.0.0.2001.rpz-ip");
    }

    #[test]
    fn nftables_fills_one_interval_set_per_family() {
        let script = write(Format::Nftables, &sample(), &Names::default(), 0);
        assert!(script.contains("set intel_v4 { type ipv4_addr; flags interval; }"));
        assert!(script.contains("flush set inet watchfloor intel_v4\n"));
        assert!(script.contains("add element inet watchfloor intel_v4 { 45.137.21.0/24 }\n"));
        assert!(script.contains("add element inet watchfloor intel_v6 { 2001:db8::/32 }\n"));
        assert!(!script.contains("evil"), "{script}");
        let empty = write(Format::Nftables, &[], &Names::default(), 0);
        assert!(
            !empty.contains("add element"),
            "nft refuses empty lists: {empty}"
        );
    }

    #[test]
    fn names_that_would_break_the_files_are_refused() {
        let mut names = Names::default();
        assert!(names.check().is_ok());
        names.nft_table = "inet x; flush ruleset".into();
        assert!(names.check().unwrap_err().contains("nftables table"));
        names = Names {
            zone: "rpz\nevil".into(),
            ..Names::default()
        };
        assert!(names.check().is_err());
    }

    #[test]
    fn stix_bundles_read_back_as_the_same_indicators_with_stable_ids() {
        let indicators = sample();
        let text = write(Format::Stix, &indicators, &Names::default(), 0);
        let back = import_bundle(&text, "test").unwrap();
        assert!(back.skipped.is_empty(), "{:?}", back.skipped);
        let values: Vec<_> = back
            .indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect();
        let expected: Vec<_> = indicators
            .iter()
            .map(|i| (i.kind, i.value.as_str()))
            .collect();
        assert_eq!(values, expected);
        assert_eq!(back.indicators[0].tlp, Tlp::Green);
        assert_eq!(back.indicators[0].confidence, 80);
        assert_eq!(stix_id(&indicators[0]), stix_id(&indicators[0].clone()));
        assert_ne!(stix_id(&indicators[0]), stix_id(&indicators[1]));
        let id = uuid::Uuid::parse_str(stix_id(&indicators[0]).trim_start_matches("indicator--"));
        assert_eq!(id.unwrap().get_version_num(), 4, "STIX wants v4 ids");
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("NFT".parse::<Format>(), Ok(Format::Nftables));
        assert!("pdf".parse::<Format>().unwrap_err().contains("rpz"));
        assert!(Format::Rpz.holds(Kind::Domain) && !Format::Rpz.holds(Kind::Url));
    }
}
