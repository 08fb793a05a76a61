//! Real log shippers against a real `watchfloor serve`: the Python
//! Elasticsearch client's bulk helper, rsyslog's omelasticsearch and omrelp,
//! syslog-ng's http() destination, and the OpenTelemetry Python SDK's
//! OTLP/HTTP log exporter. Each sends,
//! and the events are searchable with their fields; rsyslog forwarding over
//! RELP and the bulk helper sending through `kill -9`s lose nothing they
//! were told was accepted; syslog over mutual TLS hears only senders whose
//! certificate the configured CA signed.
//!
//! The peers are installed by `tools/test` (Debian's rsyslog,
//! rsyslog-elasticsearch and rsyslog-relp; syslog-ng unpacked, named by
//! `WATCHFLOOR_TEST_SYSLOG_NG`; a Python virtual environment with the PyPI
//! clients, named by `WATCHFLOOR_TEST_PYTHON`).

mod server;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use server::{free_port, wait_for, Server};

/// The Python with the shipper clients, from `tools/test`.
fn python() -> PathBuf {
    let path = std::env::var_os("WATCHFLOOR_TEST_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "WATCHFLOOR_TEST_PYTHON must name a Python with the elasticsearch and \
                 opentelemetry packages: run the tests with tools/test, which installs them"
            )
        });
    path
}

fn run_python(script: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.lines().last().unwrap_or("null")).expect("python printed JSON")
}

/// The stored events matching `q`, once `want` of them are searchable.
fn wait_for_events(s: &Server, q: &str, want: usize) -> Vec<Value> {
    let found = s.search(q, want);
    assert!(
        found.len() >= want,
        "{} of {want} events for {q}: {found:?}",
        found.len()
    );
    found
}

const ES_BULK: &str = r#"
import json, sys
from elasticsearch import Elasticsearch, helpers
url, token, marker = sys.argv[1:4]
es = Elasticsearch(url, api_key=token, request_timeout=30)
info = es.info()
def logon_failure(i):
    return {"_index": "winlogbeat-8.19.0", "_source": {
        "@timestamp": "2026-12-02T10:00:%02d.000Z" % i,
        "message": "An account failed to log on. %s %d" % (marker, i),
        "host": {"name": "dc-1"},
        "event": {"code": "4625", "provider": "Microsoft-Windows-Security-Auditing"},
        "winlog": {"channel": "Security", "event_id": 4625, "computer_name": "dc-1.corp",
                   "provider_name": "Microsoft-Windows-Security-Auditing",
                   "event_data": {"TargetUserName": "user%d" % (i % 3), "IpAddress": "198.51.100.7",
                                  "LogonType": "3", "WorkstationName": "ATTACKER"}}}}
ok, errors = helpers.bulk(es, (logon_failure(i) for i in range(12)), chunk_size=5)
print(json.dumps({"ok": ok, "errors": errors, "version": info["version"]["number"]}))
"#;

