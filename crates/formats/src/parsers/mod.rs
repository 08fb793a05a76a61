//! Parsers of common log sources to ECS field names (`source.ip`,
//! `user.name`, `event.outcome`, ...), as data files: each names the
//! programs whose lines it reads and a list of grok patterns tried in
//! order; the first that matches adds its captures and fixed fields. The
//! original fields (`message` above all) are kept.
//!
//! The shipped parsers (`crates/formats/parsers/*.yml`) are built into
//! the binary; a directory of files of the same shape adds parsers, and a
//! file whose `name` is a shipped parser's replaces it. Every file carries
//! samples with the fields they must give, checked when it is loaded, so a
//! parser that does not do what it says is refused with the sample named.

mod backtrack;
mod grok;

use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::meta::Cache;
use regex_automata::util::captures::Captures;
use regex_automata::Input;

use watchfloor_model::{Event, Name, Text, Value};

pub use grok::{compile as compile_grok, Capture, FieldType, Grok};

/// The parsers built into the binary: (file name, text).
const SHIPPED: &[(&str, &str)] = &[
    ("sshd.yml", include_str!("../../parsers/sshd.yml")),
    ("sudo.yml", include_str!("../../parsers/sudo.yml")),
    (
        "kernel_firewall.yml",
        include_str!("../../parsers/kernel_firewall.yml"),
    ),
    ("su.yml", include_str!("../../parsers/su.yml")),
    ("cron.yml", include_str!("../../parsers/cron.yml")),
    ("nginx.yml", include_str!("../../parsers/nginx.yml")),
    ("apache.yml", include_str!("../../parsers/apache.yml")),
    ("squid.yml", include_str!("../../parsers/squid.yml")),
    ("postfix.yml", include_str!("../../parsers/postfix.yml")),
    ("dnsmasq.yml", include_str!("../../parsers/dnsmasq.yml")),
    ("named.yml", include_str!("../../parsers/named.yml")),
    ("pam.yml", include_str!("../../parsers/pam.yml")),
];

/// `programs: ["*"]`: a parser of every program, tried when the program's
/// own parser does not match.
const ANY_PROGRAM: &str = "*";

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParserFile {
    name: String,
    #[serde(default)]
    description: String,
    /// Syslog program names (`app_name`) whose lines this parser reads.
    programs: Vec<String>,
    /// The field the patterns read.
    #[serde(default = "message_field")]
    field: String,
    /// The Sigma logsource category of these programs' lines (`webserver`,
    /// `proxy`, `dns`, `firewall`): rules of that category run on them.
    #[serde(default)]
    category: Option<String>,
    patterns: Vec<PatternDef>,
    #[serde(default)]
    samples: Vec<Sample>,
}

