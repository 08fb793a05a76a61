//! SNMP: IF-MIB polling (v2c and v3 with SHA-2 and AES) with bulk walks
//! sized per device, counter wraps and agent restarts handled and rates
//! computed; and the trap and inform receiver's decoding.
//!
//! Series use the IF-MIB names snmp_exporter writes (`ifHCInOctets`,
//! `ifHighSpeed`, `ifOperStatus`, ... labelled `ifIndex`, `ifName`,
//! `ifAlias`, `ifDescr`), so dashboards and rules written for it work; the
//! computed rates are `if_in_bits_per_second` and friends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use snmp2::{v3, AsyncSession, Oid, Value};

/// A v3 trap sender's security (user, keys, its engine id), for [`decode_trap`].
pub type TrapSecurity = v3::Security;
use watchfloor_tsdb::{Labels, SeriesSamples};

/// One polling job: devices sharing credentials.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(extend("x-required" = ["targets"]))]
pub struct SnmpConfig {
    /// The `job` label.
    pub job: String,
    /// `host:port` (port 161 when absent) of each device: the `instance`.
    pub targets: Vec<String>,
    #[schemars(extend("enum" = ["2c", "3"]))]
    pub version: String,
    /// v2c community.
    pub community: String,
    /// v3 user.
    pub username: String,
    #[schemars(extend("enum" = ["noAuthNoPriv", "authNoPriv", "authPriv"]))]
    pub security_level: String,
    #[schemars(extend("enum" = ["md5", "sha", "sha224", "sha256", "sha384", "sha512"]))]
    pub auth_protocol: String,
    /// A file holding the authentication passphrase.
    #[schemars(extend("format" = "file"))]
    pub auth_password_file: Option<PathBuf>,
    #[schemars(extend("enum" = ["des", "aes", "aes128", "aes192", "aes256"]))]
    pub priv_protocol: String,
    #[schemars(extend("format" = "file"))]
    pub priv_password_file: Option<PathBuf>,
    pub context_name: String,
    #[schemars(range(min = 1, max = 86_400))]
    pub interval_secs: u64,
    /// Per request (a walk is many requests).
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: u64,
    #[schemars(range(max = 10))]
    pub retries: u32,
    /// Rows asked for per GetBulk at first; halved on timeouts and
    /// `tooBig`, grown back on success, per device.
    #[schemars(range(min = 1, max = 200))]
    pub max_repetitions: u32,
    pub labels: BTreeMap<String, String>,
    pub tenant: Option<String>,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            job: "snmp".into(),
            targets: Vec::new(),
            version: "2c".into(),
            community: "public".into(),
            username: String::new(),
            security_level: "authPriv".into(),
            auth_protocol: "sha256".into(),
            auth_password_file: None,
            priv_protocol: "aes".into(),
            priv_password_file: None,
            context_name: String::new(),
            interval_secs: 60,
            timeout_secs: 5,
            retries: 2,
            max_repetitions: 25,
            labels: BTreeMap::new(),
            tenant: None,
        }
    }
}

impl SnmpConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = format!("telemetry.snmp {:?}", self.job);
        if self.version == "3" {
            if self.username.is_empty() {
                out.push(format!("{name}: SNMPv3 needs a username"));
            }
            if self.security_level != "noAuthNoPriv" && self.auth_password_file.is_none() {
                out.push(format!(
                    "{name}: {} needs auth_password_file",
                    self.security_level
                ));
            }
            if self.security_level == "authPriv" && self.priv_password_file.is_none() {
                out.push(format!("{name}: authPriv needs priv_password_file"));
            }
        }
        out
    }

    fn secret(path: &Option<PathBuf>) -> Result<Vec<u8>, String> {
        match path {
            Some(p) => std::fs::read_to_string(p)
                .map(|s| s.trim_end_matches(['\r', '\n']).as_bytes().to_vec())
                .map_err(|e| format!("{}: {e}", p.display())),
            None => Ok(Vec::new()),
        }
    }

    /// The v3 security parameters.
    pub fn security(&self) -> Result<v3::Security, String> {
        let auth_protocol = match self.auth_protocol.as_str() {
            "md5" => v3::AuthProtocol::Md5,
            "sha" | "sha1" => v3::AuthProtocol::Sha1,
            "sha224" => v3::AuthProtocol::Sha224,
            "sha384" => v3::AuthProtocol::Sha384,
            "sha512" => v3::AuthProtocol::Sha512,
            _ => v3::AuthProtocol::Sha256,
        };
        let auth = match self.security_level.as_str() {
            "noAuthNoPriv" => v3::Auth::NoAuthNoPriv,
            "authNoPriv" => v3::Auth::AuthNoPriv,
            _ => v3::Auth::AuthPriv {
                cipher: match self.priv_protocol.as_str() {
                    "des" => v3::Cipher::Des,
                    "aes192" => v3::Cipher::Aes192,
                    "aes256" => v3::Cipher::Aes256,
                    _ => v3::Cipher::Aes128,
                },
                privacy_password: Self::secret(&self.priv_password_file)?,
            },
        };
        let mut security = v3::Security::new(
            self.username.as_bytes(),
            &Self::secret(&self.auth_password_file)?,
        )
        .with_auth_protocol(auth_protocol)
        .with_auth(auth);
        if !self.context_name.is_empty() {
            security = security.with_context_name(&self.context_name);
        }
        Ok(security)
    }
}

