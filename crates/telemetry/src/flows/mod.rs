//! Flows: the NetFlow v5/v9/IPFIX collector's decoding ([`decode`]) and
//! aggregation into metrics: bytes and packets by exporter interface
//! (counters, so `rate()` gives bits per second) and, per minute, the top
//! talkers by source, destination, destination port and protocol, and the
//! destinations with the most distinct sources (what the DDoS signature
//! reads).

pub mod ddos;
pub mod decode;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::Deserialize;
use watchfloor_tsdb::{Labels, SeriesSamples};

pub use decode::{DecodeError, DecodeStats, Decoder, FlowRecord};

/// `[telemetry.flows]`.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsConfig {
    /// UDP address for NetFlow v5/v9 and IPFIX (one port for all three);
    /// "" is off.
    #[schemars(extend("format" = "socket-address"))]
    pub listen: String,
    /// Store every flow as an event (searchable), besides the metrics.
    pub store_records: bool,
    /// The DDoS signature (`[telemetry.flows.ddos]`).
    pub ddos: ddos::DdosConfig,
    /// Talkers kept per dimension and minute.
    #[schemars(range(min = 1, max = 1000))]
    pub top_n: u64,
    /// Seconds between writes of the flow metrics.
    #[schemars(range(min = 1, max = 3600))]
    pub flush_secs: u64,
    /// Sampling rates of exporters that do not announce theirs
    /// (`[[telemetry.flows.exporters]] address = "10.0.0.1", sampling_rate = 1000`).
    pub exporters: Vec<ExporterConfig>,
    pub tenant: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExporterConfig {
    pub address: IpAddr,
    #[schemars(range(min = 1))]
    pub sampling_rate: u64,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            listen: String::new(),
            store_records: true,
            top_n: 20,
            flush_secs: 10,
            exporters: Vec::new(),
            tenant: None,
            ddos: ddos::DdosConfig::default(),
        }
    }
}

pub fn protocol_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        58 => "ipv6-icmp".into(),
        132 => "sctp".into(),
        other => other.to_string(),
    }
}

/// A flow as an event: ECS fields (source, destination, network, observer).
pub fn to_event(r: &FlowRecord) -> serde_json::Value {
    let transport = protocol_name(r.protocol);
    serde_json::json!({
        "message": format!("flow {} {}:{} -> {}:{} {} bytes {} packets", transport, r.src, r.src_port, r.dst, r.dst_port, r.bytes, r.packets),
        "@timestamp": watchfloor_model::format_rfc3339(r.end_ms * 1_000_000),
        "event": {"kind": "event", "category": ["network"], "type": ["connection"], "dataset": "netflow.log",
                  "start": watchfloor_model::format_rfc3339(r.start_ms * 1_000_000), "end": watchfloor_model::format_rfc3339(r.end_ms * 1_000_000)},
        "source": {"ip": r.src.to_string(), "port": r.src_port},
        "destination": {"ip": r.dst.to_string(), "port": r.dst_port},
        "network": {"transport": transport, "iana_number": r.protocol, "bytes": r.bytes, "packets": r.packets},
        "observer": {"ip": r.exporter.to_string()},
        "netflow": {"version": r.version, "sampling_rate": r.sampling, "tcp_flags": r.tcp_flags, "in_interface": r.in_if, "out_interface": r.out_if},
    })
}

/// One destination's traffic in the current minute.
#[derive(Debug, Default, Clone)]
pub struct DestinationMinute {
    pub bytes: u64,
    pub packets: u64,
    pub sources: HashSet<IpAddr>,
    /// Bytes by protocol number.
    pub protocols: BTreeMap<u8, u64>,
    /// TCP flows with SYN and without ACK (half-open: a SYN flood).
    pub syn_only: u64,
    pub by_source: HashMap<IpAddr, SourceStats>,
}

/// One source's share of a destination's traffic.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SourceStats {
    pub bytes: u64,
    pub packets: u64,
    pub syn_only: u64,
}

/// Most distinct sources remembered per destination and minute.
const MAX_SOURCES: usize = 100_000;

impl DestinationMinute {
    fn account(&mut self, r: &FlowRecord) {
        self.bytes += r.bytes;
        self.packets += r.packets;
        if self.sources.len() < MAX_SOURCES {
            self.sources.insert(r.src);
        }
        *self.protocols.entry(r.protocol).or_default() += r.bytes;
        let syn_only = r.protocol == 6 && r.tcp_flags & 0x02 != 0 && r.tcp_flags & 0x10 == 0;
        if syn_only {
            self.syn_only += 1;
        }
        if self.by_source.len() < MAX_SOURCES || self.by_source.contains_key(&r.src) {
            let s = self.by_source.entry(r.src).or_default();
            s.bytes += r.bytes;
            s.packets += r.packets;
            s.syn_only += u64::from(syn_only);
        }
    }
}

/// What a talker is counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TalkerKey {
    Src(IpAddr),
    Dst(IpAddr),
    /// Protocol and destination port.
    Port(u8, u16),
    Proto(u8),
}

impl TalkerKey {
    fn dimension(self) -> &'static str {
        match self {
            TalkerKey::Src(_) => "src",
            TalkerKey::Dst(_) => "dst",
            TalkerKey::Port(..) => "dst_port",
            TalkerKey::Proto(_) => "proto",
        }
    }

    fn text(self) -> String {
        match self {
            TalkerKey::Src(ip) | TalkerKey::Dst(ip) => ip.to_string(),
            TalkerKey::Port(p, port) => format!("{}/{port}", protocol_name(p)),
            TalkerKey::Proto(p) => protocol_name(p),
        }
    }
}

