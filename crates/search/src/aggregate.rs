//! Aggregations over the events a query matches in a time range: counts by
//! time bucket (a histogram), the top values of a field with their counts,
//! and the number of distinct values of a field. The console's charts and
//! `watchfloor search --histogram/--count-by` use them.
//!
//! The accumulator here is backend-independent: a store feeds it each
//! matching event once, and it stops a store early when `max_events` have
//! been counted (the answer then says it is incomplete).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::EventDoc;

/// At most this many histogram buckets (a year of hours, a day of 10 s).
pub const MAX_HISTOGRAM_BUCKETS: i64 = 10_000;
/// Distinct values of a field kept exactly; past it the count is a floor.
pub const MAX_DISTINCT: usize = 1_000_000;
/// Distinct values tracked for a top-values table; past it, values not
/// yet seen are counted in `other`.
pub const MAX_TOP_TRACKED: usize = 100_000;

/// What to aggregate.
#[derive(Debug, Clone, Default)]
pub struct AggregateRequest {
    pub query: String,
    pub tenant: String,
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    /// Histogram bucket width; none for no histogram.
    pub interval_ns: Option<i64>,
    /// Field whose most frequent values are counted.
    pub top_field: Option<String>,
    pub top_size: usize,
    /// Field whose distinct values are counted.
    pub distinct_field: Option<String>,
    /// Stop after counting this many matching events.
    pub max_events: u64,
}

impl AggregateRequest {
    /// Checks the request's own limits (before any work).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(interval) = self.interval_ns {
            if interval < 1_000_000_000 {
                return Err("histogram interval: at least 1s".into());
            }
            if let (Some(from), Some(to)) = (self.from_ns, self.to_ns) {
                let buckets = (to.saturating_sub(from)) / interval;
                if buckets > MAX_HISTOGRAM_BUCKETS {
                    return Err(format!(
                        "histogram: {buckets} buckets of this interval in the range (at most {MAX_HISTOGRAM_BUCKETS}); widen the interval"
                    ));
                }
            }
        }
        if self.top_field.is_some() && !(1..=1000).contains(&self.top_size) {
            return Err("top: between 1 and 1000 values".into());
        }
        Ok(())
    }
}

/// One histogram bucket: its start and how many events fall in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeBucket {
    pub start_ns: i64,
    pub count: u64,
}

/// One value of a field and how many events carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// The top values of a field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TopValues {
    pub field: String,
    pub values: Vec<ValueCount>,
    /// Occurrences of the values not listed.
    pub other: u64,
    /// Matching events without the field.
    pub missing: u64,
}

/// The distinct count of a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DistinctCount {
    pub field: String,
    pub count: u64,
    /// False when there were more than [`MAX_DISTINCT`] values (the count is then a floor).
    pub exact: bool,
}

/// What an aggregation found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aggregation {
    /// Matching events counted.
    pub matched: u64,
    /// False when counting stopped at `max_events`.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_ns: Option<i64>,
    /// Every bucket of the range in time order, empty ones included when the
    /// range is bounded on both sides.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<TimeBucket>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top: Option<TopValues>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<DistinctCount>,
}

/// Counts events one at a time.
pub struct Accumulator<'a> {
    request: &'a AggregateRequest,
    matched: u64,
    buckets: BTreeMap<i64, u64>,
    top: HashMap<String, u64>,
    top_other: u64,
    top_missing: u64,
    distinct: HashSet<String>,
    distinct_overflow: bool,
    lower_top: Option<String>,
    lower_distinct: Option<String>,
}

impl<'a> Accumulator<'a> {
    pub fn new(request: &'a AggregateRequest) -> Self {
        Accumulator {
            request,
            matched: 0,
            buckets: BTreeMap::new(),
            top: HashMap::new(),
            top_other: 0,
            top_missing: 0,
            distinct: HashSet::new(),
            distinct_overflow: false,
            lower_top: request.top_field.as_ref().map(|f| f.to_lowercase()),
            lower_distinct: request.distinct_field.as_ref().map(|f| f.to_lowercase()),
        }
    }

