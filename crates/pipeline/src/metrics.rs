//! Counters of the detection and storage side, in Prometheus form.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use watchfloor_ingest::RawRecord;
use watchfloor_model::Alert;
use watchfloor_sigma::RuleSet;

type Labels = Vec<(String, String)>;

pub struct PipelineMetrics {
    pub events: Counter,
    pub decode_issues: Family<Labels, Counter>,
    /// Events read by a parser, by parser and outcome (parsed, unmatched).
    pub parsed: Family<Labels, Counter>,
    pub alerts: Family<Labels, Counter>,
    /// Receive time to alert stored.
    pub alert_latency_seconds: Histogram,
    /// Rule evaluation time per event (mean over a batch).
    pub rule_eval_seconds: Histogram,
    pub batch_seconds: Histogram,
    pub commit_seconds: Histogram,
    /// Last LSN both detection and indexing have checkpointed.
    pub checkpoint: Gauge,
    /// Last LSN detection has processed.
    pub detected: Gauge,
    pub correlation_groups: Gauge,
    pub correlation_evicted: Gauge,
    pub rules_loaded: Gauge,
    pub rules_rejected: Gauge,
    pub wal_corrupt: Counter,
    pub retention_dropped: Counter,
    pub store_bytes: Gauge,
    pub store_events: Gauge,
    pub store_buckets: Gauge,
    /// Values of events an indicator held, by outcome (hit; warned: a
    /// warninglist vouched for the value, no alert).
    pub intel_matches: Family<Labels, Counter>,
    /// Indicators held for matching, all scopes.
    pub intel_indicators: Gauge,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        PipelineMetrics {
            events: Counter::default(),
            decode_issues: Family::default(),
            parsed: Family::default(),
            alerts: Family::default(),
            alert_latency_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            rule_eval_seconds: Histogram::new(exponential_buckets(1e-7, 2.0, 20)),
            batch_seconds: Histogram::new(exponential_buckets(1e-4, 2.0, 18)),
            commit_seconds: Histogram::new(exponential_buckets(1e-3, 2.0, 14)),
            checkpoint: Gauge::default(),
            detected: Gauge::default(),
            correlation_groups: Gauge::default(),
            correlation_evicted: Gauge::default(),
            rules_loaded: Gauge::default(),
            rules_rejected: Gauge::default(),
            wal_corrupt: Counter::default(),
            retention_dropped: Counter::default(),
            store_bytes: Gauge::default(),
            store_events: Gauge::default(),
            store_buckets: Gauge::default(),
            intel_matches: Family::default(),
            intel_indicators: Gauge::default(),
        }
    }
}

