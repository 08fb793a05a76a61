//! The configuration file (TOML). Every option has a default, so no file is
//! needed. Checking reports every problem at once, each with its line and
//! column: unknown keys, wrong types, values out of range, addresses that
//! do not parse, certificate files that are missing.
//!
//! What each key may hold is not written twice: the checker walks the JSON
//! Schema that `schemars` derives from these structs (types, `range`,
//! `length`, enums for closed sets, and a `format` of `socket-address`,
//! `file`, `path` or `path-list` for strings that name things).

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::Deserialize;
use toml_edit::{Document, Item, Table};
pub use watchfloor_incident::IncidentsConfig;
pub use watchfloor_ingest::{FileConfig, FileFormat, StartAt, SyslogConfig, WalConfig};
pub use watchfloor_intel::IntelConfig;
pub use watchfloor_monitor::MonitorConfig;
pub use watchfloor_pipeline::{PipelineConfig, RulesConfig};
pub use watchfloor_respond::config::{NotifyConfig, SmtpSecurity};
pub use watchfloor_respond::RespondConfig;
pub use watchfloor_search::StoreConfig;
pub use watchfloor_telemetry::TelemetryConfig;
pub use watchfloor_tsdb::MetricsConfig;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    #[schemars(extend("format" = "path"))]
    pub data_dir: PathBuf,
    /// Tenant of events from sources that do not name one.
    pub tenant: String,
    pub log_level: LogLevel,
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
    pub intel: IntelConfig,
    /// The metric store and PromQL (docs/TELEMETRY.md).
    pub metrics: MetricsConfig,
    /// What metrics are collected from: `[[telemetry.scrape]]` jobs.
    pub telemetry: TelemetryConfig,
    /// Playbooks and their connectors (docs/RESPOND.md).
    pub respond: RespondConfig,
    /// `[[checks]]`: availability checks (see docs/MONITORING.md), read
    /// and checked whole by the monitor crate.
    #[schemars(with = "Vec<serde_json::Map<String, serde_json::Value>>")]
    pub checks: Vec<serde_json::Value>,
    /// The checks, read and validated.
    #[serde(skip)]
    pub monitors: Vec<watchfloor_monitor::MonitorSpec>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    #[schemars(extend("format" = "socket-address"))]
    pub listen: String,
    /// PEM files; both set turns on HTTPS.
    #[schemars(extend("format" = "file"))]
    pub tls_cert: Option<PathBuf>,
    #[schemars(extend("format" = "file"))]
    pub tls_key: Option<PathBuf>,
    /// Largest request body as sent (compressed or not).
    #[schemars(range(min = 1024, max = 17_179_869_184u64))]
    pub max_body_bytes: u64,
    /// Largest body after gzip decoding (a bomb stops here).
    #[schemars(range(min = 1024, max = 68_719_476_736u64))]
    pub max_decoded_bytes: u64,
    /// Largest single event in an ingest body.
    #[schemars(range(min = 256, max = 268_435_456))]
    pub max_event_bytes: u64,
    /// Open connections in all; past it new ones are closed at once.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_connections: u64,
    /// Open connections from one client address.
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_connections_per_client: u64,
    /// A connection that has not sent a whole request head in this time
    /// (an idle keep-alive one included) is closed.
    #[schemars(range(min = 1, max = 3600))]
    pub header_read_timeout_secs: u64,
    /// Largest request head (request line and headers).
    #[schemars(range(min = 8192, max = 16_777_216))]
    pub max_header_bytes: u64,
}

/// The least severe log lines written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./watchfloor-data"),
            tenant: "default".into(),
            log_level: LogLevel::Info,
            http: HttpConfig::default(),
            syslog: SyslogConfig::default(),
            rules: RulesConfig::default(),
            store: StoreConfig::default(),
            wal: WalConfig::default(),
            pipeline: PipelineConfig::default(),
            incidents: IncidentsConfig::default(),
            notify: NotifyConfig::default(),
            monitor: MonitorConfig::default(),
            intel: IntelConfig::default(),
            metrics: MetricsConfig::default(),
            telemetry: TelemetryConfig::default(),
            respond: RespondConfig::default(),
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
            max_connections: 4096,
            max_connections_per_client: 256,
            header_read_timeout_secs: 10,
            max_header_bytes: 64 << 10,
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

