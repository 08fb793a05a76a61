//! The files a hunt reads: named files always, and in directories (walked
//! recursively) the files whose extension says they hold logs.

use std::path::{Path, PathBuf};

use crate::HuntError;

/// Extensions picked up when walking directories; named files are always read.
pub const LOG_EXTENSIONS: [&str; 10] = [
    "evtx", "json", "jsonl", "ndjson", "log", "txt", "syslog", "cef", "eve", "gz",
];

/// One file to read, with its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub path: PathBuf,
    pub bytes: u64,
}

/// The files under `paths`, largest first (so that one big file does not
/// start last and hold the run up).
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, HuntError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(input_error(p))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(Input {
                path: p.clone(),
                bytes: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    Ok(out)
}

fn input_error(path: &Path) -> impl Fn(std::io::Error) -> HuntError + '_ {
    move |error| HuntError::Input {
        path: path.display().to_string(),
        error,
    }
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), HuntError> {
    let entries = std::fs::read_dir(dir).map_err(input_error(dir))?;
    for entry in entries {
        let entry = entry.map_err(input_error(dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(input_error(&path))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() && has_log_extension(&path) {
            let bytes = entry.metadata().map_err(input_error(&path))?.len();
            out.push(Input { path, bytes });
        }
    }
    Ok(())
}

fn has_log_extension(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| LOG_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_give_their_log_files_largest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("host1");
        std::fs::create_dir(&sub).expect("mkdir");
        std::fs::write(sub.join("security.evtx"), vec![0u8; 30]).expect("write");
        std::fs::write(dir.path().join("auth.LOG"), vec![0u8; 20]).expect("write");
        std::fs::write(dir.path().join("notes.pdf"), vec![0u8; 90]).expect("write");
        let named = dir.path().join("named.bin");
        std::fs::write(&named, vec![0u8; 5]).expect("write");
        let found = collect_inputs(&[dir.path().to_path_buf(), named.clone()]).expect("inputs");
        let names: Vec<_> = found
            .iter()
            .map(|i| i.path.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["security.evtx", "auth.LOG", "named.bin"]);
        let missing = collect_inputs(&[dir.path().join("nope")]).unwrap_err();
        assert!(missing.to_string().contains("nope"), "{missing}");
    }
}
