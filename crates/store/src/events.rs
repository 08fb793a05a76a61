//! The embedded event store: one tantivy index per time bucket.
//!
//! Each event is indexed three ways: `kv` holds one `name=value` term per
//! field (lower-cased, for `field:value` and wildcards), `text` holds the
//! words of every value (for free text and phrases), and `num` holds
//! `name\0<sortable f64>` for numeric values (for ranges). The event itself
//! is stored as JSON. A bucket's commit payload is the highest id it has
//! committed, which makes replayed appends idempotent.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine as _;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query as TQuery, RangeQuery,
    RegexQuery, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value as _, FAST, INDEXED,
    STORED, STRING,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, TokenStream as _, Tokenizer as _,
};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::query::{self, Pattern, Query, WildPart};
use crate::{
    EventDoc, EventStore, EventStoreStats, Result, RetentionReport, SearchPage, SearchRequest,
    StoreError,
};

const KV_TOKENIZER: &str = "wf_kv";
const TEXT_TOKENIZER: &str = "wf_text";
/// Words longer than this are not indexed (blobs would bloat the terms).
const MAX_WORD: usize = 256;
/// Values up to this many bytes get a `name=value` term (a keyword index);
/// longer ones (messages, command lines) are found through their words,
/// which keeps the term dictionary from filling with unique long values.
const MAX_KV_VALUE: usize = 64;
/// Joins a field name and a word in `fwords` terms.
const FIELD_WORD_SEP: char = '\u{1}';
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
}

impl Default for TantivyOptions {
    fn default() -> Self {
        TantivyOptions {
            bucket_secs: 86_400,
            writer_memory: 64 << 20,
            writer_threads: 2,
            max_writers: 4,
            max_lateness_secs: 30 * 86_400,
        }
    }
}

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    ts: Field,
    tenant: Field,
    kv: Field,
    /// The names of the fields present (lower-cased).
    names: Field,
    /// `name\u{1}word` for each word of each value: `field:word` inside
    /// longer values (as Elasticsearch's text fields answer it).
    fwords: Field,
    text: Field,
    num: Field,
    doc: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let kv_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(KV_TOKENIZER)
            .set_index_option(IndexRecordOption::Basic),
    );
    let text_opts = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TEXT_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        id: b.add_u64_field("id", INDEXED | FAST),
        ts: b.add_i64_field("ts", INDEXED | FAST),
        tenant: b.add_text_field("tenant", STRING),
        kv: b.add_text_field("kv", kv_opts.clone()),
        names: b.add_text_field("names", kv_opts.clone()),
        fwords: b.add_text_field("fwords", kv_opts),
        text: b.add_text_field("text", text_opts),
        num: b.add_bytes_field("num", INDEXED),
        doc: b.add_bytes_field("doc", STORED),
    };
    (b.build(), fields)
}

fn register_tokenizers(index: &Index) -> Result<()> {
    let kv = TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build();
    let words = TextAnalyzer::builder(crate::words::WordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD))
        .filter(LowerCaser)
        .build();
    index.tokenizers().register(KV_TOKENIZER, kv);
    index.tokenizers().register(TEXT_TOKENIZER, words);
    Ok(())
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
    dirty: bool,
    last_used: u64,
}

