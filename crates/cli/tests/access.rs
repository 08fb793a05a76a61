//! Users, sessions, tenants and the audit log through a real
//! `watchfloor serve` and the `watchfloor user|tenant` commands: password
//! login and lockout, logout, an MSSP operator acting in a client tenant,
//! what a client tenant's admin may not do, and the audit trail.

mod server;

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::{json, Value};
use server::{free_port, write_config, Server};

fn start(dir: &std::path::Path) -> Server {
    let config = write_config(dir, free_port(), free_port(), "", "");
    Server::start_with(dir, &config, &[])
}

fn login(s: &Server, username: &str, password: &str) -> (u16, Value) {
    let r = s
        .request(Method::POST, "/api/v1/session", None)
        .json(&json!({ "username": username, "password": password }))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// A request acting in `tenant` (`X-Watchfloor-Tenant`).
fn call_in(
    s: &Server,
    method: Method,
    path: &str,
    token: &str,
    tenant: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .request(method, path, Some(token))
        .header("X-Watchfloor-Tenant", tenant);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn create_user(s: &Server, token: &str, body: Value) -> Value {
    let (status, user) = s.call(Method::POST, "/api/v1/users", token, Some(body));
    assert_eq!(status, 201, "{user}");
    user
}

fn cli_with_stdin(s: &Server, args: &[&str], stdin: &str) -> std::process::Output {
    let data = s.dir.join("data");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--data-dir", data.to_str().unwrap()]);
    let mut child = Command::new(server::BIN)
        .args(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const PASSWORD: &str = "correct horse battery";

#[test]
fn password_login_sessions_lockout_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let (status, short) = s.call(
        Method::POST,
        "/api/v1/users",
        &s.token,
        Some(json!({"username": "alice", "password": "short", "role": "soc_analyst"})),
    );
    assert_eq!(status, 400, "short password refused: {short}");
    assert!(short["error"].as_str().unwrap().contains("12"), "{short}");
    let (status, bad_role) = s.call(
        Method::POST,
        "/api/v1/users",
        &s.token,
        Some(json!({"username": "alice", "password": PASSWORD, "role": "root"})),
    );
    assert_eq!(status, 400, "{bad_role}");
    let alice = create_user(
        &s,
        &s.token,
        json!({"username": "alice", "password": PASSWORD, "role": "soc_analyst"}),
    );
    assert!(
        alice.get("password_hash").is_none(),
        "no hash in answers: {alice}"
    );
    let (status, _) = s.call(
        Method::POST,
        "/api/v1/users",
        &s.token,
        Some(json!({"username": "alice", "password": PASSWORD, "role": "viewer"})),
    );
    assert_eq!(status, 409, "a username is unique");

    let (status, session) = login(&s, "alice", PASSWORD);
    assert_eq!(status, 200, "{session}");
    let secret = session["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("wfs_"));
    let (status, me) = s.call(Method::GET, "/api/v1/me", &secret, None);
    assert_eq!((status, me["actor"].as_str()), (200, Some("user:alice")));
    assert_eq!(me["role"], "soc_analyst");
    let (status, _) = s.call(Method::GET, "/api/v1/incidents", &secret, None);
    assert_eq!(status, 200, "an analyst's session reads incidents");
    let (status, _) = s.call(Method::GET, "/api/v1/users", &secret, None);
    assert_eq!(status, 403, "an analyst does not manage users");

    // Anyone changes their own password, nothing else of their account.
    let id = alice["id"].as_i64().unwrap();
    let (status, _) = s.call(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &secret,
        Some(json!({"role": "admin"})),
    );
    assert_eq!(status, 403, "no self-promotion");
    let new_password = "another long passphrase";
    let (status, _) = s.call(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &secret,
        Some(json!({"password": new_password})),
    );
    assert_eq!(status, 200);
    let (status, _) = s.call(Method::GET, "/api/v1/me", &secret, None);
    assert_eq!(status, 401, "a password change ends the sessions");

    // Five wrong passwords lock the account, even for the right one.
    for _ in 0..5 {
        assert_eq!(login(&s, "alice", "wrong password!!").0, 401);
    }
    assert_eq!(login(&s, "alice", new_password).0, 401, "locked");
    assert_eq!(
        login(&s, "nobody", new_password).0,
        401,
        "unknown users get the same answer"
    );
    let (status, unlocked) = s.call(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &s.token,
        Some(json!({"unlock": true})),
    );
    assert_eq!(status, 200, "{unlocked}");
    let (status, session) = login(&s, "alice", new_password);
    assert_eq!(status, 200, "{session}");
    let secret = session["token"].as_str().unwrap().to_string();
    let r = s
        .request(Method::DELETE, "/api/v1/session", Some(&secret))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = s.call(Method::GET, "/api/v1/me", &secret, None);
    assert_eq!(status, 401, "logged out");

    // A disabled user cannot log in.
    let (status, _) = s.call(
        Method::PATCH,
        &format!("/api/v1/users/{id}"),
        &s.token,
        Some(json!({"disabled": true})),
    );
    assert_eq!(status, 200);
    assert_eq!(login(&s, "alice", new_password).0, 401);
}

#[test]
fn an_mssp_operator_works_in_client_tenants_and_nothing_crosses() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    // The provider's admin creates two client tenants.
    for name in ["acme", "globex"] {
        let (status, t) = s.call(
            Method::POST,
            "/api/v1/tenants",
            &s.token,
            Some(json!({"name": name, "display_name": format!("{name} Corp")})),
        );
        assert_eq!(status, 201, "{t}");
    }
    let (status, tenants) = s.get("/api/v1/tenants");
    assert_eq!(status, 200);
    let names: Vec<&str> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"acme") && names.contains(&"globex"),
        "{tenants}"
    );

    // An operator of the provider who also serves acme (not globex).
    create_user(
        &s,
        &s.token,
        json!({"username": "op", "password": PASSWORD, "role": "incident_manager",
               "tenants": ["acme"]}),
    );
    let op = login(&s, "op", PASSWORD).1["token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, incident) = call_in(
        &s,
        Method::POST,
        "/api/v1/incidents",
        &op,
        "acme",
        Some(json!({"title": "acme outage", "type": "outage"})),
    );
    assert_eq!(status, 201, "{incident}");
    assert_eq!(incident["tenant"], "acme");
    let id = incident["id"].as_i64().unwrap();
    let (status, seen) = call_in(&s, Method::GET, "/api/v1/incidents", &op, "acme", None);
    assert_eq!(status, 200);
    assert_eq!(seen["incidents"].as_array().unwrap().len(), 1);
    let (_, home) = s.call(Method::GET, "/api/v1/incidents", &op, None);
    assert_eq!(
        home["incidents"],
        json!([]),
        "acme's incident stays in acme"
    );
    let (status, _) = s.call(Method::GET, &format!("/api/v1/incidents/{id}"), &op, None);
    assert_eq!(status, 404, "not visible from the home tenant");
    let (status, _) = call_in(&s, Method::GET, "/api/v1/incidents", &op, "globex", None);
    assert_eq!(status, 403, "op does not serve globex");

    // acme's own admin (an API token) stays inside acme.
    let acme_admin = {
        let out = cli_with_stdin(
            &s,
            &[
                "token",
                "create",
                "--name",
                "acme-admin",
                "--role",
                "admin",
                "--tenant",
                "acme",
            ],
            "",
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (_, mine) = s.call(Method::GET, "/api/v1/incidents", &acme_admin, None);
    assert_eq!(mine["incidents"].as_array().unwrap().len(), 1);
    let (status, _) = call_in(
        &s,
        Method::GET,
        "/api/v1/incidents",
        &acme_admin,
        "globex",
        None,
    );
    assert_eq!(status, 403, "a token acts in its own tenant only");
    let (status, _) = s.call(
        Method::POST,
        "/api/v1/tenants",
        &acme_admin,
        Some(json!({"name": "evil"})),
    );
    assert_eq!(status, 403, "client admins do not create tenants");
    let (status, _) = s.call(Method::GET, "/api/v1/users?all=true", &acme_admin, None);
    assert_eq!(status, 403);
    let (status, _) = s.call(
        Method::POST,
        "/api/v1/users",
        &acme_admin,
        Some(
            json!({"username": "spy", "password": PASSWORD, "role": "viewer",
                    "tenant": "globex"}),
        ),
    );
    assert_eq!(status, 403, "no users placed in another tenant");
    let (status, users) = s.call(Method::GET, "/api/v1/users", &acme_admin, None);
    assert_eq!(status, 200);
    assert_eq!(users["users"], json!([]), "op's home is the provider");
    let (_, tenants) = s.call(Method::GET, "/api/v1/tenants", &acme_admin, None);
    assert_eq!(tenants["tenants"].as_array().unwrap().len(), 1, "{tenants}");

    // The audit log: acme's shows op's write in acme, the provider's not.
    let (status, audit) = s.call(Method::GET, "/api/v1/audit", &acme_admin, None);
    assert_eq!(status, 200);
    let entries = audit["audit"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["actor"] == "user:op"
            && e["method"] == "POST"
            && e["path"] == "/api/v1/incidents"
            && e["status"] == 201
            && e["remote"] == "127.0.0.1"),
        "{audit}"
    );
    assert!(
        entries.iter().all(|e| e["tenant"] == "acme"),
        "only acme's entries: {audit}"
    );
    let (_, provider) = s.get("/api/v1/audit?limit=1000");
    let provider = provider["audit"].as_array().unwrap();
    assert!(provider
        .iter()
        .any(|e| e["path"] == "/api/v1/tenants" && e["status"] == 201));
    assert!(
        provider
            .iter()
            .any(|e| e["path"] == "/api/v1/session" && e["actor"] == "user:op"),
        "logins are audited"
    );
    assert!(provider.iter().all(|e| e["tenant"] == "default"));
}

#[test]
fn user_and_tenant_commands_work_on_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let out = cli_with_stdin(&s, &["tenant", "create", "initech"], "");
    assert!(out.status.success(), "{out:?}");
    let out = cli_with_stdin(
        &s,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "noc_engineer",
            "--tenant",
            "initech",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{out:?}");
    let out = cli_with_stdin(
        &s,
        &["user", "create", "--username", "eve", "--role", "god"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--role god"),
        "{out:?}"
    );
    let out = cli_with_stdin(&s, &["user", "list"], "");
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains("bob") && list.contains("initech") && list.contains("noc_engineer"),
        "{list}"
    );
    let out = cli_with_stdin(&s, &["tenant", "list"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("initech"));

    // The running server sees the user the command made.
    let (status, session) = login(&s, "bob", PASSWORD);
    assert_eq!(status, 200, "{session}");
    let bob = session["token"].as_str().unwrap();
    let (_, me) = s.call(Method::GET, "/api/v1/me", bob, None);
    assert_eq!(me["tenant"], "initech");

    let out = cli_with_stdin(&s, &["user", "disable", "bob"], "");
    assert!(out.status.success(), "{out:?}");
    let (status, _) = s.call(Method::GET, "/api/v1/me", bob, None);
    assert_eq!(status, 401, "disabling ends the sessions");
}
