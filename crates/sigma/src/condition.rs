//! The condition language: `and`, `or`, `not`, parentheses, `1 of`/`all of`
//! with wildcard patterns or `them`. Precedence, loosest first: or, and,
//! not, `x of`, parentheses.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    All,
    AtLeast(usize),
}

/// A parsed condition, before identifiers are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum CondAst {
    Ident(String),
    /// `1 of pattern`, `all of them`; `None` pattern means `them`.
    Of(Quantity, Option<String>),
    Not(Box<CondAst>),
    And(Vec<CondAst>),
    Or(Vec<CondAst>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConditionError {
    pub message: String,
    pub position: usize,
}

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "condition error at character {}: {}",
            self.position + 1,
            self.message
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Pipe,
}

fn tokenize(s: &str) -> Vec<(Tok, usize)> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let flush = |word: &mut String, start: usize, out: &mut Vec<(Tok, usize)>| {
        if !word.is_empty() {
            out.push((Tok::Word(std::mem::take(word)), start));
        }
    };
    for (i, c) in s.char_indices() {
        match c {
            '(' | ')' | '|' => {
                flush(&mut word, start, &mut out);
                let t = match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Pipe,
                };
                out.push((t, i));
            }
            c if c.is_whitespace() => flush(&mut word, start, &mut out),
            c => {
                if word.is_empty() {
                    start = i;
                }
                word.push(c);
            }
        }
    }
    flush(&mut word, start, &mut out);
    out
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

/// Conditions nested deeper than this are rejected (no stack exhaustion).
const MAX_DEPTH: usize = 256;

pub fn parse_condition(s: &str) -> Result<CondAst, ConditionError> {
    let toks = tokenize(s);
    if let Some((_, at)) = toks.iter().find(|(t, _)| *t == Tok::Pipe) {
        return Err(ConditionError {
            message: "aggregation expressions ('|') are obsolete; use a correlation rule".into(),
            position: *at,
        });
    }
    let mut p = Parser {
        toks,
        pos: 0,
        end: s.len(),
        depth: 0,
    };
    if p.toks.is_empty() {
        return Err(p.error("empty condition"));
    }
    let ast = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.error("unexpected token"));
    }
    Ok(ast)
}

impl Parser {
    fn error(&self, message: &str) -> ConditionError {
        let position = self.toks.get(self.pos).map(|(_, p)| *p).unwrap_or(self.end);
        let found = match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) => format!(" '{w}'"),
            Some((Tok::Open, _)) => " '('".into(),
            Some((Tok::Close, _)) => " ')'".into(),
            Some((Tok::Pipe, _)) => " '|'".into(),
            None => " end of condition".into(),
        };
        ConditionError {
            message: format!("{message}, found{found}"),
            position,
        }
    }

    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some((Tok::Word(w), _)) => Some(w),
            _ => None,
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<CondAst, ConditionError> {
        let mut items = vec![self.and()?];
        while self.is_keyword("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            CondAst::Or(items)
        })
    }

    fn and(&mut self) -> Result<CondAst, ConditionError> {
        let mut items = vec![self.not()?];
        while self.is_keyword("and") {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            CondAst::And(items)
        })
    }

    fn not(&mut self) -> Result<CondAst, ConditionError> {
        if self.is_keyword("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(CondAst::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn enter(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("condition nested too deeply"));
        }
        Ok(())
    }

    fn primary(&mut self) -> Result<CondAst, ConditionError> {
        match self.toks.get(self.pos).cloned() {
            Some((Tok::Open, _)) => {
                self.pos += 1;
                self.enter()?;
                let inner = self.or()?;
                self.depth -= 1;
                if !matches!(self.toks.get(self.pos), Some((Tok::Close, _))) {
                    return Err(self.error("expected ')'"));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some((Tok::Word(w), _)) => {
                if ["and", "or", "not", "of", "them"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(self.error("expected an identifier"));
                }
                let next_is_of = matches!(self.toks.get(self.pos + 1), Some((Tok::Word(n), _)) if n.eq_ignore_ascii_case("of"));
                if next_is_of {
                    return self.quantified(&w);
                }
                self.pos += 1;
                Ok(CondAst::Ident(w))
            }
            _ => Err(self.error("expected an identifier, 'not', '(' or 'x of'")),
        }
    }

    fn quantified(&mut self, quantity: &str) -> Result<CondAst, ConditionError> {
        let q = if quantity.eq_ignore_ascii_case("all") {
            Quantity::All
        } else {
            match quantity.parse::<usize>() {
                Ok(n) if n >= 1 => Quantity::AtLeast(n),
                _ => return Err(self.error("expected '1 of', 'N of' or 'all of'")),
            }
        };
        self.pos += 2;
        match self.peek_word().map(str::to_string) {
            Some(w) if w.eq_ignore_ascii_case("them") => {
                self.pos += 1;
                Ok(CondAst::Of(q, None))
            }
            Some(w)
                if !["and", "or", "not"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                self.pos += 1;
                Ok(CondAst::Of(q, Some(w)))
            }
            _ => Err(self.error("expected a pattern or 'them' after 'of'")),
        }
    }
}

/// Matches an identifier against an `x of` pattern (`*` wildcards).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use CondAst::*;

    fn id(s: &str) -> CondAst {
        Ident(s.into())
    }

    #[test]
    fn precedence_or_and_not() {
        assert_eq!(
            parse_condition("a or b and not c").unwrap(),
            Or(vec![id("a"), And(vec![id("b"), Not(Box::new(id("c")))])])
        );
        assert_eq!(
            parse_condition("(a or b) and c").unwrap(),
            And(vec![Or(vec![id("a"), id("b")]), id("c")])
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse_condition("1 of selection* and not all of filter_*").unwrap(),
            And(vec![
                Of(Quantity::AtLeast(1), Some("selection*".into())),
                Not(Box::new(Of(Quantity::All, Some("filter_*".into()))))
            ])
        );
        assert_eq!(
            parse_condition("all of them").unwrap(),
            Of(Quantity::All, None)
        );
        assert_eq!(
            parse_condition("NOT 1 of them").unwrap(),
            Not(Box::new(Of(Quantity::AtLeast(1), None)))
        );
    }

    #[test]
    fn errors_name_the_place() {
        let e = parse_condition("selection and").unwrap_err();
        assert_eq!(e.position, 13);
        assert!(parse_condition("(a or b")
            .unwrap_err()
            .message
            .contains("')'"));
        assert!(parse_condition("sel | count() > 5")
            .unwrap_err()
            .message
            .contains("obsolete"));
        assert!(parse_condition("a b").is_err());
        assert!(parse_condition("").is_err());
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_condition(&deep)
            .unwrap_err()
            .message
            .contains("deeply"));
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("selection*", "selection_1"));
        assert!(pattern_matches("*_img", "sel_img"));
        assert!(!pattern_matches("filter*", "selection"));
    }
}
