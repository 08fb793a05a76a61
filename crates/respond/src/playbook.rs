//! Playbooks: YAML documents of steps that form a graph. A step is an
//! action (a connector and its inputs), an approval, or a wait; it names
//! where the run goes next, where it goes on error, and the step that undoes
//! it. Loading collects every problem of a document (and of a directory)
//! with the step it concerns, like the rule loader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::actions;
use crate::expr;

/// The target that ends a run (successfully, or denied after an approval).
pub const END: &str = "end";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub trigger: Trigger,
    /// The whole run's limit; past it the run stops and undoes what it did.
    #[serde(default = "default_run_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// Inputs of a run started by hand, with their defaults (`params.NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
    pub steps: Vec<Step>,
}

fn default_run_timeout() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// What starts a run by itself. Any listed match starts it; `manual` says
/// whether people (console, API) may start it too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// Incident types (`ddos`, `phishing`, `link-failure`): a run when such
    /// an incident opens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incident_types: Vec<String>,
    /// Alert rule ids or titles: a run when an incident opens on such an alert.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Alert tags (`attack.t1566`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default = "yes")]
    pub manual: bool,
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger {
            incident_types: Vec::new(),
            rules: Vec::new(),
            tags: Vec::new(),
            manual: true,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A connector's name (`nftables.add`, `http.request`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The action's inputs: values, or templates over the run's context.
    #[serde(default, rename = "with", skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// A durable pause (`10m`, or a template giving one such as
    /// `"{{ params.block_for }}"`): the run sleeps, restarts included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<String>,
    /// An expression; when false the step is skipped and the run goes on.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// An expression giving a list: the action runs once per element
    /// (`item`, `index` in the inputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    #[serde(default, skip_serializing_if = "Retry::is_once")]
    pub retry: Retry,
    /// Each attempt's limit.
    #[serde(default = "default_step_timeout", with = "duration_text")]
    pub timeout: Duration,
    /// Where to go after success (default: the next step in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Where to go when the step fails for good (default: undo and fail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// The step that undoes this one, run when the run fails, times out or
    /// is cancelled with compensation after this step succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensate: Option<String>,
    /// For approvals: where an approval leads (default: the next step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<String>,
    /// For approvals: where a denial leads (default: end, outcome denied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<String>,
}

fn default_step_timeout() -> Duration {
    Duration::from_secs(30)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Tries in all (1: no retry).
    #[serde(default = "one")]
    pub attempts: u32,
    /// The first pause; each next one doubles, up to `max_backoff`.
    #[serde(default = "default_backoff", with = "duration_text")]
    pub backoff: Duration,
    #[serde(default = "default_max_backoff", with = "duration_text")]
    pub max_backoff: Duration,
}

