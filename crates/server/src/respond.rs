//! Wiring of the respond room: the incident room as the connectors' host
//! and the runs' timeline, the runner's loop, and the triggers (incidents
//! as they open start the playbooks that name their type, rules or tags).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use watchfloor_incident::{Incidents, NewTask};
use watchfloor_model::incident::Incident;
use watchfloor_model::Alert;
use watchfloor_respond::actions::{Call, Host};
use watchfloor_respond::run::{Position, RunEvent, RunState};
use watchfloor_respond::runner::Recorder;
use watchfloor_respond::{Responder, StartRun};
use watchfloor_state::{RunRecord, StateStore};

/// The checkpoint of the triggers: the last incident id looked at.
const TRIGGER_CHECKPOINT: &str = "respond.triggers.after";

/// Incidents opened longer ago than this start no runs when first seen.
const TRIGGER_WINDOW_NS: i64 = 3600 * 1_000_000_000;

/// The incident room (and the event store and the indicators), as
/// playbooks see them.
pub struct Desk {
    pub incidents: Arc<Incidents>,
    pub events: Arc<dyn watchfloor_search::EventStore>,
    pub intel: Arc<watchfloor_intel::Intel>,
    pub state: Arc<dyn StateStore>,
    /// The indicator gauge the blocklist keeps true.
    pub pipeline_metrics: Arc<watchfloor_pipeline::PipelineMetrics>,
    /// Signs approvers' answer links.
    pub link_key: Vec<u8>,
    /// The base of links in messages (`[notify] public_url`).
    pub public_url: String,
}

/// The checkpoint key of the answer links' signing key.
const LINK_KEY: &str = "respond.link_key";

