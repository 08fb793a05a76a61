//! Placeholders (`%Administrators%` under the `expand` modifier), resolved
//! from configuration. A rule whose placeholder has no value is rejected,
//! as the specification requires of tools that cannot handle it.

use std::collections::BTreeMap;
use std::path::Path;

use crate::strings::SigmaString;

/// Values for placeholders, by name (without the `%`).
#[derive(Debug, Clone, Default)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlaceholderFile {
    placeholders: BTreeMap<String, OneOrMany>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Placeholders {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        self.values.insert(name.to_string(), values);
    }

    /// Loads `placeholders: {Name: [values...]}` from a YAML file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_yaml(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let file: PlaceholderFile = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let values = file
            .placeholders
            .into_iter()
            .map(|(k, v)| {
                let list = match v {
                    OneOrMany::One(s) => vec![s],
                    OneOrMany::Many(l) => l,
                };
                (k, list)
            })
            .collect();
        Ok(Placeholders { values })
    }

    /// Expands every `%name%` in a value into all combinations of the
    /// configured values. `\%` is a plain percent sign.
    pub fn expand(&self, text: &str) -> Result<Vec<SigmaString>, String> {
        let mut results = vec![SigmaString::default()];
        for piece in split_placeholders(text) {
            let options: Vec<SigmaString> = match piece {
                Piece::Text(t) => vec![SigmaString::parse(&t)],
                Piece::Name(n) => self
                    .values
                    .get(&n)
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("placeholder '%{n}%' has no configured value"))?
                    .iter()
                    .map(|v| SigmaString::parse(v))
                    .collect(),
            };
            results = results
                .iter()
                .flat_map(|prefix| {
                    options.iter().map(move |o| {
                        let mut s = prefix.clone();
                        s.concat(o);
                        s
                    })
                })
                .collect();
        }
        Ok(results)
    }
}

enum Piece {
    Text(String),
    Name(String),
}

fn split_placeholders(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'%') => {
                chars.next();
                buf.push('%');
            }
            '%' => {
                let name: String = chars.clone().take_while(|c| *c != '%').collect();
                let closed = chars.clone().nth(name.chars().count()) == Some('%');
                if closed && !name.is_empty() && !name.contains(char::is_whitespace) {
                    for _ in 0..=name.chars().count() {
                        chars.next();
                    }
                    if !buf.is_empty() {
                        out.push(Piece::Text(std::mem::take(&mut buf)));
                    }
                    out.push(Piece::Name(name));
                } else {
                    buf.push('%');
                }
            }
            c => buf.push(c),
        }
    }
    if !buf.is_empty() {
        out.push(Piece::Text(buf));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_and_rejects_unknown() {
        let mut p = Placeholders::new();
        p.insert("Servers", vec!["srv*".into(), "dc1".into()]);
        let out = p.expand("%Servers%.corp").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].as_plain().unwrap(), "dc1.corp");
        assert!(p
            .expand("%Workstations%")
            .unwrap_err()
            .contains("Workstations"));
        assert_eq!(p.expand(r"\%plain%Servers%").unwrap().len(), 2);
    }

    #[test]
    fn loads_from_yaml() {
        let p = Placeholders::from_yaml("placeholders:\n  Admins: [a, b]\n  One: x\n").unwrap();
        assert_eq!(p.expand("%One%").unwrap().len(), 1);
        assert!(Placeholders::from_yaml("nope: 1").is_err());
    }
}
