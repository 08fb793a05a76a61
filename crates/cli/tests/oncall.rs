//! On-call schedules, escalation and notifications through a real
//! `watchfloor serve` on the test clock: email to a real SMTP server
//! (aiosmtpd from Debian's python3-aiosmtpd), Slack-style and plain
//! webhooks to an HTTP listener in the test, steps firing in order, the
//! acknowledge link in the email, and who may change what.

mod server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use server::{free_port, wait_for, write_config, Server};

const START: &str = "2026-11-25T10:00:00Z";

/// aiosmtpd writing every message it accepts into a maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(dir: &Path) -> Smtp {
    let python = "/usr/bin/python3";
    let probe = Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "this test needs aiosmtpd (apt-get install python3-aiosmtpd; .ci/run installs it)"
    );
    let port = free_port();
    let maildir = dir.join("maildir");
    let child = Command::new(python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
            maildir.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Smtp {
        child,
        port,
        maildir,
    }
}

/// The messages in the maildir: (To, Subject, body).
fn mails(smtp: &Smtp) -> Vec<(String, String, String)> {
    let Ok(entries) = std::fs::read_dir(smtp.maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|raw| {
            let raw = raw.replace("\r\n", "\n");
            let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or("")
                    .to_string()
            };
            let body = if header("Content-Transfer-Encoding") == "quoted-printable" {
                body.replace("=\n", "").replace("=3D", "=")
            } else {
                body.to_string()
            };
            (header("To"), header("Subject"), body)
        })
        .collect()
}

/// An HTTP listener that answers 200 to every POST and keeps
/// (path, headers, JSON body).
type Posts = Arc<Mutex<Vec<(String, String, Value)>>>;

fn start_webhooks() -> (u16, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts: Posts = Arc::default();
    let keep = posts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut headers = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                headers.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            keep.lock().unwrap().push((path, headers, json));
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, posts)
}

fn put(s: &Server, path: &str, body: Value) -> Value {
    let (status, answer) = s.call(Method::PUT, path, &s.token, Some(body));
    assert!(
        status == 201 || status == 200,
        "PUT {path}: {status} {answer}"
    );
    answer
}

fn advance(s: &Server, minutes: i64) {
    let (status, body) = s.call(
        Method::POST,
        "/api/v1/test/clock",
        &s.token,
        Some(json!({"advance_secs": minutes * 60})),
    );
    assert_eq!(status, 200, "{body}");
}

fn user(s: &Server, name: &str) {
    let (status, body) = s.call(
        Method::POST,
        "/api/v1/users",
        &s.token,
        Some(
            json!({"username": name, "password": "a long enough password",
                    "role": "noc_engineer", "email": format!("{name}@example.org")}),
        ),
    );
    assert_eq!(status, 201, "{body}");
}

fn start(dir: &Path, smtp_port: u16) -> Server {
    let notify = format!("[notify]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\n");
    let config = write_config(dir, free_port(), free_port(), "", &notify);
    Server::start_env(dir, &config, &[], &[("WATCHFLOOR_TEST_CLOCK", START)])
}

fn actions(s: &Server, id: i64) -> Vec<Value> {
    let (_, t) = s.get(&format!("/api/v1/incidents/{id}/timeline"));
    t["timeline"].as_array().cloned().unwrap_or_default()
}

