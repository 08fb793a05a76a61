//! `watchfloor check` against real peers on this machine: TCP ports opened
//! and closed, an HTTP server and HTTPS/TLS servers started here (with a
//! certificate made here and one near expiry), dnsmasq from Debian as the
//! DNS server, ICMP to loopback; and the hostile ones: a server that
//! streams forever, one that stalls mid-handshake, an unreachable
//! resolver, a name that resolves to nothing, an invalid definition.

mod server;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Datelike;
use server::free_port;

/// Runs `watchfloor check ARGS`: (exit code, output line).
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(server::BIN)
        .arg("check")
        .args(args)
        .output()
        .expect("run watchfloor check");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.code().unwrap_or(-1), text)
}

fn expect(args: &[&str], code: i32, needle: &str) -> String {
    let (got, line) = check(args);
    assert_eq!(got, code, "{args:?}: {line}");
    assert!(line.contains(needle), "{args:?}: {line:?} lacks {needle:?}");
    line
}

/// Reads an HTTP request head; returns its path.
fn read_head(stream: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    text.split(' ').nth(1).unwrap_or("/").to_string()
}

fn respond(stream: &mut impl Write, status: &str, body: &str, extra: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
}

/// A plain HTTP server with a path per behaviour.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let path = read_head(&mut s);
                match path.as_str() {
                    "/json" => respond(
                        &mut s,
                        "200 OK",
                        r#"{"status":"up","checks":[{"state":"ok"}]}"#,
                        "Content-Type: application/json\r\n",
                    ),
                    "/500" => respond(&mut s, "500 Internal Server Error", "boom", ""),
                    "/redirect" => respond(&mut s, "302 Found", "", "Location: /\r\n"),
                    "/slow" => {
                        std::thread::sleep(Duration::from_millis(400));
                        respond(&mut s, "200 OK", "late", "");
                    }
                    "/stream" => {
                        let _ =
                            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                        let chunk = format!("{:x}\r\n{}\r\n", 4096, "x".repeat(4096));
                        while s.write_all(chunk.as_bytes()).is_ok() {}
                    }
                    _ => respond(&mut s, "200 OK", "hello watchfloor", ""),
                }
            });
        }
    });
    port
}

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_string()
    }
}

/// A CA, and two server certificates for localhost signed by it: one valid
/// for 200 days, one expiring in five.
/// A certificate and its PKCS#8 key, DER.
type Leaf = (Vec<u8>, Vec<u8>);

fn pki() -> (Pki, [Leaf; 2], Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Watchfloor test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let leaf = |days: i64| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let end = chrono::Utc::now() + chrono::Duration::days(days);
        p.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
        let cert = p.signed_by(&key, &ca, &ca_key).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    };
    // A client certificate with its key, as `--client-cert` takes it.
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["monitor.example".to_string()]).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "watchfloor monitor");
    let client = client.signed_by(&client_key, &ca, &ca_key).unwrap();
    std::fs::write(
        dir.path().join("client.pem"),
        format!("{}{}", client.pem(), client_key.serialize_pem()),
    )
    .unwrap();
    (Pki { dir }, [leaf(200), leaf(5)], ca.der().to_vec())
}

/// A TLS server (rustls) answering HTTP with "ok".
fn tls_server(cert: &Leaf, ca: &[u8]) -> u16 {
    tls_server_with(cert, ca, false)
}

/// The same, and with `client_auth` it requires a client certificate
/// signed by `ca` (mutual TLS).
fn tls_server_with(cert: &Leaf, ca: &[u8], client_auth: bool) -> u16 {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(
            vec![
                CertificateDer::from(cert.0.clone()),
                CertificateDer::from(ca.to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.1.clone())),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut s = rustls::StreamOwned::new(conn, tcp);
                read_head(&mut s);
                respond(&mut s, "200 OK", "ok", "");
                let _ = s.flush();
            });
        }
    });
    port
}

