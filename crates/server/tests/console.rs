//! The console's pages and fragments on the router in process: status,
//! sign-in redirects, role checks (what a page shows and what a POST
//! may do), tenant scoping and the tenant switcher, CSRF and Origin
//! checks, security headers, assets. The browser flows are in
//! `crates/cli/tests/console_e2e.rs`.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use watchfloor_incident::NewIncident;
use watchfloor_server::api::AppState;
use watchfloor_server::auth;
use watchfloor_server::console::session::csrf_token;
use watchfloor_state::NewUser;

const PASSWORD: &str = "correct horse battery";

struct Console {
    router: Router,
    app: Arc<AppState>,
    _dir: tempfile::TempDir,
}

/// A signed-in browser: its session cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn console() -> Console {
    let (router, app, dir) = common::assembled().await;
    Console {
        router,
        app,
        _dir: dir,
    }
}

impl Console {
    fn user(&self, name: &str, role: &str, tenant: &str, also: &[&str]) {
        self.app
            .access
            .create_user(&NewUser {
                username: name.into(),
                display_name: name.into(),
                email: None,
                role: role.into(),
                tenant: tenant.into(),
                tenants: also.iter().map(|t| t.to_string()).collect(),
                password_hash: auth::hash_password(PASSWORD).expect("hash"),
            })
            .expect("user");
    }

    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
            .await
            .expect("body");
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn login(&self, name: &str) -> Session {
        let a = self
            .send(
                Request::post("/login")
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(Body::from(format!(
                        "username={name}&password=correct+horse+battery"
                    )))
                    .expect("request"),
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let cookie = a
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("wf_session="))
            .expect("session cookie")
            .to_string();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let secret = cookie["wf_session=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_string();
        Session {
            csrf: csrf_token(&secret),
            cookie: format!("wf_session={secret}"),
        }
    }

    async fn get(&self, s: &Session, path: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::COOKIE, &s.cookie)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    async fn post(&self, s: &Session, path: &str, form: &str) -> Answer {
        self.send(
            Request::post(path)
                .header(header::COOKIE, &s.cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form.to_string()))
                .expect("request"),
        )
        .await
    }

    /// The default tenant's incident `id`, as stored.
    fn default_incident(&self, id: i64) -> watchfloor_model::incident::Incident {
        self.app.incidents.get("default", id).expect("incident")
    }

    fn incident(&self, tenant: &str, title: &str) -> i64 {
        let new: NewIncident =
            serde_json::from_value(serde_json::json!({"title": title, "type": "outage"}))
                .expect("new");
        self.app
            .incidents
            .open(tenant, "user:test", new)
            .expect("open")
            .id
    }
}

const PAGES: &[&str] = &[
    "/wallboard",
    "/wallboard/panel",
    "/incidents",
    "/incidents/rows",
    "/alerts",
    "/search",
    "/search?q=host:web1&from=now-1d&field=host",
    "/search/counts?q=host:web1&from=now-1d&field=host",
    "/rules",
    "/rules?q=brute&page=0",
    "/checks",
    "/topology",
    "/availability",
    "/availability.csv",
    "/oncall",
    "/intel",
    "/intel?kind=ip&q=x&scope=shared&live=true&offset=50&value=8.8.8.8",
    "/telemetry",
    "/telemetry?q=up&range=6h",
    "/telemetry/device?job=snmp&instance=r1:161",
    "/approvals",
    "/runs",
    "/runs?status=failed",
    "/playbooks",
    "/playbooks/ddos-block",
    "/playbooks/ddos-block?incident=&params=netns%3Dedge&dry=1",
    "/phishing",
];