#[derive(Default)]
struct WriterPool {
    open: HashMap<i64, OpenWriter>,
    /// Highest id appended so far: every event up to it is in its writer.
    max_appended: u64,
    tick: u64,
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
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
        register_tokenizers(&index)?;
        let watermark = match index.load_metas()?.payload {
            Some(p) => p.parse::<u64>().map_err(|_| {
                StoreError::Corrupt(format!("{}: bad commit payload {p:?}", dir.display()))
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
    fn bucket_of(&self, ev: &EventDoc) -> i64 {
        let late = self.options.max_lateness_secs * 1_000_000_000;
        let early = 3_600 * 1_000_000_000;
        let t = if ev.time_ns < ev.received_ns.saturating_sub(late)
            || ev.time_ns > ev.received_ns.saturating_add(early)
        {
            ev.received_ns
        } else {
            ev.time_ns
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

    fn document(&self, ev: &EventDoc) -> TantivyDocument {
        let f = self.f;
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.id, ev.id);
        doc.add_i64(f.ts, ev.time_ns);
        doc.add_text(f.tenant, &ev.tenant);
        let mut kv = String::new();
        let mut words = crate::words::WordTokenizer::default();
        let mut add = |doc: &mut TantivyDocument, name: &str, value: &str| {
            doc.add_text(f.names, name);
            if value.len() <= MAX_KV_VALUE {
                kv.clear();
                kv.push_str(name);
                kv.push('=');
                kv.push_str(value);
                doc.add_text(f.kv, &kv);
            }
            let mut stream = words.token_stream(value);
            while stream.advance() {
                let word = &stream.token().text;
                // A one-word short value is already its `kv` term.
                if word.len() <= MAX_WORD
                    && (word.len() < value.len() || value.len() > MAX_KV_VALUE)
                {
                    kv.clear();
                    kv.push_str(name);
                    kv.push(FIELD_WORD_SEP);
                    kv.push_str(word);
                    doc.add_text(f.fwords, &kv);
                }
            }
            doc.add_text(f.text, value);
            if let Some(n) = as_number(value) {
                doc.add_bytes(f.num, &num_term(name, n));
            }
        };
        add(&mut doc, "source", &ev.source);
        if let Some(h) = &ev.host {
            add(&mut doc, "host", h);
        }
        for (name, value) in &ev.fields {
            match value {
                serde_json::Value::String(s) => add(&mut doc, name, s),
                serde_json::Value::Array(items) => {
                    for item in items {
                        add(&mut doc, name, &json_text(item));
                    }
                }
                serde_json::Value::Null => {}
                other => add(&mut doc, name, &json_text(other)),
            }
        }
        let json = serde_json::to_vec(ev).unwrap_or_default();
        doc.add_bytes(f.doc, &json);
        doc
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

    fn translate(&self, q: &Query, index: &Index) -> Result<Box<dyn TQuery>> {
        let f = self.f;
        Ok(match q {
            Query::All => Box::new(AllQuery),
            Query::And(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items {
                    clauses.push(match item {
                        Query::Not(inner) => (Occur::MustNot, self.translate(inner, index)?),
                        other => (Occur::Must, self.translate(other, index)?),
                    });
                }
                if clauses.iter().all(|(o, _)| *o == Occur::MustNot) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Or(items) => {
                let mut clauses = Vec::with_capacity(items.len());
                for item in items {
                    clauses.push((Occur::Should, self.translate(item, index)?));
                }
                Box::new(BooleanQuery::new(clauses))
            }
            Query::Not(inner) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery)),
                (Occur::MustNot, self.translate(inner, index)?),
            ])),
            Query::Exists(name) => Box::new(self.name_term(name)),
            Query::Match {
                field: Some(name),
                value,
            } => self.field_query(name, value, index)?,
            Query::Match { field: None, value } => match value {
                Pattern::Word(v) | Pattern::Phrase(v) => self.text_query(v, index),
                Pattern::Wildcard(parts) => {
                    Box::new(RegexQuery::from_pattern(&wildcard_regex(parts), f.text)?)
                }
            },
            Query::Range {
                field,
                lower,
                upper,
            } => self.range_query(field, lower, upper),
        })
    }

    /// A term of the `names` field.
    fn name_term(&self, name: &str) -> TermQuery {
        TermQuery::new(
            Term::from_field_text(self.f.names, &name.to_lowercase()),
            IndexRecordOption::Basic,
        )
    }

    /// `field:value`: the whole value (short values), or the words of the
    /// value among the field's words; a phrase must also occur in order.
    fn field_query(&self, name: &str, value: &Pattern, index: &Index) -> Result<Box<dyn TQuery>> {
        let f = self.f;
        let name = name.to_lowercase();
        let field_word = |w: &str| format!("{name}{FIELD_WORD_SEP}{}", w.to_lowercase());
        let either = |a: Box<dyn TQuery>, b: Box<dyn TQuery>| -> Box<dyn TQuery> {
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, a),
                (Occur::Should, b),
            ]))
        };
        Ok(match value {
            Pattern::Word(v) | Pattern::Phrase(v) => {
                let whole: Box<dyn TQuery> = Box::new(TermQuery::new(
                    Term::from_field_text(f.kv, &format!("{name}={}", v.to_lowercase())),
                    IndexRecordOption::Basic,
                ));
                let mut terms = Vec::new();
                if let Some(mut analyzer) = index.tokenizers().get(TEXT_TOKENIZER) {
                    let mut stream = analyzer.token_stream(v);
                    while stream.advance() {
                        terms.push(stream.token().text.clone());
                    }
                }
                if terms.is_empty() {
                    return Ok(whole);
                }
                let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = terms
                    .iter()
                    .map(|t| {
                        let q = TermQuery::new(
                            Term::from_field_text(f.fwords, &field_word(t)),
                            IndexRecordOption::Basic,
                        );
                        (Occur::Must, Box::new(q) as Box<dyn TQuery>)
                    })
                    .collect();
                if terms.len() > 1 {
                    clauses.push((Occur::Must, self.text_query(v, index)));
                }
                either(whole, Box::new(BooleanQuery::new(clauses)))
            }
            Pattern::Wildcard(parts) => {
                let escaped = regex_syntax::escape(&name);
                let whole = RegexQuery::from_pattern(
                    &format!("{escaped}={}", wildcard_regex(parts)),
                    f.kv,
                )?;
                let word = RegexQuery::from_pattern(
                    &format!("{escaped}{FIELD_WORD_SEP}{}", wildcard_regex(parts)),
                    f.fwords,
                )?;
                either(Box::new(whole), Box::new(word))
            }
        })
    }

    /// Free text: a term for one word, a phrase for several.
    fn text_query(&self, text: &str, index: &Index) -> Box<dyn TQuery> {
        let mut terms = Vec::new();
        if let Some(mut analyzer) = index.tokenizers().get(TEXT_TOKENIZER) {
            let mut stream = analyzer.token_stream(text);
            while let Some(tok) = stream.next() {
                terms.push(Term::from_field_text(self.f.text, &tok.text));
            }
        }
        match terms.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TermQuery::new(terms.remove(0), IndexRecordOption::Basic)),
            _ => Box::new(PhraseQuery::new(terms)),
        }
    }

    fn range_query(
        &self,
        field: &str,
        lower: &Bound<String>,
        upper: &Bound<String>,
    ) -> Box<dyn TQuery> {
        let numeric = |b: &Bound<String>| match b {
            Bound::Unbounded => Some(Bound::Unbounded),
            Bound::Included(v) => as_number(v).map(Bound::Included),
            Bound::Excluded(v) => as_number(v).map(Bound::Excluded),
        };
        let name = field.to_lowercase();
        if let (Some(lo), Some(hi)) = (numeric(lower), numeric(upper)) {
            let term = |n: f64| Term::from_field_bytes(self.f.num, &num_term(&name, n));
            let lo = match lo {
                Bound::Unbounded => Bound::Included(term(f64::NEG_INFINITY)),
                Bound::Included(n) => Bound::Included(term(n)),
                Bound::Excluded(n) => Bound::Excluded(term(n)),
            };
            let hi = match hi {
                Bound::Unbounded => Bound::Included(term(f64::INFINITY)),
                Bound::Included(n) => Bound::Included(term(n)),
                Bound::Excluded(n) => Bound::Excluded(term(n)),
            };
            return Box::new(RangeQuery::new(lo, hi));
        }
        let term =
            |v: &str| Term::from_field_text(self.f.kv, &format!("{name}={}", v.to_lowercase()));
        let lo = match lower {
            Bound::Unbounded => Bound::Included(term("")),
            Bound::Included(v) => Bound::Included(term(v)),
            Bound::Excluded(v) => Bound::Excluded(term(v)),
        };
        let hi = match upper {
            // '>' sorts right after '=': every `name=...` term is below it.
            Bound::Unbounded => {
                Bound::Excluded(Term::from_field_text(self.f.kv, &format!("{name}>")))
            }
            Bound::Included(v) => Bound::Included(term(v)),
            Bound::Excluded(v) => Bound::Excluded(term(v)),
        };
        Box::new(RangeQuery::new(lo, hi))
    }

    /// Tenant, time range and cursor position around the user's query.
    fn filtered(
        &self,
        user: Box<dyn TQuery>,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
    ) -> Box<dyn TQuery> {
        let f = self.f;
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = vec![
            (Occur::Must, user),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.tenant, &req.tenant),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        if req.from_ns.is_some() || req.to_ns.is_some() {
            let lo = req.from_ns.map_or(Bound::Unbounded, |t| {
                Bound::Included(Term::from_field_i64(f.ts, t))
            });
            let hi = req.to_ns.map_or(Bound::Unbounded, |t| {
                Bound::Excluded(Term::from_field_i64(f.ts, t))
            });
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lo, hi))));
        }
        if let Some((ts, id)) = cursor {
            let older = RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_i64(f.ts, ts)),
            );
            let same_time_lower_id = BooleanQuery::new(vec![
                (
                    Occur::Must,
                    Box::new(TermQuery::new(
                        Term::from_field_i64(f.ts, ts),
                        IndexRecordOption::Basic,
                    )) as Box<dyn TQuery>,
                ),
                (
                    Occur::Must,
                    Box::new(RangeQuery::new(
                        Bound::Unbounded,
                        Bound::Excluded(Term::from_field_u64(f.id, id)),
                    )),
                ),
            ]);
            clauses.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, Box::new(older) as Box<dyn TQuery>),
                    (Occur::Should, Box::new(same_time_lower_id)),
                ])),
            ));
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// The newest `limit` matches of one bucket, by (time, id) descending.
    fn search_bucket(
        &self,
        bucket: &Bucket,
        query: &Query,
        req: &SearchRequest,
        cursor: Option<(i64, u64)>,
        limit: usize,
    ) -> Result<Vec<EventDoc>> {
        let user = self.translate(query, &bucket.index)?;
        let q = self.filtered(user, req, cursor);
        let searcher = bucket.reader.searcher();
        let collector =
            TopDocs::with_limit(limit).custom_score(|segment: &tantivy::SegmentReader| {
                let ts = segment.fast_fields().i64("ts").ok();
                let id = segment.fast_fields().u64("id").ok();
                move |doc| {
                    (
                        ts.as_ref().and_then(|c| c.first(doc)).unwrap_or(i64::MIN),
                        id.as_ref().and_then(|c| c.first(doc)).unwrap_or(0),
                    )
                }
            });
        let top: Vec<((i64, u64), DocAddress)> = searcher.search(&q, &collector)?;
        let mut out = Vec::with_capacity(top.len());
        for (_, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let Some(bytes) = doc.get_first(self.f.doc).and_then(|v| v.as_bytes()) else {
                continue;
            };
            let ev: EventDoc = serde_json::from_slice(bytes).map_err(|e| {
                StoreError::Corrupt(format!("{}: stored event: {e}", bucket.dir.display()))
            })?;
            out.push(ev);
        }
        Ok(out)
    }

    fn drop_bucket(&self, start: i64) -> Result<u64> {
        {
            let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            pool.open.remove(&start);
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
            pool.max_appended = pool.max_appended.max(ev.id);
            if ev.id <= bucket.watermark.load(Ordering::Acquire) {
                continue; // committed before a restart: replayed, not stored twice
            }
            if !pool.open.contains_key(&start) {
                if pool.open.len() >= self.options.max_writers.max(1) {
                    self.evict_writer(&mut pool)?;
                }
                // tantivy wants at least 15 MB per indexing thread.
                let threads = self
                    .options
                    .writer_threads
                    .clamp(1, (self.options.writer_memory / 15_000_000).max(1));
                let writer: IndexWriter = bucket
                    .index
                    .writer_with_num_threads(threads, self.options.writer_memory)?;
                writer.set_merge_policy(Box::new(merge_policy()));
                pool.open.insert(
                    start,
                    OpenWriter {
                        writer,
                        dirty: false,
                        last_used: 0,
                    },
                );
            }
            pool.tick += 1;
            let tick = pool.tick;
            if let Some(w) = pool.open.get_mut(&start) {
                w.writer.add_document(self.document(ev))?;
                w.dirty = true;
                w.last_used = tick;
            }
        }
        Ok(())
    }

    fn commit(&self, upto: u64) -> Result<()> {
        let mut pool = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        pool.max_appended = pool.max_appended.max(upto);
        let upto = pool.max_appended;
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
            stats.events += b.reader.searcher().num_docs();
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
/// indexing time under load (measured with perf).
fn merge_policy() -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(12);
    policy.set_min_layer_size(50_000);
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

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value that reads as a finite number (short strings only: a number
/// written in a log is short).
fn as_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `name\0` then the number in an order-preserving 8-byte form.
fn num_term(name: &str, n: f64) -> Vec<u8> {
    let bits = n.to_bits();
    let sortable = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    let mut out = Vec::with_capacity(name.len() + 9);
    out.extend(name.to_lowercase().as_bytes());
    out.push(0);
    out.extend(sortable.to_be_bytes());
    out
}

fn wildcard_regex(parts: &[WildPart]) -> String {
    parts
        .iter()
        .map(|p| match p {
            WildPart::Literal(s) => regex_syntax::escape(&s.to_lowercase()),
            WildPart::Any => ".*".to_string(),
            WildPart::One => ".".to_string(),
        })
        .collect()
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
        .map_err(|_| StoreError::BadCursor)?;
    let raw: [u8; 16] = raw.try_into().map_err(|_| StoreError::BadCursor)?;
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
    fn numbers_sort_as_bytes() {
        let values = [-1e9, -2.5, -0.0, 0.0, 1.0, 2.5, 10.0, 4625.0, 1e12];
        let terms: Vec<Vec<u8>> = values.iter().map(|v| num_term("n", *v)).collect();
        for w in terms.windows(2) {
            assert!(w[0] <= w[1]);
        }
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = encode_cursor(-5, 42);
        assert_eq!(decode_cursor(&c).unwrap(), (-5, 42));
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor("AAAA").is_err());
    }
}