    /// An empty accumulator for the same request (one per thread).
    pub fn fresh(&self) -> Accumulator<'a> {
        Accumulator::new(self.request)
    }

    /// Adds what another accumulator of the same request counted.
    pub fn merge(&mut self, other: Accumulator<'a>) {
        self.matched += other.matched;
        for (start, n) in other.buckets {
            *self.buckets.entry(start).or_insert(0) += n;
        }
        for (value, n) in other.top {
            count_value(&mut self.top, &mut self.top_other, &value, n);
        }
        self.top_other += other.top_other;
        self.top_missing += other.top_missing;
        for value in other.distinct {
            remember(&mut self.distinct, &mut self.distinct_overflow, &value);
        }
        self.distinct_overflow |= other.distinct_overflow;
    }

    /// True once `max_events` have been counted.
    pub fn is_full(&self) -> bool {
        self.matched >= self.request.max_events
    }

    /// The fields counted (top values, distinct), as lower-cased names.
    pub fn counted_fields(&self) -> Vec<String> {
        [&self.request.top_field, &self.request.distinct_field]
            .into_iter()
            .flatten()
            .map(|f| crate::terms::name_prefix(f))
            .collect()
    }

    /// Whether the event itself is needed (fields), or its time suffices.
    pub fn needs_fields(&self) -> bool {
        self.lower_top.is_some() || self.lower_distinct.is_some()
    }

    /// Counts an event known only by its time.
    pub fn add_time(&mut self, time_ns: i64) {
        self.add_times(time_ns, 1);
    }

    /// Counts `n` events of the same histogram bucket as `time_ns`.
    pub fn add_times(&mut self, time_ns: i64, n: u64) {
        self.matched += n;
        if let Some(interval) = self.request.interval_ns {
            *self
                .buckets
                .entry(time_ns.div_euclid(interval) * interval)
                .or_insert(0) += n;
        }
    }

    /// Whether two times fall in the same histogram bucket (always, with
    /// no histogram).
    pub fn same_bucket(&self, a: i64, b: i64) -> bool {
        self.request
            .interval_ns
            .is_none_or(|i| a.div_euclid(i) == b.div_euclid(i))
    }

    /// Whether the count reads values of a field of this name (top
    /// values, distinct count).
    pub fn counts(&self, name: &str) -> bool {
        [&self.lower_top, &self.lower_distinct]
            .into_iter()
            .flatten()
            .any(|field| name.eq_ignore_ascii_case(field))
    }

    /// Counts an event.
    pub fn add(&mut self, ev: &EventDoc) {
        self.add_counted(ev.time_ns, |field| values_of(ev, field));
    }

    /// Counts an event given by its time and its values as (name, value)
    /// pairs (those of the counted fields at least), as
    /// [`crate::terms::for_each_value`] gives them. Allocates only for a
    /// value counted for the first time.
    pub fn add_values<'v>(
        &mut self,
        time_ns: i64,
        values: impl Iterator<Item = (&'v str, &'v str)> + Clone,
    ) {
        self.add_time(time_ns);
        if let Some(field) = &self.lower_top {
            let mut any = false;
            for value in distinct_under(values.clone(), field) {
                any = true;
                count_value(&mut self.top, &mut self.top_other, value, 1);
            }
            if !any {
                self.top_missing += 1;
            }
        }
        if let Some(field) = &self.lower_distinct {
            for value in distinct_under(values.clone(), field) {
                remember(&mut self.distinct, &mut self.distinct_overflow, value);
            }
        }
    }

    /// Counts an event at `time_ns` whose values under a counted field
    /// `values_of` gives (distinct).
    fn add_counted(&mut self, time_ns: i64, values_of: impl Fn(&str) -> Vec<String>) {
        self.add_time(time_ns);
        if let Some(field) = &self.lower_top {
            let values = values_of(field);
            if values.is_empty() {
                self.top_missing += 1;
            }
            for value in values {
                count_value(&mut self.top, &mut self.top_other, &value, 1);
            }
        }
        if let Some(field) = &self.lower_distinct {
            for value in values_of(field) {
                remember(&mut self.distinct, &mut self.distinct_overflow, &value);
            }
        }
    }

    /// The answer.
    pub fn finish(self, complete: bool) -> Aggregation {
        let r = self.request;
        Aggregation {
            matched: self.matched,
            complete,
            interval_ns: r.interval_ns,
            histogram: r
                .interval_ns
                .map(|i| fill_buckets(&self.buckets, i, r.from_ns, r.to_ns))
                .unwrap_or_default(),
            top: r
                .top_field
                .as_ref()
                .map(|f| top_values(f, self.top, self.top_other, self.top_missing, r.top_size)),
            distinct: r.distinct_field.as_ref().map(|f| DistinctCount {
                field: f.clone(),
                count: self.distinct.len() as u64,
                exact: !self.distinct_overflow,
            }),
        }
    }
}

