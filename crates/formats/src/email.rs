//! A reported message (`.eml`, RFC 5322 with MIME) read for a phishing
//! triage: who it claims to come from and where it really came from, the
//! URLs of its text and HTML bodies (and their domains), its attachments
//! with their SHA-256, and the authentication results the receiving server
//! wrote. MIME, encodings and charsets are mail-parser's; what a SOC wants
//! out of it is ours.
//!
//! A message forwarded "as attachment" (the way users report phishing, and
//! what Outlook's and Thunderbird's report buttons send) is unwrapped: the
//! report is about the attached message, and the reporter is the outer
//! sender.

use std::collections::BTreeSet;

use mail_parser::{Address, Message, MessageParser, MimeHeaders};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Messages larger than this are refused (the API's body limit is larger).
pub const MAX_MESSAGE: usize = 25 * 1024 * 1024;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmailError {
    #[error("not an e-mail message (no header could be read)")]
    NotAMessage,
    #[error("the message is {0} bytes; at most {MAX_MESSAGE}")]
    TooLarge(usize),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// What a phishing triage needs of a message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EmailReport {
    pub subject: String,
    /// The `From` address (what the user saw).
    pub from: String,
    pub from_name: String,
    pub reply_to: Vec<String>,
    /// The envelope sender (`Return-Path`).
    pub return_path: String,
    pub to: Vec<String>,
    pub message_id: String,
    /// `Date`, RFC 3339, when it reads.
    pub date: String,
    /// Hosts of the `Received` chain, newest first.
    pub received_from: Vec<String>,
    /// `Authentication-Results` as the receiving server wrote them.
    pub authentication_results: Vec<String>,
    /// Every http(s) URL of the bodies, in order of first appearance.
    pub urls: Vec<String>,
    /// Their hosts, and the sender's and reply-to domains.
    pub domains: Vec<String>,
    pub attachments: Vec<Attachment>,
    /// Who reported it, when the report wraps the message (the outer `From`).
    pub reported_by: Option<String>,
}

/// Reads a message; a report that wraps one (message/rfc822 attachment)
/// gives the wrapped one, with the reporter.
pub fn parse_report(raw: &[u8]) -> Result<EmailReport, EmailError> {
    if raw.len() > MAX_MESSAGE {
        return Err(EmailError::TooLarge(raw.len()));
    }
    let outer = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(EmailError::NotAMessage)?;
    let wrapped = outer
        .attachments()
        .find_map(|part| part.message())
        .filter(|_| outer.attachment_count() > 0);
    match wrapped {
        Some(inner) => {
            let mut report = read(inner);
            report.reported_by = first_address(outer.from());
            Ok(report)
        }
        None => Ok(read(&outer)),
    }
}

fn first_address(a: Option<&Address<'_>>) -> Option<String> {
    a.and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|s| s.to_ascii_lowercase())
}

fn all_addresses(a: Option<&Address<'_>>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address())
            .map(|s| s.to_ascii_lowercase())
            .collect()
    })
    .unwrap_or_default()
}

fn read(m: &Message<'_>) -> EmailReport {
    let from = first_address(m.from()).unwrap_or_default();
    let mut report = EmailReport {
        subject: m.subject().unwrap_or_default().to_string(),
        from_name: m
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.name())
            .unwrap_or_default()
            .to_string(),
        from,
        reply_to: all_addresses(m.reply_to()),
        return_path: m
            .return_address()
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default(),
        to: all_addresses(m.to()),
        message_id: m.message_id().unwrap_or_default().to_string(),
        date: m.date().map(|d| d.to_rfc3339()).unwrap_or_default(),
        received_from: m
            .received_all()
            .filter_map(|r| r.from().map(|h| h.to_string()))
            .collect(),
        authentication_results: m
            .header_values("Authentication-Results")
            .filter_map(|v| v.as_text().map(String::from))
            .collect(),
        ..EmailReport::default()
    };
    let mut urls = Urls::default();
    for i in 0..m.text_body_count() {
        if let Some(text) = m.body_text(i) {
            urls.add_text(&text);
        }
    }
    for i in 0..m.html_body_count() {
        if let Some(html) = m.body_html(i) {
            urls.add_html(&html);
        }
    }
    report.urls = urls.list;
    let mut domains: Vec<String> = Vec::new();
    let mut seen = BTreeSet::new();
    let senders = std::iter::once(&report.from)
        .chain(&report.reply_to)
        .chain(std::iter::once(&report.return_path));
    let sender_domains = senders.filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_string()));
    let url_hosts = report.urls.iter().filter_map(|u| host_of(u));
    for d in url_hosts.chain(sender_domains) {
        if !d.is_empty() && seen.insert(d.clone()) {
            domains.push(d);
        }
    }
    report.domains = domains;
    report.attachments = m
        .attachments()
        .filter(|p| !p.is_message())
        .map(|p| Attachment {
            name: p.attachment_name().unwrap_or_default().to_string(),
            content_type: p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(sub) => format!("{}/{sub}", c.ctype()),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_default(),
            size: p.contents().len(),
            sha256: hex(&Sha256::digest(p.contents())),
        })
        .collect();
    report
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lowercase host of an http(s) URL (no port, no credentials).
pub fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| {
            let lower = url.get(..8)?.to_ascii_lowercase();
            if lower.starts_with("https://") {
                url.get(8..)
            } else if lower.starts_with("http://") {
                url.get(7..)
            } else {
                None
            }
        })?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// URLs in order of first appearance, each once.
#[derive(Default)]
struct Urls {
    list: Vec<String>,
    seen: BTreeSet<String>,
}

