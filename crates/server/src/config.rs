//! The configuration file (TOML). Every option has a default, so no file is
//! needed. Checking reports every problem at once, each with its line and
//! column: unknown keys, wrong types, values out of range, addresses that
//! do not parse, certificate files that are missing.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml_edit::{Document, Item, Table};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Tenant of events from sources that do not name one.
    pub tenant: String,
    pub log_level: String,
    pub http: HttpConfig,
    pub syslog: SyslogConfig,
    pub rules: RulesConfig,
    pub store: StoreConfig,
    pub wal: WalConfig,
    pub pipeline: PipelineConfig,
    pub incidents: IncidentsConfig,
    pub notify: NotifyConfig,
    pub files: Vec<FileConfig>,
    pub monitor: MonitorConfig,
    /// `[[checks]]`: availability checks (see docs/MONITORING.md).
    pub checks: Vec<serde_json::Value>,
    /// The checks, read and validated.
    #[serde(skip)]
    pub monitors: Vec<watchfloor_monitor::MonitorSpec>,
}

/// The check scheduler and the retention of its results.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Checks running at the same time, at most.
    pub max_concurrent: u64,
    /// Raw results are kept this long, then rolled up into hours.
    pub raw_retention_days: u64,
    /// Hourly rollups are kept this long.
    pub rollup_retention_days: u64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            max_concurrent: 1000,
            raw_retention_days: 7,
            rollup_retention_days: 400,
        }
    }
}

/// Sending notifications: the address in acknowledge links, the SMTP
/// relay for email, and retries.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// The base URL users reach this server at (acknowledge links); by
    /// default `http://` (or `https://`) and `[http] listen`.
    pub public_url: Option<String>,
    /// SMTP relay host; email is off while it is empty.
    pub smtp_host: String,
    pub smtp_port: u64,
    /// `none` (plain, for a local relay), `starttls` or `tls`.
    pub smtp_security: String,
    pub smtp_from: String,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    /// Attempts per message before it is marked failed.
    pub max_attempts: u64,
    /// Per attempt.
    pub timeout_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            public_url: None,
            smtp_host: String::new(),
            smtp_port: 25,
            smtp_security: "none".into(),
            smtp_from: "watchfloor@localhost".into(),
            smtp_username: None,
            smtp_password: None,
            max_attempts: 8,
            timeout_secs: 10,
        }
    }
}

/// Alerts to incidents: grouping windows, SLA targets, the priority matrix.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentsConfig {
    /// A repeat of the same rule on the same entities within this time
    /// raises a count instead of adding an alert.
    pub dedup_window_secs: u64,
    /// Alerts sharing an entity with an incident active within this time join it.
    pub group_window_secs: u64,
    /// Distinct alerts one incident takes.
    pub max_alerts: u64,
    /// Per priority 1..5, minutes to acknowledge and to resolve.
    pub sla_acknowledge_minutes: Vec<u64>,
    pub sla_resolve_minutes: Vec<u64>,
    /// Warn when this share of an SLA target is used up.
    pub sla_warn_percent: u64,
    /// Impact rows (high, medium, low) by urgency columns (high, medium,
    /// low), nine priorities 1..5.
    pub priority_matrix: Vec<u64>,
    /// A YAML or JSON incident type catalog (types and RACI matrices)
    /// replacing the shipped one (`watchfloor config catalog` prints it).
    pub catalog_file: Option<PathBuf>,
    /// The catalog read from `catalog_file`.
    #[serde(skip)]
    pub catalog: Option<watchfloor_incident::Catalog>,
}

impl Default for IncidentsConfig {
    fn default() -> Self {
        let d = watchfloor_incident::IncidentConfig::default();
        IncidentsConfig {
            dedup_window_secs: d.grouping.dedup_window.as_secs(),
            group_window_secs: d.grouping.group_window.as_secs(),
            max_alerts: d.grouping.max_alerts as u64,
            sla_acknowledge_minutes: d.sla.targets.iter().map(|t| t.acknowledge_s / 60).collect(),
            sla_resolve_minutes: d.sla.targets.iter().map(|t| t.resolve_s / 60).collect(),
            sla_warn_percent: (d.sla.warn_ratio * 100.0).round() as u64,
            priority_matrix: d
                .priority
                .cells
                .iter()
                .flatten()
                .map(|&p| u64::from(p))
                .collect(),
            catalog_file: None,
            catalog: None,
        }
    }
}

