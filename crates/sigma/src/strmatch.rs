//! Compiled string matching: exact, prefix, suffix and substring tests run
//! as byte comparisons with ASCII case folding and no allocation; other
//! wildcard patterns run a linear glob matcher. Patterns holding non-ASCII
//! letters fold the haystack with full Unicode lowercasing instead.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::strings::{Part, SigmaString};

#[derive(Debug, Clone)]
enum Op {
    Exact,
    Prefix,
    Suffix,
    Contains,
    Glob(Vec<Vec<Tok>>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Byte(u8),
    /// `?`: one character.
    One,
}

/// A compiled Sigma string comparison.
#[derive(Debug, Clone)]
pub struct StrMatcher {
    op: Op,
    /// The literal text (lowercased unless cased) for the simple ops.
    needle: Box<str>,
    cased: bool,
    /// Case-insensitive with non-ASCII letters: lowercase the haystack.
    unicode_fold: bool,
}

impl StrMatcher {
    pub fn new(s: &SigmaString, cased: bool) -> StrMatcher {
        let unicode_fold = !cased
            && s.parts
                .iter()
                .any(|p| matches!(p, Part::Lit(l) if !l.is_ascii()));
        let fold = |l: &str| {
            if cased {
                l.to_string()
            } else {
                l.to_lowercase()
            }
        };
        let lits: Vec<&Part> = s.parts.iter().collect();
        let (op, needle) = match lits.as_slice() {
            [] => (Op::Exact, String::new()),
            [Part::Lit(l)] => (Op::Exact, fold(l)),
            [Part::AnyMany] => (Op::Prefix, String::new()),
            [Part::Lit(l), Part::AnyMany] => (Op::Prefix, fold(l)),
            [Part::AnyMany, Part::Lit(l)] => (Op::Suffix, fold(l)),
            [Part::AnyMany, Part::Lit(l), Part::AnyMany] => (Op::Contains, fold(l)),
            _ => (Op::Glob(compile_glob(s, &fold)), String::new()),
        };
        StrMatcher {
            op,
            needle: needle.into(),
            cased,
            unicode_fold,
        }
    }

    pub fn is_match(&self, hay: &str) -> bool {
        // An ASCII haystack folds the same way under both rules; only
        // non-ASCII text needs the (allocating) Unicode lowercase.
        if self.unicode_fold && !hay.is_ascii() {
            let lowered = hay.to_lowercase();
            return self.match_bytes(lowered.as_bytes());
        }
        self.match_bytes(hay.as_bytes())
    }

    fn match_bytes(&self, hay: &[u8]) -> bool {
        let n = self.needle.as_bytes();
        let eq = |a: &[u8], b: &[u8]| {
            if self.cased {
                a == b
            } else {
                a.eq_ignore_ascii_case(b)
            }
        };
        match &self.op {
            Op::Exact => hay.len() == n.len() && eq(hay, n),
            Op::Prefix => hay.len() >= n.len() && eq(&hay[..n.len()], n),
            Op::Suffix => hay.len() >= n.len() && eq(&hay[hay.len() - n.len()..], n),
            Op::Contains => find(hay, n, self.cased).is_some(),
            Op::Glob(segs) => glob_match(hay, segs, self.cased),
        }
    }

