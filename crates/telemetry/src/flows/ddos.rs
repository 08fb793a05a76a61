//! The DDoS signature: traffic that overloads (a destination's packet or bit
//! rate over its threshold, or an interface saturated while one destination
//! takes most of the traffic) and is concentrated on that destination with
//! the marks of an attack: many sources, one protocol (UDP reflection,
//! ICMP), or half-open TCP (a SYN flood). One alert per victim and attack,
//! for both crews: the victim is the alert's host, the attackers its
//! addresses (so nobody blocks the victim, FastNetMon#619).

use std::collections::HashMap;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Deserialize;
use watchfloor_model::{Alert, AlertKind, Domain, Severity};

use super::DestinationMinute;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DdosConfig {
    pub enabled: bool,
    /// Seconds of flows one evaluation looks at.
    #[schemars(range(min = 1, max = 600))]
    pub window_secs: u64,
    /// A destination receiving this many packets per second overloads.
    #[schemars(range(min = 1))]
    pub min_pps: u64,
    /// ... or this many bits per second.
    #[schemars(range(min = 1))]
    pub min_bps: u64,
    /// Many sources: at least this many distinct ones.
    #[schemars(range(min = 1))]
    pub min_sources: u64,
    /// One protocol: at least this share of the destination's bytes.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub protocol_share: f64,
    /// With an interface saturated, a destination taking this share of all
    /// flow bytes is the one overloading it.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub victim_share: f64,
    /// PromQL saying an interface is saturated (any result counts).
    pub overload_expr: String,
    /// An attack on a victim is one alert until the victim has been quiet
    /// this long.
    #[schemars(range(min = 1, max = 1440))]
    pub quiet_minutes: u64,
    /// Attacking sources listed on the alert.
    #[schemars(range(min = 1, max = 1000))]
    pub top_sources: u64,
}

impl Default for DdosConfig {
    fn default() -> Self {
        DdosConfig {
            enabled: true,
            window_secs: 10,
            min_pps: 20_000,
            min_bps: 1_000_000_000,
            min_sources: 50,
            protocol_share: 0.9,
            victim_share: 0.5,
            overload_expr: "max(if_utilisation_ratio) > 0.9".into(),
            quiet_minutes: 10,
            top_sources: 20,
        }
    }
}

/// Which mark of an attack the traffic shows.
fn signature(cfg: &DdosConfig, d: &DestinationMinute, flows: u64) -> Option<String> {
    let sources = d.sources.len() as u64;
    let (top_proto, top_bytes) = d
        .protocols
        .iter()
        .max_by_key(|(_, b)| **b)
        .map(|(p, b)| (super::protocol_name(*p), *b))
        .unwrap_or_default();
    let top_proto = top_proto.as_str();
    let share = if d.bytes > 0 {
        top_bytes as f64 / d.bytes as f64
    } else {
        0.0
    };
    if flows > 0 && d.syn_only * 2 >= flows && d.syn_only >= cfg.min_sources {
        return Some(format!(
            "TCP SYN flood ({} half-open flows from {sources} sources)",
            d.syn_only
        ));
    }
    if sources >= cfg.min_sources {
        return Some(format!("{sources} sources, mostly {top_proto}"));
    }
    if share >= cfg.protocol_share && matches!(top_proto, "udp" | "icmp" | "ipv6-icmp" | "gre") {
        return Some(format!(
            "{top_proto} flood ({:.0}% of its bytes) from {sources} sources",
            share * 100.0
        ));
    }
    None
}

/// Remembers the victims under attack, to raise one alert per attack.
#[derive(Default)]
pub struct DdosDetector {
    pub config: DdosConfig,
    /// Victim -> (first seen, last seen) in milliseconds.
    active: HashMap<IpAddr, (i64, i64)>,
}

/// What the detector saw of one destination.
#[derive(Debug, Clone, PartialEq)]
pub struct Attack {
    pub victim: IpAddr,
    pub pps: f64,
    pub bps: f64,
    pub sources: usize,
    pub signature: String,
    /// Attackers with their half-open flows (SYN flood) or packets.
    pub top_sources: Vec<(IpAddr, u64)>,
    pub protocols: Vec<(String, u64)>,
}

impl DdosDetector {
    pub fn new(config: DdosConfig) -> Self {
        DdosDetector {
            config,
            active: HashMap::new(),
        }
    }

