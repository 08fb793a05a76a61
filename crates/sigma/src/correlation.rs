//! Correlation rules: all seven types over sliding windows (a window ends
//! at each new event and reaches back `timespan`, never aligned to the
//! clock), grouped by `group-by` values with `aliases`, chained through
//! other correlations, with state bounded per group and in total.

use std::collections::{HashMap, VecDeque};

use watchfloor_model::{Event, Value};

use crate::rule::{Alias, CorrelationCondition, CorrelationType, RuleMeta};

/// What a correlation counts: a base rule or another correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Rule(usize),
    Correlation(usize),
}

/// A correlation with its references resolved.
#[derive(Debug, Clone)]
pub struct CompiledCorrelation {
    pub meta: RuleMeta,
    pub kind: CorrelationType,
    pub sources: Vec<Source>,
    /// The name each source is known by in `aliases` (its `name`, else id).
    pub source_names: Vec<Vec<String>>,
    pub group_by: Vec<String>,
    pub aliases: Vec<Alias>,
    pub timespan_ns: i64,
    pub condition: CorrelationCondition,
    /// `generate`: the referenced rules also report on their own.
    pub generate: bool,
    /// False when another correlation consumes this one (and does not generate it).
    pub emit: bool,
}

impl CompiledCorrelation {
    /// The field to read for group-by `alias` in events of source `pos`.
    fn group_field<'a>(&'a self, alias: &'a str, pos: usize) -> &'a str {
        self.aliases
            .iter()
            .find(|(a, _)| a == alias)
            .and_then(|(_, map)| {
                map.iter()
                    .find(|(rule, _)| self.source_names[pos].iter().any(|n| n == rule))
                    .map(|(_, f)| f.as_str())
            })
            .unwrap_or(alias)
    }
}

/// One input to the correlation engine: a base rule or correlation fired.
#[derive(Debug, Clone)]
pub struct Hit {
    pub source: Source,
    /// Nanoseconds since the epoch.
    pub timestamp: i64,
    /// Field values the correlations need, by field name.
    pub fields: Vec<(String, String)>,
    /// Whom the event concerns (the targeted user), gathered per group so
    /// that an alert can name everyone a brute force tried.
    pub subject: Option<String>,
}

impl Hit {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Collects the named fields of an event.
    pub fn from_event(source: Source, timestamp: i64, event: &Event, names: &[String]) -> Hit {
        let fields = names
            .iter()
            .filter_map(|n| {
                let v = event.get(n)?;
                let text = match v {
                    Value::Null => return None,
                    other => other.to_string(),
                };
                Some((n.clone(), text))
            })
            .collect();
        Hit {
            source,
            timestamp,
            fields,
            subject: None,
        }
    }
}

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationMatch {
    pub correlation: usize,
    pub timestamp: i64,
    /// (group-by name, value) of the group that fired.
    pub group: Vec<(String, String)>,
    /// The aggregate that met the condition (count, distinct values, sum...).
    pub value: f64,
    /// The distinct subjects of the hits in the window, oldest first (at
    /// most [`MAX_SUBJECTS`]).
    pub subjects: Vec<String>,
}

/// Subjects kept per group window.
pub const MAX_SUBJECTS: usize = 50;

/// Bounds on correlation state.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Groups kept per correlation; beyond it the stalest group is dropped.
    pub max_groups: usize,
    /// Entries kept per group window; beyond it the oldest entry is dropped.
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_groups: 100_000,
            max_entries: 10_000,
        }
    }
}

#[derive(Debug, Default)]
struct Window {
    /// (timestamp, source position, value) in arrival order.
    entries: VecDeque<(i64, usize, Option<String>)>,
    last: i64,
    /// (last seen, subject), distinct, oldest first, expiring with the window.
    subjects: VecDeque<(i64, String)>,
}