    /// The longest literal that any match must contain (lowercase), if the
    /// pattern is ASCII: used by the engine's prefilter.
    pub fn required_literal(&self) -> Option<String> {
        if self.unicode_fold {
            return None;
        }
        match &self.op {
            Op::Glob(segs) => segs
                .iter()
                .flat_map(|seg| seg.split(|t| *t == Tok::One))
                .max_by_key(|run| run.len())
                .map(|run| {
                    run.iter()
                        .filter_map(|t| match t {
                            Tok::Byte(b) => Some(b.to_ascii_lowercase() as char),
                            Tok::One => None,
                        })
                        .collect()
                }),
            _ => Some(self.needle.to_ascii_lowercase()),
        }
        .filter(|s: &String| s.is_ascii())
    }
}

/// Where a literal must sit in the haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

impl Anchor {
    fn accepts(self, start: usize, end: usize, len: usize) -> bool {
        match self {
            Anchor::Exact => start == 0 && end == len,
            Anchor::Prefix => start == 0,
            Anchor::Suffix => end == len,
            Anchor::Contains => true,
        }
    }
}

/// Many plain comparisons against one value (`Image|endswith: [200
/// names]`) as one automaton pass over the value instead of one search
/// per pattern.
#[derive(Debug, Clone)]
pub struct StrSet {
    ac: AhoCorasick,
    anchors: Vec<Anchor>,
    needles: Vec<Box<str>>,
    only_contains: bool,
    unicode_fold: bool,
}

/// Fewest plain patterns worth an automaton.
pub const STR_SET_MIN: usize = 4;

impl StrSet {
    /// Builds a set from the plain (exact, prefix, suffix, contains;
    /// non-empty) matchers among `ms` that share `cased` and
    /// `unicode_fold`, removing them from `ms`; `None` (and `ms` untouched)
    /// when fewer than [`STR_SET_MIN`] qualify.
    pub fn extract(ms: &mut Vec<StrMatcher>, cased: bool, unicode_fold: bool) -> Option<StrSet> {
        let plain = |m: &StrMatcher| {
            m.cased == cased
                && m.unicode_fold == unicode_fold
                && !m.needle.is_empty()
                && !matches!(m.op, Op::Glob(_))
        };
        if ms.iter().filter(|m| plain(m)).count() < STR_SET_MIN {
            return None;
        }
        let (taken, kept): (Vec<StrMatcher>, Vec<StrMatcher>) =
            std::mem::take(ms).into_iter().partition(plain);
        *ms = kept;
        let anchors: Vec<Anchor> = taken
            .iter()
            .map(|m| match m.op {
                Op::Exact => Anchor::Exact,
                Op::Prefix => Anchor::Prefix,
                Op::Suffix => Anchor::Suffix,
                _ => Anchor::Contains,
            })
            .collect();
        let needles: Vec<Box<str>> = taken.into_iter().map(|m| m.needle).collect();
        // Unicode-folded needles are already lowercase; the haystack is
        // lowercased (or, when ASCII, folded by the automaton) to meet them.
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(!cased)
            .match_kind(MatchKind::Standard)
            .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
            .build(needles.iter().map(|n| n.as_bytes()))
            .ok()?;
        Some(StrSet {
            only_contains: anchors.iter().all(|a| *a == Anchor::Contains),
            ac,
            anchors,
            needles,
            unicode_fold,
        })
    }

    pub fn is_match(&self, hay: &str) -> bool {
        if self.unicode_fold && !hay.is_ascii() {
            return self.match_folded(&hay.to_lowercase());
        }
        self.match_folded(hay)
    }

    fn match_folded(&self, hay: &str) -> bool {
        if self.only_contains {
            return self.ac.is_match(hay);
        }
        let len = hay.len();
        self.ac
            .find_overlapping_iter(hay)
            .any(|m| self.anchors[m.pattern().as_usize()].accepts(m.start(), m.end(), len))
    }

    /// The lowercase ASCII literals, one of which every match contains;
    /// `None` for sets of non-ASCII patterns.
    pub fn literals(&self) -> Option<impl Iterator<Item = String> + '_> {
        (!self.unicode_fold).then(|| self.needles.iter().map(|n| n.to_ascii_lowercase()))
    }
}

fn compile_glob(s: &SigmaString, fold: &dyn Fn(&str) -> String) -> Vec<Vec<Tok>> {
    let mut segs = vec![Vec::new()];
    for p in &s.parts {
        match p {
            Part::AnyMany => segs.push(Vec::new()),
            Part::AnyOne => segs.last_mut().map(|s| s.push(Tok::One)).unwrap_or(()),
            Part::Lit(l) => {
                let seg = segs.last_mut();
                if let Some(seg) = seg {
                    seg.extend(fold(l).bytes().map(Tok::Byte));
                }
            }
        }
    }
    segs
}

