//! Following files as they grow, as `tail -F` does: a rotated file (renamed
//! and replaced) is read to its end before the new one is opened, a
//! truncated file is read again from the start, and the read position is
//! kept in a small state file so a restart goes on where it stopped.
//!
//! The position is saved once the lines before it are durable in the log,
//! so a crash can repeat the lines read since the last save, never lose
//! them (at least once, as Filebeat and Vector do).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::IngestMetrics;
use watchfloor_model::now_ns;

use crate::record::{Kind, RawRecord};
use crate::wal::Appender;

/// One file to follow.
#[derive(Debug, Clone)]
pub struct TailSpec {
    pub path: PathBuf,
    pub kind: Kind,
    pub tenant: String,
    /// Without a saved position: start at the end (true) or the beginning.
    pub start_at_end: bool,
    pub max_line: usize,
}

/// Saved read positions, by path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Positions {
    pub files: HashMap<String, Position>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

/// The positions file, shared by every tailer (each writes its own entry).
#[derive(Clone)]
pub struct PositionStore {
    path: PathBuf,
    state: Arc<std::sync::Mutex<Positions>>,
}

impl PositionStore {
    /// Loads the file; an unreadable file is reported and treated as empty.
    pub fn open(path: &Path) -> PositionStore {
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(
                    "{}: unreadable, file positions start afresh: {e}",
                    path.display()
                );
                Positions::default()
            }),
            Err(_) => Positions::default(),
        };
        PositionStore {
            path: path.to_path_buf(),
            state: Arc::new(std::sync::Mutex::new(state)),
        }
    }

    pub fn get(&self, file: &Path) -> Option<Position> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.files.get(&file.display().to_string()).copied()
    }

    /// Records a position and writes the file atomically (temp + rename).
    pub fn set(&self, file: &Path, pos: Position) -> std::io::Result<()> {
        let bytes = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.files.insert(file.display().to_string(), pos);
            serde_json::to_vec_pretty(&*state).map_err(std::io::Error::other)?
        };
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.path)
    }
}

struct Open {
    file: File,
    dev: u64,
    ino: u64,
    offset: u64,
}

/// Follows one file until the appender closes.
pub struct Tailer {
    spec: TailSpec,
    source: String,
    appender: Appender,
    metrics: Arc<IngestMetrics>,
    positions: PositionStore,
    open: Option<Open>,
    /// A line read without its newline yet.
    partial: Vec<u8>,
    partial_truncated: bool,
    /// Bytes of the file the partial line took (more than kept when cut).
    partial_raw: u64,
    warned_missing: bool,
}

/// How often files are checked for growth and rotation.
const POLL: Duration = Duration::from_millis(250);
const CHUNK: usize = 256 * 1024;

impl Tailer {
    pub fn new(
        spec: TailSpec,
        appender: Appender,
        metrics: Arc<IngestMetrics>,
        positions: PositionStore,
    ) -> Tailer {
        let source = format!("file:{}", spec.path.display());
        Tailer {
            spec,
            source,
            appender,
            metrics,
            positions,
            open: None,
            partial: Vec::new(),
            partial_truncated: false,
            partial_raw: 0,
            warned_missing: false,
        }
    }

    /// Runs until the log shuts down.
    pub async fn run(mut self) {
        loop {
            match self.poll().await {
                Ok(true) => continue, // more may be waiting
                Ok(false) => tokio::time::sleep(POLL).await,
                Err(TailStop) => return,
            }
        }
    }