impl Window {
    fn note_subject(&mut self, now: i64, subject: &str) {
        if let Some(i) = self.subjects.iter().position(|(_, s)| s == subject) {
            self.subjects.remove(i);
        } else if self.subjects.len() >= MAX_SUBJECTS {
            self.subjects.pop_front();
        }
        self.subjects.push_back((now, subject.to_string()));
    }
}

/// Counters of what the engine did, for reporting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    pub hits: u64,
    pub fired: u64,
    pub evicted_groups: u64,
    pub evicted_entries: u64,
}

/// Correlation state in a form that outlives the engine (and a restart):
/// windows keyed by the correlation's id (its title when it has none), so
/// state carries over a rule reload for correlations that still exist.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    pub correlations: Vec<SnapshotCorrelation>,
}

/// One window entry: (time, source position, value).
pub type SnapshotEntry = (i64, usize, Option<String>);

/// A group's subjects: (group values, (last seen, subject)...).
pub type SnapshotSubjects = (Vec<String>, Vec<(i64, String)>);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotCorrelation {
    pub key: String,
    /// (group values, last time, entries).
    pub groups: Vec<(Vec<String>, i64, Vec<SnapshotEntry>)>,
    /// (group values, (last seen, subject)...) of the groups with subjects
    /// (absent in snapshots from before subjects were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<SnapshotSubjects>,
}

fn correlation_key(c: &CompiledCorrelation) -> String {
    c.meta.id.clone().unwrap_or_else(|| c.meta.title.clone())
}

/// Streaming correlation state for a set of correlations.
pub struct CorrelationEngine<'a> {
    correlations: &'a [CompiledCorrelation],
    /// For each source, the correlations that consume it and its position there.
    consumers: HashMap<Source, Vec<(usize, usize)>>,
    state: Vec<HashMap<Vec<String>, Window>>,
    limits: Limits,
    pub stats: CorrelationStats,
}

impl<'a> CorrelationEngine<'a> {
    pub fn new(correlations: &'a [CompiledCorrelation], limits: Limits) -> Self {
        let mut consumers: HashMap<Source, Vec<(usize, usize)>> = HashMap::new();
        for (ci, c) in correlations.iter().enumerate() {
            for (pos, s) in c.sources.iter().enumerate() {
                consumers.entry(*s).or_default().push((ci, pos));
            }
        }
        CorrelationEngine {
            correlations,
            consumers,
            state: correlations.iter().map(|_| HashMap::new()).collect(),
            limits,
            stats: CorrelationStats::default(),
        }
    }

    /// The state, to persist or to carry over a reload.
    pub fn snapshot(&self) -> Snapshot {
        let correlations = self
            .correlations
            .iter()
            .zip(&self.state)
            .filter(|(_, groups)| !groups.is_empty())
            .map(|(c, groups)| SnapshotCorrelation {
                key: correlation_key(c),
                groups: groups
                    .iter()
                    .map(|(g, w)| (g.clone(), w.last, w.entries.iter().cloned().collect()))
                    .collect(),
                subjects: groups
                    .iter()
                    .filter(|(_, w)| !w.subjects.is_empty())
                    .map(|(g, w)| (g.clone(), w.subjects.iter().cloned().collect()))
                    .collect(),
            })
            .collect();
        Snapshot { correlations }
    }

    /// Loads state saved by [`snapshot`](Self::snapshot); correlations that
    /// no longer exist, or whose sources changed in number, are skipped.
    /// Returns how many groups were restored.
    pub fn restore(&mut self, snapshot: &Snapshot) -> usize {
        let mut restored = 0;
        for saved in &snapshot.correlations {
            let Some(ci) = self
                .correlations
                .iter()
                .position(|c| correlation_key(c) == saved.key)
            else {
                continue;
            };
            let n_sources = self.correlations[ci].sources.len();
            let groups = &mut self.state[ci];
            for (group, last, entries) in &saved.groups {
                if groups.len() >= self.limits.max_groups {
                    self.stats.evicted_groups += 1;
                    continue;
                }
                if entries.iter().any(|(_, pos, _)| *pos >= n_sources) {
                    continue;
                }
                let tail = entries.len().saturating_sub(self.limits.max_entries);
                let subjects = saved
                    .subjects
                    .iter()
                    .find(|(g, _)| g == group)
                    .map(|(_, s)| s.iter().rev().take(MAX_SUBJECTS).rev().cloned().collect())
                    .unwrap_or_default();
                groups.insert(
                    group.clone(),
                    Window {
                        entries: entries[tail..].iter().cloned().collect(),
                        last: *last,
                        subjects,
                    },
                );
                restored += 1;
            }
        }
        restored
    }