impl IncidentsConfig {
    /// The incident crate's configuration (lists already checked for length).
    pub fn to_incident_config(&self) -> watchfloor_incident::IncidentConfig {
        let mut c = watchfloor_incident::IncidentConfig::default();
        c.grouping.dedup_window = Duration::from_secs(self.dedup_window_secs);
        c.grouping.group_window = Duration::from_secs(self.group_window_secs);
        c.grouping.max_alerts = self.max_alerts as usize;
        for (i, t) in c.sla.targets.iter_mut().enumerate() {
            if let (Some(a), Some(r)) = (
                self.sla_acknowledge_minutes.get(i),
                self.sla_resolve_minutes.get(i),
            ) {
                t.acknowledge_s = a * 60;
                t.resolve_s = r * 60;
            }
        }
        c.sla.warn_ratio = self.sla_warn_percent as f64 / 100.0;
        for (n, p) in self.priority_matrix.iter().take(9).enumerate() {
            c.priority.cells[n / 3][n % 3] = *p as u8;
        }
        if let Some(catalog) = &self.catalog {
            c.catalog = catalog.clone();
        }
        c
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    /// PEM files; both set turns on HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Largest request body as sent (compressed or not).
    pub max_body_bytes: u64,
    /// Largest body after gzip decoding (a bomb stops here).
    pub max_decoded_bytes: u64,
    /// Largest single event in an ingest body.
    pub max_event_bytes: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SyslogConfig {
    /// Listen addresses; an empty string turns a receiver off.
    pub udp: String,
    pub tcp: String,
    pub tls: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_message_bytes: u64,
    pub idle_timeout_secs: u64,
    pub frame_timeout_secs: u64,
    pub max_connections: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files or directories (for example a SigmaHQ clone's `rules/`).
    pub paths: Vec<PathBuf>,
    /// Load the rules that ship inside the binary.
    pub starter: bool,
    pub max_correlation_groups: u64,
    pub max_correlation_entries: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    pub bucket_hours: u64,
    /// 0 keeps events forever.
    pub retention_days: u64,
    /// 0 sets no size limit.
    pub max_bytes: u64,
    pub writer_memory_mb: u64,
    pub writer_threads: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WalConfig {
    pub segment_mb: u64,
    /// Received but unprocessed events beyond which sources are pushed back.
    pub max_unprocessed: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    pub commit_interval_ms: u64,
}

/// A file to follow.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub path: PathBuf,
    /// `syslog` (one message per line) or `json` (one object per line).
    pub format: String,
    pub tenant: Option<String>,
    /// Where to begin the first time: `end` (default) or `beginning`.
    pub start_at: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./watchfloor-data"),
            tenant: "default".into(),
            log_level: "info".into(),
            http: HttpConfig::default(),
            syslog: SyslogConfig::default(),
            rules: RulesConfig::default(),
            store: StoreConfig::default(),
            wal: WalConfig::default(),
            pipeline: PipelineConfig::default(),
            incidents: IncidentsConfig::default(),
            notify: NotifyConfig::default(),
            monitor: MonitorConfig::default(),
            checks: Vec::new(),
            monitors: Vec::new(),
            files: Vec::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            tls_cert: None,
            tls_key: None,
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 256 << 20,
            max_event_bytes: 1 << 20,
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            udp: "0.0.0.0:5514".into(),
            tcp: "0.0.0.0:5514".into(),
            tls: String::new(),
            tls_cert: None,
            tls_key: None,
            max_message_bytes: 64 * 1024,
            idle_timeout_secs: 3600,
            frame_timeout_secs: 30,
            max_connections: 1024,
        }
    }
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            paths: Vec::new(),
            starter: true,
            max_correlation_groups: 100_000,
            max_correlation_entries: 10_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            bucket_hours: 24,
            retention_days: 30,
            max_bytes: 0,
            writer_memory_mb: 64,
            writer_threads: 2,
        }
    }
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            segment_mb: 64,
            max_unprocessed: 1_000_000,
        }
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            commit_interval_ms: 1000,
        }
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            path: PathBuf::new(),
            format: "syslog".into(),
            tenant: None,
            start_at: "end".into(),
        }
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// All problems of a file, printed one per line as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}:{}: {}", self.file, p.line, p.column, p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Clone, Copy)]
enum Ty {
    Str,
    /// A socket address, or "" for off.
    Addr,
    Path,
    /// An existing file.
    File,
    UInt {
        min: i64,
        max: i64,
    },
    Bool,
    PathList,
    /// An array of exactly `len` integers in `min..=max`.
    UIntList {
        len: usize,
        min: i64,
        max: i64,
    },
    OneOf(&'static [&'static str]),
}