/// The key answer links are signed with: made once, kept in the state
/// store (links stay valid across restarts).
pub fn link_key(state: &dyn StateStore) -> Result<Vec<u8>, String> {
    if let Some(key) = state.get_checkpoint(LINK_KEY).map_err(|e| e.to_string())? {
        if key.len() >= 32 {
            return Ok(key);
        }
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no OS randomness: {e}"))?;
    state
        .put_checkpoints(&[(LINK_KEY, &key)])
        .map_err(|e| e.to_string())?;
    Ok(key)
}

impl Desk {
    /// Tells the approvers of a run's approval what waits for them: the
    /// teams' channels get the request and the console's link; each team
    /// member with an e-mail address gets a personal link that answers as
    /// them. Queued once per key (a restart re-sends nothing).
    fn approval_notices(
        &self,
        run: &RunRecord,
        step: &str,
        request: &watchfloor_respond::run::ApprovalRequest,
        escalated: bool,
    ) {
        let Some(incident_id) = run.incident_id else {
            return;
        };
        let Ok(incident) = self.incidents.get(&run.tenant, incident_id) else {
            return;
        };
        let mut teams = request.teams.clone();
        if teams.is_empty() {
            teams.extend(incident.team.clone());
        }
        let what = if escalated {
            "ESCALATED: approval"
        } else {
            "Approval"
        };
        let console = format!("{}/runs/{}", self.public_url, run.id);
        let shows = request
            .shows
            .iter()
            .map(|s| format!("  - {s}"))
            .collect::<Vec<_>>()
            .join("\n");
        let text = format!(
            "{what} needed for playbook {} on incident {incident_id}: {}\nIt will:\n{shows}\nAnswer: {console}",
            run.playbook, request.message
        );
        let key = format!("approval:{}:{step}:{}", run.id, u8::from(escalated));
        let directory =
            watchfloor_incident::notify::Directory::load(self.state.as_ref(), &run.tenant)
                .unwrap_or_default();
        let mut to: Vec<String> = teams.iter().map(|t| format!("team:{t}")).collect();
        if escalated {
            // Past the deadline: the incident's escalation policy's people
            // too (its on-call schedules, teams and users).
            let policy = directory.policy_for(&incident).map(|(_, p)| p);
            for target in policy
                .into_iter()
                .flat_map(|p| &p.steps)
                .flat_map(|s| &s.targets)
            {
                let t = target.to_string();
                if !to.contains(&t) {
                    to.push(t);
                }
            }
        }
        if let Err(e) = self
            .incidents
            .message(&run.tenant, incident_id, &key, &to, &text)
        {
            tracing::warn!(run = run.id, "approval notice: {e}");
        }
        let members: std::collections::BTreeSet<String> = teams
            .iter()
            .filter_map(|t| directory.teams.get(t))
            .flat_map(|t| t.members.clone())
            .collect();
        for user in members {
            let Some(address) = self.incidents.email_of(&run.tenant, &user) else {
                continue;
            };
            let claims = watchfloor_respond::links::Claims {
                tenant: run.tenant.clone(),
                run: run.id,
                step: step.to_string(),
                user: user.clone(),
                until_ns: request.deadline_ns,
            };
            let link = format!(
                "{}/approve/{}",
                self.public_url,
                watchfloor_respond::links::sign(&self.link_key, &claims)
            );
            let body = format!("{text}\n\nAnswer as {user}: {link}");
            let subject = format!("{what}: {} on incident {incident_id}", run.playbook);
            if let Err(e) = self.incidents.email_once(
                &run.tenant,
                incident_id,
                &format!("playbook run {}", run.id),
                &format!("{key}:{user}"),
                &[address],
                &subject,
                &body,
            ) {
                tracing::warn!(run = run.id, "approval e-mail to {user}: {e}");
            }
        }
    }
}

fn incident_of(call: &Call<'_>) -> Result<i64, String> {
    call.incident_id
        .ok_or_else(|| "the run has no incident (started without one)".to_string())
}

fn actor(call: &Call<'_>) -> String {
    format!("playbook run {}", call.run_id)
}

impl Host for Desk {
    fn add_task(
        &self,
        call: &Call<'_>,
        title: &str,
        team: &str,
        assignee: Option<&str>,
    ) -> Result<Value, String> {
        let task = NewTask {
            title: title.into(),
            team: team.into(),
            assignee: assignee.map(Into::into),
        };
        let id = self
            .incidents
            .add_task_once(
                call.tenant,
                incident_of(call)?,
                &actor(call),
                call.key,
                &task,
            )
            .map_err(|e| e.to_string())?;
        Ok(json!({"task": id, "team": team, "title": title}))
    }

    fn comment(&self, call: &Call<'_>, text: &str) -> Result<Value, String> {
        let id = self
            .incidents
            .comment_once(
                call.tenant,
                incident_of(call)?,
                &actor(call),
                call.key,
                text,
            )
            .map_err(|e| e.to_string())?;
        Ok(json!({"comment": id}))
    }

    fn notify(
        &self,
        call: &Call<'_>,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<Value, String> {
        let text = if body.is_empty() {
            subject.to_string()
        } else {
            format!("{subject}\n\n{body}")
        };
        let (sent, problems) = self
            .incidents
            .message(call.tenant, incident_of(call)?, call.key, to, &text)
            .map_err(|e| e.to_string())?;
        if sent.is_empty() {
            return Err(format!(
                "nobody could be addressed: {}",
                problems.join("; ")
            ));
        }
        Ok(json!({"sent": sent, "problems": problems}))
    }

    fn email(
        &self,
        call: &Call<'_>,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<Value, String> {
        let queued = self
            .incidents
            .email_once(
                call.tenant,
                incident_of(call)?,
                &actor(call),
                call.key,
                to,
                subject,
                body,
            )
            .map_err(|e| e.to_string())?;
        Ok(json!({ "queued": queued }))
    }

    fn search(
        &self,
        call: &Call<'_>,
        query: &str,
        from_ns: i64,
        limit: usize,
    ) -> Result<Vec<serde_json::Map<String, Value>>, String> {
        let page = self
            .events
            .search(&watchfloor_search::SearchRequest {
                query: query.to_string(),
                tenant: call.tenant.to_string(),
                from_ns: Some(from_ns),
                to_ns: None,
                limit,
                cursor: None,
            })
            .map_err(|e| format!("search {query:?}: {e}"))?;
        Ok(page.events.into_iter().map(|e| e.fields).collect())
    }

    fn block_indicators(
        &self,
        call: &Call<'_>,
        kind: &str,
        values: &[String],
        valid_for_secs: Option<u64>,
    ) -> Result<Value, String> {
        let kind: watchfloor_intel::Kind = serde_json::from_value(json!(kind))
            .map_err(|_| format!("`kind` {kind:?}: ip, domain, url, md5, sha1, sha256 or email"))?;
        let now = watchfloor_model::now_ns();
        let mut indicators = Vec::new();
        for v in values {
            let value =
                watchfloor_intel::normalize(kind, v).map_err(|e| format!("{v:?}: {}", e.reason))?;
            indicators.push(watchfloor_intel::Indicator {
                kind,
                value,
                source: format!("playbook run {}", call.run_id),
                confidence: 90,
                tlp: watchfloor_intel::Tlp::Amber,
                labels: vec!["blocked".into()],
                first_seen_ns: now,
                last_seen_ns: now,
                valid_until_ns: valid_for_secs
                    .map(|s| now.saturating_add((s as i64).saturating_mul(1_000_000_000))),
                sightings: 0,
            });
        }
        let report = crate::api::intel::import_and_store(
            &self.intel,
            self.state.as_ref(),
            &self.pipeline_metrics,
            call.tenant,
            indicators,
        )
        .map_err(|e| format!("storing the indicators: {e}"))?;
        Ok(
            json!({"kind": kind, "added": report.added, "merged": report.merged,
                  "values": values}),
        )
    }
}

/// The moments of a run worth the incident's timeline (not every retry).
fn timeline_detail(event: &RunEvent) -> Option<(&'static str, String, Value)> {
    let system = String::new();
    Some(match event {
        RunEvent::Started {
            trigger,
            started_by,
            ..
        } => ("started", started_by.clone(), json!({ "trigger": trigger })),
        RunEvent::ApprovalRequested { step, request } => (
            "approval_requested",
            system,
            json!({"step": step, "message": request.message, "shows": request.shows,
                   "approvers": request.approvers, "teams": request.teams,
                   "deadline_ns": request.deadline_ns}),
        ),
        RunEvent::ApprovalAnswered { step, answer } => (
            "approval_answered",
            answer.by.clone(),
            json!({"step": step, "decision": answer.decision, "comment": answer.comment,
                   "via": answer.via}),
        ),
        RunEvent::ApprovalDecided {
            step,
            decision,
            reason,
        } => (
            "approval_decided",
            system,
            json!({"step": step, "decision": decision, "reason": reason}),
        ),
        RunEvent::StepEntered { step, inputs } => (
            "step_started",
            system,
            json!({"step": step, "inputs": inputs}),
        ),
        RunEvent::StepSucceeded { step, output } => (
            "step_succeeded",
            system,
            json!({"step": step, "output": output}),
        ),
        RunEvent::StepFailed { step, error } => {
            ("step_failed", system, json!({"step": step, "error": error}))
        }
        RunEvent::CompensationStarted { reason, steps, .. } => (
            "compensating",
            system,
            json!({"reason": reason, "steps": steps}),
        ),
        RunEvent::CancelRequested { by, compensate } => (
            "cancel_requested",
            by.clone(),
            json!({"compensate": compensate}),
        ),
        RunEvent::Finished { outcome, error } => (
            "finished",
            system,
            json!({"outcome": outcome, "error": error}),
        ),
        _ => return None,
    })
}

impl Recorder for Desk {
    fn record(&self, run: &RunRecord, state: &RunState, event: &RunEvent) {
        let approving = match &state.position {
            Position::Approving(a) => Some(a),
            _ => None,
        };
        match (event, approving) {
            (RunEvent::ApprovalRequested { .. }, Some(a)) => {
                self.approval_notices(run, &a.step, &a.request, false)
            }
            (RunEvent::ApprovalEscalated { .. }, Some(a)) => {
                self.approval_notices(run, &a.step, &a.request, true)
            }
            _ => {}
        }
        let (Some(incident), Some((what, by, detail))) = (run.incident_id, timeline_detail(event))
        else {
            return;
        };
        let actor = if by.is_empty() {
            format!("playbook run {}", run.id)
        } else {
            by
        };
        if let Err(e) = self.incidents.record_run(
            &run.tenant,
            incident,
            &actor,
            run.id,
            &run.playbook,
            what,
            &detail,
        ) {
            tracing::warn!(run = run.id, incident, "playbook timeline: {e}");
        }
    }
}

/// The shared playbooks (shipped, `dir`) and every tenant's own (tenant
/// documents of kind `playbook`); a stored one that no longer loads is
/// listed as refused.
pub fn load_library(
    dir: Option<&std::path::Path>,
    default_tenant: &str,
    state: &dyn StateStore,
) -> watchfloor_respond::Library {
    let mut library = watchfloor_respond::Library::load(dir);
    let mut tenants: Vec<String> = state
        .list_tenants()
        .map(|t| t.into_iter().map(|t| t.name).collect())
        .unwrap_or_default();
    tenants.push(default_tenant.to_string());
    tenants.sort();
    tenants.dedup();
    for tenant in tenants {
        let docs = state
            .list_documents(&tenant, watchfloor_respond::playbook::DOCUMENT_KIND)
            .unwrap_or_default();
        for doc in docs {
            let text = doc.body["yaml"].as_str().unwrap_or_default();
            if let Err(problems) = library.add_tenant(&tenant, text) {
                library
                    .rejected
                    .push(watchfloor_respond::playbook::Rejection {
                        source: format!("api:{tenant}/{}", doc.name),
                        problems,
                    });
            }
        }
    }
    library
}

/// What a run's expressions see of an incident: the incident, its alerts
/// as stored (fields included), and the first of them as `alert`.
pub fn incident_context(state: &dyn StateStore, incident: &Incident) -> Value {
    context_of(incident, &incident_alerts(state, incident))
}

/// The incident's alerts as stored (an entry per grouped alert).
fn incident_alerts(state: &dyn StateStore, incident: &Incident) -> Vec<Alert> {
    incident
        .alerts
        .iter()
        .filter_map(|entry| {
            crate::api::alerts::alert_by_id(state, &incident.tenant, entry.alert_id)
                .ok()
                .flatten()
        })
        .collect()
}

fn context_of(incident: &Incident, alerts: &[Alert]) -> Value {
    json!({
        "incident": incident,
        "alert": alerts.first(),
        "alerts": alerts,
    })
}

/// Starts the runs new incidents trigger; returns how many.
fn start_triggered(responder: &Responder, state: &dyn StateStore) -> usize {
    let after = state
        .get_checkpoint(TRIGGER_CHECKPOINT)
        .ok()
        .flatten()
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map(i64::from_le_bytes)
        .unwrap_or(0);
    let incidents = match state.incidents_after(after, 200) {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!("playbook triggers: {e}");
            return 0;
        }
    };
    let mut started = 0;
    let oldest = watchfloor_model::now_ns() - TRIGGER_WINDOW_NS;
    // Old or finished incidents (an upgrade's history, a restart after a
    // long stop) do not start anything.
    let fresh = incidents
        .iter()
        .filter(|i| i.status.is_open() && i.created_ns >= oldest);
    for incident in fresh {
        let alerts = incident_alerts(state, incident);
        // Rules are named by title (the incident's entries) or id.
        let mut rules: Vec<&str> = incident.alerts.iter().map(|a| a.rule.as_str()).collect();
        rules.extend(alerts.iter().filter_map(|a| a.rule_id.as_deref()));
        let tags: Vec<&str> = alerts
            .iter()
            .flat_map(|a| a.tags.iter().map(String::as_str))
            .collect();
        let context = context_of(incident, &alerts);
        for playbook in responder.triggered(&incident.tenant, &incident.kind, &rules, &tags) {
            let start = StartRun {
                tenant: incident.tenant.clone(),
                playbook: playbook.clone(),
                incident_id: Some(incident.id),
                trigger: format!("incident:{}", incident.kind),
                started_by: "watchfloor".into(),
                context: context.clone(),
                params: Default::default(),
                dedup_key: Some(format!("incident:{}:{playbook}", incident.id)),
            };
            match responder.start(start) {
                Ok((_, true)) => started += 1,
                Ok((_, false)) => {}
                Err(e) => tracing::warn!(incident = incident.id, playbook, "trigger: {e}"),
            }
        }
    }
    if let Some(last) = incidents.last() {
        let bytes = last.id.to_le_bytes();
        if let Err(e) = state.put_checkpoints(&[(TRIGGER_CHECKPOINT, &bytes)]) {
            tracing::warn!("playbook triggers checkpoint: {e}");
        }
    }
    started
}

