//! Blocks: the unit the event index is made of.
//!
//! Events of one tenant and time bucket are gathered, in arrival order,
//! into blocks of up to [`crate::TantivyOptions::block_events`]. A block
//! is one tantivy document: the set of distinct terms of its events (no
//! positions), its time span, its event count, and the events themselves,
//! one a line: time and id in decimal, a tab, and the event's JSON (which
//! holds no raw line break). Text rather than bytes because tantivy reads
//! a stored string in one copy and a stored byte array one byte at a time.
//!
//! Log events repeat themselves (the same hosts, programs and message
//! templates), so a block of 128 syslog events has about five distinct
//! terms an event where the events have 29: the index does a fifth of the
//! work, and a search decodes the blocks that may match and checks each
//! event exactly (`matcher.rs`).

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::incoming::BlockEvent;
use crate::strset::StrSet;
use crate::table::TableBuilder;
use crate::terms::{self, TermBuilder};

/// A block being filled.
pub struct PendingBlock {
    ts_min: i64,
    ts_max: i64,
    pub count: u64,
    /// Lines of text (see the module's comment), built as bytes so that
    /// serde_json writes straight into them.
    events: Vec<u8>,
    /// The distinct terms so far, already as the list a [`FullBlock`] holds.
    terms: StrSet,
    /// The values seen so far, and each event's (see [`crate::table`]):
    /// a value seen before under the same name adds no term, and is not
    /// split again.
    table: TableBuilder,
    builder: TermBuilder,
    /// The current event's message words (reused room).
    message_words: Vec<std::ops::Range<usize>>,
    /// Room for a value's JSON text.
    scratch: Vec<u8>,
}

/// A field of the event's own (not `source`, `host` or the message):
/// one whose values the message's words may stand in for.
fn is_field(name: &str) -> bool {
    !matches!(name, "source" | "host") && !name.eq_ignore_ascii_case(terms::MESSAGE)
}

impl Default for PendingBlock {
    fn default() -> Self {
        PendingBlock {
            ts_min: 0,
            ts_max: 0,
            count: 0,
            events: Vec::new(),
            terms: StrSet::new(TERM_END),
            table: TableBuilder::default(),
            builder: TermBuilder::default(),
            message_words: Vec::new(),
            scratch: Vec::new(),
        }
    }
}

impl PendingBlock {
    /// Adds an event: its line (time, id, JSON) and its terms.
    pub(crate) fn push(&mut self, ev: &impl BlockEvent) {
        let time_ns = ev.time_ns();
        if self.count == 0 {
            self.ts_min = time_ns;
            self.ts_max = time_ns;
        }
        self.ts_min = self.ts_min.min(time_ns);
        self.ts_max = self.ts_max.max(time_ns);
        self.count += 1;
        let mut numbers = itoa::Buffer::new();
        self.events
            .extend_from_slice(numbers.format(time_ns).as_bytes());
        self.events.push(b' ');
        self.events
            .extend_from_slice(numbers.format(ev.id()).as_bytes());
        self.events.push(b'\t');
        ev.write_json(&mut self.events);
        self.events.push(b'\n');
        self.table.start_event(time_ns);
        let message = ev.message();
        let (terms, table, builder) = (&mut self.terms, &mut self.table, &mut self.builder);
        // The message's words, split when a new value first asks.
        let (words, mut split) = (&mut self.message_words, false);
        ev.for_each_value(&mut self.scratch, &mut |name, value| {
            if !table.value(name, value) {
                return; // its terms are in the block already
            }
            let is_message = std::ptr::eq(value, message);
            if (is_message || is_field(name)) && !split {
                terms::indexed_words(message, words);
                split = true;
            }
            if is_message {
                // Its words are split already, for the fields it covers.
                builder.value_words(name, value, words.iter().cloned(), |term, _| {
                    terms.insert(term);
                });
                return;
            }
            if is_field(name) && terms::covered_by(value, message, words) {
                builder.covered(name, |term| {
                    terms.insert(term);
                });
                return;
            }
            builder.value(name, value, |term, _| {
                terms.insert(term);
            });
        });
    }

    /// The block as filled so far, leaving this one empty (its term set
    /// keeps its room for the next).
    pub fn take(&mut self) -> FullBlock {
        let block = FullBlock {
            ts_min: self.ts_min,
            ts_max: self.ts_max,
            count: self.count,
            // Only UTF-8 was written: digits, separators and serde_json's output.
            events: String::from_utf8(std::mem::take(&mut self.events))
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            terms: self.terms.take_list(),
            table: self.table.take(),
        };
        self.count = 0;
        block
    }
}

/// How many distinct terms one block of `events` is indexed under: the
/// index's work (the pipeline's `block_terms` example reports it per event).
pub fn block_term_count(events: &[crate::EventDoc]) -> usize {
    let mut block = PendingBlock::default();
    for ev in events {
        block.push(ev);
    }
    block.take().terms.matches(TERM_END).count()
}

