//! Log records of the synthetic syslog of `watchfloor loadgen`, shared by
//! the pipeline benchmark and the `store_cpu` example.

use watchfloor_ingest::{Kind, RawRecord};
use watchfloor_testkit::synthetic::{syslog_line, Rng};

/// The record at position `i` of the stream (every 1000th a sudo root
/// shell when `alerts`), as received over TCP.
pub fn record(rng: &mut Rng, i: usize, alerts: bool) -> RawRecord {
    RawRecord {
        received_ns: 1_700_000_000_000_000_000 + i as i64 * 10_000,
        kind: Kind::Syslog,
        source: "syslog-tcp".into(),
        tenant: "default".into(),
        peer: "127.0.0.1".into(),
        truncated: false,
        body: syslog_line(
            rng,
            200,
            alerts && i % 1000 == 999,
            "2023-11-14T22:13:20.000001Z",
        )
        .into_bytes(),
    }
}
