//! The scheduler: thousands of checks in one task, no process per check.
//! Each check's first run is spread over its interval by a jitter derived
//! from its name (so a restart does not fire them all at once); later runs
//! are due one interval after the previous *due* time (not its end), or one
//! retry interval while a problem is soft. At most `max_concurrent` checks
//! run at a time. Every result goes out as a [`Report`] with the state it
//! left and the hard change it made, if any.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchfloor_model::now_ns;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Semaphore};

use crate::state::{CheckState, StateChange};
use crate::{Check, Outcome};

/// A check as scheduled: what, how often, how patiently, for whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    pub name: String,
    pub tenant: String,
    pub check: Check,
    pub interval: Duration,
    /// Between retries of a soft problem.
    pub retry_interval: Duration,
    pub timeout: Duration,
    /// Problem results in a row after the first before a problem is hard.
    pub retries: u32,
    #[serde(default)]
    pub paused: bool,
    /// The host and service this check watches (topology and alerts).
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
}

/// One result, the state after it, and how late it started.
#[derive(Debug, Clone)]
pub struct Report {
    pub monitor: Arc<Monitor>,
    pub at_ns: i64,
    pub outcome: Outcome,
    pub state: CheckState,
    pub change: Option<StateChange>,
    /// Flapping began or ended with this result.
    pub flap: Option<crate::flap::FlapChange>,
    /// Start time minus due time.
    pub drift: Duration,
}

/// Changes to the set of checks while the scheduler runs.
#[derive(Debug)]
pub enum Control {
    /// Add a check or replace the one of that name (keeping its state).
    Upsert(Box<Monitor>),
    Remove(String),
    /// Run this check now (a parent of a host that just went down).
    RunNow(String),
}

/// Where in its interval a check first runs: a stable spread by name.
pub fn jitter(name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    let span = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % span)
}

struct Entry {
    monitor: Arc<Monitor>,
    state: CheckState,
    /// Bumped on every upsert, so a due time of an older version is ignored.
    generation: u64,
    running: bool,
    /// The one due time that counts; other queued times for this check
    /// (superseded by a run-now) are skipped.
    next_due: Instant,
}

type Due = Reverse<(Instant, String, u64)>;

/// Runs until `control` is closed. Results go to `reports`.
pub async fn run(
    initial: Vec<Monitor>,
    initial_states: HashMap<String, CheckState>,
    mut control: mpsc::Receiver<Control>,
    reports: mpsc::Sender<Report>,
    max_concurrent: usize,
) {
    let permits = Arc::new(Semaphore::new(max_concurrent.max(1)));
    let (done_tx, mut done_rx) = mpsc::channel::<(String, u64, Instant, Instant, Outcome)>(1024);
    let mut entries: HashMap<String, Entry> = HashMap::new();
    let mut queue: BinaryHeap<Due> = BinaryHeap::new();
    let start = Instant::now();
    for m in initial {
        let state = initial_states
            .get(&m.name)
            .cloned()
            .unwrap_or_else(|| CheckState::new(now_ns()));
        upsert(&mut entries, &mut queue, m, Some(state), start);
    }
    loop {
        let next = queue.peek().map(|Reverse((at, _, _))| *at);
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = sleep => {
                while let Some(Reverse((at, name, generation))) = queue.peek().cloned() {
                    if at > Instant::now() {
                        break;
                    }
                    queue.pop();
                    let Some(e) = entries
                        .get_mut(&name)
                        .filter(|e| e.generation == generation && e.next_due == at)
                    else {
                        continue;
                    };
                    if e.monitor.paused || e.running {
                        // Paused: look again later; still running: it will
                        // reschedule itself when done.
                        if e.monitor.paused {
                            e.next_due = at + e.monitor.interval;
                            queue.push(Reverse((e.next_due, name, generation)));
                        }
                        continue;
                    }
                    e.running = true;
                    spawn_check(e.monitor.clone(), generation, at, permits.clone(), done_tx.clone());
                }
            }
            Some((name, generation, due, started, outcome)) = done_rx.recv() => {
                let Some(e) = entries.get_mut(&name) else { continue };
                e.running = false;
                if e.generation != generation {
                    continue;
                }
                let at = now_ns();
                let change = e.state.record(outcome.status, &outcome.summary, e.monitor.retries, at);
                let flap = e.state.flap.record(outcome.status, crate::flap::FlapThresholds::default());
                let wait = if e.state.retrying() { e.monitor.retry_interval } else { e.monitor.interval };
                // Due times keep their rhythm; a run that ended past the
                // next due time is due now.
                let next = (due + wait).max(Instant::now());
                e.next_due = next;
                queue.push(Reverse((next, name, generation)));
                let report = Report {
                    monitor: e.monitor.clone(),
                    at_ns: at,
                    outcome,
                    state: e.state.clone(),
                    change,
                    flap,
                    drift: started.saturating_duration_since(due),
                };
                if reports.send(report).await.is_err() {
                    return;
                }
            }
            msg = control.recv() => match msg {
                Some(Control::Upsert(m)) => upsert(&mut entries, &mut queue, *m, None, Instant::now()),
                Some(Control::Remove(name)) => { entries.remove(&name); }
                Some(Control::RunNow(name)) => {
                    if let Some(e) = entries.get_mut(&name).filter(|e| !e.running && !e.monitor.paused) {
                        e.next_due = Instant::now();
                        queue.push(Reverse((e.next_due, name, e.generation)));
                    }
                }
                None => return,
            },
        }
    }
}

