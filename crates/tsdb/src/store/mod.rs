//! [`DiskStore`]: the embedded metric store (head + write-ahead log + blocks).
//!
//! Layout of the data directory:
//!
//! ```text
//! wal/00000007          segments of the write-ahead log
//! head.snapshot         the head as of a WAL segment (replay starts there)
//! blocks/<mint>-<maxt>-<resolution>/{chunks,index,meta.json}
//! ```
//!
//! An append is checked, applied to the head, written to the log and synced
//! before it returns. [`DiskStore::maintain`] cuts head data older than half
//! a block window into blocks, snapshots the head and drops the log before
//! it, deletes blocks past retention and thins old blocks (downsampling).

mod block;
mod head;
mod wal;

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use block::Block;
use head::{Chunk, Head, MemSeries};
use wal::{Record, Wal};

use crate::codec::{self, Reader};
use crate::labels::Labels;
use crate::{
    valid_series, AppendReport, Matcher, MetricStore, Refusal, SeriesData, SeriesSamples,
    StoreError, StoreStats,
};

/// How the store keeps and thins data. Times in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreOptions {
    /// Width of a block (Prometheus: two hours).
    pub block_span_ms: i64,
    /// Data older than this (behind the newest sample) is deleted; `None`
    /// keeps everything.
    pub retention_ms: Option<i64>,
    /// Blocks older than this are thinned to one sample per
    /// `downsample_step_ms`; `None` never thins.
    pub downsample_after_ms: Option<i64>,
    pub downsample_step_ms: i64,
    /// Sync the log on every append (off only for benchmarks of the rest).
    pub sync: bool,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            block_span_ms: 2 * HOUR_MS,
            retention_ms: Some(15 * DAY_MS),
            downsample_after_ms: Some(7 * DAY_MS),
            downsample_step_ms: 5 * 60_000,
            sync: true,
        }
    }
}

pub struct DiskStore {
    dir: PathBuf,
    options: StoreOptions,
    wal: Mutex<Wal>,
    head: RwLock<Head>,
    blocks: RwLock<Vec<Arc<Block>>>,
}