#[test]
fn schedules_overrides_and_who_is_on_call() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let s = start(dir.path(), smtp.port);
    put(
        &s,
        "/api/v1/schedules/noc-primary",
        json!({"layers": [{"name": "weekly", "users": ["ann", "bob"],
                           "start": "2026-11-23T09:00:00Z", "shift_hours": 168}]}),
    );
    let (_, now) = s.get("/api/v1/schedules/noc-primary/oncall");
    assert_eq!(now["user"], "ann", "{now}");
    assert_eq!(now["until"], "2026-11-30T09:00:00.000000Z");
    let (_, later) = s.get("/api/v1/schedules/noc-primary/oncall?at=2026-11-30T10:00:00Z");
    assert_eq!(later["user"], "bob");
    let (status, o) = s.call(
        Method::POST,
        "/api/v1/schedules/noc-primary/overrides",
        &s.token,
        Some(json!({"user": "cy", "start": "2026-12-01T00:00:00Z",
                    "end": "2026-12-02T00:00:00Z", "reason": "bob at the dentist"})),
    );
    assert_eq!(status, 201, "{o}");
    let (_, covered) = s.get("/api/v1/schedules/noc-primary/oncall?at=2026-12-01T10:00:00Z");
    assert_eq!(
        (covered["user"].as_str(), covered["source"].as_str()),
        (Some("cy"), Some("override:1"))
    );
    let (_, shifts) = s.get(
        "/api/v1/schedules/noc-primary/shifts?from=2026-11-25T00:00:00Z&to=2026-12-08T00:00:00Z",
    );
    let who: Vec<&str> = shifts["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["user"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["ann", "bob", "cy", "bob", "ann"], "{shifts}");
    let (_, all) = s.get("/api/v1/oncall");
    assert_eq!(all["oncall"][0]["user"], "ann");
    let r = s
        .request(
            Method::DELETE,
            "/api/v1/schedules/noc-primary/overrides/1",
            Some(&s.token),
        )
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (_, back) = s.get("/api/v1/schedules/noc-primary/oncall?at=2026-12-01T10:00:00Z");
    assert_eq!(back["user"], "bob");

    // Every problem at once; unknown fields named; stale writes refused.
    let (status, bad) = s.call(
        Method::PUT,
        "/api/v1/schedules/broken",
        &s.token,
        Some(
            json!({"layers": [{"name": "", "users": [], "start": "2026-11-23T09:00:00Z",
                                "shift_hours": 0, "window": {"from": "8", "to": "18:00"}}]}),
        ),
    );
    assert_eq!(status, 400);
    let message = bad["error"].as_str().unwrap();
    for part in [
        "layers[0].name",
        "layers[0].users",
        "shift_hours",
        "window.from",
    ] {
        assert!(message.contains(part), "{part} in {message}");
    }
    let (status, bad) = s.call(
        Method::PUT,
        "/api/v1/escalation-policies/p",
        &s.token,
        Some(json!({"steps": [], "colour": "red"})),
    );
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("colour"), "{bad}");
    let r = s
        .request(Method::PUT, "/api/v1/teams/noc", Some(&s.token))
        .header("If-Match", "7")
        .json(&json!({"channels": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409, "no team at version 7");
}

#[test]
fn escalation_pages_in_order_and_the_email_link_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let (hook_port, posts) = start_webhooks();
    let s = start(dir.path(), smtp.port);
    user(&s, "ann");
    user(&s, "lead");
    put(
        &s,
        "/api/v1/schedules/noc-primary",
        json!({"layers": [{"name": "weekly", "users": ["ann", "bob"],
                           "start": "2026-11-23T09:00:00Z", "shift_hours": 168}]}),
    );
    put(
        &s,
        "/api/v1/channels/noc-chat",
        json!({"transport": "slack",
               "url": format!("http://127.0.0.1:{hook_port}/hooks/noc-secret")}),
    );
    put(
        &s,
        "/api/v1/channels/soc-hook",
        json!({"transport": "webhook",
               "url": format!("http://127.0.0.1:{hook_port}/soc"),
               "headers": {"X-Token": "t0ps3cret"}}),
    );
    put(
        &s,
        "/api/v1/teams/noc",
        json!({"members": ["ann", "bob"], "channels": ["noc-chat"]}),
    );
    put(&s, "/api/v1/teams/soc", json!({"channels": ["soc-hook"]}));
    put(
        &s,
        "/api/v1/escalation-policies/ops",
        json!({"applies_to": {"domains": ["operations"]}, "steps": [
            {"targets": [{"schedule": "noc-primary"}], "escalate_after_minutes": 5},
            {"targets": [{"user": "lead"}, {"team": "noc"}], "escalate_after_minutes": 10}
        ]}),
    );
    let (status, incident) = s.call(
        Method::POST,
        "/api/v1/incidents",
        &s.token,
        Some(json!({"title": "core link down", "type": "link_failure", "severity": "high"})),
    );
    assert_eq!(status, 201, "{incident}");
    let id = incident["id"].as_i64().unwrap();

    advance(&s, 0);
    let first = wait_for("ann's page", || {
        mails(&smtp)
            .into_iter()
            .find(|m| m.0.contains("ann@example.org"))
    });
    assert!(first.1.contains("core link down"), "{first:?}");
    assert!(first.2.contains("step 1 of 2"), "{}", first.2);
    assert!(
        mails(&smtp).iter().all(|m| !m.0.contains("lead@")),
        "step 2 waits 5 minutes"
    );
    advance(&s, 4);
    assert!(mails(&smtp).iter().all(|m| !m.0.contains("lead@")));
    advance(&s, 2);
    wait_for("lead's page", || {
        mails(&smtp).into_iter().find(|m| m.0.contains("lead@"))
    });
    let slack = wait_for("the NOC chat post", || {
        posts
            .lock()
            .unwrap()
            .iter()
            .find(|p| {
                p.0 == "/hooks/noc-secret"
                    && p.2["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("step 2 of 2"))
            })
            .cloned()
    });
    assert!(slack.2["text"].as_str().unwrap().contains("#"), "{slack:?}");
    // The SOC is told by its webhook what the RACI matrix has it do.
    let soc = wait_for("the SOC webhook", || {
        posts
            .lock()
            .unwrap()
            .iter()
            .find(|p| p.0 == "/soc")
            .cloned()
    });
    assert!(soc.1.to_ascii_lowercase().contains("x-token: t0ps3cret"));
    assert_eq!(soc.2["incident"]["id"], id);

    let timeline = actions(&s, id);
    let steps: Vec<(i64, i64)> = timeline
        .iter()
        .filter(|e| e["action"] == "escalated")
        .map(|e| {
            (
                e["detail"]["round"].as_i64().unwrap(),
                e["detail"]["step"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(steps, [(1, 1), (1, 2)]);
    let (_, listed) = s.get(&format!("/api/v1/notifications?incident={id}"));
    let listed = listed["notifications"].as_array().unwrap().clone();
    assert!(
        listed
            .iter()
            .all(|n| !n["body"].as_str().unwrap().contains("wfa_")),
        "links redacted"
    );
    assert!(listed
        .iter()
        .all(|n| !n["target"].as_str().unwrap().contains("secret")));
    wait_for("every message sent", || {
        let (_, l) = s.get(&format!("/api/v1/notifications?incident={id}"));
        l["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["state"] == "sent")
            .then_some(())
    });

    // ann acknowledges from her email: the page first, then the button.
    let link = first
        .2
        .lines()
        .find_map(|l| l.strip_prefix("Acknowledge: "))
        .expect("a link")
        .trim()
        .to_string();
    let path = link
        .split_once("/ack/")
        .map(|(_, p)| format!("/ack/{p}"))
        .unwrap();
    let page = s.request(Method::GET, &path, None).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().unwrap().contains("core link down"));
    let (_, still) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(still["status"], "new", "opening the page changes nothing");
    let r = s
        .request(Method::POST, &path, None)
        .header("Accept", "application/json")
        .send()
        .unwrap();
    let acked: Value = r.json().unwrap();
    assert_eq!(acked["acknowledged_now"], true, "{acked}");
    assert_eq!(acked["by"], "user:ann (notification link)");
    let (_, now) = s.get(&format!("/api/v1/incidents/{id}"));
    assert_eq!(now["status"], "acknowledged");
    let forged = s
        .request(Method::POST, "/ack/wfa_forged", None)
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 404);
    advance(&s, 60);
    let again = actions(&s, id);
    assert_eq!(
        again.iter().filter(|e| e["action"] == "escalated").count(),
        2,
        "acknowledged incidents stop escalating"
    );
    let (_, verify) = s.get(&format!("/api/v1/incidents/{id}/timeline/verify"));
    assert_eq!(verify["valid"], true, "{verify}");
}

#[test]
fn only_managers_change_on_call_and_channels_stay_private() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = start_smtp(dir.path());
    let s = start(dir.path(), smtp.port);
    let token = |role: &str, tenant: &str| {
        let out = Command::new(server::BIN)
            .args([
                "token", "create", "--name", role, "--role", role, "--tenant", tenant,
            ])
            .args(["--data-dir", s.dir.join("data").to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    put(
        &s,
        "/api/v1/channels/c",
        json!({"transport": "slack", "url": "http://127.0.0.1:9/secret"}),
    );
    put(
        &s,
        "/api/v1/schedules/s",
        json!({"layers": [{"name": "l", "users": ["ann"], "start": "2026-11-23T09:00:00Z",
                           "shift_hours": 24}]}),
    );
    let manager = token("incident_manager", "default");
    let engineer = token("noc_engineer", "default");
    let viewer = token("viewer", "default");
    let other = token("admin", "other");
    let team = json!({"channels": ["c"]});
    assert_eq!(
        s.call(Method::PUT, "/api/v1/teams/t", &manager, Some(team.clone()))
            .0,
        201
    );
    assert_eq!(
        s.call(
            Method::PUT,
            "/api/v1/teams/t",
            &engineer,
            Some(team.clone())
        )
        .0,
        403
    );
    assert_eq!(
        s.call(Method::GET, "/api/v1/channels", &viewer, None).0,
        403
    );
    assert_eq!(
        s.call(Method::GET, "/api/v1/channels/c", &engineer, None).0,
        403
    );
    assert_eq!(
        s.call(Method::GET, "/api/v1/channels", &manager, None).0,
        200
    );
    assert_eq!(s.call(Method::GET, "/api/v1/teams", &viewer, None).0, 200);
    let swap =
        json!({"user": "bob", "start": "2026-11-25T00:00:00Z", "end": "2026-11-26T00:00:00Z"});
    assert_eq!(
        s.call(
            Method::POST,
            "/api/v1/schedules/s/overrides",
            &engineer,
            Some(swap.clone())
        )
        .0,
        201,
        "engineers swap shifts"
    );
    assert_eq!(
        s.call(
            Method::POST,
            "/api/v1/schedules/s/overrides",
            &viewer,
            Some(swap)
        )
        .0,
        403
    );
    for path in [
        "/api/v1/schedules/s",
        "/api/v1/channels/c",
        "/api/v1/teams/t",
        "/api/v1/schedules/s/oncall",
    ] {
        assert_eq!(
            s.call(Method::GET, path, &other, None).0,
            404,
            "{path} of another tenant"
        );
    }
    let (_, none) = s.call(Method::GET, "/api/v1/oncall", &other, None);
    assert_eq!(none["oncall"], json!([]));
    for path in [
        "/api/v1/schedules",
        "/api/v1/oncall",
        "/api/v1/notifications",
        "/api/v1/escalation-policies",
    ] {
        assert_eq!(s.call(Method::GET, path, "wf_wrong", None).0, 401, "{path}");
    }
    let r = s
        .request(Method::DELETE, "/api/v1/channels/c", Some(&manager))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}
