//! A reported message judged against the indicators: every URL, domain,
//! sender address and attachment hash looked up in the tenant's and the
//! shared indicators, with MISP's warninglists vouching for the well-known;
//! what to block (URLs and domains of the message that no warninglist
//! vouches for and that are not the organisation's own); and the alert the
//! report raises for the SOC's queue (a `phishing` incident).

use serde::Serialize;
use watchfloor_formats::email::{host_of, EmailReport};
use watchfloor_model::{Alert, AlertKind, Domain, Severity};

use crate::live::Intel;
use crate::Kind;

/// One value of the message and what the intel says of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub kind: Kind,
    pub value: String,
    /// `hit`, `warned`, `expired` or `miss` (as `/api/v1/intel/explain`).
    pub outcome: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A warninglist that names it benign.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warninglist: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Assessment {
    pub verdicts: Vec<Verdict>,
    /// Known bad: an indicator holds it.
    pub known_bad: usize,
    /// Domains and URLs to block (the message's, minus the benign).
    pub block_domains: Vec<String>,
    pub block_urls: Vec<String>,
}

fn kind_of_host(host: &str) -> Kind {
    if host.parse::<std::net::IpAddr>().is_ok() {
        Kind::Ip
    } else {
        Kind::Domain
    }
}

/// Whether `domain` is one of `own` or under one.
fn is_own(domain: &str, own: &[String]) -> bool {
    own.iter()
        .any(|o| domain == o || domain.ends_with(&format!(".{o}")))
}

/// Judges a report for `tenant` at `now_ns`. `own_domains` are the
/// organisation's (never blocked): the reporter's and the configured ones.
pub fn assess(
    report: &EmailReport,
    intel: &Intel,
    tenant: &str,
    own_domains: &[String],
    now_ns: i64,
) -> Assessment {
    let mut out = Assessment::default();
    let mut look = |kind: Kind, value: &str| -> Verdict {
        let e = intel.explain(tenant, kind, value, now_ns);
        let warninglist = e
            .warninglist
            .clone()
            .or_else(|| intel.warninglist(kind, value));
        let v = Verdict {
            kind,
            value: value.to_string(),
            outcome: e.outcome.to_string(),
            source: e.indicator.as_ref().map(|i| i.source.clone()),
            warninglist,
        };
        if v.outcome == "hit" {
            out.known_bad += 1;
        }
        out.verdicts.push(v.clone());
        v
    };
    for url in &report.urls {
        let v = look(Kind::Url, url);
        let host = host_of(url).unwrap_or_default();
        let benign = v.warninglist.is_some() || is_own(&host, own_domains);
        if !benign || v.outcome == "hit" {
            out.block_urls.push(url.clone());
        }
    }
    for domain in &report.domains {
        let kind = kind_of_host(domain);
        let v = look(kind, domain);
        let benign = v.warninglist.is_some() || is_own(domain, own_domains);
        if kind == Kind::Domain && (!benign || v.outcome == "hit") {
            out.block_domains.push(domain.clone());
        }
    }
    for sender in std::iter::once(&report.from).chain(&report.reply_to) {
        if !sender.is_empty() {
            look(Kind::Email, sender);
        }
    }
    for a in &report.attachments {
        look(Kind::Sha256, &a.sha256);
    }
    out
}

/// The alert a reported message raises: the SOC's `phishing` incident,
/// with the message's URLs, domains and hashes as its entities and the
/// report and its assessment in the fields (what playbooks read).
pub fn report_alert(
    report: &EmailReport,
    assessment: &Assessment,
    tenant: &str,
    reporter: &str,
    now_ns: i64,
) -> Alert {
    let level = if assessment.known_bad > 0 {
        Severity::High
    } else {
        Severity::Medium
    };
    let mut fields = serde_json::Map::new();
    let mut put = |k: &str, v: serde_json::Value| {
        fields.insert(k.to_string(), v);
    };
    put("email", serde_json::to_value(report).unwrap_or_default());
    put(
        "verdicts",
        serde_json::to_value(&assessment.verdicts).unwrap_or_default(),
    );
    put("known_bad", assessment.known_bad.into());
    put("block_domains", serde_json::json!(assessment.block_domains));
    put("block_urls", serde_json::json!(assessment.block_urls));
    put("reported_by", reporter.into());
    let mut alert = Alert {
        id: 0,
        key: format!(
            "report:{tenant}:{}",
            if report.message_id.is_empty() {
                format!("{}:{now_ns}", report.subject)
            } else {
                report.message_id.clone()
            }
        ),
        tenant: tenant.to_string(),
        domain: Domain::Security,
        rule_id: Some("report:phishing".into()),
        rule_title: format!("Phishing reported by {reporter}: {}", report.subject),
        kind: AlertKind::Report,
        level,
        tags: vec!["attack.initial_access".into(), "attack.t1566".into()],
        time_ns: now_ns,
        created_ns: now_ns,
        host: None,
        user: Some(reporter.to_string()),
        users: Vec::new(),
        ips: Vec::new(),
        indicators: Default::default(),
        event_ids: Vec::new(),
        fields,
        value: None,
        parent: None,
        incident_id: None,
    };
    alert.indicators.urls = report.urls.clone();
    alert.indicators.domains = report
        .domains
        .iter()
        .filter(|d| kind_of_host(d) == Kind::Domain)
        .cloned()
        .collect();
    alert.ips = report
        .domains
        .iter()
        .filter(|d| kind_of_host(d) == Kind::Ip)
        .cloned()
        .collect();
    alert.indicators.hashes = report
        .attachments
        .iter()
        .map(|a| a.sha256.clone())
        .collect();
    alert
}
