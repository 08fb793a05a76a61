//! The conformance suite every [`MetricStore`] backend runs.
//!
//! A backend's test calls [`run`] with a function that opens the store in a
//! directory with given options; the suite reopens stores to check that
//! what was acknowledged survives.

use std::path::Path;

use crate::{parse_selector, stale_nan, Labels, MetricStore, SeriesSamples, StoreOptions};

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn series(pairs: &[(&str, &str)], samples: Vec<(i64, f64)>) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
        samples,
    }
}

fn select<S: MetricStore>(
    store: &S,
    selector: &str,
    mint: i64,
    maxt: i64,
) -> Vec<(String, Vec<(i64, u64)>)> {
    let matchers = parse_selector(selector).expect("selector parses");
    store
        .select(&matchers, mint, maxt)
        .expect("select")
        .into_iter()
        .map(|s| {
            (
                s.labels.to_string(),
                s.samples
                    .into_iter()
                    .map(|(t, v)| (t, v.to_bits()))
                    .collect(),
            )
        })
        .collect()
}

fn bits(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

/// Runs every check; `open` opens (or reopens) a store in the directory.
pub fn run<S: MetricStore>(open: impl Fn(&Path, StoreOptions) -> S) {
    appends_and_selects_by_every_matcher(&open);
    refuses_what_prometheus_refuses(&open);
    keeps_staleness_markers_bit_for_bit(&open);
    answers_series_and_label_questions_by_time(&open);
    keeps_what_was_acknowledged_across_reopen(&open);
    compacts_into_blocks_without_losing_or_duplicating(&open);
    retention_and_downsampling(&open);
}

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn appends_and_selects_by_every_matcher<S: MetricStore>(open: &impl Fn(&Path, StoreOptions) -> S) {
    let dir = temp();
    let store = open(dir.path(), StoreOptions::default());
    let a: Vec<(i64, f64)> = (0..300).map(|i| (i * 15_000, i as f64)).collect();
    let report = store
        .append(&[
            series(
                &[("__name__", "up"), ("job", "api"), ("instance", "a")],
                a.clone(),
            ),
            series(
                &[("__name__", "up"), ("job", "db"), ("instance", "b")],
                vec![(0, 1.0), (15_000, 0.0)],
            ),
            series(
                &[("__name__", "errors_total"), ("job", "api")],
                vec![(0, 5.0)],
            ),
        ])
        .expect("append");
    assert_eq!(report.appended, 303);
    assert_eq!(report.rejected(), 0);
    let all = select(&store, r#"up{job="api"}"#, i64::MIN, i64::MAX);
    assert_eq!(
        all,
        vec![(r#"up{instance="a", job="api"}"#.to_string(), bits(&a))]
    );
    let window = select(&store, r#"up{job="api"}"#, 30_000, 60_000);
    assert_eq!(
        window[0].1,
        bits(&a[2..=4]),
        "both ends of the range are inclusive"
    );
    let names = |sel: &str| {
        select(&store, sel, i64::MIN, i64::MAX)
            .into_iter()
            .map(|(l, _)| l)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(r#"up{job!="api"}"#),
        vec![r#"up{instance="b", job="db"}"#]
    );
    assert_eq!(
        names(r#"{job=~"a.*"}"#),
        vec![
            r#"errors_total{job="api"}"#,
            r#"up{instance="a", job="api"}"#
        ]
    );
    assert_eq!(
        names(r#"{__name__=~".+", instance!~"a|b"}"#),
        vec![r#"errors_total{job="api"}"#]
    );
    assert_eq!(names(r#"up{instance=""}"#), Vec::<String>::new());
    assert_eq!(
        names(r#"{__name__="up", instance=~"a"}"#).len(),
        1,
        "regexes are anchored"
    );
    assert!(names(r#"nothing_here"#).is_empty());
}

fn refuses_what_prometheus_refuses<S: MetricStore>(open: &impl Fn(&Path, StoreOptions) -> S) {
    let dir = temp();
    let store = open(dir.path(), StoreOptions::default());
    store
        .append(&[series(&[("__name__", "m")], vec![(1000, 1.0), (2000, 2.0)])])
        .expect("append");
    let report = store
        .append(&[
            series(
                &[("__name__", "m")],
                vec![(1500, 9.0), (2000, 2.0), (2000, 3.0), (3000, 3.0)],
            ),
            series(&[("job", "no name")], vec![(1000, 1.0)]),
            series(&[("__name__", "bad-name")], vec![(1000, 1.0)]),
        ])
        .expect("append");
    assert_eq!(report.out_of_order, 1);
    assert_eq!(report.duplicate, 1);
    assert_eq!(report.invalid_series, 2);
    assert_eq!(
        report.appended, 2,
        "an exact duplicate is accepted (a retried write)"
    );
    assert!(report
        .first_error
        .as_deref()
        .is_some_and(|e| e.contains("out of order") && e.contains("m{}")));
    assert_eq!(
        select(&store, "m", i64::MIN, i64::MAX)[0].1,
        bits(&[(1000, 1.0), (2000, 2.0), (3000, 3.0)])
    );
}

fn keeps_staleness_markers_bit_for_bit<S: MetricStore>(open: &impl Fn(&Path, StoreOptions) -> S) {
    let dir = temp();
    let store = open(dir.path(), StoreOptions::default());
    let samples = vec![
        (0, 1.0),
        (10_000, stale_nan()),
        (20_000, f64::NAN),
        (30_000, f64::NEG_INFINITY),
    ];
    store
        .append(&[series(&[("__name__", "m")], samples.clone())])
        .expect("append");
    assert_eq!(select(&store, "m", i64::MIN, i64::MAX)[0].1, bits(&samples));
}

fn answers_series_and_label_questions_by_time<S: MetricStore>(
    open: &impl Fn(&Path, StoreOptions) -> S,
) {
    let dir = temp();
    let store = open(dir.path(), StoreOptions::default());
    store
        .append(&[
            series(&[("__name__", "early"), ("zone", "a")], vec![(0, 1.0)]),
            series(
                &[("__name__", "late"), ("zone", "b"), ("rack", "r1")],
                vec![(HOUR, 1.0)],
            ),
        ])
        .expect("append");
    let any = parse_selector(r#"{__name__=~".+"}"#).expect("selector");
    let labels = store.series(&any, HOUR - MIN, HOUR + MIN).expect("series");
    assert_eq!(
        labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        vec![r#"late{rack="r1", zone="b"}"#]
    );
    assert_eq!(
        store.label_names(&[], i64::MIN, i64::MAX).expect("names"),
        vec!["__name__", "rack", "zone"]
    );
    assert_eq!(
        store.label_names(&[], 0, MIN).expect("names"),
        vec!["__name__", "zone"]
    );
    assert_eq!(
        store
            .label_values("zone", &[], i64::MIN, i64::MAX)
            .expect("values"),
        vec!["a", "b"]
    );
    let late = parse_selector("late").expect("selector");
    assert_eq!(
        store
            .label_values("zone", &late, i64::MIN, i64::MAX)
            .expect("values"),
        vec!["b"]
    );
}

fn keeps_what_was_acknowledged_across_reopen<S: MetricStore>(
    open: &impl Fn(&Path, StoreOptions) -> S,
) {
    let dir = temp();
    let samples: Vec<(i64, f64)> = (0..500).map(|i| (i * 1000, (i * 7 % 13) as f64)).collect();
    {
        let store = open(dir.path(), StoreOptions::default());
        for part in samples.chunks(50) {
            store
                .append(&[series(&[("__name__", "m"), ("k", "v")], part.to_vec())])
                .expect("append");
        }
    }
    let store = open(dir.path(), StoreOptions::default());
    assert_eq!(select(&store, "m", i64::MIN, i64::MAX)[0].1, bits(&samples));
    // Appends continue after the reopen, with the same out-of-order rule.
    let report = store
        .append(&[series(
            &[("__name__", "m"), ("k", "v")],
            vec![(100, 1.0), (500_000, 1.0)],
        )])
        .expect("append");
    assert_eq!((report.appended, report.out_of_order), (1, 1));
}

fn compacts_into_blocks_without_losing_or_duplicating<S: MetricStore>(
    open: &impl Fn(&Path, StoreOptions) -> S,
) {
    let dir = temp();
    let options = StoreOptions {
        retention_ms: None,
        downsample_after_ms: None,
        ..StoreOptions::default()
    };
    // Ten hours of 30-second samples for three series.
    let samples: Vec<(i64, f64)> = (0..1200).map(|i| (i * 30_000, i as f64 * 0.5)).collect();
    let names = ["a", "b", "c"];
    {
        let store = open(dir.path(), options.clone());
        for part in samples.chunks(100) {
            let batch: Vec<SeriesSamples> = names
                .iter()
                .map(|n| series(&[("__name__", "m"), ("s", n)], part.to_vec()))
                .collect();
            store.append(&batch).expect("append");
            store.maintain(part[part.len() - 1].0).expect("maintain");
        }
        assert!(store.stats().blocks >= 3, "{:?}", store.stats());
        let all = select(&store, "m", i64::MIN, i64::MAX);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|(_, s)| *s == bits(&samples)));
    }
    let store = open(dir.path(), options);
    let all = select(&store, r#"m{s="b"}"#, 2 * HOUR, 3 * HOUR);
    let want: Vec<(i64, f64)> = samples
        .iter()
        .copied()
        .filter(|&(t, _)| (2 * HOUR..=3 * HOUR).contains(&t))
        .collect();
    assert_eq!(
        all[0].1,
        bits(&want),
        "blocks and head agree after a reopen"
    );
    let stats = store.stats();
    assert_eq!(stats.samples, 3 * 1200);
    assert_eq!(stats.series, 3);
    assert!(stats.bytes_per_sample() < 4.0, "{stats:?}");
}

fn retention_and_downsampling<S: MetricStore>(open: &impl Fn(&Path, StoreOptions) -> S) {
    let dir = temp();
    let options = StoreOptions {
        retention_ms: Some(48 * HOUR),
        downsample_after_ms: Some(24 * HOUR),
        downsample_step_ms: 5 * MIN,
        ..StoreOptions::default()
    };
    let store = open(dir.path(), options);
    // Three days of 1-minute samples.
    let samples: Vec<(i64, f64)> = (0..3 * 24 * 60).map(|i| (i * MIN, i as f64)).collect();
    for part in samples.chunks(60) {
        store
            .append(&[series(&[("__name__", "m")], part.to_vec())])
            .expect("append");
        store.maintain(part[part.len() - 1].0).expect("maintain");
    }
    let now = samples[samples.len() - 1].0;
    let kept = &select(&store, "m", i64::MIN, i64::MAX)[0].1;
    let oldest = kept[0].0;
    assert!(
        oldest >= now - 48 * HOUR - 2 * HOUR,
        "retention: oldest {oldest}, now {now}"
    );
    // Past a day, one sample per five minutes: the last of each step.
    let thin: Vec<&(i64, u64)> = kept.iter().filter(|(t, _)| *t < now - 26 * HOUR).collect();
    assert!(!thin.is_empty());
    assert!(
        thin.iter().all(|(t, _)| t % (5 * MIN) == 4 * MIN),
        "kept the last sample of each 5-minute step"
    );
    let recent = kept.iter().filter(|(t, _)| *t > now - 20 * HOUR).count();
    assert!(recent >= 20 * 60 - 1, "recent data stays raw: {recent}");
}
