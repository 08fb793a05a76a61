//! The head: recent samples in memory, per series one open chunk being
//! appended and the closed chunks before it, under the inverted index.

use std::collections::HashMap;

use crate::chunk::{ChunkIter, ChunkWriter};
use crate::index::Postings;
use crate::labels::Labels;
use crate::{Matcher, Refusal};

/// Samples per chunk before it is closed (Prometheus's figure: about two
/// hours of 1-minute data, and the point where compression stops improving).
pub(crate) const CHUNK_SAMPLES: u32 = 120;

/// A closed, immutable chunk.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    pub mint: i64,
    pub maxt: i64,
    pub count: u32,
    pub bytes: Box<[u8]>,
}

impl Chunk {
    pub fn samples(&self) -> ChunkIter<'_> {
        ChunkIter::new(&self.bytes, self.count)
    }
}

#[derive(Debug)]
pub(crate) struct MemSeries {
    pub labels: Labels,
    pub closed: Vec<Chunk>,
    pub open: ChunkWriter,
    last: Option<(i64, u64)>,
}

impl MemSeries {
    fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            closed: Vec::new(),
            open: ChunkWriter::new(),
            last: None,
        }
    }

    pub fn last_time(&self) -> Option<i64> {
        self.last.map(|(t, _)| t)
    }

    pub fn min_time(&self) -> Option<i64> {
        self.closed
            .first()
            .map(|c| c.mint)
            .or_else(|| (!self.open.is_empty()).then(|| self.open.min_time()))
    }

    /// Checks a sample against the newest one: `Ok(false)` for an exact
    /// duplicate (accepted, nothing to store).
    pub fn check(&self, t: i64, v: f64) -> Result<bool, Refusal> {
        match self.last {
            Some((lt, _)) if t < lt => Err(Refusal::OutOfOrder),
            Some((lt, bits)) if t == lt && bits == v.to_bits() => Ok(false),
            Some((lt, _)) if t == lt => Err(Refusal::Duplicate),
            _ => Ok(true),
        }
    }

    /// Appends a checked sample; chunks never straddle a block window, so
    /// compaction moves whole chunks.
    pub fn append(&mut self, t: i64, v: f64, block_span: i64) {
        let crosses_window = !self.open.is_empty()
            && t.div_euclid(block_span) != self.open.min_time().div_euclid(block_span);
        if self.open.len() >= CHUNK_SAMPLES || crosses_window {
            self.close_open();
        }
        self.open.append(t, v);
        self.last = Some((t, v.to_bits()));
    }

    fn close_open(&mut self) {
        let open = std::mem::replace(&mut self.open, ChunkWriter::new());
        if open.is_empty() {
            return;
        }
        self.closed.push(Chunk {
            mint: open.min_time(),
            maxt: open.max_time(),
            count: open.len(),
            bytes: open.bytes().into(),
        });
    }

    /// Samples in `[mint, maxt]`, in time order.
    pub fn samples_in(&self, mint: i64, maxt: i64, out: &mut Vec<(i64, f64)>) {
        for c in self
            .closed
            .iter()
            .filter(|c| c.maxt >= mint && c.mint <= maxt)
        {
            out.extend(c.samples().filter(|&(t, _)| t >= mint && t <= maxt));
        }
        if !self.open.is_empty() && self.open.max_time() >= mint && self.open.min_time() <= maxt {
            out.extend(
                ChunkIter::new(self.open.bytes(), self.open.len())
                    .filter(|&(t, _)| t >= mint && t <= maxt),
            );
        }
    }

    pub fn overlaps(&self, mint: i64, maxt: i64) -> bool {
        match (self.min_time(), self.last_time()) {
            (Some(lo), Some(hi)) => hi >= mint && lo <= maxt,
            _ => false,
        }
    }

    pub fn sample_count(&self) -> u64 {
        self.closed.iter().map(|c| c.count as u64).sum::<u64>() + self.open.len() as u64
    }

    pub fn chunk_bytes(&self) -> u64 {
        self.closed
            .iter()
            .map(|c| c.bytes.len() as u64)
            .sum::<u64>()
            + self.open.bytes().len() as u64
    }

    /// Rebuilds a series from a snapshot: closed chunks as they were, the
    /// open chunk by appending its samples again, `last` its newest sample
    /// (time, value bits).
    pub fn restore(
        labels: Labels,
        closed: Vec<Chunk>,
        open: &[(i64, f64)],
        last: Option<(i64, u64)>,
    ) -> Self {
        let mut s = MemSeries::new(labels);
        s.closed = closed;
        for &(t, v) in open {
            s.open.append(t, v);
        }
        s.last = last;
        s
    }

    pub fn last_bits(&self) -> Option<(i64, u64)> {
        self.last
    }
}

/// All series of the head.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub series: Vec<Option<MemSeries>>,
    pub by_labels: HashMap<Labels, u32, foldhash::fast::RandomState>,
    pub postings: Postings,
}

impl Head {
    /// The id of the series with `labels`, and whether it is new.
    pub fn get_or_create(&mut self, labels: &Labels) -> (u32, bool) {
        if let Some(&id) = self.by_labels.get(labels) {
            return (id, false);
        }
        let id = self.series.len() as u32;
        self.insert(id, MemSeries::new(labels.clone()));
        (id, true)
    }

    /// Puts a series under a given id (replay keeps the logged ids).
    pub fn insert(&mut self, id: u32, series: MemSeries) {
        let idx = id as usize;
        if self.series.len() <= idx {
            self.series.resize_with(idx + 1, || None);
        }
        self.by_labels.insert(series.labels.clone(), id);
        self.postings.add(id, &series.labels);
        self.series[idx] = Some(series);
    }

    pub fn get_mut(&mut self, id: u32) -> Option<&mut MemSeries> {
        self.series.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn live(&self) -> impl Iterator<Item = (u32, &MemSeries)> {
        self.series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as u32, s)))
    }

    pub fn select(&self, matchers: &[Matcher]) -> impl Iterator<Item = &MemSeries> {
        self.postings
            .select(matchers)
            .into_iter()
            .filter_map(|id| self.series.get(id as usize).and_then(Option::as_ref))
    }

    /// Removes the closed chunks that end before `boundary` and returns them
    /// per series; series left with no data are forgotten.
    pub fn cut_before(&mut self, boundary: i64) -> Vec<(Labels, Vec<Chunk>)> {
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (id, slot) in self.series.iter_mut().enumerate() {
            let Some(s) = slot else { continue };
            if s.open.max_time() < boundary && !s.open.is_empty() {
                s.close_open();
            }
            let split = s.closed.partition_point(|c| c.maxt < boundary);
            if split > 0 {
                out.push((s.labels.clone(), s.closed.drain(..split).collect()));
            }
            if s.closed.is_empty() && s.open.is_empty() {
                gone.push(id as u32);
                self.by_labels.remove(&s.labels);
                *slot = None;
            }
        }
        self.postings.remove(&gone);
        out
    }
}
