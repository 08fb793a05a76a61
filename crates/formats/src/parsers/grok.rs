//! Grok patterns, as Logstash, Elasticsearch ingest pipelines and Graylog
//! write them: `%{IP:source.ip}` captures an address into `source.ip`,
//! `%{INT:source.port:int}` a number stored as an integer, `%{WORD}`
//! matches without capturing. Everything else is a regular expression.
//! A pattern compiles to one regular expression whose groups are named
//! `g0`, `g1`, ... with a table from group to field name and type; the
//! parsers' own backtracker runs it (`super::backtrack`), with
//! regex-automata's meta engine (the one inside `regex::Regex`, used
//! directly so that callers keep their own search caches) as the fallback.

use regex_automata::meta::Regex;
use regex_automata::PatternID;

/// The named sub-patterns a grok expression may use.
const LIBRARY: &[(&str, &str)] = &[
    // ASCII classes rather than Unicode ones: `\w` and `\S` are large
    // automata, and every state costs time when a pattern captures.
    ("WORD", r"[A-Za-z0-9_]+"),
    ("NOTSPACE", r"[^ \t\r\n]+"),
    ("SPACE", r"[ \t]*"),
    ("DATA", r".*?"),
    ("GREEDYDATA", r".*"),
    ("INT", r"[+-]?\d+"),
    ("POSINT", r"\d+"),
    ("NUMBER", r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"),
    ("BASE16NUM", r"(?:0[xX])?[0-9A-Fa-f]+"),
    ("USERNAME", r"[a-zA-Z0-9._@$\\-]+"),
    ("USER", r"[a-zA-Z0-9._@$\\-]+"),
    // Loose on purpose, so that captures stay cheap (few automaton states):
    // an address is checked when its field is typed `ip`.
    ("IPV4", r"\d{1,3}(?:\.\d{1,3}){3}"),
    ("IPV6", r"[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+(?:%\w+)?"),
    (
        "IP",
        r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+(?:%\w+)?)",
    ),
    ("HOSTNAME", r"[0-9A-Za-z][0-9A-Za-z.-]*"),
    (
        "IPORHOST",
        r"(?:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]+|[0-9A-Za-z][0-9A-Za-z.-]*)",
    ),
    ("MAC", r"(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}"),
    ("QUOTEDSTRING", r#""(?:[^"\\]|\\.)*""#),
    ("QS", r#""(?:[^"\\]|\\.)*""#),
    ("URIPATH", r"/[^\s?#]*"),
    ("URIPATHPARAM", r"/[^\s#]*"),
    ("URI", r"[A-Za-z][A-Za-z0-9+.-]*://\S+"),
    ("PATH", r"(?:/[^\s]*)+"),
    ("HTTPDATE", r"\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}"),
    (
        "LOGLEVEL",
        r"(?i:trace|debug|info|notice|warn(?:ing)?|err(?:or)?|crit(?:ical)?|alert|emerg(?:ency)?|fatal)",
    ),
];

/// How a captured text is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Int,
    Float,
    /// An IP address: a capture that does not parse as one is not stored.
    Ip,
}

/// A compiled grok expression.
#[derive(Debug, Clone)]
pub struct Grok {
    pub regex: Regex,
    /// The same expression for the parser's own backtracker, when it can
    /// take it (see [`super::backtrack`]); the regex is the fallback.
    pub fast: Option<super::backtrack::Program>,
    /// The fields it captures, in pattern order.
    pub captures: Vec<Capture>,
}

/// One `%{NAME:field:type}` of a grok expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    /// Interned (see [`watchfloor_model::Name::interned`]): events share it.
    pub field: watchfloor_model::Name,
    pub kind: FieldType,
    /// Its group's index in the regex (the pattern's own groups count too).
    pub group: usize,
}

/// Compiles `pattern`; the error names the part that is wrong.
pub fn compile(pattern: &str) -> Result<Grok, String> {
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut captures = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("%{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed %{{ at {:?}", &rest[start..]))?;
        let spec = &after[..end];
        let mut parts = spec.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let body = LIBRARY
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .ok_or_else(|| format!("unknown grok pattern %{{{name}}}"))?;
        match parts.next().filter(|f| !f.is_empty()) {
            Some(field) => {
                let kind = field_type(parts.next())?;
                out.push_str(&format!("(?P<g{}>{body})", captures.len()));
                captures.push((field.to_string(), kind));
            }
            None => out.push_str(&format!("(?:{body})")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    let regex = Regex::new(&out).map_err(|e| e.to_string())?;
    let names: Vec<Option<&str>> = regex.group_info().pattern_names(PatternID::ZERO).collect();
    let captures = captures
        .into_iter()
        .enumerate()
        .map(|(i, (field, kind))| {
            let name = format!("g{i}");
            let group = names
                .iter()
                .position(|n| *n == Some(name.as_str()))
                .ok_or_else(|| format!("the pattern names its own group {name}"))?;
            let field = watchfloor_model::Name::interned(&field);
            Ok(Capture { field, kind, group })
        })
        .collect::<Result<_, String>>()?;
    let fast = super::backtrack::Program::new(&out);
    Ok(Grok {
        regex,
        fast,
        captures,
    })
}

fn field_type(name: Option<&str>) -> Result<FieldType, String> {
    match name {
        None | Some("string") => Ok(FieldType::Text),
        Some("int") | Some("long") => Ok(FieldType::Int),
        Some("float") | Some("double") => Ok(FieldType::Float),
        Some("ip") => Ok(FieldType::Ip),
        Some(other) => Err(format!(
            "unknown field type {other:?} (string, int, float, ip)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of each named group of `g` in `text`.
    fn groups(g: &Grok, text: &str) -> Vec<String> {
        let mut caps = g.regex.create_captures();
        g.regex.captures(text, &mut caps);
        assert!(caps.is_match(), "{text:?}");
        (0..g.captures.len())
            .map(|i| {
                let span = caps.get_group_by_name(&format!("g{i}")).expect("group");
                text[span.range()].to_string()
            })
            .collect()
    }

    #[test]
    fn grok_captures_into_named_fields() {
        let g = compile(r"^Failed %{WORD} for %{USERNAME:user.name} from %{IP:source.ip:ip} port %{INT:source.port:int}").unwrap();
        assert_eq!(
            groups(&g, "Failed password for root from 203.0.113.9 port 22 ssh2"),
            ["root", "203.0.113.9", "22"]
        );
        assert_eq!(
            (&*g.captures[2].field, g.captures[2].kind),
            ("source.port", FieldType::Int)
        );
        let v6 = compile("%{IP:a}").unwrap();
        assert_eq!(groups(&v6, "from 2001:db8::1 port"), ["2001:db8::1"]);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(compile("%{NOPE:x}").unwrap_err().contains("%{NOPE}"));
        assert!(compile("%{WORD:x:date}").unwrap_err().contains("date"));
        assert!(compile("%{WORD").unwrap_err().contains("unclosed"));
        assert!(compile("(").is_err());
    }
}
