//! The real `watchfloor` binary, run as a user runs it: outputs, exit
//! codes, and every kind of bad input the detection core must survive
//! (each a clear message, counted, the rest of the input still read, no
//! panic, bounded memory).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

const RULE: &str = r#"
title: Mimikatz Command Line
id: 11111111-2222-3333-4444-555555555555
status: test
level: high
tags:
    - attack.credential-access
    - attack.t1003
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        CommandLine|contains: 'sekurlsa::logonpasswords'
    condition: selection
"#;

const EVENT_BENIGN: &str = r##"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws1","TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T10:00:00Z"}}},"EventData":{"Image":"C:\\Windows\\notepad.exe","CommandLine":"notepad.exe a.txt"}}}"##;
const EVENT_EVIL: &str = r##"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws2","TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T10:05:00Z"}}},"EventData":{"Image":"C:\\tmp\\m.exe","CommandLine":"m.exe sekurlsa::logonpasswords exit"}}}"##;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    /// Peak resident memory of the process, in KiB.
    max_rss_kib: i64,
}

/// Runs the binary and waits for it with `wait4`, which reports the peak
/// memory of exactly this child (`Child::wait` cannot).
#[allow(clippy::zombie_processes)]
fn watchfloor(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let child = Command::new(env!("CARGO_BIN_EXE_watchfloor"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn watchfloor");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value, and the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32, "wait4 failed");
    assert!(
        libc::WIFEXITED(status),
        "watchfloor died of a signal (status {status}); stderr:\n{}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    Run {
        code: libc::WEXITSTATUS(status),
        stdout: std::fs::read_to_string(&out_path).expect("stdout utf-8"),
        stderr: std::fs::read_to_string(&err_path).expect("stderr utf-8"),
        max_rss_kib: usage.ru_maxrss,
    }
}

/// A directory with a rule directory and a log directory.
struct Fixture {
    dir: TempDir,
}

impl Fixture {
    fn new() -> Self {
        let f = Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::create_dir_all(f.path("rules")).unwrap();
        std::fs::create_dir_all(f.path("logs")).unwrap();
        f.write("rules/mimikatz.yml", RULE.as_bytes());
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn arg(&self, rel: &str) -> String {
        self.path(rel).display().to_string()
    }

    fn write(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, data).unwrap();
        p
    }

    fn hunt(&self, extra: &[&str]) -> Run {
        let (logs, rules) = (self.arg("logs"), self.arg("rules"));
        let mut args = vec!["hunt", &logs, "--rules", &rules, "--no-progress"];
        args.extend_from_slice(extra);
        watchfloor(&args)
    }

    fn summary(&self, extra: &[&str]) -> (Run, Value) {
        let s = self.arg("summary.json");
        let mut args = vec!["--summary-json", s.as_str()];
        args.extend_from_slice(extra);
        let run = self.hunt(&args);
        let text = std::fs::read_to_string(self.path("summary.json"))
            .unwrap_or_else(|_| panic!("no summary; stderr:\n{}", run.stderr));
        (run, serde_json::from_str(&text).expect("summary is JSON"))
    }
}

fn ndjson(lines: &[&str]) -> Vec<u8> {
    let mut out = lines.join("\n").into_bytes();
    out.push(b'\n');
    out
}

fn jsonl_findings(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSONL line {l:?}: {e}")))
        .collect()
}

#[test]
fn jsonl_detection_carries_rule_event_and_source() {
    let f = Fixture::new();
    f.write(
        "logs/a.ndjson",
        &ndjson(&[EVENT_BENIGN, EVENT_EVIL, EVENT_BENIGN]),
    );
    let run = f.hunt(&["--format", "jsonl"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let findings = jsonl_findings(&run.stdout);
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    let d = &findings[0];
    assert_eq!(d["rule"]["id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(d["rule"]["title"], "Mimikatz Command Line");
    assert_eq!(d["rule"]["level"], "high");
    assert_eq!(d["rule"]["tags"][1], "attack.t1003");
    assert_eq!(d["timestamp"], "2024-05-01T10:05:00.000000Z");
    assert_eq!(d["host"], "ws2");
    assert!(d["source"]["path"].as_str().unwrap().ends_with("a.ndjson"));
    assert_eq!(d["source"]["record"], 2);
    assert_eq!(
        d["fields"]["CommandLine"],
        "m.exe sekurlsa::logonpasswords exit"
    );
}

#[test]
fn summary_counts_the_run() {
    let f = Fixture::new();
    f.write("logs/a.ndjson", &ndjson(&[EVENT_BENIGN, EVENT_EVIL]));
    f.write(
        "logs/b.json",
        format!("[{EVENT_EVIL},{EVENT_EVIL}]").as_bytes(),
    );
    f.write("logs/ignored.bin", b"not a log extension");
    let (run, s) = f.summary(&["--format", "jsonl"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["files"], 2);
    assert_eq!(s["events"], 4);
    assert_eq!(s["parse_errors"], 0);
    assert_eq!(s["detections"], 3);
    assert_eq!(s["detections_by_level"]["high"], 3);
    assert_eq!(s["detections_by_level"]["low"], 0);
    assert_eq!(s["rules_loaded"], 1);
    assert_eq!(s["rules_rejected"], 0);
    assert!(s["bytes"].as_u64().unwrap() > 0);
    assert!(s["seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn csv_to_an_output_file() {
    let f = Fixture::new();
    f.write("logs/a.ndjson", &ndjson(&[EVENT_EVIL]));
    let out = f.arg("out.csv");
    let run = f.hunt(&["--format", "csv", "--output", &out]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(run.stdout.is_empty());
    let mut reader = csv::Reader::from_path(&out).expect("csv file");
    let headers = reader.headers().unwrap().clone();
    for column in [
        "timestamp",
        "level",
        "rule_title",
        "rule_id",
        "host",
        "source",
    ] {
        assert!(
            headers.iter().any(|h| h == column),
            "no {column} in {headers:?}"
        );
    }
    let rows: Vec<_> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    let title = headers.iter().position(|h| h == "rule_title").unwrap();
    assert_eq!(&rows[0][title], "Mimikatz Command Line");
}

#[test]
fn table_is_the_default() {
    let f = Fixture::new();
    f.write("logs/a.ndjson", &ndjson(&[EVENT_EVIL]));
    let run = f.hunt(&[]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stdout.contains("Mimikatz Command Line"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("ws2"), "{}", run.stdout);
}

#[test]
fn min_level_and_fail_on_detection() {
    let f = Fixture::new();
    f.write("logs/a.ndjson", &ndjson(&[EVENT_EVIL]));
    let run = f.hunt(&["--fail-on-detection", "--format", "jsonl"]);
    assert_eq!(run.code, 1);
    let run = f.hunt(&[
        "--fail-on-detection",
        "--min-level",
        "critical",
        "--format",
        "jsonl",
    ]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let f = Fixture::new();
    f.write("logs/a.ndjson", &ndjson(&[EVENT_EVIL]));
    let (logs, rules) = (f.arg("logs"), f.arg("rules"));
    let missing = f.arg("nope");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["hunt", &logs], "--rules"),
        (
            vec!["hunt", &logs, "--rules", &missing],
            "no such rule file or directory",
        ),
        (vec!["hunt", &missing, "--rules", &rules], "cannot read"),
        (
            vec!["hunt", &rules, "--rules", &rules],
            "no log files found",
        ),
        (
            vec!["hunt", &logs, "--rules", &rules, "--input-format", "xml"],
            "unknown input format",
        ),
        (vec!["hunt", &logs, "--rules", &logs], "no usable rule"),
        (
            vec!["hunt", &logs, "--rules", &rules, "--format", "xml"],
            "invalid value",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, message) in cases {
        let run = watchfloor(&args);
        assert_eq!(run.code, 2, "{args:?}: stderr:\n{}", run.stderr);
        assert!(
            run.stderr.contains(message),
            "{args:?}: expected {message:?} in:\n{}",
            run.stderr
        );
    }
}

#[test]
fn an_input_that_cannot_be_read_at_all_exits_2() {
    let f = Fixture::new();
    let log = f.write("logs/a.evtx", b"ElfFile\0 but nothing after the magic");
    let run = watchfloor(&["hunt", log.to_str().unwrap(), "--rules", &f.arg("rules")]);
    assert_eq!(run.code, 2, "stderr:\n{}", run.stderr);
    assert!(run.stderr.contains("a.evtx"), "{}", run.stderr);
}

#[test]
fn garbage_in_ndjson_is_counted_and_skipped() {
    let f = Fixture::new();
    let mut data = ndjson(&[EVENT_BENIGN]);
    data.extend_from_slice(b"\xff\xfe\x00\x01 binary junk \x80\x81\n");
    data.extend_from_slice(b"{\"broken\": \n");
    data.extend_from_slice(b"not json at all\n");
    data.extend_from_slice(&ndjson(&[EVENT_EVIL]));
    f.write("logs/a.ndjson", &data);
    let (run, s) = f.summary(&["--format", "jsonl", "--show-errors"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["events"], 2, "{s}");
    assert!(s["parse_errors"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        run.stderr.contains("a.ndjson"),
        "errors name the file:\n{}",
        run.stderr
    );
    assert_eq!(
        jsonl_findings(&run.stdout).len(),
        1,
        "the event after the garbage is still read"
    );
}

#[test]
fn a_100_mb_line_is_refused_with_bounded_memory() {
    let f = Fixture::new();
    let path = f.path("logs/huge.ndjson");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        w.write_all(b"{\"CommandLine\": \"").unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(b"\"}\n").unwrap();
        w.write_all(&ndjson(&[EVENT_EVIL])).unwrap();
    }
    let (run, s) = f.summary(&["--format", "jsonl", "--show-errors"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["parse_errors"], 1, "{s}");
    assert_eq!(s["events"], 1, "{s}");
    assert!(run.stderr.contains("huge.ndjson"), "{}", run.stderr);
    assert_eq!(jsonl_findings(&run.stdout).len(), 1);
    assert!(
        run.max_rss_kib < 256 * 1024,
        "peak memory {} MiB for a 100 MB line",
        run.max_rss_kib / 1024
    );
}

#[test]
fn json_nested_100000_levels_is_an_error_not_a_crash() {
    let f = Fixture::new();
    let depth = 100_000;
    let mut data = Vec::new();
    data.extend(std::iter::repeat_n(b'[', depth));
    data.extend(std::iter::repeat_n(b']', depth));
    data.push(b'\n');
    for _ in 0..depth {
        data.extend_from_slice(b"{\"a\":");
    }
    data.extend_from_slice(b"1");
    data.extend(std::iter::repeat_n(b'}', depth));
    data.push(b'\n');
    data.extend_from_slice(&ndjson(&[EVENT_EVIL]));
    f.write("logs/deep.ndjson", &data);
    let (run, s) = f.summary(&["--format", "jsonl"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["parse_errors"], 2, "{s}");
    assert_eq!(s["events"], 1, "{s}");
    assert_eq!(jsonl_findings(&run.stdout).len(), 1);
}

#[test]
fn syslog_and_cef_files_are_detected_by_content() {
    let f = Fixture::new();
    f.write(
        "rules/ssh.yml",
        br#"
title: SSH Root Login Failure
id: 6f1b1d8e-0000-4000-8000-000000000001
level: medium
logsource:
    product: linux
    service: sshd
detection:
    keywords:
        - 'Failed password for root'
    condition: keywords
"#,
    );
    f.write(
        "logs/auth.log",
        b"<38>Mar  3 12:00:01 bastion sshd[811]: Failed password for root from 203.0.113.9 port 4242 ssh2\n\
          <38>1 2024-03-03T12:00:02Z bastion sshd 811 - - Accepted publickey for alice\n\
          CEF:0|Vendor|Firewall|1.0|100|Blocked|5|src=203.0.113.9 dst=10.0.0.1\n",
    );
    let (run, s) = f.summary(&["--format", "jsonl"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["events"], 3, "{s}");
    let findings = jsonl_findings(&run.stdout);
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["rule"]["title"], "SSH Root Login Failure");
    assert_eq!(findings[0]["host"], "bastion");
}

const BAD_RULES: [(&str, &str, &str); 4] = [
    (
        "broken_yaml.yml",
        "title: x\ndetection: [unclosed\n",
        "broken_yaml.yml",
    ),
    (
        "bad_regex.yml",
        "title: Bad Regex\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|re: '(unclosed'\n  condition: sel\n",
        "regex",
    ),
    (
        "undefined_ident.yml",
        "title: Undefined\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image: x\n  condition: sel and other\n",
        "undefined search identifier 'other'",
    ),
    (
        "placeholder.yml",
        "title: Placeholder\nlogsource: {product: windows}\ndetection:\n  sel:\n    User|expand: '%admins%'\n  condition: sel\n",
        "admins",
    ),
];

#[test]
fn rules_validate_reports_every_rejection_at_once() {
    let f = Fixture::new();
    for (name, text, _) in BAD_RULES {
        f.write(&format!("rules/{name}"), text.as_bytes());
    }
    let run = watchfloor(&["rules", "validate", &f.arg("rules")]);
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    for (name, _, reason) in BAD_RULES {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} not reported:\n{}", run.stdout));
        assert!(
            line.contains(reason),
            "{name}: expected {reason:?} in {line:?}"
        );
    }
    assert!(run.stdout.contains("1 rules"), "{}", run.stdout);
    assert!(run.stdout.contains("4 rejected"), "{}", run.stdout);

    let run = watchfloor(&["rules", "validate", &f.arg("rules"), "--format", "json"]);
    assert_eq!(run.code, 1);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(report["rules_loaded"], 1);
    assert_eq!(report["rejected"].as_array().unwrap().len(), 4);
    for r in report["rejected"].as_array().unwrap() {
        assert!(
            r["path"].as_str().is_some() && r["reason"].as_str().is_some(),
            "{r}"
        );
    }
}

#[test]
fn bad_rules_never_stop_the_good_ones() {
    let f = Fixture::new();
    for (name, text, _) in BAD_RULES {
        f.write(&format!("rules/{name}"), text.as_bytes());
    }
    f.write("logs/a.ndjson", &ndjson(&[EVENT_EVIL]));
    let (run, s) = f.summary(&["--format", "jsonl"]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(s["rules_rejected"], 4);
    assert_eq!(jsonl_findings(&run.stdout).len(), 1);
    assert!(run.stderr.contains("bad_regex.yml"), "{}", run.stderr);
}

#[test]
fn placeholders_file_resolves_expand() {
    let f = Fixture::new();
    let (_, text, _) = BAD_RULES[3];
    std::fs::remove_file(f.path("rules/mimikatz.yml")).unwrap();
    f.write("rules/placeholder.yml", text.as_bytes());
    f.write(
        "ph.yml",
        b"placeholders:\n  admins: [root, Administrator]\n",
    );
    f.write(
        "logs/a.ndjson",
        &ndjson(&[
            r#"{"Event":{"System":{"Channel":"Security","EventID":4624},"EventData":{"User":"Administrator"}}}"#,
            r#"{"Event":{"System":{"Channel":"Security","EventID":4624},"EventData":{"User":"guest"}}}"#,
        ]),
    );
    let ph = f.arg("ph.yml");
    let run = f.hunt(&["--format", "jsonl", "--placeholders", &ph]);
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert_eq!(jsonl_findings(&run.stdout).len(), 1, "{}", run.stdout);
}

// ---- EVTX from the corpus ----

fn corpus_evtx() -> Option<PathBuf> {
    let dir = watchfloor_testkit::corpus("EVTX damage test")?;
    let files = watchfloor_testkit::evtx_files(&dir.join("sigma/regression_data"));
    // The file with the most records: the most to lose.
    files.into_iter().max_by_key(|p| count_records(p))
}

fn count_records(path: &Path) -> u64 {
    let mut n = 0;
    let _ = watchfloor_formats::read_path(path, &Default::default(), &mut |r| {
        n += u64::from(r.is_ok());
        std::ops::ControlFlow::Continue(())
    });
    n
}

fn evtx_summary(f: &Fixture, data: &[u8], name: &str) -> (Run, Value) {
    f.write(&format!("logs/{name}"), data);
    f.summary(&["--format", "jsonl", "--show-errors"])
}

#[test]
fn truncated_and_corrupt_evtx_keep_what_can_be_read() {
    let Some(src) = corpus_evtx() else { return };
    let good = std::fs::read(&src).unwrap();
    let f = Fixture::new();
    let (run, s) = evtx_summary(&f, &good, "good.evtx");
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    let all = s["events"].as_u64().unwrap();
    assert!(all > 1, "{s}");
    assert_eq!(s["parse_errors"], 0);

    // The first chunk's records run from offset 512 to its free-space offset.
    let free = u32::from_le_bytes(good[4096 + 48..4096 + 52].try_into().unwrap()) as usize;
    let records = 4096 + 512..4096 + free;
    assert!(records.len() > 4096, "records span {records:?}");

    // Cut in the middle of the records: the ones before the cut survive.
    let f = Fixture::new();
    let cut = records.start + records.len() / 2;
    let (run, s) = evtx_summary(&f, &good[..cut], "truncated.evtx");
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains("truncated.evtx"),
        "the file is named:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("file ends"),
        "the cut is reported:\n{}",
        run.stderr
    );
    let kept = s["events"].as_u64().unwrap();
    assert!(kept >= 1 && kept < all, "{kept} of {all} records kept: {s}");

    // Garbage over part of the records.
    let f = Fixture::new();
    let mut bad = good.clone();
    let start = records.start + records.len() / 3;
    for (i, b) in bad[start..start + 2048].iter_mut().enumerate() {
        *b = (i * 151 % 251) as u8;
    }
    let (run, s) = evtx_summary(&f, &bad, "corrupt.evtx");
    assert_eq!(run.code, 0, "stderr:\n{}", run.stderr);
    assert!(s["parse_errors"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["events"].as_u64().unwrap() >= 1, "{s}");
    assert!(run.stderr.contains("corrupt.evtx"), "{}", run.stderr);
}

#[test]
fn hunt_matches_indicator_files_offline_with_the_parsers_of_serve() {
    let f = Fixture::new();
    f.write(
        "logs/auth.log",
        b"<38>Nov 25 10:00:01 srv1 sshd[42]: Failed password for root from 45.137.21.9 port 50000 ssh2\n\
          <30>Nov 25 10:00:03 gw dnsmasq[7]: query[A] cdn.evil.example from 10.0.0.23\n\
          <30>Nov 25 10:00:04 gw dnsmasq[7]: query[A] good.example from 8.8.8.8\n",
    );
    // A Sysmon process with its hash list, matched by the SHA-256.
    let sha256 = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90";
    let sysmon = format!(
        r##"{{"Event":{{"System":{{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1,"Computer":"ws3","TimeCreated":{{"#attributes":{{"SystemTime":"2024-05-01T10:06:00Z"}}}}}},"EventData":{{"Image":"C:\\tmp\\x.exe","CommandLine":"x.exe","Hashes":"MD5=00,SHA256={sha256}"}}}}}}"##
    );
    f.write("logs/sysmon.ndjson", &ndjson(&[&sysmon, EVENT_BENIGN]));
    f.write(
        "iocs.txt",
        format!(
            "45.137.21.0/24\nevil.example\n8.8.8.8\n{}\n",
            sha256.to_lowercase()
        )
        .as_bytes(),
    );
    let warninglists = f.path("warninglists/lists/resolvers");
    std::fs::create_dir_all(&warninglists).unwrap();
    std::fs::write(
        warninglists.join("list.json"),
        r#"{"name": "List of known IPv4 public DNS resolvers", "type": "cidr", "list": ["8.8.8.8/32"]}"#,
    )
    .unwrap();
    let (logs, iocs, lists) = (f.arg("logs"), f.arg("iocs.txt"), f.arg("warninglists"));
    let run = watchfloor(&[
        "hunt",
        &logs,
        "--intel",
        &iocs,
        "--warninglists",
        &lists,
        "--format",
        "jsonl",
        "--no-progress",
    ]);
    assert_eq!(
        run.code, 0,
        "no rules are needed with --intel: {}",
        run.stderr
    );
    assert!(run.stderr.contains("4 indicators loaded"), "{}", run.stderr);
    let mut found: Vec<(String, String, String)> = jsonl_findings(&run.stdout)
        .iter()
        .map(|x| {
            assert_eq!(x["rule"]["kind"], "intel");
            let field = |k: &str| x["fields"][k].as_str().unwrap_or_default().to_string();
            (
                field("intel.indicator"),
                field("intel.field"),
                field("intel.value"),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "45.137.21.0/24".into(),
                "source.ip".into(),
                "45.137.21.9".into()
            ),
            (sha256.to_lowercase(), "Hashes".into(), sha256.into()),
            (
                "evil.example".into(),
                "dns.question.name".into(),
                "cdn.evil.example".into()
            ),
        ],
        "8.8.8.8 is warninglisted"
    );
    let rules_too = f.hunt(&["--intel", &iocs, "--format", "jsonl"]);
    let kinds: Vec<Value> = jsonl_findings(&rules_too.stdout)
        .iter()
        .map(|x| x["rule"]["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        vec![Value::from("intel"); 4],
        "rules and indicators together; without the warninglist 8.8.8.8 matches"
    );
    let bad = watchfloor(&["hunt", &logs, "--intel", &f.arg("missing.txt")]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("missing.txt"), "{}", bad.stderr);
}
