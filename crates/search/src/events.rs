//! The embedded event store: one tantivy index per time bucket.
//!
//! The documents of an index are blocks of events ([`crate::blocks`]):
//! one tenant's events in arrival order, indexed under the distinct terms
//! of [`crate::terms`] they hold (one field, `terms`), with their time
//! span, and stored with the events. A search finds the blocks that may
//! hold a match and checks each of their events exactly
//! ([`crate::matcher`]). A bucket's commit payload is the highest id it
//! has committed, which makes replayed appends idempotent.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::{Bound, ControlFlow};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use tantivy::columnar::BytesColumn;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, Query as TQuery, RangeQuery, RegexQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value as _, FAST, INDEXED,
    STORED, STRING,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::aggregate::{Accumulator, AggregateRequest, Aggregation};
use crate::blocks::{self, BlockCollector, FullBlock, PendingBlock};
use crate::incoming::{BlockEvent, NewEvent};
use crate::matcher::{self, EventTerms, Matcher};
use crate::prefilter::Prefilter;
use crate::query::{self, Pattern, Query};
use crate::table::{self, Table};
use crate::terms::{
    as_number, covered_term, kv_term, name_term, word_term, MESSAGE, NAME_MARK, WORD_SEP,
};
use crate::{
    EventDoc, EventStore, EventStoreStats, LineFilter, Result, RetentionReport, ScanRequest,
    ScanStats, SearchError, SearchPage, SearchRequest,
};
use rayon::prelude::*;

const TERM_LIST: &str = "wf_term_list";
/// The stored events of a block; an index without it has another layout.
const BLOCK_FIELD: &str = "block";
/// The block's [`crate::table`] (a bytes fast field); buckets written
/// before it existed have none, and are counted from their events.
const TABLE_FIELD: &str = "table";
/// Free text is looked up under each field name of a bucket; past this
/// many names (data with generated keys) the query must name its field.
const MAX_FREE_TEXT_FIELDS: usize = 4096;
/// Below this many candidate blocks an aggregation stays on one thread.
const PARALLEL_BLOCKS: usize = 64;
/// Up to this many terms, a query for any of them looks each up.
const MAX_TERMS_ONE_BY_ONE: usize = 64;
/// Largest page a search returns.
pub const MAX_PAGE: usize = 10_000;

/// Tuning of the embedded event store.
#[derive(Debug, Clone)]
pub struct TantivyOptions {
    /// Width of a time bucket (one index each), seconds.
    pub bucket_secs: i64,
    /// Indexing memory per open bucket writer, bytes.
    pub writer_memory: usize,
    /// Indexing threads per bucket writer.
    pub writer_threads: usize,
    /// Bucket writers kept open at once; late events for older buckets
    /// commit and close the least recently used one.
    pub max_writers: usize,
    /// Events whose time is further than this before their arrival are
    /// filed in the bucket of their arrival (so a bad clock cannot create
    /// thousands of buckets); their own time is kept.
    pub max_lateness_secs: i64,
    /// Events in a block (an index document): more makes indexing cheaper
    /// (log events repeat their terms) and searches read more events.
    pub block_events: usize,
}

impl Default for TantivyOptions {
    fn default() -> Self {
        TantivyOptions {
            bucket_secs: 86_400,
            writer_memory: 64 << 20,
            writer_threads: 2,
            max_writers: 4,
            max_lateness_secs: 30 * 86_400,
            block_events: 128,
        }
    }
}

/// The fields of a block document.
#[derive(Clone, Copy)]
struct Fields {
    tenant: Field,
    /// The distinct terms of the block's events (see [`crate::terms`]).
    terms: Field,
    /// Oldest and newest event time in the block.
    ts_min: Field,
    ts_max: Field,
    count: Field,
    /// The events ([`blocks::entries`]).
    events: Field,
    table: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Blocks are found by term; the events themselves give positions.
    let terms_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TERM_LIST)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        tenant: b.add_text_field("tenant", STRING),
        terms: b.add_text_field("terms", terms_opts),
        ts_min: b.add_i64_field("ts_min", INDEXED | FAST),
        ts_max: b.add_i64_field("ts_max", INDEXED | FAST),
        count: b.add_u64_field("count", FAST),
        events: b.add_text_field(BLOCK_FIELD, STORED),
        table: b.add_bytes_field(TABLE_FIELD, FAST),
    };
    (b.build(), fields)
}

struct Bucket {
    start: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    /// Highest event id committed in this bucket.
    watermark: AtomicU64,
}

struct OpenWriter {
    writer: IndexWriter,
    /// Whether the bucket's index has a table field.
    tables: bool,
    dirty: bool,
    last_used: u64,
}

/// Looked up for every appended event: foldhash rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

#[derive(Default)]
struct WriterPool {
    open: FastMap<i64, OpenWriter>,
    /// Blocks being filled, by bucket and tenant.
    pending: FastMap<i64, FastMap<String, PendingBlock>>,
    /// Highest id appended so far: every event up to it is in its writer.
    max_appended: u64,
    tick: u64,
}

/// What a query is translated against: one bucket's searcher, and the
/// field names the bucket holds (free text is looked up under each).
struct Scope<'a> {
    searcher: &'a Searcher,
    names: Vec<String>,
}

/// The embedded [`EventStore`].
pub struct TantivyEventStore {
    root: PathBuf,
    schema: Schema,
    f: Fields,
    options: TantivyOptions,
    buckets: RwLock<BTreeMap<i64, Arc<Bucket>>>,
    writers: Mutex<WriterPool>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl TantivyEventStore {
    /// Opens (or creates) the store under `root`.
    pub fn open(root: &Path, options: TantivyOptions) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let (schema, f) = schema();
        let store = TantivyEventStore {
            root: root.to_path_buf(),
            schema,
            f,
            options,
            buckets: RwLock::new(BTreeMap::new()),
            writers: Mutex::new(WriterPool::default()),
        };
        for entry in std::fs::read_dir(root).map_err(io_err(root))? {
            let entry = entry.map_err(io_err(root))?;
            let name = entry.file_name();
            let Some(start) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else {
                continue;
            };
            let bucket = store.open_bucket(start, &entry.path(), false)?;
            store.buckets_mut().insert(start, Arc::new(bucket));
        }
        Ok(store)
    }

    fn buckets_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<Bucket>>> {
        self.buckets.write().unwrap_or_else(|p| p.into_inner())
    }

