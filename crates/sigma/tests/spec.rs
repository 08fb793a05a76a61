//! The specification's own examples, rule by rule: each modifier and
//! condition form with positive and negative events, filters,
//! placeholders, and every correlation type through YAML.

use serde_json::{json, Value as Json};
use watchfloor_formats::event_from_json;
use watchfloor_model::{parse_timestamp, Event, SourceRef};
use watchfloor_sigma::{
    CorrelationEngine, Hit, Limits, Placeholders, RuleSet, RuleSetBuilder, RuleSetOptions, Scratch,
    Source,
};

fn rules_with(yaml: &str, options: RuleSetOptions) -> RuleSet {
    let mut b = RuleSetBuilder::new(options);
    b.add_yaml(yaml, "test.yml");
    let set = b.build();
    assert!(
        set.report().rejected.is_empty(),
        "rejected: {:?}",
        set.report().rejected
    );
    set
}

fn rules(yaml: &str) -> RuleSet {
    rules_with(yaml, RuleSetOptions::default())
}

/// A generic event of the product `test`, the product of the rules here
/// (non-Windows rules run only on events of their product).
fn event(doc: Json) -> Event {
    let mut e = event_from_json(&doc, SourceRef::default()).unwrap();
    if !e.core.windows && e.core.product.is_none() {
        e.core.product = Some("test".into());
    }
    e
}

fn matches(set: &RuleSet, doc: Json) -> bool {
    let mut out = Vec::new();
    set.evaluate(&event(doc), &mut Scratch::default(), &mut out);
    !out.is_empty()
}

/// A one-selection rule over generic (non-Windows) events.
fn sel(selection: &str) -> RuleSet {
    let indented: String = selection
        .lines()
        .map(|l| format!("        {l}\n"))
        .collect();
    rules(&format!("title: t\nlogsource:\n    product: test\ndetection:\n    selection:\n{indented}    condition: selection\n"))
}

fn check(rule: &RuleSet, positive: &[Json], negative: &[Json]) {
    for p in positive {
        assert!(matches(rule, p.clone()), "should match: {p}");
    }
    for n in negative {
        assert!(!matches(rule, n.clone()), "should not match: {n}");
    }
}

#[test]
fn plain_values_are_case_insensitive_equality_with_wildcards() {
    check(
        &sel("Image: 'C:\\Windows\\cmd.exe'"),
        &[json!({"Image": "c:\\windows\\CMD.EXE"})],
        &[json!({"Image": "C:\\Windows\\cmd.exe2"}), json!({})],
    );
    check(
        &sel("Image: 'prog?.exe'"),
        &[json!({"Image": "progA.exe"})],
        &[json!({"Image": "prog.exe"})],
    );
    check(
        &sel("Image: 'antivirus_V*.exe'"),
        &[json!({"Image": "antivirus_V21.2.1.exe"})],
        &[json!({"Image": "antivirus.exe"})],
    );
    check(
        &sel("EventID: 4688"),
        &[json!({"EventID": 4688}), json!({"EventID": "4688"})],
        &[json!({"EventID": 46880})],
    );
    check(
        &sel("Value: 'a\\*b'"),
        &[json!({"Value": "a*b"})],
        &[json!({"Value": "axxb"})],
    );
}

#[test]
fn lists_are_or_and_maps_are_and() {
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  selection:\n    EventLog: Security\n    EventID: [517, 1102]\n  condition: selection\n");
    check(
        &r,
        &[json!({"EventLog": "Security", "EventID": 1102})],
        &[
            json!({"EventLog": "Security", "EventID": 4624}),
            json!({"EventID": 517}),
        ],
    );
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  selection:\n    - Image|endswith: '\\example.exe'\n    - Description|contains: 'Test executable'\n  condition: selection\n");
    check(
        &r,
        &[
            json!({"Image": "C:\\example.exe"}),
            json!({"Description": "A Test executable here"}),
        ],
        &[json!({"Image": "x.exe"})],
    );
}

