//! The compiled rule set: every rule variant indexed by where it applies
//! (Windows channel and event id, or non-Windows), one shared Aho-Corasick
//! automaton over the literals rules require, and per-rule prefilters that
//! skip a rule when none of its required literals occurs in the event.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use watchfloor_model::{Event, Value};

use crate::bits::Bits;
use crate::compile::{compile_detection, CompileContext, Cond, Detection};
use crate::correlation::{CompiledCorrelation, Source};
use crate::loader::{parse_file, parse_yaml_documents, rule_files, Rejection, SourcedDocument};
use crate::logsource::{Routing, Scope, Target};
use crate::placeholders::Placeholders;
use crate::prefilter::Prefilter;
use crate::rule::{CorrelationDoc, Document, FilterDoc, Logsource, RuleDoc, RuleMeta, Severity};
use crate::strings::SigmaString;
use crate::strmatch::StrMatcher;

/// Settings for building a rule set.
#[derive(Debug, Clone, Default)]
pub struct RuleSetOptions {
    pub routing: Routing,
    pub placeholders: Placeholders,
}

/// A loaded detection rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub meta: RuleMeta,
    pub logsource: Logsource,
    /// False when the rule only feeds correlations (no `generate`).
    pub emit: bool,
    /// Fields the rule reads, in rule order, for reporting matched fields.
    pub fields: Vec<String>,
}

impl Rule {
    pub fn level(&self) -> Severity {
        self.meta.level.unwrap_or(Severity::Medium)
    }
}

struct Variant {
    rule: usize,
    detection: Detection,
    /// Field conditions of the logsource target (e.g. `EventType: CreateKey`).
    target_fields: Vec<(Box<str>, StrMatcher)>,
}

/// The variants of one Windows channel (or of every channel).
struct Bucket {
    by_event_id: HashMap<u32, Bits>,
    any_event_id: Bits,
}

impl Bucket {
    fn new(variants: usize) -> Bucket {
        Bucket {
            by_event_id: HashMap::new(),
            any_event_id: Bits::new(variants),
        }
    }

    fn add(&mut self, variant: usize, event_ids: Option<&[u32]>, variants: usize) {
        match event_ids {
            Some(ids) => ids.iter().for_each(|id| {
                self.by_event_id
                    .entry(*id)
                    .or_insert_with(|| Bits::new(variants))
                    .insert(variant);
            }),
            None => {
                self.any_event_id.insert(variant);
            }
        }
    }

    fn add_candidates(&self, event_id: Option<u32>, into: &mut Bits) {
        into.union_with(&self.any_event_id);
        if let Some(bits) = event_id.and_then(|id| self.by_event_id.get(&id)) {
            into.union_with(bits);
        }
    }
}

/// Where each variant applies, as sets of variant ids.
struct Index {
    // Fx: looked up for every event, with keys from the rules (no sender
    // can grow them).
    channels: FxHashMap<String, Bucket>,
    windows_any_channel: Bucket,
    /// Non-Windows variants of no particular product.
    non_windows: Bits,
    /// Non-Windows variants by product: they run only on that product's events.
    by_product: FxHashMap<String, Bits>,
    /// Variants of a category and no product: only events of that category.
    by_category: FxHashMap<String, Bits>,
    any: Bits,
}

/// Counts of a load, for `rules validate` and run summaries.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    pub files: usize,
    pub files_loaded: usize,
    pub rules_loaded: usize,
    pub correlations_loaded: usize,
    pub filters_loaded: usize,
    pub rejected: Vec<Rejection>,
}

/// Per-thread scratch space for evaluation (no allocation per event).
#[derive(Default)]
pub struct Scratch {
    /// The rule set the memoised state below belongs to: a scratch may be
    /// reused with another rule set (after a reload, say).
    owner: u64,
    /// Prefiltered variants with a literal in the event, by variant id.
    passed: Bits,
    /// Variants that apply to the event.
    candidates: Bits,
    channel: Option<(Box<str>, Option<usize>)>,
    seen: Vec<usize>,
}

