//! The connectors against real peers: nftables in a network namespace made
//! by the test (as root; without the right to make one the test says so),
//! an HTTP server on loopback, real processes. Each one's failures too: the
//! peer down, refusing, never answering.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use watchfloor_respond::actions::{Actions, Call, Host};
use watchfloor_respond::RespondConfig;
use watchfloor_testkit::peers::{free_port, rcode, slapd, unbound, Slapd, NXDOMAIN};

struct NoHost;

impl Host for NoHost {
    fn add_task(&self, _: &Call<'_>, _: &str, _: &str, _: Option<&str>) -> Result<Value, String> {
        Err("no incident room here".into())
    }
    fn comment(&self, _: &Call<'_>, _: &str) -> Result<Value, String> {
        Err("no incident room here".into())
    }
    fn notify(&self, _: &Call<'_>, _: &[String], _: &str, _: &str) -> Result<Value, String> {
        Err("no incident room here".into())
    }
}

const CALL: Call<'static> = Call {
    tenant: "acme",
    incident_id: Some(7),
    run_id: 3,
    key: "wf-acme-3-block-0",
};

fn actions(config: RespondConfig) -> Actions {
    Actions::new(config, Arc::new(NoHost))
}

/// The error of a call that must fail.
async fn refused(a: &Actions, name: &str, input: &Value) -> String {
    a.call(name, input, &CALL)
        .await
        .expect_err("the call must fail")
}

/// A network namespace for the test, removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Option<Netns> {
        let name = format!("wf-{tag}-{}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Netns(name))
    }

    fn nft(&self, script: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nft");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(
            child.wait().unwrap().success(),
            "nft script failed: {script}"
        );
    }

    fn elements(&self, set: &str) -> String {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                "nft",
                "list",
                "set",
                "inet",
                "watchfloor",
                set,
            ])
            .output()
            .expect("nft list");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

const RULESET: &str = "table inet watchfloor {
  set blocked { type ipv4_addr; flags interval, timeout; }
  set blocked6 { type ipv6_addr; flags interval, timeout; }
  chain forward { type filter hook forward priority -10; ip saddr @blocked drop; ip6 saddr @blocked6 drop; }
}";

#[tokio::test]
async fn nftables_adds_and_removes_addresses_in_a_namespace() {
    let Some(ns) = Netns::new("nft") else {
        eprintln!("SKIPPED: cannot make a network namespace here (needs root and ip netns)");
        return;
    };
    ns.nft(RULESET);
    let a = actions(RespondConfig::default());
    let input = json!({"set": "blocked", "set6": "blocked6", "netns": ns.0,
        "addresses": ["198.51.100.7", "203.0.113.0/24", "2001:db8::66"], "timeout": "10m"});
    let out = a.call("nftables.add", &input, &CALL).await.unwrap();
    assert_eq!(
        out["added"],
        json!(["198.51.100.7", "203.0.113.0/24", "2001:db8::66"])
    );
    let listed = ns.elements("blocked");
    assert!(listed.contains("198.51.100.7 timeout 10m"), "{listed}");
    assert!(listed.contains("203.0.113.0/24 timeout 10m"), "{listed}");
    assert!(ns.elements("blocked6").contains("2001:db8::66"));
    // Again (a retry after a restart): no error, still one element each.
    a.call("nftables.add", &input, &CALL).await.unwrap();
    assert_eq!(ns.elements("blocked").matches("198.51.100.7").count(), 1);

    // Removal, with one address that was never there.
    let remove = json!({"set": "blocked", "set6": "blocked6", "netns": ns.0,
        "addresses": ["198.51.100.7", "192.0.2.1", "2001:db8::66"]});
    let out = a.call("nftables.remove", &remove, &CALL).await.unwrap();
    assert_eq!(out["removed"], json!(["198.51.100.7", "2001:db8::66"]));
    let listed = ns.elements("blocked");
    assert!(!listed.contains("198.51.100.7"), "{listed}");
    assert!(listed.contains("203.0.113.0/24"), "others stay: {listed}");
    // Removing again is a no-op.
    let out = a.call("nftables.remove", &remove, &CALL).await.unwrap();
    assert_eq!(out["removed"], json!([]));
}

