//! The word tokenizer of the `text` field: runs of letters, digits and `_`,
//! joined by a single `.`, `@` or `-` between two such runs, so that host
//! names, addresses, file names and mail addresses stay one word
//! (`web-01.example.com`, `10.0.0.5`, `cmd.exe`, `bob@example.com`).
//!
//! Written out rather than as a regular expression: tantivy clones its
//! tokenizers per document, and a cloned `regex` starts with an empty lazy
//! DFA, which for Unicode classes cost more than the rest of indexing.

use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

#[derive(Clone, Default)]
pub struct WordTokenizer {
    token: Token,
}

pub struct WordStream<'a> {
    text: &'a str,
    pos: usize,
    token: &'a mut Token,
}

fn is_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    matches!(c, '.' | '@' | '-')
}

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream<'a> {
        self.token.reset();
        WordStream {
            text,
            pos: 0,
            token: &mut self.token,
        }
    }
}

impl WordStream<'_> {
    fn char_at(&self, at: usize) -> Option<char> {
        self.text[at..].chars().next()
    }
}

impl TokenStream for WordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        // Skip to the start of a word.
        while let Some(c) = self.char_at(self.pos) {
            if is_part(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        let start = self.pos;
        if start >= self.text.len() {
            return false;
        }
        let mut end = start;
        while let Some(c) = self.char_at(end) {
            if is_part(c) {
                end += c.len_utf8();
            } else if is_joiner(c) && self.char_at(end + 1).is_some_and(is_part) {
                end += 1;
            } else {
                break;
            }
        }
        self.pos = end;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.text.push_str(&self.text[start..end]);
        true
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

    fn words(text: &str) -> Vec<String> {
        let mut t = WordTokenizer::default();
        let mut s = t.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            out.push(s.token().text.clone());
        }
        out
    }

    #[test]
    fn keeps_names_and_addresses_whole() {
        assert_eq!(
            words("Failed password for root from 10.0.0.5 port 22: web-01.example.com, bob@ex.org. C:\\\\Windows\\\\cmd.exe -x --y ..a"),
            ["Failed", "password", "for", "root", "from", "10.0.0.5", "port", "22", "web-01.example.com", "bob@ex.org", "C", "Windows", "cmd.exe", "x", "y", "a"]
        );
        assert_eq!(words("été à Zürich_2"), ["été", "à", "Zürich_2"]);
        assert!(words("  -- .. @@ ").is_empty());
        assert_eq!(words("a-"), ["a"]);
    }

    proptest::proptest! {
        #[test]
        fn tokens_are_slices_of_the_text(s in "\\PC{0,40}") {
            let mut t = WordTokenizer::default();
            let mut st = t.token_stream(&s);
            while st.advance() {
                let tok = st.token();
                proptest::prop_assert_eq!(&s[tok.offset_from..tok.offset_to], tok.text.as_str());
                proptest::prop_assert!(!tok.text.is_empty());
            }
        }
    }
}
