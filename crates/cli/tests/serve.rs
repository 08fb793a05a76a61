//! `watchfloor serve` as users run it: real sockets, real clients
//! (`logger` from util-linux, curl, reqwest, a rustls client), the search
//! API and `watchfloor search`, detection with the starter rules and with
//! SigmaHQ rules from the corpus.

mod server;

use std::io::Write;
use std::process::Command;

use server::{logger, Server};

fn port(s: &Server) -> String {
    s.syslog.port().to_string()
}

#[test]
fn syslog_and_http_events_are_stored_searchable_and_detected() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = watchfloor_testkit::corpus("SigmaHQ detection in serve");
    let linux_rules = corpus.as_ref().map(|c| c.join("sigma/rules/linux"));
    let mut args = Vec::new();
    if let Some(r) = &linux_rules {
        args.extend(["--rules", r.to_str().unwrap()]);
    }
    let s = Server::start(dir.path(), "", &args);
    let p = port(&s);

    // UDP, TCP with newline framing, TCP with octet counting (RFC 6587).
    logger(
        &["-n", "127.0.0.1", "-P", &p, "-d", "-t", "app"],
        "udp-marker hello over udp",
    );
    logger(
        &["-n", "127.0.0.1", "-P", &p, "-T", "-t", "app"],
        "tcp-marker hello over tcp",
    );
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &p,
            "-T",
            "--octet-count",
            "--rfc5424",
            "-t",
            "app",
        ],
        "octet-marker counted frame",
    );
    // Five failed SSH logins from one address: the starter correlation
    // raises one alert, naming the address.
    for i in 1..=5 {
        logger(
            &["-n", "127.0.0.1", "-P", &p, "-T", "-t", "sshd"],
            &format!("Failed password for root from 198.51.100.7 port 2{i} ssh2"),
        );
    }
    // HTTP with curl: NDJSON, one bad line reported, gzip accepted.
    let body = "{\"message\":\"http-marker one\",\"user\":\"alice\",\"bytes\":512}\nnot an event\n";
    let out = Command::new("curl")
        .args([
            "-s",
            "-H",
            &format!("Authorization: Bearer {}", s.token),
            "--data-binary",
            body,
            &format!("{}/api/v1/ingest?source=agent", s.http),
        ])
        .output()
        .expect("curl is needed");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["rejected"], 1);
    assert_eq!(answer["errors"][0]["line"], 2);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"[{\"message\":\"gzip-marker\",\"n\":1},{\"message\":\"gzip-marker\",\"n\":2}]")
        .unwrap();
    let r = s
        .request(reqwest::Method::POST, "/api/v1/ingest", Some(&s.token))
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    for (q, n) in [
        ("udp-marker", 1),
        ("tcp-marker", 1),
        ("octet-marker", 1),
        ("\"failed password\"", 5),
        ("http-marker", 1),
        ("gzip-marker", 2),
    ] {
        let found = s.search(q, n);
        assert_eq!(found.len(), n, "{q}: {found:?}");
    }
    let udp = &s.search("udp-marker", 1)[0];
    assert_eq!(udp["source"], "syslog-udp");
    assert_eq!(udp["tenant"], "default");
    assert!(udp["received_ns"].as_i64().unwrap() > 0);
    assert_eq!(s.search("source:syslog-tcp AND app_name:app", 2).len(), 2);
    assert_eq!(
        s.search("source:http\\:agent AND user:alice AND bytes:>500", 1)
            .len(),
        1
    );
    assert_eq!(s.search("bytes:<500", 0).len(), 0);

    let alerts = s.alerts("rule=SSH%20brute%20force", 1);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["level"], "high");
    assert_eq!(alerts[0]["rule_kind"], "correlation");
    assert_eq!(alerts[0]["ips"], serde_json::json!(["198.51.100.7"]));
    assert_eq!(alerts[0]["user"], "root");

    if linux_rules.is_some() {
        // A SigmaHQ rule (Shellshock Expression, keywords) fires on syslog.
        logger(
            &["-n", "127.0.0.1", "-P", &p, "-T", "-t", "httpd"],
            "GET /cgi-bin/status HTTP/1.1 User-Agent: () { :;}; /bin/bash -c id",
        );
        let alerts = s.alerts("rule=c67e0c98-4d39-46ee-8f6b-437ebf6b950e", 1);
        assert_eq!(
            alerts.len(),
            1,
            "Shellshock Expression should fire: {alerts:?}"
        );
        assert_eq!(alerts[0]["rule_title"], "Shellshock Expression");
        let event_id = alerts[0]["event_ids"][0].as_u64().unwrap();
        let linked = s.search("cgi-bin", 1);
        assert_eq!(
            linked[0]["id"].as_u64(),
            Some(event_id),
            "the alert links to its event"
        );
    }

    // The same search from the command line.
    let lines =
        server::json_lines(&s.cli(&["search", "tcp-marker OR udp-marker", "--format", "json"]));
    assert_eq!(lines.len(), 2);
    let out = s.cli(&["search", "tcp-marker"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello over tcp"));
    // Counting instead of listing: top values, a histogram, distinct values.
    let out = s.cli(&[
        "search",
        "tcp-marker OR udp-marker",
        "--count-by",
        "source",
        "--histogram",
        "1m",
        "--from",
        "now-1h",
        "--distinct",
        "source",
    ]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains("syslog-tcp") && table.contains("syslog-udp"),
        "{table}"
    );
    assert!(table.contains("distinct source: 2"), "{table}");
    assert!(table.contains("2 matching events"), "{table}");
    assert!(
        table.lines().filter(|l| l.contains('#')).count() >= 1,
        "a bar: {table}"
    );
    let out = s.cli(&["search", "--histogram", "1y"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown unit"));

    assert!(s.metric("watchfloor_ingest_messages_total{source=\"syslog-udp\"}") >= 1.0);
    assert!(s.metric("watchfloor_alerts_total{level=\"high\"}") >= 1.0);
    assert_eq!(
        s.metric("watchfloor_ingest_rejected_total{source=\"http:agent\",reason=\"not_an_event\"}"),
        1.0
    );
    let mut s = s;
    assert_eq!(s.stop(), 0, "clean stop on SIGTERM:\n{}", s.log_text());
}

#[test]
fn import_sends_files_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let file = dir.path().join("auth.log");
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!("Nov 25 08:00:{i:02} bastion sshd[7]: Failed password for admin from 203.0.113.7 port 4{i} ssh2\n"));
    }
    std::fs::write(&file, text).unwrap();
    let out = s.cli(&["import", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("imported 12 events"));
    assert_eq!(s.search("hostname:bastion", 12).len(), 12);
    assert_eq!(s.search("bastion", 12)[0]["source"], "http:import");
    // Twelve failures: the correlation fires at the fifth and the tenth
    // (a group starts afresh after firing).
    assert_eq!(s.alerts("rule=SSH%20brute%20force", 2).len(), 2);
}

#[test]
fn tokens_and_roles_guard_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let data = dir.path().join("data");
    let mode = std::fs::metadata(data.join("initial-admin-token")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let create = |role: &str| -> String {
        let out = Command::new(server::BIN)
            .args([
                "token",
                "create",
                "--name",
                role,
                "--role",
                role,
                "--data-dir",
                data.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let viewer = create("viewer");
    let ingest = create("ingest");
    let analyst = create("analyst");
    let stored = std::fs::read(data.join("state.db")).unwrap();
    assert!(
        !stored.windows(viewer.len()).any(|w| w == viewer.as_bytes()),
        "secrets are not stored"
    );

    use reqwest::Method;
    let endpoints: &[(Method, &str)] = &[
        (Method::GET, "/api/v1/events"),
        (Method::GET, "/api/v1/alerts"),
        (Method::POST, "/api/v1/ingest"),
        (Method::GET, "/api/v1/rules"),
        (Method::POST, "/api/v1/rules/reload"),
        (Method::GET, "/api/v1/tokens"),
        (Method::GET, "/metrics"),
        (Method::GET, "/api/v1/nosuch"),
    ];
    for (method, path) in endpoints {
        for token in [None, Some("wf_wrong"), Some("garbage")] {
            let r = s
                .request(method.clone(), path, token)
                .body("{\"a\":1}")
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 401, "{method} {path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
    }
    let status = |m: Method, p: &str, t: &str| {
        s.request(m, p, Some(t))
            .body("{\"a\":1}")
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(Method::GET, "/api/v1/events", &viewer), 200);
    assert_eq!(status(Method::POST, "/api/v1/ingest", &viewer), 403);
    assert_eq!(status(Method::POST, "/api/v1/ingest", &ingest), 200);
    assert_eq!(status(Method::GET, "/api/v1/events", &ingest), 403);
    assert_eq!(status(Method::GET, "/metrics", &ingest), 403);
    assert_eq!(status(Method::POST, "/api/v1/rules/reload", &viewer), 403);
    assert_eq!(status(Method::POST, "/api/v1/rules/reload", &analyst), 200);
    assert_eq!(status(Method::GET, "/api/v1/tokens", &analyst), 403);
    assert_eq!(status(Method::GET, "/healthz", "none"), 200);
    assert_eq!(
        s.request(Method::GET, "/healthz", None)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );

    // Revoked tokens stop working at once.
    let (_, list) = s.get("/api/v1/tokens");
    let id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "viewer")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = s
        .request(
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            Some(&s.token),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(status(Method::GET, "/api/v1/events", &viewer), 401);
    // Tokens made over the API work too, and the secret is shown once.
    let r = s
        .request(Method::POST, "/api/v1/tokens", Some(&s.token))
        .json(&serde_json::json!({"name": "grafana", "role": "viewer"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let created: serde_json::Value = r.json().unwrap();
    assert_eq!(
        status(Method::GET, "/metrics", created["token"].as_str().unwrap()),
        200
    );
    let r = s
        .request(Method::POST, "/api/v1/tokens", Some(&s.token))
        .json(&serde_json::json!({"name": "x", "role": "root", "extra": 1}))
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
}

#[test]
fn tenants_see_only_their_own_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let data = dir.path().join("data");
    let out = Command::new(server::BIN)
        .args([
            "token",
            "create",
            "--name",
            "acme",
            "--role",
            "admin",
            "--tenant",
            "acme",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let acme = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let post = |token: &str, body: &str| {
        let r = s
            .request(reqwest::Method::POST, "/api/v1/ingest", Some(token))
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    post(
        &acme,
        "{\"product\":\"linux\",\"message\":\"secret-of-acme COMMAND=/bin/bash sudo\"}",
    );
    post(&s.token, "{\"message\":\"default-tenant event\"}");
    assert_eq!(s.search("default-tenant", 1).len(), 1);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        s.search("secret-of-acme", 0).len(),
        0,
        "the default tenant does not see acme"
    );
    let r = s
        .request(
            reqwest::Method::GET,
            "/api/v1/events?q=secret-of-acme",
            Some(&acme),
        )
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    assert_eq!(body["events"][0]["tenant"], "acme");
    let r = s
        .request(
            reqwest::Method::GET,
            "/api/v1/events?q=default-tenant",
            Some(&acme),
        )
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(
        body["events"].as_array().unwrap().len(),
        0,
        "acme does not see the default tenant"
    );
    let r = s
        .request(reqwest::Method::GET, "/api/v1/alerts", Some(&acme))
        .send()
        .unwrap();
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(
        body["alerts"].as_array().unwrap().len(),
        1,
        "acme's alert: {body}"
    );
    assert_eq!(s.alerts("", 0).len(), 0, "not the default tenant's");
}

#[test]
fn config_check_reports_every_problem_and_serve_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "tenant = 1\n[syslog]\nudp = \"nope\"\nmax_connections = 0\n[nosuch]\n",
    )
    .unwrap();
    let out = Command::new(server::BIN)
        .args(["config", "check", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "bad.toml:1:10: `tenant` must be a string",
        "bad.toml:3:7: `syslog.udp`",
        "bad.toml:4:19: `syslog.max_connections` = 0",
        "bad.toml:5:2: unknown key `nosuch`",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let out = Command::new(server::BIN)
        .args(["serve", "--config", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`tenant` must be a string"));
    let good = dir.path().join("good.toml");
    let out = Command::new(server::BIN)
        .args(["config", "default"])
        .output()
        .unwrap();
    std::fs::write(&good, &out.stdout).unwrap();
    let out = Command::new(server::BIN)
        .args(["config", "check", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the shipped default config checks: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "", &[]);
    let config2 =
        server::write_config(dir.path(), server::free_port(), server::free_port(), "", "");
    let out = Command::new(server::BIN)
        .args(["serve", "--config", config2.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use by another watchfloor server"));
    drop(s);
}

#[test]
fn files_are_followed_through_rotation_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "<13>Nov 25 09:00:00 h1 app: tail-marker line 1\n").unwrap();
    let extra = format!(
        "[[files]]\npath = \"{}\"\nstart_at = \"beginning\"\n",
        log.display()
    );
    let config = server::write_config(
        dir.path(),
        server::free_port(),
        server::free_port(),
        "",
        &extra,
    );
    let mut s = Server::start_with(dir.path(), &config, &[]);
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    append("<13>Nov 25 09:00:01 h1 app: tail-marker line 2\n<13>Nov 25 09:00:02 h1 app: tail-marker line 3 without newline yet");
    assert_eq!(s.search("tail-marker", 2).len(), 2);
    append(" and now complete\n");
    assert_eq!(s.search("tail-marker", 3).len(), 3);
    assert_eq!(
        s.search("\"now complete\"", 1).len(),
        1,
        "a line split across writes is one event"
    );
    // Rotation: rename and start a new file; a last line without newline in
    // the old file is kept too.
    append("<13>Nov 25 09:00:03 h1 app: tail-marker line 4 last of the old file");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    std::fs::write(
        &log,
        "<13>Nov 25 09:00:04 h1 app: tail-marker line 5 in the new file\n",
    )
    .unwrap();
    assert_eq!(s.search("tail-marker", 5).len(), 5);
    assert_eq!(
        s.search("tail-marker", 5)[0]["source"],
        format!("file:{}", log.display())
    );
    // A restart goes on from the saved position: nothing read twice.
    assert_eq!(s.stop(), 0);
    append("<13>Nov 25 09:00:05 h1 app: tail-marker line 6 while stopped\n");
    let s = Server::start_with(dir.path(), &config, &[]);
    assert_eq!(s.search("tail-marker", 6).len(), 6);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(s.search("tail-marker", 0).len(), 6, "no line stored twice");
}

#[test]
fn a_parsers_directory_adds_parsers_and_a_bad_one_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let parsers = dir.path().join("parsers");
    std::fs::create_dir(&parsers).unwrap();
    std::fs::write(
        parsers.join("vpn.yml"),
        "name: vpn\nprograms: [openvpn]\npatterns:\n  - match: '^%{IP:source.ip:ip}:%{INT} TLS Auth Error'\n    set: {event.outcome: failure}\nsamples:\n  - line: '203.0.113.5:1194 TLS Auth Error: x'\n    fields: {source.ip: 203.0.113.5}\n",
    )
    .unwrap();
    let extra = format!("[pipeline]\nparsers_dir = \"{}\"\n", parsers.display());
    let s = Server::start(dir.path(), &extra, &[]);
    let p = port(&s);
    logger(
        &["-n", "127.0.0.1", "-P", &p, "-T", "-t", "openvpn"],
        "203.0.113.5:1194 TLS Auth Error: Auth Username/Password verification failed",
    );
    logger(
        &["-n", "127.0.0.1", "-P", &p, "-T", "-t", "sshd"],
        "Invalid user oracle from 198.51.100.4 port 50022",
    );
    assert_eq!(
        s.search("source.ip:203.0.113.5 AND event.outcome:failure", 1)
            .len(),
        1
    );
    assert_eq!(
        s.search("user.name:oracle AND parser.name:sshd", 1).len(),
        1,
        "the shipped ones still read"
    );
    drop(s);

    std::fs::write(
        parsers.join("broken.yml"),
        "name: b\nprograms: [b]\npatterns:\n  - match: '%{NOPE:x}'\n",
    )
    .unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let config = server::write_config(
        dir2.path(),
        server::free_port(),
        server::free_port(),
        "",
        &extra,
    );
    let out = Command::new(server::BIN)
        .args(["serve", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.yml") && err.contains("%{NOPE}"),
        "{err}"
    );
}