/// What a key may hold, read from the derived JSON Schema.
#[derive(Clone, Debug)]
enum Ty {
    /// A non-empty string.
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
    /// A number (integer or float) in `min..=max`.
    Number {
        min: f64,
        max: f64,
    },
    Bool,
    PathList,
    /// An array of strings.
    StrList,
    /// An inline table of strings (`{ site = "dc1" }`).
    StrMap,
    /// An array of exactly `len` integers in `min..=max`.
    UIntList {
        len: usize,
        min: i64,
        max: i64,
    },
    OneOf(Vec<String>),
}

/// The shape of a part of the file.
#[derive(Clone, Debug)]
enum Shape {
    /// `[name]`: its keys, in declaration order.
    Table(Vec<(String, Shape)>),
    /// `[[name]]`: the keys of each entry, and the keys each must have.
    Tables(Vec<(String, Shape)>, Vec<String>),
    /// `[[name]]` whose entries another part checks whole.
    FreeTables,
    Value(Ty),
}

/// The shape of [`Config`], derived once from its schema.
fn config_shape() -> &'static [(String, Shape)] {
    static SHAPE: std::sync::OnceLock<Vec<(String, Shape)>> = std::sync::OnceLock::new();
    SHAPE.get_or_init(|| {
        let schema = schemars::schema_for!(Config);
        match shape_of(schema.as_value(), schema.as_value()) {
            Shape::Table(keys) => keys,
            _ => Vec::new(),
        }
    })
}

fn resolve<'a>(
    schema: &'a serde_json::Value,
    root: &'a serde_json::Value,
) -> &'a serde_json::Value {
    match schema.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs")?.get(name))
            .unwrap_or(schema),
        None => schema,
    }
}

/// The schema's type, without `null` (an `Option` is the type or absent).
fn type_of(schema: &serde_json::Value) -> Option<&str> {
    match schema.get("type")? {
        serde_json::Value::String(t) => Some(t),
        serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).find(|t| *t != "null"),
        _ => None,
    }
}

/// The words of a closed set: `enum`, or `oneOf` of constants (variants
/// with their own doc comments).
fn words_of(schema: &serde_json::Value) -> Option<Vec<String>> {
    if let Some(words) = schema.get("enum").and_then(|e| e.as_array()) {
        return Some(
            words
                .iter()
                .filter_map(|w| w.as_str().map(String::from))
                .collect(),
        );
    }
    let mut words = Vec::new();
    for option in schema.get("oneOf")?.as_array()? {
        match (option.get("const"), option.get("enum")) {
            (Some(c), _) => words.push(c.as_str()?.to_string()),
            (None, Some(serde_json::Value::Array(many))) => {
                for w in many {
                    words.push(w.as_str()?.to_string());
                }
            }
            _ => return None,
        }
    }
    Some(words)
}

fn int(schema: &serde_json::Value, key: &str, default: i64) -> i64 {
    schema
        .get(key)
        .and_then(|n| {
            n.as_i64()
                .or_else(|| n.as_u64().map(|u| u.min(i64::MAX as u64) as i64))
        })
        .unwrap_or(default)
}

