//! Prometheus 2.42's own PromQL test files, read as they are from the corpus
//! (`promql/prometheus-2.42-testdata/*.test`), run against our evaluator
//! over the real store: `load` blocks become appends, `eval` blocks queries
//! compared as Prometheus's test runner compares them (float tolerance
//! 1e-6 relative, order only for `eval_ordered`, an error for `eval_fail`).
//! As Prometheus's runner does, every instant evaluation is also run as a
//! three-step range query around its time and the middle step compared.
//!
//! Prints passed/total per file and every failure; fails under 95% overall.

use std::path::{Path, PathBuf};

use watchfloor_tsdb::promql::{Engine, QueryValue};
use watchfloor_tsdb::{
    parse_selector, stale_nan, DiskStore, Labels, MatchOp, MetricStore, SeriesSamples, StoreOptions,
};

fn testdata_dir() -> Option<PathBuf> {
    let dir = watchfloor_testkit::corpus("Prometheus's PromQL test files")?
        .join("promql/prometheus-2.42-testdata");
    assert!(dir.is_dir(), "{} is missing from the corpus", dir.display());
    Some(dir)
}

/// Prometheus durations (`5m`, `1h30m`, `0`, `1ms`) in milliseconds.
fn duration_ms(text: &str) -> Result<i64, String> {
    if text
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .parse::<i64>()
        == Ok(0)
    {
        return Ok(0);
    }
    promql_parser::util::parse_duration(text).map(|d| d.as_millis() as i64)
}

fn parse_value(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    match lower.trim_start_matches('+') {
        "inf" => {
            return Ok(if text.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        }
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        "stale" => return Ok(stale_nan()),
        _ => {}
    }
    if let Some(hex) = lower.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16)
            .map(|v| v as f64)
            .map_err(|e| format!("{text}: {e}"));
    }
    text.parse::<f64>().map_err(|e| format!("{text:?}: {e}"))
}

/// Expands one item of a series' values: `1`, `_`, `_x3`, `stale`, `1x3`,
/// `1+2x3`, `-1-2x3` (Prometheus's series description grammar).
fn expand_item(item: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    let Some(x) = item
        .rfind('x')
        .filter(|&i| item[i + 1..].chars().all(|c| c.is_ascii_digit()) && i + 1 < item.len())
    else {
        out.push(if item == "_" {
            None
        } else {
            Some(parse_value(item)?)
        });
        return Ok(());
    };
    let times: usize = item[x + 1..].parse().map_err(|e| format!("{item}: {e}"))?;
    let head = &item[..x];
    if head == "_" {
        out.extend(std::iter::repeat_n(None, times));
        return Ok(());
    }
    // Split `a+b` / `a-b` at a sign that is not the first character and not
    // an exponent's.
    let bytes = head.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, step) = match split {
        Some(i) => (parse_value(&head[..i])?, parse_value(&head[i..])?),
        None => (parse_value(head)?, 0.0),
    };
    let mut v = start;
    for _ in 0..=times {
        out.push(Some(v));
        v += step;
    }
    Ok(())
}

