//! The pipeline over a real log and real stores: detection with the starter
//! rules, search, and a restart that replays without storing twice.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfloor_ingest::{Kind, RawRecord, Wal, WalOptions};
use watchfloor_intel::{
    DecayModel, Indicator, Intel, Kind as IndicatorKind, Tlp, Warninglists, SHARED,
};
use watchfloor_model::{now_ns, AlertKind};
use watchfloor_pipeline::retro::retro_hunt;
use watchfloor_pipeline::{
    load_checkpoint, Pipeline, PipelineMetrics, PipelineOptions, RuleSources, Rules,
};
use watchfloor_search::{EventStore, SearchRequest, TantivyEventStore, TantivyOptions};
use watchfloor_state::{AlertFilter, AlertStore, CheckpointStore, IntelStore, SqliteStateStore};

fn syslog(line: &str) -> RawRecord {
    RawRecord {
        received_ns: now_ns(),
        kind: Kind::Syslog,
        source: "syslog-tcp".into(),
        tenant: "default".into(),
        peer: "127.0.0.1".into(),
        truncated: false,
        body: line.as_bytes().to_vec(),
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    wal: Arc<Wal>,
    events: Arc<TantivyEventStore>,
    state: Arc<SqliteStateStore>,
}

fn start(dir: &Path) -> Running {
    start_with(dir, |store| store, None)
}

/// Starts the pipeline over the event store that `wrap` makes of the real
/// one, matching `intel` if given.
fn start_with(
    dir: &Path,
    wrap: impl FnOnce(Arc<TantivyEventStore>) -> Arc<dyn EventStore>,
    intel: Option<Arc<Intel>>,
) -> Running {
    let events = Arc::new(
        TantivyEventStore::open(
            &dir.join("events"),
            TantivyOptions {
                writer_memory: 15 << 20,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let state = Arc::new(SqliteStateStore::open(&dir.join("state.db")).unwrap());
    let (checkpoint, _) = load_checkpoint(state.as_ref()).unwrap();
    let wal = Arc::new(Wal::open(&dir.join("wal"), WalOptions::default(), checkpoint + 1).unwrap());
    let rules = Arc::new(
        Rules::load(RuleSources {
            starter: true,
            ..Default::default()
        })
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let p = Pipeline {
        wal: wal.clone(),
        events: wrap(events.clone()),
        state: state.clone(),
        rules,
        intel,
        metrics: Arc::new(PipelineMetrics::default()),
        options: PipelineOptions {
            commit_interval: Duration::from_millis(100),
            ..Default::default()
        },
        stop: stop.clone(),
    };
    let thread = std::thread::spawn(move || p.run().unwrap());
    Running {
        stop,
        thread,
        wal,
        events,
        state,
    }
}

impl Running {
    fn append(&self, lines: &[String]) {
        self.append_records(lines.iter().map(|l| syslog(l)).collect());
    }

    fn append_records(&self, records: Vec<RawRecord>) {
        let appender = self.wal.appender();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(appender.append(records))
            .unwrap();
    }

    fn wait_for_events(&self, query: &str, n: usize) -> Vec<u64> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let page = self
                .events
                .search(&SearchRequest {
                    query: query.into(),
                    tenant: "default".into(),
                    limit: 1000,
                    ..Default::default()
                })
                .unwrap();
            if page.events.len() >= n || Instant::now() > deadline {
                return page.events.iter().map(|e| e.id).collect();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn alerts(&self) -> Vec<String> {
        self.stored_alerts()
            .into_iter()
            .map(|a| a.rule_title)
            .collect()
    }

    fn stored_alerts(&self) -> Vec<watchfloor_model::Alert> {
        self.state
            .list_alerts(&AlertFilter {
                tenant: "default".into(),
                limit: 100,
                ..Default::default()
            })
            .unwrap()
    }

    /// The (addresses, user) of the alerts whose title starts with
    /// `title`, sorted, once `n` are stored (or after 20 s).
    fn alert_entities(&self, title: &str, n: usize) -> Vec<(Vec<String>, Option<String>)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let mut named: Vec<(Vec<String>, Option<String>)> = self
                .stored_alerts()
                .into_iter()
                .filter(|a| a.rule_title.starts_with(title))
                .map(|a| (a.ips, a.user))
                .collect();
            if named.len() >= n || Instant::now() > deadline {
                named.sort();
                return named;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until detection has checkpointed record `lsn`.
    fn wait_for_detection(&self, lsn: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let at = self.state.get_checkpoint("pipeline.checkpoint").unwrap();
            if at.is_some_and(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()) >= lsn) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("detection did not reach record {lsn}");
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap();
    }
}

#[test]
fn detects_stores_and_replays_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(dir.path());
    let mut lines: Vec<String> = (0..6)
        .map(|i| format!("<38>Nov 25 10:00:0{i} srv1 sshd[42]: Failed password for root from 203.0.113.9 port 5{i}000 ssh2"))
        .collect();
    lines.push("<86>Nov 25 10:00:09 srv1 sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash".into());
    lines.push("<13>Nov 25 10:00:10 srv2 app: all quiet".into());
    run.append(&lines);
    assert_eq!(run.wait_for_events("", 8).len(), 8);
    assert_eq!(
        run.wait_for_events("hostname:srv1 \"failed password\"", 6)
            .len(),
        6
    );
    // Parsed fields are stored and searchable.
    assert_eq!(
        run.wait_for_events("source.ip:203.0.113.9 user.name:root", 6)
            .len(),
        6
    );
    let alerts = run.alerts();
    assert!(
        alerts.contains(&"SSH brute force".to_string()),
        "{alerts:?}"
    );
    assert!(
        alerts.contains(&"Root shell through sudo".to_string()),
        "{alerts:?}"
    );
    assert_eq!(alerts.iter().filter(|a| *a == "SSH brute force").count(), 1);
    run.stop();

    // A restart replays from the checkpoint: nothing new, nothing twice.
    let run = start(dir.path());
    run.append(&[
        "<86>Nov 25 10:00:11 srv2 sudo: bob : TTY=pts/1 ; PWD=/ ; USER=root ; COMMAND=/bin/sh"
            .to_string(),
    ]);
    let ids = run.wait_for_events("", 9);
    assert_eq!(ids.len(), 9);
    let before = run.alerts().len();
    run.stop();

    // Move the checkpoint back (as a crash between the store commits and
    // the checkpoint would): record 9, with its alert, is replayed into
    // stores that already hold it, and they keep one copy.
    let state = SqliteStateStore::open(&dir.path().join("state.db")).unwrap();
    state
        .put_checkpoints(&[
            ("pipeline.checkpoint", &8u64.to_le_bytes()),
            ("pipeline.index_checkpoint", &8u64.to_le_bytes()),
        ])
        .unwrap();
    drop(state);
    let run = start(dir.path());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(run.wait_for_events("", 9).len(), 9);
    assert_eq!(run.alerts().len(), before);
    run.stop();
}

/// The indicators of the state store in `dir` (as `serve` loads them at
/// start), with a warninglist naming 8.8.8.8.
fn intel_of(dir: &Path) -> Arc<Intel> {
    let mut lists = Warninglists::default();
    lists.add(
        "List of known IPv4 public DNS resolvers".into(),
        "cidr",
        &["8.8.8.8/32".into()],
    );
    let intel = Intel::new(DecayModel::default(), lists);
    let state = SqliteStateStore::open(&dir.join("state.db")).unwrap();
    let mut held: Vec<(String, Indicator)> = Vec::new();
    state
        .for_each_indicator(&mut |scope, ind| held.push((scope.into(), ind)))
        .unwrap();
    for (scope, ind) in held {
        intel.restore(&scope, vec![ind]);
    }
    Arc::new(intel)
}

fn sightings(dir: &Path, value: &str) -> u64 {
    let state = SqliteStateStore::open(&dir.join("state.db")).unwrap();
    let mut n = 0;
    state
        .for_each_indicator(&mut |_, ind| {
            if ind.value == value {
                n = ind.sightings;
            }
        })
        .unwrap();
    n
}

#[test]
fn indicators_raise_alerts_and_sightings_once_across_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let indicator = |kind, value: &str, confidence| Indicator {
        kind,
        value: value.into(),
        source: "test feed".into(),
        confidence,
        tlp: Tlp::Amber,
        labels: vec!["c2".into()],
        first_seen_ns: now_ns(),
        last_seen_ns: now_ns(),
        valid_until_ns: None,
        sightings: 0,
    };
    {
        let state = SqliteStateStore::open(&dir.path().join("state.db")).unwrap();
        state
            .put_indicators(
                SHARED,
                &[
                    indicator(IndicatorKind::Ip, "203.0.113.0/24", 90),
                    indicator(IndicatorKind::Ip, "8.8.8.8", 90),
                ],
            )
            .unwrap();
        state
            .put_indicators(
                "default",
                &[indicator(IndicatorKind::Domain, "evil.example", 60)],
            )
            .unwrap();
    }
    let run = start_with(dir.path(), |s| s, Some(intel_of(dir.path())));
    run.append(&[
        "<38>Nov 25 10:00:01 srv1 sshd[42]: Failed password for root from 203.0.113.9 port 50000 ssh2".into(),
        "<38>Nov 25 10:00:02 srv1 sshd[42]: Failed password for admin from 203.0.113.77 port 50001 ssh2".into(),
        "<30>Nov 25 10:00:03 gw dnsmasq[7]: query[A] cdn.evil.example from 10.0.0.23".into(),
        "<30>Nov 25 10:00:04 gw dnsmasq[7]: query[A] good.example from 8.8.8.8".into(),
    ]);
    assert_eq!(run.wait_for_events("", 4).len(), 4);
    let intel_alerts = |run: &Running, n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<_> = run
                .stored_alerts()
                .into_iter()
                .filter(|a| a.kind == AlertKind::Intel)
                .collect();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let found = intel_alerts(&run, 3);
    let mut seen: Vec<(String, String, String)> = found
        .iter()
        .map(|a| {
            let f = |k: &str| a.fields[k].as_str().unwrap_or_default().to_string();
            (f("intel.indicator"), f("intel.value"), a.level.to_string())
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "203.0.113.0/24".into(),
                "203.0.113.77".into(),
                "high".into()
            ),
            ("203.0.113.0/24".into(), "203.0.113.9".into(), "high".into()),
            (
                "evil.example".into(),
                "cdn.evil.example".into(),
                "medium".into()
            ),
        ],
        "8.8.8.8 is on a warninglist: no alert"
    );
    let ssh = found
        .iter()
        .find(|a| a.fields["intel.value"] == "203.0.113.9")
        .unwrap();
    assert_eq!(ssh.user.as_deref(), Some("root"), "the event's entities");
    assert_eq!(ssh.fields["intel.scope"], "*");
    run.stop();
    assert_eq!(sightings(dir.path(), "203.0.113.0/24"), 2);
    assert_eq!(sightings(dir.path(), "evil.example"), 1);

    // Replay everything (as after a crash before the checkpoint): the
    // alerts are stored once, and the sightings are not counted again.
    let state = SqliteStateStore::open(&dir.path().join("state.db")).unwrap();
    state
        .put_checkpoints(&[
            ("pipeline.checkpoint", &0u64.to_le_bytes()),
            ("pipeline.index_checkpoint", &0u64.to_le_bytes()),
        ])
        .unwrap();
    drop(state);
    let run = start_with(dir.path(), |s| s, Some(intel_of(dir.path())));
    run.wait_for_detection(4);
    assert_eq!(intel_alerts(&run, 3).len(), 3);
    run.stop();
    assert_eq!(sightings(dir.path(), "203.0.113.0/24"), 2);
}

#[test]
fn a_retro_hunt_finds_events_stored_before_their_indicator_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let intel = intel_of(dir.path());
    let run = start_with(dir.path(), |s| s, Some(intel.clone()));
    let other = |line: &str| RawRecord {
        tenant: "other".into(),
        ..syslog(line)
    };
    run.append(&[
        "<38>Nov 25 10:00:01 srv1 sshd[42]: Failed password for root from 198.51.100.23 port 50000 ssh2".into(),
        "<30>Nov 25 10:00:03 gw dnsmasq[7]: query[A] cdn.late.example from 10.0.0.23".into(),
        "<30>Nov 25 10:00:04 gw dnsmasq[7]: query[A] good.example from 8.8.8.8".into(),
    ]);
    run.append_records(vec![other(
        "<30>Nov 25 10:00:05 gw dnsmasq[7]: query[A] www.late.example from 10.9.0.1",
    )]);
    assert_eq!(run.wait_for_events("", 3).len(), 3);
    run.wait_for_detection(4);
    assert!(run
        .stored_alerts()
        .iter()
        .all(|a| a.kind != AlertKind::Intel));

    let fresh = |kind, value: &str| Indicator {
        kind,
        value: value.into(),
        source: "late feed".into(),
        confidence: 80,
        tlp: Tlp::Amber,
        labels: vec!["phishing".into()],
        first_seen_ns: now_ns(),
        last_seen_ns: now_ns(),
        valid_until_ns: None,
        sightings: 0,
    };
    let hunt = |scope: &str, indicators: Vec<Indicator>| {
        intel.import(scope, indicators.clone());
        let window = (now_ns() - 30 * 86_400 * 1_000_000_000, now_ns());
        retro_hunt(
            run.events.as_ref(),
            run.state.as_ref(),
            &intel,
            scope,
            indicators,
            window,
        )
        .unwrap()
    };
    // The tenant's own indicators: its events only (the other tenant's
    // www.late.example stays out); 8.8.8.8 is warninglisted.
    let own = vec![
        fresh(IndicatorKind::Domain, "late.example"),
        fresh(IndicatorKind::Ip, "198.51.100.0/24"),
        fresh(IndicatorKind::Ip, "8.8.8.8"),
    ];
    let report = hunt("default", own.clone());
    assert_eq!((report.indicators, report.events), (3, 3));
    assert_eq!(
        (report.matches, report.alerts),
        (2, 2),
        "networks make every event parsed: {report:?}"
    );
    let retro: Vec<_> = run
        .stored_alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Intel)
        .collect();
    assert_eq!(retro.len(), 2);
    for alert in &retro {
        assert_eq!(alert.fields["intel.retro"], true);
        assert!(alert.tags.contains(&"retro".to_string()));
        assert!(alert
            .rule_title
            .starts_with("Threat intel match (retro-hunt): "));
        assert!(alert.time_ns < now_ns() - 1_000_000, "the event's time");
    }
    let ssh = retro
        .iter()
        .find(|a| a.fields["intel.value"] == "198.51.100.23");
    assert_eq!(ssh.and_then(|a| a.user.as_deref()), Some("root"));

    // The same hunt again stores nothing new and counts no sighting twice.
    let again = hunt("default", own);
    assert_eq!((again.matches, again.alerts), (2, 0));
    // The shared scope reads every tenant's events; the alert goes to the
    // event's tenant.
    let shared = hunt(
        SHARED,
        vec![fresh(IndicatorKind::Domain, "www.late.example")],
    );
    assert_eq!(
        (shared.events, shared.parsed, shared.matches, shared.alerts),
        (4, 1, 1, 1),
        "only the event holding the name is parsed: {shared:?}"
    );
    let others = run
        .state
        .list_alerts(&AlertFilter {
            tenant: "other".into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(others.len(), 1);
    assert_eq!(others[0].fields["intel.scope"], "*");
    run.stop();
    assert_eq!(sightings(dir.path(), "late.example"), 1);
    assert_eq!(sightings(dir.path(), "198.51.100.0/24"), 1);
}

#[test]
fn correlation_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let failure = |i: usize| {
        format!("<38>Nov 25 11:00:0{i} srvx sshd[9]: Failed password for admin from 192.0.2.4 port 4{i}000 ssh2")
    };
    let run = start(dir.path());
    run.append(&(0..3).map(failure).collect::<Vec<_>>());
    assert_eq!(run.wait_for_events("hostname:srvx", 3).len(), 3);
    assert!(
        !run.alerts().contains(&"SSH brute force".to_string()),
        "three failures are not yet a brute force"
    );
    run.stop();
    // Two more after the restart: five within five minutes, across the restart.
    let run = start(dir.path());
    run.append(&(3..5).map(failure).collect::<Vec<_>>());
    assert_eq!(run.wait_for_events("hostname:srvx", 5).len(), 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run.alerts().contains(&"SSH brute force".to_string()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(run.alerts(), vec!["SSH brute force".to_string()]);
    run.stop();
}

/// The real store, whose appends wait while the gate is closed: an
/// index that has fallen behind (a long merge, a slow disk).
struct GatedStore {
    inner: Arc<TantivyEventStore>,
    closed: Arc<AtomicBool>,
}

impl EventStore for GatedStore {
    fn append(&self, events: &[watchfloor_search::EventDoc]) -> watchfloor_search::Result<()> {
        while self.closed.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.inner.append(events)
    }
    fn commit(&self, upto: u64) -> watchfloor_search::Result<()> {
        self.inner.commit(upto)
    }
    fn search(
        &self,
        r: &SearchRequest,
    ) -> watchfloor_search::Result<watchfloor_search::SearchPage> {
        self.inner.search(r)
    }
    fn aggregate(
        &self,
        r: &watchfloor_search::AggregateRequest,
    ) -> watchfloor_search::Result<watchfloor_search::Aggregation> {
        self.inner.aggregate(r)
    }
    fn scan(
        &self,
        r: &watchfloor_search::ScanRequest,
        line: watchfloor_search::LineFilter<'_>,
        visit: &(dyn Fn(watchfloor_search::EventDoc) + Sync),
    ) -> watchfloor_search::Result<watchfloor_search::ScanStats> {
        self.inner.scan(r, line, visit)
    }
    fn event_by_id(
        &self,
        tenant: &str,
        id: u64,
        from_ns: i64,
        to_ns: i64,
    ) -> watchfloor_search::Result<Option<watchfloor_search::EventDoc>> {
        self.inner.event_by_id(tenant, id, from_ns, to_ns)
    }
    fn enforce_retention(
        &self,
        now_ns: i64,
        max_age_ns: Option<i64>,
        max_bytes: Option<u64>,
    ) -> watchfloor_search::Result<watchfloor_search::RetentionReport> {
        self.inner.enforce_retention(now_ns, max_age_ns, max_bytes)
    }
    fn stats(&self) -> watchfloor_search::Result<watchfloor_search::EventStoreStats> {
        self.inner.stats()
    }
}

/// A pipeline whose index takes nothing while the returned flag is set.
fn start_gated(dir: &Path) -> (Running, Arc<AtomicBool>) {
    let closed = Arc::new(AtomicBool::new(true));
    let gate = closed.clone();
    let run = start_with(
        dir,
        move |inner| {
            Arc::new(GatedStore {
                inner,
                closed: gate,
            })
        },
        None,
    );
    (run, closed)
}

#[test]
fn alerts_do_not_wait_for_an_index_that_lags() {
    let dir = tempfile::tempdir().unwrap();
    let (run, closed) = start_gated(dir.path());
    run.append(&[
        "<86>Nov 25 12:00:00 srv3 sudo: carol : TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/bash"
            .to_string(),
        "<13>Nov 25 12:00:01 srv3 app: fine".to_string(),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !run
        .alerts()
        .contains(&"Root shell through sudo".to_string())
    {
        assert!(
            Instant::now() < deadline,
            "no alert while the index is held"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        run.wait_for_events("", 0).is_empty(),
        "the index is held: nothing is searchable yet"
    );
    assert_eq!(
        run.wal.backlog(),
        2,
        "records the index has not taken still count against the log's room"
    );
    closed.store(false, Ordering::Release);
    assert_eq!(run.wait_for_events("hostname:srv3", 2).len(), 2);
    run.stop();
}

/// A crash after detection checkpointed but before the index's first
/// commit (a fresh data directory, a slow index): the restarted pipeline
/// still indexes those events.
#[test]
fn a_crash_before_the_first_index_commit_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let (run, closed) = start_gated(dir.path());
    run.append(&[
        "<13>Nov 25 12:00:00 srv4 app: one".to_string(),
        "<13>Nov 25 12:00:01 srv4 app: two".to_string(),
    ]);
    run.wait_for_detection(2);
    // What a kill -9 leaves on disk now: copy it while the pipeline runs.
    let crashed = tempfile::tempdir().unwrap();
    copy_tree(dir.path(), crashed.path());
    closed.store(false, Ordering::Release);
    run.stop();

    let run = start(crashed.path());
    assert_eq!(run.wait_for_events("hostname:srv4", 2).len(), 2);
    run.stop();
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Two addresses guess passwords on one host at the same time: each gets
/// its own brute-force alert, naming it, with the parsed fields on the
/// stored events.
#[test]
fn each_attacking_address_gets_its_own_brute_force_alert() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(dir.path());
    let mut lines = Vec::new();
    // One address sprays accounts; the other keeps trying one.
    let sprayed = ["root", "admin", "oracle", "root", "test"];
    for (i, sprayed_user) in sprayed.iter().enumerate() {
        for (ip, user) in [("203.0.113.9", *sprayed_user), ("198.51.100.23", "admin")] {
            lines.push(format!("<38>Nov 25 12:00:0{i} bastion sshd[7]: Failed password for {user} from {ip} port 4{i}000 ssh2"));
        }
    }
    run.append(&lines);
    assert_eq!(
        run.wait_for_events(
            "source.ip:203.0.113.9 AND user.name:root AND event.outcome:failure",
            2
        )
        .len(),
        2,
        "the stored events carry the parsed fields"
    );
    let named = run.alert_entities("SSH brute force", 2);
    assert_eq!(
        named,
        [
            (vec!["198.51.100.23".to_string()], Some("admin".to_string())),
            (vec!["203.0.113.9".to_string()], Some("test".to_string())),
        ]
    );
    let mut targeted: Vec<(Vec<String>, Vec<String>)> = run
        .stored_alerts()
        .into_iter()
        .filter(|a| a.rule_title == "SSH brute force")
        .map(|a| (a.ips, a.users))
        .collect();
    targeted.sort();
    assert_eq!(
        targeted,
        [
            (vec!["198.51.100.23".to_string()], vec!["admin".to_string()]),
            (
                vec!["203.0.113.9".to_string()],
                ["admin", "oracle", "root", "test"]
                    .map(String::from)
                    .to_vec()
            ),
        ],
        "each alert lists every account its address tried, once"
    );
    run.stop();
}

/// Failed Windows logons from one address spread over two computers are
/// one attack (one alert naming the address); a second address gets its own.
#[test]
fn windows_logon_brute_force_is_grouped_by_source_address() {
    let dir = tempfile::tempdir().unwrap();
    let run = start(dir.path());
    let logon = |computer: &str, ip: &str, user: &str| {
        let doc = serde_json::json!({"Event": {
            "System": {"EventID": 4625, "Channel": "Security", "Computer": computer},
            "EventData": {"IpAddress": ip, "TargetUserName": user, "LogonType": 3}}});
        RawRecord {
            kind: Kind::Json,
            body: doc.to_string().into_bytes(),
            ..syslog("")
        }
    };
    let mut records = Vec::new();
    for i in 0..10 {
        let computer = if i % 2 == 0 { "WS01" } else { "WS02" };
        records.push(logon(computer, "203.0.113.9", "administrator"));
        records.push(logon("DC01", "198.51.100.23", "svc_backup"));
    }
    run.append_records(records);
    let named = run.alert_entities("Windows logon brute force", 2);
    assert_eq!(
        named,
        [
            (
                vec!["198.51.100.23".to_string()],
                Some("svc_backup".to_string())
            ),
            (
                vec!["203.0.113.9".to_string()],
                Some("administrator".to_string())
            ),
        ]
    );
    run.stop();
}
