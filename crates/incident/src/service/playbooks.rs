//! What the respond room's playbook runs do to an incident: tasks and
//! comments made once per idempotency key (a run resumed after a crash
//! repeats the call and finds its first result), messages to people, teams
//! and on-call schedules through the outbox (queued once per key), and the
//! run's moments on the hash-chained timeline.

use watchfloor_model::incident::{Comment, Task, TaskStatus};

use crate::escalation::Target;
use crate::notify::Batch;
use crate::timeline::{Draft, TimelineEvent};
use crate::{IncidentError, Result};

use super::{Incidents, NewTask};

impl Incidents {
    /// Adds a task once per key; returns the task's id (the first one's on
    /// a repeat).
    pub fn add_task_once(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        key: &str,
        t: &NewTask,
    ) -> Result<u32> {
        if t.title.trim().is_empty() || t.team.trim().is_empty() {
            return Err(IncidentError::Invalid(
                "title and team: must not be empty".into(),
            ));
        }
        let mut made = 0;
        self.change(tenant, id, None, |i, drafts, now| {
            if let Some(task) = i.tasks.iter().find(|t| t.key.as_deref() == Some(key)) {
                made = task.id;
                return Ok(());
            }
            made = i.tasks.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            i.tasks.push(Task {
                id: made,
                title: t.title.clone(),
                activity: None,
                team: t.team.clone(),
                assignee: t.assignee.clone(),
                status: TaskStatus::Open,
                created_ns: now,
                done_ns: None,
                key: Some(key.to_string()),
            });
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::TaskCreated {
                    id: made,
                    title: &t.title,
                    team: &t.team,
                    activity: None,
                    raci: None,
                },
            ));
            Ok(())
        })?;
        Ok(made)
    }

    /// Comments once per key; returns the comment's id.
    pub fn comment_once(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        key: &str,
        text: &str,
    ) -> Result<u32> {
        if text.trim().is_empty() {
            return Err(IncidentError::Invalid("text: must not be empty".into()));
        }
        let mut made = 0;
        self.change(tenant, id, None, |i, drafts, now| {
            if let Some(c) = i.comments.iter().find(|c| c.key.as_deref() == Some(key)) {
                made = c.id;
                return Ok(());
            }
            made = i.comments.iter().map(|c| c.id).max().unwrap_or(0) + 1;
            i.comments.push(Comment {
                id: made,
                author: actor.into(),
                text: text.into(),
                created_ns: now,
                key: Some(key.to_string()),
            });
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::Comment { id: made, text },
            ));
            Ok(())
        })?;
        Ok(made)
    }

    /// Queues a message about the incident to `user:NAME`, `team:NAME` (its
    /// channels) or `schedule:NAME` (whoever is on call), once per key and
    /// recipient. Returns who it went to and what could not be addressed.
    pub fn message(
        &self,
        tenant: &str,
        id: i64,
        key: &str,
        to: &[String],
        text: &str,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let targets = to
            .iter()
            .map(|t| parse_target(t))
            .collect::<Result<Vec<_>>>()?;
        let directory = crate::notify::Directory::load(self.store.as_ref(), tenant)?;
        let mut sent = (Vec::new(), Vec::new());
        self.change_work(tenant, id, None, |w, now| {
            let email_of = |u: &str| self.email_of(tenant, u);
            let mut composer = self.composer(&w.incident, &directory, &email_of, now);
            composer.acknowledge_links = false;
            let mut batch = Batch::default();
            for target in &targets {
                composer.for_target(target, now, key, text, &mut batch);
            }
            sent = (batch.recipients.clone(), batch.problems.clone());
            w.notifications.extend(batch.messages);
            Ok(())
        })?;
        Ok(sent)
    }

    /// Queues an e-mail about the incident to addresses outside the
    /// directory (a person whose account a playbook changed), once per key
    /// and address; recorded on the timeline.
    #[allow(clippy::too_many_arguments)]
    pub fn email_once(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        key: &str,
        to: &[String],
        subject: &str,
        body: &str,
    ) -> Result<Vec<String>> {
        for address in to {
            if !address.contains('@') || address.contains(char::is_whitespace) {
                return Err(IncidentError::Invalid(format!(
                    "{address:?} is not an e-mail address"
                )));
            }
        }
        self.change_work(tenant, id, None, |w, now| {
            for address in to {
                w.notifications.push(watchfloor_state::NewNotification {
                    tenant: tenant.to_string(),
                    incident_id: id,
                    key: format!("{key}:{address}"),
                    transport: "email".into(),
                    target: address.clone(),
                    recipient: format!("address:{address}"),
                    subject: subject.to_string(),
                    body: body.to_string(),
                    payload: None,
                    headers: Vec::new(),
                    ack_hash: None,
                    created_ns: now,
                });
            }
            w.drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::EmailQueued { to, subject },
            ));
            Ok(())
        })?;
        Ok(to.to_vec())
    }

    /// Records a playbook run's moment on the incident's timeline.
    #[allow(clippy::too_many_arguments)]
    pub fn record_run(
        &self,
        tenant: &str,
        id: i64,
        actor: &str,
        run: i64,
        playbook: &str,
        event: &str,
        detail: &serde_json::Value,
    ) -> Result<()> {
        self.change(tenant, id, None, |_, drafts, now| {
            drafts.push(Draft::new(
                now,
                actor,
                TimelineEvent::Playbook {
                    run,
                    playbook,
                    event,
                    detail,
                },
            ));
            Ok(())
        })?;
        Ok(())
    }
}

fn parse_target(text: &str) -> Result<Target> {
    let bad = || {
        IncidentError::Invalid(format!(
            "{text:?}: address messages to user:NAME, team:NAME or schedule:NAME"
        ))
    };
    let (kind, name) = text.split_once(':').ok_or_else(bad)?;
    let name = name.trim().to_string();
    if name.is_empty() {
        return Err(bad());
    }
    Ok(match kind {
        "user" => Target::User(name),
        "team" => Target::Team(name),
        "schedule" => Target::Schedule(name),
        _ => return Err(bad()),
    })
}