/// The trap and inform receiver.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrapConfig {
    /// UDP address to receive traps on (e.g. `0.0.0.0:162`); "" is off.
    #[schemars(extend("format" = "socket-address"))]
    pub listen: String,
    /// Communities accepted from v1/v2c senders.
    pub communities: Vec<String>,
    /// SNMPv3 users accepted (`[[telemetry.traps.users]]`).
    pub users: Vec<TrapUser>,
    /// The tenant of trap events and alerts (default: the server's).
    pub tenant: Option<String>,
    /// This receiver's SNMPv3 engine id in hex, which v3 inform senders
    /// discover (default: one made from the host name, logged at start).
    pub engine_id: Option<String>,
}

impl Default for TrapConfig {
    fn default() -> Self {
        TrapConfig {
            listen: String::new(),
            communities: vec!["public".into()],
            users: Vec::new(),
            tenant: None,
            engine_id: None,
        }
    }
}

impl TrapConfig {
    /// The receiver's engine id: the configured one, else one made from
    /// `host`.
    pub fn engine_id(&self, host: &str) -> Result<Vec<u8>, String> {
        match &self.engine_id {
            Some(hex) => parse_hex(hex)
                .filter(|id| (5..=32).contains(&id.len()))
                .ok_or_else(|| format!("telemetry.traps engine_id {hex:?}: 5 to 32 bytes in hex")),
            None => Ok(crate::usm::default_engine_id(host)),
        }
    }
}

/// An SNMPv3 trap sender: its user and the engine id it sends with.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrapUser {
    pub username: String,
    /// The sender's engine id in hex (`snmptrap -e`), e.g. `8000000001020304`.
    pub engine_id: String,
    #[serde(default = "default_level")]
    pub security_level: String,
    #[serde(default = "default_auth")]
    pub auth_protocol: String,
    pub auth_password_file: Option<PathBuf>,
    #[serde(default = "default_priv")]
    pub priv_protocol: String,
    pub priv_password_file: Option<PathBuf>,
}

fn default_level() -> String {
    "authPriv".into()
}

fn default_auth() -> String {
    "sha256".into()
}

fn default_priv() -> String {
    "aes".into()
}

impl TrapUser {
    /// Its security parameters, keyed to its engine id.
    pub fn security(&self) -> Result<v3::Security, String> {
        let as_poll = SnmpConfig {
            version: "3".into(),
            username: self.username.clone(),
            security_level: self.security_level.clone(),
            auth_protocol: self.auth_protocol.clone(),
            auth_password_file: self.auth_password_file.clone(),
            priv_protocol: self.priv_protocol.clone(),
            priv_password_file: self.priv_password_file.clone(),
            ..SnmpConfig::default()
        };
        let engine = parse_hex(&self.engine_id).ok_or_else(|| {
            format!(
                "trap user {}: engine_id {:?} is not hex",
                self.username, self.engine_id
            )
        })?;
        as_poll
            .security()?
            .with_engine_id(&engine)
            .map_err(|e| format!("trap user {}: {e:?}", self.username))
    }
}

impl TrapUser {
    /// The user as an inform sender: keys localised to the receiver's
    /// engine id (`engine`). Informs need AES-128 for privacy.
    pub fn inform_user(&self, engine: &[u8]) -> Result<crate::usm::InformUser, String> {
        use crate::usm::{AuthHash, InformUser};
        let secret = |p: &Option<PathBuf>| SnmpConfig::secret(p);
        let auth = match self.security_level.as_str() {
            "noAuthNoPriv" => None,
            _ => Some(AuthHash::named(&self.auth_protocol).ok_or_else(|| {
                format!(
                    "trap user {}: auth_protocol {:?} is not one of md5, sha, sha224, sha256, sha384, sha512",
                    self.username, self.auth_protocol
                )
            })?),
        };
        let auth_password = secret(&self.auth_password_file)?;
        let privacy = match self.security_level.as_str() {
            "authPriv" if matches!(self.priv_protocol.as_str(), "aes" | "aes128") => {
                Some(secret(&self.priv_password_file)?)
            }
            // v3 traps with DES or longer AES keys still decode (snmp2);
            // informs from this user are refused with the reason.
            _ => None,
        };
        Ok(InformUser::new(
            &self.username,
            auth.map(|h| (h, auth_password.as_slice())),
            privacy.as_deref(),
            engine,
        ))
    }
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_start_matches("0x");
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// IF-MIB and system columns a poll walks: (series name, OID, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Label,
    Gauge,
    Counter32,
    Counter64,
}

