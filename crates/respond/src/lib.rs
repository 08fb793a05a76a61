//! The respond room: playbooks (YAML steps forming a graph: actions,
//! approvals, waits; conditions, loops, retries, timeouts, error paths,
//! compensation), durable event-sourced runs that resume after a crash at
//! the step they were in, approvals by N people of given roles and teams
//! with deadlines, dry runs, and the connectors that act.
//!
//! - [`playbook`]: the document, its checks, the shipped playbooks, the
//!   [`Library`](playbook::Library) of loaded ones;
//! - [`expr`]: expressions and templates over a run's context (minijinja);
//! - [`run`]: a run's log ([`RunEvent`](run::RunEvent)), its fold and the
//!   pure decision of what comes next;
//! - [`runner`]: [`Responder`](runner::Responder), which starts, drives,
//!   answers and cancels runs over a [`RunStore`](watchfloor_state::RunStore);
//! - [`dry`]: dry runs;
//! - [`actions`]: the connectors;
//! - [`notifier`]: sending the outbox's notifications (webhooks,
//!   Slack/Mattermost, SMTP e-mail) with retries: what escalations,
//!   RACI notices, approval requests and `notify.send`/`email.send` queue;
//! - [`config`]: the `[respond]` section.

pub mod actions;
pub mod config;
pub mod dry;
pub mod expr;
pub mod links;
pub mod notifier;
pub mod playbook;
pub mod run;
pub mod runner;
pub mod summary;

pub use config::RespondConfig;
pub use playbook::{Library, Playbook};
pub use runner::{Responder, StartRun};
