//! ECS names for the fields of sources that arrive already structured:
//! Windows events (Security, Sysmon, as EVTX, Winlogbeat or flat JSON) and
//! Suricata EVE. The original fields stay (Sigma rules use them); the ECS
//! names are added beside them, so one search (`source.ip:198.51.100.7`),
//! one intel lookup and one playbook work on every source, as the syslog
//! parsers' fields do.

use watchfloor_model::{Event, Value};

/// (ECS name, original names in order of preference) for Windows events.
const WINDOWS: &[(&str, &[&str])] = &[
    ("source.ip", &["IpAddress", "SourceIp", "SourceAddress"]),
    ("source.port", &["IpPort", "SourcePort"]),
    ("source.domain", &["WorkstationName", "SourceHostname"]),
    ("destination.ip", &["DestinationIp", "DestAddress"]),
    ("destination.port", &["DestinationPort", "DestPort"]),
    ("destination.domain", &["DestinationHostname"]),
    ("user.name", &["TargetUserName", "SubjectUserName", "User"]),
    ("user.domain", &["TargetDomainName", "SubjectDomainName"]),
    ("process.executable", &["NewProcessName", "Image"]),
    ("process.pid", &["NewProcessId", "ProcessId"]),
    ("process.command_line", &["CommandLine"]),
    (
        "process.parent.executable",
        &["ParentProcessName", "ParentImage"],
    ),
    ("process.hash", &["Hashes"]),
    ("file.path", &["TargetFilename", "ObjectName"]),
    ("dns.question.name", &["QueryName"]),
    ("service.name", &["ServiceName"]),
    ("event.code", &["EventID"]),
];

/// (ECS name, EVE name) for Suricata.
const SURICATA: &[(&str, &str)] = &[
    ("source.ip", "src_ip"),
    ("source.port", "src_port"),
    ("destination.ip", "dest_ip"),
    ("destination.port", "dest_port"),
    ("network.transport", "proto"),
    ("network.protocol", "app_proto"),
    ("event.action", "event_type"),
    ("rule.name", "alert.signature"),
    ("rule.id", "alert.signature_id"),
    ("rule.category", "alert.category"),
    ("url.domain", "http.hostname"),
    ("url.path", "http.url"),
    ("http.request.method", "http.http_method"),
    ("http.response.status_code", "http.status"),
    ("user_agent.original", "http.http_user_agent"),
    ("dns.question.name", "dns.rrname"),
    ("tls.client.server_name", "tls.sni"),
    ("file.name", "fileinfo.filename"),
];

/// Windows placeholders for "none", which must not become entities.
fn is_placeholder(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Str(s) => matches!(s.trim(), "" | "-" | "::1" | "127.0.0.1" | "0"),
        _ => false,
    }
}

/// Adds the ECS names of a Windows or Suricata event (others are left
/// alone). A name the event already has is not replaced.
pub fn add_ecs_names(e: &mut Event) {
    let mut added: Vec<(&'static str, Value)> = Vec::new();
    if e.core.windows {
        for (ecs, originals) in WINDOWS {
            let found = originals
                .iter()
                .find_map(|name| e.get(name).filter(|v| !is_placeholder(v)));
            if let Some(v) = found {
                added.push((ecs, v.clone()));
            }
        }
    } else if e.core.provider.as_deref() == Some("suricata") {
        for (ecs, original) in SURICATA {
            if let Some(v) = e.get(original).filter(|v| !is_placeholder(v)) {
                added.push((ecs, v.clone()));
            }
        }
    } else {
        return;
    }
    for (name, value) in added {
        if e.get(name).is_none() {
            e.push(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_from_json;
    use serde_json::json;
    use watchfloor_model::SourceRef;

    fn event(doc: serde_json::Value) -> Event {
        let mut e = event_from_json(&doc, SourceRef::default()).unwrap();
        add_ecs_names(&mut e);
        e
    }

    fn text(e: &Event, name: &str) -> Option<String> {
        e.get(name).map(|v| v.to_string())
    }

    #[test]
    fn a_windows_logon_failure_gets_source_and_user_names() {
        let e = event(json!({"Event": {
            "System": {"EventID": 4625, "Channel": "Security", "Computer": "dc-1"},
            "EventData": {"TargetUserName": "alice", "TargetDomainName": "CORP",
                          "SubjectUserName": "-", "IpAddress": "198.51.100.7", "IpPort": "51515",
                          "WorkstationName": "ATTACKER"}}}));
        assert_eq!(text(&e, "source.ip").as_deref(), Some("198.51.100.7"));
        assert_eq!(text(&e, "source.port").as_deref(), Some("51515"));
        assert_eq!(text(&e, "user.name").as_deref(), Some("alice"));
        assert_eq!(text(&e, "user.domain").as_deref(), Some("CORP"));
        assert_eq!(text(&e, "source.domain").as_deref(), Some("ATTACKER"));
        assert_eq!(text(&e, "event.code").as_deref(), Some("4625"));
        assert_eq!(
            text(&e, "IpAddress").as_deref(),
            Some("198.51.100.7"),
            "originals stay"
        );
    }

    #[test]
    fn placeholders_are_not_entities_and_sysmon_fields_map() {
        let e = event(
            json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3,
            "Image": "C:\\x.exe", "SourceIp": "-", "DestinationIp": "203.0.113.5",
            "DestinationPort": 443, "User": "CORP\\bob"}),
        );
        assert_eq!(text(&e, "source.ip"), None);
        assert_eq!(text(&e, "destination.ip").as_deref(), Some("203.0.113.5"));
        assert_eq!(text(&e, "destination.port").as_deref(), Some("443"));
        assert_eq!(text(&e, "process.executable").as_deref(), Some("C:\\x.exe"));
        assert_eq!(text(&e, "user.name").as_deref(), Some("CORP\\bob"));
    }

    #[test]
    fn suricata_eve_gets_network_and_rule_names() {
        let e = event(
            json!({"timestamp": "2024-01-01T00:00:00.000000+0000", "event_type": "alert",
            "src_ip": "10.0.0.5", "src_port": 51000, "dest_ip": "198.51.100.20", "dest_port": 80,
            "proto": "TCP", "alert": {"signature": "ET POLICY curl", "signature_id": 2013028},
            "http": {"hostname": "evil.example", "url": "/x", "status": 200}}),
        );
        assert_eq!(text(&e, "source.ip").as_deref(), Some("10.0.0.5"));
        assert_eq!(text(&e, "destination.port").as_deref(), Some("80"));
        assert_eq!(text(&e, "rule.name").as_deref(), Some("ET POLICY curl"));
        assert_eq!(text(&e, "url.domain").as_deref(), Some("evil.example"));
        assert_eq!(
            text(&e, "http.response.status_code").as_deref(),
            Some("200")
        );
        assert_eq!(text(&e, "event.action").as_deref(), Some("alert"));
    }

    #[test]
    fn other_events_are_left_alone() {
        let e = event(json!({"message": "x", "src_ip": "10.0.0.1"}));
        assert_eq!(text(&e, "source.ip"), None);
    }
}
