//! On-call schedules: layers of rotations with hand-off times, optional
//! daily windows, and overrides; "who is on call at time t" and the shifts
//! over a period.
//!
//! As in PagerDuty, a later layer covers the earlier ones wherever it has
//! someone on call (a weekend layer over the weekly rotation), and an
//! override covers every layer. Times are UTC.

use serde::{Deserialize, Serialize};

use crate::time_serde;

const MINUTE_NS: i64 = 60_000_000_000;
const HOUR_NS: i64 = 60 * MINUTE_NS;
const DAY_NS: i64 = 24 * HOUR_NS;
/// The longest period `shifts` looks at.
pub const MAX_SPAN_NS: i64 = 366 * DAY_NS;

/// A named schedule (stored as a tenant document of kind `schedule`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    #[serde(default)]
    pub description: String,
    pub layers: Vec<Rotation>,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

/// Users taking turns: the first from `start` for `shift_hours`, then the
/// next, round and round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub name: String,
    pub users: Vec<String>,
    /// The first hand-off; nobody from this layer is on call before it.
    #[serde(with = "time_serde")]
    #[schemars(with = "String")]
    pub start: i64,
    pub shift_hours: u32,
    /// Only on call inside this daily window (for example business hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

/// A daily window, `from` to `to` as `HH:MM` UTC (`to` before `from` runs
/// past midnight), on the listed days (`mon` .. `sun`; all when empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
}

/// Someone covering a period instead of the rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Given by the server (1, 2, ...); later overrides win.
    #[serde(default)]
    pub id: u32,
    pub user: String,
    #[serde(with = "time_serde")]
    #[schemars(with = "String")]
    pub start: i64,
    #[serde(with = "time_serde")]
    #[schemars(with = "String")]
    pub end: i64,
    #[serde(default)]
    pub reason: String,
}

/// Who is on call at one moment and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnCall {
    pub user: String,
    /// `override:<id>` or `layer:<name>`.
    pub source: String,
}

/// A stretch of time with one person on call (or nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    #[serde(serialize_with = "time_serde::serialize")]
    pub start: i64,
    #[serde(serialize_with = "time_serde::serialize")]
    pub end: i64,
    pub user: Option<String>,
    pub source: Option<String>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minute_of_day(hhmm: &str) -> Option<i64> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) && hhmm.len() == 5).then_some(h * 60 + m)
}

/// Monday = 0; 1970-01-01 was a Thursday.
fn weekday(t: i64) -> usize {
    (t.div_euclid(DAY_NS) + 3).rem_euclid(7) as usize
}

impl Window {
    fn bounds(&self) -> Option<(i64, i64)> {
        Some((minute_of_day(&self.from)?, minute_of_day(&self.to)?))
    }

    fn on_day(&self, day: usize) -> bool {
        self.days.is_empty() || self.days.iter().any(|d| d == DAYS[day])
    }

    fn contains(&self, t: i64) -> bool {
        let Some((from, to)) = self.bounds() else {
            return false;
        };
        let minute = t.rem_euclid(DAY_NS) / MINUTE_NS;
        let day = weekday(t);
        if from <= to {
            self.on_day(day) && (from..to).contains(&minute)
        } else {
            // Past midnight: the evening belongs to today, the early hours
            // to the window that started yesterday.
            (minute >= from && self.on_day(day)) || (minute < to && self.on_day((day + 6) % 7))
        }
    }

    fn problems(&self, at: &str, out: &mut Vec<String>) {
        for (key, v) in [("from", &self.from), ("to", &self.to)] {
            if minute_of_day(v).is_none() {
                out.push(format!("{at}.window.{key}: {v:?} is not HH:MM"));
            }
        }
        for d in &self.days {
            if !DAYS.contains(&d.as_str()) {
                out.push(format!(
                    "{at}.window.days: {d:?} is not one of {}",
                    DAYS.join(", ")
                ));
            }
        }
        if self.from == self.to {
            out.push(format!("{at}.window: from and to are the same"));
        }
    }
}

impl Rotation {
    fn shift_ns(&self) -> i64 {
        i64::from(self.shift_hours.max(1)) * HOUR_NS
    }

    fn on_call_at(&self, t: i64) -> Option<&str> {
        if t < self.start || self.users.is_empty() {
            return None;
        }
        if self.window.as_ref().is_some_and(|w| !w.contains(t)) {
            return None;
        }
        let turn = (t - self.start) / self.shift_ns();
        let i = (turn % self.users.len() as i64) as usize;
        Some(&self.users[i])
    }

