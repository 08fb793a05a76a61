//! Value modifiers: parsing `field|mod1|mod2` and turning raw rule values
//! into compiled [`ValueMatcher`]s, as the modifiers appendix defines.

use base64::Engine as _;
use ipnet::IpNet;
use regex_syntax::hir::Hir;
use serde_yaml::Value as Yaml;

use crate::matcher::{with_string_sets, FieldMatcher, NumOp, RegexMatcher, TimePart, ValueMatcher};
use crate::placeholders::Placeholders;
use crate::strings::SigmaString;
use crate::strmatch::StrMatcher;

/// Every modifier of the specification (v2.1) and the common aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    ReI,
    ReM,
    ReS,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Lt,
    Lte,
    Gt,
    Gte,
    Time(TimePart),
    Cidr,
    Expand,
    FieldRef,
}

impl Modifier {
    pub fn parse(name: &str) -> Option<Modifier> {
        use Modifier::*;
        Some(match name {
            "contains" => Contains,
            "startswith" => StartsWith,
            "endswith" => EndsWith,
            "all" => All,
            "exists" => Exists,
            "cased" => Cased,
            "neq" => Neq,
            "windash" => Windash,
            "re" => Re,
            "i" | "ignorecase" => ReI,
            "m" | "multiline" => ReM,
            "s" | "dotall" => ReS,
            "base64" => Base64,
            "base64offset" => Base64Offset,
            "utf16le" | "wide" => Utf16Le,
            "utf16be" => Utf16Be,
            "utf16" => Utf16,
            "lt" => Lt,
            "lte" => Lte,
            "gt" => Gt,
            "gte" => Gte,
            "minute" => Time(TimePart::Minute),
            "hour" => Time(TimePart::Hour),
            "day" => Time(TimePart::Day),
            "week" => Time(TimePart::Week),
            "month" => Time(TimePart::Month),
            "year" => Time(TimePart::Year),
            "cidr" => Cidr,
            "expand" => Expand,
            "fieldref" => FieldRef,
            _ => return None,
        })
    }
}

/// A value in the middle of transformation: a Sigma string (wildcards
/// meaningful) or raw bytes produced by an encoding modifier.
#[derive(Debug, Clone)]
enum Stage {
    Sigma(SigmaString),
    Bytes(Vec<u8>),
}

impl Stage {
    fn into_sigma(self) -> SigmaString {
        match self {
            Stage::Sigma(s) => s,
            Stage::Bytes(b) => SigmaString::literal(&String::from_utf8_lossy(&b)),
        }
    }

    fn bytes(&self, modifier: &str) -> Result<Vec<u8>, String> {
        match self {
            Stage::Bytes(b) => Ok(b.clone()),
            Stage::Sigma(s) => s
                .as_plain()
                .map(String::into_bytes)
                .ok_or_else(|| format!("'{modifier}' cannot encode a value with wildcards")),
        }
    }
}

/// Builds the matcher for one `field|modifiers: values` entry.
pub fn build_field_matcher(
    field: Option<&str>,
    modifiers: &[&str],
    values: &Yaml,
    placeholders: &Placeholders,
) -> Result<FieldMatcher, String> {
    let mods = modifiers
        .iter()
        .map(|m| Modifier::parse(m).ok_or_else(|| format!("unknown modifier '{m}'")))
        .collect::<Result<Vec<_>, _>>()?;
    let has = |m: Modifier| mods.contains(&m);
    let raw: Vec<&Yaml> = match values {
        Yaml::Sequence(items) => items.iter().collect(),
        single => vec![single],
    };
    if raw.is_empty() {
        return Err("empty value list".into());
    }
    if has(Modifier::Exists) {
        return exists_matcher(field, &raw);
    }
    let mut matchers = Vec::new();
    for value in raw {
        matchers.extend(value_matchers(value, &mods, placeholders)?);
    }
    let all = has(Modifier::All);
    if !all {
        matchers = with_string_sets(matchers);
    }
    Ok(FieldMatcher {
        field: field.map(Into::into),
        values: matchers,
        all,
        negate: has(Modifier::Neq),
    })
}

