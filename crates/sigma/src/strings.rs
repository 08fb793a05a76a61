//! Sigma strings: literal text with `*` and `?` wildcards, and the escape
//! rules of the specification (`\*`, `\?`, `\\`; a backslash before any
//! other character is a plain backslash).

/// One piece of a Sigma string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    /// `*`: any run of characters, possibly empty.
    AnyMany,
    /// `?`: exactly one character.
    AnyOne,
}

/// A parsed Sigma string value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SigmaString {
    pub parts: Vec<Part>,
}

impl SigmaString {
    /// Parses wildcards and escapes.
    pub fn parse(s: &str) -> SigmaString {
        let mut out = SigmaString::default();
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => out.push_wild(Part::AnyMany),
                '?' => out.push_wild(Part::AnyOne),
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        out.push_char(n);
                    }
                    _ => out.push_char('\\'),
                },
                c => out.push_char(c),
            }
        }
        out
    }

    /// A string with no wildcards, taken verbatim.
    pub fn literal(s: &str) -> SigmaString {
        let mut out = SigmaString::default();
        if !s.is_empty() {
            out.parts.push(Part::Lit(s.to_string()));
        }
        out
    }

    fn push_char(&mut self, c: char) {
        match self.parts.last_mut() {
            Some(Part::Lit(s)) => s.push(c),
            _ => self.parts.push(Part::Lit(c.to_string())),
        }
    }

    fn push_wild(&mut self, p: Part) {
        // Consecutive `*` are one `*`.
        if p == Part::AnyMany && self.parts.last() == Some(&Part::AnyMany) {
            return;
        }
        self.parts.push(p);
    }

    pub fn has_wildcards(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// The text when the string has no wildcards.
    pub fn as_plain(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    pub fn starts_with_any(&self) -> bool {
        self.parts.first() == Some(&Part::AnyMany)
    }

    pub fn ends_with_any(&self) -> bool {
        self.parts.last() == Some(&Part::AnyMany)
    }

    pub fn prepend_any(&mut self) {
        if !self.starts_with_any() {
            self.parts.insert(0, Part::AnyMany);
        }
    }

    pub fn append_any(&mut self) {
        if !self.ends_with_any() {
            self.parts.push(Part::AnyMany);
        }
    }

    /// Applies `f` to every literal piece.
    pub fn map_literals(&self, mut f: impl FnMut(&str) -> String) -> SigmaString {
        SigmaString {
            parts: self
                .parts
                .iter()
                .map(|p| match p {
                    Part::Lit(s) => Part::Lit(f(s)),
                    other => other.clone(),
                })
                .collect(),
        }
    }

    /// Concatenates another string after this one.
    pub fn concat(&mut self, other: &SigmaString) {
        for p in &other.parts {
            match p {
                Part::Lit(s) => {
                    for c in s.chars() {
                        self.push_char(c);
                    }
                }
                w => self.push_wild(w.clone()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Part::*;

    fn lit(s: &str) -> Part {
        Lit(s.to_string())
    }

    #[test]
    fn escapes_follow_the_specification() {
        // Plain backslash, single or double.
        assert_eq!(
            SigmaString::parse(r"C:\Windows").parts,
            vec![lit(r"C:\Windows")]
        );
        assert_eq!(
            SigmaString::parse(r"C:\\Windows").parts,
            vec![lit(r"C:\Windows")]
        );
        // Escaped wildcard is a plain character.
        assert_eq!(SigmaString::parse(r"a\*b").parts, vec![lit("a*b")]);
        assert_eq!(SigmaString::parse(r"a\?b").parts, vec![lit("a?b")]);
        // Backslash followed by a wildcard.
        assert_eq!(SigmaString::parse(r"a\\*").parts, vec![lit(r"a\"), AnyMany]);
        // Three backslashes: a backslash and a plain wildcard.
        assert_eq!(SigmaString::parse(r"a\\\*").parts, vec![lit(r"a\*")]);
        // Four backslashes: two backslashes.
        assert_eq!(SigmaString::parse(r"\\\\srv").parts, vec![lit(r"\\srv")]);
        assert_eq!(
            SigmaString::parse(r"*a?**").parts,
            vec![AnyMany, lit("a"), AnyOne, AnyMany]
        );
    }
}