const IF_TABLE: &[(&str, &str, Kind)] = &[
    ("ifDescr", "1.3.6.1.2.1.2.2.1.2", Kind::Label),
    ("ifType", "1.3.6.1.2.1.2.2.1.3", Kind::Gauge),
    ("ifSpeed", "1.3.6.1.2.1.2.2.1.5", Kind::Gauge),
    ("ifAdminStatus", "1.3.6.1.2.1.2.2.1.7", Kind::Gauge),
    ("ifOperStatus", "1.3.6.1.2.1.2.2.1.8", Kind::Gauge),
    ("ifInOctets", "1.3.6.1.2.1.2.2.1.10", Kind::Counter32),
    ("ifInDiscards", "1.3.6.1.2.1.2.2.1.13", Kind::Counter32),
    ("ifInErrors", "1.3.6.1.2.1.2.2.1.14", Kind::Counter32),
    ("ifOutOctets", "1.3.6.1.2.1.2.2.1.16", Kind::Counter32),
    ("ifOutDiscards", "1.3.6.1.2.1.2.2.1.19", Kind::Counter32),
    ("ifOutErrors", "1.3.6.1.2.1.2.2.1.20", Kind::Counter32),
];

const IF_X_TABLE: &[(&str, &str, Kind)] = &[
    ("ifName", "1.3.6.1.2.1.31.1.1.1.1", Kind::Label),
    ("ifHCInOctets", "1.3.6.1.2.1.31.1.1.1.6", Kind::Counter64),
    ("ifHCInUcastPkts", "1.3.6.1.2.1.31.1.1.1.7", Kind::Counter64),
    (
        "ifHCInMulticastPkts",
        "1.3.6.1.2.1.31.1.1.1.8",
        Kind::Counter64,
    ),
    (
        "ifHCInBroadcastPkts",
        "1.3.6.1.2.1.31.1.1.1.9",
        Kind::Counter64,
    ),
    ("ifHCOutOctets", "1.3.6.1.2.1.31.1.1.1.10", Kind::Counter64),
    (
        "ifHCOutUcastPkts",
        "1.3.6.1.2.1.31.1.1.1.11",
        Kind::Counter64,
    ),
    (
        "ifHCOutMulticastPkts",
        "1.3.6.1.2.1.31.1.1.1.12",
        Kind::Counter64,
    ),
    (
        "ifHCOutBroadcastPkts",
        "1.3.6.1.2.1.31.1.1.1.13",
        Kind::Counter64,
    ),
    ("ifHighSpeed", "1.3.6.1.2.1.31.1.1.1.15", Kind::Gauge),
    ("ifAlias", "1.3.6.1.2.1.31.1.1.1.18", Kind::Label),
];

const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5";

pub fn parse_oid(text: &str) -> Vec<u64> {
    text.split('.').filter_map(|p| p.parse().ok()).collect()
}

fn oid_parts(oid: &Oid) -> Vec<u64> {
    oid.iter().map(|i| i.collect()).unwrap_or_default()
}