fn exists_matcher(field: Option<&str>, raw: &[&Yaml]) -> Result<FieldMatcher, String> {
    let (Some(field), [Yaml::Bool(b)]) = (field, raw) else {
        return Err("'exists' needs a field and a single true/false value".into());
    };
    Ok(FieldMatcher {
        field: Some(field.into()),
        values: vec![ValueMatcher::Exists(*b)],
        all: false,
        negate: false,
    })
}

fn scalar_text(value: &Yaml) -> Result<Option<String>, String> {
    Ok(match value {
        Yaml::Null => None,
        Yaml::Bool(b) => Some(b.to_string()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::String(s) => Some(s.clone()),
        other => {
            return Err(format!(
                "value must be a scalar, found {}",
                yaml_kind(other)
            ))
        }
    })
}

pub(crate) fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a map",
        Yaml::Tagged(_) => "a tagged value",
    }
}

fn value_matchers(
    value: &Yaml,
    mods: &[Modifier],
    placeholders: &Placeholders,
) -> Result<Vec<ValueMatcher>, String> {
    let Some(text) = scalar_text(value)? else {
        return Ok(vec![ValueMatcher::Null]);
    };
    if let Some(m) = typed_matcher(&text, mods)? {
        return Ok(vec![m]);
    }
    let cased = mods.contains(&Modifier::Cased);
    let mut stages = initial_stages(&text, mods, placeholders)?;
    for m in mods {
        stages = apply_transform(*m, stages)?;
    }
    if mods.contains(&Modifier::FieldRef) {
        return fieldref_matchers(stages, mods, cased);
    }
    Ok(stages
        .into_iter()
        .map(|s| {
            let mut s = s.into_sigma();
            apply_position(&mut s, mods);
            ValueMatcher::Str(StrMatcher::new(&s, cased))
        })
        .collect())
}

/// Regex, numeric, time and CIDR values: one matcher, no string pipeline.
fn typed_matcher(text: &str, mods: &[Modifier]) -> Result<Option<ValueMatcher>, String> {
    use Modifier::*;
    if mods.contains(&Re) {
        return build_regex(text, mods).map(Some);
    }
    if mods.contains(&Cidr) {
        let net: IpNet = text
            .parse()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("invalid CIDR '{text}'"))?;
        return Ok(Some(ValueMatcher::Cidr(net)));
    }
    let num_op = mods.iter().find_map(|m| match m {
        Lt => Some(NumOp::Lt),
        Lte => Some(NumOp::Lte),
        Gt => Some(NumOp::Gt),
        Gte => Some(NumOp::Gte),
        _ => None,
    });
    let time = mods.iter().find_map(|m| match m {
        Time(p) => Some(*p),
        _ => None,
    });
    let parse_num = || {
        text.trim()
            .parse::<f64>()
            .map_err(|_| format!("'{text}' is not a number"))
    };
    match (time, num_op) {
        (Some(part), op) => Ok(Some(ValueMatcher::Time {
            part,
            op: op.unwrap_or(NumOp::Eq),
            value: parse_num()?,
        })),
        (None, Some(op)) => Ok(Some(ValueMatcher::Num {
            op,
            value: parse_num()?,
        })),
        (None, None) => Ok(None),
    }
}

fn build_regex(pattern: &str, mods: &[Modifier]) -> Result<ValueMatcher, String> {
    let (i, m, s) = (
        mods.contains(&Modifier::ReI),
        mods.contains(&Modifier::ReM),
        mods.contains(&Modifier::ReS),
    );
    let re = regex::RegexBuilder::new(pattern)
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .size_limit(8 * 1024 * 1024)
        .build()
        .map_err(|e| {
            format!(
                "invalid regular expression '{pattern}': {}",
                first_line(&e.to_string())
            )
        })?;
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(i)
        .multi_line(m)
        .dot_matches_new_line(s)
        .build()
        .parse(pattern)
        .ok();
    Ok(ValueMatcher::Regex(RegexMatcher {
        re,
        literals: hir.as_ref().and_then(regex_literals),
    }))
}

