//! Non-Windows rules run only on events of their product; rules that name
//! a category and no product run only on events that declare that category
//! (SigmaHQ's database rules used to fire on Windows and syslog events).

use watchfloor_model::{Event, SourceRef, Value};
use watchfloor_sigma::{RuleSetBuilder, RuleSetOptions, Scratch};

const RULES: &str = r#"
title: Zeek not-private
id: 00000000-0000-0000-0000-00000000000a
logsource: {product: zeek, service: rdp}
detection:
    sel: {id.orig_h|cidr: '10.0.0.0/8'}
    condition: not sel
---
title: Linux keyword
id: 00000000-0000-0000-0000-00000000000b
logsource: {product: linux}
detection:
    keywords: ['needle']
    condition: keywords
---
title: Proxy category
id: 00000000-0000-0000-0000-00000000000c
logsource: {category: proxy}
detection:
    keywords: ['needle']
    condition: keywords
"#;

fn event(product: Option<&str>) -> Event {
    let mut e = Event::new(SourceRef::default());
    e.push("message", Value::Str("a needle here".into()));
    e.core.product = product.map(Into::into);
    e
}

fn titles(product: Option<&str>) -> Vec<String> {
    titles_of(event(product))
}

fn titles_of(e: Event) -> Vec<String> {
    let mut t = fired(RULES, &e);
    t.sort();
    t
}

/// A Windows record of `channel` and event id with one field.
fn windows_event(channel: &str, event_id: u32, field: &str, value: &str) -> Event {
    let mut e = Event::new(SourceRef::default());
    e.push(field, Value::Str(value.into()));
    e.core.windows = true;
    e.core.channel = Some(channel.into());
    e.core.event_id = Some(event_id);
    e
}

#[test]
fn product_rules_run_only_on_their_product() {
    assert_eq!(titles(Some("linux")), ["Linux keyword"]);
    assert_eq!(titles(Some("zeek")), ["Zeek not-private"]);
    assert!(
        titles(None).is_empty(),
        "an event of unknown product gets no product's rules"
    );
}

#[test]
fn category_rules_run_only_on_events_of_their_category() {
    let mut proxy = event(Some("squid"));
    proxy.core.category = Some("proxy".into());
    assert_eq!(titles_of(proxy), ["Proxy category"]);
    let windows = windows_event("Security", 4624, "message", "a needle here");
    assert!(
        titles_of(windows).is_empty(),
        "a Windows logon is no proxy log"
    );
    let mut other = event(Some("linux"));
    other.core.category = Some("firewall".into());
    assert_eq!(titles_of(other), ["Linux keyword"]);
}

const DATABASE: &str = r#"
title: Suspicious SQL Query
id: 00000000-0000-0000-0000-00000000000d
logsource: {category: database}
detection:
    keywords: ['drop', 'dump', 'select *']
    condition: keywords
---
title: Process creation, any product
id: 00000000-0000-0000-0000-00000000000e
logsource: {category: process_creation}
detection:
    sel: {Image|endswith: '\whoami.exe'}
    condition: sel
"#;

/// The titles of the rules of `rules` that fire on `e`, in firing order.
fn fired(rules: &str, e: &Event) -> Vec<String> {
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    b.add_yaml(rules, "routing");
    let set = b.build();
    assert!(
        set.report().rejected.is_empty(),
        "{:?}",
        set.report().rejected
    );
    let mut out = Vec::new();
    set.evaluate(e, &mut Scratch::default(), &mut out);
    out.iter()
        .map(|r| set.rules()[*r].meta.title.clone())
        .collect()
}

#[test]
fn a_database_rule_reads_database_logs_only() {
    let powershell = windows_event(
        "Microsoft-Windows-PowerShell/Operational",
        4104,
        "ScriptBlockText",
        "Get-Process | select * ; drop",
    );
    assert!(fired(DATABASE, &powershell).is_empty());
    let mut query = Event::new(SourceRef::default());
    query.push("query", Value::Str("SELECT * FROM users".into()));
    query.core.category = Some("database".into());
    assert_eq!(fired(DATABASE, &query), ["Suspicious SQL Query"]);

    // A Windows category with no product: the Sysmon and Security events
    // the table names, and other events that declare the category.
    let sysmon = windows_event(
        "Microsoft-Windows-Sysmon/Operational",
        1,
        "Image",
        "C:\\Windows\\System32\\whoami.exe",
    );
    assert_eq!(fired(DATABASE, &sysmon), ["Process creation, any product"]);
    let mut linux = Event::new(SourceRef::default());
    linux.push("Image", Value::Str("Z:\\\\tools\\\\whoami.exe".into()));
    linux.core.product = Some("linux".into());
    assert!(
        fired(DATABASE, &linux).is_empty(),
        "undeclared: not a process creation"
    );
    linux.core.category = Some("process_creation".into());
    assert_eq!(fired(DATABASE, &linux), ["Process creation, any product"]);
}

const PASS_THE_HASH: &str = r#"
title: Pass the Hash Activity 2
id: 8eef149c-bd26-49f2-9e5a-9b00e3af499b
logsource: {product: windows, service: security}
detection:
    selection_logon3:
        EventID: 4624
        LogonType: 3
        LogonProcessName: 'NtLmSsp'
        WorkstationName: '%Workstations%'
        ComputerName: '%Workstations%'
    selection_logon9:
        EventID: 4624
        LogonType: 9
        LogonProcessName: 'seclogo'
    filter:
        TargetUserName: 'ANONYMOUS LOGON'
    condition: 1 of selection_* and not filter
"#;

fn logon(process: &str, user: &str) -> Event {
    let mut e = windows_event("Security", 4624, "LogonProcessName", process);
    e.push("EventID", Value::Int(4624));
    e.push("LogonType", Value::Int(9));
    e.push("TargetUserName", Value::Str(user.into()));
    e
}

#[test]
fn values_match_as_written_or_without_surrounding_space() {
    // Windows writes `seclogo ` and `NtLmSsp ` with a trailing space.
    assert_eq!(
        fired(PASS_THE_HASH, &logon("seclogo ", "bob")),
        ["Pass the Hash Activity 2"]
    );
    assert_eq!(
        fired(PASS_THE_HASH, &logon("seclogo", "bob")),
        ["Pass the Hash Activity 2"]
    );
    assert!(fired(PASS_THE_HASH, &logon("seclogon", "bob")).is_empty());
    // The filter trims too: an anonymous logon written with a space is filtered.
    assert!(fired(PASS_THE_HASH, &logon("seclogo ", "ANONYMOUS LOGON ")).is_empty());
    // A rule that spells the space matches only values that have it.
    let spaced = PASS_THE_HASH.replace("'seclogo'", "'seclogo '");
    assert_eq!(
        fired(&spaced, &logon("seclogo ", "bob")),
        ["Pass the Hash Activity 2"]
    );
}
