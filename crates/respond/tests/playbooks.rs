//! Playbook documents: the shipped ones load; a broken one reports every
//! problem at once, each naming its step; a directory loads what it can.

use watchfloor_respond::playbook::{parse, Library, SHIPPED};

#[test]
fn the_shipped_playbooks_load() {
    let library = Library::load(None);
    assert!(library.rejected.is_empty(), "{:?}", library.rejected);
    assert_eq!(library.playbooks.len(), SHIPPED.len());
    let ddos = &library.playbooks["ddos-block"];
    assert!(ddos.triggered_by("ddos", &[], &[]));
    assert!(!ddos.triggered_by("phishing", &[], &[]));
}

#[test]
fn every_problem_is_reported_with_its_step() {
    let text = r#"
id: Bad Id
title: broken
steps:
  - id: first
    action: nftables.ad
    with: {set: x}
    next: nowhere
  - id: first
    approval: {approvers: 0, roles: [root], shows: [ghost], message: "{{ oops( }}"}
  - id: both
    action: incident.comment
    wait: 5m
    with: {text: "{{ incident.id }}"}
  - id: loop
    action: incident.comment
    with: {text: "{{ item }", extra: 1}
    for_each: "alert.fields.users |"
    compensate: first
    retry: {attempts: 0}
  - id: island
    wait: 1m
    approved: first
"#;
    let problems = parse(text).unwrap_err();
    let expect = [
        "id \"Bad Id\"",
        "step \"first\": defined twice",
        "action \"nftables.ad\" is unknown",
        "next: no step \"nowhere\"",
        "approval.approvers: at least 1",
        "approval.roles: \"root\"",
        "approval.shows: no step \"ghost\"",
        "approval.message",
        "step \"both\": needs exactly one of",
        "incident.comment takes no `with.extra`",
        "step \"loop\": for_each",
        "retry.attempts: at least 1",
        "`approved` and `denied` belong to approval steps",
        "step \"island\": no path from the first step reaches it",
    ];
    for e in expect {
        assert!(
            problems.iter().any(|p| p.contains(e)),
            "missing {e:?} in {problems:#?}"
        );
    }
}

#[test]
fn bad_yaml_and_bad_durations_say_where() {
    let problems = parse("id: x\ntitle: t\ntimeout: soon\nsteps: []\n").unwrap_err();
    assert!(
        problems[0].contains("\"soon\" is not a duration"),
        "{problems:?}"
    );
    let problems = parse("id: x\ntitle: t\nsteps:\n  - id: a\n    wiat: 5m\n").unwrap_err();
    assert!(problems[0].contains("unknown field `wiat`"), "{problems:?}");
}

#[test]
fn a_directory_loads_what_it_can_and_user_files_replace_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ddos-block.yml"),
        "id: ddos-block\ntitle: ours\nsteps:\n  - id: note\n    action: incident.comment\n    with: {text: hi}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.yaml"), "id: [\n").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a playbook").unwrap();
    let library = Library::load(Some(dir.path()));
    assert_eq!(library.playbooks["ddos-block"].title, "ours");
    assert_eq!(library.rejected.len(), 1);
    assert!(library.rejected[0].source.ends_with("broken.yaml"));
}

#[test]
fn the_ddos_playbook_dry_runs_every_step() {
    use watchfloor_respond::run::RunEvent;
    let library = Library::load(None);
    let playbook = library.playbooks["ddos-block"].clone();
    let started = RunEvent::Started {
        playbook,
        trigger: "manual".into(),
        started_by: "alice".into(),
        context: serde_json::json!({
            "alert": {"host": "10.0.0.80", "fields": {"attackers": ["198.51.100.7"]}},
            "params": {"netns": "", "block_for": "30m", "max_sources": 50},
        }),
        deadline_ns: 1_000_000_000_000_000_000,
    };
    let steps = watchfloor_respond::dry::dry_run(&started);
    let names: Vec<String> = steps
        .iter()
        .map(|s| format!("{} {:?}", s.step, s.would))
        .collect();
    assert_eq!(names.len(), 6, "{names:#?}");
    assert!(names[2].contains("(known when it runs)"), "{names:#?}");
    assert_eq!(names[3], "hold [\"wait 30m\"]");
}