#[test]
fn generic_modifiers() {
    check(
        &sel("CommandLine|contains|all: ['-a', '-b']"),
        &[json!({"CommandLine": "x -b -a"})],
        &[json!({"CommandLine": "x -a"})],
    );
    check(
        &sel("User|startswith: 'adm'"),
        &[json!({"User": "ADMIN"})],
        &[json!({"User": "xadm"})],
    );
    check(
        &sel("Image|endswith: '\\cmd.exe'"),
        &[json!({"Image": "C:\\x\\cmd.exe"})],
        &[json!({"Image": "C:\\cmd.exe.bak"})],
    );
    check(
        &sel("PasswordLastSet|exists: true"),
        &[
            json!({"PasswordLastSet": null}),
            json!({"PasswordLastSet": "x"}),
        ],
        &[json!({"Other": 1})],
    );
    check(
        &sel("PasswordLastSet|exists: false"),
        &[json!({"Other": 1})],
        &[json!({"PasswordLastSet": ""})],
    );
    check(
        &sel("Name|cased: 'CamelCase'"),
        &[json!({"Name": "CamelCase"})],
        &[json!({"Name": "camelcase"})],
    );
    check(
        &sel("Name|contains|cased: 'Mimi'"),
        &[json!({"Name": "xMimix"})],
        &[json!({"Name": "xmimix"})],
    );
    check(
        &sel("Status|neq: 'ok'"),
        &[json!({"Status": "failed"}), json!({})],
        &[json!({"Status": "OK"})],
    );
    check(
        &sel("Port|neq: [80, 443]"),
        &[json!({"Port": 22})],
        &[json!({"Port": 443}), json!({"Port": 80})],
    );
}

#[test]
fn string_modifiers_windash_and_regex() {
    let r = sel("CommandLine|windash|contains: ' -exec '");
    check(
        &r,
        &[
            json!({"CommandLine": "x -exec y"}),
            json!({"CommandLine": "x /exec y"}),
            json!({"CommandLine": "x \u{2013}exec y"}),
            json!({"CommandLine": "x \u{2015}exec y"}),
        ],
        &[json!({"CommandLine": "x +exec y"})],
    );
    check(
        &sel("Cmd|re: 'ab+c'"),
        &[json!({"Cmd": "xabbbcx"})],
        &[json!({"Cmd": "ABC"}), json!({"Cmd": "ac"})],
    );
    check(
        &sel("Cmd|re|i: '^ab+c$'"),
        &[json!({"Cmd": "ABBC"})],
        &[json!({"Cmd": "xabc"})],
    );
    check(
        &sel("Cmd|re|m: '^second$'"),
        &[json!({"Cmd": "first\nsecond\nthird"})],
        &[json!({"Cmd": "first second"})],
    );
    check(
        &sel("Cmd|re|s: 'a.b'"),
        &[json!({"Cmd": "a\nb"})],
        &[json!({"Cmd": "ab"})],
    );
    check(
        &sel("Cmd|re: 'a.b'"),
        &[json!({"Cmd": "axb"})],
        &[json!({"Cmd": "a\nb"})],
    );
}

#[test]
fn encoding_modifiers() {
    // base64 of "/bin/bash" is L2Jpbi9iYXNo.
    check(
        &sel("Data|base64: '/bin/bash'"),
        &[json!({"Data": "L2Jpbi9iYXNo"})],
        &[json!({"Data": "x"})],
    );
    let r = sel("CommandLine|base64offset|contains: '/bin/bash'");
    let encoded = |prefix: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{prefix}/bin/bash -c id"))
    };
    check(
        &r,
        &[
            json!({"CommandLine": encoded("")}),
            json!({"CommandLine": encoded("x")}),
            json!({"CommandLine": encoded("xy")}),
        ],
        &[
            json!({"CommandLine": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "/bin/zsh -c id")}),
        ],
    );
    // utf16le then base64: how PowerShell -EncodedCommand carries text.
    let ps = {
        use base64::Engine as _;
        let wide: Vec<u8> = "IEX (New-Object Net.WebClient)"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        base64::engine::general_purpose::STANDARD.encode(wide)
    };
    check(
        &sel("CommandLine|wide|base64offset|contains: 'New-Object'"),
        &[json!({"CommandLine": ps})],
        &[json!({"CommandLine": "New-Object"})],
    );
    check(
        &sel("Data|utf16le|contains: 'cmd'"),
        &[json!({"Data": "c\u{0}m\u{0}d\u{0}"})],
        &[json!({"Data": "cmd"})],
    );
    check(
        &sel("Data|utf16be|contains: 'cmd'"),
        &[json!({"Data": "\u{0}c\u{0}m\u{0}d"})],
        &[json!({"Data": "cmd"})],
    );
}

