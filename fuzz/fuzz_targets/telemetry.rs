//! Telemetry inputs from the network: NetFlow/IPFIX datagrams (twice, so a
//! template learned from the first shapes the second), SNMP traps and
//! informs, remote-write bodies, exposition pages, JSON pushes, and PromQL
//! queries evaluated over a small store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_telemetry::{exposition, flows, push, remote_write, snmp, usm};

/// A store with a few series, opened once.
fn store() -> &'static watchfloor_tsdb::DiskStore {
    static STORE: std::sync::OnceLock<(tempfile::TempDir, watchfloor_tsdb::DiskStore)> =
        std::sync::OnceLock::new();
    &STORE
        .get_or_init(|| {
            use watchfloor_tsdb::MetricStore;
            let dir = tempfile::tempdir().expect("dir");
            let store = watchfloor_tsdb::DiskStore::open(
                dir.path(),
                watchfloor_tsdb::StoreOptions {
                    sync: false,
                    ..Default::default()
                },
            )
            .expect("store");
            let series = |name: &str, job: &str| watchfloor_tsdb::SeriesSamples {
                labels: watchfloor_tsdb::Labels::from_pairs([("__name__", name), ("job", job)]),
                samples: (0..20).map(|i| (i * 15_000, i as f64)).collect(),
            };
            store
                .append(&[series("up", "a"), series("up", "b"), series("m_total", "a")])
                .expect("append");
            (dir, store)
        })
        .1
}

/// The SNMPv3 inform receiver's engine with one authPriv user.
fn inform_engine() -> &'static usm::Engine {
    static ENGINE: std::sync::OnceLock<usm::Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| {
        let id = usm::default_engine_id("fuzz");
        let user = usm::InformUser::new(
            "wf",
            Some((usm::AuthHash::Sha256, b"authpass1")),
            Some(b"privpass1"),
            &id,
        );
        usm::Engine::new(id, 1, vec![user])
    })
}

fuzz_target!(|data: &[u8]| {
    let exporter = std::net::IpAddr::from([192, 0, 2, 1]);
    let mut decoder = flows::Decoder::new();
    let mut out = Vec::new();
    let _ = decoder.decode(exporter, data, 0, &mut out);
    let _ = decoder.decode(exporter, data, 1, &mut out);
    let _ = snmp::decode_trap(data, &["public".to_string()], &mut []);
    let _ = snmp::inform_response(data);
    let _ = inform_engine().handle(data);
    let _ = remote_write::decode(data, 1 << 20);
    let _ = push::parse(data, 0);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = exposition::parse(text, exposition::Format::Text);
        let _ = exposition::parse(text, exposition::Format::OpenMetrics);
        if text.len() < 200 {
            let engine = watchfloor_tsdb::promql::Engine {
                max_samples: 100_000,
                ..Default::default()
            };
            let _ = engine.instant(store(), text, 300_000);
            let _ = engine.range(store(), text, 0, 300_000, 60_000);
        }
    }
});
