//! Log format decoders.
//!
//! Every decoder streams: it reads a file record by record and hands each
//! [`Event`] (or the [`RecordError`] that stopped it) to a sink, so memory
//! stays bounded whatever the file size. A corrupt record is reported with
//! its file and record number and skipped; the rest of the file is read.
//!
//! [`read_path`] detects the format from the extension and the first bytes.

mod cef;
mod detect;
pub mod ecs;
pub mod email;
mod evtx_reader;
mod json;
pub mod parsers;
mod syslog;
mod windows;
mod windows_text;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

pub use cef::parse_cef;
pub use detect::{detect_format, Format};
pub use json::{event_from_json, JsonSplitter, Piece, MAX_RECORD_BYTES};
pub use syslog::{fill_syslog_event, parse_syslog_line, syslog_event, SyslogMessage};
use watchfloor_model::Event;
pub use windows::windows_event_from_json;
pub use windows_text::windows_event_from_text;

/// A record that could not be decoded. Counted and skipped by callers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{path}: record {record}: {message}")]
pub struct RecordError {
    pub path: String,
    pub record: u64,
    pub message: String,
}

/// A whole input that could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a valid EVTX file: {message}")]
    Evtx { path: PathBuf, message: String },
}

/// What a decoder hands to its caller for each record.
pub type Record = Result<Event, RecordError>;

/// Options that shape decoding.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Force a format instead of detecting it.
    pub format: Option<Format>,
    /// Threads the EVTX decoder may use inside one file (0 = all cores).
    pub evtx_threads: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            evtx_threads: 1,
        }
    }
}

/// Figures for one decoded input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub format: Option<Format>,
    pub bytes: u64,
    pub records: u64,
    pub errors: u64,
}

/// Decodes one file, calling `sink` for every record or record error.
/// `sink` may stop the read early by returning `ControlFlow::Break`.
pub fn read_path(
    path: &Path,
    options: &ReadOptions,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<ReadStats, FormatError> {
    let io_err = |source| FormatError::Io {
        path: path.to_path_buf(),
        source,
    };
    let format = match options.format {
        Some(f) => f,
        None => detect_format(path).map_err(io_err)?,
    };
    let bytes = std::fs::metadata(path).map_err(io_err)?.len();
    let mut stats = ReadStats {
        format: Some(format),
        bytes,
        ..ReadStats::default()
    };
    let mut counting_sink = |r: Record| {
        match &r {
            Ok(_) => stats.records += 1,
            Err(_) => stats.errors += 1,
        }
        sink(r)
    };
    match format {
        Format::Evtx => evtx_reader::read_evtx(path, options.evtx_threads, &mut counting_sink)?,
        Format::Json => json::read_json_file(path, &mut counting_sink).map_err(io_err)?,
        Format::Syslog | Format::Cef => {
            syslog::read_syslog_file(path, format, &mut counting_sink).map_err(io_err)?
        }
    }
    Ok(stats)
}
