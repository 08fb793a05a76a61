//! Gauges read at scrape time from the parts that own the numbers.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use watchfloor_ingest::{Appender, Wal};

#[derive(Default)]
pub struct LiveGauges {
    backlog: Gauge,
    queued: Gauge,
    wal_bytes: Gauge,
    wal_durable: Gauge,
    wal_syncs: Gauge,
}

impl LiveGauges {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "watchfloor_wal_backlog",
            "Events in the log not yet processed",
            self.backlog.clone(),
        );
        r.register(
            "watchfloor_wal_queue_batches",
            "Batches waiting for the log writer",
            self.queued.clone(),
        );
        r.register(
            "watchfloor_wal_disk_bytes",
            "Size of the write-ahead log on disk",
            self.wal_bytes.clone(),
        );
        r.register(
            "watchfloor_wal_durable_lsn",
            "Last log sequence number on disk",
            self.wal_durable.clone(),
        );
        r.register(
            "watchfloor_wal_syncs",
            "Group commits (fdatasync calls) since start",
            self.wal_syncs.clone(),
        );
    }

    pub fn update(&self, wal: &Wal, appender: &Appender) {
        self.backlog.set(wal.backlog() as i64);
        self.queued.set(appender.queued() as i64);
        self.wal_bytes.set(wal.disk_bytes() as i64);
        self.wal_durable.set(wal.durable() as i64);
        self.wal_syncs.set(wal.syncs() as i64);
    }
}
