//! A block's short values as a table, stored beside its events in a fast
//! field (`table`).
//!
//! Counting the matches of a query (the console's histogram and top
//! values) needs, for each event of a candidate block, the few values the
//! query names and the counted field: reading them from the events' text
//! meant decompressing and copying the whole block and parsing each
//! event. The table holds every value of up to [`MAX_TABLE_VALUE`] bytes
//! once per block, and per event its time and the list of its values in
//! the order [`crate::terms::for_each_value`] gives them, so the terms an
//! event's values make are the same whether they come from here or from
//! its JSON. A longer value (a message, a command line) is listed by its
//! name only: an event whose needed value is long is read from the text.
//!
//! Layout: a version byte (2), the plain table's length (4 bytes, little
//! endian) and the plain table compressed as one LZ4 block (values and
//! rows repeat themselves). Version 1, the plain table alone, is still
//! read. The plain table (integers as LEB128
//! varints):
//!
//! ```text
//! names:  count, then each as length + UTF-8
//! values: count, then each as name number + length + UTF-8
//! events: count, then each as the time's difference from the previous
//!         event's (zig-zag), the number of entries, and the entries:
//!         value number * 2, or name number * 2 + 1 for a long value
//! ```

use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Values up to this many bytes are in the table.
pub const MAX_TABLE_VALUE: usize = 64;

/// Values up to this many bytes are interned while a block is filled (a
/// block's term builder skips those it has seen). Longer ones rarely
/// repeat exactly.
pub const MAX_REMEMBERED_VALUE: usize = 256;

const PLAIN: u8 = 1;
const LZ4: u8 = 2;
/// A table longer than this is damaged (a block of 128 events holds a
/// few kilobytes).
const MAX_PLAIN: usize = 16 << 20;

/// The values of a block being filled, and what each event holds.
pub struct TableBuilder {
    /// Names and values end to end.
    text: String,
    /// Per interned pair: name start, name end (the value's start), value end.
    pairs: Vec<(u32, u32, u32)>,
    index: HashTable<u32>,
    /// Seeded per process: a sender who could make pairs collide would
    /// otherwise turn every lookup into a walk of one long chain.
    hasher: foldhash::fast::RandomState,
    /// Names of values too long to be interned.
    long_names: Vec<String>,
    /// Per event: the number of entries, then the entries (pair number * 2,
    /// or long name number * 2 + 1).
    rows: Vec<u32>,
    times: Vec<i64>,
    /// Where the current event's entry count is in `rows`.
    row_start: usize,
}

impl Default for TableBuilder {
    fn default() -> Self {
        TableBuilder {
            text: String::new(),
            pairs: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            long_names: Vec::new(),
            rows: Vec::new(),
            times: Vec::new(),
            row_start: 0,
        }
    }
}

impl TableBuilder {
    /// Starts the next event's row.
    pub fn start_event(&mut self, time_ns: i64) {
        self.times.push(time_ns);
        self.row_start = self.rows.len();
        self.rows.push(0);
    }

    /// Adds a value to the current event; true when the block had not
    /// seen this (name, value) pair yet (or the value is too long to tell).
    pub fn value(&mut self, name: &str, value: &str) -> bool {
        self.rows[self.row_start] += 1;
        if value.len() > MAX_REMEMBERED_VALUE {
            let n = self.long_name(name);
            self.rows.push(n * 2 + 1);
            return true;
        }
        let (number, new) = self.intern(name, value);
        self.rows.push(number * 2);
        new
    }

    fn long_name(&mut self, name: &str) -> u32 {
        match self.long_names.iter().position(|n| n == name) {
            Some(i) => i as u32,
            None => {
                self.long_names.push(name.to_string());
                (self.long_names.len() - 1) as u32
            }
        }
    }

    fn pair(&self, number: u32) -> (&str, &str) {
        let (start, mid, end) = self.pairs[number as usize];
        (
            &self.text[start as usize..mid as usize],
            &self.text[mid as usize..end as usize],
        )
    }

    fn hash(&self, name: &str, value: &str) -> u64 {
        self.hasher.hash_one((name, value))
    }

