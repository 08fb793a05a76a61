//! Watchfloor and rsigma-eval find exactly the same rules on every event of
//! the regression corpus (with routing off, as rsigma does not route by
//! logsource). The benchmark relies on this; the test keeps it true.

use watchfloor_bench::{
    as_json, compare, corpus, regression_events, rsigma_rules, watchfloor_rules,
};

#[test]
fn same_matches_as_rsigma_on_every_regression_event() {
    let Some(corpus) = corpus() else { return };
    let events = regression_events(&corpus);
    let ours = watchfloor_rules(&corpus, false);
    let theirs = rsigma_rules(&corpus);
    let (matches, diffs) = compare(&ours, &theirs, &events, &as_json(&events));
    for (source, only_ours, only_theirs) in &diffs {
        eprintln!("{source}: only watchfloor {only_ours:?}, only rsigma {only_theirs:?}");
    }
    assert!(
        diffs.is_empty(),
        "{} of {} events differ",
        diffs.len(),
        events.len()
    );
    assert!(
        matches > 700,
        "only {matches} matches: the corpus or the rules went missing"
    );
}