#[test]
fn numeric_modifiers() {
    check(
        &sel("Count|lt: 10"),
        &[json!({"Count": 9}), json!({"Count": "9.5"})],
        &[json!({"Count": 10}), json!({"Count": "x"})],
    );
    check(
        &sel("Count|lte: 10"),
        &[json!({"Count": 10})],
        &[json!({"Count": 11})],
    );
    check(
        &sel("Count|gt: 10"),
        &[json!({"Count": 10.5})],
        &[json!({"Count": 10})],
    );
    check(
        &sel("Count|gte: 10"),
        &[json!({"Count": "10"})],
        &[json!({"Count": 9})],
    );
}

#[test]
fn time_modifiers() {
    let t = "2025-08-02T13:45:10Z";
    check(
        &sel("Time|minute: 45"),
        &[json!({"Time": t})],
        &[json!({"Time": "2025-08-02T13:44:10Z"})],
    );
    check(
        &sel("Time|hour: 13"),
        &[json!({"Time": t})],
        &[json!({"Time": "2025-08-02T14:45:10Z"})],
    );
    check(
        &sel("Time|day: 2"),
        &[json!({"Time": t})],
        &[json!({"Time": "2025-08-03T13:45:10Z"})],
    );
    check(
        &sel("Time|week: 31"),
        &[json!({"Time": t})],
        &[json!({"Time": "2025-08-12T13:45:10Z"})],
    );
    check(
        &sel("Time|month: 8"),
        &[json!({"Time": t})],
        &[json!({"Time": "2025-09-02T13:45:10Z"})],
    );
    check(
        &sel("Time|year: 2025"),
        &[json!({"Time": t})],
        &[
            json!({"Time": "2024-08-02T13:45:10Z"}),
            json!({"Time": "not a date"}),
        ],
    );
    check(
        &sel("Time|hour|gte: 22"),
        &[json!({"Time": "2025-08-02T23:00:00Z"})],
        &[json!({"Time": t})],
    );
}

#[test]
fn cidr_for_ipv4_and_ipv6() {
    check(
        &sel("DestinationIp|cidr: 10.0.0.0/8"),
        &[json!({"DestinationIp": "10.1.2.3"})],
        &[
            json!({"DestinationIp": "11.0.0.1"}),
            json!({"DestinationIp": "not-an-ip"}),
        ],
    );
    check(
        &sel("DestinationIp|cidr: 'fe80::/10'"),
        &[json!({"DestinationIp": "fe80::1"})],
        &[json!({"DestinationIp": "2001:db8::1"})],
    );
    check(
        &sel("DestinationIp|cidr: ['192.168.0.0/16', '::1/128']"),
        &[
            json!({"DestinationIp": "::1"}),
            json!({"DestinationIp": "192.168.9.9"}),
        ],
        &[json!({"DestinationIp": "127.0.0.1"})],
    );
}

#[test]
fn fieldref_compares_fields() {
    check(
        &sel("SourceUser|fieldref: TargetUser"),
        &[json!({"SourceUser": "Bob", "TargetUser": "bob"})],
        &[
            json!({"SourceUser": "bob", "TargetUser": "alice"}),
            json!({"SourceUser": "bob"}),
        ],
    );
    check(
        &sel("User|fieldref|neq: Owner"),
        &[json!({"User": "a", "Owner": "b"})],
        &[json!({"User": "a", "Owner": "a"})],
    );
    check(
        &sel("Path|fieldref|startswith: Dir"),
        &[json!({"Path": "C:\\tmp\\x", "Dir": "C:\\tmp"})],
        &[json!({"Path": "D:\\x", "Dir": "C:\\tmp"})],
    );
}

#[test]
fn expand_resolves_placeholders_or_rejects() {
    let yaml = "title: t\nlogsource: {product: test}\ndetection:\n  selection:\n    Computer|expand: '%Servers%'\n  condition: selection\n";
    let mut placeholders = Placeholders::new();
    placeholders.insert("Servers", vec!["srv*".into(), "dc1".into()]);
    let r = rules_with(
        yaml,
        RuleSetOptions {
            placeholders,
            ..RuleSetOptions::default()
        },
    );
    check(
        &r,
        &[json!({"Computer": "SRV01"}), json!({"Computer": "dc1"})],
        &[json!({"Computer": "ws1"})],
    );
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    b.add_yaml(yaml, "t.yml");
    let set = b.build();
    assert_eq!(set.report().rejected.len(), 1);
    assert!(set.report().rejected[0].reason.contains("%Servers%"));
    // Without `expand`, percent signs are literal.
    check(
        &sel("Computer: '%Servers%'"),
        &[json!({"Computer": "%Servers%"})],
        &[json!({"Computer": "srv1"})],
    );
}

