//! The metric write-ahead log: numbered segments of CRC-checked frames.
//!
//! A frame is `len: u32 | crc32: u32 | payload`; a payload is a series record
//! (head id and labels, written once per new series) or a samples record
//! (head id, time, value bits). A torn frame at the end of the last segment
//! (a crash mid-write) is cut off on open; anything acknowledged was synced.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::codec::{self, Reader};
use crate::labels::Labels;
use crate::StoreError;

const SERIES: u8 = 1;
const SAMPLES: u8 = 2;

/// One decoded WAL record.
#[derive(Debug, PartialEq)]
pub(crate) enum Record {
    Series { id: u32, labels: Labels },
    Samples(Vec<(u32, i64, f64)>),
}

pub(crate) fn encode_series(out: &mut Vec<u8>, id: u32, labels: &Labels) {
    out.push(SERIES);
    codec::put_u32(out, id);
    codec::put_labels(out, labels);
}

pub(crate) fn encode_samples(out: &mut Vec<u8>, samples: &[(u32, i64, f64)]) {
    out.push(SAMPLES);
    codec::put_u32(out, samples.len() as u32);
    for &(id, t, v) in samples {
        codec::put_u32(out, id);
        codec::put_i64(out, t);
        codec::put_u64(out, v.to_bits());
    }
}

fn decode(payload: &[u8]) -> Option<Record> {
    let mut r = Reader::new(payload);
    match r.u8()? {
        SERIES => Some(Record::Series {
            id: r.u32()?,
            labels: r.labels()?,
        }),
        SAMPLES => {
            let n = r.u32()? as usize;
            let mut out = Vec::with_capacity(n.min(1 << 20));
            for _ in 0..n {
                out.push((r.u32()?, r.i64()?, f64::from_bits(r.u64()?)));
            }
            Some(Record::Samples(out))
        }
        _ => None,
    }
}

pub(crate) struct Wal {
    dir: PathBuf,
    segment: u64,
    file: File,
    frame: Vec<u8>,
    sync: bool,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}"))
}

/// Segment numbers in the directory, ascending.
pub(crate) fn segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Wal {
    /// Opens the log for appending in a new segment after the existing ones
    /// (never appending after a possibly torn frame).
    pub fn open(dir: &Path, first_segment: u64, sync: bool) -> Result<Wal, StoreError> {
        fs::create_dir_all(dir).map_err(StoreError::io(dir))?;
        let next = segments(dir)?
            .last()
            .map_or(first_segment, |n| n + 1)
            .max(first_segment);
        let path = segment_path(dir, next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        sync_dir(dir)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            segment: next,
            file,
            frame: Vec::new(),
            sync,
        })
    }

    /// Writes the payloads as frames in one write, then syncs.
    pub fn write(&mut self, payloads: &[Vec<u8>]) -> Result<(), StoreError> {
        self.frame.clear();
        for p in payloads.iter().filter(|p| !p.is_empty()) {
            codec::put_u32(&mut self.frame, p.len() as u32);
            codec::put_u32(&mut self.frame, crc32fast::hash(p));
            self.frame.extend_from_slice(p);
        }
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(&self.frame)
            .map_err(StoreError::io(&path))?;
        if self.sync {
            self.file.sync_data().map_err(StoreError::io(&path))?;
        }
        Ok(())
    }

    /// Starts a new segment; returns its number. Older segments can go once
    /// a snapshot covers them.
    pub fn rotate(&mut self) -> Result<u64, StoreError> {
        let next = self.segment + 1;
        let path = segment_path(&self.dir, next);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(StoreError::io(&path))?;
        sync_dir(&self.dir)?;
        self.segment = next;
        Ok(next)
    }

    /// Deletes the segments before `segment`.
    pub fn remove_before(&self, segment: u64) -> Result<(), StoreError> {
        for n in segments(&self.dir)?.into_iter().filter(|&n| n < segment) {
            let path = segment_path(&self.dir, n);
            fs::remove_file(&path).map_err(StoreError::io(&path))?;
        }
        Ok(())
    }

    pub fn disk_bytes(&self) -> u64 {
        dir_bytes(&self.dir)
    }
}

pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir))
}

/// Reads every record of the segments from `first` on, in order. A torn or
/// corrupt frame ends its segment (it can only be the crash's last write);
/// the count of such tails is returned for the log.
pub(crate) fn replay(
    dir: &Path,
    first: u64,
    mut visit: impl FnMut(Record),
) -> Result<u64, StoreError> {
    let mut torn = 0;
    for n in segments(dir)?.into_iter().filter(|&n| n >= first) {
        let path = segment_path(dir, n);
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(StoreError::io(&path))?;
        let mut r = Reader::new(&bytes);
        while !r.is_empty() {
            let frame = (|| {
                let len = r.u32()? as usize;
                let crc = r.u32()?;
                let payload = r.take(len)?;
                (crc32fast::hash(payload) == crc).then_some(payload)
            })();
            match frame.and_then(decode) {
                Some(record) => visit(record),
                None => {
                    torn += 1;
                    tracing::warn!(segment = %path.display(), "metric WAL: torn or corrupt frame; the rest of the segment is skipped");
                    break;
                }
            }
        }
    }
    Ok(torn)
}