    /// Opens the file at its saved position, or at the start or the end.
    fn open_file(&mut self, fresh_rotation: bool) -> Option<()> {
        let path = &self.spec.path;
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) => {
                if !self.warned_missing {
                    tracing::warn!("{}: {e}; waiting for it", path.display());
                    self.warned_missing = true;
                }
                return None;
            }
        };
        self.warned_missing = false;
        let meta = file.metadata().ok()?;
        let offset = match self.positions.get(path) {
            Some(p) if p.dev == meta.dev() && p.ino == meta.ino() && p.offset <= meta.len() => {
                p.offset
            }
            // Another file (rotated while we were away) or a truncated one.
            Some(_) => 0,
            None if fresh_rotation || !self.spec.start_at_end => 0,
            None => meta.len(),
        };
        file.seek(SeekFrom::Start(offset)).ok()?;
        self.open = Some(Open {
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            offset,
        });
        Some(())
    }

    /// Reads what is new; true when a full chunk was read.
    async fn poll(&mut self) -> Result<bool, TailStop> {
        if self.open.is_none() && self.open_file(false).is_none() {
            return Ok(false);
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(false);
        };
        let mut buf = vec![0u8; CHUNK];
        let n = match open.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("{}: {e}", self.spec.path.display());
                self.metrics.reject(&self.source, "read_error");
                self.open = None;
                return Ok(false);
            }
        };
        if n > 0 {
            open.offset += n as u64;
            let records = self.lines(&buf[..n]);
            self.send(records).await?;
            return Ok(n == CHUNK);
        }
        // At the end: has the file been rotated or truncated?
        let (dev, ino, offset) = (open.dev, open.ino, open.offset);
        match std::fs::metadata(&self.spec.path) {
            Ok(meta) if meta.dev() != dev || meta.ino() != ino => {
                // Rotated: the old file is read to its end (above); a last
                // line without a newline is a message too.
                let records = self.flush_partial();
                self.send(records).await?;
                tracing::info!(
                    "{}: rotated, following the new file",
                    self.spec.path.display()
                );
                self.open = None;
                self.open_file(true);
                Ok(true)
            }
            Ok(meta) if meta.len() < offset => {
                tracing::info!(
                    "{}: truncated, reading from the start",
                    self.spec.path.display()
                );
                self.partial.clear();
                self.partial_raw = 0;
                if let Some(open) = self.open.as_mut() {
                    open.offset = 0;
                    let _ = open.file.seek(SeekFrom::Start(0));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn record(&self, line: &[u8], truncated: bool) -> RawRecord {
        RawRecord {
            received_ns: now_ns(),
            kind: self.spec.kind,
            source: self.source.as_str().into(),
            tenant: self.spec.tenant.as_str().into(),
            peer: "".into(),
            truncated,
            body: line.to_vec(),
        }
    }

    /// Splits complete lines off; an overlong line is cut and flagged.
    fn lines(&mut self, data: &[u8]) -> Vec<RawRecord> {
        let mut out = Vec::new();
        let mut rest = data;
        while let Some(i) = rest.iter().position(|b| *b == b'\n') {
            self.keep(&rest[..i]);
            let line = std::mem::take(&mut self.partial);
            let truncated = std::mem::take(&mut self.partial_truncated);
            self.partial_raw = 0;
            let trimmed = line.strip_suffix(b"\r").unwrap_or(&line);
            if !trimmed.iter().all(u8::is_ascii_whitespace) {
                out.push(self.record(trimmed, truncated));
            }
            rest = &rest[i + 1..];
        }
        self.keep(rest);
        out
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.partial_raw += bytes.len() as u64;
        let room = self.spec.max_line.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial_truncated = true;
        }
        self.partial
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn flush_partial(&mut self) -> Vec<RawRecord> {
        let line = std::mem::take(&mut self.partial);
        let truncated = std::mem::take(&mut self.partial_truncated);
        self.partial_raw = 0;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Vec::new();
        }
        vec![self.record(&line, truncated)]
    }

    /// Appends and, once durable, saves the position of the last full line.
    async fn send(&mut self, records: Vec<RawRecord>) -> Result<(), TailStop> {
        if !records.is_empty() {
            let count = records.len() as u64;
            let bytes: u64 = records.iter().map(|r| r.body.len() as u64).sum();
            let truncated = records.iter().filter(|r| r.truncated).count() as u64;
            self.metrics
                .count_batch(&self.source, count, bytes, truncated);
            if let Err(e) = self.appender.append(records).await {
                tracing::error!("{}: {e}", self.spec.path.display());
                return Err(TailStop);
            }
        }
        if let Some(open) = &self.open {
            let pos = Position {
                dev: open.dev,
                ino: open.ino,
                offset: open.offset.saturating_sub(self.partial_raw),
            };
            if let Err(e) = self.positions.set(&self.spec.path, pos) {
                tracing::warn!("file positions: {e}");
            }
        }
        Ok(())
    }
}

/// The log is gone: the tailer stops.
struct TailStop;