/// Splits `metric{a="b c"} rest` into the descriptor and the rest.
fn split_descriptor(line: &str) -> (&str, &str) {
    let line = line.trim();
    let end = match line.find('{') {
        Some(open) if !line[..open].contains(char::is_whitespace) => {
            let mut in_quote = None;
            let mut escaped = false;
            let mut end = line.len();
            for (i, c) in line.char_indices().skip_while(|&(i, _)| i <= open) {
                match (in_quote, c) {
                    (Some(_), _) if escaped => escaped = false,
                    (Some(_), '\\') => escaped = true,
                    (Some(q), c) if c == q => in_quote = None,
                    (None, '"' | '\'' | '`') => in_quote = Some(c),
                    (None, '}') => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            end
        }
        _ => line.find(char::is_whitespace).unwrap_or(line.len()),
    };
    (&line[..end], line[end..].trim())
}

fn descriptor_labels(desc: &str) -> Result<Labels, String> {
    if desc == "{}" {
        return Ok(Labels::new());
    }
    let matchers = parse_selector(desc)?;
    Ok(Labels::from_pairs(
        matchers
            .iter()
            .filter(|m| matches!(m.op, MatchOp::Equal))
            .map(|m| (m.name.clone(), m.value.clone())),
    ))
}

#[derive(Debug)]
enum Expected {
    Series(Labels, f64),
    Scalar(f64),
}

#[derive(Debug, PartialEq)]
enum Kind {
    Eval,
    Ordered,
    Fail,
}

#[derive(Debug)]
struct Case {
    line: usize,
    kind: Kind,
    at: i64,
    expr: String,
    expected: Vec<Expected>,
}

enum Command {
    Clear,
    Load(Vec<SeriesSamples>),
    Eval(Case),
}

fn parse_file(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let at_line = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The block's body: the indented lines that follow.
        let mut body = Vec::new();
        while i < lines.len() && lines[i].starts_with([' ', '\t']) && !lines[i].trim().is_empty() {
            if !lines[i].trim().starts_with('#') {
                body.push(lines[i].trim());
            }
            i += 1;
        }
        let err = |e: String| format!("line {at_line}: {e}");
        if line == "clear" {
            out.push(Command::Clear);
        } else if let Some(interval) = line.strip_prefix("load ") {
            let interval = duration_ms(interval.trim()).map_err(err)?;
            let mut series = Vec::new();
            for b in &body {
                let (desc, values) = split_descriptor(b);
                let labels = descriptor_labels(desc).map_err(err)?;
                let mut expanded = Vec::new();
                for item in values.split_whitespace() {
                    expand_item(item, &mut expanded).map_err(err)?;
                }
                let samples = expanded
                    .into_iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| (k as i64 * interval, v)))
                    .collect();
                series.push(SeriesSamples { labels, samples });
            }
            out.push(Command::Load(merge_repeated_series(series)));
        } else if line.starts_with("eval") {
            let (head, rest) = line
                .split_once(" instant at ")
                .ok_or_else(|| err(format!("unsupported eval: {line}")))?;
            let kind = match head {
                "eval" => Kind::Eval,
                "eval_ordered" => Kind::Ordered,
                "eval_fail" => Kind::Fail,
                other => return Err(err(format!("unknown command {other}"))),
            };
            let (at, expr) = rest
                .split_once(' ')
                .ok_or_else(|| err("no expression".into()))?;
            let mut expected = Vec::new();
            for b in &body {
                let (desc, value) = split_descriptor(b);
                if value.is_empty() {
                    expected.push(Expected::Scalar(parse_value(desc).map_err(err)?));
                } else {
                    expected.push(Expected::Series(
                        descriptor_labels(desc).map_err(err)?,
                        parse_value(value).map_err(err)?,
                    ));
                }
            }
            out.push(Command::Eval(Case {
                line: at_line,
                kind,
                at: duration_ms(at).map_err(err)?,
                expr: expr.trim().to_string(),
                expected,
            }));
        } else {
            return Err(err(format!("unknown command: {line}")));
        }
    }
    Ok(out)
}

/// A series loaded twice in one block: Prometheus's loader keeps the later
/// value at each time (aggregators.test's "inf3" relies on it).
fn merge_repeated_series(series: Vec<SeriesSamples>) -> Vec<SeriesSamples> {
    let mut out: Vec<SeriesSamples> = Vec::new();
    for s in series {
        match out.iter_mut().find(|o| o.labels == s.labels) {
            Some(o) => {
                let mut by_time: std::collections::BTreeMap<i64, f64> =
                    o.samples.iter().copied().collect();
                by_time.extend(s.samples);
                o.samples = by_time.into_iter().collect();
            }
            None => out.push(s),
        }
    }
    out
}

/// Prometheus's test comparison of floats.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn compare(case: &Case, got: &[(Labels, f64)], scalar: Option<f64>) -> Result<(), String> {
    if let Some(v) = scalar {
        return match case.expected.as_slice() {
            [Expected::Scalar(want)] if almost_equal(*want, v) => Ok(()),
            want => Err(format!("scalar {v}, expected {want:?}")),
        };
    }
    let want: Vec<(&Labels, f64)> = case
        .expected
        .iter()
        .filter_map(|e| match e {
            Expected::Series(l, v) => Some((l, *v)),
            Expected::Scalar(_) => None,
        })
        .collect();
    if want.len() != case.expected.len() {
        return Err(format!("expected a scalar, got a vector of {}", got.len()));
    }
    if got.len() != want.len() {
        return Err(format!(
            "{} samples, expected {}: got {}",
            got.len(),
            want.len(),
            show(got)
        ));
    }
    for (i, (labels, v)) in got.iter().enumerate() {
        let found = if case.kind == Kind::Ordered {
            Some(i).filter(|&j| want[j].0 == labels)
        } else {
            want.iter().position(|(l, _)| *l == labels)
        };
        match found {
            Some(j) if almost_equal(want[j].1, *v) => {}
            Some(j) => return Err(format!("{labels}: {v}, expected {}", want[j].1)),
            None => {
                return Err(format!(
                    "unexpected or misplaced {labels} {v}; got {}",
                    show(got)
                ))
            }
        }
    }
    Ok(())
}