    fn buckets_snapshot(&self) -> Vec<Arc<Bucket>> {
        let map = self.buckets.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    fn open_bucket(&self, start: i64, dir: &Path, create: bool) -> Result<Bucket> {
        let index = if create {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            Index::create_in_dir(dir, self.schema.clone())?
        } else {
            Index::open_in_dir(dir)?
        };
        if index.schema().get_field(BLOCK_FIELD).is_err() {
            return Err(SearchError::Corrupt(format!(
                "{}: written by an older version of watchfloor with another index layout; \
                 move it away (or remove it) to start this bucket afresh",
                dir.display()
            )));
        }
        index
            .tokenizers()
            .register(TERM_LIST, blocks::TermListTokenizer::default());
        let watermark = match index.load_metas()?.payload {
            Some(p) => p.parse::<u64>().map_err(|_| {
                SearchError::Corrupt(format!("{}: bad commit payload {p:?}", dir.display()))
            })?,
            None => 0,
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Bucket {
            start,
            dir: dir.to_path_buf(),
            index,
            reader,
            watermark: AtomicU64::new(watermark),
        })
    }

    fn bucket_ns(&self) -> i64 {
        self.options.bucket_secs.max(1) * 1_000_000_000
    }

    /// The bucket start an event is filed under.
    fn bucket_of(&self, ev: &impl BlockEvent) -> i64 {
        let late = self.options.max_lateness_secs * 1_000_000_000;
        let early = 3_600 * 1_000_000_000;
        let (time_ns, received_ns) = (ev.time_ns(), ev.received_ns());
        let t = if time_ns < received_ns.saturating_sub(late)
            || time_ns > received_ns.saturating_add(early)
        {
            received_ns
        } else {
            time_ns
        };
        t.div_euclid(self.bucket_ns()) * self.bucket_ns() / 1_000_000_000
    }

    fn bucket(&self, start: i64) -> Result<Arc<Bucket>> {
        if let Some(b) = self
            .buckets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&start)
        {
            return Ok(b.clone());
        }
        let mut map = self.buckets_mut();
        if let Some(b) = map.get(&start) {
            return Ok(b.clone());
        }
        let dir = self.root.join(start.to_string());
        let b = Arc::new(self.open_bucket(start, &dir, true)?);
        map.insert(start, b.clone());
        Ok(b)
    }

    /// Files events into their buckets' pending blocks (`push` adds one
    /// to a block), handing full blocks to the buckets' writers.
    fn append_each<E: BlockEvent>(
        &self,
        events: &[E],
        push: impl Fn(&mut PendingBlock, &E),
    ) -> Result<()> {
        let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let mut current: Option<(i64, Arc<Bucket>)> = None;
        for ev in events {
            let start = self.bucket_of(ev);
            // Consecutive events share a bucket: look it up (a lock) only on a change.
            let bucket = match &current {
                Some((s, b)) if *s == start => b.clone(),
                _ => {
                    let b = self.bucket(start)?;
                    current = Some((start, b.clone()));
                    b
                }
            };
            pool.max_appended = pool.max_appended.max(ev.id());
            if ev.id() <= bucket.watermark.load(Ordering::Acquire) {
                continue; // committed before a restart: replayed, not stored twice
            }
            self.ensure_writer(&mut pool, start, &bucket)?;
            pool.tick += 1;
            let tick = pool.tick;
            if let Some(w) = pool.open.get_mut(&start) {
                w.dirty = true;
                w.last_used = tick;
            }
            let tenants = pool.pending.entry(start).or_default();
            let block = match tenants.get_mut(ev.tenant()) {
                Some(block) => block,
                None => tenants.entry(ev.tenant().to_string()).or_default(),
            };
            push(block, ev);
            if block.count >= self.options.block_events.max(1) as u64 {
                self.flush_blocks(&mut pool, start, Some(ev.tenant()))?;
            }
        }
        Ok(())
    }

    fn block_document(&self, tenant: &str, block: FullBlock, table: bool) -> TantivyDocument {
        let f = self.f;
        let mut doc = TantivyDocument::new();
        doc.add_text(f.tenant, tenant);
        doc.add_text(f.terms, &block.terms);
        doc.add_i64(f.ts_min, block.ts_min);
        doc.add_i64(f.ts_max, block.ts_max);
        doc.add_u64(f.count, block.count);
        doc.add_text(f.events, &block.events);
        if table {
            doc.add_bytes(f.table, &block.table);
        }
        doc
    }

    /// Hands the pending blocks of a bucket (one tenant's, or all) to its writer.
    fn flush_blocks(&self, pool: &mut WriterPool, start: i64, tenant: Option<&str>) -> Result<()> {
        let WriterPool { open, pending, .. } = pool;
        let (Some(blocks), Some(w)) = (pending.get_mut(&start), open.get_mut(&start)) else {
            return Ok(());
        };
        for (t, block) in blocks.iter_mut() {
            if block.count > 0 && tenant.is_none_or(|only| only == t) {
                w.writer
                    .add_document(self.block_document(t, block.take(), w.tables))?;
                w.dirty = true;
            }
        }
        Ok(())
    }

    /// Opens the writer of a bucket if it is not open, closing the least
    /// recently used one when too many are.
    fn ensure_writer(&self, pool: &mut WriterPool, start: i64, bucket: &Bucket) -> Result<()> {
        if pool.open.contains_key(&start) {
            return Ok(());
        }
        if pool.open.len() >= self.options.max_writers.max(1) {
            self.evict_writer(pool)?;
        }
        // tantivy wants at least 15 MB per indexing thread.
        let threads = self
            .options
            .writer_threads
            .clamp(1, (self.options.writer_memory / 15_000_000).max(1));
        let writer: IndexWriter = bucket
            .index
            .writer_with_num_threads(threads, self.options.writer_memory)?;
        writer.set_merge_policy(Box::new(merge_policy(self.options.block_events)));
        pool.open.insert(
            start,
            OpenWriter {
                writer,
                tables: bucket.index.schema().get_field(TABLE_FIELD).is_ok(),
                dirty: false,
                last_used: 0,
            },
        );
        Ok(())
    }

    /// Commits and closes the least recently used writer.
    fn evict_writer(&self, pool: &mut WriterPool) -> Result<()> {
        let Some(start) = pool
            .open
            .iter()
            .min_by_key(|(_, w)| w.last_used)
            .map(|(s, _)| *s)
        else {
            return Ok(());
        };
        self.flush_blocks(pool, start, None)?;
        pool.pending.remove(&start);
        if let Some(mut w) = pool.open.remove(&start) {
            if w.dirty {
                self.commit_writer(start, &mut w.writer, pool.max_appended)?;
            }
        }
        Ok(())
    }