#[test]
fn the_python_elasticsearch_bulk_helper_sends_winlogbeat_events_that_the_rules_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let marker = "esbulkmark";
    let answer = run_python(ES_BULK, &[&s.http, &s.token, marker]);
    assert_eq!(answer["ok"], 12, "{answer}");
    assert_eq!(answer["errors"], serde_json::json!([]), "{answer}");
    assert_eq!(answer["version"], "8.19.0");

    let events = wait_for_events(&s, marker, 12);
    let first = &events[0]["fields"];
    assert_eq!(
        first["TargetUserName"]
            .as_str()
            .map(|u| u.starts_with("user")),
        Some(true)
    );
    assert_eq!(first["IpAddress"], "198.51.100.7");
    assert_eq!(
        first["source.ip"], "198.51.100.7",
        "Windows fields get ECS names"
    );
    assert_eq!(events[0]["source"], "elasticsearch");

    // The Windows starter rules read the Winlogbeat shape: twelve failures
    // from one address are one brute-force alert naming it.
    let alerts = wait_for("the brute-force alert", || {
        let found = s.alerts(
            "rule=Windows%20logon%20brute%20force%20(RDP%20or%20network)",
            5,
        );
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(
        alerts[0]["ips"],
        serde_json::json!(["198.51.100.7"]),
        "{}",
        alerts[0]
    );
}

const ES_BULK_UNTIL_STOPPED: &str = r#"
import json, os, sys, time
from elasticsearch import Elasticsearch, helpers
url, token, stop = sys.argv[1:4]
es = Elasticsearch(url, api_key=token, request_timeout=5, max_retries=0)
acked, seq = [], 0
while not os.path.exists(stop):
    batch = list(range(seq, seq + 50))
    seq += 50
    docs = ({"_index": "eskill", "_source": {"message": "eskillmark %d" % n, "seq": n}} for n in batch)
    results = helpers.streaming_bulk(es, docs, chunk_size=50, raise_on_error=False, raise_on_exception=False)
    try:
        for n, (ok, item) in zip(batch, results):
            if ok:
                acked.append(n)
    except Exception:
        # Down or cut off: not acknowledged (the server is being killed).
        time.sleep(0.05)
    time.sleep(0.005)
print(json.dumps({"acked": acked, "sent": seq}))
"#;

/// A server on fixed ports (its configuration file, returned, keeps them
/// across restarts) committing often, for the `kill -9` tests; `syslog`
/// adds keys to its `[syslog]` section.
fn restartable_server(dir: &Path, syslog: &str) -> (Server, PathBuf) {
    let config = server::write_config(
        dir,
        free_port(),
        free_port(),
        "",
        &format!("{syslog}[pipeline]\ncommit_interval_ms = 300\n"),
    );
    (Server::start_with(dir, &config, &[]), config)
}

#[test]
fn kill_9_while_the_bulk_helper_sends_loses_nothing_it_was_told_was_accepted() {
    killed_while_sending(ES_BULK_UNTIL_STOPPED, "eskillmark");
}

/// Runs a shipper `script` (arguments: URL, token, stop file; prints the
/// `seq` fields the server acknowledged) while the server is killed with
/// SIGKILL three times, then checks every acknowledged event (marked
/// `mark`) was stored.
fn killed_while_sending(script: &'static str, mark: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, config) = restartable_server(dir.path(), "");
    let stop = dir.path().join("stop");
    let sender = {
        let (http, token, stop) = (s.http.clone(), s.token.clone(), stop.clone());
        std::thread::spawn(move || {
            run_python(script, &[&http, &token, &stop.display().to_string()])
        })
    };
    for pause in [600u64, 900, 700] {
        std::thread::sleep(Duration::from_millis(pause));
        s.kill9();
        s = Server::start_with(dir.path(), &config, &[]);
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&stop, b"").unwrap();
    let answer = sender.join().unwrap();
    let acked: Vec<u64> = serde_json::from_value(answer["acked"].clone()).unwrap();
    assert!(acked.len() >= 200, "only {} acknowledged", acked.len());
    s.wait_until_committed();
    let stored: std::collections::HashSet<u64> = s
        .all_events(mark)
        .iter()
        .filter_map(|e| e["fields"]["seq"].as_u64())
        .collect();
    let missing: Vec<&u64> = acked.iter().filter(|n| !stored.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged documents lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

/// The OpenTelemetry SDK's batch processor and OTLP/HTTP exporter, logging
/// until told to stop; an exporter that notes which records the server
/// answered 200 for (the SDK drops a batch whose export failed).
const OTLP_UNTIL_STOPPED: &str = r#"
import json, logging, os, sys, time
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
url, token, stop = sys.argv[1:4]
acked = []
class Recording(OTLPLogExporter):
    def export(self, batch):
        result = super().export(batch)
        if result == LogRecordExportResult.SUCCESS:
            acked.extend(r.log_record.attributes["seq"] for r in batch)
        return result
exporter = Recording(endpoint=url + "/v1/logs", headers={"Authorization": "Bearer " + token}, timeout=2)
provider = LoggerProvider()
provider.add_log_record_processor(BatchLogRecordProcessor(exporter, schedule_delay_millis=20, max_export_batch_size=50))
logger = logging.getLogger("otelkill")
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
logger.setLevel(logging.INFO)
seq = 0
while not os.path.exists(stop):
    logger.warning("otelkillmark %d", seq, extra={"seq": seq})
    seq += 1
    time.sleep(0.001)
provider.shutdown()
print(json.dumps({"acked": acked, "sent": seq}))
"#;

#[test]
fn kill_9_while_the_opentelemetry_sdk_exports_loses_nothing_it_was_told_was_accepted() {
    killed_while_sending(OTLP_UNTIL_STOPPED, "otelkillmark");
}

const OTLP: &str = r#"
import json, logging, sys
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk.resources import Resource
url, token, marker = sys.argv[1:4]
exporter = OTLPLogExporter(endpoint=url + "/v1/logs", headers={"Authorization": "Bearer " + token})
provider = LoggerProvider(resource=Resource.create({"service.name": "checkout", "host.name": "app-1"}))
provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
logger = logging.getLogger("shop.login")
logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=provider))
logger.setLevel(logging.INFO)
for i in range(5):
    logger.warning("login failed %s %d", marker, i, extra={"user.name": "alice", "client.address": "203.0.113.9"})
provider.shutdown()
print(json.dumps({"sent": 5}))
"#;

#[test]
fn the_opentelemetry_sdk_exports_logs_over_otlp_http_with_their_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let marker = "otlpmark";
    run_python(OTLP, &[&s.http, &s.token, marker]);
    let events = wait_for_events(&s, marker, 5);
    let e = &events[0];
    assert_eq!(e["source"], "otlp");
    let f = &e["fields"];
    assert_eq!(f["user.name"], "alice", "{f}");
    assert_eq!(f["client.address"], "203.0.113.9");
    assert_eq!(f["log.level"], "WARN");
    assert_eq!(f["service.name"], "checkout");
    assert_eq!(f["resource.attributes.host.name"], "app-1");
    assert_eq!(f["scope.name"], "shop.login");
    assert_eq!(e["host"], "app-1");
    assert_eq!(
        s.metric("watchfloor_ingest_messages_total{source=\"otlp\"}"),
        5.0
    );
}