    /// Groups held, over all correlations.
    pub fn groups(&self) -> usize {
        self.state.iter().map(HashMap::len).sum()
    }

    /// Whether any correlation consumes this source.
    pub fn consumes(&self, source: Source) -> bool {
        self.consumers.contains_key(&source)
    }

    /// Feeds one hit; returns every correlation that fired, including those
    /// fired further up a chain.
    pub fn process(&mut self, hit: &Hit) -> Vec<CorrelationMatch> {
        let mut fired = Vec::new();
        let mut queue = vec![hit.clone()];
        while let Some(h) = queue.pop() {
            self.stats.hits += 1;
            let targets = self.consumers.get(&h.source).cloned().unwrap_or_default();
            for (ci, pos) in targets {
                if let Some(m) = self.feed(ci, pos, &h) {
                    self.stats.fired += 1;
                    queue.push(Hit {
                        source: Source::Correlation(ci),
                        timestamp: m.timestamp,
                        fields: m.group.clone(),
                        subject: None,
                    });
                    fired.push(m);
                }
            }
        }
        fired
    }

    fn feed(&mut self, ci: usize, pos: usize, hit: &Hit) -> Option<CorrelationMatch> {
        let c = &self.correlations[ci];
        let group: Vec<String> = c
            .group_by
            .iter()
            .map(|g| hit.field(c.group_field(g, pos)).unwrap_or("").to_string())
            .collect();
        let value = c
            .condition
            .field
            .as_deref()
            .and_then(|f| hit.field(f))
            .map(str::to_string);
        if c.kind.needs_field() && value.is_none() {
            return None;
        }
        let now = hit.timestamp;
        self.make_room(ci, &group, now);
        let limits = self.limits;
        let window = self.state[ci].entry(group.clone()).or_default();
        let cutoff = now - c.timespan_ns;
        while window.entries.front().is_some_and(|(t, _, _)| *t < cutoff) {
            window.entries.pop_front();
        }
        window.entries.push_back((now, pos, value.clone()));
        window.last = window.last.max(now);
        while window.subjects.front().is_some_and(|(t, _)| *t < cutoff) {
            window.subjects.pop_front();
        }
        if let Some(subject) = hit.subject.as_deref() {
            window.note_subject(now, subject);
        }
        if window.entries.len() > limits.max_entries {
            window.entries.pop_front();
            self.stats.evicted_entries += 1;
        }
        let aggregate = aggregate(c, window, pos, value.as_deref())?;
        // With no comparisons (temporal types) `test` is true: all rules were required above.
        if !c.condition.test(aggregate) {
            return None;
        }
        // Fired: start the group afresh so one burst raises one alert.
        window.entries.clear();
        let subjects = window.subjects.drain(..).map(|(_, s)| s).collect();
        Some(CorrelationMatch {
            correlation: ci,
            timestamp: now,
            group: c.group_by.iter().cloned().zip(group).collect(),
            value: aggregate,
            subjects,
        })
    }