fn show(got: &[(Labels, f64)]) -> String {
    got.iter()
        .map(|(l, v)| format!("{l} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one case: the instant query, then the same as a range query.
fn run_case(engine: &Engine, store: &dyn MetricStore, case: &Case) -> Result<(), String> {
    let result = engine.instant(store, &case.expr, case.at);
    if case.kind == Kind::Fail {
        return match result {
            Err(_) => Ok(()),
            Ok(v) => Err(format!("expected an error, got {v:?}")),
        };
    }
    let value = result.map_err(|e| format!("error: {e}"))?;
    match &value {
        QueryValue::Scalar { v, .. } => compare(case, &[], Some(*v))?,
        QueryValue::Vector(samples) => {
            let got: Vec<(Labels, f64)> = samples.iter().map(|s| (s.metric.clone(), s.v)).collect();
            compare(case, &got, None)?;
        }
        other => return Err(format!("unexpected {} result", other.type_name())),
    }
    if case.kind == Kind::Ordered {
        return Ok(()); // order is not defined for range queries
    }
    let ranged = engine
        .range(
            store,
            &case.expr,
            case.at - 60_000,
            case.at + 60_000,
            60_000,
        )
        .map_err(|e| format!("range mode: error: {e}"))?;
    let QueryValue::Matrix(series) = ranged else {
        return Err("range mode: not a matrix".into());
    };
    let got: Vec<(Labels, f64)> = series
        .iter()
        .filter_map(|s| {
            s.points
                .iter()
                .find(|p| p.0 == case.at)
                .map(|p| (s.metric.clone(), p.1))
        })
        .collect();
    let scalar =
        matches!(value, QueryValue::Scalar { .. }).then(|| got.first().map_or(f64::NAN, |g| g.1));
    compare(case, &got, scalar).map_err(|e| format!("range mode: {e}"))
}

struct FileResult {
    name: String,
    passed: usize,
    total: usize,
    failures: Vec<String>,
}

fn run_file(path: &Path) -> FileResult {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path).expect("test file reads");
    let commands = parse_file(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let engine = Engine::default();
    let mut dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions {
        sync: false,
        ..StoreOptions::default()
    };
    let mut store = DiskStore::open(dir.path(), options.clone()).expect("store");
    let mut result = FileResult {
        name: name.clone(),
        passed: 0,
        total: 0,
        failures: Vec::new(),
    };
    for command in commands {
        match command {
            Command::Clear => {
                dir = tempfile::tempdir().expect("temp dir");
                store = DiskStore::open(dir.path(), options.clone()).expect("store");
            }
            Command::Load(series) => {
                let report = store.append(&series).expect("append");
                assert_eq!(report.rejected(), 0, "{name}: load refused: {report:?}");
            }
            Command::Eval(case) => {
                result.total += 1;
                match run_case(&engine, &store, &case) {
                    Ok(()) => result.passed += 1,
                    Err(e) => result
                        .failures
                        .push(format!("{name}:{} `{}`: {e}", case.line, case.expr)),
                }
            }
        }
    }
    result
}

#[test]
fn prometheus_promql_test_files() {
    let Some(dir) = testdata_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        11,
        "the corpus holds Prometheus 2.42's 11 test files"
    );
    let results: Vec<FileResult> = files.iter().map(|f| run_file(f)).collect();
    let (mut passed, mut total) = (0, 0);
    for r in &results {
        println!("{:<22} {:>4}/{:<4}", r.name, r.passed, r.total);
        passed += r.passed;
        total += r.total;
    }
    println!(
        "{:<22} {passed:>4}/{total:<4} ({:.1}%)",
        "overall",
        100.0 * passed as f64 / total as f64
    );
    for f in results.iter().flat_map(|r| &r.failures) {
        println!("FAIL {f}");
    }
    assert!(total >= 560, "every eval block is counted: {total}");
    assert!(
        passed * 100 >= total * 95,
        "{passed}/{total} passed; at least 95% must"
    );
}

#[test]
fn series_values_expand_as_prometheus_does() {
    let mut out = Vec::new();
    for item in [
        "1",
        "_",
        "_x2",
        "0+10x2",
        "-2-1x1",
        "5x1",
        "stale",
        "1e-05+1e-05x1",
        "Inf",
    ] {
        expand_item(item, &mut out).expect("item");
    }
    let shown: Vec<String> = out
        .iter()
        .map(|v| {
            v.map_or("_".into(), |v| {
                if v.is_nan() {
                    "stale".into()
                } else {
                    v.to_string()
                }
            })
        })
        .collect();
    assert_eq!(
        shown,
        [
            "1", "_", "_", "_", "0", "10", "20", "-2", "-3", "5", "5", "stale", "0.00001",
            "0.00002", "inf"
        ]
    );
}