/// An rsyslog that listens on plain TCP and forwards with `action`.
struct Rsyslog {
    child: Child,
    input: u16,
    dir: PathBuf,
}

impl Rsyslog {
    fn start(dir: &Path, action: &str) -> Rsyslog {
        let input = free_port();
        let work = dir.join("rsyslog");
        std::fs::create_dir_all(&work).unwrap();
        let conf = work.join("rsyslog.conf");
        let text = format!(
            r#"global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{input}")
template(name="wfjson" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="program" name="programname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
}}
{action}
"#,
            work = work.display()
        );
        std::fs::write(&conf, text).unwrap();
        let log = std::fs::File::create(work.join("rsyslogd.out")).unwrap();
        let child = Command::new("/usr/sbin/rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid"))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("rsyslogd (Debian's rsyslog, installed by tools/test)");
        wait_for("rsyslog to listen", || {
            TcpStream::connect(("127.0.0.1", input)).ok()
        });
        Rsyslog {
            child,
            input,
            dir: work,
        }
    }

    /// Sends syslog lines to rsyslog's TCP input (one per line).
    fn send(&self, lines: impl Iterator<Item = String>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.input)).unwrap();
        for line in lines {
            stream.write_all(line.as_bytes()).unwrap();
            stream.write_all(b"\n").unwrap();
        }
        stream.flush().unwrap();
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.out")).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd_line(marker: &str, i: usize, address: &str) -> String {
    format!(
        "<38>Dec  2 10:00:00 bastion sshd[4242]: Failed password for invalid user u{i} from {address} port 5{i:04} ssh2 {marker}"
    )
}