#[tokio::test]
async fn every_page_renders_for_an_admin_with_the_security_headers() {
    let c = console().await;
    c.user("ada", "admin", "default", &[]);
    let s = c.login("ada").await;
    let id = c.incident("default", "Link to DC2 down");
    let incident = format!("/incidents/{id}");
    for path in PAGES.iter().copied().chain([incident.as_str(), "/admin"]) {
        let a = c.get(&s, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
        let csp = a.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(a.headers["x-content-type-options"], "nosniff");
        assert_eq!(
            a.headers["cache-control"], "no-store",
            "{path}: tenant data is never cached"
        );
        assert!(!a.body.contains("<script>"), "{path}: no inline script");
    }
    let rules = c.get(&s, "/rules?q=ssh").await;
    assert!(
        rules.body.contains("SSH") && rules.body.contains("correlation"),
        "the starter SSH brute force is listed"
    );
    assert!(!c
        .get(&s, "/rules?q=no-such-rule")
        .await
        .body
        .contains("correlation</td>"));
    let page = c.get(&s, &incident).await;
    assert!(page.body.contains("Link to DC2 down"));
    assert!(
        page.body.contains("Hash chain verified"),
        "the timeline's chain is checked"
    );
}

#[tokio::test]
async fn without_a_session_pages_send_to_the_login_and_fragments_answer_401() {
    let c = console().await;
    let a = c
        .send(
            Request::get("/incidents?status=all")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        a.headers[header::LOCATION],
        "/login?next=/incidents%3Fstatus%3Dall"
    );
    let a = c
        .send(
            Request::get("/incidents/rows")
                .header("hx-request", "true")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["hx-redirect"], "/login");
    let a = c.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(a.headers[header::LOCATION], "/login");
    let a = c
        .send(Request::get("/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("autocomplete=\"current-password\""));
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_an_open_redirect_is_not_followed() {
    let c = console().await;
    c.user("ada", "admin", "default", &[]);
    let a = c
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("username=ada&password=nope"))
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(a.body.contains("Wrong username or password"));
    assert!(a.headers.get(header::SET_COOKIE).is_none());
    let a = c
        .send(
            Request::post("/login")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "username=ada&password=correct+horse+battery&next=//evil.example/",
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(a.headers[header::LOCATION], "/wallboard");
}

#[tokio::test]
async fn a_viewer_sees_no_action_and_a_forged_post_is_refused() {
    let c = console().await;
    c.user("vic", "viewer", "default", &[]);
    let s = c.login("vic").await;
    let id = c.incident("default", "Phishing wave");
    let page = c.get(&s, &format!("/incidents/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for control in [
        "/update\"",
        "/comment\"",
        "/tasks\"",
        "/merge\"",
        "Save</button>",
    ] {
        assert!(
            !page.body.contains(control),
            "a viewer's page has no {control}"
        );
    }
    let queue = c.get(&s, "/incidents").await;
    assert!(
        !queue.body.contains("value=\"acknowledge\""),
        "no bulk actions"
    );
    let checks = c.get(&s, "/checks").await;
    assert!(!checks.body.contains("New check"));
    let rules = c.get(&s, "/rules").await;
    assert!(!rules.body.contains("Reload rules"));
    assert_eq!(c.get(&s, "/admin").await.status, StatusCode::FORBIDDEN);
    // A POST with a valid CSRF token is still refused by role.
    let forged = c
        .post(
            &s,
            &format!("/incidents/{id}/comment"),
            &format!("_csrf={}&text=hi", s.csrf),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let forged = c
        .post(
            &s,
            "/checks",
            &format!("_csrf={}&name=x&kind=tcp&target=127.0.0.1:1", s.csrf),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let incident = c.default_incident(id);
    assert!(incident.comments.is_empty());
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_our_origin() {
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    let s = c.login("sam").await;
    let id = c.incident("default", "Brute force");
    let path = format!("/incidents/{id}/comment");
    let missing = c.post(&s, &path, "text=first").await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("CSRF"));
    let wrong = c.post(&s, &path, "_csrf=AAAA&text=first").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross = c
        .send(
            Request::post(&path)
                .header(header::COOKIE, &s.cookie)
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::ORIGIN, "https://evil.example")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("_csrf={}&text=first", s.csrf)))
                .unwrap(),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(c.default_incident(id).comments.is_empty());
    let ok = c
        .post(&s, &path, &format!("_csrf={}&text=first+look", s.csrf))
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let incident = c.default_incident(id);
    assert_eq!(incident.comments[0].text, "first look");
    assert_eq!(incident.comments[0].author, "user:sam");
    // The htmx header carries the token too.
    let via_header = c
        .send(
            Request::post(&path)
                .header(header::COOKIE, &s.cookie)
                .header("x-csrf-token", &s.csrf)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("text=second"))
                .unwrap(),
        )
        .await;
    assert_eq!(via_header.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn incidents_are_worked_from_the_queue_and_their_page() {
    let c = console().await;
    c.user("nora", "noc_engineer", "default", &[]);
    let s = c.login("nora").await;
    let a = c.incident("default", "Router r1 down");
    let b = c.incident("default", "Switch s2 flapping");
    let bulk = format!("_csrf={}&ids={a}&ids={b}&action=acknowledge", s.csrf);
    assert_eq!(
        c.post(&s, "/incidents/bulk", &bulk).await.status,
        StatusCode::SEE_OTHER
    );
    for id in [a, b] {
        assert_eq!(c.default_incident(id).status.as_str(), "acknowledged");
    }
    let assign = format!("_csrf={}&ids={a}&action=assign&assignee=nora", s.csrf);
    c.post(&s, "/incidents/bulk", &assign).await;
    assert_eq!(c.default_incident(a).assignee.as_deref(), Some("nora"));
    let rows = c.get(&s, "/incidents/rows?assignee=nora").await;
    assert!(rows.body.contains("Router r1 down") && !rows.body.contains("Switch s2"));

    let version = c.default_incident(a).version;
    let update = format!(
        "_csrf={}&version={version}&status=in_progress&impact=high&urgency=high",
        s.csrf
    );
    assert_eq!(
        c.post(&s, &format!("/incidents/{a}/update"), &update)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let i = c.default_incident(a);
    assert_eq!((i.status.as_str(), i.priority), ("in_progress", 1));
    let stale = c.post(&s, &format!("/incidents/{a}/update"), &update).await;
    assert_eq!(
        stale.status,
        StatusCode::CONFLICT,
        "a change based on an old version"
    );

    let task = format!("_csrf={}&title=Reroute+over+backup&team=noc", s.csrf);
    c.post(&s, &format!("/incidents/{a}/tasks"), &task).await;
    let task_id = c.default_incident(a).tasks.last().unwrap().id;
    let done = format!("_csrf={}&status=done", s.csrf);
    c.post(&s, &format!("/incidents/{a}/tasks/{task_id}"), &done)
        .await;
    let page = c.get(&s, &format!("/incidents/{a}")).await;
    assert!(page.body.contains("Reroute over backup"));
    assert!(
        page.body.contains("<strong>task_created</strong>")
            && page.body.contains("<strong>task_updated</strong>"),
        "the timeline grew"
    );
}

#[tokio::test]
async fn tenants_never_cross_and_the_switcher_offers_only_ones_own() {
    let c = console().await;
    c.user("amy", "admin", "acme", &[]);
    c.user("mo", "soc_analyst", "default", &["acme"]);
    let other = c.incident("globex", "Globex secret");
    let own = c.incident("acme", "Acme outage");
    let amy = c.login("amy").await;
    assert_eq!(
        c.get(&amy, &format!("/incidents/{other}")).await.status,
        StatusCode::NOT_FOUND
    );
    let rows = c.get(&amy, "/incidents/rows").await;
    assert!(rows.body.contains("Acme outage") && !rows.body.contains("Globex"));
    let admin = c.get(&amy, "/admin").await;
    assert!(
        admin.body.contains("amy") && !admin.body.contains(">mo "),
        "only acme's users"
    );

    let mo = c.login("mo").await;
    let home = c.get(&mo, "/incidents/rows").await;
    assert!(
        !home.body.contains("Acme outage"),
        "mo starts in his home tenant"
    );
    let page = c.get(&mo, "/wallboard").await;
    assert!(
        page.body.contains("<option value=\"acme\""),
        "the switcher lists acme"
    );
    let switch = c
        .post(&mo, "/tenant", &format!("_csrf={}&tenant=acme", mo.csrf))
        .await;
    assert_eq!(switch.status, StatusCode::SEE_OTHER);
    let tenant_cookie = switch
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wf_tenant="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let in_acme = Session {
        cookie: format!("{}; {tenant_cookie}", mo.cookie),
        csrf: mo.csrf.clone(),
    };
    let rows = c.get(&in_acme, "/incidents/rows").await;
    assert!(rows.body.contains("Acme outage"));
    assert_eq!(
        c.get(&in_acme, &format!("/incidents/{own}")).await.status,
        StatusCode::OK
    );
    let refused = c
        .post(&mo, "/tenant", &format!("_csrf={}&tenant=globex", mo.csrf))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // A forged tenant cookie falls back to the home tenant.
    let forged = Session {
        cookie: format!("{}; wf_tenant=globex", mo.cookie),
        csrf: mo.csrf.clone(),
    };
    let rows = c.get(&forged, "/incidents/rows?status=all").await;
    assert!(!rows.body.contains("Globex"));
}

#[tokio::test]
async fn checks_are_created_paused_and_deleted_from_the_console() {
    let c = console().await;
    c.user("nora", "noc_engineer", "default", &[]);
    let s = c.login("nora").await;
    let form = format!(
        "_csrf={}&name=ssh&kind=tcp&target=127.0.0.1:1&interval_secs=60",
        s.csrf
    );
    let a = c.post(&s, "/checks", &form).await;
    assert_eq!(
        (a.status, a.headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/checks/ssh")
    );
    assert!(c.get(&s, "/checks").await.body.contains("127.0.0.1:1"));
    assert_eq!(c.get(&s, "/checks/ssh").await.status, StatusCode::OK);
    let bad = c
        .post(
            &s,
            "/checks",
            &format!("_csrf={}&name=x&kind=tcp&target=nowhere", s.csrf),
        )
        .await;
    assert!(
        bad.body.contains("host:port"),
        "a bad form is answered on the page"
    );
    c.post(
        &s,
        "/checks/ssh/pause",
        &format!("_csrf={}&paused=true", s.csrf),
    )
    .await;
    assert!(
        c.app
            .monitoring
            .get("default", "ssh")
            .unwrap()
            .monitor
            .paused
    );
    c.post(&s, "/checks/ssh/delete", &format!("_csrf={}", s.csrf))
        .await;
    assert!(c.app.monitoring.get("default", "ssh").is_none());
    let csv = c.get(&s, "/availability.csv").await;
    assert!(csv.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(csv.body.starts_with("check,uptime_percent"));
}

#[tokio::test]
async fn admins_create_users_and_the_audit_log_shows_it() {
    let c = console().await;
    c.user("ada", "admin", "default", &[]);
    let s = c.login("ada").await;
    let form = format!(
        "_csrf={}&username=lea&password=correct+horse+battery&role=viewer",
        s.csrf
    );
    let a = c.post(&s, "/admin/users", &form).await;
    assert!(a.body.contains("User lea created"), "{}", a.body);
    let short = format!("_csrf={}&username=leo&password=short&role=viewer", s.csrf);
    assert!(c
        .post(&s, "/admin/users", &short)
        .await
        .body
        .contains("at least 12"));
    let page = c.get(&s, "/admin").await;
    assert!(
        page.body.contains("POST /admin/users"),
        "the audit log records console writes"
    );
    c.login("lea").await;
}

#[tokio::test]
async fn assets_are_embedded_compressed_and_cached() {
    let c = console().await;
    let a = c
        .send(
            Request::get("/assets/htmx.min.js")
                .header(header::ACCEPT_ENCODING, "gzip, br")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CONTENT_ENCODING], "gzip");
    assert!(a.headers[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = a.headers[header::ETAG].clone();
    let again = c
        .send(
            Request::get("/assets/htmx.min.js")
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let missing = c
        .send(
            Request::get("/assets/../state.db")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_ne!(missing.status, StatusCode::OK);
}

#[tokio::test]
async fn the_incident_form_posts_only_what_changed() {
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    let s = c.login("sam").await;
    let new: NewIncident =
        serde_json::from_value(serde_json::json!({"title": "Phish", "type": "phishing"})).unwrap();
    let id = c
        .app
        .incidents
        .open("default", "user:test", new)
        .unwrap()
        .id;
    let i = c.default_incident(id);
    let phase = i.phase.map(|p| p.as_str()).unwrap_or("");
    let form = format!(
        "_csrf={}&version={}&status=acknowledged&phase={phase}&impact={}&urgency={}&assignee=",
        s.csrf,
        i.version,
        i.impact.as_str(),
        i.urgency.as_str()
    );
    let a = c.post(&s, &format!("/incidents/{id}/update"), &form).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(c.default_incident(id).status.as_str(), "acknowledged");
}

/// A stored event of `tenant` with a message, at `time_ns`.
fn event(id: u64, tenant: &str, time_ns: i64, message: &str) -> watchfloor_search::EventDoc {
    let mut fields = serde_json::Map::new();
    fields.insert("message".into(), message.into());
    watchfloor_search::EventDoc {
        id,
        time_ns,
        received_ns: time_ns,
        tenant: tenant.into(),
        source: "syslog-tcp".into(),
        host: Some("bastion1".into()),
        truncated: false,
        fields,
    }
}

/// An SSH brute-force alert of `tenant` raised by `events`.
fn alert(key: &str, tenant: &str, time_ns: i64, events: &[u64]) -> watchfloor_model::Alert {
    serde_json::from_value(serde_json::json!({
        "key": key, "tenant": tenant, "domain": "security", "rule_id": "ssh-brute",
        "rule_title": "SSH brute force", "rule_kind": "detection", "level": "high",
        "tags": ["attack.t1110"], "time_ns": time_ns, "created_ns": time_ns, "host": "bastion1",
        "user": null, "ips": ["203.0.113.9"], "event_ids": events, "fields": {}, "value": null
    }))
    .expect("alert")
}

impl Console {
    /// Stores events and alerts as the pipeline would, and files the alerts
    /// into incidents; returns the stored alerts' ids.
    fn raise(
        &self,
        events: &[watchfloor_search::EventDoc],
        alerts: &[watchfloor_model::Alert],
    ) -> Vec<i64> {
        self.app.events.append(events).expect("append");
        let upto = events.iter().map(|e| e.id).max().unwrap_or(0);
        self.app.events.commit(upto).expect("commit");
        let stored = self.app.state.insert_alerts(alerts).expect("alerts");
        self.app.incidents.file_alerts().expect("file");
        stored.iter().map(|a| a.id).collect()
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

#[tokio::test]
async fn an_alert_shows_the_events_that_raised_it_and_no_other_tenants() {
    let c = console().await;
    c.user("lena", "soc_analyst", "default", &[]);
    let s = c.login("lena").await;
    let t = now_ns() - 60_000_000_000;
    let events = [
        event(1, "default", t, "Failed password for root from 203.0.113.9"),
        event(
            2,
            "default",
            t + 1_000,
            "Failed password for admin from 203.0.113.9",
        ),
        event(3, "acme", t + 2_000, "acme private line"),
    ];
    let ids = c.raise(
        &events,
        &[
            alert("a", "default", t + 2_000, &[1, 2]),
            alert("b", "acme", t + 2_000, &[3]),
        ],
    );
    let list = c.get(&s, "/alerts").await;
    assert!(
        list.body.contains(&format!("href=\"/alerts/{}\"", ids[0])),
        "{}",
        list.body
    );
    assert!(
        !list.body.contains("acme"),
        "another tenant's alert is not listed"
    );

    let page = c.get(&s, &format!("/alerts/{}", ids[0])).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Failed password for root")
            && page.body.contains("Failed password for admin")
    );
    assert!(
        page.body.contains("href=\"/events/1"),
        "evidence links to its event"
    );
    assert_eq!(
        c.get(&s, &format!("/alerts/{}", ids[1])).await.status,
        StatusCode::NOT_FOUND
    );

    let e = c.get(&s, &format!("/events/1?at={t}")).await;
    assert_eq!(e.status, StatusCode::OK, "{}", e.body);
    assert!(e.body.contains("Failed password for root") && e.body.contains("bastion1"));
    assert_eq!(
        c.get(&s, "/events/1").await.status,
        StatusCode::OK,
        "found without a time too"
    );
    let other = c.get(&s, "/events/3").await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains("acme private line"));
}

#[tokio::test]
async fn observables_merge_and_split_from_the_incident_page() {
    let c = console().await;
    c.user("lena", "soc_analyst", "default", &[]);
    let s = c.login("lena").await;
    let t = now_ns() - 60_000_000_000;
    // The same attacker on a second host: a new alert of the same incident.
    let mut second = alert("b", "default", t + 1, &[2]);
    second.host = Some("bastion2".into());
    let ids = c.raise(
        &[event(1, "default", t, "one"), event(2, "default", t, "two")],
        &[alert("a", "default", t, &[1]), second],
    );
    let incident = c
        .app
        .state
        .list_alerts(&watchfloor_state::AlertFilter {
            tenant: "default".into(),
            limit: 10,
            ..Default::default()
        })
        .unwrap()
        .iter()
        .find_map(|a| a.incident_id)
        .expect("filed");
    assert_eq!(c.default_incident(incident).alerts.len(), 2);

    let observable = format!(
        "_csrf={}&kind=domain&value=c2.example.net&tlp=amber&pap=green",
        s.csrf
    );
    let a = c
        .post(
            &s,
            &format!("/incidents/{incident}/observables"),
            &observable,
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    // Classified again from its row: TLP:RED, PAP:CLEAR, an IOC.
    let added = c.default_incident(incident).observables;
    let oid = added
        .iter()
        .find(|o| o.value == "c2.example.net")
        .unwrap()
        .id;
    let classify = format!("_csrf={}&tlp=red&pap=clear&ioc=true", s.csrf);
    let a = c
        .post(
            &s,
            &format!("/incidents/{incident}/observables/{oid}"),
            &classify,
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let o = c
        .default_incident(incident)
        .observables
        .into_iter()
        .find(|o| o.id == oid)
        .unwrap();
    assert_eq!(
        (
            serde_json::to_value(o.tlp).unwrap(),
            serde_json::to_value(o.pap).unwrap(),
            o.ioc
        ),
        (serde_json::json!("red"), serde_json::json!("clear"), true)
    );
    let page = c.get(&s, &format!("/incidents/{incident}")).await;
    assert!(
        page.body.contains("c2.example.net")
            && page.body.contains("<option selected>red</option>")
            && page.body.contains("aria-label=\"Classify c2.example.net\""),
        "the row's form shows its classification: {}",
        page.body
    );
    let bad = format!("_csrf={}&kind=ip&value=x&tlp=purple&pap=green", s.csrf);
    let refused = c
        .post(&s, &format!("/incidents/{incident}/observables"), &bad)
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("purple"),
        "the error names the bad value: {}",
        refused.body
    );

    let split = format!(
        "_csrf={}&alerts={}&reason=different+attacker",
        s.csrf, ids[1]
    );
    let a = c
        .post(&s, &format!("/incidents/{incident}/split"), &split)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let split_off = a.headers[header::LOCATION].to_str().unwrap().to_string();
    let new_id: i64 = split_off
        .trim_start_matches("/incidents/")
        .parse()
        .expect(&split_off);
    assert_ne!(new_id, incident);
    assert_eq!(c.default_incident(incident).alerts.len(), 1);
    assert_eq!(c.default_incident(new_id).alerts[0].alert_id, ids[1]);
    let not_its = format!("_csrf={}&alerts={}&reason=again", s.csrf, ids[1]);
    assert_eq!(
        c.post(&s, &format!("/incidents/{incident}/split"), &not_its)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    let merge = format!("_csrf={}&into={incident}&reason=same+campaign", s.csrf);
    let a = c
        .post(&s, &format!("/incidents/{new_id}/merge"), &merge)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(c.default_incident(new_id).merged_into, Some(incident));
    assert_eq!(c.default_incident(incident).alerts.len(), 2);
    let page = c.get(&s, &format!("/incidents/{incident}")).await;
    assert!(
        page.body.contains("same campaign"),
        "the reason is on the timeline"
    );
}

#[tokio::test]
async fn report_drafts_download_as_markdown_for_flagged_regimes_only() {
    let c = console().await;
    c.user("ian", "incident_manager", "default", &[]);
    c.user("amy", "admin", "acme", &[]);
    let s = c.login("ian").await;
    let id = c.incident("default", "Ransomware on file server");
    c.app
        .incidents
        .flag(
            "default",
            id,
            "user:test",
            &[watchfloor_model::incident::Regime::Nis2],
            None,
            None,
        )
        .unwrap();
    let a = c
        .get(&s, &format!("/incidents/{id}/reports/nis2/early_warning"))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/markdown"));
    assert_eq!(
        a.headers[header::CONTENT_DISPOSITION],
        format!("attachment; filename=\"incident-{id}-nis2-early_warning.md\"")
    );
    assert!(
        a.body.contains("Ransomware on file server") && a.body.starts_with('#'),
        "{}",
        a.body
    );
    let page = c.get(&s, &format!("/incidents/{id}")).await;
    assert!(page
        .body
        .contains(&format!("/incidents/{id}/reports/nis2/early_warning")));
    assert_eq!(
        c.get(
            &s,
            &format!("/incidents/{id}/reports/dora/initial_notification")
        )
        .await
        .status,
        StatusCode::CONFLICT,
        "not flagged DORA"
    );
    assert_eq!(
        c.get(&s, &format!("/incidents/{id}/reports/nis2/no_such"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(&s, &format!("/incidents/{id}/reports/hipaa/notification"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let amy = c.login("amy").await;
    assert_eq!(
        c.get(&amy, &format!("/incidents/{id}/reports/nis2/early_warning"))
            .await
            .status,
        StatusCode::NOT_FOUND,
        "another tenant's report"
    );
}

#[tokio::test]
async fn logout_needs_the_csrf_token_and_ends_the_session() {
    let c = console().await;
    c.user("lena", "soc_analyst", "default", &[]);
    let s = c.login("lena").await;
    let forged = c.post(&s, "/logout", "").await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "a cross-site logout is refused"
    );
    assert_eq!(c.get(&s, "/incidents").await.status, StatusCode::OK);
    let out = c.post(&s, "/logout", &format!("_csrf={}", s.csrf)).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.headers[header::LOCATION], "/login");
    let cleared = out.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("wf_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let after = c.get(&s, "/incidents").await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "the old cookie no longer signs in"
    );
    assert!(after.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[tokio::test]
async fn the_live_stream_tells_the_page_when_the_tenants_floor_changes() {
    let c = console().await;
    c.user("lena", "soc_analyst", "default", &[]);
    let s = c.login("lena").await;
    let response = c
        .router
        .clone()
        .oneshot(
            Request::get("/live")
                .header(header::COOKIE, &s.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut body = response.into_body().into_data_stream();
    // Another tenant's incident is not a change for this one; ours is.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.incident("acme", "Not yours");
    // The first event is the periodic tick: the other tenant's incident
    // changed nothing here.
    let first = next_event(&mut body).await;
    assert!(first.contains("event: tick"), "{first}");
    c.incident("default", "Core switch down");
    let e = next_event(&mut body).await;
    assert!(e.contains("event: changed"), "{e}");
}

/// The next chunk of a server-sent event stream, as text.
async fn next_event(body: &mut axum::body::BodyDataStream) -> String {
    use futures_util::StreamExt;
    let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), body.next())
        .await
        .expect("an event within 30 s")
        .expect("the stream is open")
        .expect("a chunk");
    String::from_utf8_lossy(&chunk).into_owned()
}

/// `text` as a form value.
fn form_value(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn intel_is_imported_explained_listed_and_exported_from_the_console() {
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    c.user("vic", "viewer", "default", &[]);
    c.user("gus", "soc_analyst", "globex", &[]);
    let s = c.login("sam").await;
    let list = "45.137.21.0/24\nlogin-portal.example\nnot a value\n";
    let form = format!(
        "_csrf={}&text={}&format=auto&source=abuse-feed&tlp=green&labels=phishing&confidence=80",
        s.csrf,
        form_value(list)
    );
    let a = c.post(&s, "/intel/import", &form).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(
        a.body.contains("2 added, 0 merged, 1 refused") && a.body.contains("Retro-hunt #1 queued"),
        "{}",
        a.body
    );
    let page = c.get(&s, "/intel?kind=domain").await;
    assert!(page.body.contains("login-portal.example") && !page.body.contains("45.137.21.0/24"));
    assert!(page.body.contains("abuse-feed"), "the source is listed");
    let hit = c.get(&s, "/intel?value=45.137.21.200").await;
    assert!(
        hit.body.contains("HIT") && hit.body.contains("45.137.21.0/24 from abuse-feed"),
        "{}",
        hit.body
    );
    let export = c.get(&s, "/intel/export?format=nftables").await;
    assert_eq!(export.status, StatusCode::OK);
    assert!(export.body.contains("45.137.21.0/24"), "{}", export.body);

    // A viewer sees the indicators but no import form, and cannot post one.
    let v = c.login("vic").await;
    let seen = c.get(&v, "/intel").await;
    assert!(
        seen.body.contains("login-portal.example")
            && !seen.body.contains("action=\"/intel/import\"")
    );
    let refused = c
        .post(
            &v,
            "/intel/import",
            &format!("_csrf={}&text=evil.example", v.csrf),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // Another tenant sees none of it, and may not write the shared feeds.
    let g = c.login("gus").await;
    assert!(!c
        .get(&g, "/intel")
        .await
        .body
        .contains("login-portal.example"));
    let shared = c
        .post(
            &g,
            "/intel/import",
            &format!("_csrf={}&text=evil.example&scope=shared", g.csrf),
        )
        .await;
    assert_eq!(shared.status, StatusCode::FORBIDDEN, "{}", shared.body);
}

#[tokio::test]
async fn the_incident_page_recommends_mitigations_and_rules_show_their_coverage() {
    let c = console().await;
    c.user("ada", "admin", "default", &[]);
    let s = c.login("ada").await;
    let id = c.incident("default", "Phishing wave");
    let i = c.default_incident(id);
    let patch: watchfloor_incident::IncidentPatch = serde_json::from_value(serde_json::json!({
        "version": i.version, "attack": ["attack.t1566", "attack.t1059.001"]
    }))
    .unwrap();
    c.app
        .incidents
        .update("default", id, "user:test", patch)
        .unwrap();
    let page = c.get(&s, &format!("/incidents/{id}")).await;
    assert!(
        page.body.contains("PowerShell") && page.body.contains("Initial Access"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("id=\"mitigations\"") && page.body.contains("Antivirus/Antimalware")
    );
    assert!(page.body.contains("The MITRE Corporation"));
    // The post-incident review: lessons, a control for a recommended
    // mitigation, then done.
    let version = c.default_incident(id).version;
    let lessons = format!(
        "_csrf={}&version={version}&action=lessons&lessons_learned=The+lure+passed+the+filter",
        s.csrf
    );
    assert_eq!(
        c.post(&s, &format!("/incidents/{id}/review"), &lessons)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let version = c.default_incident(id).version;
    let add = format!(
        "_csrf={}&version={version}&action=add&control=Block+macros&mitigation=M1042&owner=it&due=2026-12-20",
        s.csrf
    );
    assert_eq!(
        c.post(&s, &format!("/incidents/{id}/review"), &add)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let version = c.default_incident(id).version;
    let done = format!("_csrf={}&version={version}&action=done&index=0", s.csrf);
    c.post(&s, &format!("/incidents/{id}/review"), &done).await;
    let review = c.default_incident(id).review;
    assert_eq!(review.lessons_learned, "The lure passed the filter");
    assert!(review.controls[0].done && review.controls[0].mitigation.as_deref() == Some("M1042"));
    let bad = format!(
        "_csrf={}&version={}&action=add&control=x&due=soon",
        s.csrf,
        c.default_incident(id).version
    );
    assert_eq!(
        c.post(&s, &format!("/incidents/{id}/review"), &bad)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let page = c.get(&s, &format!("/incidents/{id}")).await;
    assert!(page.body.contains("Block macros") && page.body.contains("The lure passed the filter"));

    let rules = c.get(&s, "/rules").await;
    assert!(rules.body.contains("ATT&amp;CK coverage") && rules.body.contains("Credential Access"));
    let layer = c.get(&s, "/rules/navigator-layer.json").await;
    assert_eq!(layer.status, StatusCode::OK);
    let layer: serde_json::Value = serde_json::from_str(&layer.body).unwrap();
    assert_eq!(layer["domain"], "enterprise-attack");
}

#[tokio::test]
async fn the_metric_explorer_charts_the_tenants_series_and_names_query_errors() {
    use watchfloor_tsdb::{Labels, SeriesSamples};
    let c = console().await;
    c.user("nina", "noc_engineer", "default", &[]);
    c.user("gil", "noc_engineer", "globex", &[]);
    let now = now_ns() / 1_000_000;
    let series = |name: &str, pairs: &[(&str, &str)], v: f64| {
        let mut all = vec![("__name__", name)];
        all.extend_from_slice(pairs);
        SeriesSamples {
            labels: Labels::from_pairs(all),
            samples: (0..20)
                .map(|i| (now - (19 - i) * 30_000, v + i as f64))
                .collect(),
        }
    };
    c.app
        .metrics
        .append(
            "default",
            &[
                series(
                    "ifHCInOctets",
                    &[("instance", "core-sw1"), ("ifName", "xe-0/0/1")],
                    1000.0,
                ),
                series(
                    "flow_top_bytes",
                    &[("dimension", "src"), ("key", "198.51.100.7")],
                    5e6,
                ),
                series(
                    "flow_top_packets",
                    &[("dimension", "src"), ("key", "198.51.100.7")],
                    4000.0,
                ),
            ],
        )
        .expect("append");
    let s = c.login("nina").await;
    let page = c
        .get(&s, "/telemetry?q=rate(ifHCInOctets%5B5m%5D)&range=15m")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-testid=\"metric-chart\"") && page.body.contains("xe-0/0/1"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("198.51.100.7") && page.body.contains("Sources"),
        "top talkers shown"
    );
    let bad = c.get(&s, "/telemetry?q=sum(").await;
    assert!(
        bad.body.contains("data-testid=\"query-error\"") && bad.body.contains("parse error"),
        "{}",
        bad.body
    );
    // Another tenant sees none of it.
    let g = c.login("gil").await;
    let other = c.get(&g, "/telemetry?q=ifHCInOctets").await;
    assert!(
        !other.body.contains("xe-0/0/1") && !other.body.contains("198.51.100.7"),
        "tenant data crossed"
    );
}

#[tokio::test]
async fn a_ddos_incident_shows_the_victims_traffic_and_the_attackers() {
    use std::net::IpAddr;
    use watchfloor_telemetry::flows::ddos::Attack;
    use watchfloor_tsdb::{Labels, SeriesSamples};
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    let now = now_ns() / 1_000_000;
    let victim: IpAddr = "192.0.2.80".parse().expect("ip");
    let traffic = SeriesSamples {
        labels: Labels::from_pairs([
            ("__name__", "flow_destination_bits_per_second"),
            ("dst", "192.0.2.80"),
        ]),
        samples: (0..10)
            .map(|i| (now - (9 - i) * 60_000, 1e8 * (i + 1) as f64))
            .collect(),
    };
    c.app.metrics.append("default", &[traffic]).expect("append");
    let attack = Attack {
        victim,
        pps: 45_000.0,
        bps: 2.1e9,
        sources: 312,
        signature: "312 sources, mostly udp".into(),
        top_sources: vec![
            ("203.0.113.9".parse().expect("ip"), 9000),
            ("203.0.113.10".parse().expect("ip"), 8000),
        ],
        protocols: vec![("udp".into(), 123_456_789)],
    };
    c.app
        .state
        .insert_alerts(&[attack.alert("default", now)])
        .expect("alert");
    c.app.incidents.file_alerts().expect("file");
    let s = c.login("sam").await;
    let list = c.get(&s, "/incidents").await;
    assert!(list.body.contains("DDoS on 192.0.2.80"), "{}", list.body);
    let filter = watchfloor_state::IncidentFilter {
        tenant: "default".into(),
        limit: 10,
        ..Default::default()
    };
    let id = c.app.incidents.list(&filter).expect("list")[0].id;
    let page = c.get(&s, &format!("/incidents/{id}")).await;
    assert!(
        page.body.contains("data-testid=\"flow-view\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("203.0.113.9") && page.body.contains("45000 packets/s"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("class=\"chart\" data-series"),
        "the victim's traffic is charted"
    );
}

#[tokio::test]
async fn an_approval_is_answered_from_the_inbox_and_the_run_page_shows_its_steps() {
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    c.user("vic", "viewer", "default", &[]);
    let id = c.incident("default", "Uplink flapping");
    // A run of the shipped DDoS playbook started by hand on the incident.
    let start = watchfloor_respond::StartRun {
        tenant: "default".into(),
        playbook: "ddos-block".into(),
        incident_id: Some(id),
        trigger: "manual".into(),
        started_by: "someone".into(),
        context: serde_json::json!({"alert": {"host": "10.0.0.80", "fields": {"attackers": ["198.51.100.7"]}}}),
        params: serde_json::Map::new(),
        dedup_key: None,
    };
    let (run, _) = c.app.responder.start(start).expect("start");
    let mut inbox = String::new();
    for _ in 0..100 {
        let s = c.login("vic").await;
        inbox = c.get(&s, "/approvals").await.body;
        if inbox.contains("data-testid=\"approval\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        inbox.contains("nftables: add 198.51.100.7 to inet watchfloor blocked for 30m"),
        "the exact action is shown: {inbox}"
    );
    assert!(
        !inbox.contains("data-testid=\"approve\""),
        "a viewer gets no buttons"
    );
    assert!(inbox.contains("You cannot answer"));

    let s = c.login("sam").await;
    let page = c.get(&s, "/approvals").await;
    assert!(
        page.body.contains("data-testid=\"approve\""),
        "{}",
        page.body
    );
    let forged = c
        .post(
            &s,
            &format!("/runs/{run}/answer"),
            "decision=deny&_csrf=wrong",
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let a = c
        .post(
            &s,
            &format!("/runs/{run}/answer"),
            &format!(
                "decision=deny&comment=not+an+attack&back=run&_csrf={}",
                s.csrf
            ),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.headers[header::LOCATION], format!("/runs/{run}"));
    let mut page = String::new();
    for _ in 0..100 {
        page = c.get(&s, &format!("/runs/{run}")).await.body;
        if page.contains("data-testid=\"run-status\">succeeded") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        page.contains("data-testid=\"run-status\">succeeded"),
        "{page}"
    );
    assert!(
        page.contains(">denied<"),
        "the approval step shows the denial: {page}"
    );
    assert!(page.contains("tell-denied"), "{page}");
    assert!(
        !page.contains("Cancel and undo"),
        "a finished run cannot be stopped"
    );
    let runs = c.get(&s, "/runs?status=succeeded").await.body;
    assert!(runs.contains(&format!("/runs/{run}")), "{runs}");
}

#[tokio::test]
async fn a_playbook_is_dry_run_and_started_from_its_page() {
    let c = console().await;
    c.user("nora", "noc_engineer", "default", &[]);
    c.user("vic", "viewer", "default", &[]);
    let id = c.incident("default", "DDoS on the web tier");
    let s = c.login("vic").await;
    let page = c.get(&s, "/playbooks/ddos-block").await.body;
    assert!(
        page.contains("nftables.add") && !page.contains("data-testid=\"start-run\""),
        "{page}"
    );
    let dry = c
        .get(
            &s,
            &format!(
                "/playbooks/ddos-block?incident={id}&params=netns%3Dedge%0Ablock_for%3D5m&dry=1"
            ),
        )
        .await
        .body;
    assert!(dry.contains("data-testid=\"dry-steps\""), "{dry}");
    assert!(dry.contains("wait 5m"), "params reach the dry run: {dry}");
    let bad = c
        .get(&s, "/playbooks/ddos-block?incident=x&dry=1")
        .await
        .body;
    assert!(bad.contains("a number"), "{bad}");
    assert_eq!(
        c.get(&s, "/playbooks/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let s = c.login("nora").await;
    let a = c
        .post(
            &s,
            "/playbooks/ddos-block",
            &format!("incident={id}&params=block_for%3D1m&_csrf={}", s.csrf),
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let location = a.headers[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("/runs/"), "{location}");
    // This incident has no DDoS alert: the playbook cannot name what to
    // block, and the run page says so.
    let mut page = String::new();
    for _ in 0..100 {
        page = c.get(&s, &location).await.body;
        if page.contains("data-testid=\"run-status\">failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(page.contains(&format!("/incidents/{id}")), "{page}");
    assert!(page.contains("data-testid=\"run-error\""), "{page}");
    assert!(
        page.contains("undefined"),
        "the error names what was missing: {page}"
    );
    let cancel = c
        .post(
            &s,
            &format!("{location}/cancel"),
            &format!("compensate=true&_csrf={}", s.csrf),
        )
        .await;
    assert_eq!(
        cancel.status,
        StatusCode::CONFLICT,
        "a finished run: {}",
        cancel.body
    );
}

#[tokio::test]
async fn a_phishing_message_is_reported_from_the_console() {
    let c = console().await;
    c.user("sam", "soc_analyst", "default", &[]);
    c.user("vic", "viewer", "default", &[]);
    let s = c.login("sam").await;
    let page = c.get(&s, "/phishing").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    let eml = "From: it@corp-example.help\r\nTo: sam@corp.example\r\nSubject: Password expiry\r\nMessage-ID: <console-1@corp-example.help>\r\n\r\nRenew at https://login.corp-example.help/renew\r\n";
    let upload = |csrf: &str| {
        let boundary = "XyZ";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"message\"; filename=\"report.eml\"\r\nContent-Type: message/rfc822\r\n\r\n{eml}\r\n--{boundary}--\r\n"
        );
        Request::post("/phishing")
            .header(header::COOKIE, &s.cookie)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .expect("request")
    };
    let forged = c.send(upload("wrong")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let a = c.send(upload(&s.csrf)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("data-testid=\"reported\""), "{}", a.body);
    assert!(a.body.contains("login.corp-example.help"), "{}", a.body);
    let again = c.send(upload(&s.csrf)).await;
    assert!(again.body.contains("reported already"), "{}", again.body);
    let v = c.login("vic").await;
    assert_eq!(c.get(&v, "/phishing").await.status, StatusCode::FORBIDDEN);
}