impl Urls {
    fn push(&mut self, url: &str) {
        let url = url.trim_end_matches(['.', ',', ')', ';', ':', '!', '?', '\'', '"', '>']);
        if host_of(url).is_some() && self.seen.insert(url.to_string()) {
            self.list.push(url.to_string());
        }
    }

    /// Bare URLs in text.
    fn add_text(&mut self, text: &str) {
        for m in url_regex().find_iter(text) {
            self.push(m.as_str());
        }
    }

    /// `href`/`src` attributes (with `&amp;` and the like decoded), then
    /// bare URLs of the markup's text.
    fn add_html(&mut self, html: &str) {
        for c in attribute_regex().captures_iter(html) {
            if let Some(v) = c.get(1).or_else(|| c.get(2)) {
                self.push(&decode_entities(v.as_str()));
            }
        }
        self.add_text(&decode_entities(html));
    }
}

fn url_regex() -> &'static regex::Regex {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        regex::Regex::new(r#"(?i)\bhttps?://[^\s<>"'`{}|\\^\[\]]+"#).expect("url pattern")
    })
}

fn attribute_regex() -> &'static regex::Regex {
    static R: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    R.get_or_init(|| {
        regex::Regex::new(r#"(?i)\b(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)')"#)
            .expect("attribute pattern")
    })
}

fn decode_entities(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/")
        .replace("&#58;", ":")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHISH: &str = "Return-Path: <bounce@mailer.evil-example.net>\r
Received: from mx.evil-example.net (mx.evil-example.net [203.0.113.7]) by mx.corp.example\r
Authentication-Results: mx.corp.example; spf=fail smtp.mailfrom=evil-example.net; dkim=none\r
From: \"IT Service Desk\" <it-support@corp-example.help>\r
Reply-To: helpdesk@evil-example.net\r
To: bob@corp.example\r
Subject: =?UTF-8?Q?Your_mailbox_is_full_=E2=80=94_act_now?=\r
Message-ID: <x1@corp-example.help>\r
Date: Thu, 03 Dec 2026 09:00:00 +0000\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b1\"\r
\r
--b1\r
Content-Type: multipart/alternative; boundary=\"b2\"\r
\r
--b2\r
Content-Type: text/plain; charset=utf-8\r
\r
Log in at https://login.corp-example.help/owa?user=bob. Thanks!\r
--b2\r
Content-Type: text/html; charset=utf-8\r
Content-Transfer-Encoding: quoted-printable\r
\r
<p>Log in <a href=3D\"https://login.corp-example.help/owa?user=3Dbob&amp;r=3D1\">here</a>=\r
 or <a href=3D'http://203.0.113.50:8080/x'>there</a></p>\r
--b2--\r
--b1\r
Content-Type: application/pdf; name=\"invoice.pdf\"\r
Content-Disposition: attachment; filename=\"invoice.pdf\"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQK\r
--b1--\r
";

    #[test]
    fn a_phishing_message_gives_its_urls_domains_senders_and_attachments() {
        let r = parse_report(PHISH.as_bytes()).unwrap();
        assert_eq!(r.subject, "Your mailbox is full — act now");
        assert_eq!(
            (r.from.as_str(), r.from_name.as_str()),
            ("it-support@corp-example.help", "IT Service Desk")
        );
        assert_eq!(r.reply_to, ["helpdesk@evil-example.net"]);
        assert_eq!(r.return_path, "bounce@mailer.evil-example.net");
        assert_eq!(
            r.urls,
            [
                "https://login.corp-example.help/owa?user=bob",
                "https://login.corp-example.help/owa?user=bob&r=1",
                "http://203.0.113.50:8080/x",
            ]
        );
        assert_eq!(
            r.domains,
            [
                "login.corp-example.help",
                "203.0.113.50",
                "corp-example.help",
                "evil-example.net",
                "mailer.evil-example.net",
            ]
        );
        assert_eq!(r.attachments.len(), 1);
        let a = &r.attachments[0];
        assert_eq!(
            (a.name.as_str(), a.content_type.as_str(), a.size),
            ("invoice.pdf", "application/pdf", 9)
        );
        assert_eq!(a.sha256, hex(&Sha256::digest(b"%PDF-1.4\n")));
        assert!(r.authentication_results[0].contains("spf=fail"));
        assert_eq!(r.received_from, ["mx.evil-example.net"]);
        assert_eq!(r.reported_by, None);
    }

    #[test]
    fn a_report_that_wraps_the_message_is_about_the_wrapped_one() {
        let report = format!(
            "From: bob@corp.example\r\nTo: phishing@corp.example\r\nSubject: Fwd: suspicious\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nThis looks wrong, see https://intranet.corp.example/help\r\n--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"phish.eml\"\r\n\r\n{PHISH}\r\n--o--\r\n"
        );
        let r = parse_report(report.as_bytes()).unwrap();
        assert_eq!(r.reported_by.as_deref(), Some("bob@corp.example"));
        assert_eq!(r.from, "it-support@corp-example.help");
        assert!(
            !r.urls.iter().any(|u| u.contains("intranet")),
            "the reporter's note is not the message: {:?}",
            r.urls
        );
        assert_eq!(r.attachments.len(), 1);
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert_eq!(parse_report(b""), Err(EmailError::NotAMessage));
        let _ = parse_report(&[0xff, 0x00, 0x0d, 0x0a, 0x3a]);
        assert_eq!(
            host_of("https://user:pw@Example.COM.:443/x"),
            Some("example.com".into())
        );
        assert_eq!(
            host_of("http://[2001:db8::1]:80/"),
            Some("2001:db8::1".into())
        );
        assert_eq!(host_of("ftp://x"), None);
    }
}