    /// Moments in `[from, to)` where this layer may change hands.
    fn boundaries(&self, from: i64, to: i64, out: &mut Vec<i64>) {
        let shift = self.shift_ns();
        let first = if from <= self.start {
            self.start
        } else {
            // from > start: the first hand-off at or after `from`.
            self.start + (from - self.start + shift - 1) / shift * shift
        };
        out.extend((0..).map(|k| first + k * shift).take_while(|&t| t < to));
        if let Some((a, b)) = self.window.as_ref().and_then(Window::bounds) {
            let first_day = from.div_euclid(DAY_NS);
            let last_day = to.div_euclid(DAY_NS);
            for day in first_day..=last_day {
                for minute in [a, b] {
                    let t = day * DAY_NS + minute * MINUTE_NS;
                    if (from..to).contains(&t) {
                        out.push(t);
                    }
                }
            }
        }
    }
}

impl Schedule {
    /// Who is on call at `t`, if anyone.
    pub fn on_call_at(&self, t: i64) -> Option<OnCall> {
        if let Some(o) = self
            .overrides
            .iter()
            .filter(|o| (o.start..o.end).contains(&t))
            .max_by_key(|o| o.id)
        {
            return Some(OnCall {
                user: o.user.clone(),
                source: format!("override:{}", o.id),
            });
        }
        self.layers.iter().rev().find_map(|layer| {
            layer.on_call_at(t).map(|user| OnCall {
                user: user.to_string(),
                source: format!("layer:{}", layer.name),
            })
        })
    }

    /// The shifts between `from` and `to` (at most [`MAX_SPAN_NS`]), with
    /// adjacent stretches of the same person joined.
    pub fn shifts(&self, from: i64, to: i64) -> Vec<Shift> {
        let to = to.min(from.saturating_add(MAX_SPAN_NS));
        if to <= from {
            return Vec::new();
        }
        let mut cuts = vec![from, to];
        for layer in &self.layers {
            layer.boundaries(from, to, &mut cuts);
        }
        for o in &self.overrides {
            cuts.extend(
                [o.start, o.end]
                    .into_iter()
                    .filter(|t| (from..to).contains(t)),
            );
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut out: Vec<Shift> = Vec::new();
        for pair in cuts.windows(2) {
            let who = self.on_call_at(pair[0]);
            let (user, source) = who.map_or((None, None), |w| (Some(w.user), Some(w.source)));
            match out.last_mut() {
                Some(last) if last.user == user && last.source == source => last.end = pair[1],
                _ => out.push(Shift {
                    start: pair[0],
                    end: pair[1],
                    user,
                    source,
                }),
            }
        }
        out
    }

    /// When the person on call at `t` next changes (within 90 days).
    pub fn next_change_after(&self, t: i64) -> Option<i64> {
        let shifts = self.shifts(t, t + 90 * DAY_NS);
        (shifts.len() > 1).then(|| shifts[0].end)
    }

    /// Every problem, each naming where it is.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.layers.is_empty() {
            out.push("layers: at least one rotation".into());
        }
        for (i, l) in self.layers.iter().enumerate() {
            let at = format!("layers[{i}]");
            if l.name.trim().is_empty() {
                out.push(format!("{at}.name: must not be empty"));
            }
            if l.users.is_empty() || l.users.iter().any(|u| u.trim().is_empty()) {
                out.push(format!("{at}.users: one or more user names"));
            }
            if l.shift_hours == 0 {
                out.push(format!("{at}.shift_hours: at least 1"));
            }
            if let Some(w) = &l.window {
                w.problems(&at, &mut out);
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.end <= o.start {
                out.push(format!("overrides[{i}]: end must be after start"));
            }
            if o.user.trim().is_empty() {
                out.push(format!("overrides[{i}].user: must not be empty"));
            }
        }
        out
    }

    /// Adds an override and gives it the next id.
    pub fn add_override(&mut self, mut o: Override) -> u32 {
        o.id = self.overrides.iter().map(|o| o.id).max().unwrap_or(0) + 1;
        let id = o.id;
        self.overrides.push(o);
        id
    }