fn one() -> u32 {
    1
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl Retry {
    fn is_once(&self) -> bool {
        *self == Retry::default()
    }

    /// The pause after failed attempt `attempt` (1-based).
    pub fn pause_after(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        doubled.min(self.max_backoff)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Distinct people who must approve (two for four-eyes).
    #[serde(default = "one")]
    pub approvers: u32,
    /// Roles allowed to answer (empty: any role that works incidents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// On-call teams whose members may answer (empty: anyone of the roles);
    /// their on-call people are notified.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Whether whoever started the run may approve it.
    #[serde(default)]
    pub self_approval: bool,
    #[serde(default = "default_deadline", with = "duration_text")]
    pub deadline: Duration,
    #[serde(default)]
    pub on_deadline: OnDeadline,
    /// What the approver reads (a template).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The steps whose rendered actions the approver sees; those steps then
    /// run exactly as shown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shows: Vec<String>,
    /// An expression: when true as the approval is asked, it is granted at
    /// once (an auto-approve policy, e.g. `params.auto_approve`); the
    /// request and the reason are logged all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_approve: Option<String>,
}

fn default_deadline() -> Duration {
    Duration::from_secs(3600)
}

/// What a passing deadline does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDeadline {
    #[default]
    Deny,
    Approve,
    /// Notify the teams' on-call people and wait one more deadline; deny
    /// if it passes too.
    Escalate,
}

/// What kind of step a step is (exactly one of action, approval, wait).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepKind<'a> {
    Action(&'a str),
    Approval(&'a Approval),
    Wait(&'a str),
}

impl Step {
    pub fn kind(&self) -> Option<StepKind<'_>> {
        match (&self.action, &self.approval, &self.wait) {
            (Some(a), None, None) => Some(StepKind::Action(a)),
            (None, Some(a), None) => Some(StepKind::Approval(a)),
            (None, None, Some(w)) => Some(StepKind::Wait(w)),
            _ => None,
        }
    }
}

impl Playbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Where the run goes after `id` succeeds: its `next`, else the
    /// following step in the list, else the end.
    pub fn after(&self, id: &str) -> String {
        let Some(pos) = self.steps.iter().position(|s| s.id == id) else {
            return END.into();
        };
        if let Some(next) = &self.steps[pos].next {
            return next.clone();
        }
        self.steps
            .get(pos + 1)
            .map(|s| s.id.clone())
            .unwrap_or_else(|| END.into())
    }

    /// The first step, where every run starts.
    pub fn first(&self) -> &str {
        self.steps.first().map(|s| s.id.as_str()).unwrap_or(END)
    }

    /// Whether a trigger fires for an incident of `kind` opened on alerts
    /// with these rules and tags.
    pub fn triggered_by(&self, kind: &str, rules: &[&str], tags: &[&str]) -> bool {
        let t = &self.trigger;
        t.incident_types.iter().any(|k| k == kind)
            || t.rules.iter().any(|r| rules.contains(&r.as_str()))
            || t.tags.iter().any(|g| tags.contains(&g.as_str()))
    }

    /// Every problem of the playbook, each naming its step.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !is_name(&self.id) {
            problems.push(format!(
                "id {:?}: use lowercase letters, digits, '-' and '_'",
                self.id
            ));
        }
        if self.steps.is_empty() {
            problems.push("no steps".into());
        }
        let mut ids = BTreeSet::new();
        for step in &self.steps {
            if !ids.insert(step.id.as_str()) {
                problems.push(format!("step {:?}: defined twice", step.id));
            }
            if step.id == END || !is_name(&step.id) {
                problems.push(format!(
                    "step {:?}: a step id is lowercase letters, digits, '-' and '_', and not {END:?}",
                    step.id
                ));
            }
        }
        for step in &self.steps {
            for p in self.step_problems(step, &ids) {
                problems.push(format!("step {:?}: {p}", step.id));
            }
        }
        problems.extend(self.unreachable_steps());
        problems
    }

    fn step_problems(&self, step: &Step, ids: &BTreeSet<&str>) -> Vec<String> {
        let mut problems = Vec::new();
        match step.kind() {
            None => problems.push("needs exactly one of `action`, `approval` or `wait`".into()),
            Some(StepKind::Action(name)) => {
                problems.extend(actions::input_problems(name, &step.inputs));
            }
            Some(StepKind::Approval(a)) => problems.extend(approval_problems(a, ids)),
            Some(StepKind::Wait(w)) => {
                if let Err(e) = wait_problem(w) {
                    problems.push(format!("wait: {e}"));
                }
            }
        }
        let not_an_action = step
            .kind()
            .is_some_and(|k| !matches!(k, StepKind::Action(_)));
        let action_fields =
            !step.inputs.is_empty() || step.for_each.is_some() || step.compensate.is_some();
        if not_an_action && action_fields {
            problems.push("`with`, `for_each` and `compensate` belong to action steps".into());
        }
        if step.approval.is_none() && (step.approved.is_some() || step.denied.is_some()) {
            problems.push("`approved` and `denied` belong to approval steps".into());
        }
        for (what, target) in [
            ("next", &step.next),
            ("on_error", &step.on_error),
            ("approved", &step.approved),
            ("denied", &step.denied),
        ] {
            if let Some(t) = target.as_deref().filter(|t| *t != END && !ids.contains(t)) {
                problems.push(format!("{what}: no step {t:?}"));
            }
        }
        if let Some(c) = &step.compensate {
            match self.step(c) {
                None => problems.push(format!("compensate: no step {c:?}")),
                Some(s) if s.action.is_none() => {
                    problems.push(format!("compensate: step {c:?} is not an action"))
                }
                Some(_) => {}
            }
        }
        if step.retry.attempts == 0 {
            problems.push("retry.attempts: at least 1".into());
        }
        if step.timeout.is_zero() {
            problems.push("timeout: more than zero".into());
        }
        for (what, source) in [("if", &step.condition), ("for_each", &step.for_each)] {
            if let Some(Err(e)) = source.as_deref().map(expr::check_expression) {
                problems.push(format!("{what}: {e}"));
            }
        }
        for (key, value) in &step.inputs {
            if let Err(e) = expr::check_value(value) {
                problems.push(format!("with.{key}: {e}"));
            }
        }
        problems
    }

    /// Steps that no path from the first step (nor any compensation) reaches.
    fn unreachable_steps(&self) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.first().to_string()];
        while let Some(id) = todo.pop() {
            let Some(step) = self.step(&id) else { continue };
            if !seen.insert(id.clone()) {
                continue;
            }
            todo.push(self.after(&id));
            todo.extend(step.on_error.iter().cloned());
            todo.extend(step.compensate.iter().cloned());
            todo.extend(step.approved.iter().cloned());
            todo.extend(step.denied.iter().cloned());
        }
        self.steps
            .iter()
            .filter(|s| !seen.contains(&s.id))
            .map(|s| format!("step {:?}: no path from the first step reaches it", s.id))
            .collect()
    }
}

