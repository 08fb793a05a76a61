//! The terms an event is indexed under, all in one tantivy field.
//!
//! Every value of an event gives, scoped by its field name (lower-cased):
//! - `\u{2}name`: the field is present (`_exists_:name`);
//! - `name=value`: the whole value, lower-cased, for values up to
//!   [`MAX_KV_VALUE`] bytes (`field:value`, keyword wildcards, ranges);
//! - `name\u{1}word` with positions: each word of a value that is more
//!   than one word, or longer than [`MAX_KV_VALUE`] (`field:word`,
//!   phrases inside a field);
//!
//! Free text (a word without a field) is answered by looking the word up
//! under every field name a bucket holds, so a value is indexed once,
//! not once per field and again for free text: indexing cost is in
//! tokens and unique terms, and log values (addresses, ports, ids,
//! hashes) are mostly unique.
//!
//! Names and whole values have the two control characters `\u{1e}` and
//! `\u{1f}` replaced by spaces: a block joins its terms with the first,
//! and neither is ever part of a word.

use crate::words::next_word;

/// Values up to this many bytes get a `name=value` term (a keyword index);
/// longer ones (messages, command lines) are found through their words,
/// which keeps the term dictionary from filling with unique long values.
pub const MAX_KV_VALUE: usize = 64;
/// Words longer than this are not indexed (blobs would bloat the terms).
pub const MAX_WORD: usize = 256;
/// After a field name: a word of the value.
pub const WORD_SEP: char = '\u{1}';
/// Before a field name: the field is present.
pub const NAME_MARK: char = '\u{2}';
/// After a field name: the whole value.
pub const KV_SEP: char = '=';
/// Before a field name: some of the field's values in the block are
/// indexed only as words of their event's message (see [`covered_by`]).
pub const COVERED_MARK: char = '\u{3}';
/// The field whose words stand in for the values they cover.
pub const MESSAGE: &str = "message";

/// Calls `each(name, value)` for every searchable value of an event: its
/// source, host and fields (array items one by one; numbers and objects
/// as JSON text), in order, for the fields whose name `keep` accepts.
pub fn for_each_value(
    ev: &crate::EventDoc,
    keep: impl Fn(&str) -> bool,
    mut each: impl FnMut(&str, &str),
) {
    if keep("source") {
        each("source", &ev.source);
    }
    if let Some(h) = ev.host.as_ref().filter(|_| keep("host")) {
        each("host", h);
    }
    for (name, value) in ev.fields.iter().filter(|(name, _)| keep(name)) {
        match value {
            serde_json::Value::String(s) => each(name, s),
            serde_json::Value::Array(items) => {
                for item in items {
                    each_json(&mut each, name, item);
                }
            }
            serde_json::Value::Null => {}
            other => each_json(&mut each, name, other),
        }
    }
}

fn each_json(each: &mut impl FnMut(&str, &str), name: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => each(name, s),
        other => each(name, &other.to_string()),
    }
}

/// Makes the terms of one value after another, with their positions:
/// a value's name and whole-value terms at the value's position, its
/// words at the positions after it, and a gap between values so that a
/// phrase never runs from one value into the next (array items share a
/// name).
#[derive(Default)]
pub struct TermBuilder {
    term: String,
    position: usize,
}

impl TermBuilder {
    /// Calls `each(term, position)` for every term of every value of an
    /// event (see [`for_each_value`]), positions counted from the event's start.
    pub fn event(
        &mut self,
        ev: &crate::EventDoc,
        keep: impl Fn(&str) -> bool,
        mut each: impl FnMut(&str, usize),
    ) {
        self.position = 0;
        for_each_value(ev, keep, |name, value| self.value(name, value, &mut each));
    }