    /// Drops overrides that ended before `now` (they no longer matter).
    pub fn forget_overrides_before(&mut self, now: i64) {
        self.overrides.retain(|o| o.end > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use watchfloor_model::parse_timestamp;

    fn t(s: &str) -> i64 {
        parse_timestamp(s).expect("time")
    }

    fn weekly() -> Schedule {
        Schedule {
            description: String::new(),
            layers: vec![Rotation {
                name: "weekly".into(),
                users: vec!["ann".into(), "bob".into(), "cy".into()],
                // A Monday.
                start: t("2026-11-23T09:00:00Z"),
                shift_hours: 168,
                window: None,
            }],
            overrides: vec![],
        }
    }

    fn who(s: &Schedule, at: &str) -> Option<String> {
        s.on_call_at(t(at)).map(|o| o.user)
    }

    #[test]
    fn a_weekly_rotation_hands_off_on_time() {
        let s = weekly();
        assert_eq!(who(&s, "2026-11-23T08:59:59Z"), None, "before the start");
        assert_eq!(who(&s, "2026-11-23T09:00:00Z").as_deref(), Some("ann"));
        assert_eq!(who(&s, "2026-11-30T08:59:59Z").as_deref(), Some("ann"));
        assert_eq!(who(&s, "2026-11-30T09:00:00Z").as_deref(), Some("bob"));
        assert_eq!(who(&s, "2026-12-07T09:00:00Z").as_deref(), Some("cy"));
        assert_eq!(who(&s, "2026-12-14T09:00:00Z").as_deref(), Some("ann"));
        assert_eq!(
            s.next_change_after(t("2026-11-25T00:00:00Z")),
            Some(t("2026-11-30T09:00:00Z"))
        );
    }

    #[test]
    fn a_later_layer_and_an_override_cover_the_rotation() {
        let mut s = weekly();
        s.layers.push(Rotation {
            name: "nights".into(),
            users: vec!["nina".into()],
            start: t("2026-11-01T00:00:00Z"),
            shift_hours: 24,
            window: Some(Window {
                from: "22:00".into(),
                to: "06:00".into(),
                days: vec!["fri".into()],
            }),
        });
        // Friday 27 Nov 23:00 and the early hours of Saturday are nina's.
        assert_eq!(who(&s, "2026-11-27T23:00:00Z").as_deref(), Some("nina"));
        assert_eq!(who(&s, "2026-11-28T05:59:00Z").as_deref(), Some("nina"));
        assert_eq!(who(&s, "2026-11-28T06:00:00Z").as_deref(), Some("ann"));
        assert_eq!(
            who(&s, "2026-11-26T23:00:00Z").as_deref(),
            Some("ann"),
            "Thursday night is not in the window"
        );
        s.add_override(Override {
            id: 0,
            user: "oz".into(),
            start: t("2026-11-27T20:00:00Z"),
            end: t("2026-11-28T02:00:00Z"),
            reason: "swap".into(),
        });
        let now = s.on_call_at(t("2026-11-27T23:00:00Z")).expect("someone");
        assert_eq!(
            (now.user.as_str(), now.source.as_str()),
            ("oz", "override:1")
        );
        assert_eq!(who(&s, "2026-11-28T02:00:00Z").as_deref(), Some("nina"));
        let shifts = s.shifts(t("2026-11-27T00:00:00Z"), t("2026-11-29T00:00:00Z"));
        let users: Vec<_> = shifts.iter().map(|s| s.user.clone().unwrap()).collect();
        assert_eq!(users, ["ann", "oz", "nina", "ann"]);
        assert_eq!(shifts[1].start, t("2026-11-27T20:00:00Z"));
        assert_eq!(shifts[2].end, t("2026-11-28T06:00:00Z"));
    }

    #[test]
    fn problems_name_their_place() {
        let mut s = weekly();
        s.layers[0].shift_hours = 0;
        s.layers[0].window = Some(Window {
            from: "25:00".into(),
            to: "8:00".into(),
            days: vec!["funday".into()],
        });
        s.overrides.push(Override {
            id: 1,
            user: String::new(),
            start: 10,
            end: 5,
            reason: String::new(),
        });
        let p = s.problems();
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("layers[0].window.from")));
        assert!(p.iter().any(|m| m.contains("funday")));
    }

    proptest! {
        /// The shifts agree with asking at every moment, and tile the span.
        #[test]
        fn shifts_agree_with_on_call_at(
            start_h in 0i64..200, shift_h in 1u32..50, users in 1usize..4,
            from_h in 0i64..400, len_h in 1i64..300, probe in 0.0f64..1.0,
            wfrom in 0i64..1440, wto in 0i64..1440, windowed: bool,
        ) {
            let base = t("2026-11-02T00:00:00Z");
            let fmt = |m: i64| format!("{:02}:{:02}", m / 60, m % 60);
            let s = Schedule {
                description: String::new(),
                layers: vec![Rotation {
                    name: "l".into(),
                    users: (0..users).map(|i| format!("u{i}")).collect(),
                    start: base + start_h * HOUR_NS,
                    shift_hours: shift_h,
                    window: (windowed && wfrom != wto).then(|| Window {
                        from: fmt(wfrom), to: fmt(wto), days: vec![],
                    }),
                }],
                overrides: vec![],
            };
            let from = base + from_h * HOUR_NS;
            let to = from + len_h * HOUR_NS;
            let shifts = s.shifts(from, to);
            prop_assert_eq!(shifts.first().map(|x| x.start), Some(from));
            prop_assert_eq!(shifts.last().map(|x| x.end), Some(to));
            for w in shifts.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
            }
            let at = from + ((to - from) as f64 * probe) as i64;
            let at = at.min(to - 1);
            let shift = shifts.iter().find(|x| (x.start..x.end).contains(&at)).unwrap();
            prop_assert_eq!(shift.user.clone(), s.on_call_at(at).map(|o| o.user));
        }
    }
}
