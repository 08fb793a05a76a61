//! The search language, as users of Kibana (Lucene syntax) and Splunk know
//! it: `field:value`, `field:"a phrase"`, wildcards `*` and `?`, bare words
//! and phrases over all text, `AND`/`OR`/`NOT` (also `&&`, `||`, `!`, `-`),
//! parentheses, ranges `field:[a TO b]`, `field:{a TO b}`, `field:>=5`, and
//! `_exists_:field`. Adjacent terms are ANDed.
//!
//! Parsing gives a [`Query`] tree that each store translates; it knows
//! nothing about indexes.

use std::fmt;
use std::ops::Bound;

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Matches every event (the empty query, or `*`).
    All,
    And(Vec<Query>),
    Or(Vec<Query>),
    Not(Box<Query>),
    /// A value test; `field` is `None` for free text.
    Match {
        field: Option<String>,
        value: Pattern,
    },
    /// A range over a field: numeric when both bounds are numbers, else text order.
    Range {
        field: String,
        lower: Bound<String>,
        upper: Bound<String>,
    },
    /// The field is present.
    Exists(String),
}

impl Query {
    /// Whether some part of the query is free text (a value without a field).
    pub fn has_free_text(&self) -> bool {
        match self {
            Query::And(items) | Query::Or(items) => items.iter().any(Query::has_free_text),
            Query::Not(inner) => inner.has_free_text(),
            Query::Match { field, .. } => field.is_none(),
            Query::All | Query::Range { .. } | Query::Exists(_) => false,
        }
    }
}

/// How a value is matched.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// A bare word, compared whole (a field value) or as words (free text).
    Word(String),
    /// A quoted phrase: the whole value of a field, or consecutive words.
    Phrase(String),
    /// A word with `*` (any run) and `?` (one character); escaped ones are literal.
    Wildcard(Vec<WildPart>),
}

/// A piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum WildPart {
    Literal(String),
    Any,
    One,
}

/// A syntax error with the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query syntax error at column {}: {message}", .offset + 1)]
pub struct QueryError {
    pub offset: usize,
    pub message: String,
}

/// Longest query accepted, and deepest nesting: a query is user input.
const MAX_QUERY_LEN: usize = 16 * 1024;
const MAX_DEPTH: usize = 64;

/// Parses a query string.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_LEN {
        return Err(QueryError {
            offset: MAX_QUERY_LEN,
            message: format!("query longer than {MAX_QUERY_LEN} bytes"),
        });
    }
    let tokens = lex(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        end: text.len(),
    };
    if p.tokens.is_empty() {
        return Ok(Query::All);
    }
    let q = p.or_expr()?;
    if let Some((tok, at)) = p.tokens.get(p.pos) {
        return Err(QueryError {
            offset: *at,
            message: format!("unexpected {tok}"),
        });
    }
    Ok(q)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    /// `field:` (the colon is consumed).
    Field(String),
    /// A bare word with its wildcard structure; `plain` when it has none.
    Word(Vec<WildPart>),
    Quoted(String),
    /// `[a TO b]` / `{a TO b}` with inclusive flags.
    Range(Bound<String>, Bound<String>),
    /// `>`, `>=`, `<`, `<=` followed by a value.
    Compare(&'static str, String),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::And => f.write_str("AND"),
            Tok::Or => f.write_str("OR"),
            Tok::Not => f.write_str("NOT"),
            Tok::Field(name) => write!(f, "field '{name}:'"),
            Tok::Word(_) => f.write_str("word"),
            Tok::Quoted(_) => f.write_str("phrase"),
            Tok::Range(..) => f.write_str("range"),
            Tok::Compare(op, _) => write!(f, "'{op}'"),
        }
    }
}

fn err<T>(offset: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        offset,
        message: message.into(),
    })
}

