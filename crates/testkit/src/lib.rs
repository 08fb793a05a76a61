//! Helpers shared by tests and benchmarks: where the shared corpus is, and
//! synthetic syslog for load generation.

pub mod peers;
pub mod synthetic;

use std::path::{Path, PathBuf};

/// `$WATCHFLOOR_CORPUS`, a relative path taken from the workspace root
/// (cargo runs tests and benchmarks in their crate's directory). Unset:
/// `None`, after saying on standard error that `what` is skipped. Set but
/// not the corpus: a panic, so a wrong setting never passes silently.
pub fn corpus(what: &str) -> Option<PathBuf> {
    let Some(dir) = std::env::var_os("WATCHFLOOR_CORPUS") else {
        eprintln!("SKIPPED: {what}: WATCHFLOOR_CORPUS is not set (e.g. ../shared/corpus)");
        return None;
    };
    let mut dir = PathBuf::from(dir);
    if dir.is_relative() {
        dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(dir);
    }
    assert!(
        dir.join("sigma/regression_data").is_dir(),
        "WATCHFLOOR_CORPUS={} does not hold sigma/regression_data",
        dir.display()
    );
    Some(dir)
}

/// Every `.evtx` file under `dir`, sorted.
pub fn evtx_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let p = entry.expect("directory entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "evtx") {
            out.push(p);
        }
    }
}
