//! Regulatory reporting clocks: NIS2 (art. 23), DORA (art. 19 with
//! Delegated Regulation 2025/301 art. 5) and GDPR (art. 33).
//!
//! Deadlines are recomputed from the flags, the time of awareness, the
//! time of classification and the submissions so far; a submission keeps
//! who sent it and when, and a late one needs its reason.

use chrono::{Months, TimeZone, Utc};
use watchfloor_model::format_rfc3339;
use watchfloor_model::incident::{Compliance, Deadline, Regime};

const HOUR: i64 = 3_600_000_000_000;

/// One calendar month after `ns` (the same day of the next month, or its
/// last day when the month is shorter).
pub fn add_month(ns: i64) -> i64 {
    let t = Utc.timestamp_nanos(ns);
    t.checked_add_months(Months::new(1))
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(i64::MAX)
}

/// The reports a regime asks for, in order.
pub fn reports(regime: Regime) -> &'static [&'static str] {
    match regime {
        Regime::Nis2 => &["early_warning", "notification", "final_report"],
        Regime::Dora => &[
            "initial_notification",
            "intermediate_report",
            "final_report",
        ],
        Regime::Gdpr => &["notification"],
    }
}

fn submitted(c: &Compliance, regime: Regime, report: &str) -> Option<i64> {
    c.deadlines
        .iter()
        .find(|d| d.regime == regime && d.report == report)
        .and_then(|d| d.submitted_ns)
}

fn due_of(c: &Compliance, regime: Regime, report: &str) -> Option<i64> {
    c.deadlines
        .iter()
        .find(|d| d.regime == regime && d.report == report)
        .and_then(|d| d.due_ns)
}

/// When a report is due, and what that counts from, given the incident's
/// times and the reports already submitted.
fn due(c: &Compliance, regime: Regime, report: &str) -> (Option<i64>, String) {
    let aware = c.aware_ns;
    let plus = |t: Option<i64>, h: i64| t.map(|t| t.saturating_add(h * HOUR));
    match (regime, report) {
        (Regime::Nis2, "early_warning") => (plus(aware, 24), "24 h after awareness".into()),
        (Regime::Nis2, "notification") => (plus(aware, 72), "72 h after awareness".into()),
        (Regime::Nis2, _) => match submitted(c, regime, "notification") {
            Some(t) => (
                Some(add_month(t)),
                "one month after the notification was submitted".into(),
            ),
            None => (
                due_of(c, regime, "notification").map(add_month),
                "one month after the notification (provisional: not submitted yet)".into(),
            ),
        },
        (Regime::Dora, "initial_notification") => {
            let basis = "4 h after classification as major, at most 24 h after awareness";
            match (c.classified_ns, aware) {
                (Some(cl), Some(aw)) => {
                    let due = (cl + 4 * HOUR).min(aw + 24 * HOUR);
                    (Some(due), basis.into())
                }
                (Some(cl), None) => (Some(cl + 4 * HOUR), basis.into()),
                _ => (None, format!("{basis} (not classified yet)")),
            }
        }
        (Regime::Dora, "intermediate_report") => match submitted(c, regime, "initial_notification")
        {
            Some(t) => (
                plus(Some(t), 72),
                "72 h after the initial notification".into(),
            ),
            None => (
                None,
                "72 h after the initial notification (not submitted yet)".into(),
            ),
        },
        (Regime::Dora, _) => match submitted(c, regime, "intermediate_report") {
            Some(t) => (
                Some(add_month(t)),
                "one month after the last intermediate report".into(),
            ),
            None => (
                None,
                "one month after the last intermediate report (not submitted yet)".into(),
            ),
        },
        (Regime::Gdpr, _) => (plus(aware, 72), "72 h after awareness".into()),
    }
}