#[tokio::test]
async fn nftables_failures_name_the_cause() {
    let a = actions(RespondConfig::default());
    let missing_ns = json!({"set": "blocked", "netns": "wf-no-such-ns", "addresses": "192.0.2.1"});
    let e = refused(&a, "nftables.add", &missing_ns).await;
    assert!(e.contains("nft -f - failed"), "{e}");
    let Some(ns) = Netns::new("nftfail") else {
        eprintln!("SKIPPED: cannot make a network namespace here");
        return;
    };
    // No such set in the namespace.
    let e = refused(
        &a,
        "nftables.add",
        &json!({"set": "blocked", "netns": ns.0, "addresses": "192.0.2.1"}),
    )
    .await;
    assert!(e.contains("No such file or directory"), "{e}");
    ns.nft(RULESET);
    let e = refused(
        &a,
        "nftables.add",
        &json!({"set": "blocked", "netns": ns.0, "addresses": "2001:db8::1"}),
    )
    .await;
    assert!(e.contains("need `set6`"), "{e}");
    let broken = actions(RespondConfig {
        nft: "/nonexistent/nft".into(),
        ..RespondConfig::default()
    });
    let e = broken
        .call(
            "nftables.add",
            &json!({"set": "blocked", "addresses": "192.0.2.1"}),
            &CALL,
        )
        .await
        .unwrap_err();
    assert!(e.contains("cannot run /nonexistent/nft"), "{e}");
}

/// An HTTP server on loopback answering each request with `status` after
/// `delay`, keeping what it was sent.
fn http_peer(status: u16, delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&got).into_owned());
            std::thread::sleep(delay);
            let body = r#"{"ticket":"INC-1"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

#[tokio::test]
async fn http_requests_carry_the_key_and_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("soar"), "s3cret\n").unwrap();
    let a = actions(RespondConfig {
        secrets: [("soar".to_string(), dir.path().join("soar"))].into(),
        ..RespondConfig::default()
    });
    let (url, seen) = http_peer(201, Duration::ZERO);
    let out = a
        .call(
            "http.request",
            &json!({"url": url, "body": {"incident": 7}, "auth_secret": "soar",
                    "headers": {"X-Source": "watchfloor"}}),
            &CALL,
        )
        .await
        .unwrap();
    assert_eq!(out, json!({"status": 201, "body": {"ticket": "INC-1"}}));
    let request = seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(request.starts_with("post /hook "), "{request}");
    assert!(
        request.contains("idempotency-key: wf-acme-3-block-0"),
        "{request}"
    );
    assert!(
        request.contains("authorization: bearer s3cret"),
        "{request}"
    );
    assert!(request.contains("x-source: watchfloor"), "{request}");
    assert!(request.ends_with("{\"incident\":7}"), "{request}");
}

#[tokio::test]
async fn http_failures_are_errors_with_their_cause() {
    let a = actions(RespondConfig::default());
    let (url, _) = http_peer(503, Duration::ZERO);
    let e = refused(&a, "http.request", &json!({"url": url})).await;
    assert!(e.contains("status 503"), "{e}");
    // Nobody listening.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let e = refused(&a, "http.request", &json!({"url": url})).await;
    assert!(e.to_lowercase().contains("connect"), "{e}");
    // A peer that never answers: the step's timeout bounds the call.
    let (url, _) = http_peer(200, Duration::from_secs(30));
    let input = json!({"url": url});
    let slow = a.call("http.request", &input, &CALL);
    assert!(tokio::time::timeout(Duration::from_millis(500), slow)
        .await
        .is_err());
    // A secret that is not configured is named.
    let (url, _) = http_peer(200, Duration::ZERO);
    let e = refused(
        &a,
        "http.request",
        &json!({"url": url, "auth_secret": "nope"}),
    )
    .await;
    assert!(e.contains("no secret \"nope\""), "{e}");
    let e = refused(&a, "http.request", &json!({"url": "file:///etc/passwd"})).await;
    assert!(e.contains("only http and https"), "{e}");
}

