//! Time-driven work: SLA timers, escalation along the policy, RACI notices
//! to the teams' channels, and acknowledgement through a message's link.

use std::collections::HashMap;

use watchfloor_model::incident::{
    EscalationState, Incident, Notice, Raci, Status, Task, TaskStatus,
};
use watchfloor_state::StateError;

use crate::catalog::IncidentType;
use crate::notify::{self, Batch, Composer, Directory};
use crate::timeline::{Draft, TimelineEvent};
use crate::{IncidentError, Result};

use super::edits::set_status;
use super::{Incidents, Work, SYSTEM};

impl Incidents {
    /// Runs the timers: records the SLA warnings and breaches that fell
    /// due, fires due escalation steps and sends RACI notices (queuing
    /// their messages with the incident write). Returns what happened as
    /// (incident id, event) in time order.
    pub fn tick(&self) -> Result<Vec<(i64, &'static str)>> {
        let now = self.now();
        let mut recorded = Vec::new();
        let mut directories: HashMap<String, Directory> = HashMap::new();
        for incident in self.store.open_incidents()? {
            let mut w = Work::existing(incident);
            let mut events = Vec::new();
            for (ev, at) in self.config.sla.due_events(&mut w.incident, now) {
                w.drafts.push(Draft::new(
                    at,
                    SYSTEM,
                    TimelineEvent::sla(ev, w.incident.priority, at),
                ));
                events.push((at, ev.as_str()));
            }
            if needs_outreach(&w.incident) {
                let tenant = w.incident.tenant.clone();
                if !directories.contains_key(&tenant) {
                    let d = Directory::load(self.store.as_ref(), &tenant)?;
                    directories.insert(tenant.clone(), d);
                }
                let dir = &directories[&tenant];
                events.extend(self.escalate(&mut w, dir, now));
                self.send_notices(&mut w, dir, now);
            }
            if w.drafts.is_empty() {
                continue;
            }
            let id = w.incident.id;
            match self.store.write_incidents(&[w.into_write(now)]) {
                // Someone changed it meanwhile: the next tick sees it again.
                Err(StateError::Conflict { .. }) => continue,
                other => other?,
            }
            recorded.extend(events.into_iter().map(|(at, ev)| (at, id, ev)));
        }
        recorded.sort();
        Ok(recorded.into_iter().map(|(_, id, ev)| (id, ev)).collect())
    }

    pub(super) fn composer<'a>(
        &'a self,
        incident: &'a Incident,
        directory: &'a Directory,
        email_of: &'a dyn Fn(&str) -> Option<String>,
        now: i64,
    ) -> Composer<'a> {
        Composer {
            incident,
            directory,
            public_url: &self.config.notify.public_url,
            email_of,
            now_ns: now,
            acknowledge_links: true,
        }
    }

    /// The email address of `username`, if the user may act in `tenant`
    /// and is enabled.
    pub fn email_of(&self, tenant: &str, username: &str) -> Option<String> {
        let (user, _) = self.store.find_login(username).ok()??;
        (!user.disabled && user.can_act_in(tenant))
            .then_some(user.email)
            .flatten()
    }

    /// Fires the due steps of the incident's escalation policy while it
    /// is not acknowledged; picks the policy on the first look.
    fn escalate(&self, w: &mut Work, dir: &Directory, now: i64) -> Vec<(i64, &'static str)> {
        if w.incident.status != Status::New {
            return Vec::new();
        }
        let mut state = match w.incident.escalation.clone() {
            Some(s) => s,
            None => {
                // No policy yet: one created later still takes the incident
                // while it waits for someone.
                let Some((name, _)) = dir.policy_for(&w.incident) else {
                    return Vec::new();
                };
                w.drafts.push(Draft::new(
                    now,
                    SYSTEM,
                    TimelineEvent::EscalationStarted { policy: name },
                ));
                EscalationState {
                    policy: Some(name.clone()),
                    started_ns: now,
                    fired: 0,
                    exhausted_ns: None,
                }
            }
        };
        let Some(name) = state
            .policy
            .clone()
            .filter(|_| state.exhausted_ns.is_none())
        else {
            return Vec::new();
        };
        let mut fired = Vec::new();
        match dir.policy(&name) {
            None => {
                state.exhausted_ns = Some(now);
                w.drafts.push(Draft::new(
                    now,
                    SYSTEM,
                    TimelineEvent::EscalationStopped {
                        policy: &name,
                        reason: "the policy no longer exists",
                    },
                ));
            }
            Some(policy) => {
                let tenant = w.incident.tenant.clone();
                let email_of = |u: &str| self.email_of(&tenant, u);
                for f in policy.due(&state, now) {
                    let targets = policy.targets(&f);
                    let reason = format!(
                        "Escalation {name}, step {} of {}, round {} of {}: incident #{} is not acknowledged.",
                        f.step,
                        policy.steps.len(),
                        f.round,
                        policy.repeat + 1,
                        w.incident.id
                    );
                    let mut batch = Batch::default();
                    let composer = self.composer(&w.incident, dir, &email_of, now);
                    for t in targets {
                        let key = format!("escalation:{}:{}:{t}", w.incident.id, f.index);
                        composer.for_target(t, f.at_ns, &key, &reason, &mut batch);
                    }
                    w.drafts.push(Draft::new(
                        f.at_ns,
                        SYSTEM,
                        TimelineEvent::Escalated {
                            policy: &name,
                            round: f.round,
                            step: f.step,
                            targets: targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                            notified: &batch.recipients,
                            problems: &batch.problems,
                        },
                    ));
                    w.notifications.extend(batch.messages);
                    state.fired = f.index + 1;
                    fired.push((f.at_ns, "escalated"));
                }
                if policy.exhausted(&state) {
                    state.exhausted_ns = Some(now);
                    w.drafts.push(Draft::new(
                        now,
                        SYSTEM,
                        TimelineEvent::EscalationExhausted {
                            policy: &name,
                            steps_fired: state.fired,
                        },
                    ));
                }
            }
        }
        w.incident.escalation = Some(state);
        fired
    }

    /// Tells the Consulted and Informed teams of the RACI matrix, once.
    fn send_notices(&self, w: &mut Work, dir: &Directory, now: i64) {
        let tenant = w.incident.tenant.clone();
        let email_of = |u: &str| self.email_of(&tenant, u);
        for n in 0..w.incident.notices.len() {
            if w.incident.notices[n].notified {
                continue;
            }
            let notice = w.incident.notices[n].clone();
            let reason = notice_reason(&w.incident, &notice);
            let mut batch = Batch::default();
            let mut composer = self.composer(&w.incident, dir, &email_of, now);
            composer.acknowledge_links = false;
            let key = format!(
                "notice:{}:{}:{}",
                w.incident.id, notice.team, notice.activity
            );
            composer.for_team(&notice.team, &key, &reason, &mut batch);
            w.drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::NoticeSent {
                    team: &notice.team,
                    raci: notice.raci,
                    activity: &notice.activity,
                    notified: &batch.recipients,
                    problems: &batch.problems,
                },
            ));
            w.notifications.extend(batch.messages);
            w.incident.notices[n].notified = true;
        }
    }

    /// Acknowledges the incident an acknowledge link (from a notification)
    /// stands for, as the link's recipient. Returns the incident and
    /// whether this call acknowledged it (false: it already was).
    pub fn acknowledge_by_link(&self, secret: &str) -> Result<(Incident, String, bool)> {
        let link = self
            .store
            .find_ack_link(&notify::ack_hash(secret))?
            .ok_or_else(|| IncidentError::Invalid("unknown acknowledge link".into()))?;
        let actor = format!("{} (notification link)", link.recipient);
        let current = self.get(&link.tenant, link.incident_id)?;
        if current.status != Status::New {
            return Ok((current, actor, false));
        }
        let mut acknowledged = false;
        let incident = self.change(&link.tenant, link.incident_id, None, |i, drafts, now| {
            acknowledged = i.status == Status::New;
            if acknowledged {
                drafts.push(Draft::new(
                    now,
                    &actor,
                    TimelineEvent::Status {
                        from: Status::New,
                        to: Status::Acknowledged,
                        via: Some("notification link"),
                    },
                ));
                set_status(i, Status::Acknowledged, now);
            }
            Ok(())
        })?;
        Ok((incident, actor, acknowledged))
    }
}

