//! A real `watchfloor serve` process for integration tests: free ports,
//! its own data directory, waiting for readiness, HTTP helpers, kill -9.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_watchfloor");

/// A port free for both TCP and UDP on 127.0.0.1.
pub fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub struct Server {
    pub child: Option<Child>,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub http: String,
    pub syslog: SocketAddr,
    pub token: String,
    pub log: PathBuf,
    client: reqwest::blocking::Client,
}

/// Config for a test server; `extra` is appended (more tables).
pub fn write_config(
    dir: &Path,
    http_port: u16,
    syslog_port: u16,
    top: &str,
    extra: &str,
) -> PathBuf {
    let config = dir.join("watchfloor.toml");
    let text = format!(
        "data_dir = \"{data}\"\nlog_level = \"info\"\n{top}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n[syslog]\nudp = \"127.0.0.1:{syslog_port}\"\ntcp = \"127.0.0.1:{syslog_port}\"\n{extra}\n",
        data = dir.join("data").display()
    );
    std::fs::write(&config, text).expect("write config");
    config
}

/// A peer process (exporter, collector, agent) killed when the test ends.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    /// A new API token of `role` in the default tenant (named after it).
    pub fn new_token(&self, role: &str) -> String {
        let (status, v) = self.call(
            reqwest::Method::POST,
            "/api/v1/tokens",
            &self.token,
            Some(serde_json::json!({"name": role, "role": role})),
        );
        assert_eq!(status, 201, "{v}");
        v["token"].as_str().expect("token").to_string()
    }

    /// Starts a server in `dir` with the given config file and extra args.
    pub fn start_with(dir: &Path, config: &Path, args: &[&str]) -> Server {
        Server::start_env(dir, config, args, &[])
    }

    /// Like [`Server::start_with`], with extra environment variables.
    pub fn start_env(dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::try_start(dir, config, args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a server; `Err` (with its log) when it exits before it is ready.
    fn try_start(
        dir: &Path,
        config: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Server, String> {
        let text = std::fs::read_to_string(config).expect("config");
        let port_of = |key: &str| -> u16 {
            let line = text.lines().find(|l| l.starts_with(key)).expect(key);
            line.rsplit(':')
                .next()
                .unwrap()
                .trim_end_matches('"')
                .parse()
                .expect("port")
        };
        let http_port = port_of("listen");
        let syslog_port = port_of("tcp");
        let log = dir.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = Command::new(BIN)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn watchfloor serve");
        let mut server = Server {
            child: Some(child),
            dir: dir.to_path_buf(),
            config: config.to_path_buf(),
            http: format!("http://127.0.0.1:{http_port}"),
            syslog: SocketAddr::from(([127, 0, 0, 1], syslog_port)),
            token: String::new(),
            log,
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        };
        server.ready()?;
        server.token = std::fs::read_to_string(dir.join("data/initial-admin-token"))
            .expect("initial admin token")
            .trim()
            .to_string();
        Ok(server)
    }

    /// A fresh server with default settings plus `extra` config.
    pub fn start(dir: &Path, extra: &str, args: &[&str]) -> Server {
        // Free ports are released before the server binds them, and another
        // process may take one in between (any outgoing UDP socket gets a
        // port of that range): a start that finds its port taken is made
        // again on new ports.
        let mut attempts = 1;
        loop {
            let config = write_config(dir, free_port(), free_port(), "", extra);
            match Server::try_start(dir, &config, args, &[]) {
                Ok(server) => return server,
                Err(e) if attempts < 4 && e.contains("Address already in use") => attempts += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    pub fn log_text(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until the server says it is ready; `Err` if it exits first.
    fn ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.log_text().contains("watchfloor: ready") {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!(
                    "server exited with {status} before it was ready:\n{}",
                    self.log_text()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "server not ready in time:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no chance to flush or commit anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and the exit status.
    pub fn stop(&mut self) -> i32 {
        let Some(mut c) = self.child.take() else {
            return -1;
        };
        // SAFETY: the pid is our own child's.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().expect("wait").code().unwrap_or(-1)
    }

    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: the pid is our own child's.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::blocking::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.http));
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// GET with the admin token: (status, JSON body).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::GET, path, Some(&self.token))
            .send()
            .expect("GET");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// A JSON request with `token`: (status, JSON body).
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.request(method, path, Some(token));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().expect("request");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn ingest(&self, body: &str) -> (u16, Value) {
        let r = self
            .request(reqwest::Method::POST, "/api/v1/ingest", Some(&self.token))
            .body(body.to_string())
            .send()
            .expect("POST ingest");
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Events matching `q`, waiting up to 20 s for at least `n`.
    pub fn search(&self, q: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let url = format!("/api/v1/events?limit=10000&q={}", urlencode(q));
            let (status, body) = self.get(&url);
            assert_eq!(status, 200, "search {q:?}: {body}");
            let events = body["events"].as_array().cloned().unwrap_or_default();
            if events.len() >= n || Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (up to 120 s) until everything in the log is committed:
    /// detected, stored and searchable.
    pub fn wait_until_committed(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.metric("watchfloor_pipeline_checkpoint_lsn")
            < self.metric("watchfloor_wal_durable_lsn")
        {
            assert!(Instant::now() < deadline, "the pipeline did not catch up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every event matching `q` (a query already fit for a URL), following
    /// the cursors past the page size.
    pub fn all_events(&self, q: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut url = format!("/api/v1/events?limit=5000&q={q}");
            if !cursor.is_empty() {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&url);
            assert_eq!(status, 200, "{body}");
            out.extend(body["events"].as_array().cloned().unwrap_or_default());
            match body["next"].as_str() {
                Some(n) => cursor = n.to_string(),
                None => return out,
            }
        }
    }

    /// Alerts, waiting up to 20 s for at least `n`.
    pub fn alerts(&self, query: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = self.get(&format!("/api/v1/alerts?limit=10000&{query}"));
            assert_eq!(status, 200, "alerts: {body}");
            let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
            if alerts.len() >= n || Instant::now() > deadline {
                return alerts;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The value of one metric line (name with labels, as exposed).
    pub fn metric(&self, series: &str) -> f64 {
        let r = self
            .request(reqwest::Method::GET, "/metrics", Some(&self.token))
            .send()
            .expect("metrics");
        assert_eq!(r.status().as_u16(), 200);
        let text = r.text().expect("metrics text");
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.strip_prefix(' '))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .arg("--server")
            .arg(&self.http)
            .arg("--token")
            .arg(&self.token)
            .output()
            .expect("run watchfloor")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs `logger` (util-linux) to send one message.
pub fn logger(args: &[&str], message: &str) {
    let out = Command::new("logger")
        .args(args)
        .arg(message)
        .output()
        .expect("logger (util-linux) is needed");
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON lines a successful command printed.
pub fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Polls `f` every 100 ms until it gives a value (at most 30 s).
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
