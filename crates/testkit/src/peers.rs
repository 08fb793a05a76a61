//! Real peers for the tests that need them, started on loopback in a
//! temporary directory and stopped on drop: Unbound (a resolver whose
//! blocked-domains file playbooks write), slapd with the password policy
//! overlay (a directory playbooks change), and a minimal DNS client.
//! Each returns `None` when the program is not installed.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

/// The response code of an A query for `name` to `server` (a minimal DNS
/// client: one UDP question, the answer's RCODE), or None on no answer.
pub fn rcode(server: std::net::SocketAddr, name: &str) -> Option<u8> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    socket.send_to(&q, server).ok()?;
    let mut buf = [0u8; 512];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    (n >= 4 && buf[0] == 0x12 && buf[1] == 0x34).then_some(buf[3] & 0x0f)
}

pub const NXDOMAIN: u8 = 3;

/// Unbound on loopback, its blocked-domains file included, reloaded by
/// `unbound-control` (over loopback, no certificates).
pub struct Unbound {
    child: std::process::Child,
    pub dns: std::net::SocketAddr,
    /// The reload command (`unbound-control -c CONF reload`).
    pub control: Vec<String>,
    /// The blocked-domains file unbound.conf includes.
    pub file: std::path::PathBuf,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn unbound(dir: &std::path::Path) -> Option<Unbound> {
    if !std::path::Path::new("/usr/sbin/unbound").exists() {
        return None;
    }
    let (port, control_port) = (free_port(), free_port());
    let file = dir.join("blocked.conf");
    std::fs::write(&file, "").unwrap();
    let conf = dir.join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  use-syslog: no\n  logfile: \"\"\n  do-not-query-localhost: no\n  include: \"{f}\"\n  local-zone: \"ok.example.\" static\n  local-data: \"ok.example. A 192.0.2.1\"\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@9\nremote-control:\n  control-enable: yes\n  control-interface: 127.0.0.1\n  control-port: {control_port}\n  control-use-cert: no\n",
            d = dir.display(),
            f = file.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/unbound")
        .args(["-d", "-c", conf.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let dns: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let u = Unbound {
        child,
        dns,
        control: vec![
            "unbound-control".into(),
            "-c".into(),
            conf.display().to_string(),
            "reload".into(),
        ],
        file,
    };
    for _ in 0..50 {
        if rcode(dns, "ok.example") == Some(0) {
            return Some(u);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("unbound did not start");
}

/// slapd on loopback with the ppolicy overlay, a base, and bob.
pub struct Slapd {
    child: std::process::Child,
    pub url: String,
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn slapd(dir: &std::path::Path) -> Option<Slapd> {
    if !std::path::Path::new("/usr/sbin/slapd").exists() {
        return None;
    }
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    let conf = dir.join("slapd.conf");
    std::fs::write(
        &conf,
        format!(
            "include /etc/ldap/schema/core.schema\ninclude /etc/ldap/schema/cosine.schema\ninclude /etc/ldap/schema/nis.schema\ninclude /etc/ldap/schema/inetorgperson.schema\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\nmoduleload ppolicy\npidfile {d}/slapd.pid\ndatabase mdb\nsuffix \"dc=corp,dc=example\"\nrootdn \"cn=admin,dc=corp,dc=example\"\nrootpw s3cret\ndirectory {db}\noverlay ppolicy\nppolicy_default \"cn=default,ou=policies,dc=corp,dc=example\"\n",
            d = dir.display(),
            db = db.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let url = format!("ldap://127.0.0.1:{port}/");
    let child = Command::new("/usr/sbin/slapd")
        .args(["-d", "0", "-f", conf.to_str().unwrap(), "-h", &url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let s = Slapd { child, url };
    let ldif = "dn: dc=corp,dc=example\nobjectClass: dcObject\nobjectClass: organization\ndc: corp\no: Corp\n\ndn: ou=people,dc=corp,dc=example\nobjectClass: organizationalUnit\nou: people\n\ndn: ou=policies,dc=corp,dc=example\nobjectClass: organizationalUnit\nou: policies\n\ndn: cn=default,ou=policies,dc=corp,dc=example\nobjectClass: person\nobjectClass: pwdPolicy\ncn: default\nsn: policy\npwdAttribute: userPassword\npwdLockout: TRUE\n\ndn: uid=bob,ou=people,dc=corp,dc=example\nobjectClass: inetOrgPerson\nuid: bob\ncn: Bob\nsn: Builder\nmail: bob@corp.example\nuserPassword: bobpw\n";
    for _ in 0..50 {
        let mut add = Command::new("ldapadd")
            .args([
                "-x",
                "-H",
                &s.url,
                "-D",
                "cn=admin,dc=corp,dc=example",
                "-w",
                "s3cret",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        add.stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        if add.wait().is_ok_and(|st| st.success()) {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("slapd did not start");
}