/// What a RACI notice tells the team.
fn notice_reason(i: &Incident, notice: &Notice) -> String {
    let (team, activity) = (&notice.team, &notice.activity);
    match notice.raci {
        Raci::R | Raci::A => {
            let task = i
                .tasks
                .iter()
                .find(|t| t.team == *team && t.activity.as_deref() == Some(activity))
                .map_or("", |t| t.title.as_str());
            format!(
                "Team {team} is responsible for \"{activity}\" on incident #{} ({}): {task}",
                i.id, i.kind
            )
        }
        Raci::C | Raci::I => {
            let role = if notice.raci == Raci::C {
                "consulted"
            } else {
                "informed"
            };
            format!(
                "Team {team} is {role} on \"{activity}\" for incident #{} ({}).",
                i.id, i.kind
            )
        }
    }
}

/// Whether the incident may have escalation steps or notices to send.
pub(super) fn needs_outreach(i: &Incident) -> bool {
    let escalating = i.status == Status::New
        && i.escalation
            .as_ref()
            .is_none_or(|e| e.policy.is_some() && e.exhausted_ns.is_none());
    escalating || i.notices.iter().any(|n| !n.notified)
}

/// Tasks for the Responsible teams, notices for the Consulted and
/// Informed ones, as the type's RACI matrix says. Responsible teams get a
/// notice of their task too, so their channels hear of it.
pub(super) fn apply_raci(
    incident: &mut Incident,
    kind: &IncidentType,
    now: i64,
    drafts: &mut Vec<Draft>,
) {
    for row in &kind.raci {
        for team in &row.responsible {
            let id = incident.tasks.len() as u32 + 1;
            incident.tasks.push(Task {
                id,
                title: row.task.clone(),
                activity: Some(row.activity.clone()),
                team: team.clone(),
                assignee: None,
                status: TaskStatus::Open,
                created_ns: now,
                done_ns: None,
                key: None,
            });
            drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::TaskCreated {
                    id,
                    title: &row.task,
                    team,
                    activity: Some(&row.activity),
                    raci: Some(Raci::R),
                },
            ));
            incident.notices.push(Notice {
                team: team.clone(),
                raci: Raci::R,
                activity: row.activity.clone(),
                time_ns: now,
                notified: false,
            });
        }
        for (team, raci) in row
            .letters()
            .filter(|(_, l)| matches!(l, Raci::C | Raci::I))
        {
            incident.notices.push(Notice {
                team: team.into(),
                raci,
                activity: row.activity.clone(),
                time_ns: now,
                notified: false,
            });
            drafts.push(Draft::new(
                now,
                SYSTEM,
                TimelineEvent::Notified {
                    team,
                    raci,
                    activity: &row.activity,
                },
            ));
        }
    }
}
