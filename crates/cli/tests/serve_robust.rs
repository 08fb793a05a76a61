//! `watchfloor serve` under stress: kill -9 during ingest, hostile and
//! broken input, TLS, and rule reloads while ingest goes on.

mod server;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server::{free_port, wait_for, write_config, Server};

#[test]
fn kill_9_during_ingest_loses_no_acknowledged_event_and_stores_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        free_port(),
        free_port(),
        "",
        "[pipeline]\ncommit_interval_ms = 300\n",
    );
    let mut s = Server::start_with(dir.path(), &config, &[]);
    let url = format!("{}/api/v1/ingest", s.http);
    let token = s.token.clone();
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop) = (acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut seq = 0u64;
            while !stop.load(Ordering::Acquire) {
                let batch: Vec<u64> = (seq..seq + 40).collect();
                let body: String = batch
                    .iter()
                    .map(|n| {
                        // Every tenth event raises an alert (the starter sudo rule).
                        let extra = if n % 10 == 0 {
                            " sudo COMMAND=/bin/bash"
                        } else {
                            ""
                        };
                        format!("{{\"seq\":{n},\"product\":\"linux\",\"message\":\"crashmark {n}{extra}\"}}\n")
                    })
                    .collect();
                match client.post(&url).bearer_auth(&token).body(body).send() {
                    Ok(r) if r.status().is_success() => {
                        acked.lock().unwrap().extend(batch);
                        seq += 40;
                        // Paced, so that a debug build's pipeline keeps up.
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    // Down, refused or cut off: not acknowledged, sent again
                    // under new numbers (the old ones may or may not be stored).
                    _ => {
                        seq += 40;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        })
    };
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(300 + rng % 600));
        s.kill9();
        assert!(
            !acked.lock().unwrap().is_empty() || round > 0,
            "the writer got acknowledgements"
        );
        s = Server::start_with(dir.path(), &config, &[]);
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 200,
        "only {} events acknowledged",
        acked.len()
    );

    s.wait_until_committed();
    let events = s.all_events("crashmark");
    let mut seen: HashMap<u64, usize> = HashMap::new();
    for e in &events {
        *seen
            .entry(e["fields"]["seq"].as_u64().unwrap())
            .or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "stored twice: {twice:?}");
    let mut missing: Vec<_> = acked.iter().filter(|n| !seen.contains_key(n)).collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );

    let stored_bash: HashSet<u64> = events
        .iter()
        .filter(|e| e["fields"]["seq"].as_u64().unwrap() % 10 == 0)
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    let alerts = s.alerts("rule=Root%20shell%20through%20sudo", stored_bash.len());
    let alerted: Vec<u64> = alerts
        .iter()
        .map(|a| a["event_ids"][0].as_u64().unwrap())
        .collect();
    let unique: HashSet<u64> = alerted.iter().copied().collect();
    assert_eq!(unique.len(), alerted.len(), "an alert was stored twice");
    assert_eq!(unique, stored_bash, "one alert per stored triggering event");
    assert_eq!(s.stop(), 0);
}

fn send_tcp(addr: std::net::SocketAddr, bytes: &[u8]) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(bytes).unwrap();
}