/// A block ready for the index.
pub struct FullBlock {
    pub ts_min: i64,
    pub ts_max: i64,
    pub count: u64,
    pub events: String,
    /// The distinct terms, each ended by [`TERM_END`] (which no term holds:
    /// [`terms::TermBuilder`] replaces it in names and values).
    pub terms: String,
    /// The block's [`crate::table`].
    pub table: Vec<u8>,
}

const TERM_END: char = '\u{1e}';

/// Splits the term list of a [`FullBlock`]: one token a term, all at
/// position 0 (blocks are indexed without positions). A plain string
/// rather than tantivy's pre-tokenized value, which tantivy turns into
/// JSON and back.
#[derive(Clone, Default)]
pub struct TermListTokenizer {
    token: Token,
}

pub struct TermList<'a> {
    rest: &'a str,
    token: &'a mut Token,
}

impl Tokenizer for TermListTokenizer {
    type TokenStream<'a> = TermList<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermList<'a> {
        self.token.reset();
        self.token.position = 0;
        TermList {
            rest: text,
            token: &mut self.token,
        }
    }
}

impl TokenStream for TermList<'_> {
    fn advance(&mut self) -> bool {
        while !self.rest.is_empty() {
            let (term, rest) = self.rest.split_once(TERM_END).unwrap_or((self.rest, ""));
            self.rest = rest;
            if !term.is_empty() {
                self.token.text.clear();
                self.token.text.push_str(term);
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// One event of a stored block, before its JSON is read.
pub struct Entry<'a> {
    pub time_ns: i64,
    pub id: u64,
    pub json: &'a str,
}

/// The events of a stored block; `None` for a damaged line. Lines and
/// their parts are found with `memchr` (a search reads every line of
/// every candidate block, and `str::split` looks for one char at a time).
pub fn entries(text: &str) -> impl Iterator<Item = Option<Entry<'_>>> + '_ {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        Some(entry(line))
    })
}

/// One line: time and id in decimal, a space between, a tab, the JSON.
fn entry(line: &str) -> Option<Entry<'_>> {
    let tab = memchr::memchr(b'\t', line.as_bytes())?;
    let head = &line[..tab];
    let space = memchr::memchr(b' ', head.as_bytes())?;
    Some(Entry {
        time_ns: head[..space].parse().ok()?,
        id: head[space + 1..].parse().ok()?,
        json: &line[tab + 1..],
    })
}

/// Collects every matching block with its newest event time, so that a
/// search reads blocks newest first and stops when no block left can
/// hold a result.
pub struct BlockCollector;

pub struct SegmentBlocks {
    segment: SegmentOrdinal,
    ts_max: Option<tantivy::columnar::Column<i64>>,
    found: Vec<(i64, DocAddress)>,
}