const TOP: &[(&str, Ty)] = &[
    ("data_dir", Ty::Path),
    ("tenant", Ty::Str),
    (
        "log_level",
        Ty::OneOf(&["error", "warn", "info", "debug", "trace"]),
    ),
];
const HTTP: &[(&str, Ty)] = &[
    ("listen", Ty::Addr),
    ("tls_cert", Ty::File),
    ("tls_key", Ty::File),
    (
        "max_body_bytes",
        Ty::UInt {
            min: 1024,
            max: 1 << 34,
        },
    ),
    (
        "max_decoded_bytes",
        Ty::UInt {
            min: 1024,
            max: 1 << 36,
        },
    ),
    (
        "max_event_bytes",
        Ty::UInt {
            min: 256,
            max: 1 << 28,
        },
    ),
];
const SYSLOG: &[(&str, Ty)] = &[
    ("udp", Ty::Addr),
    ("tcp", Ty::Addr),
    ("tls", Ty::Addr),
    ("tls_cert", Ty::File),
    ("tls_key", Ty::File),
    (
        "max_message_bytes",
        Ty::UInt {
            min: 64,
            max: 64 << 20,
        },
    ),
    (
        "idle_timeout_secs",
        Ty::UInt {
            min: 1,
            max: 7 * 86_400,
        },
    ),
    (
        "frame_timeout_secs",
        Ty::UInt {
            min: 1,
            max: 86_400,
        },
    ),
    (
        "max_connections",
        Ty::UInt {
            min: 1,
            max: 1_000_000,
        },
    ),
];
const RULES: &[(&str, Ty)] = &[
    ("paths", Ty::PathList),
    ("starter", Ty::Bool),
    (
        "max_correlation_groups",
        Ty::UInt {
            min: 1,
            max: 100_000_000,
        },
    ),
    (
        "max_correlation_entries",
        Ty::UInt {
            min: 1,
            max: 100_000_000,
        },
    ),
];
const STORE: &[(&str, Ty)] = &[
    (
        "bucket_hours",
        Ty::UInt {
            min: 1,
            max: 24 * 366,
        },
    ),
    (
        "retention_days",
        Ty::UInt {
            min: 0,
            max: 100 * 366,
        },
    ),
    (
        "max_bytes",
        Ty::UInt {
            min: 0,
            max: i64::MAX,
        },
    ),
    (
        "writer_memory_mb",
        Ty::UInt {
            min: 16,
            max: 65_536,
        },
    ),
    ("writer_threads", Ty::UInt { min: 1, max: 64 }),
];
const WAL: &[(&str, Ty)] = &[
    ("segment_mb", Ty::UInt { min: 1, max: 4096 }),
    (
        "max_unprocessed",
        Ty::UInt {
            min: 1000,
            max: 1 << 40,
        },
    ),
];
const PIPELINE: &[(&str, Ty)] = &[(
    "commit_interval_ms",
    Ty::UInt {
        min: 10,
        max: 600_000,
    },
)];
const FILES: &[(&str, Ty)] = &[
    ("path", Ty::Path),
    ("format", Ty::OneOf(&["syslog", "json"])),
    ("tenant", Ty::Str),
    ("start_at", Ty::OneOf(&["end", "beginning"])),
];
const INCIDENTS: &[(&str, Ty)] = &[
    (
        "dedup_window_secs",
        Ty::UInt {
            min: 0,
            max: 30 * 86_400,
        },
    ),
    (
        "group_window_secs",
        Ty::UInt {
            min: 0,
            max: 30 * 86_400,
        },
    ),
    (
        "max_alerts",
        Ty::UInt {
            min: 1,
            max: 100_000,
        },
    ),
    (
        "sla_acknowledge_minutes",
        Ty::UIntList {
            len: 5,
            min: 1,
            max: 366 * 1440,
        },
    ),
    (
        "sla_resolve_minutes",
        Ty::UIntList {
            len: 5,
            min: 1,
            max: 366 * 1440,
        },
    ),
    ("sla_warn_percent", Ty::UInt { min: 1, max: 99 }),
    (
        "priority_matrix",
        Ty::UIntList {
            len: 9,
            min: 1,
            max: 5,
        },
    ),
    ("catalog_file", Ty::File),
];
const NOTIFY: &[(&str, Ty)] = &[
    ("public_url", Ty::Str),
    ("smtp_host", Ty::Str),
    (
        "smtp_port",
        Ty::UInt {
            min: 1,
            max: 65_535,
        },
    ),
    ("smtp_security", Ty::OneOf(&["none", "starttls", "tls"])),
    ("smtp_from", Ty::Str),
    ("smtp_username", Ty::Str),
    ("smtp_password", Ty::Str),
    ("max_attempts", Ty::UInt { min: 1, max: 100 }),
    ("timeout_secs", Ty::UInt { min: 1, max: 300 }),
];
const MONITOR: &[(&str, Ty)] = &[
    (
        "max_concurrent",
        Ty::UInt {
            min: 1,
            max: 100_000,
        },
    ),
    ("raw_retention_days", Ty::UInt { min: 1, max: 3660 }),
    (
        "rollup_retention_days",
        Ty::UInt {
            min: 1,
            max: 36_600,
        },
    ),
];
const TABLES: &[(&str, &[(&str, Ty)])] = &[
    ("http", HTTP),
    ("syslog", SYSLOG),
    ("rules", RULES),
    ("store", STORE),
    ("wal", WAL),
    ("pipeline", PIPELINE),
    ("incidents", INCIDENTS),
    ("notify", NOTIFY),
    ("monitor", MONITOR),
];