pub fn oid_text(parts: &[u64]) -> String {
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// A walked value.
#[derive(Debug, Clone, PartialEq)]
pub enum Walked {
    Number(f64),
    /// Counters as they came (their width matters for wraps).
    Counter(u64),
    Text(String),
}

fn walked(value: &Value) -> Option<Walked> {
    Some(match value {
        Value::Integer(n) => Walked::Number(*n as f64),
        Value::Counter32(n) | Value::Unsigned32(n) | Value::Timeticks(n) => {
            Walked::Counter(*n as u64)
        }
        Value::Counter64(n) => Walked::Counter(*n),
        Value::OctetString(b) => Walked::Text(
            String::from_utf8_lossy(b)
                .trim_end_matches('\0')
                .to_string(),
        ),
        Value::IpAddress(a) => Walked::Text(std::net::Ipv4Addr::from(*a).to_string()),
        Value::ObjectIdentifier(o) => Walked::Text(oid_text(&oid_parts(o))),
        _ => return None,
    })
}

/// A device being polled, with what the next poll needs.
pub struct Device {
    pub config: SnmpConfig,
    pub instance: String,
    pub tenant: String,
    address: String,
    session: Option<AsyncSession>,
    /// Current GetBulk size (adapted).
    pub bulk: u32,
    previous: HashMap<(u64, &'static str), (u64, i64)>,
    previous_uptime: Option<u64>,
    last_series: HashSet<Labels>,
    pub requests: u64,
    pub timeouts: u64,
}

/// What one poll found.
#[derive(Debug, Default)]
pub struct Poll {
    /// Column name -> ifIndex -> value.
    pub columns: HashMap<&'static str, BTreeMap<u64, Walked>>,
    pub uptime_ticks: Option<u64>,
    pub sys_name: Option<String>,
}

impl Device {
    pub fn new(config: SnmpConfig, instance: String, tenant: String) -> Self {
        let address = if instance
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            instance.clone()
        } else {
            format!("{instance}:161")
        };
        let bulk = config.max_repetitions.max(1);
        Device {
            config,
            instance,
            tenant,
            address,
            session: None,
            bulk,
            previous: HashMap::new(),
            previous_uptime: None,
            last_series: HashSet::new(),
            requests: 0,
            timeouts: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        if self.session.is_some() {
            return Ok(());
        }
        let id = (std::process::id() as i32).wrapping_mul(7919);
        let session = if self.config.version == "3" {
            let security = self.config.security()?;
            let mut s = AsyncSession::new_v3(&self.address, id, security)
                .await
                .map_err(|e| format!("{}: {e}", self.address))?;
            tokio::time::timeout(Duration::from_secs(self.config.timeout_secs), s.init())
                .await
                .map_err(|_| format!("{}: no answer to SNMPv3 engine discovery", self.address))?
                .map_err(|e| format!("{}: SNMPv3: {e:?}", self.address))?;
            s
        } else {
            AsyncSession::new_v2c(&self.address, self.config.community.as_bytes(), id)
                .await
                .map_err(|e| format!("{}: {e}", self.address))?
        };
        self.session = Some(session);
        Ok(())
    }

    /// One GetBulk over `columns` from the given positions: the varbinds.
    async fn bulk_request(
        &mut self,
        positions: &[Vec<u64>],
    ) -> Result<Vec<(Vec<u64>, Option<Walked>, bool)>, String> {
        let mut attempt = 0;
        loop {
            self.connect().await?;
            let oids: Vec<Oid<'static>> =
                positions.iter().filter_map(|p| Oid::from(p).ok()).collect();
            let refs: Vec<&Oid> = oids.iter().collect();
            let bulk = self.bulk;
            let timeout = Duration::from_secs(self.config.timeout_secs);
            self.requests += 1;
            let Some(session) = self.session.as_mut() else {
                return Err("no session".into());
            };
            let answer = tokio::time::timeout(timeout, session.getbulk(&refs, 0, bulk)).await;
            match answer {
                Ok(Ok(pdu)) if pdu.error_status == 1 => {
                    // tooBig: ask for fewer rows.
                    self.bulk = (self.bulk / 2).max(1);
                }
                Ok(Ok(pdu)) if pdu.error_status != 0 => {
                    return Err(format!(
                        "{}: error status {}",
                        self.address, pdu.error_status
                    ))
                }
                Ok(Ok(pdu)) => {
                    let out = pdu
                        .varbinds
                        .map(|(oid, value)| {
                            let end = matches!(
                                value,
                                Value::EndOfMibView | Value::NoSuchObject | Value::NoSuchInstance
                            );
                            (oid_parts(&oid), walked(&value), end)
                        })
                        .collect();
                    return Ok(out);
                }
                Ok(Err(e)) => {
                    // A stale or garbled answer: start over with a new socket.
                    self.session = None;
                    attempt += 1;
                    if attempt > self.config.retries {
                        return Err(format!("{}: {e:?}", self.address));
                    }
                }
                Err(_) => {
                    self.timeouts += 1;
                    self.session = None;
                    self.bulk = (self.bulk / 2).max(1);
                    attempt += 1;
                    if attempt > self.config.retries {
                        return Err(format!(
                            "{}: no answer within {} s (after {} tries)",
                            self.address, self.config.timeout_secs, attempt
                        ));
                    }
                }
            }
        }
    }

    /// Walks the columns in parallel with GetBulk.
    async fn walk(
        &mut self,
        columns: &[(&'static str, &str, Kind)],
        out: &mut Poll,
    ) -> Result<(), String> {
        let roots: Vec<Vec<u64>> = columns.iter().map(|(_, oid, _)| parse_oid(oid)).collect();
        let mut positions: Vec<Option<Vec<u64>>> = roots.iter().cloned().map(Some).collect();
        while positions.iter().any(Option::is_some) {
            let active: Vec<usize> = (0..columns.len())
                .filter(|&i| positions[i].is_some())
                .collect();
            let asked: Vec<Vec<u64>> = active
                .iter()
                .filter_map(|&i| positions[i].clone())
                .collect();
            let answer = self.bulk_request(&asked).await?;
            if answer.is_empty() {
                break;
            }
            for (k, (oid, value, end)) in answer.into_iter().enumerate() {
                let col = active[k % active.len()];
                if positions[col].is_none() {
                    continue;
                }
                let root = &roots[col];
                if end || !oid.starts_with(root) || oid.len() <= root.len() {
                    positions[col] = None;
                    continue;
                }
                if positions[col].as_ref().is_some_and(|p| oid <= *p) {
                    // An agent that does not advance: stop this column.
                    positions[col] = None;
                    continue;
                }
                let index = oid[root.len()];
                if let Some(v) = value {
                    out.columns
                        .entry(columns[col].0)
                        .or_default()
                        .insert(index, v);
                }
                positions[col] = Some(oid);
            }
            if self.bulk < self.config.max_repetitions {
                self.bulk = (self.bulk + self.bulk / 2 + 1).min(self.config.max_repetitions);
            }
        }
        Ok(())
    }

    /// Polls the device: system uptime and name, ifTable and ifXTable.
    pub async fn poll(&mut self) -> Result<Poll, String> {
        let mut out = Poll::default();
        let system = [
            ("sysUpTime", SYS_UPTIME, Kind::Counter32),
            ("sysName", SYS_NAME, Kind::Label),
        ];
        let mut sys = Poll::default();
        self.walk(&system, &mut sys).await?;
        out.uptime_ticks = sys
            .columns
            .get("sysUpTime")
            .and_then(|m| m.values().next())
            .and_then(|v| match v {
                Walked::Counter(n) => Some(*n),
                _ => None,
            });
        out.sys_name = sys
            .columns
            .get("sysName")
            .and_then(|m| m.values().next())
            .and_then(|v| match v {
                Walked::Text(s) => Some(s.clone()),
                _ => None,
            });
        self.walk(IF_TABLE, &mut out).await?;
        // Devices without ifXTable (SNMPv1-era) still give ifTable.
        let _ = self.walk(IF_X_TABLE, &mut out).await;
        Ok(out)
    }

    /// The samples of a poll (or of a failed one) at `t` ms: the raw
    /// columns, computed rates, `up`, and staleness for vanished series.
    pub fn samples(
        &mut self,
        poll: Option<&Poll>,
        t: i64,
        duration_secs: f64,
    ) -> Vec<SeriesSamples> {
        let base =
            crate::scrape::target_labels(&self.config.labels, &self.config.job, &self.instance);
        let mut out = Vec::new();
        let mut current = HashSet::new();
        if let Some(poll) = poll {
            let restarted = matches!((self.previous_uptime, poll.uptime_ticks), (Some(before), Some(now)) if now < before);
            if restarted {
                // The agent restarted: its counters started again from zero.
                self.previous.clear();
            }
            self.previous_uptime = poll.uptime_ticks;
            let mut push = |name: &str, extra: &[(String, String)], v: f64| {
                let mut pairs = base.clone();
                pairs.extend_from_slice(extra);
                pairs.push(("__name__".into(), name.into()));
                let labels = Labels::from_pairs(pairs);
                current.insert(labels.clone());
                out.push(SeriesSamples {
                    labels,
                    samples: vec![(t, v)],
                });
            };
            if let Some(ticks) = poll.uptime_ticks {
                push("sysUpTime", &[], ticks as f64);
            }
            let indexes: std::collections::BTreeSet<u64> = poll
                .columns
                .values()
                .flat_map(|m| m.keys().copied())
                .collect();
            for index in indexes {
                let label = |col: &str| match poll.columns.get(col).and_then(|m| m.get(&index)) {
                    Some(Walked::Text(s)) => s.clone(),
                    _ => String::new(),
                };
                let extra = vec![
                    ("ifIndex".to_string(), index.to_string()),
                    ("ifName".to_string(), label("ifName")),
                    ("ifDescr".to_string(), label("ifDescr")),
                    ("ifAlias".to_string(), label("ifAlias")),
                ];
                for (name, _, kind) in IF_TABLE.iter().chain(IF_X_TABLE) {
                    let value = match poll.columns.get(name).and_then(|m| m.get(&index)) {
                        Some(Walked::Counter(n)) => *n as f64,
                        Some(Walked::Number(n)) => *n,
                        _ => continue,
                    };
                    if *kind != Kind::Label {
                        push(name, &extra, value);
                    }
                }
                for (rate_name, rate) in self.rates(poll, index, t) {
                    push(rate_name, &extra, rate);
                }
            }
            push(
                "snmp_interfaces",
                &[],
                poll.columns.get("ifOperStatus").map_or(0, BTreeMap::len) as f64,
            );
        }
        crate::scrape::mark_vanished(&mut self.last_series, current, t, &mut out);
        let up = if poll.is_some() { 1.0 } else { 0.0 };
        crate::scrape::own_series(
            &base,
            &[
                ("up", up),
                ("scrape_duration_seconds", duration_secs),
                ("snmp_bulk_size", self.bulk as f64),
            ],
            t,
            &mut out,
        );
        out
    }

    /// Per-second rates since the last poll, with 32-bit wraps undone
    /// (64-bit columns preferred; a counter that went back without a wrap
    /// is a reset and gives no rate this time).
    fn rates(&mut self, poll: &Poll, index: u64, t: i64) -> Vec<(&'static str, f64)> {
        const RATES: &[(&str, &str, &str, f64)] = &[
            ("if_in_bits_per_second", "ifHCInOctets", "ifInOctets", 8.0),
            (
                "if_out_bits_per_second",
                "ifHCOutOctets",
                "ifOutOctets",
                8.0,
            ),
            ("if_in_packets_per_second", "ifHCInUcastPkts", "", 1.0),
            ("if_out_packets_per_second", "ifHCOutUcastPkts", "", 1.0),
            ("if_in_errors_per_second", "", "ifInErrors", 1.0),
            ("if_out_errors_per_second", "", "ifOutErrors", 1.0),
            ("if_in_discards_per_second", "", "ifInDiscards", 1.0),
            ("if_out_discards_per_second", "", "ifOutDiscards", 1.0),
        ];
        let mut out = Vec::new();
        for &(name, wide, narrow, scale) in RATES {
            let counter = |col: &str| match poll.columns.get(col).and_then(|m| m.get(&index)) {
                Some(Walked::Counter(n)) => Some(*n),
                _ => None,
            };
            let (value, is64) = match (
                Some(wide).filter(|w| !w.is_empty()).and_then(counter),
                Some(narrow).filter(|n| !n.is_empty()).and_then(counter),
            ) {
                (Some(v), _) => (v, true),
                (None, Some(v)) => (v, false),
                _ => continue,
            };
            if let Some((before, then)) = self.previous.insert((index, name), (value, t)) {
                let dt = (t - then) as f64 / 1000.0;
                let delta = match value.checked_sub(before) {
                    Some(d) => Some(d),
                    None if !is64 => Some(value + (1u64 << 32) - before),
                    None => None,
                };
                if let Some(d) = delta.filter(|_| dt > 0.0) {
                    out.push((name, d as f64 * scale / dt));
                }
            }
        }
        let speed_bps = match poll.columns.get("ifHighSpeed").and_then(|m| m.get(&index)) {
            Some(Walked::Counter(mbps)) if *mbps > 0 => Some(*mbps as f64 * 1e6),
            _ => match poll.columns.get("ifSpeed").and_then(|m| m.get(&index)) {
                Some(Walked::Counter(bps)) if *bps > 0 && *bps < u32::MAX as u64 => {
                    Some(*bps as f64)
                }
                _ => None,
            },
        };
        let busiest = out
            .iter()
            .filter(|(n, _)| n.ends_with("bits_per_second"))
            .map(|(_, v)| *v)
            .fold(None, |acc: Option<f64>, v| {
                Some(acc.map_or(v, |a| a.max(v)))
            });
        if let (Some(speed), Some(bits)) = (speed_bps, busiest) {
            out.push(("if_utilisation_ratio", bits / speed));
        }
        out
    }
}

/// Polls every device of the jobs forever; samples go to `sink`.
pub fn spawn(
    jobs: &[SnmpConfig],
    default_tenant: &str,
    stores: std::sync::Arc<crate::Stores>,
    health: crate::scrape::Health,
) {
    for job in jobs {
        tracing::info!(job = %job.job, devices = job.targets.len(), version = %job.version, "SNMP polling");
        for target in &job.targets {
            let tenant = job
                .tenant
                .clone()
                .unwrap_or_else(|| default_tenant.to_string());
            let mut device = Device::new(job.clone(), target.clone(), tenant);
            let (stores, health) = (stores.clone(), health.clone());
            let every = Duration::from_secs(job.interval_secs.max(1));
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    poll_once(&mut device, &stores, &health).await;
                }
            });
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub async fn poll_once(
    device: &mut Device,
    stores: &std::sync::Arc<crate::Stores>,
    health: &crate::scrape::Health,
) {
    let started = Instant::now();
    let t = now_ms();
    let result = device.poll().await;
    let duration = started.elapsed().as_secs_f64();
    let batch = device.samples(result.as_ref().ok(), t, duration);
    let interfaces = result.as_ref().map_or(0, |p| {
        p.columns.get("ifOperStatus").map_or(0, BTreeMap::len)
    });
    let (stores2, tenant) = (stores.clone(), device.tenant.clone());
    let stored = tokio::task::spawn_blocking(move || stores2.append(&tenant, &batch)).await;
    let error = match (&result, stored) {
        (Err(e), _) => e.clone(),
        (_, Ok(Err(e))) => e.to_string(),
        _ => String::new(),
    };
    if !error.is_empty() {
        tracing::warn!(device = %device.instance, %error, "snmp poll");
    }
    if let Ok(mut h) = health.lock() {
        h.insert(
            (device.config.job.clone(), device.instance.clone()),
            crate::scrape::TargetHealth {
                job: device.config.job.clone(),
                instance: device.instance.clone(),
                url: format!("snmp://{}", device.address),
                tenant: device.tenant.clone(),
                health: if result.is_ok() { "up" } else { "down" }.into(),
                last_error: error,
                last_scrape_ms: t,
                last_scrape_duration_secs: duration,
                samples: interfaces,
                bad_lines: 0,
            },
        );
    }
}

/// A received trap or inform, decoded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trap {
    pub version: String,
    /// The community (v1/v2c) or user (v3) it came with.
    pub principal: String,
    pub inform: bool,
    /// `snmpTrapOID.0` (v2c/v3) or the enterprise and codes (v1).
    pub trap_oid: String,
    /// A name for well-known traps (`linkDown`, `linkUp`, `coldStart`, ...).
    pub trap_name: Option<String>,
    pub uptime_ticks: Option<u64>,
    /// Other variables as (OID, value).
    pub varbinds: Vec<(String, String)>,
    /// `ifIndex`, `ifName`/`ifDescr` when the trap names an interface.
    pub if_index: Option<u64>,
    pub if_name: Option<String>,
}

fn trap_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "1.3.6.1.6.3.1.1.5.1" => "coldStart",
        "1.3.6.1.6.3.1.1.5.2" => "warmStart",
        "1.3.6.1.6.3.1.1.5.3" => "linkDown",
        "1.3.6.1.6.3.1.1.5.4" => "linkUp",
        "1.3.6.1.6.3.1.1.5.5" => "authenticationFailure",
        "1.3.6.1.2.1.15.7.1" => "bgpEstablished",
        "1.3.6.1.2.1.15.7.2" => "bgpBackwardTransition",
        _ => return None,
    })
}

