//! Availability over a period from a check's results: each result's
//! state holds until the next one. Time is *down* while a CRITICAL state
//! is hard, *unknown* while an UNKNOWN one is, *maintenance* inside a
//! maintenance window, *no data* before the first result; the rest is up
//! (soft problems were not confirmed). Uptime is up / (up + down), so
//! maintenance, unknown and missing time count neither way.

use serde::{Deserialize, Serialize};

use crate::Status;

/// One result as availability sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub time_ns: i64,
    pub status: Status,
    pub hard: bool,
    pub maintenance: bool,
    pub output: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outage {
    pub start_ns: i64,
    /// `None` while it goes on at the end of the period.
    pub end_ns: Option<i64>,
    pub duration_secs: f64,
    /// What the check said when it went down.
    pub cause: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub from_ns: i64,
    pub to_ns: i64,
    /// Percent, four decimals; `None` when there was no up or down time.
    pub uptime_percent: Option<f64>,
    pub up_secs: f64,
    pub down_secs: f64,
    pub unknown_secs: f64,
    pub maintenance_secs: f64,
    pub no_data_secs: f64,
    pub outages: Vec<Outage>,
    /// Mean time to repair: the mean duration of the outages that ended.
    pub mttr_secs: Option<f64>,
    /// Mean time between failures: up time per outage.
    pub mtbf_secs: Option<f64>,
}

#[derive(Clone, Copy, PartialEq)]
enum Class {
    Up,
    Down,
    Unknown,
    Maintenance,
}

fn class(o: &Observation) -> Class {
    match (o.maintenance, o.hard, o.status) {
        (true, _, _) => Class::Maintenance,
        (false, true, Status::Critical) => Class::Down,
        (false, true, Status::Unknown) => Class::Unknown,
        _ => Class::Up,
    }
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// The figures for `[from, to)`; `observations` in time order, and may
/// start before `from` (the last one before it gives the state at `from`).
pub fn availability(observations: &[Observation], from_ns: i64, to_ns: i64) -> Availability {
    let mut totals = [0i64; 4];
    let mut no_data = 0;
    let mut outages: Vec<Outage> = Vec::new();
    let mut open: Option<(i64, String)> = None;
    // The last result at or before `from` gives the state at `from`.
    let start_index = observations
        .iter()
        .rposition(|o| o.time_ns <= from_ns)
        .unwrap_or(0);
    let relevant = observations.get(start_index..).unwrap_or_default();
    match relevant.first() {
        None => no_data = to_ns - from_ns,
        Some(o) if o.time_ns > from_ns => no_data = o.time_ns.min(to_ns) - from_ns,
        _ => {}
    }
    for (i, o) in relevant.iter().enumerate() {
        let start = o.time_ns.max(from_ns);
        let end = relevant.get(i + 1).map_or(to_ns, |n| n.time_ns).min(to_ns);
        if end <= start {
            continue;
        }
        let c = class(o);
        totals[c as usize] += end - start;
        match (c, &open) {
            (Class::Down, None) => {
                open = Some((start, o.output.clone().unwrap_or_default()));
            }
            (Class::Down, Some(_)) => {}
            (_, Some((s, cause))) => {
                outages.push(Outage {
                    start_ns: *s,
                    end_ns: Some(start),
                    duration_secs: secs(start - s),
                    cause: cause.clone(),
                });
                open = None;
            }
            _ => {}
        }
    }
    if let Some((s, cause)) = open {
        outages.push(Outage {
            start_ns: s,
            end_ns: None,
            duration_secs: secs(to_ns - s),
            cause,
        });
    }
    let [up, down, unknown, maintenance] = totals;
    let ended: Vec<f64> = outages
        .iter()
        .filter(|o| o.end_ns.is_some())
        .map(|o| o.duration_secs)
        .collect();
    Availability {
        from_ns,
        to_ns,
        uptime_percent: (up + down > 0)
            .then(|| (up as f64 * 100.0 / (up + down) as f64 * 10_000.0).round() / 10_000.0),
        up_secs: secs(up),
        down_secs: secs(down),
        unknown_secs: secs(unknown),
        maintenance_secs: secs(maintenance),
        no_data_secs: secs(no_data),
        mttr_secs: (!ended.is_empty()).then(|| ended.iter().sum::<f64>() / ended.len() as f64),
        mtbf_secs: (!outages.is_empty()).then(|| secs(up) / outages.len() as f64),
        outages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn o(minute: i64, status: Status, hard: bool) -> Observation {
        Observation {
            time_ns: minute * MIN,
            status,
            hard,
            maintenance: false,
            output: (status != Status::Ok).then(|| format!("down at {minute}")),
        }
    }

    /// A day of results every minute, by hand: two outages (10 and 30
    /// minutes), a soft blip that does not count, an hour of maintenance.
    #[test]
    fn figures_match_hand_computed_outages() {
        let day = 1440;
        let mut obs: Vec<Observation> = (0..day).map(|m| o(m, Status::Ok, true)).collect();
        for m in 100..110 {
            obs[m as usize] = o(m, Status::Critical, true);
        }
        obs[300] = o(300, Status::Critical, false);
        for m in 600..630 {
            obs[m as usize] = o(m, Status::Critical, true);
        }
        for m in 900..960 {
            obs[m as usize].maintenance = true;
            obs[m as usize].status = Status::Critical;
        }
        let a = availability(&obs, 0, day * MIN);
        assert_eq!(a.outages.len(), 2);
        assert_eq!(a.outages[0].start_ns, 100 * MIN);
        assert_eq!(a.outages[0].end_ns, Some(110 * MIN));
        assert_eq!(a.outages[0].cause, "down at 100");
        assert_eq!(a.outages[1].duration_secs, 1800.0);
        assert_eq!(a.down_secs, 2400.0);
        assert_eq!(a.maintenance_secs, 3600.0);
        // Up: 1440 - 40 - 60 = 1340 minutes; uptime 1340 / 1380.
        assert_eq!(a.up_secs, 1340.0 * 60.0);
        assert_eq!(a.uptime_percent, Some(97.1014));
        assert_eq!(a.mttr_secs, Some(1200.0));
        assert_eq!(a.mtbf_secs, Some(1340.0 * 60.0 / 2.0));
    }

    #[test]
    fn periods_cut_results_and_ongoing_outages_stay_open() {
        let obs = vec![
            o(0, Status::Ok, true),
            o(50, Status::Critical, true),
            o(70, Status::Ok, true),
            o(90, Status::Critical, true),
        ];
        // From minute 60: down from the result at 50 until 70, then up, down from 90 on.
        let a = availability(&obs, 60 * MIN, 100 * MIN);
        assert_eq!(a.down_secs, 20.0 * 60.0);
        assert_eq!(a.outages.len(), 2);
        assert_eq!(a.outages[0].start_ns, 60 * MIN, "cut at the period's start");
        assert_eq!(a.outages[1].end_ns, None);
        assert_eq!(a.mttr_secs, Some(600.0));
        let empty = availability(&[], 0, 10 * MIN);
        assert_eq!((empty.uptime_percent, empty.no_data_secs), (None, 600.0));
        let late = availability(&obs[3..], 0, 100 * MIN);
        assert_eq!(late.no_data_secs, 90.0 * 60.0);
    }
}