#[test]
fn rsyslog_omelasticsearch_sends_bulk_and_the_parsed_fields_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let port = s.http.rsplit(':').next().unwrap().to_string();
    let action = format!(
        r#"module(load="omelasticsearch")
action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="wfjson"
       searchIndex="rsyslog" bulkmode="on" uid="rsyslog" pwd="{token}"
       action.resumeRetryCount="-1" errorFile="{errors}")"#,
        token = s.token,
        errors = dir.path().join("es-errors.json").display()
    );
    let rsyslog = Rsyslog::start(dir.path(), &action);
    let marker = "omesmark";
    rsyslog.send((0..6).map(|i| sshd_line(marker, i, "192.0.2.44")));
    let events = wait_for_events(&s, marker, 6);
    let f = &events[0]["fields"];
    assert_eq!(events[0]["source"], "elasticsearch", "{}", rsyslog.output());
    assert_eq!(f["program"], "sshd");
    assert_eq!(f["source.ip"], "192.0.2.44", "the sshd parser ran: {f}");
    assert_eq!(f["event.outcome"], "failure");
    assert_eq!(events[0]["host"], "bastion");
    // Five failures from one address: the SSH brute-force alert names it.
    let alerts = wait_for("the SSH brute-force alert", || {
        let found = s.alerts("rule=SSH%20brute%20force", 5);
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(
        alerts[0]["ips"],
        serde_json::json!(["192.0.2.44"]),
        "{}",
        alerts[0]
    );
}

/// Sends `total` lines numbered `{marker} seq=N` over `stream`, paced (a
/// pause every hundred), on a thread of its own.
fn send_numbered(
    mut stream: TcpStream,
    marker: &'static str,
    total: usize,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for i in 0..total {
            let line = format!("<13>Dec  2 10:00:00 relay app[1]: {marker} seq={i}\n");
            stream.write_all(line.as_bytes()).unwrap();
            if i % 100 == 99 {
                std::thread::sleep(Duration::from_millis(40));
            }
        }
    })
}

/// Kills the server after each pause and starts it again on its data.
fn kill_9_after(s: &mut Server, dir: &Path, config: &Path, pauses: &[u64]) {
    for pause in pauses {
        std::thread::sleep(Duration::from_millis(*pause));
        s.kill9();
        std::thread::sleep(Duration::from_millis(200));
        *s = Server::start_with(dir, config, &[]);
    }
}

/// Waits (two minutes at most) for every line `send_numbered` sent to be
/// stored, and fails naming the missing ones and the peer's output.
fn assert_every_line_arrived(s: &Server, marker: &str, total: usize, peer: &str) {
    let all: std::collections::BTreeSet<u64> = (0..total as u64).collect();
    assert_lines_arrived(s, marker, &all, peer);
}

/// [`assert_every_line_arrived`] for the lines numbered in `want`.
fn assert_lines_arrived(
    s: &Server,
    marker: &str,
    want: &std::collections::BTreeSet<u64>,
    peer: &str,
) {
    let total = want.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    let seen = loop {
        let seqs: std::collections::HashSet<u64> = s
            .search(marker, 0)
            .iter()
            .filter_map(|e| {
                let message = e["fields"]["message"].as_str()?;
                message.rsplit("seq=").next()?.parse().ok()
            })
            .collect();
        if want.iter().all(|n| seqs.contains(n)) || Instant::now() > deadline {
            break seqs;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let missing: Vec<u64> = want.iter().filter(|n| !seen.contains(n)).copied().collect();
    assert!(
        missing.is_empty(),
        "{} of {total} lost, e.g. {:?}\npeer: {peer}\nserver: {}",
        missing.len(),
        &missing[..missing.len().min(5)],
        s.log_text()
    );
}

#[test]
fn rsyslog_omelasticsearch_through_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, config) = restartable_server(dir.path(), "");
    // Bulk requests from a disk-assisted queue, retried without end: a
    // batch the server did not answer (it was killed) is sent again.
    let action = format!(
        r#"module(load="omelasticsearch")
action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" template="wfjson"
       searchIndex="rsyslog" bulkmode="on" uid="rsyslog" pwd="{token}"
       queue.type="LinkedList" queue.filename="esq" queue.saveOnShutdown="on"
       action.resumeRetryCount="-1" action.resumeInterval="1" errorFile="{errors}")"#,
        port = s.http.rsplit(':').next().unwrap(),
        token = s.token,
        errors = dir.path().join("es-errors.json").display()
    );
    let rsyslog = Rsyslog::start(dir.path(), &action);
    let marker = "eskill";
    let sender = send_numbered(
        TcpStream::connect(("127.0.0.1", rsyslog.input)).unwrap(),
        marker,
        2000,
    );
    kill_9_after(&mut s, dir.path(), &config, &[300, 600]);
    sender.join().unwrap();
    assert_every_line_arrived(&s, marker, 2000, &rsyslog.output());
}

