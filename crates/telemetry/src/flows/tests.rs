use super::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use watchfloor_model::{Domain, Severity};

const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

fn u16b(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn u32b(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn v5(sampling: u16, records: &[([u8; 4], [u8; 4], u32, u32)]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u16b(5));
    d.extend(u16b(records.len() as u16));
    d.extend(u32b(10_000)); // uptime ms
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(0));
    d.extend(u32b(1)); // sequence
    d.extend([0, 0]);
    d.extend(u16b(0x4000 | sampling));
    for (src, dst, packets, bytes) in records {
        d.extend(src);
        d.extend(dst);
        d.extend([0, 0, 0, 0]);
        d.extend(u16b(1));
        d.extend(u16b(2));
        d.extend(u32b(*packets));
        d.extend(u32b(*bytes));
        d.extend(u32b(9_000));
        d.extend(u32b(9_500));
        d.extend(u16b(40000));
        d.extend(u16b(443));
        d.extend([0, 0x12, 6, 0]);
        d.extend([0; 8]);
    }
    d
}

#[test]
fn v5_records_with_header_sampling() {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    dec.decode(
        EXPORTER,
        &v5(10, &[([10, 0, 0, 1], [10, 0, 0, 2], 3, 300)]),
        0,
        &mut out,
    )
    .expect("v5");
    let r = &out[0];
    assert_eq!(
        (r.packets, r.bytes, r.sampling, r.protocol, r.dst_port, r.in_if),
        (30, 3000, 10, 6, 443, 1)
    );
    assert_eq!(r.start_ms, 1_700_000_000_000 - 1000);
    let truncated = &v5(1, &[([1; 4], [2; 4], 1, 1)])[..50];
    assert!(dec.decode(EXPORTER, truncated, 0, &mut out).is_err());
    assert_eq!(dec.stats.malformed, 1);
}

/// A v9 datagram with the given flowsets.
fn v9(domain: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend(u16b(9));
    d.extend(u16b(sets.len() as u16));
    d.extend(u32b(60_000));
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(7));
    d.extend(u32b(domain));
    for (id, body) in sets {
        d.extend(u16b(*id));
        d.extend(u16b(body.len() as u16 + 4));
        d.extend(body);
    }
    d
}

/// Template 256: src(8,4) dst(12,4) bytes(1,4) packets(2,4) proto(4,1) sampler(48,1)
fn v9_template() -> Vec<u8> {
    let mut t = Vec::new();
    t.extend(u16b(256));
    t.extend(u16b(6));
    for (id, len) in [(8u16, 4u16), (12, 4), (1, 4), (2, 4), (4, 1), (48, 1)] {
        t.extend(u16b(id));
        t.extend(u16b(len));
    }
    t
}

fn v9_data(records: &[(u8, u32, u32, u8)]) -> Vec<u8> {
    let mut d = Vec::new();
    for (last_octet, bytes, packets, sampler) in records {
        d.extend([10, 0, 0, *last_octet]);
        d.extend([10, 9, 9, 9]);
        d.extend(u32b(*bytes));
        d.extend(u32b(*packets));
        d.push(17);
        d.push(*sampler);
    }
    d
}

#[test]
fn v9_data_before_its_template_is_held_then_decoded_and_sampling_applies() {
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    dec.decode(
        EXPORTER,
        &v9(1, &[(256, v9_data(&[(1, 100, 1, 0)]))]),
        1_000,
        &mut out,
    )
    .expect("data first");
    assert!(out.is_empty());
    assert_eq!(dec.stats.held, 1);
    dec.decode(EXPORTER, &v9(1, &[(0, v9_template())]), 2_000, &mut out)
        .expect("template");
    assert_eq!(out.len(), 1, "the held record comes out with its template");
    assert_eq!(
        (out[0].src, out[0].bytes),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 100)
    );
    // Another observation domain has its own templates.
    out.clear();
    dec.decode(
        EXPORTER,
        &v9(2, &[(256, v9_data(&[(2, 5, 1, 0)]))]),
        3_000,
        &mut out,
    )
    .expect("other domain");
    assert!(out.is_empty());
    // An options template (scope: system) announcing sampler 3 at 1:100.
    let mut opt_t = Vec::new();
    opt_t.extend(u16b(257));
    opt_t.extend(u16b(4)); // scope length
    opt_t.extend(u16b(8)); // options length
    opt_t.extend(u16b(1)); // scope: system
    opt_t.extend(u16b(4));
    opt_t.extend(u16b(48)); // sampler id
    opt_t.extend(u16b(1));
    opt_t.extend(u16b(50)); // random interval
    opt_t.extend(u16b(4));
    opt_t.extend([0, 0]); // padding
    let mut opt_d = Vec::new();
    opt_d.extend(u32b(0));
    opt_d.push(3);
    opt_d.extend(u32b(100));
    dec.decode(
        EXPORTER,
        &v9(1, &[(1, opt_t), (257, opt_d)]),
        4_000,
        &mut out,
    )
    .expect("options");
    out.clear();
    dec.decode(
        EXPORTER,
        &v9(1, &[(256, v9_data(&[(3, 10, 2, 3), (4, 10, 2, 9)]))]),
        5_000,
        &mut out,
    )
    .expect("sampled data");
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].sampling),
        (1000, 200, 100),
        "sampler 3 is 1:100"
    );
    assert_eq!(out[1].sampling, 1, "an unknown sampler is unsampled");
    // Held data expires after a minute, counted.
    dec.decode(EXPORTER, &v9(1, &[(300, vec![0; 8])]), 6_000, &mut out)
        .expect("held");
    dec.decode(EXPORTER, &v9(1, &[]), 70_000, &mut out)
        .expect("later");
    assert!(dec.stats.dropped_sets >= 1, "{:?}", dec.stats);
}

