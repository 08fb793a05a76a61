//! Incidents: what both crews work. The types only; the rules that move
//! them (grouping, lifecycle, RACI, SLAs, clocks) live in the `incident`
//! crate, and their storage behind the `store` traits.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Which crew an incident (or an incident type) belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Security,
    Operations,
    Both,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Security => "security",
            Domain::Operations => "operations",
            Domain::Both => "both",
        }
    }

    /// Security incidents follow the NIST / ISO 27035 phases.
    pub fn has_phases(self) -> bool {
        self != Domain::Operations
    }
}

/// Impact or urgency on ITIL's three-step scale.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    High,
    Medium,
    Low,
}

impl Grade {
    pub const ALL: [Grade; 3] = [Grade::High, Grade::Medium, Grade::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::High => "high",
            Grade::Medium => "medium",
            Grade::Low => "low",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where an incident stands. Operations incidents use ITIL's incident
/// states; security incidents use the same states plus a [`Phase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Acknowledged,
    InProgress,
    OnHold,
    Resolved,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::OnHold => "on_hold",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Still needs work (grouping attaches new alerts only to open incidents).
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }
}

/// Response phases of a security incident: NIST SP 800-61 and ISO/IEC 27035
/// (each maps to a NIST CSF 2.0 function, see [`Phase::csf_function`]).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Detection,
    Analysis,
    Containment,
    Eradication,
    Recovery,
    PostIncident,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Detection,
        Phase::Analysis,
        Phase::Containment,
        Phase::Eradication,
        Phase::Recovery,
        Phase::PostIncident,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Detection => "detection",
            Phase::Analysis => "analysis",
            Phase::Containment => "containment",
            Phase::Eradication => "eradication",
            Phase::Recovery => "recovery",
            Phase::PostIncident => "post_incident",
        }
    }

    /// The NIST CSF 2.0 function SP 800-61r3 places this work under.
    pub fn csf_function(self) -> &'static str {
        match self {
            Phase::Detection | Phase::Analysis => "DE",
            Phase::Containment | Phase::Eradication => "RS",
            Phase::Recovery => "RC",
            Phase::PostIncident => "ID.IM",
        }
    }
}

/// The entities an incident concerns: what grouping compares.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Entities {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hosts: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub users: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub ips: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub services: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub domains: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub urls: BTreeSet<String>,
    /// File hashes (hex).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub hashes: BTreeSet<String>,
    /// Process executables.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub processes: BTreeSet<String>,
}