fn shape_of(schema: &serde_json::Value, root: &serde_json::Value) -> Shape {
    let schema = resolve(schema, root);
    if let Some(words) = words_of(schema) {
        return Shape::Value(Ty::OneOf(words));
    }
    let format = schema.get("format").and_then(|f| f.as_str());
    match type_of(schema) {
        Some("object")
            if schema.get("properties").is_none()
                && schema.get("additionalProperties").is_some() =>
        {
            Shape::Value(Ty::StrMap)
        }
        Some("object") => Shape::Table(keys_of(schema, root)),
        Some("array") => {
            let items = resolve(
                schema.get("items").unwrap_or(&serde_json::Value::Null),
                root,
            );
            match (format, type_of(items)) {
                (Some("path-list"), _) => Shape::Value(Ty::PathList),
                (_, Some("string")) => Shape::Value(Ty::StrList),
                (_, Some("integer")) => Shape::Value(Ty::UIntList {
                    len: int(schema, "minItems", 0) as usize,
                    min: int(items, "minimum", 0),
                    max: int(items, "maximum", i64::MAX),
                }),
                (_, Some("object")) if items.get("properties").is_some() => {
                    let required = items
                        .get("x-required")
                        .and_then(|r| r.as_array())
                        .map(|r| {
                            r.iter()
                                .filter_map(|k| k.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default();
                    Shape::Tables(keys_of(items, root), required)
                }
                _ => Shape::FreeTables,
            }
        }
        Some("integer") => Shape::Value(Ty::UInt {
            min: int(schema, "minimum", 0),
            max: int(schema, "maximum", i64::MAX),
        }),
        Some("number") => {
            let bound = |key: &str, default: f64| {
                schema.get(key).and_then(|n| n.as_f64()).unwrap_or(default)
            };
            Shape::Value(Ty::Number {
                min: bound("minimum", f64::MIN),
                max: bound("maximum", f64::MAX),
            })
        }
        Some("boolean") => Shape::Value(Ty::Bool),
        _ => Shape::Value(match format {
            Some("socket-address") => Ty::Addr,
            Some("file") => Ty::File,
            Some("path") => Ty::Path,
            _ => Ty::Str,
        }),
    }
}

fn keys_of(schema: &serde_json::Value, root: &serde_json::Value) -> Vec<(String, Shape)> {
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| {
            props
                .iter()
                .map(|(k, v)| (k.clone(), shape_of(v, root)))
                .collect()
        })
        .unwrap_or_default()
}

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

    /// The keys of a table (`name` is "" at the top level).
    fn table(&mut self, table: &Table, name: &str, schema: &[(String, Shape)]) {
        for (key, item) in table.iter() {
            let span = table
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span());
            let Some((_, shape)) = schema.iter().find(|(k, _)| k == key) else {
                let known: Vec<&str> = schema.iter().map(|(k, _)| k.as_str()).collect();
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
            self.item(item, key, &full, shape, span);
        }
    }

    fn item(
        &mut self,
        item: &Item,
        key: &str,
        full: &str,
        shape: &Shape,
        span: Option<Range<usize>>,
    ) {
        match shape {
            // A table of strings may also be written as a [section].
            Shape::Value(Ty::StrMap) if item.as_table().is_some() => {
                let strings = item
                    .as_table()
                    .is_some_and(|t| t.iter().all(|(_, v)| v.as_str().is_some()));
                if !strings {
                    self.problem(span, format!("`{full}` must be a table of strings"));
                }
            }
            Shape::Value(ty) => self.value(item, full, ty),
            Shape::Table(keys) => match item.as_table() {
                Some(t) => self.table(t, full, keys),
                None => self.problem(span, format!("`{key}` must be a table ([{key}])")),
            },
            Shape::Tables(keys, required) => match item.as_array_of_tables() {
                Some(entries) => {
                    for (i, t) in entries.iter().enumerate() {
                        for r in required.iter().filter(|r| !t.contains_key(r)) {
                            self.problem(
                                t.span(),
                                format!("[[{key}]] entry {} has no `{r}`", i + 1),
                            );
                        }
                        self.table(t, full, keys);
                    }
                }
                None => self.problem(
                    span,
                    format!("`{key}` must be an array of tables ([[{key}]])"),
                ),
            },
            // Read and checked whole after parsing.
            Shape::FreeTables => {
                if item.as_array_of_tables().is_none() {
                    self.problem(
                        span,
                        format!("`{key}` must be an array of tables ([[{key}]])"),
                    );
                }
            }
        }
    }

    fn value(&mut self, item: &Item, key: &str, ty: &Ty) {
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
            &Ty::UInt { min, max } => match v.as_integer() {
                Some(n) if n >= min && n <= max => {}
                Some(n) => {
                    self.problem(span, format!("`{key}` = {n} is out of range {min}..={max}"))
                }
                None => self.problem(span, format!("`{key}` must be an integer")),
            },
            &Ty::Number { min, max } => {
                let n = v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
                match n {
                    Some(n) if n >= min && n <= max => {}
                    Some(n) => {
                        self.problem(span, format!("`{key}` = {n} is out of range {min}..={max}"))
                    }
                    None => self.problem(span, format!("`{key}` must be a number")),
                }
            }
            Ty::Bool => {
                if v.as_bool().is_none() {
                    self.problem(span, format!("`{key}` must be true or false"));
                }
            }
            Ty::StrList => {
                let strings = v.as_array().is_some_and(|a| a.iter().all(|i| i.is_str()));
                if !strings {
                    self.problem(span, format!("`{key}` must be a list of strings"));
                }
            }
            Ty::StrMap => {
                let strings = v
                    .as_inline_table()
                    .is_some_and(|t| t.iter().all(|(_, v)| v.is_str()));
                if !strings {
                    self.problem(
                        span,
                        format!("`{key}` must be a table of strings, like {{ site = \"dc1\" }}"),
                    );
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
            &Ty::UIntList { len, min, max } => {
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

    fn string(&mut self, s: &str, key: &str, ty: &Ty, span: Option<Range<usize>>) {
        match ty {
            Ty::OneOf(options) if !options.iter().any(|o| o == s) => {
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
        self.table(root, "", config_shape());
    }

    /// Problems between keys: each section's own checks, then the server's.
    fn pairs(&mut self, cfg: &Config) {
        let mut problems = cfg.syslog.problems();
        problems.extend(cfg.incidents.problems());
        problems.extend(cfg.intel.problems());
        problems.extend(cfg.respond.problems());
        if cfg.http.tls_cert.is_some() != cfg.http.tls_key.is_some() {
            problems.push("[http] needs both `tls_cert` and `tls_key`, or neither".into());
        }
        for p in problems {
            self.problem(None, p);
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
        // Rule files are read once their paths are resolved.
        for p in cfg.telemetry.problems() {
            checker.problem(None, p);
        }
        if !checker.problems.is_empty() {
            return Err(fail(checker.problems));
        }
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
            &mut self.syslog.tls_client_ca,
            &mut self.incidents.catalog_file,
            &mut self.respond.playbooks,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for f in &mut self.files {
            fix(&mut f.path);
        }
        for p in &mut self.telemetry.rule_files {
            fix(p);
        }
        for p in self.respond.secrets.values_mut() {
            fix(p);
        }
        for job in &mut self.telemetry.scrape {
            if let Some(p) = &mut job.bearer_token_file {
                fix(p);
            }
        }
        for job in &mut self.telemetry.snmp {
            for p in [&mut job.auth_password_file, &mut job.priv_password_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
        }
        for user in &mut self.telemetry.traps.users {
            for p in [&mut user.auth_password_file, &mut user.priv_password_file]
                .into_iter()
                .flatten()
            {
                fix(p);
            }
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

    /// The documented file (`watchfloor config default`) passes the check
    /// and says what the code's defaults are.
    #[test]
    fn the_documented_defaults_are_the_defaults() {
        let text = include_str!("../../../docs/watchfloor.toml");
        let parsed = Config::parse(text, "docs/watchfloor.toml", Path::new("."));
        assert_eq!(parsed.unwrap(), Config::default());
    }

    #[test]
    fn numbers_take_integers_and_floats_within_their_range() {
        assert!(problems("[intel]\nthreshold = 40\ndecay_speed = 0.5\n").is_empty());
        let got = problems("[intel]\nthreshold = 150.5\ndecay_speed = \"fast\"\n").join("\n");
        assert!(
            got.contains("`intel.threshold` = 150.5 is out of range 0..=100"),
            "{got}"
        );
        assert!(
            got.contains("`intel.decay_speed` must be a number"),
            "{got}"
        );
    }

    /// Ranges, lengths and closed sets are read from the structs' schema
    /// attributes: a change there changes the check.
    #[test]
    fn the_checks_come_from_the_derived_schema() {
        let text = "log_level = \"loud\"\n[http]\nmax_body_bytes = 1\n[incidents]\npriority_matrix = [1, 2]\n[notify]\nsmtp_security = \"ssl\"\n[[files]]\npath = \"/var/log/x\"\nstart_at = \"middle\"\n";
        let got = problems(text).join("\n");
        for want in [
            "`log_level` = \"loud\" must be one of: error, warn, info, debug, trace",
            "`http.max_body_bytes` = 1 is out of range 1024..=17179869184",
            "`incidents.priority_matrix` must be an array of 9 integers in 1..=5",
            "`notify.smtp_security` = \"ssl\" must be one of: none, starttls, tls",
            "`files.start_at` = \"middle\" must be one of: end, beginning",
        ] {
            assert!(got.contains(want), "missing {want:?} in:\n{got}");
        }
        assert_eq!(got.lines().count(), 5, "{got}");
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