#[tokio::test]
async fn commands_must_be_allow_listed_and_report_failures() {
    let config = RespondConfig {
        commands: vec![
            watchfloor_respond::config::CommandConfig {
                name: "echo".into(),
                argv: vec!["/bin/echo".into(), "fixed".into()],
                allow_args: false,
            },
            watchfloor_respond::config::CommandConfig {
                name: "fail".into(),
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo nope >&2; exit 4".into(),
                ],
                allow_args: false,
            },
        ],
        ..RespondConfig::default()
    };
    let a = actions(config);
    let out = a
        .call("command.run", &json!({"command": "echo"}), &CALL)
        .await
        .unwrap();
    assert_eq!(out["stdout"], "fixed\n");
    let e = refused(
        &a,
        "command.run",
        &json!({"command": "echo", "args": ["; rm -rf /"]}),
    )
    .await;
    assert!(e.contains("takes no arguments"), "{e}");
    let e = refused(&a, "command.run", &json!({"command": "rm"})).await;
    assert!(e.contains("not in [[respond.commands]]"), "{e}");
    let e = refused(&a, "command.run", &json!({"command": "fail"})).await;
    assert!(e.contains("exit status: 4") && e.contains("nope"), "{e}");
}

#[tokio::test]
async fn dns_blocks_are_answered_nxdomain_by_unbound_and_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let Some(u) = unbound(dir.path()) else {
        eprintln!("SKIPPED: unbound is not installed");
        return;
    };
    let mut config = RespondConfig::default();
    config.dns.file = Some(u.file.clone());
    config.dns.reload = u.control.clone();
    let a = actions(config);
    assert_ne!(rcode(u.dns, "login.corp-example.help"), Some(NXDOMAIN));
    let input = json!({"domains": ["Login.Corp-Example.help.", "evil-example.net"]});
    let started = std::time::Instant::now();
    let out = a.call("dns.block", &input, &CALL).await.unwrap();
    eprintln!(
        "dns.block with unbound-control reload: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(out["changed"].as_array().unwrap().len(), 2, "{out}");
    for name in [
        "login.corp-example.help",
        "evil-example.net",
        "www.evil-example.net",
    ] {
        assert_eq!(rcode(u.dns, name), Some(NXDOMAIN), "{name} is blocked");
    }
    assert_eq!(rcode(u.dns, "ok.example"), Some(0), "others are not");
    // Again: nothing changes, no reload needed.
    let out = a.call("dns.block", &input, &CALL).await.unwrap();
    assert_eq!(out["changed"], json!([]));
    let out = a
        .call(
            "dns.unblock",
            &json!({"domains": ["evil-example.net"]}),
            &CALL,
        )
        .await
        .unwrap();
    assert_eq!(out["total"], 1);
    assert_ne!(rcode(u.dns, "evil-example.net"), Some(NXDOMAIN), "lifted");
    assert_eq!(
        rcode(u.dns, "login.corp-example.help"),
        Some(NXDOMAIN),
        "the other stays"
    );

    // Failures: a name that is no domain, a reload that fails.
    let e = refused(
        &a,
        "dns.block",
        &json!({"domains": ["x\" always_transparent"]}),
    )
    .await;
    assert!(e.contains("is not a domain name"), "{e}");
    let mut broken = RespondConfig::default();
    broken.dns.file = Some(u.file.clone());
    broken.dns.reload = vec![
        "unbound-control".into(),
        "-s".into(),
        "127.0.0.1@9".into(),
        "reload".into(),
    ];
    let e = actions(broken)
        .call("dns.block", &json!({"domains": ["new.example"]}), &CALL)
        .await
        .unwrap_err();
    assert!(
        e.contains("unbound-control -s 127.0.0.1@9 reload failed"),
        "{e}"
    );
}

