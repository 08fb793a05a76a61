//! Loading rule files: directory trees of thousands of YAML files, each
//! possibly holding several documents. Every document that cannot be used
//! is reported with its file, position and reason; the rest still load.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value as Yaml;

use crate::rule::{parse_document, Document};

/// A document that could not be used, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejection {
    pub path: String,
    /// 1-based position of the document in its file.
    pub document: usize,
    pub id: Option<String>,
    pub title: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path)?;
        if self.document > 1 {
            write!(f, " (document {})", self.document)?;
        }
        if let Some(t) = &self.title {
            write!(f, " [{t}]")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// A parsed document with where it came from.
#[derive(Debug, Clone)]
pub struct SourcedDocument {
    pub path: String,
    pub index: usize,
    pub doc: Document,
}

/// Lists the rule files under `path` (a file or a directory, recursively),
/// sorted so that loading is deterministic. Hidden directories are skipped.
pub fn rule_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    walk(path, &mut out)?;
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let p = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let ft = entry.file_type()?;
        if ft.is_dir() && !hidden {
            walk(&p, out)?;
        } else if ft.is_file() && is_rule_file(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn is_rule_file(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
}

/// Parses every document of one YAML text.
pub fn parse_yaml_documents(text: &str, path: &str) -> (Vec<SourcedDocument>, Vec<Rejection>) {
    let mut docs = Vec::new();
    let mut rejections = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = match Yaml::deserialize(de) {
            Ok(v) => v,
            Err(e) => {
                rejections.push(Rejection {
                    path: path.to_string(),
                    document: index,
                    id: None,
                    title: None,
                    reason: format!("invalid YAML: {e}"),
                });
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        match parse_document(&value, path) {
            Ok(doc) => docs.push(SourcedDocument {
                path: path.to_string(),
                index,
                doc,
            }),
            Err(reason) => rejections.push(Rejection {
                path: path.to_string(),
                document: index,
                id: value.get("id").and_then(Yaml::as_str).map(Into::into),
                title: value.get("title").and_then(Yaml::as_str).map(Into::into),
                reason,
            }),
        }
    }
    (docs, rejections)
}

/// Reads and parses one file.
pub fn parse_file(path: &Path) -> (Vec<SourcedDocument>, Vec<Rejection>) {
    let label = path.display().to_string();
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => parse_yaml_documents(&text, &label),
            Err(_) => (
                Vec::new(),
                vec![file_rejection(&label, "file is not valid UTF-8".into())],
            ),
        },
        Err(e) => (
            Vec::new(),
            vec![file_rejection(&label, format!("cannot read: {e}"))],
        ),
    }
}

pub(crate) fn file_rejection(path: &str, reason: String) -> Rejection {
    Rejection {
        path: path.to_string(),
        document: 1,
        id: None,
        title: None,
        reason,
    }
}
