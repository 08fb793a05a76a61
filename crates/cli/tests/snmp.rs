//! SNMP with real peers: Debian's net-snmp `snmpd` polled over v2c and
//! over v3 (authPriv, SHA-256 and AES), its interfaces checked against
//! `snmpwalk`; `snmptrap` and `snmpinform` (v2c and v3) sending link traps
//! that become events and alerts on the device's incident; and `snmpsim`
//! (PyPI) answering as a device with 20,000 interfaces, polled whole.

mod server;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use server::{free_port, wait_for, Peer, Server};

const AUTH: &str = "authpass12345";
const PRIV: &str = "privpass12345";
const ENGINE: &str = "8000000001020304";

fn snmpd(dir: &Path) -> (Peer, u16) {
    let port = free_port();
    let conf = dir.join("snmpd.conf");
    std::fs::write(
        &conf,
        format!("agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\ncreateUser wfuser SHA-256 \"{AUTH}\" AES \"{PRIV}\"\nrouser wfuser authpriv\n"),
    )
    .expect("snmpd.conf");
    let persist = dir.join("snmp-persist");
    std::fs::create_dir_all(&persist).expect("persist dir");
    let child = Command::new("/usr/sbin/snmpd")
        .args([
            "-f",
            "-Lf",
            &dir.join("snmpd.log").display().to_string(),
            "-C",
            "-c",
            &conf.display().to_string(),
        ])
        .env("SNMP_PERSISTENT_DIR", &persist)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("snmpd (tools/test installs it)");
    let p = Peer(child);
    wait_for("snmpd", || {
        walk(port, "1.3.6.1.2.1.1.5").ok().filter(|w| !w.is_empty())
    });
    (p, port)
}