/// Literals one of which starts every match of the pattern (its prefix
/// literals), when the set is finite and holds no empty literal. ASCII case
/// variants collapse to one lowercase literal, as the prefilter folds ASCII
/// case itself; other variants (`(?i)k` also matches the Kelvin sign) stay
/// as literals of their own.
fn regex_literals(hir: &Hir) -> Option<Vec<String>> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let seq = Extractor::new()
        .kind(ExtractKind::Prefix)
        .extract(&fold_ascii_case(hir));
    let mut out: Vec<String> = Vec::new();
    for lit in seq.literals()? {
        let text = std::str::from_utf8(lit.as_bytes()).ok()?;
        if text.is_empty() {
            return None;
        }
        let lower = text.to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Rewrites every class that is one ASCII letter in all its cases (`[Kk\u{212A}]`
/// from `(?i)k`) to the lowercase letter plus its non-ASCII variants.
fn fold_ascii_case(hir: &Hir) -> Hir {
    use regex_syntax::hir::{Capture, Class, ClassUnicode, ClassUnicodeRange, HirKind, Repetition};
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => match ascii_letter_class(class) {
            Some(members) => Hir::class(Class::Unicode(ClassUnicode::new(
                members.into_iter().map(|c| ClassUnicodeRange::new(c, c)),
            ))),
            None => hir.clone(),
        },
        HirKind::Concat(items) => Hir::concat(items.iter().map(fold_ascii_case).collect()),
        HirKind::Alternation(items) => {
            Hir::alternation(items.iter().map(fold_ascii_case).collect())
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold_ascii_case(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(fold_ascii_case(&c.sub)),
            ..c.clone()
        }),
        _ => hir.clone(),
    }
}

/// For a class holding exactly the cases of one ASCII letter (and maybe
/// non-ASCII characters that fold to it), the lowercase letter followed by
/// those non-ASCII characters.
fn ascii_letter_class(class: &regex_syntax::hir::ClassUnicode) -> Option<Vec<char>> {
    let mut chars = Vec::new();
    for r in class.ranges() {
        if (r.end() as u32) - (r.start() as u32) > 4 || chars.len() > 4 {
            return None;
        }
        chars.extend(r.start()..=r.end());
    }
    let (ascii, others): (Vec<char>, Vec<char>) = chars.into_iter().partition(char::is_ascii);
    let [a, b] = ascii[..] else { return None };
    let lo = a.to_ascii_lowercase();
    if a == b || !lo.is_ascii_lowercase() || b.to_ascii_lowercase() != lo {
        return None;
    }
    let up = lo.to_ascii_uppercase();
    let folds_to_letter = |c: &char| {
        c.to_lowercase().eq(std::iter::once(lo)) || c.to_uppercase().eq(std::iter::once(up))
    };
    others
        .iter()
        .all(folds_to_letter)
        .then(|| std::iter::once(lo).chain(others.iter().copied()).collect())
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

fn initial_stages(
    text: &str,
    mods: &[Modifier],
    placeholders: &Placeholders,
) -> Result<Vec<Stage>, String> {
    if mods.contains(&Modifier::Expand) {
        return Ok(placeholders
            .expand(text)?
            .into_iter()
            .map(Stage::Sigma)
            .collect());
    }
    if mods.contains(&Modifier::FieldRef) {
        return Ok(vec![Stage::Sigma(SigmaString::literal(text))]);
    }
    Ok(vec![Stage::Sigma(SigmaString::parse(text))])
}

fn apply_transform(m: Modifier, stages: Vec<Stage>) -> Result<Vec<Stage>, String> {
    use Modifier::*;
    let mut out = Vec::with_capacity(stages.len());
    for s in stages {
        match m {
            Windash => match s {
                Stage::Sigma(sig) => out.extend(windash(&sig).into_iter().map(Stage::Sigma)),
                bytes => out.push(bytes),
            },
            Base64 => {
                let b = s.bytes("base64")?;
                out.push(Stage::Bytes(
                    base64::engine::general_purpose::STANDARD
                        .encode(b)
                        .into_bytes(),
                ));
            }
            Base64Offset => out.extend(
                base64_offsets(&s.bytes("base64offset")?)
                    .into_iter()
                    .map(Stage::Bytes),
            ),
            Utf16Le | Utf16Be | Utf16 => out.push(Stage::Bytes(utf16(&s.bytes("utf16")?, m))),
            _ => out.push(s),
        }
    }
    Ok(out)
}

fn apply_position(s: &mut SigmaString, mods: &[Modifier]) {
    for m in mods {
        match m {
            Modifier::Contains => {
                s.prepend_any();
                s.append_any();
            }
            Modifier::StartsWith => s.append_any(),
            Modifier::EndsWith => s.prepend_any(),
            _ => {}
        }
    }
}

fn fieldref_matchers(
    stages: Vec<Stage>,
    mods: &[Modifier],
    cased: bool,
) -> Result<Vec<ValueMatcher>, String> {
    let position = if mods.contains(&Modifier::Contains) {
        crate::matcher::RefPosition::Contains
    } else if mods.contains(&Modifier::StartsWith) {
        crate::matcher::RefPosition::Prefix
    } else if mods.contains(&Modifier::EndsWith) {
        crate::matcher::RefPosition::Suffix
    } else {
        crate::matcher::RefPosition::Exact
    };
    stages
        .into_iter()
        .map(|s| {
            let name = s.into_sigma().as_plain().unwrap_or_default();
            if name.is_empty() {
                return Err("'fieldref' needs a field name".to_string());
            }
            Ok(ValueMatcher::FieldRef {
                field: name.into(),
                position,
                cased,
            })
        })
        .collect()
}

const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];
/// Beyond this many dash positions, all positions take the same dash
/// instead of every combination (5^n grows too fast).
const WINDASH_MAX_POSITIONS: usize = 4;

/// All permutations of the dash characters at option positions (a dash at
/// the start of the value or after a space), as pySigma does.
fn windash(s: &SigmaString) -> Vec<SigmaString> {
    let text: Vec<char> = match s.as_plain() {
        Some(p) => p.chars().collect(),
        None => return windash_parts(s),
    };
    let positions: Vec<usize> = option_dash_positions(&text);
    if positions.is_empty() {
        return vec![s.clone()];
    }
    let combos = permutations(positions.len());
    combos
        .into_iter()
        .map(|choice| {
            let mut t = text.clone();
            for (pos, dash) in positions.iter().zip(choice) {
                t[*pos] = dash;
            }
            SigmaString::literal(&t.into_iter().collect::<String>())
        })
        .collect()
}

/// Windash over a string with wildcards: applied to each literal piece with
/// the same dash in every position.
fn windash_parts(s: &SigmaString) -> Vec<SigmaString> {
    DASHES
        .iter()
        .map(|d| {
            s.map_literals(|lit| {
                let mut chars: Vec<char> = lit.chars().collect();
                for p in option_dash_positions(&chars) {
                    chars[p] = *d;
                }
                chars.into_iter().collect()
            })
        })
        .collect()
}

fn option_dash_positions(text: &[char]) -> Vec<usize> {
    (0..text.len())
        .filter(|&i| DASHES.contains(&text[i]) && (i == 0 || text[i - 1].is_whitespace()))
        .collect()
}

fn permutations(n: usize) -> Vec<Vec<char>> {
    if n > WINDASH_MAX_POSITIONS {
        return DASHES.iter().map(|d| vec![*d; n]).collect();
    }
    let mut out = vec![Vec::new()];
    for _ in 0..n {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                DASHES.iter().map(move |d| {
                    let mut p = prefix.clone();
                    p.push(*d);
                    p
                })
            })
            .collect();
    }
    out
}