const SNAPSHOT: &str = "head.snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"WFTSHEAD";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`, replaying the log.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<DiskStore, StoreError> {
        if options.block_span_ms <= 0 || options.downsample_step_ms <= 0 {
            return Err(StoreError::Invalid(
                "block span and downsampling step must be positive".into(),
            ));
        }
        let blocks_dir = dir.join("blocks");
        fs::create_dir_all(&blocks_dir).map_err(StoreError::io(&blocks_dir))?;
        let blocks = open_blocks(&blocks_dir)?;
        let (mut head, wal_from) = read_snapshot(&dir.join(SNAPSHOT))?;
        let wal_dir = dir.join("wal");
        fs::create_dir_all(&wal_dir).map_err(StoreError::io(&wal_dir))?;
        let torn = wal::replay(&wal_dir, wal_from, |record| {
            replay_record(&mut head, record, options.block_span_ms)
        })?;
        if torn > 0 {
            tracing::warn!(dir = %dir.display(), torn, "metric store: torn WAL tails skipped (writes that were never acknowledged)");
        }
        let wal = Wal::open(&wal_dir, wal_from, options.sync)?;
        Ok(DiskStore {
            dir: dir.to_path_buf(),
            options,
            wal: Mutex::new(wal),
            head: RwLock::new(head),
            blocks: RwLock::new(blocks),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    fn max_time(head: &Head) -> Option<i64> {
        head.live().filter_map(|(_, s)| s.last_time()).max()
    }

    fn compact_head(&self) -> Result<(), StoreError> {
        let mut wal = lock(&self.wal);
        let mut head = write(&self.head);
        let span = self.options.block_span_ms;
        let Some(newest) = Self::max_time(&head) else {
            return Ok(());
        };
        let boundary = (newest - span / 2).div_euclid(span) * span;
        let cut = head.cut_before(boundary);
        let cut_any = !cut.is_empty();
        if cut_any {
            let mut by_window: HashMap<i64, Vec<(Labels, Vec<Chunk>)>> = HashMap::new();
            for (labels, chunks) in cut {
                for chunk in chunks {
                    let window = by_window.entry(chunk.mint.div_euclid(span)).or_default();
                    match window.last_mut() {
                        Some((l, list)) if *l == labels => list.push(chunk),
                        _ => window.push((labels.clone(), vec![chunk])),
                    }
                }
            }
            for (_, series) in by_window {
                if let Some(b) = block::write(&self.dir.join("blocks"), series, 0)? {
                    write(&self.blocks).push(Arc::new(b));
                }
            }
        }
        // Snapshot when blocks were cut (the log still holds their samples)
        // or the log grew past 64 MiB (replay time).
        if cut_any || wal.disk_bytes() > 64 << 20 {
            let from = wal.rotate()?;
            write_snapshot(&self.dir.join(SNAPSHOT), &head, from)?;
            wal.remove_before(from)?;
        }
        Ok(())
    }

    fn apply_retention(&self, now_ms: i64) -> Result<(), StoreError> {
        let Some(retention) = self.options.retention_ms else {
            return Ok(());
        };
        let horizon = now_ms - retention;
        let expired: Vec<Arc<Block>> = {
            let mut blocks = write(&self.blocks);
            let (old, keep) = blocks.drain(..).partition(|b| b.meta.maxt < horizon);
            *blocks = keep;
            old
        };
        for b in expired {
            fs::remove_dir_all(&b.dir).map_err(StoreError::io(&b.dir))?;
        }
        Ok(())
    }

    fn downsample(&self, now_ms: i64) -> Result<(), StoreError> {
        let Some(after) = self.options.downsample_after_ms else {
            return Ok(());
        };
        let step = self.options.downsample_step_ms;
        let due: Vec<Arc<Block>> = read(&self.blocks)
            .iter()
            .filter(|b| b.meta.resolution_ms == 0 && b.meta.maxt < now_ms - after)
            .cloned()
            .collect();
        for old in due {
            let thin = block::write(&self.dir.join("blocks"), old.downsampled(step), step)?;
            let mut blocks = write(&self.blocks);
            blocks.retain(|b| !Arc::ptr_eq(b, &old));
            if let Some(b) = thin {
                blocks.push(Arc::new(b));
            }
            drop(blocks);
            fs::remove_dir_all(&old.dir).map_err(StoreError::io(&old.dir))?;
        }
        Ok(())
    }

    fn append_locked(
        &self,
        head: &mut Head,
        batch: &[SeriesSamples],
        report: &mut AppendReport,
    ) -> Vec<Vec<u8>> {
        // The log's payloads: one record per new series, then the samples.
        let mut payloads = Vec::new();
        let mut accepted = Vec::new();
        let horizon = self
            .options
            .retention_ms
            .and_then(|r| Self::max_time(head).map(|t| t - r));
        for item in batch {
            if !valid_series(&item.labels) {
                for &(t, _) in &item.samples {
                    report.refuse(Refusal::InvalidSeries, &item.labels, t);
                }
                continue;
            }
            let (id, new) = head.get_or_create(&item.labels);
            if new {
                let mut rec = Vec::new();
                wal::encode_series(&mut rec, id, &item.labels);
                payloads.push(rec);
            }
            let Some(series) = head.get_mut(id) else {
                continue;
            };
            for &(t, v) in &item.samples {
                if horizon.is_some_and(|h| t < h) {
                    report.refuse(Refusal::TooOld, &item.labels, t);
                    continue;
                }
                match series.check(t, v) {
                    Ok(true) => {
                        series.append(t, v, self.options.block_span_ms);
                        accepted.push((id, t, v));
                        report.appended += 1;
                    }
                    Ok(false) => report.appended += 1,
                    Err(reason) => report.refuse(reason, &item.labels, t),
                }
            }
        }
        if !accepted.is_empty() {
            let mut samples = Vec::new();
            wal::encode_samples(&mut samples, &accepted);
            payloads.push(samples);
        }
        payloads
    }
}

fn replay_record(head: &mut Head, record: Record, block_span: i64) {
    match record {
        Record::Series { id, labels } => {
            if head.get_mut(id).is_none() {
                head.insert(id, MemSeries::restore(labels, Vec::new(), &[], None));
            }
        }
        Record::Samples(samples) => {
            for (id, t, v) in samples {
                if let Some(s) = head.get_mut(id) {
                    if s.check(t, v) == Ok(true) {
                        s.append(t, v, block_span);
                    }
                }
            }
        }
    }
}

fn open_blocks(dir: &Path) -> Result<Vec<Arc<Block>>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(StoreError::io(dir))? {
        let path = entry.map_err(StoreError::io(dir))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            // A block whose write was interrupted: its data is still in
            // the head snapshot or the log.
            let _ = fs::remove_dir_all(&path);
            continue;
        }
        match Block::open(&path) {
            Ok(b) => out.push(Arc::new(b)),
            Err(e) => {
                let aside = path.with_extension("corrupt");
                tracing::error!(block = %path.display(), error = %e, aside = %aside.display(), "metric store: unreadable block set aside");
                fs::rename(&path, &aside).map_err(StoreError::io(&path))?;
            }
        }
    }
    out.sort_by_key(|b| (b.meta.mint, b.meta.maxt));
    Ok(out)
}