fn message_field() -> String {
    "message".into()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternDef {
    #[serde(rename = "match")]
    grok: String,
    /// Fields set when the pattern matches.
    #[serde(default)]
    set: serde_yaml::Mapping,
    /// The Sigma logsource category of lines this pattern matches (for
    /// programs that write several kinds of line, as the kernel does).
    #[serde(default)]
    category: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Sample {
    line: String,
    /// The fields the line must give (none: it must match no pattern).
    #[serde(default)]
    fields: serde_yaml::Mapping,
}

/// One compiled parser.
#[derive(Debug)]
pub struct Parser {
    /// Interned: the events it reads share it as `parser.name`.
    pub name: Text,
    pub description: String,
    programs: Vec<String>,
    field: String,
    /// Interned, as are the patterns' categories and fixed values.
    category: Option<Text>,
    patterns: Vec<Pattern>,
}

#[derive(Debug)]
struct Pattern {
    grok: Grok,
    /// Names and text interned: events share them.
    set: Vec<(Name, Value)>,
    category: Option<Text>,
}

/// What parsing did to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseOutcome<'a> {
    /// A parser read the line and added fields.
    Parsed(&'a Text),
    /// A parser is meant for the line's program but no pattern matched:
    /// the event is kept as it was.
    Unmatched(&'a Text),
}

/// Every parser, looked up by program.
#[derive(Debug, Default)]
pub struct Parsers {
    parsers: Vec<Parser>,
    /// Fx: looked up for every syslog event; keys are the parsers' own.
    by_program: FxHashMap<String, usize>,
    /// Parsers of any program, in load order.
    any_program: Vec<usize>,
    /// Changes with every parser added, so that a thread's [`Scratch`]
    /// made for another set (or an older state of this one) is remade.
    generation: u64,
}

/// Numbers the states of parser sets for [`Scratch`].
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A pattern's search cache and capture slots, made on its first search.
struct Slot {
    cache: Cache,
    caps: Captures,
}

/// What searching needs besides the patterns, kept per thread so that the
/// hot path neither allocates nor goes through the regex's shared pool.
#[derive(Default)]
struct Scratch {
    generation: u64,
    /// Per parser, per pattern.
    slots: Vec<Vec<Option<Slot>>>,
    /// Captured values waiting to be stored (by capture index).
    found: Vec<(usize, Value)>,
    /// The backtracker's memory, shared by every pattern.
    fast: backtrack::Scratch,
}

impl Scratch {
    fn for_parsers(&mut self, parsers: &Parsers) {
        if self.generation != parsers.generation {
            self.generation = parsers.generation;
            self.slots = parsers.parsers.iter().map(Parser::empty_slots).collect();
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Parsers {
    /// The parsers built into the binary.
    pub fn shipped() -> Parsers {
        let mut p = Parsers::default();
        for (file, text) in SHIPPED {
            // The shipped files are checked by a unit test; one that fails
            // here is a build defect, and the others still load.
            if let Ok(parser) = Parser::from_yaml(text) {
                p.insert(parser);
            } else {
                debug_assert!(false, "shipped parser {file} does not load");
            }
        }
        p
    }

    /// The shipped parsers plus the `*.yml` files of `dir` (a file named
    /// like a shipped parser replaces it). Every problem of every file is
    /// reported at once, each naming its file.
    pub fn with_dir(dir: &Path) -> Result<Parsers, Vec<String>> {
        let mut p = Parsers::shipped();
        let mut errors = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| vec![format!("{}: {e}", dir.display())])?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
            .collect();
        files.sort();
        for path in files {
            let loaded = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| Parser::from_yaml(&text));
            match loaded {
                Ok(parser) => p.insert(parser),
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(errors)
        }
    }

    fn insert(&mut self, parser: Parser) {
        self.generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        let at = match self.parsers.iter().position(|p| p.name == parser.name) {
            Some(i) => {
                self.by_program.retain(|_, v| *v != i);
                self.any_program.retain(|v| *v != i);
                self.parsers[i] = parser;
                i
            }
            None => {
                self.parsers.push(parser);
                self.parsers.len() - 1
            }
        };
        for program in &self.parsers[at].programs {
            if program == ANY_PROGRAM {
                self.any_program.push(at);
            } else {
                self.by_program.insert(program.to_ascii_lowercase(), at);
            }
        }
    }

    pub fn parsers(&self) -> &[Parser] {
        &self.parsers
    }

    /// Parses an event by its program (the syslog `app_name`); `None` when
    /// no parser is meant for it.
    pub fn apply(&self, event: &mut Event) -> Option<ParseOutcome<'_>> {
        let program = event.core.provider.as_deref()?;
        // Keys are lower-case; only a name with capitals is copied to look up.
        let index = if program.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_program.get(&program.to_ascii_lowercase())
        } else {
            self.by_program.get(program)
        }
        .copied();
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.for_parsers(self);
            self.apply_with(index, event, scratch)
        })
    }

    fn apply_with(
        &self,
        own: Option<usize>,
        event: &mut Event,
        scratch: &mut Scratch,
    ) -> Option<ParseOutcome<'_>> {
        let Scratch {
            slots, found, fast, ..
        } = scratch;
        if let Some(i) = own {
            let parser = &self.parsers[i];
            // The program says what the line is, whether a pattern fits or not.
            if event.core.category.is_none() {
                event.core.category.clone_from(&parser.category);
            }
            if parser.parse_with(event, &mut slots[i], found, fast) {
                return Some(ParseOutcome::Parsed(&parser.name));
            }
        }
        for &i in &self.any_program {
            let parser = &self.parsers[i];
            if parser.parse_with(event, &mut slots[i], found, fast) {
                return Some(ParseOutcome::Parsed(&parser.name));
            }
        }
        // A line of a program nobody parses is not counted as unmatched.
        own.map(|i| ParseOutcome::Unmatched(&self.parsers[i].name))
    }
}

