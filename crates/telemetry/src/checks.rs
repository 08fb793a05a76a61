//! Availability check results in the metric store: every result is a
//! sample of six series of `job="checks"` and the check's name, which
//! PromQL, rules and charts read like any metric, and which the checks'
//! pages, their results API and the availability report read back as
//! results. The one part a float cannot hold, the output text of a
//! problem result, stays with the check states in the state store.
//!
//! | series | value |
//! |---|---|
//! | `check_up` | 1 when OK, else 0 |
//! | `check_status` | 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN |
//! | `check_hard` | 1 when the status is confirmed (hard) |
//! | `check_maintenance` | 1 inside a maintenance window |
//! | `check_latency_seconds` | when the check measured it |
//! | `check_certificate_days` | TLS checks: days left on the certificate |

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use watchfloor_model::CheckSample;
use watchfloor_tsdb::{Labels, MatchOp, Matcher, MetricStore, SeriesSamples, StoreError};

/// The `job` label of check results.
pub const JOB: &str = "checks";

const UP: &str = "check_up";
const STATUS: &str = "check_status";
const HARD: &str = "check_hard";
const MAINTENANCE: &str = "check_maintenance";
const LATENCY: &str = "check_latency_seconds";
const CERTIFICATE: &str = "check_certificate_days";

/// Results as series, per tenant.
pub fn to_series(samples: &[CheckSample]) -> HashMap<String, Vec<SeriesSamples>> {
    let mut out: HashMap<String, Vec<SeriesSamples>> = HashMap::new();
    for s in samples {
        let t = s.time_ns.div_euclid(1_000_000);
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let mut values = vec![
            (UP, flag(s.status == 0)),
            (STATUS, f64::from(s.status)),
            (HARD, flag(s.hard)),
            (MAINTENANCE, flag(s.maintenance)),
        ];
        if let Some(ms) = s.latency_ms {
            values.push((LATENCY, ms / 1000.0));
        }
        if let Some(days) = s.cert_days_left {
            values.push((CERTIFICATE, days as f64));
        }
        let series = out.entry(s.tenant.clone()).or_default();
        for (name, v) in values {
            series.push(SeriesSamples {
                labels: Labels::from_pairs([
                    ("__name__", name),
                    ("job", JOB),
                    ("check", s.check.as_str()),
                ]),
                samples: vec![(t, v)],
            });
        }
    }
    out
}

/// A check's results in `[from_ns, to_ns)`, oldest first, at most `limit`
/// (without their output text: see [`with_outputs`]).
pub fn read(
    store: &dyn MetricStore,
    tenant: &str,
    check: &str,
    from_ns: i64,
    to_ns: i64,
    limit: usize,
) -> Result<Vec<CheckSample>, StoreError> {
    let matchers = [
        Matcher::new(MatchOp::Equal, "job", JOB),
        Matcher::new(MatchOp::Equal, "check", check),
    ];
    let (from_ms, to_ms) = (from_ns.div_euclid(1_000_000), to_ns.div_euclid(1_000_000));
    // `select`'s range is inclusive; results are kept to `[from, to)`.
    let found = store.select(&matchers, from_ms, to_ms.saturating_sub(1))?;
    let mut by_time: BTreeMap<i64, CheckSample> = BTreeMap::new();
    for series in found {
        let name = series
            .labels
            .get("__name__")
            .unwrap_or_default()
            .to_string();
        if name == UP {
            continue; // status says it
        }
        for &(t, v) in &series.samples {
            if v.is_nan() || t < from_ms || t >= to_ms {
                continue; // a staleness marker, or outside
            }
            let s = by_time.entry(t).or_insert_with(|| CheckSample {
                tenant: tenant.to_string(),
                check: check.to_string(),
                time_ns: t * 1_000_000,
                status: 3,
                hard: false,
                latency_ms: None,
                cert_days_left: None,
                maintenance: false,
                output: None,
            });
            match name.as_str() {
                STATUS => s.status = v.clamp(0.0, 3.0) as u8,
                HARD => s.hard = v != 0.0,
                MAINTENANCE => s.maintenance = v != 0.0,
                LATENCY => s.latency_ms = Some(v * 1000.0),
                CERTIFICATE => s.cert_days_left = Some(v as i64),
                _ => {}
            }
        }
    }
    Ok(by_time.into_values().take(limit).collect())
}

