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
//! The whole event goes to tantivy as one text value ([`encode`]) that
//! [`TermsTokenizer`] walks; tantivy's per-value overhead is paid once per
//! event instead of once per term.

use std::ops::Range;

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

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
/// Ends a field name in [`encode`]d text.
const END_NAME: char = '\u{1f}';
/// Ends a value in [`encode`]d text.
const END_VALUE: char = '\u{1e}';

/// Appends one field to the text [`TermsTokenizer`] reads. The two
/// separator characters are replaced by spaces inside names and values
/// (they are never part of a word).
pub fn encode(out: &mut String, name: &str, value: &str) {
    push_clean(out, name);
    out.push(END_NAME);
    push_clean(out, value);
    out.push(END_VALUE);
}

/// Appends every searchable value of an event: its source, host and
/// fields (array items one by one; numbers and objects as JSON text).
pub fn encode_event(out: &mut String, ev: &crate::EventDoc) {
    encode_event_where(out, ev, |_| true);
}

/// [`encode_event`], for the fields whose name `keep` accepts.
pub fn encode_event_where(out: &mut String, ev: &crate::EventDoc, keep: impl Fn(&str) -> bool) {
    if keep("source") {
        encode(out, "source", &ev.source);
    }
    if let Some(h) = ev.host.as_ref().filter(|_| keep("host")) {
        encode(out, "host", h);
    }
    let mut field = |name: &str, value: &str| encode(out, name, value);
    for (name, value) in ev.fields.iter().filter(|(name, _)| keep(name)) {
        match value {
            serde_json::Value::String(s) => field(name, s),
            serde_json::Value::Array(items) => {
                for item in items {
                    encode_json(&mut field, name, item);
                }
            }
            serde_json::Value::Null => {}
            other => encode_json(&mut field, name, other),
        }
    }
}

fn encode_json(field: &mut impl FnMut(&str, &str), name: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::String(s) => field(name, s),
        other => field(name, &other.to_string()),
    }
}

fn push_clean(out: &mut String, s: &str) {
    if s.contains([END_NAME, END_VALUE]) {
        out.extend(s.chars().map(|c| {
            if c == END_NAME || c == END_VALUE {
                ' '
            } else {
                c
            }
        }));
    } else {
        out.push_str(s);
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

/// Whether a value is indexed by its words: more than one word, or too
/// long for a whole-value term.
pub fn indexed_by_words(value: &str) -> bool {
    value.len() > MAX_KV_VALUE
        || next_word(value, 0).is_none_or(|w| w.start != 0 || w.end != value.len())
}

/// Calls `each` with every term of [`encode`]d text and its position.
pub fn tokenize(text: &str, mut each: impl FnMut(&str, usize)) {
    let mut tokenizer = TermsTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    while stream.advance() {
        each(&stream.token().text, stream.token().position);
    }
}

/// Reads [`encode`]d text and yields the terms above.
#[derive(Clone, Default)]
pub struct TermsTokenizer {
    token: Token,
}

impl Tokenizer for TermsTokenizer {
    type TokenStream<'a> = TermsStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermsStream<'a> {
        self.token.reset();
        TermsStream {
            text,
            next_record: 0,
            name: 0..0,
            value: 0..0,
            step: Step::Done,
            word_from: 0,
            position: 0,
            token: &mut self.token,
        }
    }
}

/// What comes next within one field.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Name,
    Whole,
    Words,
    Done,
}

pub struct TermsStream<'a> {
    text: &'a str,
    /// Where the next field starts.
    next_record: usize,
    name: Range<usize>,
    value: Range<usize>,
    step: Step,
    /// Where the next word of the value is looked for (absolute).
    word_from: usize,
    position: usize,
    token: &'a mut Token,
}

impl TermsStream<'_> {
    /// Moves to the next field; false at the end of the text.
    fn next_field(&mut self) -> bool {
        let rest = &self.text[self.next_record..];
        let Some(name_len) = rest.find(END_NAME) else {
            return false;
        };
        let value_start = self.next_record + name_len + 1;
        let value_len = self.text[value_start..]
            .find(END_VALUE)
            .unwrap_or(self.text.len() - value_start);
        self.name = self.next_record..self.next_record + name_len;
        self.value = value_start..value_start + value_len;
        self.next_record = (value_start + value_len + 1).min(self.text.len());
        self.word_from = value_start;
        self.step = Step::Name;
        // A gap between fields: a phrase never runs from one value into
        // the next (array items share a name).
        self.position += 2;
        true
    }

    /// Starts a term of the current field: the name mark and the name, or
    /// the name and a separator.
    fn start(&mut self, mark: char) {
        self.token.text.clear();
        if mark == NAME_MARK {
            self.token.text.push(NAME_MARK);
        }
        push_lower(&mut self.token.text, &self.text[self.name.clone()]);
        if mark != NAME_MARK {
            self.token.text.push(mark);
        }
        self.token.position = self.position;
        self.token.offset_from = self.value.start;
        self.token.offset_to = self.value.end;
    }

    /// Emits the current step's term if it has one, and moves on.
    fn step_once(&mut self) -> bool {
        let value = &self.text[self.value.clone()];
        match self.step {
            Step::Name => {
                self.step = Step::Whole;
                self.start(NAME_MARK);
                true
            }
            Step::Whole => {
                self.step = if indexed_by_words(value) {
                    Step::Words
                } else {
                    Step::Done
                };
                if value.is_empty() || value.len() > MAX_KV_VALUE {
                    return false;
                }
                self.start(KV_SEP);
                push_lower(&mut self.token.text, value);
                true
            }
            Step::Words => self.next_word_term(),
            Step::Done => false,
        }
    }

    fn next_word_term(&mut self) -> bool {
        while let Some(r) = next_word(&self.text[..self.value.end], self.word_from) {
            self.word_from = r.end;
            if r.len() > MAX_WORD {
                continue;
            }
            self.position += 1;
            self.start(WORD_SEP);
            push_lower(&mut self.token.text, &self.text[r.clone()]);
            self.token.offset_from = r.start;
            self.token.offset_to = r.end;
            return true;
        }
        self.step = Step::Done;
        false
    }
}

impl TokenStream for TermsStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            if self.step == Step::Done && !self.next_field() {
                return false;
            }
            if self.step_once() {
                return true;
            }
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(fields: &[(&str, &str)]) -> Vec<(String, usize)> {
        let mut text = String::new();
        for (n, v) in fields {
            encode(&mut text, n, v);
        }
        let mut out = Vec::new();
        tokenize(&text, |t, p| out.push((t.to_string(), p)));
        out
    }

    fn texts(fields: &[(&str, &str)]) -> Vec<String> {
        terms(fields).into_iter().map(|(t, _)| t).collect()
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
        fn raw_text_with_stray_separators_never_panics(raw in "[a-z \u{1e}\u{1f}=.é]{0,60}") {
            tokenize(&raw, |t, _| assert!(!t.is_empty()));
        }
    }
}