    fn intern(&mut self, name: &str, value: &str) -> (u32, bool) {
        let hash = self.hash(name, value);
        let found = self.index.find(hash, |&n| {
            let (start, mid, end) = self.pairs[n as usize];
            &self.text[start as usize..mid as usize] == name
                && &self.text[mid as usize..end as usize] == value
        });
        if let Some(&n) = found {
            return (n, false);
        }
        let start = self.text.len() as u32;
        self.text.push_str(name);
        let mid = self.text.len() as u32;
        self.text.push_str(value);
        let number = self.pairs.len() as u32;
        self.pairs.push((start, mid, self.text.len() as u32));
        let (pairs, text, hasher) = (&self.pairs, &self.text, &self.hasher);
        self.index.insert_unique(hash, number, |&n| {
            let (start, mid, end) = pairs[n as usize];
            hasher.hash_one((
                &text[start as usize..mid as usize],
                &text[mid as usize..end as usize],
            ))
        });
        (number, true)
    }

    /// The table of the events added so far, leaving the builder empty
    /// (keeping its room).
    pub fn take(&mut self) -> Vec<u8> {
        let mut names = NameList::default();
        // Interned pairs become table values, or long names when over the limit.
        let mut values: Vec<(u32, &str)> = Vec::new();
        let mapped: Vec<u32> = (0..self.pairs.len() as u32)
            .map(|number| {
                let (name, value) = self.pair(number);
                let n = names.number(name);
                if value.len() <= MAX_TABLE_VALUE {
                    values.push((n, value));
                    (values.len() as u32 - 1) * 2
                } else {
                    n * 2 + 1
                }
            })
            .collect();
        let long: Vec<u32> = self
            .long_names
            .iter()
            .map(|name| names.number(name) * 2 + 1)
            .collect();
        let mut out = Vec::with_capacity(self.text.len() + self.rows.len() + 16);
        put(&mut out, names.list.len() as u64);
        for name in &names.list {
            put_str(&mut out, name);
        }
        put(&mut out, values.len() as u64);
        for (name, value) in &values {
            put(&mut out, u64::from(*name));
            put_str(&mut out, value);
        }
        put(&mut out, self.times.len() as u64);
        let mut previous = 0i64;
        let mut rows = self.rows.iter();
        for &time in &self.times {
            put(&mut out, zigzag(time.wrapping_sub(previous)));
            previous = time;
            let count = rows.next().copied().unwrap_or(0);
            put(&mut out, u64::from(count));
            for &entry in rows.by_ref().take(count as usize) {
                let half = (entry / 2) as usize;
                let mapped = if entry % 2 == 0 {
                    mapped[half]
                } else {
                    long[half]
                };
                put(&mut out, u64::from(mapped));
            }
        }
        self.clear();
        compress(&out)
    }

    fn clear(&mut self) {
        self.text.clear();
        self.pairs.clear();
        self.index.clear();
        self.long_names.clear();
        self.rows.clear();
        self.times.clear();
        self.row_start = 0;
    }
}

/// Distinct names in first-seen order (a block has a few dozen).
#[derive(Default)]
struct NameList<'a> {
    list: Vec<&'a str>,
}

impl<'a> NameList<'a> {
    fn number(&mut self, name: &'a str) -> u32 {
        match self.list.iter().position(|n| *n == name) {
            Some(i) => i as u32,
            None => {
                self.list.push(name);
                (self.list.len() - 1) as u32
            }
        }
    }
}

fn compress(plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + lz4_flex::block::get_maximum_output_size(plain.len()));
    out.push(LZ4);
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    let start = out.len();
    out.resize(out.capacity(), 0);
    // The buffer is sized for the worst case: compressing cannot fail.
    let written = lz4_flex::block::compress_into(plain, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out
}

/// The plain table of a stored one, into `out`; `None` when damaged.
fn plain<'a>(bytes: &[u8], out: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let (&version, rest) = bytes.split_first()?;
    out.clear();
    match version {
        PLAIN => out.extend_from_slice(rest),
        LZ4 => {
            let (len, block) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            (len <= MAX_PLAIN).then_some(())?;
            out.resize(len, 0);
            let got = lz4_flex::block::decompress_into(block, out).ok()?;
            (got == len).then_some(())?;
        }
        _ => return None,
    }
    Some(out)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// A stored table, read in place.