/// Flow aggregation for one tenant.
#[derive(Default)]
pub struct Aggregator {
    pub top_n: usize,
    interfaces: BTreeMap<(IpAddr, u32, &'static str), (u64, u64)>,
    exporters: BTreeMap<IpAddr, (u64, u64, u64)>,
    minute: i64,
    talkers: HashMap<TalkerKey, (u64, u64)>,
    pub destinations: HashMap<IpAddr, DestinationMinute>,
    /// Series of minutes that closed, waiting for the next flush.
    closed: Vec<SeriesSamples>,
    /// The destinations of the last closed minute.
    pub last_minute: Vec<(IpAddr, DestinationMinute)>,
    /// The destinations of the current short window (the DDoS detector's).
    window: HashMap<IpAddr, DestinationMinute>,
    window_start: i64,
}

impl Aggregator {
    pub fn new(top_n: usize) -> Self {
        Aggregator {
            top_n: top_n.max(1),
            ..Default::default()
        }
    }

    /// Adds a record received at `now_ms`.
    pub fn add(&mut self, r: &FlowRecord, now_ms: i64) {
        let minute = now_ms.div_euclid(60_000) * 60_000;
        if minute != self.minute {
            self.close_minute();
            self.minute = minute;
        }
        for (ifindex, dir) in [(r.in_if, "in"), (r.out_if, "out")] {
            if ifindex != 0 {
                let c = self
                    .interfaces
                    .entry((r.exporter, ifindex, dir))
                    .or_default();
                c.0 += r.bytes;
                c.1 += r.packets;
            }
        }
        let e = self.exporters.entry(r.exporter).or_default();
        e.0 += r.bytes;
        e.1 += r.packets;
        e.2 += 1;
        // Keys without text: names are made when a minute closes, not per record.
        for key in [
            TalkerKey::Src(r.src),
            TalkerKey::Dst(r.dst),
            TalkerKey::Port(r.protocol, r.dst_port),
            TalkerKey::Proto(r.protocol),
        ] {
            let t = self.talkers.entry(key).or_default();
            t.0 += r.bytes;
            t.1 += r.packets;
        }
        self.destinations.entry(r.dst).or_default().account(r);
        if self.window_start == 0 {
            self.window_start = now_ms;
        }
        self.window.entry(r.dst).or_default().account(r);
    }

    /// The window's destinations once `window_ms` have passed since it
    /// began (and a new window starts), with its length.
    pub fn take_window(
        &mut self,
        now_ms: i64,
        window_ms: i64,
    ) -> Option<(Vec<(IpAddr, DestinationMinute)>, i64)> {
        if self.window_start == 0 || now_ms - self.window_start < window_ms {
            return None;
        }
        let length = now_ms - self.window_start;
        self.window_start = 0;
        Some((self.window.drain().collect(), length))
    }

    fn close_minute(&mut self) {
        if self.minute == 0 {
            return;
        }
        let end = self.minute + 60_000 - 1;
        let mut by_dim: BTreeMap<&'static str, Vec<(String, u64, u64)>> = BTreeMap::new();
        for (key, (bytes, packets)) in self.talkers.drain() {
            by_dim
                .entry(key.dimension())
                .or_default()
                .push((key.text(), bytes, packets));
        }
        for (dim, mut list) in by_dim {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            for (key, bytes, packets) in list.into_iter().take(self.top_n) {
                for (name, v) in [("flow_top_bytes", bytes), ("flow_top_packets", packets)] {
                    self.closed.push(SeriesSamples {
                        labels: Labels::from_pairs([
                            ("__name__", name),
                            ("dimension", dim),
                            ("key", key.as_str()),
                        ]),
                        samples: vec![(end, v as f64)],
                    });
                }
            }
        }
        let mut dests: Vec<(IpAddr, DestinationMinute)> = self.destinations.drain().collect();
        dests.sort_by_key(|d| std::cmp::Reverse(d.1.bytes));
        for (ip, d) in dests.iter().take(self.top_n) {
            let ip = ip.to_string();
            self.closed.push(SeriesSamples {
                labels: Labels::from_pairs([
                    ("__name__", "flow_destination_sources"),
                    ("dst", ip.as_str()),
                ]),
                samples: vec![(end, d.sources.len() as f64)],
            });
        }
        self.last_minute = dests;
    }

    /// The series to store at `now_ms`: cumulative interface and exporter
    /// counters, and the top talkers of minutes that closed.
    pub fn flush(&mut self, now_ms: i64) -> Vec<SeriesSamples> {
        if now_ms.div_euclid(60_000) * 60_000 != self.minute {
            self.close_minute();
            self.minute = now_ms.div_euclid(60_000) * 60_000;
        }
        let mut out = std::mem::take(&mut self.closed);
        for ((exporter, ifindex, dir), (bytes, packets)) in &self.interfaces {
            let (exporter, ifindex) = (exporter.to_string(), ifindex.to_string());
            for (name, v) in [
                ("flow_interface_bytes_total", bytes),
                ("flow_interface_packets_total", packets),
            ] {
                out.push(SeriesSamples {
                    labels: Labels::from_pairs([
                        ("__name__", name),
                        ("exporter", exporter.as_str()),
                        ("ifIndex", ifindex.as_str()),
                        ("direction", dir),
                    ]),
                    samples: vec![(now_ms, *v as f64)],
                });
            }
        }
        for (exporter, (bytes, packets, records)) in &self.exporters {
            let exporter = exporter.to_string();
            for (name, v) in [
                ("flow_bytes_total", bytes),
                ("flow_packets_total", packets),
                ("flow_records_total", records),
            ] {
                out.push(SeriesSamples {
                    labels: Labels::from_pairs([
                        ("__name__", name),
                        ("exporter", exporter.as_str()),
                    ]),
                    samples: vec![(now_ms, *v as f64)],
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