#[test]
fn ipfix_variable_length_and_enterprise_fields() {
    let mut d = Vec::new();
    let mut template = Vec::new();
    template.extend(u16b(300));
    template.extend(u16b(4));
    for (id, len) in [(8u16, 4u16), (82, 65535), (0x8000 | 100, 2), (1, 8)] {
        template.extend(u16b(id));
        template.extend(u16b(len));
        if id & 0x8000 != 0 {
            template.extend(u32b(29305)); // enterprise number
        }
    }
    let mut data = Vec::new();
    data.extend([192, 168, 1, 1]);
    data.push(4);
    data.extend(b"eth0");
    data.extend(u16b(7));
    data.extend(1234u64.to_be_bytes());
    let sets = [(2u16, template), (300u16, data)];
    let len: usize = 16 + sets.iter().map(|(_, b)| b.len() + 4).sum::<usize>();
    d.extend(u16b(10));
    d.extend(u16b(len as u16));
    d.extend(u32b(1_700_000_000));
    d.extend(u32b(1));
    d.extend(u32b(42));
    for (id, body) in &sets {
        d.extend(u16b(*id));
        d.extend(u16b(body.len() as u16 + 4));
        d.extend(body);
    }
    let mut dec = Decoder::new();
    let mut out = Vec::new();
    dec.decode(EXPORTER, &d, 0, &mut out).expect("ipfix");
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].src, out[0].bytes, out[0].version),
        (IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)), 1234, 10)
    );
}

#[test]
fn aggregates_interfaces_and_top_talkers_per_minute() {
    let mut agg = Aggregator::new(2);
    let rec = |src: u8, dst: u8, bytes: u64| FlowRecord {
        exporter: EXPORTER,
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, src)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, dst)),
        src_port: 1000,
        dst_port: 53,
        protocol: 17,
        tcp_flags: 0,
        bytes,
        packets: 1,
        in_if: 3,
        out_if: 4,
        start_ms: 0,
        end_ms: 0,
        sampling: 1,
        version: 9,
    };
    for (s, d, b) in [(1, 1, 100), (2, 1, 200), (3, 1, 300), (1, 2, 50)] {
        agg.add(&rec(s, d, b), 60_000);
    }
    let first = agg.flush(61_000);
    let bytes = |series: &[SeriesSamples], name: &str, pairs: &[(&str, &str)]| {
        series
            .iter()
            .find(|s| {
                s.labels.metric_name() == Some(name)
                    && pairs.iter().all(|(k, v)| s.labels.value(k) == *v)
            })
            .map(|s| s.samples[0].1)
    };
    assert_eq!(
        bytes(
            &first,
            "flow_interface_bytes_total",
            &[("ifIndex", "3"), ("direction", "in")]
        ),
        Some(650.0)
    );
    assert_eq!(
        bytes(&first, "flow_top_bytes", &[]),
        None,
        "the minute is still open"
    );
    let second = agg.flush(120_000);
    assert_eq!(
        bytes(
            &second,
            "flow_top_bytes",
            &[("dimension", "src"), ("key", "10.0.0.3")]
        ),
        Some(300.0)
    );
    assert_eq!(
        bytes(
            &second,
            "flow_top_bytes",
            &[("dimension", "src"), ("key", "10.0.0.2")]
        ),
        Some(200.0)
    );
    assert_eq!(
        bytes(
            &second,
            "flow_top_bytes",
            &[("dimension", "src"), ("key", "10.0.0.1")]
        ),
        None,
        "top 2 only (150 bytes is third)"
    );
    assert_eq!(
        bytes(
            &second,
            "flow_top_bytes",
            &[("dimension", "dst_port"), ("key", "udp/53")]
        ),
        Some(650.0)
    );
    assert_eq!(
        bytes(&second, "flow_destination_sources", &[("dst", "10.0.1.1")]),
        Some(3.0)
    );
    assert_eq!(agg.last_minute[0].0, IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)));
}