impl Parser {
    /// Compiles a parser file and checks its samples.
    pub fn from_yaml(text: &str) -> Result<Parser, String> {
        let file: ParserFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if file.programs.is_empty() {
            return Err(format!("parser {}: no programs to read", file.name));
        }
        let mut patterns = Vec::new();
        for (i, def) in file.patterns.iter().enumerate() {
            let grok = grok::compile(&def.grok)
                .map_err(|e| format!("parser {}: pattern {}: {e}", file.name, i + 1))?;
            let set = def
                .set
                .iter()
                .map(|(k, v)| Ok((Name::interned(&yaml_key(k)?), yaml_value(v))))
                .collect::<Result<_, String>>()
                .map_err(|e| format!("parser {}: pattern {}: {e}", file.name, i + 1))?;
            let category = def.category.as_deref().map(interned_lowercase);
            patterns.push(Pattern {
                grok,
                set,
                category,
            });
        }
        let parser = Parser {
            name: Text::interned(&file.name),
            description: file.description,
            programs: file.programs,
            field: file.field,
            category: file.category.as_deref().map(interned_lowercase),
            patterns,
        };
        for (i, sample) in file.samples.iter().enumerate() {
            parser
                .check(sample)
                .map_err(|e| format!("parser {}: sample {}: {e}", parser.name, i + 1))?;
        }
        Ok(parser)
    }

    /// Adds the fields of the first pattern that matches; false if none.
    pub fn parse(&self, event: &mut Event) -> bool {
        let mut fast = backtrack::Scratch::default();
        self.parse_with(event, &mut self.empty_slots(), &mut Vec::new(), &mut fast)
    }

    /// Its compiled patterns, in order.
    pub fn groks(&self) -> impl Iterator<Item = &Grok> {
        self.patterns.iter().map(|p| &p.grok)
    }

    fn empty_slots(&self) -> Vec<Option<Slot>> {
        self.patterns.iter().map(|_| None).collect()
    }

    /// [`Parser::parse`] with the caller's search caches (one per pattern)
    /// and value buffer.
    fn parse_with(
        &self,
        event: &mut Event,
        slots: &mut [Option<Slot>],
        found: &mut Vec<(usize, Value)>,
        fast: &mut backtrack::Scratch,
    ) -> bool {
        let Some(Value::Str(text)) = event.get(&self.field) else {
            return false;
        };
        // rsyslog's `msg` property keeps the space after the tag, and
        // shippers may keep a line's end: the patterns read the text inside.
        let text: &str = text.trim();
        // A pattern that does not match is mostly refused by the line's
        // length or a literal it lacks, before any capturing work.
        let Some((pattern, caps)) = self.first_match(text, slots, fast) else {
            return false;
        };
        found.clear();
        for (i, c) in pattern.grok.captures.iter().enumerate() {
            let value = caps
                .group(c.group)
                .and_then(|span| typed(text.get(span)?, c.kind));
            if let Some(value) = value {
                found.push((i, value));
            }
        }
        for (i, value) in found.drain(..) {
            event.set_shared(&pattern.grok.captures[i].field, value);
        }
        for (name, value) in &pattern.set {
            event.set_shared(name, value.clone());
        }
        if pattern.category.is_some() {
            event.core.category.clone_from(&pattern.category);
        }
        true
    }