/// Characters that end a bare word.
fn is_word_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '"')
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn starts_with(&self, s: &str) -> bool {
        self.text[self.pos..].starts_with(s)
    }

    /// A quoted string after its opening quote; `\"` and `\\` escape.
    fn quoted(&mut self, start: usize) -> Result<String, QueryError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return err(start, "unterminated quote"),
                Some('"') => return Ok(out),
                Some('\\') => match self.bump() {
                    Some(c) => out.push(c),
                    None => return err(start, "unterminated quote"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A bare word: stops at whitespace, parentheses, quotes, and (when
    /// `stop_colon`) at an unescaped colon. Returns its wildcard parts.
    fn word(&mut self, stop_colon: bool, stop: &[char]) -> Vec<WildPart> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.peek() {
            if is_word_end(c) || (stop_colon && c == ':') || stop.contains(&c) {
                break;
            }
            self.bump();
            match c {
                '\\' => {
                    if let Some(e) = self.bump() {
                        lit.push(e);
                    }
                }
                '*' | '?' => {
                    if !lit.is_empty() {
                        parts.push(WildPart::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(if c == '*' {
                        WildPart::Any
                    } else {
                        WildPart::One
                    });
                }
                _ => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(WildPart::Literal(lit));
        }
        parts
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// One range bound: a quoted string or a bare word.
    fn bound(&mut self, start: usize) -> Result<String, QueryError> {
        self.skip_space();
        if self.peek() == Some('"') {
            self.bump();
            return self.quoted(start);
        }
        let parts = self.word(false, &[']', '}']);
        Ok(literal_text(&parts))
    }

    /// `[a TO b]` or `{a TO b}` (mixed brackets allowed), `*` for open ends.
    fn range(&mut self, start: usize) -> Result<Tok, QueryError> {
        let lower_inclusive = self.bump() == Some('[');
        let lo = self.bound(start)?;
        self.skip_space();
        if !self.starts_with("TO") {
            return err(self.pos, "expected TO in range");
        }
        self.pos += 2;
        let hi = self.bound(start)?;
        self.skip_space();
        let upper_inclusive = match self.bump() {
            Some(']') => true,
            Some('}') => false,
            _ => return err(start, "unterminated range: expected ']' or '}'"),
        };
        let make = |v: String, inclusive: bool| match v.as_str() {
            "*" | "" => Bound::Unbounded,
            _ if inclusive => Bound::Included(v),
            _ => Bound::Excluded(v),
        };
        Ok(Tok::Range(
            make(lo, lower_inclusive),
            make(hi, upper_inclusive),
        ))
    }

    /// A value after `field:`.
    fn value(&mut self, start: usize) -> Result<Tok, QueryError> {
        match self.peek() {
            Some('"') => {
                self.bump();
                Ok(Tok::Quoted(self.quoted(start)?))
            }
            Some('[' | '{') => self.range(start),
            Some('>' | '<') => {
                let op = if self.starts_with(">=") {
                    ">="
                } else if self.starts_with("<=") {
                    "<="
                } else if self.starts_with(">") {
                    ">"
                } else {
                    "<"
                };
                self.pos += op.len();
                let v = literal_text(&self.word(false, &[]));
                if v.is_empty() {
                    return err(self.pos, format!("expected a value after '{op}'"));
                }
                Ok(Tok::Compare(op, v))
            }
            Some('(') => err(
                self.pos,
                "grouping after a field is not supported; write field:a OR field:b",
            ),
            _ => {
                let parts = self.word(false, &[]);
                if parts.is_empty() {
                    return err(self.pos, "expected a value after ':'");
                }
                Ok(Tok::Word(parts))
            }
        }
    }
}

/// The text of wildcard parts with the wildcards written back.
fn literal_text(parts: &[WildPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            WildPart::Literal(s) => s.as_str(),
            WildPart::Any => "*",
            WildPart::One => "?",
        })
        .collect()
}

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let mut lx = Lexer { text, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_space();
        let start = lx.pos;
        let Some(c) = lx.peek() else { break };
        let tok = match c {
            '(' => {
                lx.bump();
                Tok::LParen
            }
            ')' => {
                lx.bump();
                Tok::RParen
            }
            '"' => {
                lx.bump();
                Tok::Quoted(lx.quoted(start)?)
            }
            '-' | '!' => {
                lx.bump();
                Tok::Not
            }
            '&' if lx.starts_with("&&") => {
                lx.pos += 2;
                Tok::And
            }
            '|' if lx.starts_with("||") => {
                lx.pos += 2;
                Tok::Or
            }
            _ => {
                let parts = lx.word(true, &[]);
                if lx.peek() == Some(':') {
                    lx.bump();
                    let name = literal_text(&parts);
                    if name.is_empty() {
                        return err(start, "expected a field name before ':'");
                    }
                    out.push((Tok::Field(name), start));
                    let vstart = lx.pos;
                    out.push((lx.value(vstart)?, vstart));
                    continue;
                }
                match literal_text(&parts).as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    "" => return err(start, format!("unexpected '{c}'")),
                    _ => Tok::Word(parts),
                }
            }
        };
        out.push((tok, start));
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |(_, o)| *o)
    }

    fn or_expr(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.and_expr()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(flatten(items, Query::Or))
    }

    fn and_expr(&mut self) -> Result<Query, QueryError> {
        let mut items = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                    items.push(self.unary()?);
                }
                Some(Tok::Or | Tok::RParen) | None => break,
                Some(_) => items.push(self.unary()?),
            }
        }
        Ok(flatten(items, Query::And))
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            return Ok(Query::Not(Box::new(self.nested(Self::unary)?)));
        }
        self.primary()
    }

    /// Runs `f` one level deeper, refusing pathological nesting.
    fn nested(
        &mut self,
        f: fn(&mut Self) -> Result<Query, QueryError>,
    ) -> Result<Query, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.offset(), format!("nesting deeper than {MAX_DEPTH}"));
        }
        let q = f(self);
        self.depth -= 1;
        q
    }

    fn primary(&mut self) -> Result<Query, QueryError> {
        let at = self.offset();
        let Some((tok, _)) = self.tokens.get(self.pos).cloned() else {
            return err(at, "unexpected end of query");
        };
        self.pos += 1;
        match tok {
            Tok::LParen => {
                let q = self.nested(Self::or_expr)?;
                if self.peek() != Some(&Tok::RParen) {
                    return err(self.offset(), "expected ')'");
                }
                self.pos += 1;
                Ok(q)
            }
            Tok::Word(parts) => Ok(word_query(None, parts)),
            Tok::Quoted(s) => Ok(Query::Match {
                field: None,
                value: Pattern::Phrase(s),
            }),
            Tok::Field(name) => self.field_value(name),
            other => err(at, format!("unexpected {other}")),
        }
    }

    fn field_value(&mut self, field: String) -> Result<Query, QueryError> {
        let (tok, _) = self.tokens[self.pos].clone();
        self.pos += 1;
        Ok(match tok {
            Tok::Word(parts) if field == "_exists_" => Query::Exists(literal_text(&parts)),
            Tok::Word(parts) if parts == [WildPart::Any] => Query::Exists(field),
            Tok::Word(parts) => word_query(Some(field), parts),
            Tok::Quoted(s) => Query::Match {
                field: Some(field),
                value: Pattern::Phrase(s),
            },
            Tok::Range(lower, upper) => Query::Range {
                field,
                lower,
                upper,
            },
            Tok::Compare(op, v) => {
                let (lower, upper) = match op {
                    ">" => (Bound::Excluded(v), Bound::Unbounded),
                    ">=" => (Bound::Included(v), Bound::Unbounded),
                    "<" => (Bound::Unbounded, Bound::Excluded(v)),
                    _ => (Bound::Unbounded, Bound::Included(v)),
                };
                Query::Range {
                    field,
                    lower,
                    upper,
                }
            }
            // The lexer always follows a field with a value token.
            other => return err(self.offset(), format!("unexpected {other} after field")),
        })
    }
}