/// bob's operational attributes, as the administrator reads them.
fn bob(s: &Slapd, attribute: &str) -> String {
    let out = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &s.url,
            "-D",
            "cn=admin,dc=corp,dc=example",
            "-w",
            "s3cret",
            "-b",
            "uid=bob,ou=people,dc=corp,dc=example",
            attribute,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn ldap_accounts_are_marked_for_reset_locked_and_unlocked_in_slapd() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = slapd(dir.path()) else {
        eprintln!("SKIPPED: slapd is not installed");
        return;
    };
    std::fs::write(dir.path().join("ldap.pw"), "s3cret\n").unwrap();
    let mut config = RespondConfig::default();
    config.ldap.url = s.url.clone();
    config.ldap.bind_dn = "cn=admin,dc=corp,dc=example".into();
    config.ldap.password_secret = Some("ldap".into());
    config.ldap.base_dn = "dc=corp,dc=example".into();
    config
        .secrets
        .insert("ldap".into(), dir.path().join("ldap.pw"));
    let a = actions(config.clone());
    let out = a
        .call(
            "ldap.account",
            &json!({"user": "bob", "operation": "mark_reset"}),
            &CALL,
        )
        .await
        .unwrap();
    assert_eq!(out["dn"], "uid=bob,ou=people,dc=corp,dc=example");
    assert_eq!(out["mail"], "bob@corp.example");
    assert!(
        bob(&s, "pwdReset").contains("pwdReset: TRUE"),
        "{}",
        bob(&s, "pwdReset")
    );
    a.call(
        "ldap.account",
        &json!({"user": "bob", "operation": "disable"}),
        &CALL,
    )
    .await
    .unwrap();
    assert!(bob(&s, "pwdAccountLockedTime").contains("000001010000Z"));
    // Locked: bob cannot bind.
    let bind = Command::new("ldapwhoami")
        .args([
            "-x",
            "-H",
            &s.url,
            "-D",
            "uid=bob,ou=people,dc=corp,dc=example",
            "-w",
            "bobpw",
        ])
        .output()
        .unwrap();
    assert!(!bind.status.success(), "a locked account binds");
    for _ in 0..2 {
        a.call(
            "ldap.account",
            &json!({"user": "bob", "operation": "enable"}),
            &CALL,
        )
        .await
        .expect("unlocking, also when not locked");
    }
    assert!(!bob(&s, "pwdAccountLockedTime").contains("pwdAccountLockedTime"));

    // Failures name the cause.
    let e = refused(
        &a,
        "ldap.account",
        &json!({"user": "mallory", "operation": "disable"}),
    )
    .await;
    assert!(e.contains("no account \"mallory\""), "{e}");
    let e = refused(
        &a,
        "ldap.account",
        &json!({"user": "bob*", "operation": "nuke"}),
    )
    .await;
    assert!(e.contains("no account") || e.contains("`operation`"), "{e}");
    std::fs::write(dir.path().join("ldap.pw"), "wrong\n").unwrap();
    let e = refused(
        &a,
        "ldap.account",
        &json!({"user": "bob", "operation": "disable"}),
    )
    .await;
    assert!(e.contains("LDAP bind as cn=admin"), "{e}");
    let mut down = config;
    down.ldap.url = format!("ldap://127.0.0.1:{}/", free_port());
    let e = actions(down)
        .call(
            "ldap.account",
            &json!({"user": "bob", "operation": "disable"}),
            &CALL,
        )
        .await
        .unwrap_err();
    assert!(e.starts_with("LDAP ldap://127.0.0.1:"), "{e}");
}