impl Entities {
    fn sets(&self) -> [&BTreeSet<String>; 8] {
        [
            &self.hosts,
            &self.users,
            &self.ips,
            &self.services,
            &self.domains,
            &self.urls,
            &self.hashes,
            &self.processes,
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.sets().iter().all(|s| s.is_empty())
    }

    /// True when the two share any host, user, IP, service, domain, URL or
    /// hash. Processes are left out: `cmd.exe` on two machines says nothing
    /// about one attack.
    pub fn overlaps(&self, other: &Entities) -> bool {
        fn any(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
            a.iter().any(|x| b.contains(x))
        }
        let (mine, theirs) = (self.sets(), other.sets());
        mine.iter()
            .zip(theirs.iter())
            .take(7)
            .any(|(a, b)| any(a, b))
    }

    pub fn extend(&mut self, other: &Entities) {
        self.hosts.extend(other.hosts.iter().cloned());
        self.users.extend(other.users.iter().cloned());
        self.ips.extend(other.ips.iter().cloned());
        self.services.extend(other.services.iter().cloned());
        self.domains.extend(other.domains.iter().cloned());
        self.urls.extend(other.urls.iter().cloned());
        self.hashes.extend(other.hashes.iter().cloned());
        self.processes.extend(other.processes.iter().cloned());
    }

    /// (observable kind, value) of each entity an analyst would record as
    /// an observable (services are the NOC's, not observables).
    pub fn observables(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let kinds: [(&'static str, &BTreeSet<String>); 7] = [
            ("ip", &self.ips),
            ("domain", &self.domains),
            ("url", &self.urls),
            ("hash", &self.hashes),
            ("user", &self.users),
            ("host", &self.hosts),
            ("file", &self.processes),
        ];
        kinds
            .into_iter()
            .flat_map(|(kind, set)| set.iter().map(move |v| (kind, v.as_str())))
    }
}

/// One distinct alert of an incident; repeats of the same rule on the same
/// entities raise `count` instead of adding an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IncidentAlert {
    /// The first alert's id.
    pub alert_id: i64,
    /// Rule and entities: what makes two alerts the same.
    pub dedup_key: String,
    pub rule: String,
    pub level: crate::Severity,
    pub count: u64,
    #[serde(default)]
    pub entities: Entities,
    pub first_ns: i64,
    pub last_ns: i64,
    /// The alert this one is a consequence of (root-cause grouping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// Traffic Light Protocol 2.0 and Permissible Actions Protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tlp {
    Clear,
    Green,
    Amber,
    AmberStrict,
    Red,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pap {
    Clear,
    Green,
    Amber,
    Red,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observable {
    pub id: u32,
    /// ip, domain, url, hash, email, host, user, file, other.
    pub kind: String,
    pub value: String,
    pub tlp: Tlp,
    pub pap: Pap,
    #[serde(default)]
    pub ioc: bool,
    pub added_ns: i64,
}

/// The four RACI letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Raci {
    R,
    A,
    C,
    I,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Task {
    pub id: u32,
    pub title: String,
    /// The RACI activity this task carries out, if it came from the matrix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    pub status: TaskStatus,
    pub created_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ns: Option<i64>,
    /// The idempotency key of the playbook action that created it (a
    /// repeated action finds this task instead of adding another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Comment {
    pub id: u32,
    pub author: String,
    pub text: String,
    pub created_ns: i64,
    /// The idempotency key of the playbook action that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A team told about an incident because the RACI matrix says C or I.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Notice {
    pub team: String,
    pub raci: Raci,
    pub activity: String,
    pub time_ns: i64,
    /// Whether the notice has been handed to the team's channels.
    #[serde(default)]
    pub notified: bool,
}

/// Where an unacknowledged incident is in its escalation policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EscalationState {
    /// The policy chosen when the incident opened; `None` when no policy
    /// of the tenant applied.
    pub policy: Option<String>,
    /// Step delays count from here (the incident's creation).
    pub started_ns: i64,
    /// How many steps have fired, over all rounds.
    pub fired: u32,
    /// Set when the last step of the last round has fired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exhausted_ns: Option<i64>,
}

/// Targets of the incident's SLA and what has been recorded against them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SlaState {
    pub ack_due_ns: Option<i64>,
    pub resolve_due_ns: Option<i64>,
    /// When the warning before each target was recorded.
    #[serde(default)]
    pub ack_warned_ns: Option<i64>,
    #[serde(default)]
    pub ack_breached_ns: Option<i64>,
    #[serde(default)]
    pub resolve_warned_ns: Option<i64>,
    #[serde(default)]
    pub resolve_breached_ns: Option<i64>,
}

/// A regulation whose reporting clock an incident can start.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// NIS2 (EU 2022/2555) article 23: significant incident.
    Nis2,
    /// DORA (EU 2022/2554) article 19: major ICT-related incident.
    Dora,
    /// GDPR article 33: personal data breach.
    Gdpr,
}

impl Regime {
    pub fn as_str(self) -> &'static str {
        match self {
            Regime::Nis2 => "nis2",
            Regime::Dora => "dora",
            Regime::Gdpr => "gdpr",
        }
    }
}

/// One report owed to a regulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Deadline {
    pub regime: Regime,
    /// e.g. `early_warning`, `notification`, `final_report`.
    pub report: String,
    /// None while the time it counts from is not known yet (a DORA
    /// intermediate report counts from the initial notification).
    pub due_ns: Option<i64>,
    /// What the due time counts from, in words.
    pub basis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_reason: Option<String>,
    /// `pending` (due time not known yet), `due`, `submitted` or `late`,
    /// as of the last time it was read.
    #[serde(default)]
    pub state: String,
}