/// Case-insensitive (ASCII) or exact substring search.
pub(crate) fn find(hay: &[u8], needle: &[u8], cased: bool) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    if cased {
        return memchr::memmem::find(hay, needle);
    }
    if hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let last_start = hay.len() - needle.len();
    let mut from = 0;
    while from <= last_start {
        let window = &hay[from..=last_start];
        let off = if lo == up {
            memchr::memchr(lo, window)
        } else {
            memchr::memchr2(lo, up, window)
        }?;
        let at = from + off;
        if hay[at..at + needle.len()].eq_ignore_ascii_case(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Length of the UTF-8 character starting at `b`.
fn char_len(b: u8) -> usize {
    match b {
        0..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Matches a segment at `pos`; returns the end position.
fn seg_at(hay: &[u8], pos: usize, seg: &[Tok], cased: bool) -> Option<usize> {
    let mut i = pos;
    for t in seg {
        match t {
            Tok::Byte(b) => {
                let h = *hay.get(i)?;
                let same = if cased {
                    h == *b
                } else {
                    h.eq_ignore_ascii_case(b)
                };
                if !same {
                    return None;
                }
                i += 1;
            }
            Tok::One => {
                let h = *hay.get(i)?;
                i += char_len(h);
                if i > hay.len() {
                    return None;
                }
            }
        }
    }
    Some(i)
}

fn is_boundary(hay: &[u8], i: usize) -> bool {
    i == hay.len() || (hay[i] & 0xc0) != 0x80
}

/// Leftmost match of `seg` at or after `from`; returns (start, end).
fn seg_find(hay: &[u8], from: usize, seg: &[Tok], cased: bool) -> Option<(usize, usize)> {
    if let Some(Tok::Byte(_)) = seg.first() {
        if seg.iter().all(|t| matches!(t, Tok::Byte(_))) {
            let bytes: Vec<u8> = seg
                .iter()
                .filter_map(|t| if let Tok::Byte(b) = t { Some(*b) } else { None })
                .collect();
            let at = from + find(&hay[from.min(hay.len())..], &bytes, cased)?;
            return Some((at, at + bytes.len()));
        }
    }
    (from..=hay.len())
        .filter(|&i| is_boundary(hay, i))
        .find_map(|i| seg_at(hay, i, seg, cased).map(|end| (i, end)))
}

/// Glob matching over `*`-separated segments: the first is anchored at the
/// start, the last at the end, the middle ones matched leftmost (which is
/// optimal for `*`-separated patterns), in time linear in segments.
fn glob_match(hay: &[u8], segs: &[Vec<Tok>], cased: bool) -> bool {
    if segs.len() == 1 {
        return seg_at(hay, 0, &segs[0], cased) == Some(hay.len());
    }
    let Some(mut pos) = seg_at(hay, 0, &segs[0], cased) else {
        return false;
    };
    let last = &segs[segs.len() - 1];
    for seg in &segs[1..segs.len() - 1] {
        match seg_find(hay, pos, seg, cased) {
            Some((_, end)) => pos = end,
            None => return false,
        }
    }
    (pos..=hay.len())
        .rev()
        .filter(|&i| is_boundary(hay, i))
        .any(|i| seg_at(hay, i, last, cased) == Some(hay.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, hay: &str) -> bool {
        StrMatcher::new(&SigmaString::parse(pattern), false).is_match(hay)
    }

    #[test]
    fn simple_forms() {
        assert!(m("cmd.exe", "CMD.EXE"));
        assert!(!m("cmd.exe", "xcmd.exe"));
        assert!(m("*\\cmd.exe", "C:\\Windows\\System32\\cmd.exe"));
        assert!(m("C:\\Win*", "c:\\windows"));
        assert!(m("*mimikatz*", "run Mimikatz now"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("*", ""));
    }

    #[test]
    fn globs() {
        // `\*` escapes the star, so a backslash before a wildcard is written `\\*`.
        assert!(m(
            "*\\AppData\\\\*\\x.exe",
            "C:\\Users\\a\\AppData\\Local\\x.exe"
        ));
        assert!(m("*\\AppData\\*\\x.exe", "C:\\AppData*\\x.exe"));
        assert!(!m("*\\AppData\\\\*\\x.exe", "C:\\Users\\a\\AppData\\x.exe"));
        assert!(m("prog?.exe", "progA.exe"));
        assert!(m("prog?.exe", "progé.exe"));
        assert!(!m("prog?.exe", "prog.exe"));
        assert!(m("a*b*a", "abba"));
        assert!(!m("a*b*a", "aba b"));
    }

    #[test]
    fn case_rules() {
        assert!(m("ÄBC", "äbc"));
        assert!(!StrMatcher::new(&SigmaString::parse("Abc"), true).is_match("abc"));
        assert!(StrMatcher::new(&SigmaString::parse("*Abc*"), true).is_match("xAbcx"));
    }

    #[test]
    fn required_literals() {
        let r = |p: &str| StrMatcher::new(&SigmaString::parse(p), false).required_literal();
        assert_eq!(r("*\\AppData\\\\*\\x.exe").as_deref(), Some("\\appdata\\"));
        assert_eq!(r("*Mimi*").as_deref(), Some("mimi"));
        assert_eq!(r("ÄBC"), None);
    }

    /// Checks sets plus leftover matchers against the single matchers;
    /// returns how many sets were built.
    fn set_and_singles_agree(patterns: &[&str], hay: &str) -> usize {
        let singles: Vec<StrMatcher> = patterns
            .iter()
            .map(|p| StrMatcher::new(&SigmaString::parse(p), false))
            .collect();
        let mut rest = singles.clone();
        let sets: Vec<StrSet> = [false, true]
            .into_iter()
            .filter_map(|unicode| StrSet::extract(&mut rest, false, unicode))
            .collect();
        let expected = singles.iter().any(|m| m.is_match(hay));
        let got = sets.iter().any(|s| s.is_match(hay)) || rest.iter().any(|m| m.is_match(hay));
        assert_eq!(got, expected, "{patterns:?} on {hay:?}");
        sets.len()
    }

    #[test]
    fn unicode_string_sets_fold_the_haystack() {
        let pats = ["*ÄBC*", "*😀*", "Ökonom*", "*straße"];
        for hay in [
            "xäbcx",
            "ÖKONOMIE",
            "abc",
            "x😀",
            "STRASSE",
            "Straße",
            "strasse",
        ] {
            assert_eq!(set_and_singles_agree(&pats, hay), 1);
        }
    }

    #[test]
    fn string_sets_keep_anchors() {
        let pats = [
            "cmd.exe",
            "\\\\psexec*",
            "*\\rundll32.exe",
            "*mimikatz*",
            "a*b",
        ];
        for hay in [
            "CMD.EXE",
            "xcmd.exe",
            "cmd.exex",
            "\\\\PsExec.exe",
            "C:\\\\psexec",
            "C:\\Windows\\rundll32.exe",
            "rundll32.exe x",
            "run MIMIKATZ",
            "aXXb",
            "",
        ] {
            assert_eq!(set_and_singles_agree(&pats, hay), 1);
        }
    }

    /// The obvious exponential reference: a recursive matcher over chars.
    fn reference(p: &[char], h: &[char]) -> bool {
        match (p.first(), h.first()) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some('*'), _) => reference(&p[1..], h) || (!h.is_empty() && reference(p, &h[1..])),
            (Some('?'), Some(_)) => reference(&p[1..], &h[1..]),
            (Some(c), Some(d)) => {
                c.to_lowercase().eq(d.to_lowercase()) && reference(&p[1..], &h[1..])
            }
            (Some(_), None) => false,
        }
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(p in "[ab*?é]{0,8}", h in "[abAB é]{0,10}") {
            let expected = reference(&p.chars().collect::<Vec<_>>(), &h.chars().collect::<Vec<_>>());
            prop_assert_eq!(m(&p, &h), expected, "pattern {:?} haystack {:?}", p, h);
        }

        #[test]
        fn string_set_agrees_with_single_matchers(
            pats in proptest::collection::vec("[ab]{0,1}[*]?[abAB.äÄ]{1,3}[*]?", 4..8),
            h in "[abAB.äÄ]{0,10}",
        ) {
            let pats: Vec<&str> = pats.iter().map(String::as_str).collect();
            set_and_singles_agree(&pats, &h);
        }

        #[test]
        fn ascii_string_set_agrees_with_single_matchers(
            pats in proptest::collection::vec("[*]?[abAB.]{1,3}[*]?", 4..8),
            h in "[abAB.]{0,10}",
        ) {
            let pats: Vec<&str> = pats.iter().map(String::as_str).collect();
            prop_assert_eq!(set_and_singles_agree(&pats, &h), 1);
        }

        #[test]
        fn required_literal_is_in_every_match(p in "[ab*?]{0,8}", h in "[abAB]{0,10}") {
            let sm = StrMatcher::new(&SigmaString::parse(&p), false);
            if sm.is_match(&h) {
                if let Some(lit) = sm.required_literal() {
                    prop_assert!(h.to_lowercase().contains(&lit));
                }
            }
        }
    }
}