#[test]
fn rsyslog_omrelp_through_kill_9_loses_nothing_it_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let relp_port = free_port();
    let (mut s, config) =
        restartable_server(dir.path(), &format!("relp = \"127.0.0.1:{relp_port}\"\n"));
    // rsyslog talks to the server through a tap that records which lines
    // the server acknowledged.
    let tap = RelpTap::start(relp_port);
    // A disk-assisted action queue and endless retries.
    let action = format!(
        r#"module(load="omrelp")
action(type="omrelp" target="127.0.0.1" port="{}" template="RSYSLOG_SyslogProtocol23Format"
       queue.type="LinkedList" queue.filename="relpq" queue.saveOnShutdown="on"
       action.resumeRetryCount="-1" action.resumeInterval="1")"#,
        tap.port
    );
    let rsyslog = Rsyslog::start(dir.path(), &action);
    let marker = "relpmark";
    let sender = send_numbered(
        TcpStream::connect(("127.0.0.1", rsyslog.input)).unwrap(),
        marker,
        3000,
    );
    kill_9_after(&mut s, dir.path(), &config, &[300, 700, 500]);
    sender.join().unwrap();
    // What the server acknowledged is stored. (rsyslog itself may drop
    // lines librelp had sent but not had acknowledged when the server
    // died: omrelp reports them done to rsyslog's queue when librelp takes
    // them, rsyslog/rsyslog#2610; those were never the server's.)
    let acked = tap.settled();
    assert!(acked.len() >= 1_000, "{} lines acknowledged", acked.len());
    assert_lines_arrived(&s, marker, &acked, &rsyslog.output());
}

/// A TCP relay between a RELP client and the server that notes the
/// `seq=N` of every syslog frame the server answered `200 OK`.
struct RelpTap {
    port: u16,
    acked: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>,
}

