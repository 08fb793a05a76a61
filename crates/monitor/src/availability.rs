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

/// How several results streams make one (a host from its checks, a
/// business service from its components).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Down when any stream is down (a host or service and its checks).
    Worst,
    /// Up while at least this many streams are up (a business service:
    /// all, any or N of M). Streams in maintenance count as up, so planned
    /// work does not count against the service, but the time is marked as
    /// maintenance when the service would have been down without them.
    AtLeast(usize),
}

#[derive(Clone, Copy, PartialEq)]
enum Now {
    NoData,
    Is(Class),
}

fn combined(states: &[(Now, Option<String>)], how: Combine) -> Option<(Class, Option<String>)> {
    let known: Vec<&(Now, Option<String>)> =
        states.iter().filter(|(s, _)| *s != Now::NoData).collect();
    if known.is_empty() {
        return None;
    }
    let cause = |c: Class| {
        known
            .iter()
            .find(|(s, _)| *s == Now::Is(c))
            .and_then(|(_, o)| o.clone())
    };
    let count = |c: Class| known.iter().filter(|(s, _)| *s == Now::Is(c)).count();
    Some(match how {
        Combine::Worst => {
            if count(Class::Down) > 0 {
                (Class::Down, cause(Class::Down))
            } else if count(Class::Unknown) > 0 {
                (Class::Unknown, cause(Class::Unknown))
            } else if count(Class::Up) == 0 {
                (Class::Maintenance, None)
            } else {
                (Class::Up, None)
            }
        }
        Combine::AtLeast(k) => {
            let up = count(Class::Up);
            if up >= k {
                (Class::Up, None)
            } else if up + count(Class::Maintenance) >= k {
                (Class::Maintenance, None)
            } else {
                (
                    Class::Down,
                    cause(Class::Down).or_else(|| cause(Class::Unknown)),
                )
            }
        }
    })
}

/// One stream of observations from several, each in time order: at every
/// result of any stream, the combined state of all of them.
pub fn combine(streams: &[Vec<Observation>], how: Combine) -> Vec<Observation> {
    let mut times: Vec<i64> = streams.iter().flatten().map(|o| o.time_ns).collect();
    times.sort_unstable();
    times.dedup();
    let mut next = vec![0usize; streams.len()];
    let mut states: Vec<(Now, Option<String>)> = vec![(Now::NoData, None); streams.len()];
    let mut out = Vec::with_capacity(times.len());
    for t in times {
        for (i, s) in streams.iter().enumerate() {
            while next[i] < s.len() && s[next[i]].time_ns <= t {
                let o = &s[next[i]];
                states[i] = (Now::Is(class(o)), o.output.clone());
                next[i] += 1;
            }
        }
        let Some((c, output)) = combined(&states, how) else {
            continue;
        };
        let (status, hard, maintenance) = match c {
            Class::Up => (Status::Ok, true, false),
            Class::Down => (Status::Critical, true, false),
            Class::Unknown => (Status::Unknown, true, false),
            Class::Maintenance => (Status::Ok, true, true),
        };
        out.push(Observation {
            time_ns: t,
            status,
            hard,
            maintenance,
            output,
        });
    }
    out
}

#[cfg(test)]
mod combine_tests {
    use super::*;

    const MIN: i64 = 60_000_000_000;

    fn stream(points: &[(i64, Status)]) -> Vec<Observation> {
        points
            .iter()
            .map(|&(m, status)| Observation {
                time_ns: m * MIN,
                status,
                hard: true,
                maintenance: false,
                output: (status != Status::Ok).then(|| format!("down at {m}")),
            })
            .collect()
    }

    #[test]
    fn a_host_is_down_while_any_check_is_and_a_service_while_too_few_parts_are_up() {
        use Status::{Critical as C, Ok as U};
        // Two parts: a down 10..20, b down 15..30.
        let a = stream(&[(0, U), (10, C), (20, U)]);
        let b = stream(&[(0, U), (15, C), (30, U)]);
        let host = availability(
            &combine(&[a.clone(), b.clone()], Combine::Worst),
            0,
            60 * MIN,
        );
        assert_eq!(host.down_secs, 20.0 * 60.0, "10..30");
        assert_eq!(host.outages.len(), 1);
        assert_eq!(host.outages[0].cause, "down at 10");
        let any = availability(
            &combine(&[a.clone(), b.clone()], Combine::AtLeast(1)),
            0,
            60 * MIN,
        );
        assert_eq!(any.down_secs, 5.0 * 60.0, "both down 15..20");
        let all = availability(&combine(&[a, b], Combine::AtLeast(2)), 0, 60 * MIN);
        assert_eq!(all.down_secs, 20.0 * 60.0);
        assert_eq!(all.uptime_percent, Some(66.6667));
    }
}