    /// [`Self::event`] for an event's values given as (name, value) pairs.
    pub fn values<'v>(
        &mut self,
        values: impl Iterator<Item = (&'v str, &'v str)>,
        mut each: impl FnMut(&str, usize),
    ) {
        self.position = 0;
        for (name, value) in values {
            self.value(name, value, &mut each);
        }
    }

    /// Calls `each(term)` for the terms of field `name` holding a value
    /// its event's message covers (see [`covered_by`]): that the field is
    /// present, and that some of its values are only the message's words.
    pub fn covered(&mut self, name: &str, mut each: impl FnMut(&str)) {
        self.term.clear();
        self.term.push(NAME_MARK);
        push_lower_clean(&mut self.term, name);
        each(&self.term);
        self.term.replace_range(
            ..NAME_MARK.len_utf8(),
            COVERED_MARK.encode_utf8(&mut [0; 4]),
        );
        each(&self.term);
    }

    /// Calls `each(term, position)` for the terms of field `name` holding `value`.
    pub fn value(&mut self, name: &str, value: &str, each: impl FnMut(&str, usize)) {
        let mut from = 0;
        let words = std::iter::from_fn(|| {
            let word = next_word(value, from)?;
            from = word.end;
            Some(word)
        });
        self.value_words(name, value, words, each);
    }

    /// [`Self::value`] with the value's words found already (as
    /// [`next_word`] finds them; longer than [`MAX_WORD`] ones are skipped).
    pub fn value_words(
        &mut self,
        name: &str,
        value: &str,
        words: impl Iterator<Item = std::ops::Range<usize>>,
        mut each: impl FnMut(&str, usize),
    ) {
        self.position += 2;
        let at = self.position;
        self.term.clear();
        self.term.push(NAME_MARK);
        push_lower_clean(&mut self.term, name);
        each(&self.term, at);
        let name_end = self.term.len();
        if !value.is_empty() && value.len() <= MAX_KV_VALUE {
            self.term.push(KV_SEP);
            push_lower_clean(&mut self.term, value);
            each(&self.term[NAME_MARK.len_utf8()..], at);
        }
        if !indexed_by_words(value) {
            return;
        }
        self.term.truncate(name_end);
        self.term.push(WORD_SEP);
        let prefix = self.term.len();
        for word in words {
            if word.len() > MAX_WORD {
                continue;
            }
            self.position += 1;
            self.term.truncate(prefix);
            push_lower(&mut self.term, &value[word]);
            each(&self.term[NAME_MARK.len_utf8()..], self.position);
        }
    }
}

/// Appends `s` lower-cased, with the block's separators made spaces.
fn push_lower_clean(out: &mut String, s: &str) {
    // Names and values rarely hold a separator: copied whole, then
    // lower-cased in place (a char at a time was 2-3% of the indexer).
    if s.is_ascii() {
        if memchr::memchr2(0x1e, 0x1f, s.as_bytes()).is_none() {
            push_lower(out, s);
        } else {
            out.extend(s.bytes().map(|b| match b {
                0x1e | 0x1f => ' ',
                b => b.to_ascii_lowercase() as char,
            }));
        }
    } else {
        out.extend(s.chars().flat_map(char::to_lowercase).map(|c| {
            if c == '\u{1e}' || c == '\u{1f}' {
                ' '
            } else {
                c
            }
        }));
    }
}

/// Appends `s` lower-cased.
pub fn push_lower(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(s.chars().flat_map(char::to_lowercase));
    }
}

fn scoped(name: &str, sep: char, rest: &str) -> String {
    let mut t = String::with_capacity(name.len() + rest.len() + 1);
    push_lower(&mut t, name);
    t.push(sep);
    push_lower(&mut t, rest);
    t
}

/// A field name lower-cased: the start of all its terms.
pub fn name_prefix(name: &str) -> String {
    let mut t = String::with_capacity(name.len() + 1);
    push_lower(&mut t, name);
    t
}

/// The term saying field `name` is present.
pub fn name_term(name: &str) -> String {
    let mut t = String::from(NAME_MARK);
    push_lower(&mut t, name);
    t
}

/// The term of a whole value.
pub fn kv_term(name: &str, value: &str) -> String {
    scoped(name, KV_SEP, value)
}

/// The term of one word of a value.
pub fn word_term(name: &str, word: &str) -> String {
    scoped(name, WORD_SEP, word)
}

