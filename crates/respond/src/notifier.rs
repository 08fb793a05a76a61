//! Delivers the notification outbox: webhooks and Slack/Mattermost
//! webhooks over HTTP(S), email through the configured SMTP relay. Each
//! message is tried until it is sent or `max_attempts` is reached, with
//! backoff between attempts; every outcome is stored on the message and
//! counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use watchfloor_model::now_ns;
use watchfloor_state::{Attempt, NotificationRecord, OutboxStore};

use crate::config::{NotifyConfig, SmtpSecurity};

type Labels = Vec<(String, String)>;

/// Counters of delivery outcomes, by transport and outcome.
#[derive(Clone, Default)]
pub struct NotifyMetrics {
    pub attempts: Family<Labels, Counter>,
}

impl NotifyMetrics {
    fn count(&self, transport: &str, outcome: &str) {
        self.attempts
            .get_or_create(&vec![
                ("transport".into(), transport.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }
}

pub struct Notifier {
    store: Arc<dyn OutboxStore>,
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: String,
    max_attempts: u32,
    metrics: NotifyMetrics,
}

/// Why a configuration cannot send email.
fn smtp_transport(
    cfg: &NotifyConfig,
) -> Result<Option<AsyncSmtpTransport<Tokio1Executor>>, String> {
    if cfg.smtp_host.is_empty() {
        return Ok(None);
    }
    let host = cfg.smtp_host.as_str();
    let builder = match cfg.smtp_security {
        SmtpSecurity::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(|e| e.to_string())?
        }
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(|e| e.to_string())?
        }
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
    };
    let mut builder = builder
        .port(cfg.smtp_port as u16)
        .timeout(Some(Duration::from_secs(cfg.timeout_secs)));
    if let (Some(u), Some(p)) = (&cfg.smtp_username, &cfg.smtp_password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    Ok(Some(builder.build()))
}

/// Seconds to wait before attempt `n + 1`: 10 s, 20 s, 40 s ... up to an hour.
fn backoff_secs(attempts: u32) -> i64 {
    (10i64 << attempts.min(9)).min(3600)
}

impl Notifier {
    pub fn new(
        store: Arc<dyn OutboxStore>,
        cfg: &NotifyConfig,
        metrics: NotifyMetrics,
    ) -> Result<Notifier, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("watchfloor/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("[notify]: HTTP client: {e}"))?;
        let smtp = smtp_transport(cfg).map_err(|e| format!("[notify] smtp_host: {e}"))?;
        Ok(Notifier {
            store,
            http,
            smtp,
            from: cfg.smtp_from.clone(),
            max_attempts: cfg.max_attempts as u32,
            metrics,
        })
    }

    /// Sends what is due, twice a second, until `stop`.
    pub async fn run(self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Acquire) {
            if let Err(e) = self.deliver_due().await {
                tracing::error!("notifications: {e}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn deliver_due(&self) -> Result<(), String> {
        let store = self.store.clone();
        let due = tokio::task::spawn_blocking(move || store.due_notifications(now_ns(), 50))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        for n in due {
            let result = self.send(&n).await;
            let attempt = self.outcome(&n, result);
            let store = self.store.clone();
            let id = n.id;
            tokio::task::spawn_blocking(move || store.record_attempt(id, &attempt))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn outcome(&self, n: &NotificationRecord, result: Result<(), String>) -> Attempt {
        let transport = n.message.transport.as_str();
        match result {
            Ok(()) => {
                self.metrics.count(transport, "sent");
                Attempt::Sent { at_ns: now_ns() }
            }
            Err(error) if n.attempts + 1 >= self.max_attempts => {
                self.metrics.count(transport, "failed");
                tracing::warn!(
                    "notification {} to {} failed for good: {error}",
                    n.id,
                    n.message.recipient
                );
                Attempt::GaveUp { error }
            }
            Err(error) => {
                self.metrics.count(transport, "retry");
                let at_ns = now_ns() + backoff_secs(n.attempts) * 1_000_000_000;
                Attempt::Retry { at_ns, error }
            }
        }
    }

    async fn send(&self, n: &NotificationRecord) -> Result<(), String> {
        match n.message.transport.as_str() {
            "email" => self.send_email(n).await,
            _ => self.post(n).await,
        }
    }

    async fn post(&self, n: &NotificationRecord) -> Result<(), String> {
        let mut req = self.http.post(&n.message.target);
        for (k, v) in &n.message.headers {
            req = req.header(k, v);
        }
        let payload = n.message.payload.clone().unwrap_or_default();
        let response = req
            .json(&payload)
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", redact(&n.message.target)))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST {}: HTTP {status}", redact(&n.message.target)))
        }
    }

    async fn send_email(&self, n: &NotificationRecord) -> Result<(), String> {
        let Some(smtp) = &self.smtp else {
            return Err("email is not configured ([notify] smtp_host)".into());
        };
        let message = Message::builder()
            .from(
                self.from
                    .parse()
                    .map_err(|e| format!("smtp_from {:?}: {e}", self.from))?,
            )
            .to(n
                .message
                .target
                .parse()
                .map_err(|e| format!("address {:?}: {e}", n.message.target))?)
            .subject(n.message.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(n.message.body.clone())
            .map_err(|e| e.to_string())?;
        smtp.send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP to {}: {e}", n.message.target))
    }
}

/// A webhook URL without its path, which often holds the secret.
fn redact(url: &str) -> String {
    match url.find("://").map(|i| i + 3) {
        Some(start) => {
            let host_end = url[start..].find('/').map_or(url.len(), |i| start + i);
            format!("{}/...", &url[..host_end])
        }
        None => "(invalid URL)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_webhook_paths_stay_out_of_errors() {
        assert_eq!(
            redact("https://hooks.example.org/services/T0/B0/secret"),
            "https://hooks.example.org/..."
        );
        assert_eq!(redact("nonsense"), "(invalid URL)");
    }

    #[test]
    fn backoff_grows_to_an_hour() {
        assert_eq!(backoff_secs(0), 10);
        assert_eq!(backoff_secs(3), 80);
        assert_eq!(backoff_secs(30), 3600);
    }
}