#[test]
fn null_and_empty_values() {
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  selection:\n    EventID: 4738\n  filter:\n    PasswordLastSet: null\n  condition: selection and not filter\n");
    check(
        &r,
        &[json!({"EventID": 4738, "PasswordLastSet": "x"})],
        &[
            json!({"EventID": 4738}),
            json!({"EventID": 4738, "PasswordLastSet": null}),
        ],
    );
    check(
        &sel("FieldB: ''"),
        &[json!({"FieldB": ""})],
        &[json!({"FieldB": "x"}), json!({})],
    );
}

#[test]
fn keyword_search_and_keyword_all() {
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  keywords:\n    - 'event::clear'\n    - 'event::drop'\n  condition: keywords\n");
    check(
        &r,
        &[
            json!({"msg": "mimikatz EVENT::drop now"}),
            json!({"a": {"b": "event::clear"}}),
        ],
        &[json!({"msg": "event::list"})],
    );
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords\n");
    check(
        &r,
        &[json!({"p": "Set-OabVirtualDirectory -ExternalUrl http"})],
        &[json!({"p": "Set-OabVirtualDirectory"})],
    );
}

/// Keywords are searched in the fields the record arrived with, not in
/// those derived from them (parsed out of the message, ECS renames): a
/// parser's constant `event.outcome: failure` is no word of the record.
#[test]
fn keywords_search_the_record_not_its_derived_fields() {
    let r = rules("title: t\nlogsource: {product: test}\ndetection:\n  keywords:\n    - 'failure'\n  condition: keywords\n");
    let derived = |message: &str| {
        let mut e = event(json!({"message": message}));
        e.end_original_fields();
        e.push(
            "event.outcome",
            watchfloor_model::Value::Str("failure".into()),
        );
        e
    };
    let fires = |e: &Event| {
        let mut out = Vec::new();
        r.evaluate(e, &mut Scratch::default(), &mut out);
        !out.is_empty()
    };
    assert!(!fires(&derived("Failed password for root")));
    assert!(fires(&derived("authentication failure; rhost=203.0.113.9")));
    // Without the mark every field is the record's own.
    let mut unmarked = event(json!({"message": "Failed password"}));
    unmarked.push(
        "event.outcome",
        watchfloor_model::Value::Str("failure".into()),
    );
    assert!(fires(&unmarked));
}

#[test]
fn every_condition_form() {
    let body = |condition: &str| {
        rules(&format!(
            "title: t\nlogsource: {{product: test}}\ndetection:\n  selection_a: {{A: 1}}\n  selection_b: {{B: 1}}\n  filter_x: {{X: 1}}\n  _hidden: {{H: 1}}\n  condition: {condition}\n"
        ))
    };
    check(
        &body("selection_a and selection_b"),
        &[json!({"A": 1, "B": 1})],
        &[json!({"A": 1})],
    );
    check(
        &body("selection_a or filter_x"),
        &[json!({"X": 1})],
        &[json!({"B": 1})],
    );
    check(
        &body("selection_a and not filter_x"),
        &[json!({"A": 1})],
        &[json!({"A": 1, "X": 1})],
    );
    check(
        &body("(selection_a or selection_b) and not filter_x"),
        &[json!({"B": 1})],
        &[json!({"B": 1, "X": 1})],
    );
    check(
        &body("1 of selection_*"),
        &[json!({"B": 1})],
        &[json!({"X": 1})],
    );
    check(
        &body("all of selection_*"),
        &[json!({"A": 1, "B": 1})],
        &[json!({"A": 1})],
    );
    check(&body("1 of them"), &[json!({"X": 1})], &[json!({"H": 1})]);
    check(
        &body("all of them"),
        &[json!({"A": 1, "B": 1, "X": 1})],
        &[json!({"A": 1, "B": 1})],
    );
    check(
        &body("1 of selection_* and not 1 of filter*"),
        &[json!({"A": 1})],
        &[json!({"A": 1, "X": 1})],
    );
    check(
        &body("[selection_a, filter_x]"),
        &[json!({"X": 1}), json!({"A": 1})],
        &[json!({"B": 1})],
    );
}

