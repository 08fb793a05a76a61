//! Immutable blocks: one time window of chunks on disk.
//!
//! A block is a directory with `chunks` (the encoded chunks back to back,
//! memory-mapped when read), `index` (series labels and, per series, where
//! each chunk lies; CRC-checked) and `meta.json` (time range, counts,
//! resolution). It is written under a temporary name and renamed, so a
//! crash leaves either the whole block or none. Retention deletes blocks.

use std::fs;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::head::Chunk;
use super::wal::sync_dir;
use crate::chunk::{ChunkIter, ChunkWriter};
use crate::codec::{self, Reader};
use crate::index::Postings;
use crate::labels::Labels;
use crate::{Matcher, StoreError};

const INDEX_MAGIC: &[u8; 8] = b"WFTSIDX1";

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct BlockMeta {
    pub mint: i64,
    pub maxt: i64,
    pub series: u64,
    pub samples: u64,
    /// 0 for raw data; else the downsampling step in milliseconds.
    pub resolution_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct ChunkRef {
    mint: i64,
    maxt: i64,
    count: u32,
    offset: usize,
    len: usize,
}

#[derive(Debug)]
struct BlockSeries {
    labels: Labels,
    chunks: Vec<ChunkRef>,
}

pub(crate) struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    series: Vec<BlockSeries>,
    postings: Postings,
    chunks: Option<Mmap>,
}

fn corrupt(path: &Path, what: &str) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