/// Adds `n` to a value's count; past [`MAX_TOP_TRACKED`] values, a value
/// not yet seen goes to `other`.
fn count_value(top: &mut HashMap<String, u64>, other: &mut u64, value: &str, n: u64) {
    if let Some(count) = top.get_mut(value) {
        *count += n;
    } else if top.len() < MAX_TOP_TRACKED {
        top.insert(value.to_string(), n);
    } else {
        *other += n;
    }
}

/// Keeps a distinct value; past [`MAX_DISTINCT`], a new one only marks the
/// count as a floor.
fn remember(distinct: &mut HashSet<String>, overflow: &mut bool, value: &str) {
    if distinct.contains(value) {
        return;
    }
    if distinct.len() < MAX_DISTINCT {
        distinct.insert(value.to_string());
    } else {
        *overflow = true;
    }
}

/// The values under a field name (any case) among (name, value) pairs,
/// each once, in order.
fn distinct_under<'v, 'f>(
    values: impl Iterator<Item = (&'v str, &'v str)> + Clone + 'f,
    field: &'f str,
) -> impl Iterator<Item = &'v str> + 'f {
    let under = move |it: &(usize, (&'v str, &'v str))| it.1 .0.eq_ignore_ascii_case(field);
    let all = values.clone();
    values
        .enumerate()
        .filter(under)
        .filter(move |&(i, (_, value))| {
            !all.clone()
                .take(i)
                .any(|(name, v)| v == value && name.eq_ignore_ascii_case(field))
        })
        .map(|(_, (_, value))| value)
}

/// The distinct values an event has under a field name (any case): the
/// typed `host` and a `host` field of the record count once.
fn values_of(ev: &EventDoc, field: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    crate::terms::for_each_value(
        ev,
        |name| name.eq_ignore_ascii_case(field),
        |_, value| {
            if !values.iter().any(|v| v == value) {
                values.push(value.to_string());
            }
        },
    );
    values
}

fn fill_buckets(
    counted: &BTreeMap<i64, u64>,
    interval: i64,
    from: Option<i64>,
    to: Option<i64>,
) -> Vec<TimeBucket> {
    let (Some(from), Some(to)) = (from, to) else {
        return counted
            .iter()
            .map(|(&start_ns, &count)| TimeBucket { start_ns, count })
            .collect();
    };
    let first = from.div_euclid(interval) * interval;
    (0..)
        .map(|i| first + i * interval)
        .take_while(|start| *start < to)
        .map(|start_ns| TimeBucket {
            start_ns,
            count: counted.get(&start_ns).copied().unwrap_or(0),
        })
        .collect()
}