#[test]
fn hostile_and_broken_input_is_refused_counted_and_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let (hp, sp) = (free_port(), free_port());
    let config = dir.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{hp}\"\nmax_body_bytes = 1048576\nmax_decoded_bytes = 4194304\n\
             [syslog]\nudp = \"127.0.0.1:{sp}\"\ntcp = \"127.0.0.1:{sp}\"\nmax_message_bytes = 1024\nframe_timeout_secs = 2\nmax_connections = 8\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let s = Server::start_with(dir.path(), &config, &[]);

    // A slow client, a byte at a time: cut off at the frame timeout.
    let slow = std::thread::spawn({
        let addr = s.syslog;
        move || {
            let mut c = TcpStream::connect(addr).unwrap();
            let started = Instant::now();
            for b in b"<13>slowloris-marker never ends".iter().cycle() {
                if c.write_all(&[*b]).is_err() || started.elapsed() > Duration::from_secs(15) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            started.elapsed()
        }
    });

    // Malformed syslog, invalid UTF-8, an oversized frame, a lying octet count.
    send_tcp(
        s.syslog,
        b"\x00\x01<<<>>> not syslog at all\n<13>bad-utf8-marker \xff\xfe\xfd bytes\n",
    );
    let mut big = b"<13>oversized-marker ".to_vec();
    big.extend(std::iter::repeat_n(b'A', 5000));
    big.extend(b"\n<13>after-oversized-marker ok\n");
    send_tcp(s.syslog, &big);
    send_tcp(s.syslog, b"999999 <13>lying-count-marker short");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"", s.syslog).unwrap();
    udp.send_to(b"<13>udp-utf8-marker \xc3\x28 broken", s.syslog)
        .unwrap();

    // HTTP: not events, broken JSON, a gzip bomb, an oversized body, bad queries.
    let post = |body: Vec<u8>, gzip: bool| {
        // The server may answer before reading a refused body, then close:
        // such a connection must not go back to the client's pool.
        let mut r = s
            .request(reqwest::Method::POST, "/api/v1/ingest", Some(&s.token))
            .header("connection", "close")
            .body(body);
        if gzip {
            r = r.header("content-encoding", "gzip");
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        (status, r.text().unwrap_or_default())
    };
    for body in [
        &b"[1,2,3]"[..],
        b"{\"a\":",
        b"",
        b"\"just a string\"",
        b"[{\"a\":1}",
    ] {
        let (status, text) = post(body.to_vec(), false);
        assert_eq!(status, 400, "{:?}: {text}", String::from_utf8_lossy(body));
        assert!(text.contains("error"));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![b' '; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb fits the body limit");
    let (status, text) = post(bomb, true);
    assert_eq!(status, 413, "{text}");
    let (status, _) = post(vec![b'{'; 2 << 20], false);
    assert_eq!(status, 413);
    for q in [
        "/api/v1/events?q=host%3A(",
        "/api/v1/events?cursor=zzz",
        "/api/v1/events?from=yesterday",
        "/api/v1/events?bogus=1",
        "/api/v1/alerts?level=severe",
    ] {
        let (status, body) = s.get(q);
        assert_eq!(status, 400, "{q}: {body}");
    }
    let (status, body) = s.get("/api/v1/events?q=host%3A(");
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("column"), "{body}");

    // Other clients are unaffected, and everything that was a message is kept.
    server::logger(
        &["-n", "127.0.0.1", "-P", &s.syslog.port().to_string(), "-T"],
        "good-client-marker still served",
    );
    assert_eq!(s.search("good-client-marker", 1).len(), 1);
    assert_eq!(s.search("\"not syslog at all\"", 1).len(), 1);
    let bad_utf8 = s.search("bad-utf8-marker", 1);
    assert_eq!(bad_utf8.len(), 1);
    assert!(bad_utf8[0]["fields"]["decode_error"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    assert_eq!(s.search("udp-utf8-marker", 1).len(), 1);
    let oversized = s.search("oversized-marker", 1);
    assert_eq!(oversized.len(), 1);
    assert_eq!(oversized[0]["truncated"], true);
    assert!(oversized[0]["fields"]["message"].as_str().unwrap().len() < 1024);
    assert_eq!(
        s.search("after-oversized-marker", 1).len(),
        1,
        "the stream stays in step"
    );
    let lying = s.search("lying-count-marker", 1);
    assert_eq!(lying.len(), 1);
    assert_eq!(lying[0]["truncated"], true);

    let took = slow.join().unwrap();
    assert!(
        took < Duration::from_secs(12),
        "the slow client was cut off after {took:?}"
    );
    let slow_stored = s.search("slowloris-marker", 1);
    assert_eq!(slow_stored.len(), 1, "what the slow client sent is kept");

    // More connections than allowed: the extra ones are closed, counted.
    let held: Vec<TcpStream> = (0..12)
        .map(|_| TcpStream::connect(s.syslog).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    drop(held);
    // The server frees a slot when it reads the end of its connection,
    // which under load may come after the next client connects.
    server::wait_for("the held connections to be closed", || {
        (s.metric("watchfloor_ingest_connections{source=\"syslog-tcp\"}") == 0.0).then_some(())
    });

    server::logger(
        &["-n", "127.0.0.1", "-P", &s.syslog.port().to_string(), "-T"],
        "after-flood-marker served",
    );
    assert_eq!(
        s.search("after-flood-marker", 1).len(),
        1,
        "slots are freed"
    );

    for series in [
        "watchfloor_ingest_truncated_total{source=\"syslog-tcp\"}",
        "watchfloor_ingest_rejected_total{source=\"syslog-tcp\",reason=\"frame_timeout\"}",
        "watchfloor_ingest_rejected_total{source=\"syslog-tcp\",reason=\"too_many_connections\"}",
        "watchfloor_ingest_rejected_total{source=\"http\",reason=\"bad_body\"}",
        "watchfloor_pipeline_decode_issues_total{source=\"syslog-tcp\",kind=\"invalid_utf8\"}",
    ] {
        assert!(s.metric(series) >= 1.0, "{series} should count");
    }
    let (status, _) = s.get("/healthz");
    assert_eq!(status, 200);
}

/// A certificate for localhost made by the test: PEM files and the DER.
fn self_signed(
    dir: &std::path::Path,
) -> (
    std::path::PathBuf,
    rustls::pki_types::CertificateDer<'static>,
) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let c = dir.join("cert.pem");
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.key_pair.serialize_pem()).unwrap();
    (c, cert.cert.der().clone())
}

#[test]
fn tls_syslog_and_https_api() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, der) = self_signed(dir.path());
    let (hp, sp, tp) = (free_port(), free_port(), free_port());
    let config = dir.path().join("watchfloor.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[http]\nlisten = \"127.0.0.1:{hp}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n[syslog]\nudp = \"127.0.0.1:{sp}\"\ntcp = \"127.0.0.1:{sp}\"\ntls = \"127.0.0.1:{tp}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut s = Server::start_with(dir.path(), &config, &[]);
    s.http = format!("https://localhost:{hp}");

    // A rustls client trusting only our certificate.
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    roots.add(der).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(tls), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", tp)).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, sock);
    for i in 0..3 {
        let msg = format!("<13>1 2026-11-25T10:00:0{i}Z web1 app - - - tls-marker {i}");
        stream
            .write_all(format!("{} {msg}", msg.len()).as_bytes())
            .unwrap();
    }
    stream.flush().unwrap();
    stream.conn.send_close_notify();
    let _ = stream.flush();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);

    // Plain text to the TLS port: a failed handshake, counted.
    send_tcp(
        std::net::SocketAddr::from(([127, 0, 0, 1], tp)),
        b"<13>not tls\n",
    );

    let search = || {
        Command::new(server::BIN)
            .args([
                "search",
                "tls-marker",
                "--format",
                "json",
                "--server",
                &s.http,
                "--token",
                &s.token,
            ])
            .args(["--ca-cert", cert.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut out = search();
    while String::from_utf8_lossy(&out.stdout).lines().count() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        out = search();
    }
    let events = server::json_lines(&out);
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e["source"] == "syslog-tls" && e["host"] == "web1"));
    // Without trusting the certificate, the CLI refuses the server.
    let out = Command::new(server::BIN)
        .args([
            "search",
            "tls-marker",
            "--server",
            &s.http,
            "--token",
            &s.token,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let text = client
        .get(format!("{}/metrics", s.http))
        .bearer_auth(&s.token)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.contains(
            "watchfloor_ingest_rejected_total{source=\"syslog-tls\",reason=\"tls_handshake\"} 1"
        ),
        "{text}"
    );
}

const RULE_A: &str = "title: Marker A\nid: aaaaaaaa-0000-0000-0000-000000000001\nlogsource:\n    product: linux\ndetection:\n    keywords:\n        - 'reload-marker-a'\n    condition: keywords\nlevel: medium\n";
const RULE_B: &str = "title: Marker B\nid: aaaaaaaa-0000-0000-0000-000000000002\nlogsource:\n    product: linux\ndetection:\n    keywords:\n        - 'reload-marker-b'\n    condition: keywords\nlevel: high\n";
const RULE_C: &str = "title: Marker C\nid: aaaaaaaa-0000-0000-0000-000000000003\nlogsource:\n    product: linux\ndetection:\n    keywords:\n        - 'reload-marker-c'\n    condition: keywords\nlevel: low\n";
const RULE_BROKEN: &str = "title: Broken\nlogsource:\n    product: linux\ndetection:\n    sel:\n        a|nosuchmodifier: x\n    condition: sel and missing\n";

#[test]
fn rules_reload_while_ingesting_and_a_bad_rule_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("a.yml"), RULE_A).unwrap();
    let s = Server::start(dir.path(), "", &["--rules", rules.to_str().unwrap()]);
    let send = |m: &str| {
        let (status, body) = s.ingest(&format!("{{\"product\":\"linux\",\"message\":\"{m}\"}}"));
        assert_eq!(status, 200, "{body}");
    };
    send("reload-marker-a first");
    assert_eq!(s.alerts("rule=Marker%20A", 1).len(), 1);

    std::fs::write(rules.join("b.yml"), RULE_B).unwrap();
    std::fs::write(rules.join("broken.yml"), RULE_BROKEN).unwrap();
    let out = s.cli(&["rules", "reload"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a rejected rule is reported: {text}"
    );
    assert!(text.contains("broken.yml"), "{text}");
    send("reload-marker-b after reload");
    send("reload-marker-a still there");
    assert_eq!(s.alerts("rule=Marker%20B", 1).len(), 1);
    assert_eq!(s.alerts("rule=Marker%20A", 2).len(), 2);

    // SIGHUP does the same.
    std::fs::write(rules.join("c.yml"), RULE_C).unwrap();
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        send("reload-marker-c via sighup");
        if !s.alerts("rule=Marker%20C", 0).is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !s.alerts("rule=Marker%20C", 1).is_empty(),
        "SIGHUP reloaded the rules"
    );

    // A rule directory that disappears: the reload is refused, the old set stays.
    std::fs::remove_dir_all(&rules).unwrap();
    let out = s.cli(&["rules", "reload"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("current rules kept"));
    send("reload-marker-b once more");
    assert_eq!(s.alerts("rule=Marker%20B", 2).len(), 2);
}