    /// Keeps the number of groups bounded: expired groups go first, then the
    /// stalest one.
    fn make_room(&mut self, ci: usize, group: &[String], now: i64) {
        let span = self.correlations[ci].timespan_ns;
        let groups = &mut self.state[ci];
        if groups.len() < self.limits.max_groups || groups.contains_key(group) {
            return;
        }
        let before = groups.len();
        groups.retain(|_, w| w.last >= now - span);
        if groups.len() >= self.limits.max_groups {
            if let Some(stalest) = groups
                .iter()
                .min_by_key(|(_, w)| w.last)
                .map(|(k, _)| k.clone())
            {
                groups.remove(&stalest);
            }
        }
        self.stats.evicted_groups += (before - groups.len()) as u64;
    }
}

/// The aggregate of a window for the correlation's type; `None` when the
/// type's requirement (all rules, order) is not met.
fn aggregate(c: &CompiledCorrelation, w: &Window, pos: usize, value: Option<&str>) -> Option<f64> {
    use CorrelationType::*;
    let entries = &w.entries;
    Some(match c.kind {
        EventCount => entries.len() as f64,
        ValueCount => {
            let mut seen: Vec<&str> = entries
                .iter()
                .filter_map(|(_, _, v)| v.as_deref())
                .collect();
            seen.sort_unstable();
            seen.dedup();
            seen.len() as f64
        }
        Temporal => {
            let present = distinct_sources(entries, c.sources.len());
            if c.condition.checks.is_empty() && present < c.sources.len() {
                return None;
            }
            present as f64
        }
        TemporalOrdered => {
            if !in_order(entries, c.sources.len(), pos) {
                return None;
            }
            c.sources.len() as f64
        }
        ValueSum => numbers(entries).sum(),
        ValueAvg => {
            let (sum, n) = numbers(entries).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
            if n == 0 {
                return None;
            }
            sum / n as f64
        }
        ValuePercentile => {
            // The share (in percent) of the window's events whose field has
            // the current event's value: "this value is among the rarest 1%".
            let value = value?;
            let same = entries
                .iter()
                .filter(|(_, _, v)| v.as_deref() == Some(value))
                .count();
            100.0 * same as f64 / entries.len().max(1) as f64
        }
    })
}

fn numbers<'w>(
    entries: &'w VecDeque<(i64, usize, Option<String>)>,
) -> impl Iterator<Item = f64> + 'w {
    entries
        .iter()
        .filter_map(|(_, _, v)| v.as_deref().and_then(|s| s.trim().parse::<f64>().ok()))
}

fn distinct_sources(entries: &VecDeque<(i64, usize, Option<String>)>, n: usize) -> usize {
    let mut seen = vec![false; n];
    for (_, p, _) in entries {
        seen[*p] = true;
    }
    seen.iter().filter(|s| **s).count()
}