/// The three base64 renderings of a value at byte offsets 0, 1 and 2 of an
/// encoded stream, trimmed to the characters that do not depend on the
/// surrounding bytes.
pub(crate) fn base64_offsets(value: &[u8]) -> Vec<Vec<u8>> {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut buf = vec![b' '; shift];
            buf.extend_from_slice(value);
            let enc = base64::engine::general_purpose::STANDARD
                .encode(&buf)
                .into_bytes();
            let trim = END_TRIM[(value.len() + shift) % 3];
            let end = enc.len().saturating_sub(trim);
            enc.get(START[shift]..end)
                .map(<[u8]>::to_vec)
                .unwrap_or_default()
        })
        .collect()
}

fn utf16(bytes: &[u8], m: Modifier) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::with_capacity(bytes.len() * 2 + 2);
    if m == Modifier::Utf16 {
        out.extend_from_slice(&[0xff, 0xfe]);
    }
    for unit in text.encode_utf16() {
        let b = if m == Modifier::Utf16Be {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literals_of(pattern: &str, mods: &[Modifier]) -> Option<Vec<String>> {
        match build_regex(pattern, mods).expect("valid regex") {
            ValueMatcher::Regex(r) => r.literals,
            _ => unreachable!(),
        }
    }

    #[test]
    fn regex_prefilter_literals() {
        assert_eq!(
            literals_of("mimikatz.*exe", &[]),
            Some(vec!["mimikatz".into()])
        );
        let lits = literals_of("(?i)(iex|invoke-expression)", &[]).unwrap();
        // Two ASCII literals, and the variants with the long s and the Kelvin sign.
        assert_eq!(&lits[..2], ["iex", "invoke-expression"]);
        assert_eq!(lits.len(), 9);
        assert_eq!(
            literals_of("abc", &[Modifier::ReI]).map(|l| l.len()),
            Some(1)
        );
        // `(?i)k` also matches the Kelvin sign: a literal of its own.
        assert_eq!(
            literals_of("(?i)kerb", &[]),
            Some(vec!["kerb".into(), "\u{212A}erb".into()])
        );
        assert_eq!(literals_of("[a-z]bc", &[]), None);
        assert_eq!(literals_of(".*abc", &[]), None);
        assert_eq!(literals_of("a|", &[]), None);
    }

    proptest::proptest! {
        #[test]
        fn every_regex_match_contains_a_prefilter_literal(h in "[abcksxyzABCKS\u{212A}\u{17F}. -]{0,16}") {
            for p in ["abc", "(?i)a[bx]c", "x(yz|ab)+c", "(?i)(abc|xyz)\\s*-", "ab?c", "^ab.c$", "(?i)sk.s", "(?i)[kx]ab"] {
                let ValueMatcher::Regex(r) = build_regex(p, &[]).unwrap() else { unreachable!() };
                if let (true, Some(lits)) = (r.re.is_match(&h), &r.literals) {
                    let lower = h.to_ascii_lowercase();
                    proptest::prop_assert!(!lits.is_empty());
                    proptest::prop_assert!(lits.iter().any(|l| lower.contains(l.as_str())), "{p} on {h:?}: {lits:?}");
                }
            }
        }
    }

    #[test]
    fn base64offset_matches_the_published_values() {
        // The specification's example value and pySigma's known output.
        let got: Vec<String> = base64_offsets(b"/bin/bash")
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(got, vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
    }

    #[test]
    fn utf16_encodings() {
        assert_eq!(utf16(b"cmd", Modifier::Utf16Le), b"c\0m\0d\0");
        assert_eq!(utf16(b"cmd", Modifier::Utf16Be), b"\0c\0m\0d");
        assert_eq!(utf16(b"cmd", Modifier::Utf16), b"\xff\xfec\0m\0d\0");
    }

    #[test]
    fn windash_permutes_option_dashes_only() {
        let out = windash(&SigmaString::parse("-a -b x-y"));
        assert_eq!(out.len(), 25);
        let texts: Vec<String> = out.iter().map(|s| s.as_plain().unwrap()).collect();
        assert!(texts.contains(&"/a \u{2013}b x-y".to_string()));
        assert!(texts.iter().all(|t| t.ends_with("x-y")));
    }
}