/// Rebuilds the deadline list (regimes flagged, in report order), keeping
/// the submissions already recorded, and sets each one's state at `now`.
pub fn recompute(c: &mut Compliance, now_ns: i64) {
    let mut next: Vec<Deadline> = Vec::new();
    for &regime in &c.regimes {
        for &report in reports(regime) {
            let old = c
                .deadlines
                .iter()
                .find(|d| d.regime == regime && d.report == report);
            let mut d = Deadline {
                regime,
                report: report.into(),
                due_ns: None,
                basis: String::new(),
                submitted_ns: old.and_then(|d| d.submitted_ns),
                submitted_by: old.and_then(|d| d.submitted_by.clone()),
                late_reason: old.and_then(|d| d.late_reason.clone()),
                state: String::new(),
            };
            // Later reports count from earlier ones, so compute against the
            // list as rebuilt so far plus the old submissions.
            let view = Compliance {
                regimes: c.regimes.clone(),
                aware_ns: c.aware_ns,
                classified_ns: c.classified_ns,
                deadlines: next.iter().cloned().chain(old.cloned()).collect(),
            };
            (d.due_ns, d.basis) = due(&view, regime, report);
            d.state = state(&d, now_ns).into();
            next.push(d);
        }
    }
    c.deadlines = next;
}

/// `pending`, `due`, `submitted` or `late`.
pub fn state(d: &Deadline, now_ns: i64) -> &'static str {
    match (d.submitted_ns, d.due_ns) {
        (Some(s), Some(due)) if s > due => "late",
        (Some(_), _) => "submitted",
        (None, None) => "pending",
        (None, Some(due)) if now_ns > due => "late",
        (None, Some(_)) => "due",
    }
}