fn write_snapshot(path: &Path, head: &Head, wal_from: u64) -> Result<(), StoreError> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    codec::put_u64(&mut out, wal_from);
    codec::put_u32(&mut out, head.series.len() as u32);
    let live: Vec<(u32, &MemSeries)> = head.live().collect();
    codec::put_u32(&mut out, live.len() as u32);
    for (id, s) in live {
        codec::put_u32(&mut out, id);
        codec::put_labels(&mut out, &s.labels);
        let (t, bits) = s.last_bits().unwrap_or((i64::MIN, 0));
        codec::put_i64(&mut out, t);
        codec::put_u64(&mut out, bits);
        codec::put_u32(&mut out, s.closed.len() as u32);
        for c in &s.closed {
            codec::put_i64(&mut out, c.mint);
            codec::put_i64(&mut out, c.maxt);
            codec::put_u32(&mut out, c.count);
            codec::put_bytes(&mut out, &c.bytes);
        }
        codec::put_u32(&mut out, s.open.len());
        codec::put_bytes(&mut out, s.open.bytes());
    }
    let crc = crc32fast::hash(&out);
    codec::put_u32(&mut out, crc);
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp).map_err(StoreError::io(&tmp))?;
        f.write_all(&out)
            .and_then(|_| f.sync_all())
            .map_err(StoreError::io(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(StoreError::io(path))?;
    if let Some(parent) = path.parent() {
        wal::sync_dir(parent)?;
    }
    Ok(())
}

/// The head as of the snapshot and the WAL segment to replay from.
fn read_snapshot(path: &Path) -> Result<(Head, u64), StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Head::default(), 0)),
        Err(e) => return Err(StoreError::io(path)(e)),
    };
    parse_snapshot(&bytes).ok_or_else(|| StoreError::Corrupt {
        path: path.display().to_string(),
        what: "head snapshot does not parse or its checksum differs; move it aside to start from the blocks and the log".into(),
    })
}

fn parse_snapshot(bytes: &[u8]) -> Option<(Head, u64)> {
    let body_len = bytes.len().checked_sub(4)?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = Reader::new(body);
    if r.take(8)? != SNAPSHOT_MAGIC {
        return None;
    }
    let wal_from = r.u64()?;
    let next_id = r.u32()?;
    let live = r.u32()?;
    let mut head = Head::default();
    for _ in 0..live {
        let id = r.u32()?;
        let labels = r.labels()?;
        let last = (r.i64()?, r.u64()?);
        let closed_n = r.u32()? as usize;
        let mut closed = Vec::with_capacity(closed_n.min(1 << 16));
        for _ in 0..closed_n {
            closed.push(Chunk {
                mint: r.i64()?,
                maxt: r.i64()?,
                count: r.u32()?,
                bytes: r.bytes()?.into(),
            });
        }
        let open_count = r.u32()?;
        let open: Vec<(i64, f64)> = crate::chunk::ChunkIter::new(r.bytes()?, open_count).collect();
        let last = (last.0 != i64::MIN).then_some(last);
        head.insert(id, MemSeries::restore(labels, closed, &open, last));
    }
    if head.series.len() < next_id as usize {
        head.series.resize_with(next_id as usize, || None);
    }
    Some((head, wal_from))
}