/// A compiled, indexed set of rules.
pub struct RuleSet {
    /// Unique per built set; ties a [`Scratch`]'s memo to this set.
    id: u64,
    rules: Vec<Rule>,
    variants: Vec<Variant>,
    index: Index,
    channel_keys: Vec<String>,
    prefilter: Prefilter,
    /// Variants that run only when one of their literals occurs, and the others.
    prefiltered: Bits,
    unfiltered: Bits,
    correlations: Vec<CompiledCorrelation>,
    /// Fields each rule must hand to correlations, by rule.
    correlation_fields: HashMap<usize, Vec<String>>,
    report: LoadReport,
}

impl RuleSet {
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn correlations(&self) -> &[CompiledCorrelation] {
        &self.correlations
    }

    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Fields of `rule`'s events that correlations need, if any consume it.
    pub fn correlation_fields(&self, rule: usize) -> Option<&[String]> {
        self.correlation_fields.get(&rule).map(Vec::as_slice)
    }

    /// Loads every rule file under the given paths.
    pub fn load(paths: &[&Path], options: RuleSetOptions) -> std::io::Result<RuleSet> {
        let mut b = RuleSetBuilder::new(options);
        for p in paths {
            b.add_path(p)?;
        }
        Ok(b.build())
    }

    /// Evaluates every applicable rule against `event`, appending the
    /// indices of the rules that match to `out` (each at most once).
    pub fn evaluate(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<usize>) {
        if scratch.owner != self.id {
            scratch.owner = self.id;
            scratch.channel = None;
        }
        scratch.seen.clear();
        self.route(event, scratch);
        if scratch.candidates.intersects(&self.prefiltered) {
            self.scan(event, scratch);
            scratch
                .candidates
                .intersect_with_union(&scratch.passed, &self.unfiltered);
        }
        for vi in scratch.candidates.iter() {
            let v = &self.variants[vi];
            if scratch.seen.contains(&v.rule) {
                continue;
            }
            if self.target_fields_match(v, event) && v.detection.matches(event) {
                scratch.seen.push(v.rule);
                out.push(v.rule);
            }
        }
    }

    /// Fills `scratch.candidates` with the variants whose logsource
    /// applies to the event.
    fn route(&self, event: &Event, scratch: &mut Scratch) {
        scratch.candidates.reset(self.variants.len());
        let core = &event.core;
        if core.windows {
            let slot = self.channel_slot(core.channel.as_deref(), scratch);
            let cands = &mut scratch.candidates;
            self.index
                .windows_any_channel
                .add_candidates(core.event_id, cands);
            if let Some(bucket) = slot.and_then(|i| self.index.channels.get(&self.channel_keys[i]))
            {
                bucket.add_candidates(core.event_id, cands);
            }
        } else {
            scratch.candidates.union_with(&self.index.non_windows);
            if let Some(bits) = core
                .product
                .as_deref()
                .and_then(|p| self.index.by_product.get(p))
            {
                scratch.candidates.union_with(bits);
            }
        }
        if let Some(bits) = core
            .category
            .as_deref()
            .and_then(|c| self.index.by_category.get(c))
        {
            scratch.candidates.union_with(bits);
        }
        scratch.candidates.union_with(&self.index.any);
    }

    /// The index of a channel's bucket key, memoised in the scratch space:
    /// consecutive events of one file usually share their channel.
    fn channel_slot(&self, channel: Option<&str>, scratch: &mut Scratch) -> Option<usize> {
        let channel = channel?;
        match &scratch.channel {
            Some((c, slot)) if &**c == channel => *slot,
            _ => {
                let lower = channel.to_lowercase();
                let slot = self.channel_keys.iter().position(|k| *k == lower);
                scratch.channel = Some((channel.into(), slot));
                slot
            }
        }
    }

    fn target_fields_match(&self, v: &Variant, event: &Event) -> bool {
        v.target_fields.iter().all(|(f, m)| {
            event
                .get(f)
                .and_then(Value::as_text)
                .is_some_and(|t| m.is_match(t.as_str()))
        })
    }