    /// Looks at one window of destinations (`flows` records per
    /// destination counted in `flow_counts`); returns the attacks that
    /// start now (ongoing ones only refresh their victim).
    pub fn evaluate(
        &mut self,
        window: &[(IpAddr, DestinationMinute)],
        window_ms: i64,
        interface_overloaded: bool,
        now_ms: i64,
    ) -> Vec<Attack> {
        let secs = (window_ms as f64 / 1000.0).max(1.0);
        let total: u64 = window.iter().map(|(_, d)| d.bytes).sum();
        let mut out = Vec::new();
        for (victim, d) in window {
            let (pps, bps) = (d.packets as f64 / secs, d.bytes as f64 * 8.0 / secs);
            let overloaded = pps >= self.config.min_pps as f64
                || bps >= self.config.min_bps as f64
                || (interface_overloaded
                    && total > 0
                    && d.bytes as f64 / total as f64 >= self.config.victim_share);
            if !overloaded {
                continue;
            }
            let flows = d.by_source.len() as u64;
            let Some(signature) = signature(&self.config, d, flows.max(d.syn_only)) else {
                continue;
            };
            let quiet = self.config.quiet_minutes as i64 * 60_000;
            let ongoing = self
                .active
                .get(victim)
                .is_some_and(|(_, last)| now_ms - last < quiet);
            let first = if ongoing {
                self.active[victim].0
            } else {
                now_ms
            };
            self.active.insert(*victim, (first, now_ms));
            if ongoing {
                continue;
            }
            // Attackers ranked by the mark of the attack: half-open flows in
            // a SYN flood, packets otherwise; a heavy but legitimate sender
            // (established TCP) never ranks in a SYN flood.
            let syn_flood = signature.starts_with("TCP SYN");
            let mut top: Vec<(IpAddr, u64)> = d
                .by_source
                .iter()
                .map(|(ip, s)| (*ip, if syn_flood { s.syn_only } else { s.packets }))
                .filter(|(_, n)| *n > 0)
                .collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            top.truncate(self.config.top_sources as usize);
            let mut protocols: Vec<(String, u64)> = d
                .protocols
                .iter()
                .map(|(p, b)| (super::protocol_name(*p), *b))
                .collect();
            protocols.sort_by_key(|p| std::cmp::Reverse(p.1));
            out.push(Attack {
                victim: *victim,
                pps,
                bps,
                sources: d.sources.len(),
                signature,
                top_sources: top,
                protocols,
            });
        }
        out
    }
}

/// The traffic of a window's busiest destinations (by bytes, at most
/// `top`) as series at `now_ms`: `flow_destination_bits_per_second` and
/// `flow_destination_packets_per_second` by `dst`. Written at every window,
/// they chart an attack from its first seconds (the top-talker series
/// come once a minute closes).
pub fn destination_rates(
    window: &[(IpAddr, DestinationMinute)],
    window_ms: i64,
    now_ms: i64,
    top: usize,
) -> Vec<watchfloor_tsdb::SeriesSamples> {
    let secs = (window_ms as f64 / 1000.0).max(1.0);
    let mut busiest: Vec<&(IpAddr, DestinationMinute)> = window.iter().collect();
    busiest.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (dst, d) in busiest.into_iter().take(top) {
        let dst = dst.to_string();
        for (name, v) in [
            (
                "flow_destination_bits_per_second",
                d.bytes as f64 * 8.0 / secs,
            ),
            (
                "flow_destination_packets_per_second",
                d.packets as f64 / secs,
            ),
        ] {
            out.push(watchfloor_tsdb::SeriesSamples {
                labels: watchfloor_tsdb::Labels::from_pairs([
                    ("__name__", name),
                    ("dst", dst.as_str()),
                ]),
                samples: vec![(now_ms, v)],
            });
        }
    }
    out
}

fn human_rate(v: f64, unit: &str) -> String {
    let (scaled, prefix) = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        .iter()
        .find(|(s, _)| v >= *s)
        .map_or((v, ""), |(s, p)| (v / s, *p));
    format!("{scaled:.1} {prefix}{unit}")
}

impl Attack {
    /// The alert for both crews: victim as host, attackers as addresses.
    pub fn alert(&self, tenant: &str, now_ms: i64) -> Alert {
        let title = format!(
            "DDoS on {}: {}, {} ({})",
            self.victim,
            human_rate(self.pps, "pps"),
            human_rate(self.bps, "b/s"),
            self.signature
        );
        let mut fields = serde_json::Map::new();
        fields.insert("victim".into(), serde_json::json!(self.victim.to_string()));
        fields.insert(
            "attackers".into(),
            serde_json::json!(self
                .top_sources
                .iter()
                .map(|(ip, _)| ip.to_string())
                .collect::<Vec<_>>()),
        );
        fields.insert(
            "attacker_weight".into(),
            serde_json::json!(self
                .top_sources
                .iter()
                .map(|(ip, n)| serde_json::json!({"ip": ip.to_string(), "count": n}))
                .collect::<Vec<_>>()),
        );
        fields.insert(
            "protocols".into(),
            serde_json::json!(self
                .protocols
                .iter()
                .map(|(p, b)| serde_json::json!({"protocol": p, "bytes": b}))
                .collect::<Vec<_>>()),
        );
        fields.insert(
            "packets_per_second".into(),
            serde_json::json!(self.pps.round()),
        );
        fields.insert(
            "bits_per_second".into(),
            serde_json::json!(self.bps.round()),
        );
        fields.insert("sources".into(), serde_json::json!(self.sources));
        fields.insert("signature".into(), serde_json::json!(self.signature));
        // The bandwidth chart of the incident: the victim's traffic.
        fields.insert(
            "chart.query".into(),
            serde_json::json!(format!(
                "flow_destination_bits_per_second{{dst=\"{}\"}}",
                self.victim
            )),
        );
        Alert {
            id: 0,
            key: format!("ddos:{tenant}:{}:{now_ms}", self.victim),
            tenant: tenant.to_string(),
            domain: Domain::Both,
            rule_id: Some("signature:ddos".into()),
            rule_title: title,
            kind: AlertKind::Signature,
            level: Severity::Critical,
            tags: vec!["attack.impact".into(), "attack.t1498".into()],
            time_ns: now_ms * 1_000_000,
            created_ns: now_ms * 1_000_000,
            host: Some(self.victim.to_string()),
            user: None,
            users: Vec::new(),
            ips: self
                .top_sources
                .iter()
                .map(|(ip, _)| ip.to_string())
                .collect(),
            indicators: Default::default(),
            event_ids: Vec::new(),
            fields,
            value: Some(self.pps),
            parent: None,
            incident_id: None,
        }
    }
}