#[test]
fn invalid_rules_are_rejected_with_reasons_and_others_still_load() {
    let bad = [
        (
            "detection:\n  sel: {A|nosuchmod: 1}\n  condition: sel\n",
            "unknown modifier",
        ),
        (
            "detection:\n  sel: {A|re: '(unclosed'}\n  condition: sel\n",
            "invalid regular expression",
        ),
        (
            "detection:\n  sel: {A: 1}\n  condition: sel and missing\n",
            "undefined search identifier",
        ),
        (
            "detection:\n  sel: {A: 1}\n  condition: sel | count() > 5\n",
            "obsolete",
        ),
        ("detection:\n  sel: {A: 1}\n", "no 'condition'"),
        (
            "detection:\n  sel: {A|cidr: 'not-a-net'}\n  condition: sel\n",
            "invalid CIDR",
        ),
        (
            "detection:\n  sel: {A|gt: 'abc'}\n  condition: sel\n",
            "not a number",
        ),
    ];
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    for (i, (body, _)) in bad.iter().enumerate() {
        b.add_yaml(
            &format!("title: bad{i}\nlogsource: {{product: test}}\n{body}"),
            &format!("bad{i}.yml"),
        );
    }
    b.add_yaml(
        "title: good\nlogsource: {product: test}\ndetection:\n  sel: {A: 1}\n  condition: sel\n",
        "good.yml",
    );
    b.add_yaml("title: [unclosed\n", "broken.yml");
    let set = b.build();
    let rejected = &set.report().rejected;
    assert_eq!(rejected.len(), bad.len() + 1);
    for (i, (_, reason)) in bad.iter().enumerate() {
        let r = rejected
            .iter()
            .find(|r| r.path == format!("bad{i}.yml"))
            .unwrap();
        assert!(
            r.reason.contains(reason),
            "{} should say {reason}",
            r.reason
        );
    }
    assert!(rejected
        .iter()
        .any(|r| r.path == "broken.yml" && r.reason.contains("invalid YAML")));
    assert_eq!(set.report().rules_loaded, 1);
    assert!(matches(&set, json!({"A": 1})));
}

#[test]
fn filters_exclude_from_the_rules_they_name() {
    let yaml = "title: Rar\nid: 6f3e2987-db24-4c78-a860-b4f4095a7095\nlogsource: {category: process_creation, product: windows}\ndetection:\n  selection:\n    Image|endswith: '\\rar.exe'\n  condition: selection\n---\ntitle: Filter Administrator account\nlogsource: {category: process_creation, product: windows}\nfilter:\n  rules:\n    - 6f3e2987-db24-4c78-a860-b4f4095a7095\n  selection:\n    User|startswith: 'adm_'\n  condition: selection\n";
    let r = rules(yaml);
    let ev = |user: &str| json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\rar.exe", "User": user});
    check(&r, &[ev("bob")], &[ev("adm_bob")]);
}

#[test]
fn logsource_routing_maps_fields_for_security_4688() {
    let r = rules("title: t\nlogsource: {category: process_creation, product: windows}\ndetection:\n  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n");
    let sysmon = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "C:\\whoami.exe"});
    let security =
        json!({"Channel": "Security", "EventID": 4688, "NewProcessName": "C:\\whoami.exe"});
    let wrong_id = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 3, "Image": "C:\\whoami.exe"});
    let wrong_channel = json!({"Channel": "Application", "EventID": 1, "Image": "C:\\whoami.exe"});
    check(&r, &[sysmon, security], &[wrong_id, wrong_channel]);
}

/// Feeds events through a rule set and its correlations in time order.
fn correlate(set: &RuleSet, events: &[(&str, Json)]) -> Vec<String> {
    let mut engine = CorrelationEngine::new(set.correlations(), Limits::default());
    let mut fired = Vec::new();
    let mut scratch = Scratch::default();
    for (time, doc) in events {
        let e = event(doc.clone());
        let ts = parse_timestamp(time).unwrap();
        let mut out = Vec::new();
        set.evaluate(&e, &mut scratch, &mut out);
        for r in out {
            if let Some(fields) = set.correlation_fields(r) {
                for m in engine.process(&Hit::from_event(Source::Rule(r), ts, &e, fields)) {
                    fired.push(set.correlations()[m.correlation].meta.title.clone());
                }
            }
        }
    }
    fired
}