    /// Marks the prefiltered variants whose literals occur in the event.
    fn scan(&self, event: &Event, scratch: &mut Scratch) {
        scratch.passed.reset(self.variants.len());
        self.prefilter
            .scan(event, &scratch.candidates, &mut scratch.passed);
    }
}

/// Builds a [`RuleSet`] from files and texts, collecting every rejection.
pub struct RuleSetBuilder {
    options: RuleSetOptions,
    docs: Vec<SourcedDocument>,
    rejected: Vec<Rejection>,
    files: usize,
}

impl RuleSetBuilder {
    pub fn new(options: RuleSetOptions) -> Self {
        RuleSetBuilder {
            options,
            docs: Vec::new(),
            rejected: Vec::new(),
            files: 0,
        }
    }

    /// Adds a rule file or every rule file under a directory.
    pub fn add_path(&mut self, path: &Path) -> std::io::Result<()> {
        for file in rule_files(path)? {
            let (docs, rejected) = parse_file(&file);
            self.files += 1;
            self.docs.extend(docs);
            self.rejected.extend(rejected);
        }
        Ok(())
    }

    /// Adds the documents of one YAML text.
    pub fn add_yaml(&mut self, text: &str, label: &str) {
        let (docs, rejected) = parse_yaml_documents(text, label);
        self.files += 1;
        self.docs.extend(docs);
        self.rejected.extend(rejected);
    }

    pub fn build(self) -> RuleSet {
        Build::new(self).finish()
    }
}

/// State of one build.
struct Build {
    options: RuleSetOptions,
    rules: Vec<Rule>,
    variants: Vec<Variant>,
    targets: Vec<Target>,
    correlations: Vec<CompiledCorrelation>,
    report: LoadReport,
    rule_docs: Vec<SourcedDocument>,
    corr_docs: Vec<SourcedDocument>,
    filter_docs: Vec<SourcedDocument>,
}

fn reject(sd: &SourcedDocument, meta: &RuleMeta, reason: String) -> Rejection {
    Rejection {
        path: sd.path.clone(),
        document: sd.index,
        id: meta.id.clone(),
        title: Some(meta.title.clone()),
        reason,
    }
}

impl Build {
    fn new(b: RuleSetBuilder) -> Self {
        let mut build = Build {
            options: b.options,
            rules: Vec::new(),
            variants: Vec::new(),
            targets: Vec::new(),
            correlations: Vec::new(),
            report: LoadReport {
                files: b.files,
                rejected: b.rejected,
                ..LoadReport::default()
            },
            rule_docs: Vec::new(),
            corr_docs: Vec::new(),
            filter_docs: Vec::new(),
        };
        for sd in b.docs {
            match &sd.doc {
                Document::Rule(_) => build.rule_docs.push(sd),
                Document::Correlation(_) => build.corr_docs.push(sd),
                Document::Filter(_) => build.filter_docs.push(sd),
            }
        }
        build
    }

    fn finish(mut self) -> RuleSet {
        let filters = self.resolve_filters();
        for (i, sd) in std::mem::take(&mut self.rule_docs).into_iter().enumerate() {
            let Document::Rule(rd) = &sd.doc else {
                continue;
            };
            let applied: Vec<&FilterDoc> = filters
                .get(&i)
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            match self.compile_rule(rd, &applied) {
                Ok(()) => self.report.rules_loaded += 1,
                Err(reason) => self.report.rejected.push(reject(&sd, &rd.meta, reason)),
            }
        }
        self.compile_correlations();
        self.assemble()
    }