/// A value that reads as a finite number (short strings only: a number
/// written in a log is short).
pub fn as_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // The last-digit test turns most words away before parsing.
    if s.is_empty() || s.len() > 32 || !s.as_bytes()[s.len() - 1].is_ascii_digit() {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The term saying some values of field `name` in a block are indexed
/// only as words of their event's message.
pub fn covered_term(name: &str) -> String {
    let mut t = String::from(COVERED_MARK);
    push_lower(&mut t, name);
    t
}

/// Whether `value` of another field needs no terms of its own because it
/// is, whole, one of the indexed `words` (byte ranges) of its event's
/// `message`: then the block holds `message\u{1}value`, which is exactly
/// the text its `name=value` term would have after the separator (a
/// single word has no separators to clean, and both are lower-cased the
/// same way). Parsers copy addresses, ports and users out of the message,
/// so this saves most of the terms parsing would add. A search for the
/// field also looks at the message's words in blocks that say so
/// ([`covered_term`]); the events themselves are always checked exactly.
pub fn covered_by(value: &str, message: &str, words: &[std::ops::Range<usize>]) -> bool {
    if value.is_empty() || indexed_by_words(value) {
        return false;
    }
    // Lengths first: most values are no word of the message, and a word
    // of another length cannot be this value (lower-casing ASCII keeps
    // the length; a non-ASCII value may be missed, which only costs it
    // its own terms).
    words
        .iter()
        .any(|w| w.len() == value.len() && same_lowered(&message[w.clone()], value))
}

fn same_lowered(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// The byte ranges of the words of a message that get terms (see
/// [`TermBuilder::value`]), into `out`; none when the message is indexed
/// as a whole value instead.
pub fn indexed_words(message: &str, out: &mut Vec<std::ops::Range<usize>>) {
    out.clear();
    if !indexed_by_words(message) {
        return;
    }
    let mut from = 0;
    while let Some(word) = next_word(message, from) {
        from = word.end;
        if word.len() <= MAX_WORD {
            out.push(word);
        }
    }
}

/// Whether a value is indexed by its words: more than one word, or too
/// long for a whole-value term.
pub fn indexed_by_words(value: &str) -> bool {
    value.len() > MAX_KV_VALUE
        || next_word(value, 0).is_none_or(|w| w.start != 0 || w.end != value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_lower_cased_with_separators_made_spaces() {
        for (text, want) in [
            ("Source.IP", "source.ip"),
            ("a\u{1e}B\u{1f}c", "a b c"),
            ("ÉTÉ\u{1e}X", "été x"),
            ("", ""),
        ] {
            let mut out = String::from(">");
            push_lower_clean(&mut out, text);
            assert_eq!(out, format!(">{want}"), "{text:?}");
        }
    }

    fn terms(fields: &[(&str, &str)]) -> Vec<(String, usize)> {
        let mut builder = TermBuilder::default();
        let mut out = Vec::new();
        for (n, v) in fields {
            builder.value(n, v, |t, p| out.push((t.to_string(), p)));
        }
        out
    }

    fn texts(fields: &[(&str, &str)]) -> Vec<String> {
        terms(fields).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn a_value_the_message_says_whole_is_covered_by_its_words() {
        let message = "Failed password for ROOT from 203.0.113.9 port 22 ssh2";
        let mut words = Vec::new();
        indexed_words(message, &mut words);
        let covered = |v: &str| covered_by(v, message, &words);
        assert!(covered("root") && covered("203.0.113.9") && covered("22"));
        assert!(!covered("203.0.113") && !covered("2") && !covered("password for"));
        assert!(!covered("") && !covered("-") && !covered("alice"));
        // Only a message indexed by its words covers anything.
        indexed_words("single-word", &mut words);
        assert!(words.is_empty());
        let message = "Übel ÄRGER";
        indexed_words(message, &mut words);
        assert!(covered_by("ärger", message, &words));
        let mut builder = TermBuilder::default();
        let mut got = Vec::new();
        builder.covered("Source.IP", |t| got.push(t.to_string()));
        assert_eq!(got, [name_term("source.ip"), covered_term("source.ip")]);
    }

    #[test]
    fn a_keyword_value_is_one_whole_term() {
        assert_eq!(
            texts(&[("Host", "Web-01.Example.com")]),
            [name_term("host"), "host=web-01.example.com".to_string()]
        );
    }

    #[test]
    fn a_sentence_gives_its_words_in_order() {
        let t = terms(&[("message", "Failed password for ROOT")]);
        let words: Vec<_> = t.iter().filter(|(x, _)| x.contains(WORD_SEP)).collect();
        assert_eq!(words.len(), 4);
        assert_eq!(words[3].0, word_term("message", "root"));
        assert!(words.windows(2).all(|w| w[1].1 == w[0].1 + 1));
        assert!(t.contains(&(kv_term("message", "failed password for root"), t[0].1)));
    }

    #[test]
    fn long_values_have_no_whole_term_and_separators_cannot_forge_fields() {
        let long = "a".repeat(MAX_KV_VALUE + 1);
        let t = texts(&[("cmd", &long)]);
        assert_eq!(t, [name_term("cmd"), word_term("cmd", &long)]);
        let t = texts(&[("a", "x\u{1e}evil\u{1f}y z"), ("", ""), ("b", "")]);
        assert!(!t.iter().any(|x| x.starts_with("evil")));
        assert!(t.contains(&name_term("b")));
    }

    #[test]
    fn array_items_are_apart() {
        let t = terms(&[("tag", "a b"), ("tag", "c d")]);
        let pos = |w: &str| t.iter().find(|(x, _)| *x == word_term("tag", w)).unwrap().1;
        assert!(pos("c") > pos("b") + 1);
    }

    proptest::proptest! {
        #[test]
        fn any_text_tokenizes_without_panicking(n in "\\PC{0,12}", v in "\\PC{0,80}") {
            let t = terms(&[(&n, &v), ("k", "v")]);
            proptest::prop_assert!(t.iter().any(|(x, _)| *x == name_term("k")));
        }

        #[test]
        fn no_term_holds_the_block_separator(n in "[a-z\u{1e}\u{1f}é]{0,6}", v in "[a-z \u{1e}\u{1f}=.é]{0,60}") {
            for (t, _) in terms(&[(&n, &v)]) {
                let clean = !t.is_empty() && !t.contains(['\u{1e}', '\u{1f}']);
                proptest::prop_assert!(clean, "term {:?}", t);
            }
        }
    }
}