const FAILED_THEN_SUCCESS: &str = r#"
title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 529
            - 4625
    condition: selection
---
title: Successful login
id: 4d0a2c83-c62c-4ed4-b475-c7e23a9269b8
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID:
            - 528
            - 4624
    condition: selection
"#;

fn logon(id: u32, user: &str) -> Json {
    json!({"Channel": "Security", "EventID": id, "User": user})
}

#[test]
fn the_specifications_chained_example_fires_once() {
    let set = rules(FAILED_THEN_SUCCESS);
    assert_eq!(set.correlations().len(), 2);
    // The base rules only feed the correlations.
    assert!(set.rules().iter().all(|r| !r.emit));
    let mut events: Vec<(String, Json)> = (0..10)
        .map(|i| (format!("2024-01-01T00:00:{i:02}Z"), logon(4625, "bob")))
        .collect();
    events.push(("2024-01-01T00:01:00Z".into(), logon(4624, "bob")));
    let refs: Vec<(&str, Json)> = events
        .iter()
        .map(|(t, e)| (t.as_str(), e.clone()))
        .collect();
    let fired = correlate(&set, &refs);
    assert_eq!(
        fired,
        vec![
            "Multiple failed logons",
            "Correlation - Multiple Failed Logins Followed by Successful Login"
        ]
    );
    // Nine failures are not enough; another user's success does not count.
    let mut few: Vec<(String, Json)> = (0..9)
        .map(|i| (format!("2024-01-01T00:00:{i:02}Z"), logon(4625, "bob")))
        .collect();
    few.push(("2024-01-01T00:01:00Z".into(), logon(4624, "bob")));
    few.push(("2024-01-01T00:01:01Z".into(), logon(4624, "eve")));
    let refs: Vec<(&str, Json)> = few.iter().map(|(t, e)| (t.as_str(), e.clone())).collect();
    assert!(correlate(&set, &refs).is_empty());
}

#[test]
fn aliases_group_across_different_fields() {
    let yaml = r#"
title: Error then connection
correlation:
    type: temporal
    rules: [internal_error, new_network_connection]
    group-by: [internal_ip, remote_ip]
    timespan: 10s
    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip
---
title: e
name: internal_error
logsource: {category: webserver}
detection:
    selection:
        http.response.status_code: 500
    condition: selection
---
title: c
name: new_network_connection
logsource: {category: network}
detection:
    selection:
        event.category: network
        event.type: connection
    condition: selection
"#;
    let set = rules(yaml);
    // Category rules read only events that declare the category.
    let err = json!({"logsource": {"category": "webserver"}, "http": {"response": {"status_code": 500}}, "destination": {"ip": "10.0.0.5"}, "source": {"ip": "1.2.3.4"}});
    let conn = |src: &str| json!({"event": {"category": "network", "type": "connection"}, "source": {"ip": src}, "destination": {"ip": "1.2.3.4"}});
    assert_eq!(
        correlate(
            &set,
            &[
                ("2024-01-01T00:00:00Z", err.clone()),
                ("2024-01-01T00:00:05Z", conn("10.0.0.5"))
            ]
        )
        .len(),
        1
    );
    assert!(correlate(
        &set,
        &[
            ("2024-01-01T00:00:00Z", err.clone()),
            ("2024-01-01T00:00:05Z", conn("10.0.0.6"))
        ]
    )
    .is_empty());
    assert!(correlate(
        &set,
        &[
            ("2024-01-01T00:00:00Z", err),
            ("2024-01-01T00:00:30Z", conn("10.0.0.5"))
        ]
    )
    .is_empty());
}

fn metric_rules(kind: &str, condition: &str) -> RuleSet {
    rules(&format!(
        "title: corr\ncorrelation:\n  type: {kind}\n  rules: [web]\n  group-by: [SourceIP]\n  timespan: 1h\n  condition:\n{condition}\n---\ntitle: web\nname: web\nlogsource: {{category: proxy}}\ndetection:\n  selection:\n    cs-method: POST\n  condition: selection\n"
    ))
}