    /// Maps each filter to the rules it names (by id or name).
    fn resolve_filters(&mut self) -> HashMap<usize, Vec<FilterDoc>> {
        let mut by_ref: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, sd) in self.rule_docs.iter().enumerate() {
            if let Document::Rule(r) = &sd.doc {
                for key in r.meta.id.iter().chain(r.meta.name.iter()) {
                    by_ref.entry(key.as_str()).or_default().push(i);
                }
            }
        }
        let mut out: HashMap<usize, Vec<FilterDoc>> = HashMap::new();
        let mut rejected = Vec::new();
        for sd in &self.filter_docs {
            let Document::Filter(f) = &sd.doc else {
                continue;
            };
            let targets: Vec<usize> = f
                .rules
                .iter()
                .filter_map(|r| by_ref.get(r.as_str()))
                .flatten()
                .copied()
                .collect();
            if targets.is_empty() {
                rejected.push(reject(sd, &f.meta, "filter names no loaded rule".into()));
                continue;
            }
            self.report.filters_loaded += 1;
            for t in targets {
                out.entry(t).or_default().push(f.clone());
            }
        }
        self.report.rejected.extend(rejected);
        out
    }

    fn compile_rule(&mut self, rd: &RuleDoc, filters: &[&FilterDoc]) -> Result<(), String> {
        let targets = self.options.routing.resolve(&rd.logsource);
        let mut compiled = Vec::with_capacity(targets.len());
        for target in targets {
            let ctx = CompileContext {
                placeholders: &self.options.placeholders,
                fieldmap: &target.fieldmap,
            };
            let mut detection = compile_detection(&rd.detection, &ctx)?;
            for f in filters {
                let fd = compile_detection(&f.detection, &ctx)
                    .map_err(|e| format!("filter '{}': {e}", f.meta.title))?;
                attach_filter(&mut detection, fd);
            }
            compiled.push((target, detection));
        }
        let rule = self.rules.len();
        let mut fields = Vec::new();
        for (target, detection) in compiled {
            for f in detection.fields_read() {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
            let target_fields = target
                .fields
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().into(),
                        StrMatcher::new(&SigmaString::literal(v), false),
                    )
                })
                .collect();
            self.variants.push(Variant {
                rule,
                detection,
                target_fields,
            });
            self.targets.push(target);
        }
        self.rules.push(Rule {
            meta: rd.meta.clone(),
            logsource: rd.logsource.clone(),
            emit: true,
            fields,
        });
        Ok(())
    }

    fn compile_correlations(&mut self) {
        let mut names: HashMap<String, Source> = HashMap::new();
        for (i, r) in self.rules.iter().enumerate() {
            for key in r.meta.id.iter().chain(r.meta.name.iter()) {
                names.insert(key.clone(), Source::Rule(i));
            }
        }
        for (i, sd) in self.corr_docs.iter().enumerate() {
            if let Document::Correlation(c) = &sd.doc {
                for key in c.meta.id.iter().chain(c.meta.name.iter()) {
                    names.insert(key.clone(), Source::Correlation(i));
                }
            }
        }
        let docs = std::mem::take(&mut self.corr_docs);
        let mut slots: Vec<Option<CompiledCorrelation>> = Vec::new();
        for sd in &docs {
            let Document::Correlation(c) = &sd.doc else {
                continue;
            };
            match self.compile_correlation(c, &names) {
                Ok(cc) => slots.push(Some(cc)),
                Err(reason) => {
                    self.report.rejected.push(reject(sd, &c.meta, reason));
                    slots.push(None);
                }
            }
        }
        self.drop_broken_chains(&mut slots, &docs);
        self.renumber(slots);
    }

    fn compile_correlation(
        &self,
        c: &CorrelationDoc,
        names: &HashMap<String, Source>,
    ) -> Result<CompiledCorrelation, String> {
        let mut sources = Vec::new();
        let mut source_names = Vec::new();
        for r in &c.rules {
            let s = names
                .get(r)
                .ok_or_else(|| format!("correlation references unknown rule '{r}'"))?;
            sources.push(*s);
            source_names.push(self.names_of(*s, r));
        }
        let timespan_ns = i64::try_from(c.timespan)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000))
            .ok_or("timespan too large")?;
        Ok(CompiledCorrelation {
            meta: c.meta.clone(),
            kind: c.kind,
            sources,
            source_names,
            group_by: c.group_by.clone(),
            aliases: c.aliases.clone(),
            timespan_ns,
            condition: c.condition.clone(),
            generate: c.generate,
            emit: true,
        })
    }

    fn names_of(&self, s: Source, reference: &str) -> Vec<String> {
        let mut out = vec![reference.to_string()];
        if let Source::Rule(i) = s {
            let m = &self.rules[i].meta;
            out.extend(m.id.iter().chain(m.name.iter()).cloned());
        }
        out
    }

    /// A correlation whose referenced correlation was rejected, or which
    /// takes part in a cycle, cannot run: reject it too.
    fn drop_broken_chains(
        &mut self,
        slots: &mut [Option<CompiledCorrelation>],
        docs: &[SourcedDocument],
    ) {
        loop {
            let mut changed = false;
            for i in 0..slots.len() {
                let Some(c) = &slots[i] else { continue };
                let broken = c.sources.iter().any(|s| match s {
                    Source::Correlation(j) => {
                        *j == i || slots[*j].is_none() || reaches(slots, *j, i)
                    }
                    Source::Rule(_) => false,
                });
                if broken {
                    let meta = c.meta.clone();
                    slots[i] = None;
                    self.report.rejected.push(reject(
                        &docs[i],
                        &meta,
                        "references a correlation that is rejected or forms a cycle".into(),
                    ));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Keeps the accepted correlations and renumbers their references.
    fn renumber(&mut self, slots: Vec<Option<CompiledCorrelation>>) {
        let mut new_index = vec![usize::MAX; slots.len()];
        let mut n = 0;
        for (i, s) in slots.iter().enumerate() {
            if s.is_some() {
                new_index[i] = n;
                n += 1;
            }
        }
        for mut c in slots.into_iter().flatten() {
            for s in &mut c.sources {
                if let Source::Correlation(j) = s {
                    *j = new_index[*j];
                }
            }
            self.correlations.push(c);
        }
        self.report.correlations_loaded = self.correlations.len();
        self.mark_hidden_sources();
    }

    /// A rule or correlation referenced by a correlation is not reported on
    /// its own unless a referencing correlation says `generate: true`.
    fn mark_hidden_sources(&mut self) {
        let generate: Vec<bool> = self.correlations.iter().map(|c| c.generate).collect();
        for (ci, c) in self.correlations.iter().enumerate() {
            for s in &c.sources {
                match s {
                    Source::Rule(r) => self.rules[*r].emit &= generate[ci],
                    Source::Correlation(_) => {}
                }
            }
        }
        let mut corr_emit = vec![true; self.correlations.len()];
        for (ci, c) in self.correlations.iter().enumerate() {
            for s in &c.sources {
                if let Source::Correlation(j) = s {
                    corr_emit[*j] &= generate[ci];
                }
            }
        }
        for (c, e) in self.correlations.iter_mut().zip(corr_emit) {
            c.emit = e;
        }
    }

    fn correlation_fields(&self) -> HashMap<usize, Vec<String>> {
        let mut out: HashMap<usize, Vec<String>> = HashMap::new();
        for c in &self.correlations {
            for (pos, s) in c.sources.iter().enumerate() {
                let Source::Rule(r) = s else { continue };
                let entry = out.entry(*r).or_default();
                let mut add = |f: &str| {
                    if !entry.iter().any(|e| e == f) {
                        entry.push(f.to_string());
                    }
                };
                for g in &c.group_by {
                    let aliased = c.aliases.iter().find(|(a, _)| a == g).and_then(|(_, map)| {
                        map.iter()
                            .find(|(rule, _)| c.source_names[pos].contains(rule))
                            .map(|(_, f)| f.as_str())
                    });
                    add(aliased.unwrap_or(g));
                }
                if let Some(f) = &c.condition.field {
                    add(f);
                }
            }
        }
        out
    }

    fn assemble(mut self) -> RuleSet {
        let n = self.variants.len();
        let required: Vec<_> = self
            .variants
            .iter()
            .enumerate()
            .filter_map(|(vi, v)| Some((vi, v.detection.required_literals()?)))
            .collect();
        let with_literals: Vec<usize> = required.iter().map(|(vi, _)| *vi).collect();
        let prefilter = Prefilter::build(required.into_iter(), n);
        let mut prefiltered = Bits::new(n);
        let mut unfiltered = Bits::new(n);
        // A prefilter that could not be built filters nothing.
        if prefilter.is_usable() {
            for vi in with_literals {
                prefiltered.insert(vi);
            }
        }
        for vi in (0..n).filter(|vi| !prefiltered.contains(*vi)) {
            unfiltered.insert(vi);
        }
        let (index, channel_keys) = build_index(&self.targets);
        self.report.files_loaded = count_clean_files(&self.report);
        let correlation_fields = self.correlation_fields();
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        RuleSet {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            rules: self.rules,
            variants: self.variants,
            index,
            channel_keys,
            prefilter,
            prefiltered,
            unfiltered,
            correlations: self.correlations,
            correlation_fields,
            report: self.report,
        }
    }
}

fn reaches(slots: &[Option<CompiledCorrelation>], from: usize, to: usize) -> bool {
    let mut stack = vec![from];
    let mut seen = vec![false; slots.len()];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        if let Some(c) = &slots[i] {
            stack.extend(c.sources.iter().filter_map(|s| match s {
                Source::Correlation(j) => Some(*j),
                Source::Rule(_) => None,
            }));
        }
    }
    false
}

fn count_clean_files(report: &LoadReport) -> usize {
    let mut bad: Vec<&str> = report.rejected.iter().map(|r| r.path.as_str()).collect();
    bad.sort_unstable();
    bad.dedup();
    report.files.saturating_sub(bad.len())
}

fn build_index(targets: &[Target]) -> (Index, Vec<String>) {
    let n = targets.len();
    let mut index = Index {
        channels: FxHashMap::default(),
        windows_any_channel: Bucket::new(n),
        non_windows: Bits::new(n),
        by_product: FxHashMap::default(),
        by_category: FxHashMap::default(),
        any: Bits::new(n),
    };
    for (vi, t) in targets.iter().enumerate() {
        if let Some(c) = &t.category {
            index
                .by_category
                .entry(c.clone())
                .or_insert_with(|| Bits::new(n))
                .insert(vi);
            continue;
        }
        match (t.scope(), &t.channels) {
            (Scope::Any, _) => {
                index.any.insert(vi);
            }
            (Scope::NonWindows, _) => {
                let bits = match &t.product {
                    Some(p) => index
                        .by_product
                        .entry(p.clone())
                        .or_insert_with(|| Bits::new(n)),
                    None => &mut index.non_windows,
                };
                bits.insert(vi);
            }
            (Scope::Windows, None) => index.windows_any_channel.add(vi, t.event_ids.as_deref(), n),
            (Scope::Windows, Some(chs)) => {
                for ch in chs {
                    index
                        .channels
                        .entry(ch.clone())
                        .or_insert_with(|| Bucket::new(n))
                        .add(vi, t.event_ids.as_deref(), n);
                }
            }
        }
    }
    let keys = index.channels.keys().cloned().collect();
    (index, keys)
}

/// `condition` becomes `(condition) and not (filter condition)`.
fn attach_filter(detection: &mut Detection, filter: Detection) {
    let offset = detection.selections.len();
    detection.selections.extend(filter.selections);
    let shifted = shift(filter.condition, offset);
    let original = std::mem::replace(&mut detection.condition, Cond::Or(Vec::new()));
    detection.condition = Cond::And(vec![original, Cond::Not(Box::new(shifted))]);
}

fn shift(c: Cond, by: usize) -> Cond {
    match c {
        Cond::Sel(i) => Cond::Sel(i + by),
        Cond::Not(inner) => Cond::Not(Box::new(shift(*inner, by))),
        Cond::And(items) => Cond::And(items.into_iter().map(|c| shift(c, by)).collect()),
        Cond::Or(items) => Cond::Or(items.into_iter().map(|c| shift(c, by)).collect()),
        Cond::AtLeast(n, items) => {
            Cond::AtLeast(n, items.into_iter().map(|c| shift(c, by)).collect())
        }
    }
}
