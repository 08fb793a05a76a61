//! Maintenance windows: one-off (`start` to `end`) or recurring (days of
//! the week, a start time and a duration, UTC). While a window covers a
//! check, its problems raise no alerts and its results are left out of
//! availability figures.

use serde::{Deserialize, Serialize};
use watchfloor_model::parse_timestamp;

const MINUTE_NS: i64 = 60_000_000_000;
const DAY_NS: i64 = 1440 * MINUTE_NS;
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A window (stored as a tenant document of kind `maintenance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    #[serde(default)]
    pub description: String,
    /// Check names or nodes covered; `*` for every check of the tenant.
    pub checks: Vec<String>,
    /// One-off: RFC 3339 start and end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Recurrence>,
}

/// Every listed day (`mon` .. `sun`; every day when empty) from `at`
/// (`HH:MM` UTC) for `duration_minutes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    #[serde(default)]
    pub days: Vec<String>,
    pub at: String,
    pub duration_minutes: u32,
}

fn minute_of_day(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && hhmm.len() == 5).then_some(h * 60 + m)
}

/// Monday = 0; 1970-01-01 was a Thursday.
fn weekday(day_index: i64) -> usize {
    (day_index + 3).rem_euclid(7) as usize
}

impl MaintenanceWindow {
    pub fn covers(&self, check: &str, node: Option<&str>) -> bool {
        self.checks
            .iter()
            .any(|c| c == "*" || c == check || Some(c.as_str()) == node)
    }

    fn one_off(&self) -> Option<(i64, i64)> {
        Some((
            parse_timestamp(self.start.as_deref()?)?,
            parse_timestamp(self.end.as_deref()?)?,
        ))
    }

    pub fn active_at(&self, t: i64) -> bool {
        if self.one_off().is_some_and(|(s, e)| (s..e).contains(&t)) {
            return true;
        }
        let Some(r) = &self.recurring else {
            return false;
        };
        let Some(at) = minute_of_day(&r.at) else {
            return false;
        };
        let length = i64::from(r.duration_minutes) * MINUTE_NS;
        // A window may have begun on one of the previous days.
        let today = t.div_euclid(DAY_NS);
        let back = length / DAY_NS + 1;
        (today - back..=today).any(|day| {
            let on_day = r.days.is_empty() || r.days.iter().any(|d| d == DAYS[weekday(day)]);
            let start = day * DAY_NS + at * MINUTE_NS;
            on_day && (start..start + length).contains(&t)
        })
    }

    /// Every problem, each naming its field.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.checks.is_empty() {
            out.push("checks: one or more check names, nodes or \"*\"".into());
        }
        match (&self.start, &self.end, &self.recurring) {
            (None, None, None) => out.push("give start and end, or recurring".into()),
            (Some(_), None, _) | (None, Some(_), _) => out.push("start and end go together".into()),
            _ => {}
        }
        for (k, v) in [("start", &self.start), ("end", &self.end)] {
            if let Some(v) = v.as_ref().filter(|v| parse_timestamp(v).is_none()) {
                out.push(format!("{k}: {v:?} is not an RFC 3339 time"));
            }
        }
        if self.one_off().is_some_and(|(s, e)| e <= s) {
            out.push("end must be after start".into());
        }
        if let Some(r) = &self.recurring {
            if minute_of_day(&r.at).is_none() {
                out.push(format!("recurring.at: {:?} is not HH:MM", r.at));
            }
            if !(1..=7 * 1440).contains(&r.duration_minutes) {
                out.push("recurring.duration_minutes: 1 to 10080".into());
            }
            for d in &r.days {
                if !DAYS.contains(&d.as_str()) {
                    out.push(format!(
                        "recurring.days: {d:?} is not one of {}",
                        DAYS.join(", ")
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        parse_timestamp(s).expect("time")
    }

    #[test]
    fn one_off_and_recurring_windows() {
        let w: MaintenanceWindow = serde_json::from_value(serde_json::json!({
            "checks": ["db1", "web"], "start": "2026-11-25T22:00:00Z", "end": "2026-11-25T23:00:00Z",
            "recurring": {"days": ["sun"], "at": "23:30", "duration_minutes": 120}
        }))
        .expect("window");
        assert!(w.problems().is_empty());
        assert!(w.covers("web", None) && w.covers("x", Some("db1")) && !w.covers("x", None));
        assert!(w.active_at(t("2026-11-25T22:30:00Z")));
        assert!(!w.active_at(t("2026-11-25T23:00:00Z")));
        // Sunday 29 Nov 23:30 to Monday 01:30.
        assert!(w.active_at(t("2026-11-29T23:45:00Z")));
        assert!(w.active_at(t("2026-11-30T01:00:00Z")), "past midnight");
        assert!(!w.active_at(t("2026-11-30T01:30:00Z")));
        assert!(!w.active_at(t("2026-11-28T23:45:00Z")), "Saturday");
    }

    #[test]
    fn problems_are_named() {
        let w: MaintenanceWindow = serde_json::from_value(serde_json::json!({
            "checks": [], "start": "yesterday",
            "recurring": {"days": ["someday"], "at": "25:00", "duration_minutes": 0}
        }))
        .expect("parses");
        assert_eq!(w.problems().len(), 6, "{:?}", w.problems());
    }
}