fn top_values(
    field: &str,
    counts: HashMap<String, u64>,
    mut other: u64,
    missing: u64,
    size: usize,
) -> TopValues {
    let mut all: Vec<ValueCount> = counts
        .into_iter()
        .map(|(value, count)| ValueCount { value, count })
        .collect();
    // Most frequent first; ties by value so that answers are stable.
    all.sort_unstable_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    other += all.iter().skip(size).map(|v| v.count).sum::<u64>();
    all.truncate(size);
    TopValues {
        field: field.to_string(),
        values: all,
        other,
        missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time_ns: i64, host: &str, user: Option<&str>) -> EventDoc {
        let mut fields = serde_json::Map::new();
        // The record's own host field beside the typed one: counted once.
        fields.insert("host".into(), serde_json::json!(host));
        if let Some(u) = user {
            fields.insert("User".into(), serde_json::json!(u));
        }
        EventDoc {
            id: time_ns as u64,
            time_ns,
            received_ns: time_ns,
            tenant: "t".into(),
            source: "test".into(),
            host: Some(host.into()),
            truncated: false,
            fields,
        }
    }

    fn request() -> AggregateRequest {
        AggregateRequest {
            tenant: "t".into(),
            from_ns: Some(0),
            to_ns: Some(300_000_000_000),
            interval_ns: Some(60_000_000_000),
            top_field: Some("user".into()),
            top_size: 2,
            distinct_field: Some("host".into()),
            max_events: 100,
            ..Default::default()
        }
    }

    #[test]
    fn histogram_top_and_distinct() {
        let r = request();
        let mut acc = Accumulator::new(&r);
        let s = 1_000_000_000;
        for (t, host, user) in [
            (5 * s, "a", Some("root")),
            (61 * s, "a", Some("root")),
            (62 * s, "b", Some("alice")),
            (200 * s, "c", Some("bob")),
            (201 * s, "c", None),
        ] {
            acc.add(&event(t, host, user));
        }
        let a = acc.finish(true);
        assert_eq!(a.matched, 5);
        let counts: Vec<u64> = a.histogram.iter().map(|b| b.count).collect();
        assert_eq!(
            counts,
            vec![1, 2, 0, 2, 0],
            "every minute of the range, empty ones too"
        );
        let top = a.top.unwrap();
        assert_eq!(
            top.values,
            vec![
                ValueCount {
                    value: "root".into(),
                    count: 2
                },
                ValueCount {
                    value: "alice".into(),
                    count: 1
                }
            ],
            "ties broken by value"
        );
        assert_eq!((top.other, top.missing), (1, 1));
        assert_eq!(a.distinct.unwrap().count, 3);
    }

    #[test]
    fn limits_are_checked_before_work() {
        let mut r = request();
        r.interval_ns = Some(1_000_000_000);
        r.to_ns = Some(1_000_000_000 * 20_000);
        assert!(r.validate().unwrap_err().contains("widen the interval"));
        r.interval_ns = Some(10);
        assert!(r.validate().is_err());
        let mut r = request();
        r.top_size = 0;
        assert!(r.validate().is_err());
        assert!(request().validate().is_ok());
    }

    #[test]
    fn merged_halves_count_as_the_whole() {
        let r = request();
        let s = 1_000_000_000;
        let events = [
            event(5 * s, "a", Some("root")),
            event(61 * s, "b", Some("root")),
            event(62 * s, "b", None),
            event(200 * s, "c", Some("bob")),
        ];
        let mut whole = Accumulator::new(&r);
        events.iter().for_each(|e| whole.add(e));
        let mut left = Accumulator::new(&r);
        let mut right = left.fresh();
        events[..1].iter().for_each(|e| left.add(e));
        events[1..].iter().for_each(|e| right.add(e));
        left.merge(right);
        assert_eq!(left.finish(true), whole.finish(true));
    }

    #[test]
    fn stops_when_full() {
        let mut r = request();
        r.max_events = 2;
        let mut acc = Accumulator::new(&r);
        acc.add_time(1);
        assert!(!acc.is_full());
        acc.add_time(2);
        assert!(acc.is_full());
    }
}