impl MetricStore for DiskStore {
    fn append(&self, batch: &[SeriesSamples]) -> Result<AppendReport, StoreError> {
        let mut report = AppendReport::default();
        let mut wal = lock(&self.wal);
        let payloads = {
            let mut head = write(&self.head);
            self.append_locked(&mut head, batch, &mut report)
        };
        wal.write(&payloads)?;
        Ok(report)
    }

    fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<SeriesData>, StoreError> {
        let mut found: HashMap<Labels, Vec<Vec<(i64, f64)>>> = HashMap::new();
        for b in read(&self.blocks).iter() {
            b.select(matchers, mint, maxt, |labels, samples| {
                found.entry(labels.clone()).or_default().push(samples)
            });
        }
        {
            let head = read(&self.head);
            for s in head.select(matchers) {
                let mut samples = Vec::new();
                s.samples_in(mint, maxt, &mut samples);
                if !samples.is_empty() {
                    found.entry(s.labels.clone()).or_default().push(samples);
                }
            }
        }
        let mut out: Vec<SeriesData> = found
            .into_iter()
            .map(|(labels, parts)| SeriesData {
                labels,
                samples: merge(parts),
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }

    fn series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<Labels>, StoreError> {
        let mut out: Vec<Labels> = Vec::new();
        for b in read(&self.blocks).iter() {
            out.extend(b.series_in(matchers, mint, maxt).cloned());
        }
        let head = read(&self.head);
        out.extend(
            head.select(matchers)
                .filter(|s| s.overlaps(mint, maxt))
                .map(|s| s.labels.clone()),
        );
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self
            .series(matchers, mint, maxt)?
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut values: Vec<String> = self
            .series(matchers, mint, maxt)?
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// Moves head data older than half a block window behind the newest
    /// sample into blocks, snapshots the head, applies retention and
    /// downsampling relative to `now_ms`. Call it every minute or so.
    fn maintain(&self, now_ms: i64) -> Result<(), StoreError> {
        self.compact_head()?;
        self.apply_retention(now_ms)?;
        self.downsample(now_ms)
    }

    fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        let mut names: std::collections::HashSet<Labels> = std::collections::HashSet::new();
        {
            let head = read(&self.head);
            for (_, s) in head.live() {
                stats.head_series += 1;
                stats.head_samples += s.sample_count();
                stats.chunk_bytes += s.chunk_bytes();
                names.insert(s.labels.clone());
                stats.min_time = min_opt(stats.min_time, s.min_time());
                stats.max_time = max_opt(stats.max_time, s.last_time());
            }
        }
        stats.samples = stats.head_samples;
        for b in read(&self.blocks).iter() {
            stats.blocks += 1;
            stats.samples += b.meta.samples;
            stats.chunk_bytes += b.chunk_bytes_total();
            names.extend(b.series_in(&[], i64::MIN, i64::MAX).cloned());
            stats.min_time = min_opt(stats.min_time, Some(b.meta.mint));
            stats.max_time = max_opt(stats.max_time, Some(b.meta.maxt));
        }
        stats.series = names.len() as u64;
        stats.wal_bytes = lock(&self.wal).disk_bytes();
        stats.disk_bytes = wal::dir_bytes(&self.dir);
        stats
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Merges sample runs of one series (blocks and head) into time order,
/// keeping one sample per time.
fn merge(mut parts: Vec<Vec<(i64, f64)>>) -> Vec<(i64, f64)> {
    if parts.len() == 1 {
        return parts.pop().unwrap_or_default();
    }
    let mut all: Vec<(i64, f64)> = parts.into_iter().flatten().collect();
    all.sort_by_key(|&(t, _)| t);
    all.dedup_by_key(|&mut (t, _)| t);
    all
}