/// Writes a block of the given series' chunks under `parent`.
pub(crate) fn write(
    parent: &Path,
    mut series: Vec<(Labels, Vec<Chunk>)>,
    resolution_ms: i64,
) -> Result<Option<Block>, StoreError> {
    series.retain(|(_, c)| !c.is_empty());
    if series.is_empty() {
        return Ok(None);
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut chunks = Vec::new();
    let mut index = INDEX_MAGIC.to_vec();
    codec::put_u32(&mut index, series.len() as u32);
    let mut meta = BlockMeta {
        mint: i64::MAX,
        maxt: i64::MIN,
        series: series.len() as u64,
        samples: 0,
        resolution_ms,
    };
    for (labels, list) in &series {
        codec::put_labels(&mut index, labels);
        codec::put_u32(&mut index, list.len() as u32);
        for c in list {
            codec::put_i64(&mut index, c.mint);
            codec::put_i64(&mut index, c.maxt);
            codec::put_u32(&mut index, c.count);
            codec::put_u64(&mut index, chunks.len() as u64);
            codec::put_u32(&mut index, c.bytes.len() as u32);
            chunks.extend_from_slice(&c.bytes);
            meta.mint = meta.mint.min(c.mint);
            meta.maxt = meta.maxt.max(c.maxt);
            meta.samples += c.count as u64;
        }
    }
    let crc = crc32fast::hash(&index);
    codec::put_u32(&mut index, crc);

    let name = format!(
        "{:020}-{}-{}",
        meta.mint.max(0),
        meta.maxt.max(0),
        resolution_ms
    );
    let dir = parent.join(&name);
    let tmp = parent.join(format!("{name}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(StoreError::io(&tmp))?;
    write_synced(&tmp.join("chunks"), &chunks)?;
    write_synced(&tmp.join("index"), &index)?;
    let meta_json =
        serde_json::to_vec_pretty(&meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
    write_synced(&tmp.join("meta.json"), &meta_json)?;
    sync_dir(&tmp)?;
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(StoreError::io(&dir))?;
    }
    fs::rename(&tmp, &dir).map_err(StoreError::io(&dir))?;
    sync_dir(parent)?;
    Block::open(&dir).map(Some)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut f = fs::File::create(path).map_err(StoreError::io(path))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(StoreError::io(path))
}

impl Block {
    pub fn open(dir: &Path) -> Result<Block, StoreError> {
        let meta_path = dir.join("meta.json");
        let meta_bytes = fs::read(&meta_path).map_err(StoreError::io(&meta_path))?;
        let meta: BlockMeta =
            serde_json::from_slice(&meta_bytes).map_err(|e| corrupt(&meta_path, &e.to_string()))?;
        let index_path = dir.join("index");
        let index = fs::read(&index_path).map_err(StoreError::io(&index_path))?;
        let series = parse_index(&index)
            .ok_or_else(|| corrupt(&index_path, "index does not parse or its checksum differs"))?;
        let chunks_path = dir.join("chunks");
        let file = fs::File::open(&chunks_path).map_err(StoreError::io(&chunks_path))?;
        let len = file.metadata().map_err(StoreError::io(&chunks_path))?.len() as usize;
        if series
            .iter()
            .flat_map(|s| &s.chunks)
            .any(|c| c.offset.checked_add(c.len).is_none_or(|end| end > len))
        {
            return Err(corrupt(
                &chunks_path,
                "a chunk lies past the end of the file",
            ));
        }
        // SAFETY: blocks are immutable once renamed into place; nothing
        // writes to the file while it is mapped (retention removes the
        // directory only after the block is dropped from the list).
        let chunks = if len == 0 {
            None
        } else {
            Some(unsafe { Mmap::map(&file) }.map_err(StoreError::io(&chunks_path))?)
        };
        let mut postings = Postings::default();
        for (id, s) in series.iter().enumerate() {
            postings.add(id as u32, &s.labels);
        }
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            series,
            postings,
            chunks,
        })
    }

    fn chunk_bytes(&self, c: &ChunkRef) -> &[u8] {
        self.chunks
            .as_deref()
            .and_then(|m| m.get(c.offset..c.offset + c.len))
            .unwrap_or(&[])
    }

    /// Matching series with their samples in `[mint, maxt]`.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        mut visit: impl FnMut(&Labels, Vec<(i64, f64)>),
    ) {
        if self.meta.maxt < mint || self.meta.mint > maxt {
            return;
        }
        for id in self.postings.select(matchers) {
            let s = &self.series[id as usize];
            let mut samples = Vec::new();
            for c in s.chunks.iter().filter(|c| c.maxt >= mint && c.mint <= maxt) {
                samples.extend(
                    ChunkIter::new(self.chunk_bytes(c), c.count)
                        .filter(|&(t, _)| t >= mint && t <= maxt),
                );
            }
            if !samples.is_empty() {
                visit(&s.labels, samples);
            }
        }
    }

    /// Labels of the matching series with chunks overlapping the range.
    pub fn series_in(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> impl Iterator<Item = &Labels> {
        let overlaps = self.meta.maxt >= mint && self.meta.mint <= maxt;
        let ids = if overlaps {
            self.postings.select(matchers)
        } else {
            Vec::new()
        };
        ids.into_iter()
            .map(|id| &self.series[id as usize])
            .filter(move |s| s.chunks.iter().any(|c| c.maxt >= mint && c.mint <= maxt))
            .map(|s| &s.labels)
    }

    pub fn chunk_bytes_total(&self) -> u64 {
        self.series
            .iter()
            .flat_map(|s| &s.chunks)
            .map(|c| c.len as u64)
            .sum()
    }

    /// The block thinned to one sample per `step` (the last of each step,
    /// as VictoriaMetrics downsamples, so counters keep their rates).
    pub fn downsampled(&self, step: i64) -> Vec<(Labels, Vec<Chunk>)> {
        self.series
            .iter()
            .map(|s| {
                let mut kept: Vec<(i64, f64)> = Vec::new();
                for c in &s.chunks {
                    for (t, v) in ChunkIter::new(self.chunk_bytes(c), c.count) {
                        match kept.last_mut() {
                            Some(last) if last.0.div_euclid(step) == t.div_euclid(step) => {
                                *last = (t, v)
                            }
                            _ => kept.push((t, v)),
                        }
                    }
                }
                (s.labels.clone(), encode_chunks(&kept))
            })
            .collect()
    }
}

/// Encodes samples into chunks of the head's size.
pub(crate) fn encode_chunks(samples: &[(i64, f64)]) -> Vec<Chunk> {
    samples
        .chunks(super::head::CHUNK_SAMPLES as usize)
        .map(|part| {
            let mut w = ChunkWriter::new();
            for &(t, v) in part {
                w.append(t, v);
            }
            Chunk {
                mint: w.min_time(),
                maxt: w.max_time(),
                count: w.len(),
                bytes: w.bytes().into(),
            }
        })
        .collect()
}

fn parse_index(bytes: &[u8]) -> Option<Vec<BlockSeries>> {
    let body_len = bytes.len().checked_sub(4)?;
    let (body, crc) = bytes.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let mut r = Reader::new(body);
    if r.take(8)? != INDEX_MAGIC {
        return None;
    }
    let n = r.u32()? as usize;
    let mut series = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let labels = r.labels()?;
        let count = r.u32()? as usize;
        let mut chunks = Vec::with_capacity(count.min(1 << 16));
        for _ in 0..count {
            chunks.push(ChunkRef {
                mint: r.i64()?,
                maxt: r.i64()?,
                count: r.u32()?,
                offset: r.u64()? as usize,
                len: r.u32()? as usize,
            });
        }
        series.push(BlockSeries { labels, chunks });
    }
    Some(series)
}