#[test]
fn a_saturated_server_answers_429_with_retry_after_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), "[wal]\nmax_unprocessed = 1000\n", &[]);
    let burst: String = (0..20_000)
        .map(|i| format!("{{\"message\":\"burst {i}\"}}\n"))
        .collect();
    let (status, _) = s.ingest(&burst);
    assert_eq!(status, 200, "room at first");
    let r = s
        .request(reqwest::Method::POST, "/api/v1/ingest", Some(&s.token))
        .body("{\"message\":\"one more\"}")
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        429,
        "20,000 unprocessed events are over the limit of 1,000"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        s.metric("watchfloor_ingest_dropped_total{source=\"http\",reason=\"backpressure\"}"),
        1.0
    );
    // Once the pipeline has caught up, the same request is accepted.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = s.ingest("{\"message\":\"one more\"}");
        if status == 200 {
            break;
        }
        assert_eq!(status, 429);
        assert!(Instant::now() < deadline, "still saturated after a minute");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(s.search("burst", 10_000).len(), 10_000);
}

/// Connections from `source` to `to` that send half a request head and
/// never finish it, as a slowloris attacker's would; stops at the first
/// refused connect or at `count`.
fn half_open_requests(source: [u8; 4], to: std::net::SocketAddr, count: usize) -> Vec<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((source, 0)).into())
            .unwrap();
        if socket.connect(&to.into()).is_err() {
            break;
        }
        let mut stream: TcpStream = socket.into();
        // The server may already have closed it (over a limit).
        let _ = stream.write_all(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\n");
        held.push(stream);
    }
    held
}