fn walked_text(v: &Option<Walked>) -> String {
    match v {
        Some(Walked::Number(n)) => n.to_string(),
        Some(Walked::Counter(n)) => n.to_string(),
        Some(Walked::Text(s)) => s.clone(),
        None => String::new(),
    }
}

/// Decodes a trap or inform. v1/v2c need one of `communities`; v3 needs a
/// user of `users` (the sender's engine id in its security).
pub fn decode_trap(
    bytes: &[u8],
    communities: &[String],
    users: &mut [v3::Security],
) -> Result<Trap, String> {
    if bytes.len() < 8 {
        return Err("too short for an SNMP message".into());
    }
    // Try without security first (v1/v2c); v3 with each user in turn.
    let pdu = match snmp2::Pdu::from_bytes(bytes) {
        Ok(p) => p,
        Err(plain_err) => {
            let mut found = None;
            for user in users.iter_mut() {
                let mut candidate = user.clone();
                if let Ok(p) = snmp2::Pdu::from_bytes_with_security(bytes, Some(&mut candidate)) {
                    found = Some(trap_from_pdu(
                        &p,
                        String::from_utf8_lossy(user.username()).into_owned(),
                        "3",
                    )?);
                    break;
                }
            }
            return found.ok_or_else(|| {
                format!("not a v1/v2c trap ({plain_err:?}) nor a v3 trap of a known user")
            });
        }
    };
    let community = String::from_utf8_lossy(pdu.community).into_owned();
    if !communities.contains(&community) {
        return Err(format!("community {community:?} is not accepted"));
    }
    let version = match pdu.version() {
        Ok(snmp2::Version::V1) => "1",
        Ok(snmp2::Version::V3) => "3",
        _ => "2c",
    };
    trap_from_pdu(&pdu, community, version)
}