    /// The first pattern that matches `text`, with its captures.
    fn first_match<'s>(
        &self,
        text: &str,
        slots: &'s mut [Option<Slot>],
        fast: &'s mut backtrack::Scratch,
    ) -> Option<(&Pattern, Found<'s>)> {
        let input = Input::new(text);
        for (pattern, slot) in self.patterns.iter().zip(slots.iter_mut()) {
            match search(&pattern.grok, text, &input, slot, fast) {
                Hit::Backtracker => return Some((pattern, Found::Backtracker(fast))),
                Hit::Regex => {
                    let slot: &'s Option<Slot> = slot;
                    return Some((pattern, Found::Regex(&slot.as_ref()?.caps)));
                }
                Hit::None => {}
            }
        }
        None
    }

    fn check(&self, sample: &Sample) -> Result<(), String> {
        let mut e = Event::new(Default::default());
        e.push(self.field.as_str(), Value::Str(sample.line.as_str().into()));
        let matched = self.parse(&mut e);
        if !matched && !sample.fields.is_empty() {
            return Err(format!("{:?} matches no pattern", sample.line));
        }
        for (k, v) in &sample.fields {
            let name = yaml_key(k)?;
            let want = yaml_value(v);
            let got = e.get(&name);
            if got != Some(&want) {
                return Err(format!(
                    "{:?}: {name} is {got:?}, expected {want:?}",
                    sample.line
                ));
            }
        }
        Ok(())
    }
}

/// Which engine matched a pattern, its captures left in its scratch.
enum Hit {
    Backtracker,
    Regex,
    None,
}

/// Where a match's captures are.
enum Found<'s> {
    Backtracker(&'s backtrack::Scratch),
    Regex(&'s Captures),
}

impl Found<'_> {
    fn group(&self, group: usize) -> Option<std::ops::Range<usize>> {
        match self {
            Found::Backtracker(scratch) => scratch.group(group),
            Found::Regex(caps) => caps.get_group(group).map(|span| span.range()),
        }
    }
}

/// Tries one pattern: the backtracker when it has the pattern (after the
/// regex has found where an unanchored match starts), the regex when not
/// or when the backtracker gives up.
fn search(
    grok: &Grok,
    text: &str,
    input: &Input<'_>,
    slot: &mut Option<Slot>,
    fast: &mut backtrack::Scratch,
) -> Hit {
    let regex = &grok.regex;
    if let Some(program) = &grok.fast {
        let outcome = program.captures(text, fast, || {
            let m = regex.search_with(&mut slot_of(regex, slot).cache, input)?;
            Some(m.start())
        });
        match outcome {
            backtrack::Outcome::Match => return Hit::Backtracker,
            backtrack::Outcome::NoMatch => return Hit::None,
            backtrack::Outcome::GaveUp => {}
        }
    }
    let slot = slot_of(regex, slot);
    regex.search_captures_with(&mut slot.cache, input, &mut slot.caps);
    if slot.caps.is_match() {
        Hit::Regex
    } else {
        Hit::None
    }
}

/// A pattern's regex cache and captures, made on first need.
fn slot_of<'s>(regex: &regex_automata::meta::Regex, slot: &'s mut Option<Slot>) -> &'s mut Slot {
    slot.get_or_insert_with(|| Slot {
        cache: regex.create_cache(),
        caps: regex.create_captures(),
    })
}

fn typed(text: &str, kind: FieldType) -> Option<Value> {
    match kind {
        FieldType::Text => Some(Value::Str(text.into())),
        FieldType::Int => text.parse().ok().map(Value::Int),
        FieldType::Float => text.parse().ok().map(Value::Float),
        // IPv4 text that parses is already in its one written form (the
        // parser refuses leading zeros); IPv6 is written out canonically.
        FieldType::Ip => match text.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(_) => Some(Value::Str(text.into())),
            v6 => Some(Value::Str(v6.to_string().into())),
        },
    }
}

fn yaml_key(k: &serde_yaml::Value) -> Result<String, String> {
    k.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("field name {k:?} is not text"))
}

fn interned_lowercase(text: &str) -> Text {
    Text::interned(&text.to_ascii_lowercase())
}