/// How many descriptors this test process may hold, less a margin.
fn descriptors_for_attack() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (limit.rlim_cur as usize).saturating_sub(512)
}

#[test]
fn many_slow_clients_leave_the_api_and_syslog_answering() {
    let dir = tempfile::tempdir().unwrap();
    // The total is well below the crowd of the second half (3,200), so it is
    // reached long before the first of the crowd time out, even on a slow
    // machine; it is above one client's limit, so the first half meets that.
    let http =
        "max_connections = 600\nmax_connections_per_client = 400\nheader_read_timeout_secs = 5\n";
    let config = write_config(dir.path(), free_port(), free_port(), "", "");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[http]\n", &format!("[http]\n{http}"));
    std::fs::write(&config, text).unwrap();
    let s = Server::start_with(dir.path(), &config, &[]);
    let http_addr: std::net::SocketAddr = s.http.trim_start_matches("http://").parse().unwrap();
    let attempts = descriptors_for_attack().min(15_000);
    assert!(
        attempts > 2_000,
        "the test needs a few thousand descriptors"
    );

    // One client address tries `attempts` connections: 400 are held, the
    // rest closed at accept.
    let held = half_open_requests([127, 0, 0, 2], http_addr, attempts);
    let refused = s.metric("watchfloor_http_connections_refused_total{reason=\"client_limit\"}");
    // (Some held ones may time out while the rest connect, freeing slots.)
    assert!(
        refused >= (held.len() / 2) as f64,
        "{refused} refused of {} connected",
        held.len()
    );
    assert!(s.metric("watchfloor_http_connections_open") <= 402.0);
    let (status, me) = s.get("/api/v1/me");
    assert_eq!((status, me["role"].as_str()), (200, Some("admin")));
    send_tcp(s.syslog, b"<13>slowclients-marker one\n");
    wait_for("the syslog line while clients hang", || {
        (s.search("slowclients-marker", 10).len() == 1).then_some(())
    });

    // Past the header read timeout the half-open ones are gone.
    wait_for("the header timeout", || {
        (s.metric("watchfloor_http_connections_open") <= 2.0).then_some(())
    });
    assert!(
        s.metric("watchfloor_http_connections_closed_early_total{reason=\"header_timeout\"}")
            >= 400.0
    );
    drop(held);

    // Many addresses together reach the total limit: new connections are
    // closed, but the process keeps its descriptors and syslog answers.
    let crowd: Vec<TcpStream> = (3..11u8)
        .flat_map(|last| half_open_requests([127, 0, 0, last], http_addr, 400))
        .collect();
    assert!(crowd.len() >= 1_500);
    // The API is refused now (the total is reached) but syslog is not.
    send_tcp(s.syslog, b"<13>slowclients-marker two\n");
    wait_for("the API once the timeout frees the slots", || {
        let r = s
            .request(reqwest::Method::GET, "/api/v1/me", Some(&s.token))
            .send();
        r.ok().filter(|r| r.status().as_u16() == 200).map(|_| ())
    });
    drop(crowd);
    assert!(s.metric("watchfloor_http_connections_refused_total{reason=\"total_limit\"}") >= 1.0);
    wait_for("the syslog line sent while the listener was full", || {
        (s.search("slowclients-marker", 10).len() == 2).then_some(())
    });
}