/// A wait is a duration, or a template that gives one when the run gets there.
fn wait_problem(text: &str) -> Result<(), String> {
    if text.contains("{{") {
        return expr::check_template(text);
    }
    parse_duration(text).map(|_| ())
}

/// `30s`, `15m`, `2h 30m`, with the reason when it is not one.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like 30s, 15m or 2h ({e})"))
}

fn approval_problems(a: &Approval, ids: &BTreeSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    if a.approvers == 0 {
        problems.push("approval.approvers: at least 1".into());
    }
    for role in &a.roles {
        if !ROLES.contains(&role.as_str()) {
            problems.push(format!(
                "approval.roles: {role:?} is not one of {}",
                ROLES.join(", ")
            ));
        }
    }
    for shown in &a.shows {
        if !ids.contains(shown.as_str()) {
            problems.push(format!("approval.shows: no step {shown:?}"));
        }
    }
    if let Err(e) = expr::check_template(&a.message) {
        problems.push(format!("approval.message: {e}"));
    }
    if let Some(Err(e)) = a.auto_approve.as_deref().map(expr::check_expression) {
        problems.push(format!("approval.auto_approve: {e}"));
    }
    problems
}

/// The roles that may be asked to approve (the API's roles that work
/// incidents).
pub const ROLES: [&str; 4] = ["admin", "soc_analyst", "noc_engineer", "incident_manager"];

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Why a playbook file did not load.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    /// The file (or `shipped:NAME`, or the API document's name).
    pub source: String,
    pub problems: Vec<String>,
}

/// Parses and checks one playbook document.
pub fn parse(text: &str) -> Result<Playbook, Vec<String>> {
    let playbook: Playbook = serde_yaml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let problems = playbook.problems();
    if problems.is_empty() {
        Ok(playbook)
    } else {
        Err(problems)
    }
}

/// The playbooks that ship in the binary (the floor's three cases).
pub const SHIPPED: [(&str, &str); 3] = [
    (
        "ddos-block.yml",
        include_str!("../playbooks/ddos-block.yml"),
    ),
    (
        "link-failover.yml",
        include_str!("../playbooks/link-failover.yml"),
    ),
    (
        "phishing-response.yml",
        include_str!("../playbooks/phishing-response.yml"),
    ),
];