impl Collector for BlockCollector {
    type Fruit = Vec<(i64, DocAddress)>;
    type Child = SegmentBlocks;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentBlocks> {
        Ok(SegmentBlocks {
            segment,
            ts_max: reader.fast_fields().i64("ts_max").ok(),
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(i64, DocAddress)>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentBlocks {
    type Fruit = Vec<(i64, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let ts = self
            .ts_max
            .as_ref()
            .and_then(|c| c.first(doc))
            .unwrap_or(i64::MAX);
        self.found.push((ts, DocAddress::new(self.segment, doc)));
    }

    fn harvest(self) -> Self::Fruit {
        self.found
    }
}

/// A matching block's time span and event count, from fast fields.
#[derive(Debug, Clone, Copy)]
pub struct BlockStat {
    pub ts_min: i64,
    pub ts_max: i64,
    pub count: u64,
    pub addr: DocAddress,
}

/// Collects every matching block's [`BlockStat`] without reading its
/// events: an aggregation that needs only times counts a block whole when
/// it lies inside one histogram bucket and inside the range.
pub struct BlockStatsCollector;

pub struct SegmentStats {
    segment: SegmentOrdinal,
    columns: Option<(
        tantivy::columnar::Column<i64>,
        tantivy::columnar::Column<i64>,
        tantivy::columnar::Column<u64>,
    )>,
    found: Vec<BlockStat>,
}

impl Collector for BlockStatsCollector {
    type Fruit = Vec<BlockStat>;
    type Child = SegmentStats;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentStats> {
        let f = reader.fast_fields();
        Ok(SegmentStats {
            segment,
            columns: Some((f.i64("ts_min")?, f.i64("ts_max")?, f.u64("count")?)),
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<BlockStat>>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.concat())
    }
}

impl SegmentCollector for SegmentStats {
    type Fruit = Vec<BlockStat>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let addr = DocAddress::new(self.segment, doc);
        let stat = self.columns.as_ref().and_then(|(lo, hi, n)| {
            Some(BlockStat {
                ts_min: lo.first(doc)?,
                ts_max: hi.first(doc)?,
                count: n.first(doc)?,
                addr,
            })
        });
        // A block without its fast fields is read event by event.
        self.found.push(stat.unwrap_or(BlockStat {
            ts_min: i64::MIN,
            ts_max: i64::MAX,
            count: 0,
            addr,
        }));
    }

    fn harvest(self) -> Self::Fruit {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventDoc;

    fn event(id: u64) -> EventDoc {
        EventDoc {
            id,
            time_ns: id as i64 * 10,
            received_ns: 0,
            tenant: "t".into(),
            source: "test".into(),
            host: Some("web1".into()),
            truncated: false,
            fields: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_block_gives_back_its_events_and_distinct_terms() {
        let mut block = PendingBlock::default();
        block.push(&event(2));
        block.push(&event(1));
        assert_eq!((block.ts_min, block.ts_max, block.count), (10, 20, 2));
        let text = String::from_utf8(block.events.clone()).expect("text");
        let got: Vec<EventDoc> = entries(&text)
            .map(|e| serde_json::from_str(e.expect("entry").json).expect("json"))
            .collect();
        assert_eq!(got, [event(2), event(1)]);
        let full = block.take();
        let mut tokens = Vec::new();
        let mut tokenizer = TermListTokenizer::default();
        let mut stream = tokenizer.token_stream(&full.terms);
        while stream.advance() {
            tokens.push((stream.token().text.clone(), stream.token().position));
        }
        tokens.sort();
        let want = [
            ("\u{2}host", 0),
            ("\u{2}source", 0),
            ("host=web1", 0),
            ("source=test", 0),
        ];
        assert_eq!(tokens, want.map(|(t, p)| (t.to_string(), p)));
        assert_eq!((full.count, block.count, block.events.len()), (2, 0, 0));
    }

    mod decoded {
        use super::super::PendingBlock;
        use crate::incoming::NewEvent;
        use proptest::prelude::*;
        use watchfloor_model::{Event, Value};

        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::Int),
                prop_oneof![
                    any::<f64>(),
                    Just(f64::NAN),
                    Just(f64::INFINITY),
                    Just(1.0),
                    Just(1e21)
                ]
                .prop_map(Value::Float),
                "(?s).{0,12}".prop_map(|s| Value::Str(s.into())),
                "[a-z0-9. ]{0,90}".prop_map(|s| Value::Str(s.into())),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            scalar().prop_recursive(2, 8, 4, |inner| {
                prop::collection::vec(inner, 0..4).prop_map(|v| Value::List(v.into()))
            })
        }

        fn event() -> impl Strategy<Value = Event> {
            let name = prop_oneof![
                Just("message".to_string()),
                Just("peer".to_string()),
                Just("user".to_string()),
                "[a-z.\"\\\u{1e}]{1,6}",
            ];
            let message = "[a-z0-9. ]{0,40}";
            (
                prop::collection::vec((name, value()), 0..8),
                message,
                prop::option::of("[a-z\"]{1,5}"),
            )
                .prop_map(|(fields, message, host)| {
                    let mut e = Event::new(Default::default());
                    e.push("message", Value::Str(message.into()));
                    for (n, v) in fields {
                        e.push(n, v);
                    }
                    e.core.host = host.map(Into::into);
                    e
                })
        }

        proptest! {
            /// A decoded event is stored as its document would be: the same
            /// line, the same terms, the same table.
            #[test]
            fn a_decoded_event_is_stored_as_its_document(
                events in prop::collection::vec((event(), "[a-z.]{0,4}", any::<bool>()), 1..6),
            ) {
                let (mut direct, mut via_doc) = (PendingBlock::default(), PendingBlock::default());
                for (i, (event, peer, truncated)) in events.iter().enumerate() {
                    let new = NewEvent {
                        id: i as u64 + 1,
                        time_ns: i as i64 * 7,
                        received_ns: 3,
                        tenant: "acme",
                        source: "syslog-tcp",
                        truncated: *truncated,
                        peer,
                        event,
                    };
                    if new.writes_directly() {
                        direct.push(&new);
                    } else {
                        direct.push(&new.to_doc());
                    }
                    via_doc.push(&new.to_doc());
                }
                let (a, b) = (direct.take(), via_doc.take());
                prop_assert_eq!(a.events, b.events);
                prop_assert_eq!(a.terms, b.terms);
                prop_assert_eq!(a.table, b.table);
            }
        }
    }

    #[test]
    fn damaged_lines_are_errors() {
        let mut block = PendingBlock::default();
        block.push(&event(1));
        let good = String::from_utf8(block.events.clone()).expect("text");
        let lines = |text: &str| entries(text).map(|e| e.is_some()).collect::<Vec<_>>();
        assert_eq!(lines(&good), [true]);
        assert_eq!(
            lines(&format!("{good}x1 2{{}}\n12 z\t{{}}\n")),
            [true, false, false]
        );
        assert_eq!(lines("\u{0}\u{1}"), [false]);
    }
}