pub struct Table<'a> {
    pub names: Vec<&'a str>,
    /// Per value: its name's number and the value.
    pub values: Vec<(u32, &'a str)>,
    events: u64,
    rows: Reader<'a>,
}

/// One entry of an event's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A value of the table, by number.
    Value(u32),
    /// A value too long for the table, by its name's number.
    Long(u32),
}

impl<'a> Table<'a> {
    /// Reads a stored table, decompressed into `scratch`; `None` when it
    /// is damaged or of another version.
    pub fn parse(bytes: &[u8], scratch: &'a mut Vec<u8>) -> Option<Table<'a>> {
        let mut r = Reader {
            bytes: plain(bytes, scratch)?,
        };
        let names = (0..r.count()?)
            .map(|_| r.str())
            .collect::<Option<Vec<_>>>()?;
        let values = (0..r.count()?)
            .map(|_| {
                let name = u32::try_from(r.varint()?).ok()?;
                ((name as usize) < names.len()).then_some(())?;
                Some((name, r.str()?))
            })
            .collect::<Option<Vec<_>>>()?;
        let events = r.varint()?;
        Some(Table {
            names,
            values,
            events,
            rows: r,
        })
    }

    /// Calls `each(time, entries)` for every event in order; false when a
    /// row is damaged (the events before it were visited).
    pub fn for_each_event(&self, mut each: impl FnMut(i64, &[Entry])) -> bool {
        let mut r = Reader {
            bytes: self.rows.bytes,
        };
        let mut entries: Vec<Entry> = Vec::new();
        let mut time = 0i64;
        for _ in 0..self.events {
            let Some(()) = self.row(&mut r, &mut time, &mut entries) else {
                return false;
            };
            each(time, &entries);
        }
        true
    }

    fn row(&self, r: &mut Reader<'_>, time: &mut i64, entries: &mut Vec<Entry>) -> Option<()> {
        *time = time.wrapping_add(unzigzag(r.varint()?));
        entries.clear();
        for _ in 0..r.count()? {
            let v = u32::try_from(r.varint()?).ok()?;
            let (entry, known) = if v % 2 == 0 {
                (Entry::Value(v / 2), self.values.len())
            } else {
                (Entry::Long(v / 2), self.names.len())
            };
            ((v / 2) as usize).lt(&known).then(|| entries.push(entry))?;
        }
        Some(())
    }

    /// The name and value of a table value.
    pub fn pair(&self, value: u32) -> (&'a str, &'a str) {
        let (name, text) = self.values[value as usize];
        (self.names[name as usize], text)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for (i, &b) in self.bytes.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.bytes = &self.bytes[i + 1..];
                return Some(v);
            }
        }
        None
    }

    /// A count of things still to read, each at least a byte long: a
    /// damaged count cannot make a reader reserve more than is there.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        let bytes = self.bytes.get(..len)?;
        self.bytes = &self.bytes[len..];
        std::str::from_utf8(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Event = (i64, Vec<(String, String)>);
    /// An event as a table gives it back: long values as `None`.
    type Row = (i64, Vec<(String, Option<String>)>);

    fn build(events: &[Event]) -> Vec<u8> {
        let mut b = TableBuilder::default();
        for (time, values) in events {
            b.start_event(*time);
            for (name, value) in values {
                b.value(name, value);
            }
        }
        b.take()
    }

    /// What a table gives back: per event, its time and its values, long
    /// ones as their name and `None`.
    fn read(bytes: &[u8]) -> Vec<Row> {
        let mut scratch = Vec::new();
        let table = Table::parse(bytes, &mut scratch).expect("table");
        let mut out = Vec::new();
        let complete = table.for_each_event(|time, entries| {
            let values = entries
                .iter()
                .map(|e| match *e {
                    Entry::Value(v) => {
                        let (n, v) = table.pair(v);
                        (n.to_string(), Some(v.to_string()))
                    }
                    Entry::Long(n) => (table.names[n as usize].to_string(), None),
                })
                .collect();
            out.push((time, values));
        });
        assert!(complete);
        out
    }

    fn expected(events: &[Event]) -> Vec<Row> {
        events
            .iter()
            .map(|(t, values)| {
                let values = values
                    .iter()
                    .map(|(n, v)| (n.clone(), (v.len() <= MAX_TABLE_VALUE).then(|| v.clone())))
                    .collect();
                (*t, values)
            })
            .collect()
    }

    #[test]
    fn short_values_come_back_in_order_and_long_ones_by_name() {
        let long = "x".repeat(100);
        let longer = "y".repeat(300);
        let events: Vec<Event> = vec![
            (
                50,
                vec![
                    ("source".into(), "syslog".into()),
                    ("program".into(), "sshd".into()),
                    ("message".into(), long.clone()),
                ],
            ),
            (
                -7,
                vec![
                    ("program".into(), "sshd".into()),
                    ("message".into(), longer),
                    ("user".into(), "a".into()),
                    ("user".into(), "a".into()),
                ],
            ),
            (i64::MAX, vec![]),
        ];
        let bytes = build(&events);
        assert_eq!(read(&bytes), expected(&events));
        let mut scratch = Vec::new();
        let table = Table::parse(&bytes, &mut scratch).expect("table");
        // A name and a pair are written once whatever their number of uses.
        assert_eq!(table.names, ["source", "program", "message", "user"]);
        assert_eq!(table.values.len(), 3);
    }

    #[test]
    fn a_builder_is_empty_after_take() {
        let mut b = TableBuilder::default();
        b.start_event(1);
        assert!(b.value("a", "b"));
        assert!(!b.value("a", "b"));
        let _ = b.take();
        b.start_event(2);
        assert!(b.value("a", "b"));
        assert_eq!(
            read(&b.take()),
            vec![(2, vec![("a".into(), Some("b".into()))])]
        );
    }

    #[test]
    fn damaged_tables_are_refused_or_stop_without_panic() {
        let bytes = build(&[(1, vec![("a".into(), "b".into())])]);
        let mut scratch = Vec::new();
        assert!(Table::parse(&[], &mut scratch).is_none());
        assert!(Table::parse(&[3], &mut scratch).is_none());
        for cut in 0..bytes.len() {
            if let Some(t) = Table::parse(&bytes[..cut], &mut scratch) {
                t.for_each_event(|_, _| {});
            }
        }
        // A plain table (version 1) with an entry past its values.
        let mut plain_table = vec![PLAIN];
        plain(&bytes, &mut scratch).expect("plain");
        plain_table.extend_from_slice(&scratch);
        *plain_table.last_mut().expect("byte") = 0x7e;
        let t = Table::parse(&plain_table, &mut scratch).expect("header");
        assert!(!t.for_each_event(|_, _| {}));
        // A length past the limit is refused before anything is reserved.
        let mut huge = vec![LZ4];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Table::parse(&huge, &mut scratch).is_none());
    }

    #[test]
    fn tables_of_repeating_blocks_compress() {
        let events: Vec<Event> = (0..128)
            .map(|i| {
                let values = [
                    ("program", "sshd".to_string()),
                    ("host", format!("web{}", i % 4)),
                    ("pid", format!("{}", 1000 + i)),
                ];
                (
                    i * 1_000_000,
                    values
                        .iter()
                        .map(|(n, v)| (n.to_string(), v.clone()))
                        .collect(),
                )
            })
            .collect();
        let bytes = build(&events);
        let mut scratch = Vec::new();
        let plain_len = plain(&bytes, &mut scratch).expect("plain").len();
        assert!(
            bytes.len() < plain_len,
            "{} bytes for {plain_len}",
            bytes.len()
        );
        assert_eq!(read(&bytes), expected(&events));
    }

    proptest::proptest! {
        #[test]
        fn any_block_round_trips(events in proptest::collection::vec(
            (proptest::num::i64::ANY, proptest::collection::vec(
                ("[a-c]{1,2}", proptest::string::string_regex("[a-z]{0,3}|[a-z]{60,70}|[a-z]{250,260}").expect("regex")),
                0..6)),
            0..20)) {
            let bytes = build(&events);
            proptest::prop_assert_eq!(read(&bytes), expected(&events));
        }

        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut scratch = Vec::new();
            if let Some(t) = Table::parse(&bytes, &mut scratch) {
                t.for_each_event(|_, _| {});
            }
        }
    }
}
