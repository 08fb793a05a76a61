//! Intel feeds against real peers from PyPI: `watchfloor serve` pulls a
//! TAXII 2.1 collection from medallion (the OASIS TAXII server) page by
//! page, and a MISP feed written by PyMISP served over HTTP; re-pulls add
//! only what is new (nothing twice), positions survive `kill -9`; and
//! `taxii2-client` pulls Watchfloor's own TAXII server, paged.
//!
//! Needs the test Python with medallion, taxii2-client and pymisp
//! (`WATCHFLOOR_TEST_PYTHON`, set by `tools/test`).

mod server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use server::{free_port, wait_for, Server};

fn python() -> PathBuf {
    std::env::var_os("WATCHFLOOR_TEST_PYTHON")
        .map(PathBuf::from)
        .expect("WATCHFLOOR_TEST_PYTHON must name the Python with medallion, taxii2-client and pymisp (tools/test sets it)")
}

/// Runs the peers' helper script; its standard output.
fn peers(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/intel_peers.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "intel_peers.py {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &Path, args: &[&str]) -> Peer {
    Peer(
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display())),
    )
}

fn wait_for_port(port: u16) {
    wait_for("the peer to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

fn feed(s: &Server, name: &str) -> Value {
    let (status, body) = s.get("/api/v1/intel/feeds");
    assert_eq!(status, 200, "{body}");
    body["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no feed {name}: {body}"))
}

/// Waits for a feed's pull that finished after `after` (its last success
/// time), failing on a failed pull.
fn pulled(s: &Server, name: &str, after: &Value) -> Value {
    wait_for(&format!("feed {name} pulled"), || {
        let f = feed(s, name);
        assert_ne!(f["state"], "failed", "{f}");
        (f["state"] == "ok" && f["last_success"] != *after).then_some(f)
    })
}

fn domains(s: &Server) -> u64 {
    let (_, page) = s.get("/api/v1/intel/indicators?kind=domain&limit=1");
    page["total"].as_u64().unwrap_or(0)
}

#[test]
fn taxii_and_misp_feeds_are_pulled_paged_resumed_and_served_to_taxii2_client() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let bin = python().with_file_name("medallion");

    // medallion with 25 indicators added in three batches (three dates).
    let taxii_port = free_port();
    peers(&["medallion-config", d, &taxii_port.to_string()]);
    let _medallion = spawn(
        &bin,
        &[
            "--host",
            "127.0.0.1",
            "--port",
            &taxii_port.to_string(),
            &format!("{d}/medallion.json"),
        ],
    );
    wait_for_port(taxii_port);
    let api_root = format!("http://127.0.0.1:{taxii_port}/api1/");
    for (first, n) in [("0", "10"), ("10", "10"), ("20", "5")] {
        peers(&[
            "add-objects",
            &api_root,
            "feeder",
            "feeder-password",
            first,
            n,
        ]);
    }
    // A MISP feed of one event, served over HTTP.
    let misp_dir = dir.path().join("misp");
    std::fs::create_dir(&misp_dir).unwrap();
    peers(&["misp-event", misp_dir.to_str().unwrap(), "0", "3"]);
    let misp_port = free_port();
    let _http = spawn(
        &python(),
        &[
            "-m",
            "http.server",
            &misp_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
            misp_dir.to_str().unwrap(),
        ],
    );
    wait_for_port(misp_port);

    std::fs::write(dir.path().join("taxii-password"), "feeder-password\n").unwrap();
    let feeds = format!(
        "[[intel.feeds]]\nname = \"phishing-taxii\"\ntype = \"taxii\"\nurl = \"http://127.0.0.1:{taxii_port}/taxii2/\"\n\
         collection = \"Phishing feed\"\nusername = \"feeder\"\npassword_file = \"{d}/taxii-password\"\n\
         tenant = \"default\"\npage_size = 10\nlabels = [\"phishing\"]\n\
         [[intel.feeds]]\nname = \"misp-lures\"\ntype = \"misp\"\nurl = \"http://127.0.0.1:{misp_port}/\"\n"
    );
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let mut s = Server::start(&data, &feeds, &[]);

    let taxii = pulled(&s, "phishing-taxii", &Value::Null);
    assert_eq!(taxii["added"], 25, "{taxii}");
    assert!(
        taxii["pulled"]["requests"].as_u64() >= Some(3),
        "paged by 10: {taxii}"
    );
    let misp = pulled(&s, "misp-lures", &Value::Null);
    assert_eq!(
        (misp["added"].as_u64(), misp["scope"].as_str()),
        (Some(3), Some("shared")),
        "{misp}"
    );
    assert_eq!(domains(&s), 28);
    let out = s.cli(&["intel", "feeds"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("phishing-taxii") && said.contains("misp-lures") && said.contains(" ok "),
        "{said}"
    );

    // New objects and a new event: a re-pull takes only those.
    peers(&[
        "add-objects",
        &api_root,
        "feeder",
        "feeder-password",
        "25",
        "5",
    ]);
    peers(&["misp-event", misp_dir.to_str().unwrap(), "100", "2"]);
    for (name, last) in [
        ("phishing-taxii", &taxii["last_success"]),
        ("misp-lures", &misp["last_success"]),
    ] {
        let path = format!("/api/v1/intel/feeds/{name}/pull");
        let (status, body) = s.call(reqwest::Method::POST, &path, &s.token, None);
        assert_eq!(status, 202, "{body}");
        let again = pulled(&s, name, last);
        let want = if name == "misp-lures" { 2 } else { 5 };
        assert_eq!(again["added"], want, "{again}");
        if name == "misp-lures" {
            assert_eq!(
                again["pulled"]["requests"], 1,
                "only the new event is fetched: {again}"
            );
        }
    }
    assert_eq!(domains(&s), 35, "nothing twice");

    // taxii2-client pulls our collections, seven objects a request.
    let token = s.token.clone();
    let ours: Value = serde_json::from_str(&peers(&[
        "pull-ours",
        &format!("{}/taxii2/", s.http),
        &token,
        "7",
    ]))
    .unwrap();
    let count = |title: &str| ours[title].as_array().map_or(0, Vec::len);
    assert_eq!(count("default indicators"), 30, "{ours}");
    assert_eq!(count("Shared feeds"), 5, "{ours}");

    // After kill -9 the positions hold: nothing is added again.
    s.kill9();
    let s = Server::start_with(&data, &s.config.clone(), &[]);
    let taxii = pulled(&s, "phishing-taxii", &Value::Null);
    assert_eq!(taxii["added"], 0, "{taxii}");
    let misp = pulled(&s, "misp-lures", &Value::Null);
    assert_eq!(
        (misp["added"].as_u64(), misp["pulled"]["requests"].as_u64()),
        (Some(0), Some(0)),
        "{misp}"
    );
    assert_eq!(domains(&s), 35);
}