/// The runner's loop and the triggers' scan, until `stop`.
pub fn spawn(responder: Arc<Responder>, state: Arc<dyn StateStore>, stop: Arc<AtomicBool>) {
    if !responder.enabled() {
        return;
    }
    tokio::spawn(responder.clone().run_forever(Duration::from_millis(500)));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !stop.load(Ordering::Acquire) {
            tick.tick().await;
            let (r, s) = (responder.clone(), state.clone());
            let started = tokio::task::spawn_blocking(move || start_triggered(&r, s.as_ref()))
                .await
                .unwrap_or(0);
            if started > 0 {
                if let Err(e) = responder.drive_due() {
                    tracing::warn!("playbook runs: {e}");
                }
            }
        }
    });
}

/// What a reported message became.
#[derive(Debug, serde::Serialize)]
pub struct Reported {
    pub alert: i64,
    pub report: watchfloor_formats::email::EmailReport,
    pub assessment: watchfloor_intel::phishing::Assessment,
}

/// A reported phishing message (an `.eml`, or a report wrapping one):
/// parsed, judged against the tenant's indicators and warninglists, and
/// stored as the alert that opens the SOC's `phishing` incident (the
/// `phishing-response` playbook takes it from there). The organisation's
/// own domains (the reporter's and the recipients') are never to block.
pub fn report_phishing(
    app: &crate::api::Shared,
    tenant: &str,
    reporter: &str,
    raw: &[u8],
) -> Result<Reported, String> {
    let report = watchfloor_formats::email::parse_report(raw).map_err(|e| e.to_string())?;
    let reporter = report
        .reported_by
        .clone()
        .unwrap_or_else(|| reporter.to_string());
    let own: Vec<String> = std::iter::once(&reporter)
        .chain(&report.to)
        .filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .collect();
    let now = watchfloor_model::now_ns();
    let assessment = watchfloor_intel::phishing::assess(&report, &app.intel, tenant, &own, now);
    let alert =
        watchfloor_intel::phishing::report_alert(&report, &assessment, tenant, &reporter, now);
    let stored = app
        .state
        .insert_alerts(&[alert])
        .map_err(|e| format!("storing the report's alert: {e}"))?;
    let id = match stored.first() {
        Some(a) => a.id,
        None => return Err("this message was reported already".into()),
    };
    Ok(Reported {
        alert: id,
        report,
        assessment,
    })
}