/// A fixed value of a pattern (its text interned: events share it).
fn yaml_value(v: &serde_yaml::Value) -> Value {
    match v {
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_yaml::Value::String(s) => Value::Str(Text::interned(s)),
        serde_yaml::Value::Null => Value::Null,
        other => Value::Str(
            serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SSHD: Text = Text::from_static("sshd");
    static PAM: Text = Text::from_static("pam");
    static NGINX: Text = Text::from_static("nginx");
    static MYAPP: Text = Text::from_static("myapp");

    fn parsed(name: &'static Text) -> Option<ParseOutcome<'static>> {
        Some(ParseOutcome::Parsed(name))
    }

    fn unmatched(name: &'static Text) -> Option<ParseOutcome<'static>> {
        Some(ParseOutcome::Unmatched(name))
    }

    #[test]
    fn every_shipped_parser_loads_and_passes_its_samples() {
        for (file, text) in SHIPPED {
            let p = Parser::from_yaml(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(!p.patterns.is_empty(), "{file}");
        }
        assert_eq!(Parsers::shipped().parsers().len(), SHIPPED.len());
    }

    fn syslog(program: &str, message: &str) -> Event {
        let mut e = Event::new(Default::default());
        e.push("message", Value::Str(message.into()));
        e.core.provider = Some(program.into());
        e
    }

    #[test]
    fn pam_lines_are_parsed_under_any_program_after_its_own_parser() {
        let p = Parsers::shipped();
        let failure = "pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=bob rhost=203.0.113.9  user=bob";
        let mut imap = syslog("dovecot", failure);
        assert_eq!(p.apply(&mut imap), parsed(&PAM));
        assert_eq!(
            imap.get("source.ip"),
            Some(&Value::Str("203.0.113.9".into()))
        );
        assert_eq!(imap.get("user.name"), Some(&Value::Str("bob".into())));
        let mut login = syslog(
            "login",
            "pam_unix(login:session): session opened for user alice(uid=1000) by LOGIN(uid=0)",
        );
        assert_eq!(p.apply(&mut login), parsed(&PAM));
        assert_eq!(login.get("user.id"), Some(&Value::Int(1000)));
        // The program's own parser comes first (sshd reads its PAM lines
        // itself), and an unmatched line of it stays its verdict.
        let sshd_pam = "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root";
        assert_eq!(p.apply(&mut syslog("sshd", sshd_pam)), parsed(&SSHD));
        let mut neither = syslog("sshd", "Server listening on 0.0.0.0 port 22.");
        assert_eq!(p.apply(&mut neither), unmatched(&SSHD));
        // A program nobody parses is not counted as unmatched.
        assert_eq!(p.apply(&mut syslog("myapp", "started")), None);
    }

    #[test]
    fn lines_are_parsed_by_their_program_and_originals_kept() {
        let p = Parsers::shipped();
        let mut e = syslog(
            "sshd",
            "Failed password for invalid user admin from 203.0.113.9 port 41234 ssh2",
        );
        assert_eq!(p.apply(&mut e), parsed(&SSHD));
        assert_eq!(e.get("source.ip"), Some(&Value::Str("203.0.113.9".into())));
        assert_eq!(e.get("user.name"), Some(&Value::Str("admin".into())));
        assert_eq!(e.get("source.port"), Some(&Value::Int(41234)));
        assert_eq!(e.get("event.outcome"), Some(&Value::Str("failure".into())));
        assert!(e.get("message").is_some(), "the original is kept");
        let mut web = syslog("nginx", "not an access line");
        assert_eq!(p.apply(&mut web), unmatched(&NGINX));
        assert_eq!(
            web.core.category.as_deref(),
            Some("webserver"),
            "Sigma's webserver rules apply"
        );
        let mut usb = syslog("kernel", "usb 1-1: new high-speed USB device number 2");
        p.apply(&mut usb);
        assert_eq!(
            usb.core.category, None,
            "not every kernel line is a firewall log"
        );
        let mut drop = syslog(
            "kernel",
            "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=60 PROTO=TCP SPT=1 DPT=2",
        );
        p.apply(&mut drop);
        assert_eq!(drop.core.category.as_deref(), Some("firewall"));

        let mut odd = syslog(
            "sshd",
            "Failed password for root from not-an-address port x",
        );
        assert_eq!(p.apply(&mut odd), unmatched(&SSHD));
        assert!(odd.get("source.ip").is_none());
        let mut truncated = syslog("sshd", "Failed password for ro");
        assert_eq!(p.apply(&mut truncated), unmatched(&SSHD));
        assert_eq!(p.apply(&mut syslog("myapp", "GET /")), None);
        assert_eq!(
            p.apply(&mut syslog("SSHD", "Invalid user x from 10.0.0.1 port 2")),
            parsed(&SSHD),
            "program names ignore case"
        );
    }

    #[test]
    fn a_parser_that_fails_its_sample_is_refused_naming_it() {
        let bad = "name: t\nprograms: [t]\npatterns:\n  - match: '^a %{WORD:x}'\nsamples:\n  - line: 'a b'\n    fields: {x: c}\n";
        let e = Parser::from_yaml(bad).unwrap_err();
        assert!(e.contains("sample 1") && e.contains("expected"), "{e}");
        let unknown = "name: t\nprograms: [t]\npatterns:\n  - match: '%{NOPE:x}'\n";
        assert!(Parser::from_yaml(unknown)
            .unwrap_err()
            .contains("pattern 1"));
        assert!(Parser::from_yaml("name: t\nprograms: []\npatterns: []\n").is_err());
        assert!(Parser::from_yaml("name: t\nprogramz: [t]\npatterns: []\n").is_err());
    }

    #[test]
    fn a_directory_adds_and_replaces_parsers_and_reports_every_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let own =
            "name: sshd\nprograms: [sshd]\npatterns:\n  - match: '^hello %{WORD:user.name}'\n";
        std::fs::write(dir.path().join("sshd.yml"), own).unwrap();
        let app =
            "name: myapp\nprograms: [myapp]\npatterns:\n  - match: 'login %{USERNAME:user.name}'\n";
        std::fs::write(dir.path().join("myapp.yaml"), app).unwrap();
        let p = Parsers::with_dir(dir.path()).unwrap();
        let mut e = syslog("sshd", "hello bob");
        assert_eq!(p.apply(&mut e), parsed(&SSHD));
        let mut m = syslog("myapp", "login carol");
        assert_eq!(p.apply(&mut m), parsed(&MYAPP));
        assert_eq!(p.parsers().len(), SHIPPED.len() + 1);
        std::fs::write(dir.path().join("a.yml"), "name: [").unwrap();
        std::fs::write(
            dir.path().join("b.yml"),
            "name: b\nprograms: [b]\npatterns:\n  - match: '('\n",
        )
        .unwrap();
        let errors = Parsers::with_dir(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("a.yml") && errors[1].contains("b.yml"));
    }

    proptest::proptest! {
        /// Any line under any program, and any parser file: no panic; a
        /// parsed address is always a valid one.
        #[test]
        fn any_line_and_any_file_is_handled(
            line in "\\PC{0,200}",
            glued in "(Failed password for |Invalid user |IN=eth0 OUT= SRC=|query\\[A\\] |\\(root\\) CMD \\()[ -~]{0,80}",
            program in 0usize..12,
            file in "\\PC{0,200}",
        ) {
            let programs = ["sshd", "sudo", "kernel", "su", "cron", "nginx", "apache2", "squid", "postfix/smtpd", "dnsmasq", "named", "x"];
            static SHIPPED_ONCE: std::sync::OnceLock<Parsers> = std::sync::OnceLock::new();
            let p = SHIPPED_ONCE.get_or_init(Parsers::shipped);
            for text in [&line, &glued] {
                let mut e = syslog(programs[program], text);
                let _ = p.apply(&mut e);
                for name in ["source.ip", "destination.ip"] {
                    if let Some(Value::Str(ip)) = e.get(name) {
                        proptest::prop_assert!(ip.parse::<std::net::IpAddr>().is_ok(), "{name}: {ip}");
                    }
                }
            }
            let _ = Parser::from_yaml(&file);
        }
    }
}