#[test]
fn tcp_ports_opened_and_closed_and_names_that_do_not_resolve() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let target = format!("tcp://127.0.0.1:{port}");
    expect(&[&target], 0, "TCP OK");
    drop(listener);
    expect(&[&target], 2, "TCP CRITICAL");
    expect(
        &["tcp://nothing.invalid:80"],
        2,
        "nothing.invalid does not resolve",
    );
    let line = expect(&["icmp://127.0.0.1", "--count", "3"], 0, "PING OK");
    assert!(line.contains("3 of 3 replies"), "{line}");
    expect(&["gopher://x"], 3, "CHECK UNKNOWN");
}

#[test]
fn http_status_body_json_redirects_latency_and_endless_bodies() {
    let port = http_server();
    let base = format!("http://127.0.0.1:{port}");
    expect(&[&base, "--contains", "watchfloor"], 0, "HTTP OK");
    expect(&[&base, "--contains", "absent"], 2, "does not contain");
    expect(&[&base, "--regex", "^hello \\w+$"], 0, "HTTP OK");
    let json = format!("{base}/json");
    expect(
        &[
            &json,
            "--json-path",
            "checks.0.state",
            "--json-equals",
            "\"ok\"",
        ],
        0,
        "HTTP OK",
    );
    expect(
        &[&json, "--json-path", "status", "--json-equals", "\"down\""],
        2,
        "JSON status is \"up\", expected \"down\"",
    );
    let broken = format!("{base}/500");
    expect(&[&broken], 2, "answered 500");
    expect(&[&broken, "--expect-status", "500"], 0, "HTTP OK");
    let redirect = format!("{base}/redirect");
    expect(&[&redirect, "--contains", "hello"], 0, "HTTP OK");
    expect(
        &[&redirect, "--no-redirects", "--expect-status", "200"],
        2,
        "answered 302",
    );
    let slow = format!("{base}/slow");
    expect(&[&slow, "--warn-ms", "200"], 1, "slower than 200 ms");
    expect(&[&slow, "--timeout-ms", "100"], 2, "timed out after 100 ms");
    let started = Instant::now();
    let stream = format!("{base}/stream");
    expect(
        &[&stream, "--contains", "never", "--timeout-ms", "5000"],
        2,
        "CRITICAL",
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "an endless body does not hold the check"
    );
    let line = expect(
        &[
            "http://x.invalid/",
            "--regex",
            "(",
            "--expect-status",
            "700",
        ],
        3,
        "invalid check",
    );
    assert!(
        line.contains("regex") && line.contains("700"),
        "every problem: {line}"
    );
}

#[test]
fn tls_certificates_chains_expiry_and_a_stalled_handshake() {
    let (pki, [good, expiring], ca) = pki();
    let ca_pem = pki.path("ca.pem");
    let good_port = tls_server(&good, &ca);
    let target = format!("tls://localhost:{good_port}");
    let line = expect(&[&target, "--ca-cert", &ca_pem], 0, "TLS OK");
    assert!(
        line.contains("expires in 199 days") || line.contains("expires in 198 days"),
        "{line}"
    );
    expect(&[&target], 2, "certificate not valid");
    let https = format!("https://localhost:{good_port}/");
    expect(&[&https, "--ca-cert", &ca_pem], 0, "HTTP OK");
    expect(&[&https], 2, "HTTP CRITICAL");

    // Mutual TLS: the server wants a certificate of our CA.
    let mtls = format!("https://localhost:{}/", tls_server_with(&good, &ca, true));
    let client_pem = pki.path("client.pem");
    expect(
        &[&mtls, "--ca-cert", &ca_pem, "--client-cert", &client_pem],
        0,
        "HTTP OK",
    );
    expect(&[&mtls, "--ca-cert", &ca_pem], 2, "HTTP CRITICAL");

    let soon = format!("tls://localhost:{}", tls_server(&expiring, &ca));
    expect(&[&soon, "--ca-cert", &ca_pem], 2, "expires in 4 days");
    expect(
        &[
            &soon,
            "--ca-cert",
            &ca_pem,
            "--warn-days",
            "30",
            "--crit-days",
            "3",
        ],
        1,
        "TLS WARNING",
    );

    // A server that accepts and never says a word.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_port = mute.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let conns: Vec<TcpStream> = mute.incoming().take(2).filter_map(Result::ok).collect();
        std::thread::sleep(Duration::from_secs(3));
        drop(conns);
    });
    expect(
        &[
            &format!("tls://localhost:{mute_port}"),
            "--timeout-ms",
            "500",
        ],
        2,
        "timed out after 500 ms",
    );
    expect(
        &[
            &format!("https://localhost:{mute_port}/"),
            "--timeout-ms",
            "500",
        ],
        2,
        "timed out",
    );
    held.join().unwrap();
}

struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq(port: u16) -> Dnsmasq {
    let bin = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("this test needs dnsmasq (apt-get install dnsmasq-base; .ci/run installs it)");
    let child = Command::new(bin)
        .args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            &format!("--port={port}"),
            "--pid-file=",
            "--user=root",
            "--local=/test/",
            "--address=/web.test/10.0.0.5",
            "--txt-record=info.test,hello",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dnsmasq");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "dnsmasq did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Dnsmasq(child)
}

#[test]
fn dns_answers_rcodes_and_an_unreachable_resolver() {
    let port = free_port();
    let _dns = dnsmasq(port);
    let at = |q: &str| format!("dns://127.0.0.1:{port}/{q}");
    expect(&[&at("web.test?type=A&expect=10.0.0.5")], 0, "DNS OK");
    expect(
        &[&at("web.test?type=A&expect=10.0.0.6")],
        2,
        "lack 10.0.0.6",
    );
    expect(&[&at("info.test?type=TXT&expect=hello")], 0, "hello");
    expect(&[&at("missing.test")], 2, "NXDOMAIN, expected NOERROR");
    expect(&[&at("missing.test?rcode=NXDOMAIN")], 0, "DNS OK");
    // Nothing listens on this port: refused or no answer, never stuck.
    let silent = free_port();
    expect(
        &[
            &format!("dns://127.0.0.1:{silent}/web.test"),
            "--timeout-ms",
            "1000",
        ],
        2,
        "DNS CRITICAL",
    );
    expect(&[&at("web.test?type=BOGUS")], 3, "not a DNS record type");
}

/// An ICMP error quoting our echo request (a router's "destination
/// unreachable" for a host behind a dead link) is not a reply: the check is
/// CRITICAL and says who answered what. In a namespace router the test
/// makes; where namespaces cannot be made the test says so.
#[test]
fn icmp_errors_from_a_router_are_not_echo_replies() {
    let tag = format!("wfi{}", std::process::id() % 100_000);
    let run = |args: &[&str]| {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !run(&["ip", "netns", "add", &tag]) {
        eprintln!("SKIPPED: cannot make a network namespace here (needs root and ip netns)");
        return;
    }
    let (host_side, router_side) = (format!("{tag}h"), format!("{tag}r"));
    let ok = run(&[
        "ip",
        "link",
        "add",
        &host_side,
        "type",
        "veth",
        "peer",
        "name",
        &router_side,
    ]) && run(&["ip", "link", "set", &router_side, "netns", &tag])
        && run(&["ip", "addr", "add", "10.203.1.1/30", "dev", &host_side])
        && run(&["ip", "link", "set", &host_side, "up"])
        && run(&[
            "ip",
            "-n",
            &tag,
            "addr",
            "add",
            "10.203.1.2/30",
            "dev",
            &router_side,
        ])
        && run(&["ip", "-n", &tag, "link", "set", &router_side, "up"])
        && run(&[
            "ip",
            "netns",
            "exec",
            &tag,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ])
        && run(&["ip", "route", "add", "10.203.9.0/24", "via", "10.203.1.2"]);
    let outcome = ok.then(|| check(&["icmp://10.203.9.9", "--timeout-ms", "2000"]));
    let _ = run(&["ip", "route", "del", "10.203.9.0/24"]);
    let _ = run(&["ip", "link", "del", &host_side]);
    let _ = run(&["ip", "netns", "del", &tag]);
    let (code, line) = outcome.expect("the namespace router");
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("PING CRITICAL")
            && line.contains("destination unreachable")
            && line.contains("10.203.1.2"),
        "{line}"
    );
}