/// Puts the stored output texts (time in ns, text) on the results of the
/// same millisecond.
pub fn with_outputs(mut results: Vec<CheckSample>, outputs: &[(i64, String)]) -> Vec<CheckSample> {
    let texts: HashMap<i64, &String> = outputs
        .iter()
        .map(|(t, text)| (t.div_euclid(1_000_000), text))
        .collect();
    for r in &mut results {
        r.output = texts.get(&(r.time_ns / 1_000_000)).map(|t| t.to_string());
    }
    results
}

/// An hour of a check's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckHour {
    pub hour_ns: i64,
    pub samples: u64,
    /// Results with status OK.
    pub up: u64,
    pub latency_min_ms: Option<f64>,
    pub latency_avg_ms: Option<f64>,
    pub latency_max_ms: Option<f64>,
    pub worst_status: u8,
}

/// Results (oldest first) summed up by hour.
pub fn hourly(results: &[CheckSample]) -> Vec<CheckHour> {
    const HOUR_NS: i64 = 3_600_000_000_000;
    let mut hours: Vec<CheckHour> = Vec::new();
    let mut latency_sum = Vec::new();
    for r in results {
        let hour_ns = r.time_ns.div_euclid(HOUR_NS) * HOUR_NS;
        if hours.last().is_none_or(|h| h.hour_ns != hour_ns) {
            hours.push(CheckHour {
                hour_ns,
                samples: 0,
                up: 0,
                latency_min_ms: None,
                latency_avg_ms: None,
                latency_max_ms: None,
                worst_status: 0,
            });
            latency_sum.push((0.0, 0u64));
        }
        let (h, sum) = (
            hours.last_mut().expect("pushed"),
            latency_sum.last_mut().expect("pushed"),
        );
        h.samples += 1;
        h.up += u64::from(r.status == 0);
        h.worst_status = h.worst_status.max(r.status);
        if let Some(ms) = r.latency_ms {
            h.latency_min_ms = Some(h.latency_min_ms.map_or(ms, |m| m.min(ms)));
            h.latency_max_ms = Some(h.latency_max_ms.map_or(ms, |m| m.max(ms)));
            *sum = (sum.0 + ms, sum.1 + 1);
            h.latency_avg_ms = Some(sum.0 / sum.1 as f64);
        }
    }
    hours
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(check: &str, second: i64, status: u8, latency: Option<f64>) -> CheckSample {
        CheckSample {
            tenant: "acme".into(),
            check: check.into(),
            time_ns: 7_200_000_000_000 + second * 1_000_000_000,
            status,
            hard: status != 0,
            latency_ms: latency,
            cert_days_left: (check == "tls").then_some(30),
            maintenance: second == 20,
            output: (status != 0).then(|| "refused".into()),
        }
    }

    #[test]
    fn results_go_in_as_series_and_come_back_whole() {
        let dir = tempfile::tempdir().expect("dir");
        let store =
            watchfloor_tsdb::DiskStore::open(dir.path(), Default::default()).expect("store");
        let results = vec![
            result("web", 0, 0, Some(12.5)),
            result("web", 10, 2, None),
            result("web", 20, 0, Some(30.0)),
            result("tls", 5, 1, Some(3.0)),
            result("web", 3_700, 0, Some(10.0)),
        ];
        let series = to_series(&results);
        store.append(&series["acme"]).expect("append");
        let from = 7_200_000_000_000;
        let back = read(&store, "acme", "web", from, from + 7_200_000_000_000, 100).expect("read");
        let outputs = vec![(results[1].time_ns, "refused".to_string())];
        let back = with_outputs(back, &outputs);
        let web: Vec<CheckSample> = results
            .iter()
            .filter(|r| r.check == "web")
            .cloned()
            .collect();
        assert_eq!(back, web);
        let tls = read(&store, "acme", "tls", from, from + 60_000_000_000, 100).expect("tls");
        assert_eq!((tls[0].status, tls[0].cert_days_left), (1, Some(30)));
        // The range is half-open, the limit counts results.
        let first = read(&store, "acme", "web", from, results[2].time_ns, 1).expect("first");
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].time_ns, results[0].time_ns);
        let hours = hourly(&back);
        assert_eq!(hours.len(), 2);
        assert_eq!(
            (hours[0].samples, hours[0].up, hours[0].worst_status),
            (3, 2, 2)
        );
        assert_eq!(
            (
                hours[0].latency_min_ms,
                hours[0].latency_avg_ms,
                hours[0].latency_max_ms
            ),
            (Some(12.5), Some(21.25), Some(30.0))
        );
        assert_eq!(hours[1].samples, 1);
    }
}