struct Checker<'a> {
    text: &'a str,
    /// Relative paths are checked against the config file's directory.
    base: &'a Path,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn problem(&mut self, span: Option<Range<usize>>, message: String) {
        let at = span.map_or(0, |s| s.start).min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = at - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        self.problems.push(Problem {
            line,
            column,
            message,
        });
    }

    fn table(&mut self, table: &Table, name: &str, schema: &[(&str, Ty)]) {
        for (key, item) in table.iter() {
            let span = table
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span());
            let Some((_, ty)) = schema.iter().find(|(k, _)| *k == key) else {
                let known: Vec<&str> = schema.iter().map(|(k, _)| *k).collect();
                let place = if name.is_empty() {
                    "at the top level".to_string()
                } else {
                    format!("in [{name}]")
                };
                self.problem(
                    span,
                    format!("unknown key `{key}` {place} (known: {})", known.join(", ")),
                );
                continue;
            };
            let full = if name.is_empty() {
                key.to_string()
            } else {
                format!("{name}.{key}")
            };
            self.value(item, &full, *ty);
        }
    }

    fn value(&mut self, item: &Item, key: &str, ty: Ty) {
        let span = item.span();
        let Some(v) = item.as_value() else {
            self.problem(span, format!("`{key}` must be a value, not a table"));
            return;
        };
        let span = v.span().or(span);
        match ty {
            Ty::Str | Ty::Path | Ty::OneOf(_) | Ty::Addr | Ty::File => {
                let Some(s) = v.as_str() else {
                    self.problem(span, format!("`{key}` must be a string"));
                    return;
                };
                self.string(s, key, ty, span);
            }
            Ty::UInt { min, max } => match v.as_integer() {
                Some(n) if n >= min && n <= max => {}
                Some(n) => {
                    self.problem(span, format!("`{key}` = {n} is out of range {min}..={max}"))
                }
                None => self.problem(span, format!("`{key}` must be an integer")),
            },
            Ty::Bool => {
                if v.as_bool().is_none() {
                    self.problem(span, format!("`{key}` must be true or false"));
                }
            }
            Ty::PathList => match v.as_array() {
                Some(items) => {
                    for it in items.iter() {
                        match it.as_str() {
                            Some(p) if !self.resolve(p).exists() => self.problem(
                                it.span(),
                                format!("`{key}`: {p}: no such file or directory"),
                            ),
                            Some(_) => {}
                            None => self.problem(it.span(), format!("`{key}` must list strings")),
                        }
                    }
                }
                None => self.problem(span, format!("`{key}` must be an array of paths")),
            },
            Ty::UIntList { len, min, max } => {
                let ok = v.as_array().filter(|a| a.len() == len).is_some_and(|a| {
                    a.iter()
                        .all(|x| x.as_integer().is_some_and(|n| n >= min && n <= max))
                });
                if !ok {
                    self.problem(
                        span,
                        format!("`{key}` must be an array of {len} integers in {min}..={max}"),
                    );
                }
            }
        }
    }

    fn string(&mut self, s: &str, key: &str, ty: Ty, span: Option<Range<usize>>) {
        match ty {
            Ty::OneOf(options) if !options.contains(&s) => {
                self.problem(
                    span,
                    format!("`{key}` = {s:?} must be one of: {}", options.join(", ")),
                );
            }
            Ty::Addr if !s.is_empty() && s.parse::<SocketAddr>().is_err() => {
                self.problem(
                    span,
                    format!("`{key}` = {s:?} is not an address like 0.0.0.0:5514"),
                );
            }
            Ty::File if !self.resolve(s).is_file() => {
                self.problem(span, format!("`{key}`: {s}: no such file"));
            }
            Ty::Str | Ty::Path if s.trim().is_empty() => {
                self.problem(span, format!("`{key}` must not be empty"));
            }
            _ => {}
        }
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    fn document(&mut self, root: &Table) {
        for (key, item) in root.iter() {
            let span = root.key(key).and_then(|k| k.span());
            if let Some((name, schema)) = TABLES.iter().find(|(n, _)| *n == key) {
                match item.as_table() {
                    Some(t) => self.table(t, name, schema),
                    None => self.problem(span, format!("`{key}` must be a table ([{key}])")),
                }
            } else if key == "checks" {
                // Each check is read and checked whole after parsing.
                if item.as_array_of_tables().is_none() {
                    self.problem(
                        span,
                        "`checks` must be an array of tables ([[checks]])".into(),
                    );
                }
            } else if key == "files" {
                match item.as_array_of_tables() {
                    Some(files) => {
                        for (i, t) in files.iter().enumerate() {
                            if !t.contains_key("path") {
                                self.problem(
                                    t.span(),
                                    format!("[[files]] entry {} has no `path`", i + 1),
                                );
                            }
                            self.table(t, "files", FILES);
                        }
                    }
                    None => self.problem(
                        span,
                        "`files` must be an array of tables ([[files]])".into(),
                    ),
                }
            } else {
                if let Some((_, ty)) = TOP.iter().find(|(k, _)| *k == key) {
                    self.value(item, key, *ty);
                } else {
                    let known: Vec<&str> = TOP
                        .iter()
                        .map(|(k, _)| *k)
                        .chain(TABLES.iter().map(|(n, _)| *n))
                        .chain(["files", "checks"])
                        .collect();
                    self.problem(
                        span,
                        format!(
                            "unknown key `{key}` at the top level (known: {})",
                            known.join(", ")
                        ),
                    );
                }
            }
        }
    }

    fn pairs(&mut self, cfg: &Config) {
        let pairs = [
            (
                "http",
                cfg.http.tls_cert.is_some(),
                cfg.http.tls_key.is_some(),
            ),
            (
                "syslog",
                cfg.syslog.tls_cert.is_some(),
                cfg.syslog.tls_key.is_some(),
            ),
        ];
        for (table, cert, key) in pairs {
            if cert != key {
                self.problem(
                    None,
                    format!("[{table}] needs both `tls_cert` and `tls_key`, or neither"),
                );
            }
        }
        let sla = &cfg.incidents;
        for (p, (a, r)) in sla
            .sla_acknowledge_minutes
            .iter()
            .zip(&sla.sla_resolve_minutes)
            .enumerate()
        {
            if a > r {
                self.problem(
                    None,
                    format!(
                        "[incidents] priority {}: acknowledge target {a} min is after the resolve target {r} min",
                        p + 1
                    ),
                );
            }
        }
        if !cfg.syslog.tls.is_empty() && cfg.syslog.tls_cert.is_none() {
            self.problem(
                None,
                "[syslog] `tls` listens for TLS and needs `tls_cert` and `tls_key`".into(),
            );
        }
    }
}