    fn commit_writer(&self, start: i64, writer: &mut IndexWriter, upto: u64) -> Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&upto.to_string());
        prepared.commit()?;
        let bucket = self.bucket(start)?;
        bucket.watermark.store(upto, Ordering::Release);
        bucket.reader.reload()?;
        Ok(())
    }

    fn term(&self, text: &str) -> Term {
        Term::from_field_text(self.f.terms, text)
    }

    fn term_query(&self, text: &str) -> Box<dyn TQuery> {
        Box::new(TermQuery::new(self.term(text), IndexRecordOption::Basic))
    }

    /// The blocks of one bucket that may hold a match of the user's query:
    /// every block holding an event that matches has the terms asked for,
    /// but a block with them may not hold a match (the terms may come
    /// from different events, the words of a phrase may be apart), and a
    /// negation rules out no block (another event of it may match).
    fn translate(&self, q: &Query, scope: &Scope<'_>) -> Result<Box<dyn TQuery>> {
        Ok(match q {
            Query::All | Query::Not(_) => Box::new(AllQuery),
            Query::And(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items.iter().filter(|i| !matches!(i, Query::Not(_))) {
                    clauses.push((Occur::Must, self.translate(item, scope)?));
                }
                if clauses.is_empty() {
                    return Ok(Box::new(AllQuery));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items {
                    clauses.push((Occur::Should, self.translate(item, scope)?));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Exists(name) => self.term_query(&name_term(name)),
            Query::Match {
                field: Some(name),
                value,
            } => self.value_query(std::slice::from_ref(name), value)?,
            Query::Match { field: None, value } => self.value_query(&scope.names, value)?,
            Query::Range {
                field,
                lower,
                upper,
            } => self.range_query(field, lower, upper, scope.searcher)?,
        })
    }

    /// A value under any of `fields`, or among the message's words where
    /// they stand in for the fields' values ([`crate::terms::covered_by`]).
    fn value_query(&self, fields: &[String], value: &Pattern) -> Result<Box<dyn TQuery>> {
        let direct = self.own_value_query(fields, value)?;
        self.or_through_message(fields, direct, || {
            self.own_value_query(&[MESSAGE.to_string()], value)
        })
    }

    /// `direct`, or, in blocks where some values of `fields` are indexed
    /// only as words of their event's message, `on_message` (the same
    /// search over the message's words). Nothing to add when the message
    /// is one of the fields searched.
    fn or_through_message(
        &self,
        fields: &[String],
        direct: Box<dyn TQuery>,
        on_message: impl FnOnce() -> Result<Box<dyn TQuery>>,
    ) -> Result<Box<dyn TQuery>> {
        if fields.is_empty() || fields.iter().any(|f| f.eq_ignore_ascii_case(MESSAGE)) {
            return Ok(direct);
        }
        let marks: Vec<String> = fields.iter().map(|f| covered_term(f)).collect();
        let through_message = BooleanQuery::new(vec![
            (Occur::Must, self.any_term(&marks)),
            (Occur::Must, on_message()?),
        ]);
        Ok(Box::new(BooleanQuery::new(vec![
            (Occur::Should, direct),
            (Occur::Should, Box::new(through_message)),
        ])))
    }

    /// A value under any of `fields`: the whole value, or its words (all
    /// of them, for several: a block has no positions).
    fn own_value_query(&self, fields: &[String], value: &Pattern) -> Result<Box<dyn TQuery>> {
        if fields.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        let v = match value {
            Pattern::Word(v) | Pattern::Phrase(v) => v,
            Pattern::Wildcard(parts) => {
                let pattern = matcher::wildcard_pattern(fields, parts);
                let regex = RegexQuery::from_pattern(&pattern, self.f.terms).map_err(|e| {
                    SearchError::TooBroad(format!("wildcard too large to search: {e}"))
                })?;
                return Ok(Box::new(regex));
            }
        };
        let (single, phrases) = matcher::value_terms(fields, v);
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = phrases
            .iter()
            .map(|words| {
                let all = words.iter().map(|w| (Occur::Must, self.term_query(w)));
                (
                    Occur::Should,
                    Box::new(BooleanQuery::new(all.collect())) as Box<dyn TQuery>,
                )
            })
            .collect();
        if !single.is_empty() {
            clauses.push((Occur::Should, self.any_term(&single)));
        }
        Ok(match clauses.len() {
            0 => Box::new(EmptyQuery),
            1 => clauses.remove(0).1,
            _ => Box::new(BooleanQuery::new(clauses)),
        })
    }

    fn range_query(
        &self,
        field: &str,
        lower: &Bound<String>,
        upper: &Bound<String>,
        searcher: &Searcher,
    ) -> Result<Box<dyn TQuery>> {
        if let Some(range) = matcher::numeric_bounds(lower, upper) {
            return self.numeric_range(field, range, searcher);
        }
        let term = |t: String| self.term(&t);
        let (lo, hi) = matcher::text_range_terms(field, lower, upper);
        let direct = Box::new(RangeQuery::new(lo.map(term), hi.map(term)));
        self.or_through_message(&[field.to_string()], direct, || {
            let (lo, hi) = message_word_range(lower, upper);
            Ok(Box::new(RangeQuery::new(lo.map(term), hi.map(term))))
        })
    }

    /// A numeric range: the field's whole values that read as numbers in
    /// range. Values are indexed once, as text; a range walks the field's
    /// values in the term dictionary (cheaper than a second, numeric term
    /// for every number of every event, which cost a tenth of indexing).
    fn numeric_range(
        &self,
        field: &str,
        range: (Bound<f64>, Bound<f64>),
        searcher: &Searcher,
    ) -> Result<Box<dyn TQuery>> {
        let values = kv_term(field, "");
        let direct = self.numbers_in(
            searcher,
            &values,
            (&values, &matcher::above_values(field)),
            range,
        )?;
        self.or_through_message(&[field.to_string()], direct, || {
            // A word that reads as a number starts with a digit.
            let words = word_term(MESSAGE, "");
            let digits = (
                format!("{words}0"),
                format!("{words}{}", char::from(b'9' + 1)),
            );
            self.numbers_in(searcher, &words, (&digits.0, &digits.1), range)
        })
    }

    /// Blocks with a term in `[from, to)` whose text after `prefix` reads
    /// as a number in `range`.
    fn numbers_in(
        &self,
        searcher: &Searcher,
        prefix: &str,
        (from, to): (&str, &str),
        range: (Bound<f64>, Bound<f64>),
    ) -> Result<Box<dyn TQuery>> {
        let mut found = std::collections::BTreeSet::new();
        self.for_each_term(searcher, (from.as_bytes(), to.as_bytes()), |term| {
            let value = &term[prefix.len()..];
            if as_number(value).is_some_and(|n| std::ops::RangeBounds::contains(&range, &n)) {
                found.insert(term.to_string());
            }
        })?;
        let found: Vec<String> = found.into_iter().collect();
        Ok(self.any_term(&found))
    }

    /// Blocks with any of these terms. A few are looked up one by one: a
    /// term set query streams the SSTable term dictionary through an
    /// automaton, which took a fifth of a search for two terms.
    fn any_term(&self, terms: &[String]) -> Box<dyn TQuery> {
        match terms {
            [] => Box::new(EmptyQuery),
            [one] => self.term_query(one),
            few if few.len() <= MAX_TERMS_ONE_BY_ONE => {
                let each = few.iter().map(|t| (Occur::Should, self.term_query(t)));
                Box::new(BooleanQuery::new(each.collect()))
            }
            many => Box::new(TermSetQuery::new(many.iter().map(|t| self.term(t)))),
        }
    }

    /// Tenant, time range and cursor position around the user's query,
    /// over the blocks' time spans.
    fn filtered(
        &self,
        user: Box<dyn TQuery>,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
    ) -> Box<dyn TQuery> {
        self.filtered_in(user, Some(&req.tenant), req, cursor)
    }

    /// [`Self::filtered`] for one tenant, or every tenant with `None` (a
    /// retro-hunt of the indicators all tenants share; never a search).
    fn filtered_in(
        &self,
        user: Box<dyn TQuery>,
        tenant: Option<&str>,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
    ) -> Box<dyn TQuery> {
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![(Occur::Must, user)];
        if let Some(tenant) = tenant {
            let term = Term::from_field_text(f.tenant, tenant);
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
        let mut time = |field: Field, lo: Bound<i64>, hi: Bound<i64>| {
            let term = |t: i64| Term::from_field_i64(field, t);
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(lo.map(term), hi.map(term))),
            ));
        };
        if let Some(from) = req.from_ns {
            time(f.ts_max, Bound::Included(from), Bound::Unbounded);
        }
        if let Some(to) = req.to_ns {
            time(f.ts_min, Bound::Unbounded, Bound::Excluded(to));
        }
        if let Some((ts, _)) = cursor {
            time(f.ts_min, Bound::Unbounded, Bound::Included(ts));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Calls `each` with every term of the `terms` field in `[from, to)`,
    /// in every segment of a bucket (a term in several segments comes
    /// several times).
    fn for_each_term(
        &self,
        searcher: &Searcher,
        (from, to): (&[u8], &[u8]),
        mut each: impl FnMut(&str),
    ) -> Result<()> {
        for segment in searcher.segment_readers() {
            let index = segment.inverted_index(self.f.terms)?;
            let mut stream = index
                .terms()
                .range()
                .ge(from)
                .lt(to)
                .into_stream()
                .map_err(|e| SearchError::Corrupt(format!("term dictionary: {e}")))?;
            while stream.advance() {
                if let Ok(term) = std::str::from_utf8(stream.key()) {
                    each(term);
                }
            }
        }
        Ok(())
    }

    /// The field names present in a bucket (its `\u{2}name` terms).
    fn field_names(&self, searcher: &Searcher) -> Result<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        let bounds = ([NAME_MARK as u8], [NAME_MARK as u8 + 1]);
        self.for_each_term(searcher, (&bounds.0, &bounds.1), |term| {
            let name = &term[NAME_MARK.len_utf8()..];
            if !names.contains(name) {
                names.insert(name.to_string());
            }
        })?;
        Ok(names.into_iter().collect())
    }

    /// The block query of one bucket for a search, with what checks each
    /// event exactly.
    fn prepare(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
    ) -> Result<Prepared> {
        let searcher = bucket.reader.searcher();
        let names = if query.has_free_text() {
            self.field_names(&searcher)?
        } else {
            Vec::new()
        };
        if names.len() > MAX_FREE_TEXT_FIELDS {
            return Err(SearchError::TooBroad(format!(
                "free text would be looked up under {} field names in one time bucket \
                 (at most {MAX_FREE_TEXT_FIELDS}); name the field, as in field:value",
                names.len()
            )));
        }
        let matcher = Matcher::compile(query, &names)?;
        let fields = matcher::fields_of(query);
        let scope = Scope {
            searcher: &searcher,
            names,
        };
        let block_query = self.filtered(self.translate(query, &scope)?, req, cursor);
        Ok(Prepared {
            searcher,
            matcher,
            prefilter: Prefilter::of(query),
            fields,
            block_query,
        })
    }

    /// The blocks of one bucket that may hold a match, newest first by
    /// their latest event, with what checks each event exactly.
    fn candidates(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
    ) -> Result<Candidates> {
        let p = self.prepare(bucket, query, req, cursor)?;
        let mut blocks = p.searcher.search(&p.block_query, &BlockCollector)?;
        blocks.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        Ok(Candidates { p, blocks })
    }

    /// The events text of a block document.
    fn events_text<'d>(&self, doc: &'d TantivyDocument) -> Option<&'d str> {
        doc.get_first(self.f.events).and_then(|v| v.as_str())
    }

    /// Calls `each` with every entry of a stored block, in order, until it
    /// answers `Break`; a damaged line is an error naming the bucket.
    fn each_entry(
        &self,
        bucket: &Bucket,
        searcher: &Searcher,
        addr: tantivy::DocAddress,
        mut each: impl FnMut(blocks::Entry<'_>) -> Result<ControlFlow<()>>,
    ) -> Result<ControlFlow<()>> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let Some(text) = self.events_text(&doc) else {
            return Ok(ControlFlow::Continue(()));
        };
        for entry in blocks::entries(text) {
            let entry = entry.ok_or_else(|| damaged_block(bucket))?;
            if each(entry)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    /// The newest `limit` matches of one bucket, by (time, id) descending:
    /// the candidate blocks newest first, until no block left can hold an
    /// event newer than the oldest kept.
    fn search_bucket(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<EventDoc>> {
        let c = self.candidates(bucket, query, req, cursor)?;
        let mut newest = Newest::new(limit);
        let mut terms = EventTerms::default();
        for &(ts_max, addr) in &c.blocks {
            if newest.oldest_kept().is_some_and(|(t, _)| t > ts_max) {
                break;
            }
            // Every entry is looked at: nothing breaks out.
            let _ = self.each_entry(bucket, &c.p.searcher, addr, |entry| {
                let key = (entry.time_ns, entry.id);
                if in_window(key, req, cursor)
                    && newest.would_keep(key)
                    && c.p.prefilter.may_match(entry.json)
                {
                    let ev = stored_event(bucket, entry.json)?;
                    terms.load_fields(&ev, c.p.fields.as_deref());
                    if ev.tenant == req.tenant && c.p.matcher.matches(&terms) {
                        newest.keep(ev);
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        Ok(newest.into_sorted())
    }

    /// Feeds every match of one bucket to `acc`; false when it filled up.
    fn aggregate_bucket(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        acc: &mut Accumulator,
    ) -> Result<bool> {
        // A query that matches every event of its blocks needs no event
        // parsed when only times are counted.
        if matches!(query, Query::All) && !acc.needs_fields() {
            return self.count_times(bucket, query, req, acc);
        }
        let c = self.candidates(bucket, query, req, None)?;
        // Only the fields the query names and the counted ones are read
        // (all of them for free text, which looks at every field).
        let keep = c.p.fields.as_ref().map(|f| {
            let mut keep = f.clone();
            keep.extend(acc.counted_fields());
            keep
        });
        // Blocks are counted on every core, each thread into its own
        // accumulator, merged after (a handful of blocks stay on this one).
        let threads = if c.blocks.len() < PARALLEL_BLOCKS {
            1
        } else {
            rayon::current_num_threads().max(1)
        };
        let chunk = c.blocks.len().div_ceil(threads).max(1);
        let counted: Vec<Result<Accumulator>> = c
            .blocks
            .par_chunks(chunk)
            .map(|blocks| {
                let mut local = acc.fresh();
                let k = Counting {
                    bucket,
                    c: &c,
                    keep: keep.as_deref(),
                    req,
                };
                self.count_blocks(&k, blocks, &mut local)?;
                Ok(local)
            })
            .collect();
        for local in counted {
            acc.merge(local?);
        }
        Ok(!acc.is_full())
    }

    /// Feeds the matches of some candidate blocks to `acc`, until it is full.
    /// A block is counted from its table when the query names its fields
    /// (free text looks at every value, long ones too).
    fn count_blocks(
        &self,
        k: &Counting,
        blocks: &[(i64, tantivy::DocAddress)],
        acc: &mut Accumulator,
    ) -> Result<()> {
        let mut scratch = CountScratch::default();
        let mut tables = TableColumns::default();
        for &(_, addr) in blocks {
            let has_table = k.c.p.fields.is_some()
                && tables.read(k.bucket, &k.c.p.searcher, addr, &mut scratch.table_bytes)?;
            let flow = if has_table {
                self.count_table(k, addr, acc, &mut scratch)?
            } else {
                self.count_text(k, addr, acc, &mut scratch.terms, None)?
            };
            if flow.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Counts a block's matches from its events' text: all of them, or
    /// only those at the positions in `only` (ascending).
    fn count_text(
        &self,
        k: &Counting,
        addr: tantivy::DocAddress,
        acc: &mut Accumulator,
        terms: &mut EventTerms,
        only: Option<&[usize]>,
    ) -> Result<ControlFlow<()>> {
        let Counting {
            bucket,
            c,
            keep,
            req,
        } = *k;
        let mut position = 0;
        let mut wanted = only.map(|o| o.iter().copied().peekable());
        self.each_entry(bucket, &c.p.searcher, addr, |entry| {
            let at = position;
            position += 1;
            if let Some(wanted) = wanted.as_mut() {
                if wanted.next_if_eq(&at).is_none() {
                    return Ok(ControlFlow::Continue(()));
                }
            }
            if !in_window((entry.time_ns, entry.id), req, None)
                || !c.p.prefilter.may_match(entry.json)
            {
                return Ok(ControlFlow::Continue(()));
            }
            let ev = stored_fields(bucket, entry.json, keep)?;
            terms.load_fields(&ev, c.p.fields.as_deref());
            if ev.tenant == req.tenant && c.p.matcher.matches(terms) {
                acc.add(&ev);
                if acc.is_full() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        })
    }

    /// Counts a block's matches from its table (in `scratch.table_bytes`):
    /// the query is evaluated once per distinct combination of the values
    /// it names, and no event text is read unless a value the count needs
    /// was too long for the table.
    /// No tenant is checked per event: a block holds one tenant's events,
    /// and the block query names the tenant.
    fn count_table(
        &self,
        k: &Counting,
        addr: tantivy::DocAddress,
        acc: &mut Accumulator,
        scratch: &mut CountScratch,
    ) -> Result<ControlFlow<()>> {
        let Counting { bucket, c, req, .. } = *k;
        let fields = c.p.fields.as_deref().unwrap_or_default();
        let CountScratch {
            table_bytes,
            table_plain,
            terms,
            verdicts,
            key,
            counted_values,
            from_text,
        } = scratch;
        let table = Table::parse(table_bytes, table_plain).ok_or_else(|| damaged_block(bucket))?;
        let queried: Vec<bool> = table
            .names
            .iter()
            .map(|n| matcher::names_accept(fields, n))
            .collect();
        let counted: Vec<bool> = table.names.iter().map(|n| acc.counts(n)).collect();
        verdicts.clear();
        from_text.clear();
        let mut position = 0;
        let mut flow = ControlFlow::Continue(());
        let complete = table.for_each_event(|time_ns, entries| {
            let at = position;
            position += 1;
            if flow.is_break() || !in_window((time_ns, 0), req, None) {
                return;
            }
            key.clear();
            counted_values.clear();
            let mut needs_text = false;
            for entry in entries {
                match *entry {
                    table::Entry::Value(v) => {
                        let name = table.values[v as usize].0 as usize;
                        if queried[name] {
                            key.push(v);
                        }
                        if counted[name] {
                            counted_values.push(v);
                        }
                    }
                    table::Entry::Long(name) => {
                        needs_text |= queried[name as usize] || counted[name as usize];
                    }
                }
            }
            if needs_text {
                from_text.push(at);
                return;
            }
            let matched = match verdicts.get(key.as_slice()) {
                Some(&matched) => matched,
                None => {
                    terms.load_values(key.iter().map(|&v| table.pair(v)));
                    let matched = c.p.matcher.matches(terms);
                    verdicts.insert(key.clone(), matched);
                    matched
                }
            };
            if matched {
                acc.add_values(time_ns, counted_values.iter().map(|&v| table.pair(v)));
                if acc.is_full() {
                    flow = ControlFlow::Break(());
                }
            }
        });
        if !complete {
            return Err(damaged_block(bucket));
        }
        if flow.is_break() || from_text.is_empty() {
            return Ok(flow);
        }
        let only = std::mem::take(from_text);
        let flow = self.count_text(k, addr, acc, terms, Some(&only));
        *from_text = only;
        flow
    }

    /// Counts the times of every event of the matching blocks: a block that
    /// lies inside the range and inside one histogram bucket counts whole
    /// from its fast fields; only the others are read, event by event.
    fn count_times(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        acc: &mut Accumulator,
    ) -> Result<bool> {
        let p = self.prepare(bucket, query, req, None)?;
        let stats = p
            .searcher
            .search(&p.block_query, &blocks::BlockStatsCollector)?;
        for stat in stats {
            let inside = req.from_ns.is_none_or(|f| stat.ts_min >= f)
                && req.to_ns.is_none_or(|t| stat.ts_max < t);
            if inside && stat.count > 0 && acc.same_bucket(stat.ts_min, stat.ts_max) {
                acc.add_times(stat.ts_min, stat.count);
            } else {
                let _ = self.each_entry(bucket, &p.searcher, stat.addr, |entry| {
                    if in_window((entry.time_ns, entry.id), req, None) {
                        acc.add_time(entry.time_ns);
                    }
                    Ok(ControlFlow::Continue(()))
                })?;
            }
            if acc.is_full() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether a bucket starting at `start` (seconds) can hold events of
    /// `from_ns..to_ns`.
    fn bucket_overlaps(&self, start: i64, from_ns: Option<i64>, to_ns: Option<i64>) -> bool {
        let start_ns = start.saturating_mul(1_000_000_000);
        from_ns.is_none_or(|from| start_ns + self.bucket_ns() > from)
            && to_ns.is_none_or(|to| start_ns < to)
    }

    /// [`EventStore::scan`] of one bucket: its blocks of the tenant and
    /// window on every core.
    fn scan_bucket(
        &self,
        bucket: &Bucket,
        req: &ScanRequest,
        line: LineFilter<'_>,
        visit: &(dyn Fn(EventDoc) + Sync),
    ) -> Result<ScanStats> {
        let window = SearchRequest {
            from_ns: req.from_ns,
            to_ns: req.to_ns,
            ..SearchRequest::default()
        };
        let searcher = bucket.reader.searcher();
        let query = self.filtered_in(Box::new(AllQuery), req.tenant.as_deref(), &window, None);
        let blocks = searcher.search(&query, &BlockCollector)?;
        let (events, visited) = (AtomicU64::new(0), AtomicU64::new(0));
        blocks.par_iter().try_for_each(|&(_, addr)| {
            let mut counts = ScanStats::default();
            // Every entry is looked at: nothing breaks out.
            let _ = self.each_entry(bucket, &searcher, addr, |entry| {
                if in_window((entry.time_ns, entry.id), &window, None) {
                    counts.events += 1;
                    if line(entry.json) {
                        counts.visited += 1;
                        let ev = stored_event(bucket, entry.json)?;
                        if req.tenant.as_ref().is_none_or(|t| *t == ev.tenant) {
                            visit(ev);
                        }
                    }
                }
                Ok(ControlFlow::Continue(()))
            })?;
            events.fetch_add(counts.events, Ordering::Relaxed);
            visited.fetch_add(counts.visited, Ordering::Relaxed);
            Ok::<(), SearchError>(())
        })?;
        Ok(ScanStats {
            events: events.into_inner(),
            visited: visited.into_inner(),
        })
    }

    fn drop_bucket(&self, start: i64) -> Result<u64> {
        {
            let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            pool.open.remove(&start);
            pool.pending.remove(&start);
        }
        let Some(bucket) = self.buckets_mut().remove(&start) else {
            return Ok(0);
        };
        let bytes = dir_size(&bucket.dir);
        std::fs::remove_dir_all(&bucket.dir).map_err(io_err(&bucket.dir))?;
        Ok(bytes)
    }
}

impl EventStore for TantivyEventStore {
    fn append(&self, events: &[EventDoc]) -> Result<()> {
        self.append_each(events, |block, ev| block.push(ev))
    }

    fn append_new(&self, events: &[NewEvent<'_>]) -> Result<()> {
        self.append_each(events, |block, ev| {
            if ev.writes_directly() {
                block.push(ev);
            } else {
                block.push(&ev.to_doc());
            }
        })
    }

    fn commit(&self, upto: u64) -> Result<()> {
        let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        pool.max_appended = pool.max_appended.max(upto);
        let upto = pool.max_appended;
        let starts: Vec<i64> = pool.pending.keys().copied().collect();
        for start in starts {
            self.flush_blocks(&mut pool, start, None)?;
        }
        for (start, w) in pool.open.iter_mut() {
            if w.dirty {
                self.commit_writer(*start, &mut w.writer, upto)?;
                w.dirty = false;
            }
        }
        Ok(())
    }

    fn search(&self, req: &SearchRequest) -> Result<SearchPage> {
        let parsed = query::parse(&req.query)?;
        let cursor = req.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = req.limit.clamp(1, MAX_PAGE);
        let bucket_ns = self.bucket_ns();
        let mut events: Vec<EventDoc> = Vec::new();
        for bucket in self.buckets_snapshot().into_iter().rev() {
            let start_ns = bucket.start.saturating_mul(1_000_000_000);
            let end_ns = start_ns.saturating_add(bucket_ns);
            if req.from_ns.is_some_and(|from| end_ns <= from) {
                // Buckets are in time order, but late events filed by arrival
                // may sit in newer buckets: keep looking only while in range.
                continue;
            }
            let need = limit + 1 - events.len();
            events.extend(self.search_bucket(&bucket, &parsed, req, cursor, need)?);
            if events.len() > limit {
                break;
            }
        }
        let next = if events.len() > limit {
            events.truncate(limit);
            events.last().map(|e| encode_cursor(e.time_ns, e.id))
        } else {
            None
        };
        Ok(SearchPage { events, next })
    }

    fn aggregate(&self, req: &AggregateRequest) -> Result<Aggregation> {
        req.validate().map_err(SearchError::TooBroad)?;
        let parsed = query::parse(&req.query)?;
        let scope = SearchRequest {
            query: req.query.clone(),
            tenant: req.tenant.clone(),
            from_ns: req.from_ns,
            to_ns: req.to_ns,
            limit: 0,
            cursor: None,
        };
        let bucket_ns = self.bucket_ns();
        let mut acc = Accumulator::new(req);
        let mut complete = true;
        for bucket in self.buckets_snapshot().into_iter().rev() {
            let start_ns = bucket.start.saturating_mul(1_000_000_000);
            let outside = req.from_ns.is_some_and(|from| start_ns + bucket_ns <= from);
            if outside {
                continue;
            }
            if !self.aggregate_bucket(&bucket, &parsed, &scope, &mut acc)? {
                complete = false;
                break;
            }
        }
        Ok(acc.finish(complete))
    }

    fn scan(
        &self,
        req: &ScanRequest,
        line: LineFilter<'_>,
        visit: &(dyn Fn(EventDoc) + Sync),
    ) -> Result<ScanStats> {
        let mut total = ScanStats::default();
        for bucket in self.buckets_snapshot() {
            if self.bucket_overlaps(bucket.start, req.from_ns, req.to_ns) {
                let stats = self.scan_bucket(&bucket, req, line, visit)?;
                total.events += stats.events;
                total.visited += stats.visited;
            }
        }
        Ok(total)
    }

    fn event_by_id(
        &self,
        tenant: &str,
        id: u64,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Option<EventDoc>> {
        let req = SearchRequest {
            tenant: tenant.to_string(),
            from_ns: Some(from_ns),
            to_ns: Some(to_ns),
            ..Default::default()
        };
        let bucket_ns = self.bucket_ns();
        for bucket in self.buckets_snapshot().into_iter().rev() {
            let start_ns = bucket.start.saturating_mul(1_000_000_000);
            if start_ns + bucket_ns <= from_ns {
                continue;
            }
            let c = self.candidates(&bucket, &Query::All, &req, None)?;
            let mut found = None;
            for &(_, addr) in &c.blocks {
                // `found` says whether it stopped.
                let _ = self.each_entry(&bucket, &c.p.searcher, addr, |entry| {
                    if entry.id == id && in_window((entry.time_ns, entry.id), &req, None) {
                        found = Some(stored_event(&bucket, entry.json)?);
                        return Ok(ControlFlow::Break(()));
                    }
                    Ok(ControlFlow::Continue(()))
                })?;
                if let Some(ev) = found {
                    return Ok((ev.tenant == tenant).then_some(ev));
                }
            }
        }
        Ok(None)
    }

    fn enforce_retention(
        &self,
        now_ns: i64,
        max_age_ns: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<RetentionReport> {
        let mut report = RetentionReport::default();
        let bucket_ns = self.bucket_ns();
        let buckets = self.buckets_snapshot();
        let newest = buckets.last().map(|b| b.start);
        let mut sizes: Vec<(i64, u64)> = Vec::new();
        for b in &buckets {
            let end_ns = b
                .start
                .saturating_mul(1_000_000_000)
                .saturating_add(bucket_ns);
            let expired = max_age_ns.is_some_and(|age| end_ns <= now_ns.saturating_sub(age));
            if expired && Some(b.start) != newest {
                report.bytes_freed += self.drop_bucket(b.start)?;
                report.buckets_dropped += 1;
            } else {
                sizes.push((b.start, dir_size(&b.dir)));
            }
        }
        if let Some(max) = max_bytes {
            let mut total: u64 = sizes.iter().map(|(_, s)| s).sum();
            // The newest bucket is where writing happens: never dropped.
            for (start, size) in sizes.iter().take(sizes.len().saturating_sub(1)) {
                if total <= max {
                    break;
                }
                report.bytes_freed += self.drop_bucket(*start)?;
                report.buckets_dropped += 1;
                total -= size;
            }
        }
        Ok(report)
    }

    fn stats(&self) -> Result<EventStoreStats> {
        let buckets = self.buckets_snapshot();
        let mut stats = EventStoreStats {
            buckets: buckets.len(),
            ..Default::default()
        };
        for b in buckets {
            stats.bytes += dir_size(&b.dir);
            for segment in b.reader.searcher().segment_readers() {
                let count = segment.fast_fields().u64("count")?;
                stats.events += (0..segment.max_doc())
                    .filter_map(|doc| count.first(doc))
                    .sum::<u64>();
            }
        }
        Ok(stats)
    }
}

impl Drop for TantivyEventStore {
    fn drop(&mut self) {
        // Uncommitted documents are dropped on purpose: the log replays them.
        let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        for (_, w) in pool.open.drain() {
            let _ = w.writer.wait_merging_threads();
        }
    }
}

/// Merging less eagerly than tantivy's default: a commit every second
/// makes many small segments, and re-merging them cost a third of the
/// indexing time under load (measured with perf). Merging 24 at a time
/// rather than 12 costs 13% less store CPU (`store_cpu` example, four
/// million events). Segments under about 50,000 events (in blocks) count
/// as one layer.
fn merge_policy(block_events: usize) -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(24);
    policy.set_min_layer_size((50_000 / block_events.max(1)).max(1) as u32);
    policy
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Whether an event's (time, id) is inside the request's time range and
/// past its cursor.
/// A bucket's block query and its exact matcher.
struct Prepared {
    searcher: Searcher,
    matcher: Matcher,
    /// Turns away stored lines that cannot match before they are parsed.
    prefilter: Prefilter,
    fields: Option<Vec<String>>,
    block_query: Box<dyn TQuery>,
}

/// What a bucket's search reads: candidate blocks (newest first by their
/// latest event) and the exact matcher.
struct Candidates {
    p: Prepared,
    blocks: Vec<(i64, tantivy::DocAddress)>,
}

/// What a count of one bucket reads: the bucket, its candidate blocks with
/// the matcher, the fields parsed from an event's text, and the request.
#[derive(Clone, Copy)]
struct Counting<'a> {
    bucket: &'a Bucket,
    c: &'a Candidates,
    keep: Option<&'a [String]>,
    req: &'a SearchRequest,
}

/// What counting reuses from one block to the next.
#[derive(Default)]
struct CountScratch {
    table_bytes: Vec<u8>,
    /// The table decompressed.
    table_plain: Vec<u8>,
    terms: EventTerms,
    /// Whether the query matched, per combination of the values it names.
    verdicts: FastMap<Vec<u32>, bool>,
    key: Vec<u32>,
    /// The table values of the event that the count reads.
    counted_values: Vec<u32>,
    /// Events of the block to read from the text.
    from_text: Vec<usize>,
}

/// The table columns of a searcher's segments, opened when first needed.
#[derive(Default)]
struct TableColumns {
    columns: Vec<Option<Option<BytesColumn>>>,
}

impl TableColumns {
    /// Reads a block's table into `out`; false when it has none.
    fn read(
        &mut self,
        bucket: &Bucket,
        searcher: &Searcher,
        addr: tantivy::DocAddress,
        out: &mut Vec<u8>,
    ) -> Result<bool> {
        let segment = addr.segment_ord as usize;
        if self.columns.len() <= segment {
            self.columns.resize_with(segment + 1, || None);
        }
        if self.columns[segment].is_none() {
            let reader = searcher.segment_reader(addr.segment_ord);
            self.columns[segment] = Some(reader.fast_fields().bytes(TABLE_FIELD)?);
        }
        let Some(Some(column)) = &self.columns[segment] else {
            return Ok(false);
        };
        let Some(ord) = column.term_ords(addr.doc_id).next() else {
            return Ok(false);
        };
        out.clear();
        column.ord_to_bytes(ord, out).map_err(|e| {
            SearchError::Corrupt(format!("{}: block table: {e}", bucket.dir.display()))
        })
    }
}

/// The term bounds of a text range over the message's words (those that
/// stand in for a field's values: [`crate::terms::covered_by`]).
fn message_word_range(
    lower: &Bound<String>,
    upper: &Bound<String>,
) -> (Bound<String>, Bound<String>) {
    let above = format!("{MESSAGE}{}", char::from(WORD_SEP as u8 + 1));
    matcher::range_terms(lower, upper, |v| word_term(MESSAGE, v), above)
}

fn damaged_block(bucket: &Bucket) -> SearchError {
    SearchError::Corrupt(format!("{}: damaged block of events", bucket.dir.display()))
}

fn stored_event(bucket: &Bucket, json: &str) -> Result<EventDoc> {
    stored_fields(bucket, json, None)
}

/// A stored event with only the fields in `keep` (all with `None`).
fn stored_fields(bucket: &Bucket, json: &str, keep: Option<&[String]>) -> Result<EventDoc> {
    match keep {
        Some(keep) => crate::partial::parse_event(json, keep),
        None => serde_json::from_str(json),
    }
    .map_err(|e| SearchError::Corrupt(format!("{}: stored event: {e}", bucket.dir.display())))
}

fn in_window(key: (i64, u64), req: &SearchRequest, cursor: Option<(i64, u64)>) -> bool {
    req.from_ns.is_none_or(|from| key.0 >= from)
        && req.to_ns.is_none_or(|to| key.0 < to)
        && cursor.is_none_or(|c| key < c)
}

/// An event ordered by (time, id).
struct ByTime(EventDoc);

impl ByTime {
    fn key(&self) -> (i64, u64) {
        (self.0.time_ns, self.0.id)
    }
}

impl PartialEq for ByTime {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ByTime {}
impl PartialOrd for ByTime {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByTime {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// The newest `limit` events seen.
struct Newest {
    limit: usize,
    heap: BinaryHeap<Reverse<ByTime>>,
}

impl Newest {
    fn new(limit: usize) -> Self {
        Newest {
            limit,
            heap: BinaryHeap::with_capacity(limit + 1),
        }
    }

    /// The oldest event kept, once `limit` are.
    fn oldest_kept(&self) -> Option<(i64, u64)> {
        if self.heap.len() < self.limit {
            return None;
        }
        self.heap.peek().map(|Reverse(e)| e.key())
    }

    fn would_keep(&self, key: (i64, u64)) -> bool {
        self.oldest_kept().is_none_or(|oldest| key > oldest)
    }

    fn keep(&mut self, ev: EventDoc) {
        self.heap.push(Reverse(ByTime(ev)));
        if self.heap.len() > self.limit {
            self.heap.pop();
        }
    }

    /// Newest first.
    fn into_sorted(self) -> Vec<EventDoc> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(e)| e.0)
            .collect()
    }
}

fn encode_cursor(ts: i64, id: u64) -> String {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&ts.to_be_bytes());
    raw[8..].copy_from_slice(&id.to_be_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(s: &str) -> Result<(i64, u64)> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SearchError::BadCursor)?;
    let raw: [u8; 16] = raw.try_into().map_err(|_| SearchError::BadCursor)?;
    let mut ts = [0u8; 8];
    let mut id = [0u8; 8];
    ts.copy_from_slice(&raw[..8]);
    id.copy_from_slice(&raw[8..]);
    Ok((i64::from_be_bytes(ts), u64::from_be_bytes(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_of_another_index_layout_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = dir.path().join("1700000000");
        std::fs::create_dir_all(&old).expect("mkdir");
        let mut b = Schema::builder();
        b.add_text_field("kv", STRING);
        Index::create_in_dir(&old, b.build()).expect("old index");
        let err = TantivyEventStore::open(dir.path(), TantivyOptions::default())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("1700000000") && err.contains("older version"),
            "{err}"
        );
    }

    #[test]
    fn free_text_over_too_many_field_names_asks_for_a_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TantivyEventStore::open(dir.path(), TantivyOptions::default()).expect("open");
        let fields = (0..MAX_FREE_TEXT_FIELDS + 10)
            .map(|i| (format!("k{i}"), serde_json::Value::from("v")))
            .collect();
        let ev = EventDoc {
            id: 1,
            time_ns: 1,
            received_ns: 1,
            tenant: "t".into(),
            source: "test".into(),
            host: None,
            truncated: false,
            fields,
        };
        store.append(&[ev]).expect("append");
        store.commit(1).expect("commit");
        let search = |q: &str| {
            store.search(&SearchRequest {
                query: q.into(),
                tenant: "t".into(),
                limit: 10,
                ..Default::default()
            })
        };
        match search("v") {
            Err(SearchError::TooBroad(why)) => assert!(why.contains("name the field"), "{why}"),
            other => panic!("expected a request to name the field: {other:?}"),
        }
        assert_eq!(search("k77:v").expect("a field query").events.len(), 1);
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = encode_cursor(-5, 42);
        assert_eq!(decode_cursor(&c).unwrap(), (-5, 42));
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor("AAAA").is_err());
    }
}
