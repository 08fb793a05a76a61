//! The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text,
//! as scrape targets serve them.
//!
//! A bad line is reported with its line number and skipped; the rest of the
//! page is kept (Prometheus fails the whole scrape; a NOC would rather keep
//! the good series and see the error counted).

use watchfloor_tsdb::Labels;

/// One parsed sample; `t` in milliseconds when the page gave a time.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    pub labels: Labels,
    pub v: f64,
    pub t: Option<i64>,
}

/// What `# HELP`, `# TYPE` and `# UNIT` say about a metric family.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Metadata {
    #[serde(rename = "type")]
    pub kind: String,
    pub help: String,
    pub unit: String,
}

#[derive(Debug, Default)]
pub struct Page {
    pub samples: Vec<ParsedSample>,
    /// Family name -> metadata, in the order first seen.
    pub metadata: Vec<(String, Metadata)>,
    /// `line N: problem` for each line that was skipped.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: timestamps in milliseconds.
    Text,
    /// `application/openmetrics-text`: timestamps in seconds, `# EOF`.
    OpenMetrics,
}

impl Format {
    /// From a response's `Content-Type`.
    pub fn from_content_type(ct: &str) -> Format {
        if ct.trim_start().starts_with("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Parses a whole page.
pub fn parse(text: &str, format: Format) -> Page {
    let mut page = Page::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let result = if let Some(comment) = line.strip_prefix('#') {
            metadata_line(comment, &mut page);
            Ok(())
        } else {
            sample_line(line, format).map(|s| page.samples.push(s))
        };
        if let Err(e) = result {
            page.errors.push(format!("line {}: {e}", i + 1));
        }
    }
    page
}

fn metadata_line(comment: &str, page: &mut Page) {
    let mut parts = comment.trim_start().splitn(3, ' ');
    let (Some(keyword), Some(name)) = (parts.next(), parts.next()) else {
        return;
    };
    let rest = parts.next().unwrap_or("").trim();
    let field = match keyword {
        "HELP" => 0,
        "TYPE" => 1,
        "UNIT" => 2,
        _ => return, // a comment (or `# EOF`)
    };
    let i = match page.metadata.iter().position(|(n, _)| n == name) {
        Some(i) => i,
        None => {
            page.metadata.push((name.to_string(), Metadata::default()));
            page.metadata.len() - 1
        }
    };
    let meta = &mut page.metadata[i].1;
    match field {
        0 => meta.help = unescape_help(rest),
        1 => meta.kind = rest.to_string(),
        _ => meta.unit = rest.to_string(),
    }
}

fn unescape_help(s: &str) -> String {
    s.replace("\\n", "\n").replace("\\\\", "\\")
}

fn sample_line(line: &str, format: Format) -> Result<ParsedSample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_ascii_whitespace())
        .ok_or("no value")?;
    let name = &line[..name_end];
    if !watchfloor_tsdb::valid_label_name(name, true) {
        return Err(format!("invalid metric name {name:?}"));
    }
    let mut labels = vec![(watchfloor_tsdb::METRIC_NAME.to_string(), name.to_string())];
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let (pairs, after) = label_pairs(inner)?;
        labels.extend(pairs);
        rest = after;
    }
    // OpenMetrics exemplars follow ` # `.
    let rest = rest.split(" # ").next().unwrap_or("");
    let mut fields = rest.split_ascii_whitespace();
    let value = parse_float(fields.next().ok_or("no value")?)?;
    let t = match fields.next() {
        None => None,
        Some(ts) => Some(match format {
            Format::Text => ts
                .parse::<i64>()
                .map_err(|_| format!("bad timestamp {ts:?}"))?,
            Format::OpenMetrics => (parse_float(ts)? * 1000.0).round() as i64,
        }),
    };
    if fields.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(ParsedSample {
        labels: Labels::from_pairs(labels),
        v: value,
        t,
    })
}

/// Reads `a="x",b="y"}` and returns the pairs and what follows the brace.
type LabelPairs = Vec<(String, String)>;

fn label_pairs(mut s: &str) -> Result<(LabelPairs, &str), String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok((out, after));
        }
        let eq = s.find('=').ok_or("label without `=`")?;
        let name = s[..eq].trim();
        if !watchfloor_tsdb::valid_label_name(name, false) {
            return Err(format!("invalid label name {name:?}"));
        }
        s = s[eq + 1..]
            .trim_start()
            .strip_prefix('"')
            .ok_or("label value must be quoted")?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                },
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        out.push((name.to_string(), value));
        s = s[end + 1..].trim_start();
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// Floats as the formats write them (`+Inf`, `-Inf`, `NaN` included).
pub fn parse_float(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" | "nan" => Ok(f64::NAN),
        _ => s.parse::<f64>().map_err(|_| format!("bad value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A comment
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
http_request_duration_seconds_bucket{le="+Inf"} 144320
bad line here
rpc_duration_seconds{quantile="0.5"} NaN
"#;

    #[test]
    fn parses_the_format_documentation_example() {
        let page = parse(PAGE, Format::Text);
        assert_eq!(page.samples.len(), 7);
        assert_eq!(page.errors, vec!["line 11: bad value \"line\""]);
        let s = &page.samples[0];
        assert_eq!(
            s.labels.to_string(),
            r#"http_requests_total{code="200", method="post"}"#
        );
        assert_eq!((s.v, s.t), (1027.0, Some(1395066363000)));
        assert_eq!(page.samples[2].labels.value("path"), r"C:\DIR\FILE.TXT");
        assert_eq!(
            page.samples[2].labels.value("error"),
            "Cannot find file:\n\"FILE.TXT\""
        );
        assert_eq!(page.samples[4].v, f64::INFINITY);
        assert_eq!(page.samples[4].t, Some(-3982045));
        assert!(page.samples[6].v.is_nan());
        let (name, meta) = &page.metadata[0];
        assert_eq!(
            (name.as_str(), meta.kind.as_str()),
            ("http_requests_total", "counter")
        );
    }

    #[test]
    fn openmetrics_times_are_seconds_and_exemplars_are_skipped() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"x\"} 1 1520879607.0\n# EOF\n";
        let page = parse(text, Format::OpenMetrics);
        assert!(page.errors.is_empty(), "{:?}", page.errors);
        assert_eq!(page.samples[0].t, Some(1520879607789));
        assert_eq!(page.metadata[0].1.unit, "seconds");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in ".{0,300}") {
            let _ = parse(&text, Format::Text);
            let _ = parse(&text, Format::OpenMetrics);
        }
    }
}