/// Records a submission. A late one needs a reason.
pub fn submit(
    c: &mut Compliance,
    regime: Regime,
    report: &str,
    now_ns: i64,
    by: &str,
    late_reason: Option<&str>,
) -> Result<(), String> {
    recompute(c, now_ns);
    let Some(d) = c
        .deadlines
        .iter_mut()
        .find(|d| d.regime == regime && d.report == report)
    else {
        let flagged = c.regimes.contains(&regime);
        return Err(if flagged {
            format!(
                "{} has no report {report:?}; reports: {}",
                regime.as_str(),
                reports(regime).join(", ")
            )
        } else {
            format!("the incident is not flagged {}", regime.as_str())
        });
    };
    if let Some(t) = d.submitted_ns {
        return Err(format!(
            "{} {report} was already submitted at {} by {}",
            regime.as_str(),
            format_rfc3339(t),
            d.submitted_by.as_deref().unwrap_or("?")
        ));
    }
    let Some(due) = d.due_ns else {
        return Err(format!(
            "{} {report} cannot be sent yet: due {}",
            regime.as_str(),
            d.basis
        ));
    };
    let reason = late_reason.map(str::trim).filter(|r| !r.is_empty());
    if now_ns > due && reason.is_none() {
        return Err(format!(
            "{} {report} is late (it was due {}); give the reason (late_reason)",
            regime.as_str(),
            format_rfc3339(due)
        ));
    }
    d.submitted_ns = Some(now_ns);
    d.submitted_by = Some(by.into());
    d.late_reason = if now_ns > due {
        reason.map(Into::into)
    } else {
        None
    };
    recompute(c, now_ns);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfloor_model::parse_timestamp;

    fn t(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    fn due_of(c: &Compliance, regime: Regime, report: &str) -> Option<String> {
        c.deadlines
            .iter()
            .find(|d| d.regime == regime && d.report == report)
            .and_then(|d| d.due_ns)
            .map(format_rfc3339)
    }

    fn flagged(regimes: &[Regime], aware: &str, classified: Option<&str>) -> Compliance {
        let mut c = Compliance {
            regimes: regimes.iter().copied().collect(),
            aware_ns: Some(t(aware)),
            classified_ns: classified.map(t),
            deadlines: Vec::new(),
        };
        recompute(&mut c, t(aware));
        c
    }

    #[test]
    fn nis2_counts_from_awareness_then_from_the_notification() {
        let mut c = flagged(&[Regime::Nis2], "2026-01-30T10:00:00Z", None);
        assert_eq!(
            due_of(&c, Regime::Nis2, "early_warning").unwrap(),
            "2026-01-31T10:00:00.000000Z"
        );
        assert_eq!(
            due_of(&c, Regime::Nis2, "notification").unwrap(),
            "2026-02-02T10:00:00.000000Z"
        );
        // Provisional: a month after the notification's due time.
        assert_eq!(
            due_of(&c, Regime::Nis2, "final_report").unwrap(),
            "2026-03-02T10:00:00.000000Z"
        );
        submit(
            &mut c,
            Regime::Nis2,
            "notification",
            t("2026-02-01T08:00:00Z"),
            "ana",
            None,
        )
        .unwrap();
        assert_eq!(
            due_of(&c, Regime::Nis2, "final_report").unwrap(),
            "2026-03-01T08:00:00.000000Z"
        );
    }

    #[test]
    fn dora_initial_is_4h_after_classification_capped_at_24h_after_awareness() {
        let c = flagged(
            &[Regime::Dora],
            "2026-03-02T09:00:00Z",
            Some("2026-03-02T11:00:00Z"),
        );
        assert_eq!(
            due_of(&c, Regime::Dora, "initial_notification").unwrap(),
            "2026-03-02T15:00:00.000000Z"
        );
        // Classified major a day after awareness: the 24 h cap has passed.
        let mut c = flagged(
            &[Regime::Dora],
            "2026-03-02T09:00:00Z",
            Some("2026-03-03T09:00:00Z"),
        );
        assert_eq!(
            due_of(&c, Regime::Dora, "initial_notification").unwrap(),
            "2026-03-03T09:00:00.000000Z"
        );
        assert_eq!(due_of(&c, Regime::Dora, "intermediate_report"), None);
        let late = t("2026-03-03T10:30:00Z");
        let err = submit(
            &mut c,
            Regime::Dora,
            "initial_notification",
            late,
            "ana",
            None,
        )
        .unwrap_err();
        assert!(err.contains("late"), "{err}");
        submit(
            &mut c,
            Regime::Dora,
            "initial_notification",
            late,
            "ana",
            Some("classified late"),
        )
        .unwrap();
        let d = &c.deadlines[0];
        assert_eq!(
            (d.state.as_str(), d.late_reason.as_deref()),
            ("late", Some("classified late"))
        );
        assert_eq!(
            due_of(&c, Regime::Dora, "intermediate_report").unwrap(),
            "2026-03-06T10:30:00.000000Z"
        );
        submit(
            &mut c,
            Regime::Dora,
            "intermediate_report",
            t("2026-03-05T10:00:00Z"),
            "ana",
            None,
        )
        .unwrap();
        assert_eq!(
            due_of(&c, Regime::Dora, "final_report").unwrap(),
            "2026-04-05T10:00:00.000000Z"
        );
    }

    #[test]
    fn gdpr_is_72h_and_states_follow_the_clock() {
        let mut c = flagged(&[Regime::Gdpr], "2026-05-31T23:00:00Z", None);
        assert_eq!(
            due_of(&c, Regime::Gdpr, "notification").unwrap(),
            "2026-06-03T23:00:00.000000Z"
        );
        assert_eq!(c.deadlines[0].state, "due");
        recompute(&mut c, t("2026-06-04T00:00:00Z"));
        assert_eq!(c.deadlines[0].state, "late");
        let err = submit(&mut c, Regime::Nis2, "notification", 0, "x", None).unwrap_err();
        assert_eq!(err, "the incident is not flagged nis2");
    }

    #[test]
    fn months_end_on_the_last_day() {
        assert_eq!(
            format_rfc3339(add_month(t("2026-01-31T12:00:00Z"))),
            "2026-02-28T12:00:00.000000Z"
        );
    }
}