/// Which parser read how many events of a batch, and whether a pattern
/// matched: counted per event without allocating, added to the counters
/// once a batch.
#[derive(Default)]
pub struct ParseTally(Vec<(String, &'static str, u64)>);

impl ParseTally {
    pub fn add(&mut self, event: &watchfloor_model::Event) {
        use watchfloor_model::Value;
        let (Some(Value::Str(parser)), Some(Value::Str(outcome))) =
            (event.get("parser.name"), event.get("parser.outcome"))
        else {
            return;
        };
        let outcome = if &**outcome == "parsed" {
            "parsed"
        } else {
            "unmatched"
        };
        match self
            .0
            .iter_mut()
            .find(|(p, o, _)| **p == **parser && *o == outcome)
        {
            Some(entry) => entry.2 += 1,
            None => self.0.push((parser.to_string(), outcome, 1)),
        }
    }
}

impl PipelineMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "watchfloor_pipeline_events",
            "Events checked by detection",
            self.events.clone(),
        );
        r.register(
            "watchfloor_pipeline_parsed",
            "Syslog events read by a parser, by parser and outcome (parsed; unmatched: kept whole)",
            self.parsed.clone(),
        );
        r.register(
            "watchfloor_pipeline_decode_issues",
            "Records that did not decode as their format (kept as bare messages), by source and kind",
            self.decode_issues.clone(),
        );
        r.register(
            "watchfloor_intel_matches",
            "Event values an indicator held, by outcome (hit: alert raised; warned: on a warninglist)",
            self.intel_matches.clone(),
        );
        r.register(
            "watchfloor_intel_indicators",
            "Indicators held for live matching, all scopes",
            self.intel_indicators.clone(),
        );
        r.register(
            "watchfloor_alerts",
            "Alerts stored, by level",
            self.alerts.clone(),
        );
        r.register(
            "watchfloor_alert_latency_seconds",
            "Time from receiving an event to storing the alert it raised",
            self.alert_latency_seconds.clone(),
        );
        r.register(
            "watchfloor_rule_evaluation_seconds",
            "Rule evaluation time per event (batch mean)",
            self.rule_eval_seconds.clone(),
        );
        r.register(
            "watchfloor_pipeline_batch_seconds",
            "Time to process one batch from the log",
            self.batch_seconds.clone(),
        );
        r.register(
            "watchfloor_store_commit_seconds",
            "Time to commit events and write the checkpoint",
            self.commit_seconds.clone(),
        );
        r.register(
            "watchfloor_pipeline_checkpoint_lsn",
            "Last log sequence number that is both searchable and checked by detection, with both checkpoints written",
            self.checkpoint.clone(),
        );
        r.register(
            "watchfloor_pipeline_detected_lsn",
            "Last log sequence number checked by detection (alerts stored)",
            self.detected.clone(),
        );
        r.register(
            "watchfloor_correlation_groups",
            "Correlation groups held",
            self.correlation_groups.clone(),
        );
        r.register(
            "watchfloor_correlation_evicted",
            "Correlation groups and entries evicted at the state limits",
            self.correlation_evicted.clone(),
        );
        r.register(
            "watchfloor_rules_loaded",
            "Detection rules and correlations loaded",
            self.rules_loaded.clone(),
        );
        r.register(
            "watchfloor_rules_rejected",
            "Rules rejected at the last load",
            self.rules_rejected.clone(),
        );
        r.register(
            "watchfloor_wal_corrupt",
            "Corrupt log segments skipped",
            self.wal_corrupt.clone(),
        );
        r.register(
            "watchfloor_retention_dropped_buckets",
            "Event buckets dropped by retention",
            self.retention_dropped.clone(),
        );
        r.register(
            "watchfloor_store_bytes",
            "Size of the event store on disk",
            self.store_bytes.clone(),
        );
        r.register(
            "watchfloor_store_events",
            "Events in the store",
            self.store_events.clone(),
        );
        r.register(
            "watchfloor_store_buckets",
            "Time buckets in the event store",
            self.store_buckets.clone(),
        );
    }

    /// Adds a batch's parse outcomes to the counters.
    pub fn count_parsed(&self, tally: &ParseTally) {
        for (parser, outcome, n) in &tally.0 {
            self.parsed
                .get_or_create(&vec![
                    ("parser".into(), parser.clone()),
                    ("outcome".into(), outcome.to_string()),
                ])
                .inc_by(*n);
        }
    }

    pub fn decode_issue(&self, source: &str, kind: &str) {
        self.decode_issues
            .get_or_create(&vec![
                ("source".into(), source.into()),
                ("kind".into(), kind.into()),
            ])
            .inc();
    }

    pub fn set_rules(&self, rules: &RuleSet) {
        let r = rules.report();
        self.rules_loaded
            .set((r.rules_loaded + r.correlations_loaded) as i64);
        self.rules_rejected.set(r.rejected.len() as i64);
    }

    /// Counts stored alerts and their latency from the receive time of the
    /// triggering event.
    pub fn count_intel(&self, tally: watchfloor_intel::live::MatchTally) {
        for (outcome, n) in [("hit", tally.hits), ("warned", tally.warned)] {
            if n > 0 {
                self.intel_matches
                    .get_or_create(&vec![("outcome".into(), outcome.into())])
                    .inc_by(n);
            }
        }
    }

    pub fn count_alerts(&self, stored: &[Alert], batch: &[(u64, RawRecord)]) {
        let now = watchfloor_model::now_ns();
        for a in stored {
            self.alerts
                .get_or_create(&vec![("level".into(), a.level.as_str().into())])
                .inc();
            let received = a
                .event_ids
                .first()
                .and_then(|id| batch.binary_search_by_key(id, |(lsn, _)| *lsn).ok())
                .map(|i| batch[i].1.received_ns);
            if let Some(r) = received {
                self.alert_latency_seconds
                    .observe((now - r).max(0) as f64 / 1e9);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_model::{Event, SourceRef, Value};

    fn parsed_by(parser: &str, outcome: &str) -> Event {
        let mut e = Event::new(SourceRef::default());
        e.push("parser.name", Value::Str(parser.into()));
        e.push("parser.outcome", Value::Str(outcome.into()));
        e
    }

    #[test]
    fn a_batch_of_parse_outcomes_is_counted_by_parser_and_outcome() {
        let mut tally = ParseTally::default();
        for e in [
            parsed_by("sshd", "parsed"),
            parsed_by("sshd", "parsed"),
            parsed_by("sshd", "unmatched"),
            parsed_by("sudo", "parsed"),
            Event::new(SourceRef::default()),
        ] {
            tally.add(&e);
        }
        let m = PipelineMetrics::default();
        m.count_parsed(&tally);
        m.count_parsed(&tally);
        let count = |parser: &str, outcome: &str| {
            m.parsed
                .get_or_create(&vec![
                    ("parser".into(), parser.into()),
                    ("outcome".into(), outcome.into()),
                ])
                .get()
        };
        assert_eq!(count("sshd", "parsed"), 4);
        assert_eq!(count("sshd", "unmatched"), 2);
        assert_eq!(count("sudo", "parsed"), 2);
    }
}