proptest! {
    #[test]
    fn arbitrary_datagrams_never_panic(version in prop::sample::select(vec![5u16, 9, 10, 7]), rest in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut d = version.to_be_bytes().to_vec();
        d.extend(rest);
        let mut dec = Decoder::new();
        let mut out = Vec::new();
        let _ = dec.decode(EXPORTER, &d, 0, &mut out);
        let _ = dec.decode(EXPORTER, &d, 1, &mut out);
    }
}

#[test]
fn ddos_needs_overload_and_a_signature_and_raises_once_per_attack() {
    use super::ddos::{DdosConfig, DdosDetector};
    let config = DdosConfig {
        min_pps: 1000,
        min_sources: 20,
        ..DdosConfig::default()
    };
    let mut det = DdosDetector::new(config);
    let victim = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1));
    let flood = |sources: u32, packets_each: u64, protocol: u8, flags: u8| {
        let mut agg = Aggregator::new(5);
        for s in 0..sources {
            agg.add(
                &FlowRecord {
                    exporter: EXPORTER,
                    src: IpAddr::V4(Ipv4Addr::from(0x0a0a_0000 + s)),
                    dst: victim,
                    src_port: 1024,
                    dst_port: 80,
                    protocol,
                    tcp_flags: flags,
                    bytes: packets_each * 60,
                    packets: packets_each,
                    in_if: 1,
                    out_if: 2,
                    start_ms: 0,
                    end_ms: 0,
                    sampling: 1,
                    version: 9,
                },
                1_000,
            );
        }
        agg.take_window(11_000, 10_000).expect("window").0
    };
    // 100 SYN-only sources x 200 packets in 10 s: 2,000 pps.
    let attacks = det.evaluate(&flood(100, 200, 6, 0x02), 10_000, false, 11_000);
    assert_eq!(attacks.len(), 1);
    assert!(
        attacks[0].signature.starts_with("TCP SYN flood"),
        "{}",
        attacks[0].signature
    );
    let alert = attacks[0].alert("acme", 11_000);
    assert_eq!(
        (alert.host.as_deref(), alert.domain, alert.level),
        (Some("10.0.1.1"), Domain::Both, Severity::Critical)
    );
    assert_eq!(alert.ips.len(), 20, "the top attackers, not the victim");
    assert!(!alert.ips.contains(&"10.0.1.1".to_string()));
    // The victim's traffic as series of the window, for the incident's chart.
    let rates = super::ddos::destination_rates(&flood(100, 200, 6, 0x02), 10_000, 11_000, 5);
    let packets = rates
        .iter()
        .find(|s| s.labels.get("__name__") == Some("flow_destination_packets_per_second"))
        .expect("packets per second");
    assert_eq!(packets.labels.get("dst"), Some("10.0.1.1"));
    assert_eq!(packets.samples, vec![(11_000, 2_000.0)]);
    assert!(alert.fields["chart.query"]
        .as_str()
        .is_some_and(|q| q.contains("flow_destination_bits_per_second{dst=\"10.0.1.1\"}")));
    // The same attack a window later: no second alert.
    assert!(det
        .evaluate(&flood(100, 200, 6, 0x02), 10_000, false, 21_000)
        .is_empty());
    // Heavy but legitimate: 2 sources, TCP with ACKs: no signature.
    let mut quiet = DdosDetector::new(DdosConfig {
        min_pps: 1000,
        min_sources: 20,
        ..DdosConfig::default()
    });
    assert!(quiet
        .evaluate(&flood(2, 10_000, 6, 0x18), 10_000, false, 11_000)
        .is_empty());
    // Below the rate: nothing, however many sources.
    assert!(quiet
        .evaluate(&flood(100, 1, 17, 0), 10_000, false, 11_000)
        .is_empty());
}
