//! Shared set-up of the engine benchmarks: the regression corpus's events,
//! the SigmaHQ rule set compiled by Watchfloor and by rsigma-eval, and the
//! check that both engines find exactly the same matches (a speed
//! comparison means nothing otherwise).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use watchfloor_formats::{read_path, ReadOptions};
use watchfloor_model::Event;
use watchfloor_sigma::{loader::rule_files, Routing, RuleSet, RuleSetOptions, Scratch};

/// The SigmaHQ rule directories both engines load.
pub const RULE_DIRS: [&str; 3] = ["rules", "rules-emerging-threats", "rules-threat-hunting"];

/// The shared corpus, or `None` (with a message) when it is not configured.
pub fn corpus() -> Option<PathBuf> {
    watchfloor_testkit::corpus("engine benchmark")
}

/// Every event of every EVTX file of `sigma/regression_data`, in path order.
pub fn regression_events(corpus: &Path) -> Vec<Event> {
    let files = watchfloor_testkit::evtx_files(&corpus.join("sigma/regression_data"));
    let mut events = Vec::new();
    for f in &files {
        read_path(f, &ReadOptions::default(), &mut |r| {
            if let Ok(e) = r {
                events.push(e);
            }
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
    events
}

fn rule_dirs(corpus: &Path) -> Vec<PathBuf> {
    RULE_DIRS
        .iter()
        .map(|d| corpus.join("sigma").join(d))
        .collect()
}

/// Watchfloor's rule set. `routed: false` evaluates every rule on every
/// event, as rsigma does; `true` is the default, routing by logsource.
pub fn watchfloor_rules(corpus: &Path, routed: bool) -> RuleSet {
    let routing = if routed {
        Routing::default()
    } else {
        Routing::unrouted()
    };
    let dirs = rule_dirs(corpus);
    let paths: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    RuleSet::load(
        &paths,
        RuleSetOptions {
            routing,
            ..Default::default()
        },
    )
    .expect("rule directories readable")
}

/// rsigma-eval's engine over the same files, loaded in one batch as its
/// documentation recommends.
pub fn rsigma_rules(corpus: &Path) -> rsigma_eval::Engine {
    let mut rules = Vec::new();
    let mut filters = Vec::new();
    for dir in rule_dirs(corpus) {
        for file in rule_files(&dir).expect("rule directory readable") {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            if let Ok(collection) = rsigma_parser::parse_sigma_yaml(&text) {
                rules.extend(collection.rules);
                filters.extend(collection.filters);
            }
        }
    }
    let mut engine = rsigma_eval::Engine::new();
    // A rule rsigma cannot compile is left out of its set; the match
    // comparison shows whether that matters.
    let _ = engine.add_rules(&rules);
    for f in &filters {
        let _ = engine.apply_filter(f);
    }
    engine
}

/// The events as rsigma takes them.
pub fn as_json(events: &[Event]) -> Vec<serde_json::Value> {
    events
        .iter()
        .map(|e| serde_json::Value::Object(e.to_json_object()))
        .collect()
}

/// Titles of the rules Watchfloor matches on one event.
pub fn watchfloor_matches(
    rules: &RuleSet,
    event: &Event,
    scratch: &mut Scratch,
) -> BTreeSet<String> {
    let mut out = Vec::new();
    rules.evaluate(event, scratch, &mut out);
    out.iter()
        .map(|&r| rules.rules()[r].meta.title.clone())
        .collect()
}

/// Titles of the rules rsigma matches on one event.
pub fn rsigma_matches(engine: &rsigma_eval::Engine, event: &serde_json::Value) -> BTreeSet<String> {
    let event = rsigma_eval::event::JsonEvent::borrow(event);
    engine
        .evaluate(&event)
        .into_iter()
        .map(|m| m.header.rule_title)
        .collect()
}

/// Events on which the two engines disagree: (source, only Watchfloor,
/// only rsigma).
pub type Disagreement = (String, Vec<String>, Vec<String>);

/// Compares both engines event by event; returns the total match count and
/// every disagreement.
pub fn compare(
    ours: &RuleSet,
    theirs: &rsigma_eval::Engine,
    events: &[Event],
    json: &[serde_json::Value],
) -> (usize, Vec<Disagreement>) {
    let mut scratch = Scratch::default();
    let mut total = 0;
    let mut diffs = Vec::new();
    for (event, doc) in events.iter().zip(json) {
        let a = watchfloor_matches(ours, event, &mut scratch);
        let b = rsigma_matches(theirs, doc);
        total += a.len();
        if a != b {
            let source = format!("{}#{}", event.core.source.path, event.core.source.record);
            diffs.push((
                source,
                a.difference(&b).cloned().collect(),
                b.difference(&a).cloned().collect(),
            ));
        }
    }
    (total, diffs)
}