/// `snmpwalk -On -v2c`: (OID, value) lines.
fn walk(port: u16, oid: &str) -> Result<Vec<String>, String> {
    let out = Command::new("snmpwalk")
        .args([
            "-On",
            "-v2c",
            "-c",
            "public",
            &format!("127.0.0.1:{port}"),
            oid,
        ])
        .output()
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

fn query(server: &Server, token: &str, q: &str) -> Vec<Value> {
    let v: Value = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/query", server.http))
        .bearer_auth(token)
        .query(&[("query", q)])
        .send()
        .expect("query")
        .json()
        .expect("json");
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(result: &[Value]) -> Option<f64> {
    result
        .first()
        .and_then(|r| r["value"][1].as_str())
        .and_then(|v| v.parse().ok())
}

#[test]
fn snmpd_polled_over_v2c_and_v3_and_traps_become_events_and_alerts() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_snmpd, port) = snmpd(tmp.path());
    std::fs::write(tmp.path().join("auth"), AUTH).expect("auth");
    std::fs::write(tmp.path().join("priv"), PRIV).expect("priv");
    let trap_port = free_port();
    let extra = format!(
        "[[telemetry.snmp]]\njob = \"snmp-v2c\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval_secs = 1\n\n\
         [[telemetry.snmp]]\njob = \"snmp-v3\"\ntargets = [\"127.0.0.1:{port}\"]\nversion = \"3\"\nusername = \"wfuser\"\nauth_protocol = \"sha256\"\nauth_password_file = \"auth\"\npriv_protocol = \"aes\"\npriv_password_file = \"priv\"\ninterval_secs = 1\n\n\
         [telemetry.traps]\nlisten = \"127.0.0.1:{trap_port}\"\ncommunities = [\"public\"]\n\n\
         [[telemetry.traps.users]]\nusername = \"wfuser\"\nengine_id = \"{ENGINE}\"\nauth_protocol = \"sha256\"\nauth_password_file = \"auth\"\npriv_protocol = \"aes\"\npriv_password_file = \"priv\"\n"
    );
    let server = Server::start(tmp.path(), &extra, &[]);
    let viewer = server.new_token("viewer");

    // Both versions poll the same interfaces snmpwalk sees.
    let names = walk(port, "1.3.6.1.2.1.31.1.1.1.1").expect("walk");
    for job in ["snmp-v2c", "snmp-v3"] {
        wait_for(job, || {
            (value(&query(&server, &viewer, &format!("up{{job=\"{job}\"}}"))) == Some(1.0))
                .then_some(())
        });
        let count = value(&query(
            &server,
            &viewer,
            &format!("count(ifHCInOctets{{job=\"{job}\"}})"),
        ))
        .unwrap_or(0.0);
        assert_eq!(
            count as usize,
            names.len(),
            "{job}: one series per interface snmpwalk lists"
        );
        let lo = query(
            &server,
            &viewer,
            &format!("ifOperStatus{{job=\"{job}\",ifName=\"lo\"}}"),
        );
        assert_eq!(value(&lo), Some(1.0), "{job}: lo is up");
    }
    // Rates appear from the second poll on (loopback carries our polls).
    wait_for("a computed rate", || {
        value(&query(
            &server,
            &viewer,
            r#"if_in_bits_per_second{job="snmp-v2c",ifName="lo"}"#,
        ))
        .filter(|v| *v > 0.0)
    });
    assert!(
        value(&query(&server, &viewer, r#"sysUpTime{job="snmp-v3"}"#)).is_some_and(|t| t > 0.0)
    );

    // A v2c linkDown trap, a v3 linkUp trap, and a v2c inform (answered).
    let target = format!("127.0.0.1:{trap_port}");
    let link_varbinds = [
        "1.3.6.1.2.1.2.2.1.1.7",
        "i",
        "7",
        "1.3.6.1.2.1.31.1.1.1.1.7",
        "s",
        "uplink0",
    ];
    let run = |args: &[&str]| {
        let status = Command::new(args[0])
            .args(&args[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("net-snmp tool");
        assert!(status.success(), "{args:?}");
    };
    let mut v2 = vec![
        "snmptrap",
        "-v",
        "2c",
        "-c",
        "public",
        &target,
        "",
        "1.3.6.1.6.3.1.1.5.3",
    ];
    v2.extend(link_varbinds);
    run(&v2);
    let engine = format!("0x{ENGINE}");
    let mut v3 = vec![
        "snmptrap",
        "-v",
        "3",
        "-e",
        &engine,
        "-u",
        "wfuser",
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        AUTH,
        "-x",
        "AES",
        "-X",
        PRIV,
        &target,
        "",
        "1.3.6.1.6.3.1.1.5.4",
    ];
    v3.extend(link_varbinds);
    run(&v3);
    // snmpinform waits for our Response and fails without it.
    run(&[
        "snmpinform",
        "-v",
        "2c",
        "-c",
        "public",
        "-t",
        "2",
        "-r",
        "1",
        &target,
        "",
        "1.3.6.1.6.3.1.1.5.1",
    ]);
    // A v3 inform: snmpinform discovers our engine id and clock, sends
    // authenticated and encrypted with keys localised to our engine, and
    // succeeds only on our Response.
    let v3_inform = |auth: &str| {
        Command::new("snmpinform")
            .args([
                "-v", "3", "-u", "wfuser", "-l", "authPriv", "-a", "SHA-256", "-A", auth,
            ])
            .args(["-x", "AES", "-X", PRIV, "-t", "2", "-r", "1", &target, ""])
            .args(["1.3.6.1.6.3.1.1.5.2", "1.3.6.1.2.1.1.5.0", "s", "informer"])
            .output()
            .expect("snmpinform")
    };
    let sent = v3_inform(AUTH);
    assert!(
        sent.status.success(),
        "v3 inform: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let wrong = v3_inform("not-the-password");
    assert!(
        !wrong.status.success(),
        "an inform with a wrong password is answered"
    );
    // A wrong community is refused and counted, nothing else lost.
    run(&[
        "snmptrap",
        "-v",
        "2c",
        "-c",
        "wrong",
        &target,
        "",
        "1.3.6.1.6.3.1.1.5.3",
    ]);

    let events = server.search("source:snmptrap", 4);
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|e| e["fields"]["event.action"].as_str())
        .collect();
    for want in ["linkDown", "linkUp", "coldStart"] {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    assert!(
        events.iter().any(
            |e| e["fields"]["snmp.principal"] == "wfuser" && e["fields"]["snmp.version"] == "3"
        ),
        "{events:?}"
    );
    let v3_informs: Vec<&Value> = events
        .iter()
        .filter(|e| e["fields"]["snmp.inform"] == true && e["fields"]["snmp.version"] == "3")
        .collect();
    assert_eq!(v3_informs.len(), 1, "{events:?}");
    assert_eq!(v3_informs[0]["fields"]["event.action"], "warmStart");
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["interface.name"] == "uplink0"),
        "{events:?}"
    );
    let alerts = server.alerts("kind=trap", 3);
    let down = alerts
        .iter()
        .find(|a| a["rule_id"] == "trap:linkDown")
        .expect("a linkDown alert");
    assert_eq!(
        (
            down["level"].as_str(),
            down["domain"].as_str(),
            down["host"].as_str()
        ),
        (Some("high"), Some("operations"), Some("127.0.0.1"))
    );
    assert!(
        down["rule_title"]
            .as_str()
            .is_some_and(|t| t.contains("uplink0")),
        "{down}"
    );
    // The link traps of one device file into one operations incident.
    let incident = wait_for("one incident with the link traps", || {
        let (_, v) = server.get("/api/v1/incidents?domain=operations");
        v["incidents"].as_array().and_then(|l| {
            l.iter()
                .find(|i| {
                    let rules: Vec<&str> = i["alerts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a["rule"].as_str())
                        .collect();
                    rules.iter().any(|r| r.contains("linkDown"))
                        && rules.iter().any(|r| r.contains("linkUp"))
                })
                .cloned()
        })
    });
    assert_eq!(incident["domain"], "operations", "{incident}");
    assert!(
        server.metric("watchfloor_ingest_rejected_total{source=\"snmptrap\",reason=\"malformed\"}")
            >= 1.0
    );
}

/// A `.snmprec` file for snmpsim: a device with `n` interfaces.
fn big_device(path: &Path, n: u32) {
    let mut lines = vec![
        "1.3.6.1.2.1.1.3.0|67|123456".to_string(),
        "1.3.6.1.2.1.1.5.0|4|core-switch".to_string(),
    ];
    let columns: &[(&str, u32)] = &[
        ("1.3.6.1.2.1.2.2.1.2", 4),
        ("1.3.6.1.2.1.2.2.1.3", 2),
        ("1.3.6.1.2.1.2.2.1.5", 66),
        ("1.3.6.1.2.1.2.2.1.7", 2),
        ("1.3.6.1.2.1.2.2.1.8", 2),
        ("1.3.6.1.2.1.2.2.1.10", 65),
        ("1.3.6.1.2.1.2.2.1.13", 65),
        ("1.3.6.1.2.1.2.2.1.14", 65),
        ("1.3.6.1.2.1.2.2.1.16", 65),
        ("1.3.6.1.2.1.2.2.1.19", 65),
        ("1.3.6.1.2.1.2.2.1.20", 65),
        ("1.3.6.1.2.1.31.1.1.1.1", 4),
        ("1.3.6.1.2.1.31.1.1.1.6", 70),
        ("1.3.6.1.2.1.31.1.1.1.7", 70),
        ("1.3.6.1.2.1.31.1.1.1.10", 70),
        ("1.3.6.1.2.1.31.1.1.1.11", 70),
        ("1.3.6.1.2.1.31.1.1.1.15", 66),
        ("1.3.6.1.2.1.31.1.1.1.18", 4),
    ];
    for (oid, kind) in columns {
        for i in 1..=n {
            let value = match kind {
                4 => format!("Gi{}/{}", i / 48, i % 48),
                2 => "1".into(),
                66 => "1000".into(),
                _ => (i as u64 * 1000).to_string(),
            };
            lines.push(format!("{oid}.{i}|{kind}|{value}"));
        }
    }
    // snmpsim wants the records in OID order.
    lines.sort_by_key(|l| {
        l.split('|')
            .next()
            .unwrap_or_default()
            .split('.')
            .map(|p| p.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    std::fs::write(path, lines.join("\n") + "\n").expect("snmprec");
}

#[test]
fn a_device_with_20000_interfaces_is_polled_whole() {
    let Some(simulator) = std::env::var_os("WATCHFLOOR_TEST_SNMPSIM") else {
        eprintln!(
            "SKIPPED: WATCHFLOOR_TEST_SNMPSIM is not set (tools/test installs snmpsim and sets it)"
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    const INTERFACES: u32 = 20_000;
    big_device(&data.join("public.snmprec"), INTERFACES);
    let port = free_port();
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let mut args = vec![
        format!("--data-dir={}", data.display()),
        format!("--agent-udpv4-endpoint=127.0.0.1:{port}"),
        format!("--cache-dir={}", cache.display()),
    ];
    // snmpsim refuses to run as root: it drops to nobody, who must read
    // the data and write the cache.
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 {
        use std::os::unix::fs::PermissionsExt;
        for (dir, mode) in [
            (tmp.path(), 0o755),
            (data.as_path(), 0o755),
            (cache.as_path(), 0o777),
        ] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        args.extend([
            "--process-user=nobody".to_string(),
            "--process-group=nogroup".to_string(),
        ]);
    }
    let _sim = Peer(
        Command::new(&simulator)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("snmpsim.log")).expect("log"))
            .spawn()
            .expect("snmpsim"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while walk(port, "1.3.6.1.2.1.1.5").map_or(true, |w| w.is_empty()) {
        assert!(
            Instant::now() < deadline,
            "snmpsim did not start: {}",
            std::fs::read_to_string(tmp.path().join("snmpsim.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let extra = format!("[[telemetry.snmp]]\njob = \"big\"\ntargets = [\"127.0.0.1:{port}\"]\ninterval_secs = 600\ntimeout_secs = 10\nmax_repetitions = 50\n");
    let server = Server::start(tmp.path(), &extra, &[]);
    let viewer = server.new_token("viewer");
    let started = Instant::now();
    let interfaces = loop {
        let n = value(&query(&server, &viewer, r#"snmp_interfaces{job="big"}"#));
        if let Some(n) = n {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no poll result in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(interfaces as u32, INTERFACES);
    let polled = value(&query(
        &server,
        &viewer,
        r#"scrape_duration_seconds{job="big"}"#,
    ))
    .unwrap_or(0.0);
    let series = value(&query(
        &server,
        &viewer,
        r#"count(ifHCInOctets{job="big"})"#,
    ))
    .unwrap_or(0.0);
    assert_eq!(series as u32, INTERFACES);
    println!(
        "snmpsim: {INTERFACES} interfaces polled in {polled:.1} s ({:.0} interfaces/s)",
        INTERFACES as f64 / polled
    );
}