/// Reads `[[checks]]`; every problem of every check, each naming it.
fn read_checks(
    tables: &[serde_json::Value],
) -> Result<Vec<watchfloor_monitor::MonitorSpec>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, v) in tables.iter().enumerate() {
        let label = match v.get("name").and_then(|n| n.as_str()) {
            Some(n) => format!("[[checks]] {} ({n})", i + 1),
            None => format!("[[checks]] {}", i + 1),
        };
        match serde_json::from_value::<watchfloor_monitor::MonitorSpec>(v.clone()) {
            Ok(spec) => {
                problems.extend(spec.problems().into_iter().map(|p| format!("{label}: {p}")));
                if out
                    .iter()
                    .any(|o: &watchfloor_monitor::MonitorSpec| o.name == spec.name)
                {
                    problems.push(format!("{label}: the name is used twice"));
                }
                out.push(spec);
            }
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Reads an incident type catalog; every problem in it.
fn load_catalog(path: &Path) -> Result<watchfloor_incident::Catalog, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![e.to_string()])?;
    watchfloor_incident::Catalog::from_yaml(&text)
}

impl Config {
    /// Parses and checks a configuration text; `file` names it in errors
    /// and relative paths in it are taken from `base`.
    pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigErrors> {
        let fail = |problems| ConfigErrors {
            file: file.into(),
            problems,
        };
        let doc = match Document::parse(text.to_string()) {
            Ok(d) => d,
            Err(e) => {
                let mut c = Checker {
                    text,
                    base,
                    problems: Vec::new(),
                };
                c.problem(e.span(), e.message().to_string());
                return Err(fail(c.problems));
            }
        };
        let mut checker = Checker {
            text,
            base,
            problems: Vec::new(),
        };
        checker.document(doc.as_table());
        if !checker.problems.is_empty() {
            return Err(fail(checker.problems));
        }
        let mut cfg: Config = match toml_edit::de::from_document(doc) {
            Ok(c) => c,
            Err(e) => {
                checker.problem(e.span(), e.message().to_string());
                return Err(fail(checker.problems));
            }
        };
        checker.pairs(&cfg);
        if !checker.problems.is_empty() {
            return Err(fail(checker.problems));
        }
        cfg.resolve_paths(base);
        let monitors = read_checks(&cfg.checks);
        match monitors {
            Ok(m) => cfg.monitors = m,
            Err(problems) => {
                for p in problems {
                    checker.problem(None, p);
                }
                return Err(fail(checker.problems));
            }
        }
        if let Some(path) = cfg.incidents.catalog_file.clone() {
            match load_catalog(&path) {
                Ok(c) => cfg.incidents.catalog = Some(c),
                Err(problems) => {
                    for p in problems {
                        checker.problem(
                            None,
                            format!("[incidents] catalog_file {}: {p}", path.display()),
                        );
                    }
                    return Err(fail(checker.problems));
                }
            }
        }
        Ok(cfg)
    }

    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            file: file.clone(),
            problems: vec![Problem {
                line: 0,
                column: 0,
                message: e.to_string(),
            }],
        })?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Config::parse(&text, &file, base)
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() && base != Path::new(".") {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data_dir);
        for p in &mut self.rules.paths {
            fix(p);
        }
        for p in [
            &mut self.http.tls_cert,
            &mut self.http.tls_key,
            &mut self.syslog.tls_cert,
            &mut self.syslog.tls_key,
            &mut self.incidents.catalog_file,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for f in &mut self.files {
            fix(&mut f.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match Config::parse(text, "wf.toml", Path::new("/nonexistent-base")) {
            Ok(_) => Vec::new(),
            Err(e) => e.to_string().lines().map(String::from).collect(),
        }
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(
            Config::parse("", "x", Path::new(".")).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let text = "tenant = 5\nbogus = 1\n[http]\nlisten = \"nowhere\"\nmax_body_bytes = -1\n[syslog]\nudp = \"\"\nmax_conections = 3\n[rules]\npaths = [\"/no/such/dir\"]\nstarter = \"yes\"\n[[files]]\nformat = \"xml\"\n";
        let got = problems(text);
        let want = [
            "wf.toml:1:10: `tenant` must be a string",
            "wf.toml:2:1: unknown key `bogus` at the top level",
            "wf.toml:4:10: `http.listen` = \"nowhere\" is not an address",
            "wf.toml:5:18: `http.max_body_bytes` = -1 is out of range",
            "wf.toml:8:1: unknown key `max_conections` in [syslog]",
            "wf.toml:10:10: `rules.paths`: /no/such/dir: no such file or directory",
            "wf.toml:11:11: `rules.starter` must be true or false",
            "[[files]] entry 1 has no `path`",
            "`files.format` = \"xml\" must be one of: syslog, json",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for w in want {
            assert!(
                got.iter().any(|g| g.contains(w)),
                "missing {w:?} in {got:#?}"
            );
        }
    }

    #[test]
    fn syntax_errors_have_a_place_too() {
        let got = problems("[http\nlisten = 1");
        assert_eq!(got.len(), 1);
        assert!(got[0].starts_with("wf.toml:1:"), "{got:?}");
    }

    #[test]
    fn a_file_that_once_crashed_the_toml_parser_is_an_error() {
        // Found by `cargo fuzz run query`: toml_edit 0.23 panicked on it.
        assert_eq!(problems("==\n.=").len(), 1);
    }

    #[test]
    fn tls_needs_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.pem"), "x").unwrap();
        let text = "[syslog]\ntls = \"0.0.0.0:6514\"\ntls_cert = \"c.pem\"\n";
        let err = Config::parse(text, "wf.toml", dir.path()).unwrap_err();
        assert!(err.to_string().contains("needs both"), "{err}");
    }

    #[test]
    fn a_catalog_file_replaces_the_types_and_its_problems_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = watchfloor_incident::Catalog::default();
        catalog.types[0].raci[0].task = "Call the CISO".into();
        std::fs::write(dir.path().join("types.yaml"), catalog.to_yaml()).unwrap();
        let cfg = Config::parse(
            "[incidents]\ncatalog_file = \"types.yaml\"\n",
            "wf.toml",
            dir.path(),
        )
        .unwrap();
        let types = cfg.incidents.to_incident_config().catalog;
        assert_eq!(types.types[0].raci[0].task, "Call the CISO");
        std::fs::write(dir.path().join("bad.yaml"), "types: []\n").unwrap();
        let err = Config::parse(
            "[incidents]\ncatalog_file = \"bad.yaml\"\n",
            "wf.toml",
            dir.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("the catalog is empty"), "{err}");
    }

    #[test]
    fn checks_are_read_and_every_problem_named() {
        let ok = "[[checks]]\nname = \"web\"\ntype = \"http\"\nurl = \"https://example.org/\"\ninterval_secs = 30\n";
        let cfg = Config::parse(ok, "wf.toml", Path::new(".")).unwrap();
        assert_eq!(cfg.monitors[0].interval_secs, 30);
        let bad = "[[checks]]\nname = \"web\"\ntype = \"tcp\"\nhost = \"h\"\nport = 0\n[[checks]]\nname = \"web\"\ntype = \"ping\"\n[[checks]]\ntype = \"dns\"\nname = \"d\"\nquery = \"x.org\"\nresolver = \"1.1.1.1\"\nrecord_type = \"BOGUS\"\n";
        let err = Config::parse(bad, "wf.toml", Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[[checks]] 1 (web): port"), "{err}");
        assert!(
            err.contains("[[checks]] 2 (web): unknown variant `ping`"),
            "{err}"
        );
        assert!(err.contains("[[checks]] 3 (d): record_type"), "{err}");
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::parse("data_dir = \"data\"\n", "wf.toml", dir.path()).unwrap();
        assert_eq!(cfg.data_dir, dir.path().join("data"));
    }
}