fn upsert(
    entries: &mut HashMap<String, Entry>,
    queue: &mut BinaryHeap<Due>,
    m: Monitor,
    state: Option<CheckState>,
    base: Instant,
) {
    let name = m.name.clone();
    let first = base + jitter(&name, m.interval);
    let entry = entries.entry(name.clone()).or_insert_with(|| Entry {
        monitor: Arc::new(m.clone()),
        state: state.clone().unwrap_or_else(|| CheckState::new(now_ns())),
        generation: 0,
        running: false,
        next_due: first,
    });
    entry.monitor = Arc::new(m);
    entry.generation += 1;
    entry.next_due = first;
    if let Some(s) = state {
        entry.state = s;
    }
    queue.push(Reverse((first, name, entry.generation)));
}

fn spawn_check(
    monitor: Arc<Monitor>,
    generation: u64,
    due: Instant,
    permits: Arc<Semaphore>,
    done: mpsc::Sender<(String, u64, Instant, Instant, Outcome)>,
) {
    tokio::spawn(async move {
        let Ok(_permit) = permits.acquire_owned().await else {
            return;
        };
        let started = Instant::now();
        let outcome = crate::run(&monitor.check, monitor.timeout).await;
        let _ = done
            .send((monitor.name.clone(), generation, due, started, outcome))
            .await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Status, TcpCheck};

    fn tcp(name: &str, port: u16) -> Monitor {
        Monitor {
            name: name.into(),
            tenant: "t".into(),
            check: Check::Tcp(TcpCheck {
                host: "127.0.0.1".into(),
                port,
                warn_ms: None,
                crit_ms: None,
            }),
            interval: Duration::from_millis(200),
            retry_interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            retries: 1,
            paused: false,
            host: None,
            service: None,
        }
    }

    #[test]
    fn jitter_is_stable_and_inside_the_interval() {
        let i = Duration::from_secs(60);
        assert_eq!(jitter("web", i), jitter("web", i));
        assert!(jitter("web", i) < i);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_run_retry_and_harden() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let up = open.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (ctl, control) = mpsc::channel(8);
        let (tx, mut rx) = mpsc::channel(64);
        let task = tokio::spawn(run(
            vec![tcp("up", up), tcp("down", closed)],
            HashMap::new(),
            control,
            tx,
            16,
        ));
        let mut down_changes = Vec::new();
        let mut up_runs = 0;
        while down_changes.is_empty() || up_runs < 2 {
            let r = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("reports")
                .expect("open");
            match r.monitor.name.as_str() {
                "up" => {
                    assert_eq!(r.outcome.status, Status::Ok);
                    up_runs += 1;
                }
                _ => {
                    if let Some(c) = r.change {
                        assert_eq!(r.state.attempt, 2, "hard after one retry");
                        down_changes.push(c);
                    }
                }
            }
        }
        assert_eq!(down_changes[0].to, Status::Critical);
        drop(ctl);
        task.await.unwrap();
    }
}