/// Regulatory flags and the times their clocks count from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Compliance {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub regimes: BTreeSet<Regime>,
    /// When the organisation became aware of the incident.
    pub aware_ns: Option<i64>,
    /// When it was classified significant / major / a personal-data breach.
    pub classified_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deadlines: Vec<Deadline>,
}

/// The post-incident review: what was learned, and the controls to add
/// so it does not happen again, each with an owner and a due date.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    #[serde(default)]
    pub lessons_learned: String,
    #[serde(default)]
    pub controls: Vec<ReviewControl>,
}

impl Review {
    pub fn is_empty(&self) -> bool {
        self.lessons_learned.is_empty() && self.controls.is_empty()
    }
}

/// A control to add after an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewControl {
    /// What to put in place.
    pub control: String,
    /// The ATT&CK mitigation it carries out (`M1017`), if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitigation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Due date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<String>,
    #[serde(default)]
    pub done: bool,
}

/// An incident, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Incident {
    pub id: i64,
    pub tenant: String,
    /// Raised by every change; a write naming an older version is refused.
    pub version: i64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub domain: Domain,
    /// A key of the incident type catalog (`phishing`, `ddos`, `outage`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// Highest alert level.
    pub severity: crate::Severity,
    pub impact: Grade,
    pub urgency: Grade,
    /// 1 (critical) to 5 (planning), from the priority matrix.
    pub priority: u8,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub created_ns: i64,
    pub updated_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_ns: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_ns: Option<i64>,
    /// Set when this incident was merged into another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
    #[serde(default)]
    pub entities: Entities,
    #[serde(default)]
    pub alerts: Vec<IncidentAlert>,
    #[serde(default)]
    pub observables: Vec<Observable>,
    #[serde(default)]
    pub tasks: Vec<Task>,
    #[serde(default)]
    pub comments: Vec<Comment>,
    #[serde(default)]
    pub notices: Vec<Notice>,
    #[serde(default)]
    pub assets: BTreeSet<String>,
    #[serde(default)]
    pub services: BTreeSet<String>,
    /// MITRE ATT&CK technique and tactic tags (`attack.t1110`).
    #[serde(default)]
    pub attack: BTreeSet<String>,
    /// The post-incident review (NIST SP 800-61 "lessons learned", ISO
    /// 27035's improvements).
    #[serde(default, skip_serializing_if = "Review::is_empty")]
    pub review: Review,
    #[serde(default)]
    pub sla: SlaState,
    #[serde(default)]
    pub compliance: Compliance,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationState>,
    /// Sequence number and hash of the last timeline entry: the head of
    /// the chain, so removing the newest entries is detected too.
    #[serde(default)]
    pub timeline_seq: i64,
    #[serde(default)]
    pub timeline_hash: String,
}

impl Incident {
    /// The SLA target the incident runs against now: `acknowledge` until it
    /// is acknowledged, then `resolve`, with its due time.
    pub fn next_sla_target(&self) -> Option<(&'static str, i64)> {
        match (
            self.acknowledged_ns,
            self.sla.ack_due_ns,
            self.sla.resolve_due_ns,
        ) {
            (None, Some(ack), _) => Some(("acknowledge", ack)),
            (_, _, Some(resolve)) => Some(("resolve", resolve)),
            _ => None,
        }
    }
}

/// One line of an incident's timeline: append-only and hash-chained, so a
/// changed or removed line breaks the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimelineEntry {
    pub incident_id: i64,
    /// 1, 2, 3, ... per incident.
    pub seq: i64,
    pub time_ns: i64,
    /// Who did it: a user, a token name, or `system`.
    pub actor: String,
    /// What happened: `opened`, `alert_added`, `status`, `sla_breach`, ...
    pub action: String,
    pub detail: serde_json::Value,
    /// Hex SHA-256 of the previous entry (zeros for the first).
    pub prev_hash: String,
    pub hash: String,
}