fn trap_from_pdu(pdu: &snmp2::Pdu, principal: String, version: &str) -> Result<Trap, String> {
    let inform = pdu.message_type == snmp2::MessageType::InformRequest;
    if !matches!(
        pdu.message_type,
        snmp2::MessageType::Trap | snmp2::MessageType::TrapV1 | snmp2::MessageType::InformRequest
    ) {
        return Err(format!("not a trap: {:?}", pdu.message_type));
    }
    let mut trap = Trap {
        version: version.into(),
        principal,
        inform,
        trap_oid: String::new(),
        trap_name: None,
        uptime_ticks: None,
        varbinds: Vec::new(),
        if_index: None,
        if_name: None,
    };
    if let Some(v1) = &pdu.v1_trap_info {
        trap.uptime_ticks = Some(v1.timestamp as u64);
        trap.trap_oid = if v1.generic_trap < 6 {
            format!("1.3.6.1.6.3.1.1.5.{}", v1.generic_trap + 1)
        } else {
            format!(
                "{}.0.{}",
                oid_text(&oid_parts(&v1.enterprise)),
                v1.specific_trap
            )
        };
    }
    for (oid, value) in pdu.varbinds.clone() {
        let parts = oid_parts(&oid);
        let text = oid_text(&parts);
        let v = walked(&value);
        match text.as_str() {
            "1.3.6.1.2.1.1.3.0" => {
                trap.uptime_ticks = v.as_ref().and_then(|w| {
                    if let Walked::Counter(n) = w {
                        Some(*n)
                    } else {
                        None
                    }
                })
            }
            "1.3.6.1.6.3.1.1.4.1.0" => trap.trap_oid = walked_text(&v),
            _ => {
                if text.starts_with("1.3.6.1.2.1.2.2.1.1.") {
                    trap.if_index = parts.last().copied();
                }
                if text.starts_with("1.3.6.1.2.1.31.1.1.1.1.")
                    || (trap.if_name.is_none() && text.starts_with("1.3.6.1.2.1.2.2.1.2."))
                {
                    trap.if_name = Some(walked_text(&v));
                }
                trap.varbinds.push((text, walked_text(&v)));
            }
        }
    }
    if trap.if_index.is_none() && trap_name(&trap.trap_oid).is_some_and(|n| n.starts_with("link")) {
        // linkDown/linkUp carry ifIndex.N as the instance of their varbinds.
        trap.if_index = trap.varbinds.iter().find_map(|(o, _)| {
            o.starts_with("1.3.6.1.2.1.2.2.1.")
                .then(|| o.rsplit('.').next().and_then(|i| i.parse().ok()))
                .flatten()
        });
    }
    trap.trap_name = trap_name(&trap.trap_oid).map(str::to_string);
    Ok(trap)
}

