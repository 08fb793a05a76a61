//! The append-only, hash-chained timeline. Each entry's hash covers its
//! content and the previous entry's hash; the incident keeps the head, so
//! a changed, removed, reordered or truncated entry breaks verification.

use std::collections::BTreeSet;

use serde::Serialize;
use sha2::{Digest, Sha256};
use watchfloor_model::incident::{
    Domain, Grade, Incident, Pap, Phase, Raci, Regime, SlaState, Status, TaskStatus, TimelineEntry,
    Tlp,
};
use watchfloor_model::Severity;

use crate::sla::SlaEvent;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to record: the chain position and hash are added by [`chain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub time_ns: i64,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

impl Draft {
    /// What happened, by whom, when. The event becomes the entry's
    /// `action` (its snake_case name) and `detail` (its fields, in order).
    pub fn new(time_ns: i64, actor: &str, event: TimelineEvent<'_>) -> Draft {
        let (action, detail) = event.into_parts();
        Draft {
            time_ns,
            actor: actor.into(),
            action,
            detail,
        }
    }
}

/// Everything a timeline records. The stored form (action name, detail
/// fields in this order) is what the hash chain covers, so a variant's
/// name and fields never change once released; add variants instead.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", content = "detail", rename_all = "snake_case")]
pub enum TimelineEvent<'a> {
    Opened {
        #[serde(rename = "type")]
        kind: &'a str,
        domain: Domain,
        priority: u8,
        severity: Severity,
        sla: &'a SlaState,
    },
    AlertAdded {
        alert: i64,
        rule: &'a str,
        title: &'a str,
        level: Severity,
        parent: Option<&'a str>,
    },
    Status {
        from: Status,
        to: Status,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<&'a str>,
    },
    Phase {
        from: Option<Phase>,
        to: Phase,
        csf: &'a str,
    },
    /// A new priority: from the impact and urgency set by hand, or raised
    /// `because` a more severe alert joined.
    Priority {
        #[serde(skip_serializing_if = "Option::is_none")]
        impact: Option<Grade>,
        #[serde(skip_serializing_if = "Option::is_none")]
        urgency: Option<Grade>,
        from: u8,
        to: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        because: Option<String>,
    },
    Assigned {
        from: Option<&'a str>,
        to: Option<&'a str>,
    },
    Team {
        from: Option<&'a str>,
        to: Option<&'a str>,
    },
    Title {
        from: &'a str,
        to: &'a str,
    },
    Description {
        to: &'a str,
    },
    Type {
        from: &'a str,
        to: &'a str,
    },
    Assets {
        from: &'a BTreeSet<String>,
        to: &'a BTreeSet<String>,
    },
    Services {
        from: &'a BTreeSet<String>,
        to: &'a BTreeSet<String>,
    },
    Attack {
        from: &'a BTreeSet<String>,
        to: &'a BTreeSet<String>,
    },
    /// The post-incident review, as it now is.
    Review {
        lessons_learned: &'a str,
        controls: &'a [watchfloor_model::incident::ReviewControl],
    },
    Comment {
        id: u32,
        text: &'a str,
    },
    /// An e-mail queued to people outside the directory (by a playbook).
    EmailQueued {
        to: &'a [String],
        subject: &'a str,
    },
    /// A playbook run's moment: started, an approval asked, answered or
    /// decided, a step done or failed, undoing, finished.
    Playbook {
        run: i64,
        playbook: &'a str,
        event: &'a str,
        detail: &'a serde_json::Value,
    },
    TaskCreated {
        id: u32,
        title: &'a str,
        team: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        activity: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        raci: Option<Raci>,
    },
    TaskUpdated {
        id: u32,
        status: TaskStatus,
        assignee: Option<&'a str>,
    },
    ObservableAdded {
        id: u32,
        kind: &'a str,
        value: &'a str,
        tlp: Tlp,
        pap: Pap,
        ioc: bool,
    },
    /// An observable classified again.
    ObservableClassified {
        id: u32,
        tlp: Tlp,
        pap: Pap,
        ioc: bool,
    },
    ComplianceFlagged {
        regimes: &'a BTreeSet<Regime>,
        aware_ns: Option<i64>,
        classified_ns: Option<i64>,
        deadlines: Vec<DeadlineDue<'a>>,
    },
    ReportSubmitted {
        regime: Regime,
        report: &'a str,
        late_reason: Option<&'a str>,
    },
    MergedFrom {
        incident: i64,
        reason: &'a str,
    },
    MergedInto {
        incident: i64,
        reason: &'a str,
    },
    SplitFrom {
        incident: i64,
        alerts: &'a [i64],
        reason: &'a str,
    },
    SplitInto {
        incident: i64,
        alerts: &'a [i64],
        reason: &'a str,
    },
    SlaAcknowledgeWarning {
        priority: u8,
        due_ns: i64,
    },
    SlaAcknowledgeBreach {
        priority: u8,
        due_ns: i64,
    },
    SlaResolveWarning {
        priority: u8,
        due_ns: i64,
    },
    SlaResolveBreach {
        priority: u8,
        due_ns: i64,
    },
    EscalationStarted {
        policy: &'a str,
    },
    EscalationStopped {
        policy: &'a str,
        reason: &'a str,
    },
    Escalated {
        policy: &'a str,
        round: u32,
        step: u32,
        targets: Vec<String>,
        notified: &'a [String],
        problems: &'a [String],
    },
    EscalationExhausted {
        policy: &'a str,
        steps_fired: u32,
    },
    /// A RACI notice handed to a team's channels.
    NoticeSent {
        team: &'a str,
        raci: Raci,
        activity: &'a str,
        notified: &'a [String],
        problems: &'a [String],
    },
    /// A team told (C or I) of an activity by the RACI matrix.
    Notified {
        team: &'a str,
        raci: Raci,
        activity: &'a str,
    },
}

/// One compliance deadline as the timeline records it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlineDue<'a> {
    pub regime: Regime,
    pub report: &'a str,
    /// None until the clock starts (e.g. before classification).
    pub due_ns: Option<i64>,
}

impl TimelineEvent<'_> {
    /// The SLA timer event of this kind.
    pub fn sla(event: SlaEvent, priority: u8, due_ns: i64) -> TimelineEvent<'static> {
        match event {
            SlaEvent::AcknowledgeWarning => {
                TimelineEvent::SlaAcknowledgeWarning { priority, due_ns }
            }
            SlaEvent::AcknowledgeBreach => TimelineEvent::SlaAcknowledgeBreach { priority, due_ns },
            SlaEvent::ResolveWarning => TimelineEvent::SlaResolveWarning { priority, due_ns },
            SlaEvent::ResolveBreach => TimelineEvent::SlaResolveBreach { priority, due_ns },
        }
    }

    /// The stored `action` and `detail`.
    fn into_parts(self) -> (String, serde_json::Value) {
        match serde_json::to_value(&self) {
            Ok(serde_json::Value::Object(mut m)) => {
                let action = match m.remove("action") {
                    Some(serde_json::Value::String(a)) => a,
                    _ => String::new(),
                };
                (action, m.remove("detail").unwrap_or_default())
            }
            // Every variant is a struct of plain values: not reached.
            _ => (String::new(), serde_json::Value::Null),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The hash of one entry: every field, length-prefixed so no two
/// different entries hash the same input.
pub fn entry_hash(e: &TimelineEntry) -> String {
    let detail = e.detail.to_string();
    let mut h = Sha256::new();
    h.update(b"watchfloor-timeline-v1\0");
    h.update(e.incident_id.to_le_bytes());
    h.update(e.seq.to_le_bytes());
    h.update(e.time_ns.to_le_bytes());
    for part in [
        e.actor.as_str(),
        e.action.as_str(),
        detail.as_str(),
        e.prev_hash.as_str(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Chains drafts onto the incident's timeline head and moves the head.
pub fn chain(incident: &mut Incident, drafts: Vec<Draft>) -> Vec<TimelineEntry> {
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let prev_hash = if incident.timeline_seq == 0 {
            GENESIS.to_string()
        } else {
            incident.timeline_hash.clone()
        };
        let mut entry = TimelineEntry {
            incident_id: incident.id,
            seq: incident.timeline_seq + 1,
            time_ns: d.time_ns,
            actor: d.actor,
            action: d.action,
            detail: d.detail,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        incident.timeline_seq = entry.seq;
        incident.timeline_hash.clone_from(&entry.hash);
        out.push(entry);
    }
    out
}

/// Where a timeline stops verifying.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    /// The first entry that does not verify (or the missing one).
    pub seq: i64,
    pub reason: String,
}

/// Checks every entry in order, then that the last one is the head the
/// incident recorded.
pub fn verify(incident: &Incident, entries: &[TimelineEntry]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let seq = i as i64 + 1;
        let broken = |reason: String| Err(ChainBreak { seq, reason });
        if e.seq != seq {
            return broken(format!(
                "entry {seq} is missing (found {} in its place)",
                e.seq
            ));
        }
        if e.incident_id != incident.id {
            return broken(format!("entry {seq} belongs to incident {}", e.incident_id));
        }
        if e.prev_hash != prev {
            return broken(format!("entry {seq} does not follow entry {}", seq - 1));
        }
        if entry_hash(e) != e.hash {
            return broken(format!("entry {seq} was changed after it was written"));
        }
        prev.clone_from(&e.hash);
    }
    let last = entries.len() as i64;
    if last != incident.timeline_seq || (last > 0 && prev != incident.timeline_hash) {
        return Err(ChainBreak {
            seq: last + 1,
            reason: format!(
                "the timeline ends at entry {last} but the incident recorded {} entries",
                incident.timeline_seq
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod event_tests {
    use serde_json::json;

    use super::*;

    /// The stored text (action, and detail with its keys in order) is what
    /// the hash chain covers: these are the shapes written before the
    /// events were typed, byte for byte.
    #[test]
    fn events_keep_the_stored_shape() {
        let status = Draft::new(
            1,
            "ana",
            TimelineEvent::Status {
                from: Status::New,
                to: Status::Acknowledged,
                via: Some("notification link"),
            },
        );
        assert_eq!(status.action, "status");
        assert_eq!(
            status.detail.to_string(),
            json!({"from": "new", "to": "acknowledged", "via": "notification link"}).to_string()
        );
        let raised = Draft::new(
            1,
            "system",
            TimelineEvent::Priority {
                impact: None,
                urgency: None,
                from: 3,
                to: 2,
                because: Some("a high alert joined".into()),
            },
        );
        assert_eq!(
            raised.detail.to_string(),
            r#"{"from":3,"to":2,"because":"a high alert joined"}"#
        );
        let set = Draft::new(
            1,
            "ana",
            TimelineEvent::Priority {
                impact: Some(Grade::High),
                urgency: Some(Grade::Low),
                from: 3,
                to: 3,
                because: None,
            },
        );
        assert_eq!(
            set.detail.to_string(),
            r#"{"impact":"high","urgency":"low","from":3,"to":3}"#
        );
        let sla = Draft::new(
            5,
            "system",
            TimelineEvent::sla(SlaEvent::ResolveBreach, 1, 5),
        );
        assert_eq!(sla.action, "sla_resolve_breach");
        assert_eq!(sla.detail.to_string(), r#"{"priority":1,"due_ns":5}"#);
        let task = Draft::new(
            1,
            "system",
            TimelineEvent::TaskCreated {
                id: 2,
                title: "Contain",
                team: "soc",
                activity: Some("contain"),
                raci: Some(Raci::R),
            },
        );
        assert_eq!(task.action, "task_created");
        assert_eq!(
            task.detail.to_string(),
            r#"{"id":2,"title":"Contain","team":"soc","activity":"contain","raci":"R"}"#
        );
        let opened = Draft::new(
            1,
            "system",
            TimelineEvent::Opened {
                kind: "intrusion",
                domain: Domain::Security,
                priority: 2,
                severity: Severity::High,
                sla: &SlaState::default(),
            },
        );
        assert!(
            opened.detail.to_string().starts_with(
                r#"{"type":"intrusion","domain":"security","priority":2,"severity":"high","sla":"#
            ),
            "{}",
            opened.detail
        );
    }
}