fn word_query(field: Option<String>, parts: Vec<WildPart>) -> Query {
    if field.is_none() && parts == [WildPart::Any] {
        return Query::All;
    }
    let value = match parts.as_slice() {
        [WildPart::Literal(s)] => Pattern::Word(s.clone()),
        _ => Pattern::Wildcard(parts),
    };
    Query::Match { field, value }
}

fn flatten(mut items: Vec<Query>, make: fn(Vec<Query>) -> Query) -> Query {
    if items.len() == 1 {
        items.pop().unwrap_or(Query::All)
    } else {
        make(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(field: Option<&str>, v: &str) -> Query {
        Query::Match {
            field: field.map(Into::into),
            value: Pattern::Word(v.into()),
        }
    }

    #[test]
    fn fields_words_and_implicit_and() {
        assert_eq!(
            parse("host:web1 failed").unwrap(),
            Query::And(vec![word(Some("host"), "web1"), word(None, "failed")])
        );
    }

    #[test]
    fn precedence_not_and_or() {
        let q = parse("a OR b AND NOT c").unwrap();
        assert_eq!(
            q,
            Query::Or(vec![
                word(None, "a"),
                Query::And(vec![word(None, "b"), Query::Not(Box::new(word(None, "c")))])
            ])
        );
        assert_eq!(parse("a || (b && !c)").unwrap(), q);
    }

    #[test]
    fn phrases_wildcards_escapes() {
        assert_eq!(
            parse(r#"msg:"failed password""#).unwrap(),
            Query::Match {
                field: Some("msg".into()),
                value: Pattern::Phrase("failed password".into())
            }
        );
        assert_eq!(
            parse(r"path:C\:\\Win*").unwrap(),
            Query::Match {
                field: Some("path".into()),
                value: Pattern::Wildcard(vec![WildPart::Literal(r"C:\Win".into()), WildPart::Any])
            }
        );
        assert_eq!(parse("user:*").unwrap(), Query::Exists("user".into()));
        assert_eq!(
            parse("_exists_:user").unwrap(),
            Query::Exists("user".into())
        );
        assert_eq!(parse("*").unwrap(), Query::All);
        assert_eq!(parse("  ").unwrap(), Query::All);
    }

    #[test]
    fn ranges_and_comparisons() {
        assert_eq!(
            parse("EventID:[4624 TO 4625}").unwrap(),
            Query::Range {
                field: "EventID".into(),
                lower: Bound::Included("4624".into()),
                upper: Bound::Excluded("4625".into()),
            }
        );
        assert_eq!(
            parse("bytes:>=100").unwrap(),
            Query::Range {
                field: "bytes".into(),
                lower: Bound::Included("100".into()),
                upper: Bound::Unbounded,
            }
        );
        assert_eq!(
            parse("n:[* TO 5]").unwrap(),
            Query::Range {
                field: "n".into(),
                lower: Bound::Unbounded,
                upper: Bound::Included("5".into()),
            }
        );
    }

    #[test]
    fn errors_name_the_column() {
        let e = parse("host:web1 AND (a OR").unwrap_err();
        assert!(e.to_string().contains("column"), "{e}");
        assert_eq!(parse(r#"msg:"open"#).unwrap_err().offset, 4);
        assert!(parse("a:").is_err());
        assert!(parse(")").is_err());
        assert!(parse("x:[1 TO").is_err());
        let deep = "(".repeat(1000) + "a" + &")".repeat(1000);
        assert!(parse(&deep).unwrap_err().message.contains("nesting"));
        let many_nots = "NOT ".repeat(1000) + "a";
        assert!(parse(&many_nots).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,64}") {
            let _ = parse(&s);
        }
    }
}