/// True when the window holds hits of every source in the listed order,
/// ending with the current hit (which must be of the last source).
fn in_order(entries: &VecDeque<(i64, usize, Option<String>)>, n: usize, pos: usize) -> bool {
    if pos + 1 != n {
        return false;
    }
    // Walk forward matching sources 0, 1, ..., n-1 greedily (earliest first).
    let mut want = 0;
    for (_, p, _) in entries {
        if *p == want {
            want += 1;
            if want == n {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::CmpOp;

    const SEC: i64 = 1_000_000_000;

    fn corr(
        kind: CorrelationType,
        sources: usize,
        checks: Vec<(CmpOp, f64)>,
        field: Option<&str>,
    ) -> CompiledCorrelation {
        CompiledCorrelation {
            meta: RuleMeta::default(),
            kind,
            sources: (0..sources).map(Source::Rule).collect(),
            source_names: (0..sources).map(|i| vec![format!("r{i}")]).collect(),
            group_by: vec!["User".into()],
            aliases: Vec::new(),
            timespan_ns: 60 * SEC,
            condition: CorrelationCondition {
                field: field.map(Into::into),
                checks,
            },
            generate: false,
            emit: true,
        }
    }

    fn hit(rule: usize, t: i64, user: &str, extra: Option<(&str, &str)>) -> Hit {
        let mut fields = vec![("User".to_string(), user.to_string())];
        if let Some((k, v)) = extra {
            fields.push((k.into(), v.into()));
        }
        Hit {
            source: Source::Rule(rule),
            timestamp: t * SEC,
            fields,
            subject: None,
        }
    }

    #[test]
    fn a_match_names_every_subject_of_its_window_once_and_survives_a_snapshot() {
        let c = corr(
            CorrelationType::EventCount,
            1,
            vec![(CmpOp::Gte, 4.0)],
            None,
        );
        // One address (the group) trying three accounts; an old attempt expires.
        let attempt = |t: i64, user: &str| Hit {
            subject: Some(user.to_string()),
            ..hit(0, t, "203.0.113.9", None)
        };
        let cs = vec![c];
        let mut first = CorrelationEngine::new(&cs, Limits::default());
        assert!(first.process(&attempt(0, "old")).is_empty());
        assert!(first.process(&attempt(100, "root")).is_empty());
        assert!(first.process(&attempt(101, "admin")).is_empty());
        // A restart between attempts: the subjects come back with the window.
        let mut second = CorrelationEngine::new(&cs, Limits::default());
        assert_eq!(second.restore(&first.snapshot()), 1);
        assert!(second.process(&attempt(102, "root")).is_empty());
        let fired = second.process(&attempt(103, "oracle"));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].subjects, ["admin", "root", "oracle"]);
        // The next burst starts afresh.
        assert!(second.process(&attempt(104, "x")).is_empty());
    }

    fn run(c: CompiledCorrelation, hits: &[Hit]) -> Vec<CorrelationMatch> {
        let cs = vec![c];
        let mut e = CorrelationEngine::new(&cs, Limits::default());
        hits.iter().flat_map(|h| e.process(h)).collect()
    }

    #[test]
    fn event_count_slides_rather_than_buckets() {
        let c = corr(
            CorrelationType::EventCount,
            1,
            vec![(CmpOp::Gte, 3.0)],
            None,
        );
        // 50s, 70s, 100s: a clock-aligned minute would split them; a sliding window does not.
        let m = run(
            c.clone(),
            &[
                hit(0, 50, "a", None),
                hit(0, 70, "a", None),
                hit(0, 100, "a", None),
            ],
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].group, vec![("User".to_string(), "a".to_string())]);
        // Spread over more than the timespan: no match. Different users: no match.
        assert!(run(
            c.clone(),
            &[
                hit(0, 0, "a", None),
                hit(0, 50, "a", None),
                hit(0, 120, "a", None)
            ]
        )
        .is_empty());
        assert!(run(
            c,
            &[
                hit(0, 0, "a", None),
                hit(0, 1, "b", None),
                hit(0, 2, "a", None)
            ]
        )
        .is_empty());
    }

    #[test]
    fn value_count_counts_distinct_values() {
        let c = corr(
            CorrelationType::ValueCount,
            1,
            vec![(CmpOp::Gte, 2.0)],
            Some("Host"),
        );
        assert!(run(
            c.clone(),
            &[
                hit(0, 1, "a", Some(("Host", "x"))),
                hit(0, 2, "a", Some(("Host", "x")))
            ]
        )
        .is_empty());
        assert_eq!(
            run(
                c,
                &[
                    hit(0, 1, "a", Some(("Host", "x"))),
                    hit(0, 2, "a", Some(("Host", "y")))
                ]
            )
            .len(),
            1
        );
    }

    #[test]
    fn temporal_needs_every_rule_in_any_order() {
        let c = corr(CorrelationType::Temporal, 3, vec![], None);
        assert_eq!(
            run(
                c.clone(),
                &[
                    hit(2, 1, "a", None),
                    hit(0, 2, "a", None),
                    hit(1, 3, "a", None)
                ]
            )
            .len(),
            1
        );
        assert!(run(
            c,
            &[
                hit(0, 1, "a", None),
                hit(1, 2, "a", None),
                hit(0, 3, "a", None)
            ]
        )
        .is_empty());
    }

    #[test]
    fn temporal_ordered_needs_the_order() {
        let c = corr(CorrelationType::TemporalOrdered, 2, vec![], None);
        assert_eq!(
            run(c.clone(), &[hit(0, 1, "a", None), hit(1, 2, "a", None)]).len(),
            1
        );
        assert!(run(c.clone(), &[hit(1, 1, "a", None), hit(0, 2, "a", None)]).is_empty());
        assert!(run(c, &[hit(0, 1, "a", None), hit(1, 100, "a", None)]).is_empty());
    }

    #[test]
    fn value_sum_and_avg() {
        let sum = corr(
            CorrelationType::ValueSum,
            1,
            vec![(CmpOp::Gt, 100.0)],
            Some("bytes"),
        );
        let hits = [
            hit(0, 1, "a", Some(("bytes", "60"))),
            hit(0, 2, "a", Some(("bytes", "50"))),
        ];
        assert_eq!(run(sum.clone(), &hits[..1]).len(), 0);
        assert_eq!(run(sum, &hits)[0].value, 110.0);
        // Averages 50, then 55.
        let rising = [
            hit(0, 1, "a", Some(("bytes", "50"))),
            hit(0, 2, "a", Some(("bytes", "60"))),
        ];
        let avg = corr(
            CorrelationType::ValueAvg,
            1,
            vec![(CmpOp::Gt, 54.0)],
            Some("bytes"),
        );
        assert_eq!(run(avg, &rising)[0].value, 55.0);
        let avg_hi = corr(
            CorrelationType::ValueAvg,
            1,
            vec![(CmpOp::Gt, 56.0)],
            Some("bytes"),
        );
        assert!(run(avg_hi, &rising).is_empty());
    }

    #[test]
    fn value_percentile_flags_rare_values() {
        let c = corr(
            CorrelationType::ValuePercentile,
            1,
            vec![(CmpOp::Lte, 10.0)],
            Some("Image"),
        );
        let mut hits: Vec<Hit> = (0..20)
            .map(|i| hit(0, i, "h", Some(("Image", "svchost.exe"))))
            .collect();
        hits.push(hit(0, 21, "h", Some(("Image", "evil.exe"))));
        let m = run(c, &hits);
        assert_eq!(m.len(), 1);
        assert!(m[0].value < 10.0);
    }

    #[test]
    fn range_conditions_and_chaining() {
        let inner = corr(
            CorrelationType::EventCount,
            1,
            vec![(CmpOp::Gte, 2.0)],
            None,
        );
        let mut outer = corr(CorrelationType::TemporalOrdered, 2, vec![], None);
        outer.sources = vec![Source::Correlation(0), Source::Rule(1)];
        let cs = vec![inner, outer];
        let mut e = CorrelationEngine::new(&cs, Limits::default());
        let mut fired = Vec::new();
        for h in [
            hit(0, 1, "a", None),
            hit(0, 2, "a", None),
            hit(1, 3, "a", None),
        ] {
            fired.extend(e.process(&h));
        }
        assert_eq!(
            fired.iter().map(|m| m.correlation).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }

    #[test]
    fn state_is_bounded() {
        let c = corr(
            CorrelationType::EventCount,
            1,
            vec![(CmpOp::Gte, 1000.0)],
            None,
        );
        let cs = vec![c];
        let limits = Limits {
            max_groups: 10,
            max_entries: 5,
        };
        let mut e = CorrelationEngine::new(&cs, limits);
        for i in 0..100 {
            e.process(&hit(0, i / 10, &format!("u{i}"), None));
            e.process(&hit(0, i / 10, "same", None));
        }
        assert!(e.state[0].len() <= 10);
        assert!(e.stats.evicted_groups > 0);
        assert!(e.stats.evicted_entries > 0);
    }
}
