//! The write-ahead log: every received message is appended here and made
//! durable (fdatasync) before it is acknowledged. One writer thread does
//! group commit: it takes every batch queued while the previous sync ran,
//! writes them together and syncs once, then acknowledges each batch.
//!
//! Segments are files named by their first sequence number (LSN). A frame
//! is `len: u32 | crc32: u32 | lsn: u64 | payload`, the CRC covering the
//! LSN and the payload. At open, a torn tail (a crash mid-write; never
//! acknowledged) is cut off. Readers follow the log as it grows and never
//! read past the durable point.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::record::{Labels, RawRecord};

const HEADER: usize = 16;
/// Largest frame accepted when reading back: anything larger is corruption.
const MAX_FRAME: usize = 256 << 20;
const SUFFIX: &str = ".wal";

/// Log errors.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("write-ahead log {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("write-ahead log {path}: corrupt frame at byte {offset}: {reason}")]
    Corrupt {
        path: String,
        offset: u64,
        reason: String,
    },
    /// The queue is full or too much is waiting for processing: retry later.
    #[error("ingest is saturated; retry later")]
    Full,
    #[error("write-ahead log is shut down")]
    Closed,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Log tuning.
#[derive(Debug, Clone)]
pub struct WalOptions {
    /// A segment is closed and a new one started beyond this size.
    pub segment_bytes: u64,
    /// Batches that may wait for the writer.
    pub queue_batches: usize,
    /// Appended but not yet processed records beyond which appends are refused.
    pub max_unprocessed: u64,
    /// Sync to disk before acknowledging (off only for tests of other parts).
    pub sync: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: 64 << 20,
            queue_batches: 1024,
            max_unprocessed: 1_000_000,
            sync: true,
        }
    }
}

/// The LSNs given to one appended batch, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsnRange {
    pub first: u64,
    pub last: u64,
}

struct Job {
    records: Vec<RawRecord>,
    ack: oneshot::Sender<Result<LsnRange, String>>,
}

/// State shared by the writer, appenders and readers.
struct Shared {
    dir: PathBuf,
    /// Highest LSN on disk and synced.
    durable: Mutex<u64>,
    grew: Condvar,
    /// Highest LSN handed out.
    assigned: AtomicU64,
    /// Highest LSN the consumer has finished with.
    processed: AtomicU64,
    max_unprocessed: u64,
    syncs: AtomicU64,
}

/// What opening the log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    pub segments: usize,
    /// The next LSN to be handed out.
    pub next_lsn: u64,
    /// Bytes of a torn last frame that were cut off.
    pub truncated_bytes: u64,
}

/// The log: an appender handle factory and the writer thread's owner.
pub struct Wal {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
    writer: Option<std::thread::JoinHandle<()>>,
    pub recovery: Recovery,
}

/// A cheap handle for sources to append with.
#[derive(Clone)]
pub struct Appender {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Job>,
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}{SUFFIX}"))
}

/// Segment start LSNs, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if let Ok(lsn) = stem.parse::<u64>() {
            out.push(lsn);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Reads one frame; `Ok(None)` at a clean end of file.
fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<Option<u64>, String> {
    let mut header = [0u8; HEADER];
    let mut filled = 0;
    while filled < HEADER {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err("torn frame header".into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let mut lsn_bytes = [0u8; 8];
    lsn_bytes.copy_from_slice(&header[8..16]);
    if len > MAX_FRAME {
        return Err(format!("frame length {len} is beyond the limit"));
    }
    buf.resize(len, 0);
    r.read_exact(buf)
        .map_err(|_| "torn frame body".to_string())?;
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn_bytes);
    h.update(buf);
    if h.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    Ok(Some(u64::from_le_bytes(lsn_bytes)))
}

fn write_frame(out: &mut Vec<u8>, lsn: u64, record: &RawRecord, scratch: &mut Vec<u8>) {
    scratch.clear();
    record.encode(scratch);
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(scratch);
    out.extend_from_slice(&(scratch.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.finalize().to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(scratch);
}

/// Validates the last segment, cutting a torn tail. Returns its last LSN
/// (or `first - 1` when empty) and the bytes cut.
fn recover_segment(path: &Path, first: u64) -> Result<(u64, u64), WalError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut reader = BufReader::new(&file);
    let mut buf = Vec::new();
    let mut good = 0u64;
    let mut last = first.saturating_sub(1);
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(Some(lsn)) if lsn == last + 1 => {
                last = lsn;
                good += (HEADER + buf.len()) as u64;
            }
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => {
                tracing::warn!(
                    path = %path.display(),
                    offset = good,
                    cut = len - good,
                    "write-ahead log: torn or corrupt tail cut off (never acknowledged)"
                );
                break;
            }
        }
    }
    if good < len {
        file.set_len(good).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
    }
    Ok((last, len - good))
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Wal {
    /// Opens the log in `dir`; LSNs continue from what is on disk and
    /// never go below `min_next_lsn` (one past the last checkpoint).
    pub fn open(dir: &Path, options: WalOptions, min_next_lsn: u64) -> Result<Wal, WalError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let segments = list_segments(dir)?;
        let mut recovery = Recovery {
            segments: segments.len(),
            ..Default::default()
        };
        let mut next = min_next_lsn.max(1);
        if let Some(&first) = segments.last() {
            let (last, cut) = recover_segment(&segment_path(dir, first), first)?;
            recovery.truncated_bytes = cut;
            next = next.max(last + 1);
        }
        recovery.next_lsn = next;
        // Always start a fresh segment: its name states the next LSN even
        // when older segments are later removed.
        let path = segment_path(dir, next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(dir)?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable: Mutex::new(next - 1),
            grew: Condvar::new(),
            assigned: AtomicU64::new(next - 1),
            // What the consumer must replay counts as unprocessed.
            processed: AtomicU64::new(min_next_lsn.max(1) - 1),
            max_unprocessed: options.max_unprocessed,
            syncs: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(options.queue_batches.max(1));
        let writer_shared = shared.clone();
        let writer = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn(move || {
                Writer {
                    shared: writer_shared,
                    file,
                    path,
                    size: 0,
                    next,
                    options,
                }
                .run(rx)
            })
            .map_err(io_err(dir))?;
        Ok(Wal {
            shared,
            tx,
            writer: Some(writer),
            recovery,
        })
    }

    pub fn appender(&self) -> Appender {
        Appender {
            shared: self.shared.clone(),
            tx: self.tx.clone(),
        }
    }

    /// A reader from `from_lsn` on.
    pub fn reader(&self, from_lsn: u64) -> WalReader {
        WalReader {
            shared: self.shared.clone(),
            next_lsn: from_lsn.max(1),
            file: None,
            buf: Vec::new(),
            labels: Labels::default(),
        }
    }

    /// The highest durable LSN.
    pub fn durable(&self) -> u64 {
        *self
            .shared
            .durable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Records that everything up to `lsn` is processed (stored and
    /// checked); this frees room for appends.
    pub fn set_processed(&self, lsn: u64) {
        self.shared.processed.fetch_max(lsn, Ordering::AcqRel);
    }

    /// Appended records not yet processed.
    pub fn backlog(&self) -> u64 {
        self.shared
            .assigned
            .load(Ordering::Acquire)
            .saturating_sub(self.shared.processed.load(Ordering::Acquire))
    }

    pub fn syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }

    /// Deletes segments whose records are all at or below `checkpoint`;
    /// the newest segment always stays. Returns how many were removed.
    pub fn remove_through(&self, checkpoint: u64) -> Result<usize, WalError> {
        let segments = list_segments(&self.shared.dir)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            // Records of pair[0] are below pair[1]'s first LSN.
            if pair[1] <= checkpoint + 1 {
                let path = segment_path(&self.shared.dir, pair[0]);
                // Detection and indexing truncate independently: a segment
                // the other just removed is not an error.
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Disk used by the log.
    pub fn disk_bytes(&self) -> u64 {
        list_segments(&self.shared.dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| std::fs::metadata(segment_path(&self.shared.dir, *s)).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Wal {
    /// Stops the writer once every [`Appender`] is gone and waits for it.
    /// Each group is synced as it is written, so dropping without this
    /// loses nothing acknowledged.
    pub fn shutdown(mut self) {
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl Appender {
    fn over_backlog(&self) -> bool {
        let s = &self.shared;
        s.assigned
            .load(Ordering::Acquire)
            .saturating_sub(s.processed.load(Ordering::Acquire))
            >= s.max_unprocessed
    }

    /// Appends now or fails with [`WalError::Full`]; the returned future
    /// resolves once the batch is durable.
    pub fn try_append(
        &self,
        records: Vec<RawRecord>,
    ) -> Result<impl std::future::Future<Output = Result<LsnRange, WalError>>, WalError> {
        if self.over_backlog() {
            return Err(WalError::Full);
        }
        let (ack, rx) = oneshot::channel();
        self.tx
            .try_send(Job { records, ack })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => WalError::Full,
                mpsc::error::TrySendError::Closed(_) => WalError::Closed,
            })?;
        Ok(wait_ack(rx))
    }

    /// Appends, waiting for room (the caller stops reading meanwhile), and
    /// returns once the batch is durable.
    pub async fn append(&self, records: Vec<RawRecord>) -> Result<LsnRange, WalError> {
        while self.over_backlog() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (ack, rx) = oneshot::channel();
        self.tx
            .send(Job { records, ack })
            .await
            .map_err(|_| WalError::Closed)?;
        wait_ack(rx).await
    }

    /// Batches waiting for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn wait_ack(rx: oneshot::Receiver<Result<LsnRange, String>>) -> Result<LsnRange, WalError> {
    match rx.await {
        Ok(Ok(range)) => Ok(range),
        Ok(Err(e)) => Err(WalError::Io {
            path: "segment".into(),
            source: io::Error::other(e),
        }),
        Err(_) => Err(WalError::Closed),
    }
}

struct Writer {
    shared: Arc<Shared>,
    file: File,
    path: PathBuf,
    size: u64,
    next: u64,
    options: WalOptions,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut out = Vec::with_capacity(1 << 20);
        let mut scratch = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            let mut jobs = vec![first];
            while let Ok(job) = rx.try_recv() {
                jobs.push(job);
                if jobs.len() >= 4096 {
                    break;
                }
            }
            out.clear();
            let start = self.next;
            let mut ranges = Vec::with_capacity(jobs.len());
            for job in &jobs {
                let first = self.next;
                for record in &job.records {
                    write_frame(&mut out, self.next, record, &mut scratch);
                    self.next += 1;
                }
                ranges.push(LsnRange {
                    first,
                    last: self.next - 1,
                });
            }
            self.shared.assigned.store(self.next - 1, Ordering::Release);
            match self.write(&out) {
                Ok(()) => {
                    self.publish(self.next - 1);
                    for (job, range) in jobs.into_iter().zip(ranges) {
                        let _ = job.ack.send(Ok(range));
                    }
                    if let Err(e) = self.maybe_rotate() {
                        tracing::error!("{e}");
                    }
                }
                Err(e) => {
                    // Nothing of this group is acknowledged; the file is cut
                    // back so the LSNs can be reused.
                    tracing::error!("{e}");
                    let _ = self.file.set_len(self.size);
                    self.next = start;
                    self.shared.assigned.store(start - 1, Ordering::Release);
                    for job in jobs {
                        let _ = job.ack.send(Err(e.to_string()));
                    }
                }
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), WalError> {
        self.file.write_all(bytes).map_err(io_err(&self.path))?;
        if self.options.sync {
            self.file.sync_data().map_err(io_err(&self.path))?;
        }
        self.size += bytes.len() as u64;
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn publish(&self, lsn: u64) {
        let mut durable = self
            .shared
            .durable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *durable = lsn;
        self.shared.grew.notify_all();
    }

    fn maybe_rotate(&mut self) -> Result<(), WalError> {
        if self.size < self.options.segment_bytes {
            return Ok(());
        }
        let path = segment_path(&self.shared.dir, self.next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        sync_dir(&self.shared.dir)?;
        self.file = file;
        self.path = path;
        self.size = 0;
        Ok(())
    }
}

/// Follows the log from an LSN on.
pub struct WalReader {
    shared: Arc<Shared>,
    next_lsn: u64,
    file: Option<OpenSegment>,
    buf: Vec<u8>,
    labels: Labels,
}

/// The segment a reader is in: its first LSN, and the byte offset of the
/// next frame (counted rather than asked of the file: a seek is a system
/// call, and this runs for every record).
struct OpenSegment {
    first: u64,
    reader: BufReader<File>,
    offset: u64,
}

impl OpenSegment {
    fn open(dir: &Path, first: u64) -> Result<Self, WalError> {
        let path = segment_path(dir, first);
        let file = File::open(&path).map_err(io_err(&path))?;
        Ok(OpenSegment {
            first,
            reader: BufReader::with_capacity(1 << 20, file),
            offset: 0,
        })
    }
}

impl WalReader {
    /// Waits up to `wait` for durable records, then returns up to `max` of
    /// them (possibly none).
    pub fn next_batch(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<(u64, RawRecord)>, WalError> {
        let durable = {
            let guard = self
                .shared
                .durable
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let (guard, _) = self
                .shared
                .grew
                .wait_timeout_while(guard, wait, |d| *d < self.next_lsn)
                .unwrap_or_else(|p| p.into_inner());
            *guard
        };
        let mut out = Vec::new();
        while self.next_lsn <= durable && out.len() < max {
            let (lsn, record) = self.read_one()?;
            if lsn < self.next_lsn {
                continue; // before the start position
            }
            self.next_lsn = lsn + 1;
            out.push((lsn, record));
        }
        Ok(out)
    }

    /// Opens the segment holding `next_lsn`, positioned at its start.
    fn open_segment(&mut self) -> Result<(), WalError> {
        let segments = list_segments(&self.shared.dir)?;
        let Some(&first) = segments.iter().rev().find(|s| **s <= self.next_lsn) else {
            return Err(WalError::Corrupt {
                path: self.shared.dir.display().to_string(),
                offset: 0,
                reason: format!("no segment holds LSN {}", self.next_lsn),
            });
        };
        self.file = Some(OpenSegment::open(&self.shared.dir, first)?);
        Ok(())
    }

    fn read_one(&mut self) -> Result<(u64, RawRecord), WalError> {
        loop {
            if self.file.is_none() {
                self.open_segment()?;
            }
            let Some(segment) = self.file.as_mut() else {
                continue;
            };
            let (first, offset) = (segment.first, segment.offset);
            let dir = &self.shared.dir;
            let corrupt = |reason: String| WalError::Corrupt {
                path: segment_path(dir, first).display().to_string(),
                offset,
                reason,
            };
            match read_frame(&mut segment.reader, &mut self.buf) {
                Ok(Some(lsn)) => {
                    segment.offset += (HEADER + self.buf.len()) as u64;
                    let record = RawRecord::decode_sharing(&self.buf, &mut self.labels)
                        .map_err(|e| corrupt(e.to_string()))?;
                    return Ok((lsn, record));
                }
                Ok(None) => {
                    // End of this segment: the next one starts at next_lsn.
                    if !segment_path(dir, self.next_lsn).exists() {
                        let reason = format!("segment ends before LSN {}", self.next_lsn);
                        return Err(corrupt(reason));
                    }
                    self.file = Some(OpenSegment::open(dir, self.next_lsn)?);
                }
                Err(reason) => return Err(corrupt(reason)),
            }
        }
    }

    /// After a corrupt frame: gives up on the rest of the segment and goes
    /// on with the next one. Returns the LSN reading resumes at.
    pub fn skip_segment(&mut self) -> Result<u64, WalError> {
        let current = self.file.as_ref().map_or(self.next_lsn, |s| s.first);
        let segments = list_segments(&self.shared.dir)?;
        let next = segments.into_iter().find(|s| *s > current);
        self.file = None;
        if let Some(n) = next {
            self.next_lsn = n;
        }
        Ok(self.next_lsn)
    }
}