fn post(ip: &str, bytes: u64, host: &str) -> Json {
    json!({"logsource": {"category": "proxy"}, "cs-method": "POST", "SourceIP": ip, "bytes_sent": bytes, "host": host})
}

#[test]
fn value_count_sum_avg_percentile_through_yaml() {
    let t = |s: u32| format!("2024-01-01T00:{:02}:{:02}Z", s / 60, s % 60);
    let run = |set: &RuleSet, docs: Vec<Json>| {
        let events: Vec<(String, Json)> = docs
            .into_iter()
            .enumerate()
            .map(|(i, d)| (t(i as u32), d))
            .collect();
        let refs: Vec<(&str, Json)> = events
            .iter()
            .map(|(a, b)| (a.as_str(), b.clone()))
            .collect();
        correlate(set, &refs).len()
    };
    let vc = metric_rules("value_count", "    field: host\n    gte: 3");
    assert_eq!(
        run(
            &vc,
            vec![post("1", 1, "a"), post("1", 1, "b"), post("1", 1, "c")]
        ),
        1
    );
    assert_eq!(
        run(
            &vc,
            vec![post("1", 1, "a"), post("1", 1, "a"), post("1", 1, "b")]
        ),
        0
    );
    let sum = metric_rules("value_sum", "    field: bytes_sent\n    gt: 1000000");
    assert_eq!(
        run(&sum, vec![post("1", 600_000, "a"), post("1", 600_000, "a")]),
        1
    );
    assert_eq!(
        run(&sum, vec![post("1", 600_000, "a"), post("2", 600_000, "a")]),
        0
    );
    let avg = metric_rules("value_avg", "    field: bytes_sent\n    gt: 500");
    assert_eq!(
        run(&avg, vec![post("1", 100, "a"), post("1", 2000, "a")]),
        1
    );
    assert_eq!(run(&avg, vec![post("1", 100, "a"), post("1", 800, "a")]), 0);
    let pct = metric_rules("value_percentile", "    field: host\n    lte: 5");
    let mut docs: Vec<Json> = (0..30).map(|_| post("1", 1, "common")).collect();
    docs.push(post("1", 1, "rare"));
    assert_eq!(run(&pct, docs), 1);
    let ec_range = metric_rules("event_count", "    gt: 2\n    lte: 3");
    assert_eq!(
        run(
            &ec_range,
            vec![post("1", 1, "a"), post("1", 1, "a"), post("1", 1, "a")]
        ),
        1
    );
}

#[test]
fn correlations_with_unknown_rules_are_rejected() {
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    b.add_yaml("title: c\ncorrelation:\n  type: event_count\n  rules: [nope]\n  group-by: [a]\n  timespan: 5m\n  condition: {gte: 2}\n", "c.yml");
    let set = b.build();
    assert!(set.report().rejected[0]
        .reason
        .contains("unknown rule 'nope'"));
}

#[test]
fn one_scratch_serves_several_rule_sets() {
    // After a reload the old scratch space meets a new set with other
    // channels: its memo must not be trusted.
    let two_channels = rules(
        "title: A\nlogsource: {product: windows, service: security}\ndetection:\n  sel:\n    EventID: 4625\n  condition: sel\n---\ntitle: B\nlogsource: {product: windows, service: sysmon}\ndetection:\n  sel:\n    Image|endswith: '\\\\x.exe'\n  condition: sel\n",
    );
    let one_channel = rules(
        // Would match the Sysmon event if its channel were taken for `system`.
        "title: C\nlogsource: {product: windows, service: system}\ndetection:\n  sel:\n    Image|endswith: '\\\\x.exe'\n  condition: sel\n",
    );
    let sysmon = event(
        json!({"Event": {"System": {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1}, "EventData": {"Image": "C:\\x.exe"}}}),
    );
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for set in [&two_channels, &one_channel, &two_channels] {
        out.clear();
        set.evaluate(&sysmon, &mut scratch, &mut out);
        let titles: Vec<&str> = out
            .iter()
            .map(|&r| set.rules()[r].meta.title.as_str())
            .collect();
        let expected: &[&str] = if set.rules().len() == 2 { &["B"] } else { &[] };
        assert_eq!(titles, expected);
    }
}
