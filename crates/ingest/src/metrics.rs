//! Counters of the ingest side, in Prometheus form.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label sets are small vectors of (name, value).
pub type Labels = Vec<(String, String)>;

/// What the sources did: every message is counted as received, and every
/// one not passed on is counted with its reason.
#[derive(Default)]
pub struct IngestMetrics {
    pub received: Family<Labels, Counter>,
    pub bytes: Family<Labels, Counter>,
    pub dropped: Family<Labels, Counter>,
    pub truncated: Family<Labels, Counter>,
    pub rejected: Family<Labels, Counter>,
    pub connections: Family<Labels, Gauge>,
}

pub fn source(name: &str) -> Labels {
    vec![("source".into(), name.into())]
}

pub fn source_reason(name: &str, reason: &str) -> Labels {
    vec![
        ("source".into(), name.into()),
        ("reason".into(), reason.into()),
    ]
}

impl IngestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "watchfloor_ingest_messages",
            "Messages received, by source",
            self.received.clone(),
        );
        registry.register(
            "watchfloor_ingest_bytes",
            "Bytes of messages received, by source",
            self.bytes.clone(),
        );
        registry.register(
            "watchfloor_ingest_dropped",
            "Messages not stored, by source and reason",
            self.dropped.clone(),
        );
        registry.register(
            "watchfloor_ingest_truncated",
            "Messages cut at the size limit (stored, flagged)",
            self.truncated.clone(),
        );
        registry.register(
            "watchfloor_ingest_rejected",
            "Connections, requests or frames refused, by source and reason",
            self.rejected.clone(),
        );
        registry.register(
            "watchfloor_ingest_connections",
            "Open connections, by source",
            self.connections.clone(),
        );
    }

    /// Counts a batch handed to the log.
    pub fn count_batch(&self, source_name: &str, messages: u64, bytes: u64, truncated: u64) {
        let labels = source(source_name);
        self.received.get_or_create(&labels).inc_by(messages);
        self.bytes.get_or_create(&labels).inc_by(bytes);
        if truncated > 0 {
            self.truncated.get_or_create(&labels).inc_by(truncated);
        }
    }

    pub fn drop_messages(&self, source_name: &str, reason: &str, n: u64) {
        self.dropped
            .get_or_create(&source_reason(source_name, reason))
            .inc_by(n);
    }

    pub fn reject(&self, source_name: &str, reason: &str) {
        self.rejected
            .get_or_create(&source_reason(source_name, reason))
            .inc();
    }
}
