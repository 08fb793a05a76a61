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

/// The metric store's figures.
#[derive(Default, Clone)]
pub struct TsdbMetrics {
    appended: prometheus_client::metrics::counter::Counter,
    rejected: prometheus_client::metrics::counter::Counter,
    series: Gauge,
    samples: Gauge,
    chunk_bytes: Gauge,
    disk_bytes: Gauge,
}

impl TsdbMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "watchfloor_metric_samples_appended",
            "Metric samples stored (remote write, push, scrapes)",
            self.appended.clone(),
        );
        r.register(
            "watchfloor_metric_samples_rejected",
            "Metric samples refused (out of order, duplicate, too old, invalid labels)",
            self.rejected.clone(),
        );
        r.register(
            "watchfloor_metric_series",
            "Series in the metric stores",
            self.series.clone(),
        );
        r.register(
            "watchfloor_metric_store_samples",
            "Samples in the metric stores",
            self.samples.clone(),
        );
        r.register(
            "watchfloor_metric_chunk_bytes",
            "Bytes of compressed chunks in the metric stores",
            self.chunk_bytes.clone(),
        );
        r.register(
            "watchfloor_metric_disk_bytes",
            "Bytes of the metric stores on disk",
            self.disk_bytes.clone(),
        );
    }

    pub fn appended(&self, appended: u64, rejected: u64) {
        self.appended.inc_by(appended);
        self.rejected.inc_by(rejected);
    }

    /// Sums every tenant's store.
    pub fn update(&self, stores: &watchfloor_telemetry::Stores) {
        use watchfloor_tsdb::MetricStore;
        let (mut series, mut samples, mut chunk, mut disk) = (0, 0, 0, 0);
        for (_, store) in stores.tenants() {
            let s = store.stats();
            series += s.series;
            samples += s.samples;
            chunk += s.chunk_bytes;
            disk += s.disk_bytes;
        }
        self.series.set(series as i64);
        self.samples.set(samples as i64);
        self.chunk_bytes.set(chunk as i64);
        self.disk_bytes.set(disk as i64);
    }
}