/// The loaded playbooks, by id, and the files that were refused: the
/// shipped and the directory's for every tenant, and each tenant's own
/// (sent through the API, kept as tenant documents), which take the place
/// of a shared one of the same id for that tenant only.
#[derive(Debug, Clone, Default)]
pub struct Library {
    pub playbooks: BTreeMap<String, Playbook>,
    /// Where each playbook came from.
    pub sources: BTreeMap<String, String>,
    pub rejected: Vec<Rejection>,
    /// Each tenant's own playbooks, by id.
    pub tenants: BTreeMap<String, BTreeMap<String, Playbook>>,
}

/// The document kind of a tenant's playbook (its name is the id; the body
/// is `{"yaml": TEXT}`).
pub const DOCUMENT_KIND: &str = "playbook";

impl Library {
    /// The playbook `id` as `tenant` has it: its own, else the shared one.
    pub fn get(&self, tenant: &str, id: &str) -> Option<&Playbook> {
        self.tenants
            .get(tenant)
            .and_then(|own| own.get(id))
            .or_else(|| self.playbooks.get(id))
    }

    /// Every playbook `tenant` has (its own in place of shared ones of the
    /// same id), with where each came from.
    pub fn visible(&self, tenant: &str) -> Vec<(&Playbook, String)> {
        let own = self.tenants.get(tenant);
        let mut out: BTreeMap<&str, (&Playbook, String)> = self
            .playbooks
            .iter()
            .map(|(id, p)| {
                let source = self.sources.get(id).cloned().unwrap_or_default();
                (id.as_str(), (p, source))
            })
            .collect();
        for (id, p) in own.into_iter().flatten() {
            out.insert(id.as_str(), (p, format!("api:{tenant}")));
        }
        out.into_values().collect()
    }

    /// Adds (or replaces) a tenant's own playbook; its problems when it
    /// does not load.
    pub fn add_tenant(&mut self, tenant: &str, text: &str) -> Result<String, Vec<String>> {
        let playbook = parse(text)?;
        let id = playbook.id.clone();
        self.tenants
            .entry(tenant.to_string())
            .or_default()
            .insert(id.clone(), playbook);
        Ok(id)
    }

    /// Removes a tenant's own playbook; whether there was one.
    pub fn remove_tenant(&mut self, tenant: &str, id: &str) -> bool {
        self.tenants
            .get_mut(tenant)
            .is_some_and(|own| own.remove(id).is_some())
    }

    /// The shipped playbooks, then every `*.yml`/`*.yaml` of `dir` (a user
    /// playbook with a shipped one's id replaces it).
    pub fn load(dir: Option<&Path>) -> Library {
        let mut library = Library::default();
        for (name, text) in SHIPPED {
            library.add(format!("shipped:{name}"), text);
        }
        if let Some(dir) = dir {
            library.load_dir(dir);
        }
        library
    }

    fn load_dir(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.rejected.push(Rejection {
                    source: dir.display().to_string(),
                    problems: vec![format!("cannot read the directory: {e}")],
                });
                return;
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        files.sort();
        for path in files {
            let source = path.display().to_string();
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    self.add(source, &text);
                }
                Err(e) => self.rejected.push(Rejection {
                    source,
                    problems: vec![format!("cannot read: {e}")],
                }),
            }
        }
    }

    /// Adds one document; returns whether it loaded.
    pub fn add(&mut self, source: String, text: &str) -> bool {
        match parse(text) {
            Ok(playbook) => {
                let replaced = self.sources.get(&playbook.id).cloned();
                if let Some(earlier) = replaced.filter(|s| !s.starts_with("shipped:")) {
                    self.rejected.push(Rejection {
                        source,
                        problems: vec![format!(
                            "id {:?} is already defined in {earlier}",
                            playbook.id
                        )],
                    });
                    return false;
                }
                self.sources.insert(playbook.id.clone(), source);
                self.playbooks.insert(playbook.id.clone(), playbook);
                true
            }
            Err(problems) => {
                self.rejected.push(Rejection { source, problems });
                false
            }
        }
    }
}

/// Durations as people write them in YAML: `30s`, `15m`, `2h 30m`.
pub(crate) mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like 30s, 15m or 2h ({e})"
            ))
        })
    }
}