/// A v3 inform the receiver's engine opened ([`crate::usm::Handled::Inform`]).
pub fn decode_v3_inform(wrapped: &[u8], user: &str) -> Result<Trap, String> {
    let pdu = snmp2::Pdu::from_bytes(wrapped).map_err(|e| format!("{e:?}"))?;
    trap_from_pdu(&pdu, user.to_string(), "3")
}

/// The answer to an inform: the same PDU as a Response.
pub fn inform_response(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut pdu = snmp2::Pdu::from_bytes(bytes).ok()?;
    if pdu.message_type != snmp2::MessageType::InformRequest {
        return None;
    }
    pdu.message_type = snmp2::MessageType::Response;
    pdu.to_bytes().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_with(counters: &[(&'static str, u64)], uptime: u64) -> Poll {
        let mut p = Poll {
            uptime_ticks: Some(uptime),
            ..Poll::default()
        };
        for &(name, v) in counters {
            p.columns
                .entry(name)
                .or_default()
                .insert(1, Walked::Counter(v));
        }
        p.columns
            .entry("ifName")
            .or_default()
            .insert(1, Walked::Text("eth0".into()));
        p.columns
            .entry("ifHighSpeed")
            .or_default()
            .insert(1, Walked::Counter(1000));
        p
    }

    fn value(batch: &[SeriesSamples], name: &str) -> Option<f64> {
        batch
            .iter()
            .find(|s| {
                s.labels.metric_name() == Some(name) && !watchfloor_tsdb::is_stale(s.samples[0].1)
            })
            .map(|s| s.samples[0].1)
    }

    #[test]
    fn wraps_are_undone_restarts_give_no_rate_and_utilisation_uses_the_speed() {
        let mut d = Device::new(
            SnmpConfig {
                targets: vec!["r1".into()],
                ..SnmpConfig::default()
            },
            "r1".into(),
            "t".into(),
        );
        assert_eq!(d.address, "r1:161");
        let b = d.samples(
            Some(&poll_with(
                &[("ifInOctets", u32::MAX as u64 - 999), ("ifHCOutOctets", 0)],
                100,
            )),
            0,
            0.1,
        );
        assert_eq!(
            value(&b, "if_in_bits_per_second"),
            None,
            "no rate on the first poll"
        );
        // The 32-bit counter wrapped: 1000 + 1000 octets in 10 s.
        let b = d.samples(
            Some(&poll_with(
                &[("ifInOctets", 1000), ("ifHCOutOctets", 125_000_000)],
                1100,
            )),
            10_000,
            0.1,
        );
        assert_eq!(
            value(&b, "if_in_bits_per_second"),
            Some(2000.0 * 8.0 / 10.0)
        );
        assert_eq!(value(&b, "if_out_bits_per_second"), Some(100_000_000.0));
        assert_eq!(value(&b, "if_utilisation_ratio"), Some(0.1));
        assert_eq!(value(&b, "ifHighSpeed"), Some(1000.0));
        // The agent restarted (uptime went back): counters are new.
        let b = d.samples(
            Some(&poll_with(&[("ifInOctets", 10), ("ifHCOutOctets", 5)], 50)),
            20_000,
            0.1,
        );
        assert_eq!(value(&b, "if_out_bits_per_second"), None);
        // A 64-bit counter going back without a restart is a reset, not a wrap.
        let b = d.samples(
            Some(&poll_with(&[("ifInOctets", 20), ("ifHCOutOctets", 1)], 60)),
            30_000,
            0.1,
        );
        assert_eq!(value(&b, "if_out_bits_per_second"), None);
        let down = d.samples(None, 40_000, 5.0);
        assert_eq!(value(&down, "up"), Some(0.0));
        assert!(down
            .iter()
            .any(|s| s.labels.metric_name() == Some("ifHCOutOctets")
                && watchfloor_tsdb::is_stale(s.samples[0].1)));
    }

    #[test]
    fn garbage_is_not_a_trap() {
        assert!(decode_trap(b"", &["public".into()], &mut []).is_err());
        assert!(decode_trap(&[0x30, 0x03, 0x02, 0x01, 0x05], &["public".into()], &mut []).is_err());
    }
}