impl RelpTap {
    fn start(server_port: u16) -> RelpTap {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Default::default()));
        let noted = acked.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                // A server down refuses: the client sees its session end.
                if let Ok(server) = TcpStream::connect(("127.0.0.1", server_port)) {
                    relay(client, server, noted.clone());
                }
            }
        });
        RelpTap { port, acked }
    }

    /// The lines acknowledged once rsyslog is done: none more for three
    /// seconds (two minutes at most).
    fn settled(&self) -> std::collections::BTreeSet<u64> {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut last = (0, Instant::now());
        loop {
            let acked = self.acked.lock().unwrap().clone();
            if acked.len() != last.0 {
                last = (acked.len(), Instant::now());
            }
            if last.1.elapsed() >= Duration::from_secs(3) || Instant::now() > deadline {
                return acked;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

type Acked = std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>;

/// Pumps both ways, reading the frames: the client's syslog frames say
/// which line a transaction number carries, the server's `rsp` frames
/// which were stored.
fn relay(client: TcpStream, server: TcpStream, acked: Acked) {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let sent = lines.clone();
    std::thread::spawn(move || {
        pump(client, server, |txnr, command, data| {
            if command == "syslog" {
                let text = String::from_utf8_lossy(data);
                if let Some(seq) = text
                    .rsplit("seq=")
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                {
                    sent.lock().unwrap().insert(txnr, seq);
                }
            }
        })
    });
    std::thread::spawn(move || {
        pump(s2, c2, |txnr, command, data| {
            if command == "rsp" && data.starts_with(b"200") {
                if let Some(seq) = lines.lock().unwrap().get(&txnr) {
                    acked.lock().unwrap().insert(*seq);
                }
            }
        })
    });
}

/// Copies `from` to `to`, calling `frame(txnr, command, data)` for each
/// RELP frame that passes; ends both when either side closes.
fn pump(mut from: TcpStream, mut to: TcpStream, mut frame: impl FnMut(u64, &str, &[u8])) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while let Ok(n) = from.read(&mut chunk) {
        if n == 0 {
            break;
        }
        // Noted before passing on: the answer may come back at once.
        buf.extend_from_slice(&chunk[..n]);
        while let Some((used, txnr, command, data)) = relp_frame(&buf) {
            frame(txnr, &command, &data);
            buf.drain(..used);
        }
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// One whole frame at the start of `buf`: `TXNR SP COMMAND SP LEN [SP DATA] LF`.
fn relp_frame(buf: &[u8]) -> Option<(usize, u64, String, Vec<u8>)> {
    let text = |r: &[u8]| String::from_utf8_lossy(r).into_owned();
    let sp1 = buf.iter().position(|b| *b == b' ')?;
    let sp2 = sp1 + 1 + buf[sp1 + 1..].iter().position(|b| *b == b' ')?;
    let len_end = sp2
        + 1
        + buf[sp2 + 1..]
            .iter()
            .position(|b| *b == b' ' || *b == b'\n')?;
    let txnr = text(&buf[..sp1]).parse().ok()?;
    let len: usize = text(&buf[sp2 + 1..len_end]).parse().ok()?;
    let data_start = if len > 0 { len_end + 1 } else { len_end };
    let end = data_start + len;
    if buf.len() <= end {
        return None; // the rest (and the frame's LF) has not come yet
    }
    Some((
        end + 1,
        txnr,
        text(&buf[sp1 + 1..sp2]),
        buf[data_start..end].to_vec(),
    ))
}

/// A CA, and certificates it signs (PEM files in `dir`).
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new(dir: &Path, name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        TestCa { cert, key }
    }

    /// A certificate for `names` with `usage`, and its key.
    fn sign(
        &self,
        names: &[&str],
        usage: rcgen::ExtendedKeyUsagePurpose,
    ) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        (params.signed_by(&key, &self.cert, &self.key).unwrap(), key)
    }
}

/// Sends one syslog line over TLS, presenting `client` when given (a
/// refused handshake is not an error here: the test reads what was stored).
fn send_tls(
    port: u16,
    ca: &TestCa,
    client: Option<&(rcgen::Certificate, rcgen::KeyPair)>,
    line: &str,
) {
    use std::io::Read;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, sock);
    let _ = stream.write_all(format!("{line}\n").as_bytes());
    let _ = stream.flush();
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

#[test]
fn syslog_over_mutual_tls_admits_only_senders_the_ca_signed() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "ca");
    let other_ca = TestCa::new(dir.path(), "other-ca");
    let (server_cert, server_key) =
        ca.sign(&["localhost"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(dir.path().join("server.pem"), server_cert.pem()).unwrap();
    std::fs::write(
        dir.path().join("server-key.pem"),
        server_key.serialize_pem(),
    )
    .unwrap();
    let tls_port = free_port();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let config = server::write_config(
        dir.path(),
        free_port(),
        free_port(),
        "",
        &format!(
            "tls = \"127.0.0.1:{tls_port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\ntls_client_ca = \"{}\"\n",
            p("server.pem"),
            p("server-key.pem"),
            p("ca.pem")
        ),
    );
    let s = Server::start_with(dir.path(), &config, &[]);
    let client = ca.sign(&["forwarder-1"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = other_ca.sign(&["forwarder-2"], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
    send_tls(
        tls_port,
        &ca,
        Some(&client),
        "<13>Dec  2 10:00:00 fw1 app: mtlsmark signed",
    );
    send_tls(
        tls_port,
        &ca,
        None,
        "<13>Dec  2 10:00:00 fw2 app: mtlsmark anonymous",
    );
    send_tls(
        tls_port,
        &ca,
        Some(&stranger),
        "<13>Dec  2 10:00:00 fw3 app: mtlsmark stranger",
    );
    wait_for_events(&s, "mtlsmark", 1);
    // Time for anything the refused senders got through to be stored too.
    std::thread::sleep(Duration::from_secs(2));
    let events = s.search("mtlsmark", 0);
    let hosts: Vec<&str> = events.iter().filter_map(|e| e["host"].as_str()).collect();
    assert_eq!(hosts, ["fw1"], "only the signed forwarder is heard");
    assert_eq!(
        s.metric(
            "watchfloor_ingest_rejected_total{source=\"syslog-tls\",reason=\"tls_handshake\"}"
        ),
        2.0
    );
}

/// Debian's syslog-ng, unpacked by `tools/test` (its package conflicts
/// with rsyslog's, so it is not installed).
fn syslog_ng_root() -> PathBuf {
    std::env::var_os("WATCHFLOOR_TEST_SYSLOG_NG")
        .map(PathBuf::from)
        .filter(|p| p.join("usr/sbin/syslog-ng").exists())
        .unwrap_or_else(|| {
            panic!("WATCHFLOOR_TEST_SYSLOG_NG must name an unpacked syslog-ng: run the tests with tools/test")
        })
}

/// syslog-ng (the unpacked one) reading TCP on its own port and sending
/// to `destination` (a `d_watchfloor` block); killed on drop.
struct SyslogNg {
    child: std::process::Child,
    input: u16,
    output: PathBuf,
}

impl SyslogNg {
    fn start(dir: &Path, destination: &str) -> SyslogNg {
        let input = free_port();
        let conf = dir.join("syslog-ng.conf");
        let text = format!(
            "@version: 3.38\noptions {{ keep-hostname(yes); time-reopen(1); }};\n\
             source s_in {{ network(ip(\"127.0.0.1\") port({input}) transport(\"tcp\")); }};\n\
             {destination}\nlog {{ source(s_in); destination(d_watchfloor); }};\n"
        );
        std::fs::write(&conf, text).unwrap();
        let root = syslog_ng_root();
        let libs = [
            "usr/lib/x86_64-linux-gnu",
            "lib/x86_64-linux-gnu",
            "usr/lib/syslog-ng",
        ]
        .map(|l| root.join(l).display().to_string())
        .join(":");
        let output = dir.join("syslog-ng.out");
        let log = std::fs::File::create(&output).unwrap();
        let state = |name: &str| dir.join(name).display().to_string();
        let child = Command::new(root.join("usr/sbin/syslog-ng"))
            .env("LD_LIBRARY_PATH", libs)
            .arg("-F")
            .arg("-f")
            .arg(&conf)
            .arg(format!(
                "--module-path={}",
                root.join("usr/lib/syslog-ng/3.38").display()
            ))
            .arg(format!("--persist-file={}", state("syslog-ng.persist")))
            .arg(format!("--pidfile={}", state("syslog-ng.pid")))
            .arg(format!("--control={}", state("syslog-ng.ctl")))
            .arg("--no-caps")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("syslog-ng");
        SyslogNg {
            child,
            input,
            output,
        }
    }

    fn connect(&self) -> TcpStream {
        wait_for("syslog-ng to listen", || {
            TcpStream::connect(("127.0.0.1", self.input)).ok()
        })
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }
}

impl Drop for SyslogNg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The destination of docs/SOURCES.md, with this server's address and token.
fn syslog_ng_destination(http: &str, token: &str) -> String {
    format!(
        r#"destination d_watchfloor {{
  http(url("{http}/_bulk") method("POST")
       user("syslog-ng") password("{token}")
       headers("Content-Type: application/x-ndjson")
       batch-lines(100) batch-timeout(200)
       body-suffix("\n")
       body("{{\"index\":{{\"_index\":\"syslog-ng\"}}}}\n$(format-json @timestamp=${{ISODATE}} host.name=${{HOST}} program=${{PROGRAM}} message=${{MESSAGE}})"));
}};"#
    )
}

#[test]
fn syslog_ng_http_destination_sends_bulk_and_the_lines_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let sng = SyslogNg::start(dir.path(), &syslog_ng_destination(&s.http, &s.token));
    let mut stream = sng.connect();
    let marker = "sngmark";
    for i in 0..5 {
        let line = sshd_line(marker, i, "192.0.2.56");
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
    drop(stream);
    let events = s.search(marker, 5);
    assert_eq!(events.len(), 5, "syslog-ng: {}", sng.output());
    let f = &events[0]["fields"];
    assert_eq!(events[0]["source"], "elasticsearch");
    assert_eq!(events[0]["host"], "bastion");
    assert_eq!(f["source.ip"], "192.0.2.56", "the sshd parser ran: {f}");
    let alerts = wait_for("the SSH brute-force alert", || {
        let found = s.alerts("rule=SSH%20brute%20force", 1);
        (!found.is_empty()).then_some(found)
    });
    assert_eq!(alerts[0]["ips"], serde_json::json!(["192.0.2.56"]));
    assert_eq!(
        alerts[0]["users"].as_array().map(Vec::len),
        Some(5),
        "{}",
        alerts[0]
    );
}

#[test]
fn syslog_ng_http_through_kill_9_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, config) = restartable_server(dir.path(), "");
    // The documented destination; a batch the server did not answer is
    // sent again (time-reopen(1), the http() destination's retries).
    let sng = SyslogNg::start(dir.path(), &syslog_ng_destination(&s.http, &s.token));
    let marker = "sngkill";
    let sender = send_numbered(sng.connect(), marker, 2000);
    kill_9_after(&mut s, dir.path(), &config, &[300, 600]);
    sender.join().unwrap();
    assert_every_line_arrived(&s, marker, 2000, &sng.output());
}
