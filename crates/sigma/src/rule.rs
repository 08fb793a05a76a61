//! Sigma documents as read from YAML: detection rules, correlation rules
//! and filters, with the structural checks of the specification.

use serde_yaml::{Mapping, Value as Yaml};

use crate::modifiers::yaml_kind;

pub use watchfloor_model::Severity;

/// `logsource`: lowercase category, product and service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Logsource {
    pub category: Option<String>,
    pub product: Option<String>,
    pub service: Option<String>,
}

/// Metadata shared by every kind of document.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub level: Option<Severity>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub falsepositives: Vec<String>,
    pub path: String,
}

/// One YAML document of a rule file.
#[derive(Debug, Clone)]
pub enum Document {
    Rule(RuleDoc),
    Correlation(CorrelationDoc),
    Filter(FilterDoc),
}

#[derive(Debug, Clone)]
pub struct RuleDoc {
    pub meta: RuleMeta,
    pub logsource: Logsource,
    pub detection: Mapping,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
}

impl CorrelationType {
    fn parse(s: &str) -> Option<Self> {
        use CorrelationType::*;
        Some(match s {
            "event_count" => EventCount,
            "value_count" => ValueCount,
            "temporal" => Temporal,
            "temporal_ordered" => TemporalOrdered,
            "value_sum" => ValueSum,
            "value_avg" => ValueAvg,
            "value_percentile" => ValuePercentile,
            _ => return None,
        })
    }

    pub fn needs_field(self) -> bool {
        use CorrelationType::*;
        matches!(self, ValueCount | ValueSum | ValueAvg | ValuePercentile)
    }

    pub fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        )
    }
}

/// `condition` of a correlation: comparisons linked by AND, plus `field`.
#[derive(Debug, Clone, Default)]
pub struct CorrelationCondition {
    pub field: Option<String>,
    pub checks: Vec<(CmpOp, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl CmpOp {
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Gt => a > b,
            CmpOp::Gte => a >= b,
            CmpOp::Lt => a < b,
            CmpOp::Lte => a <= b,
            CmpOp::Eq => a == b,
            CmpOp::Neq => a != b,
        }
    }
}

impl CorrelationCondition {
    pub fn test(&self, value: f64) -> bool {
        self.checks.iter().all(|(op, v)| op.test(value, *v))
    }
}

/// A field alias: its name and, per referenced rule name, the field it stands for.
pub type Alias = (String, Vec<(String, String)>);

#[derive(Debug, Clone)]
pub struct CorrelationDoc {
    pub meta: RuleMeta,
    pub kind: CorrelationType,
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// Window length in seconds.
    pub timespan: u64,
    pub condition: CorrelationCondition,
    pub aliases: Vec<Alias>,
    pub generate: bool,
}

#[derive(Debug, Clone)]
pub struct FilterDoc {
    pub meta: RuleMeta,
    pub logsource: Logsource,
    pub rules: Vec<String>,
    /// The filter's search identifiers and `condition`.
    pub detection: Mapping,
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Yaml> {
    m.get(Yaml::String(key.to_string()))
}

fn get_str(m: &Mapping, key: &str) -> Result<Option<String>, String> {
    match get(m, key) {
        None | Some(Yaml::Null) => Ok(None),
        Some(Yaml::String(s)) => Ok(Some(s.clone())),
        Some(Yaml::Number(n)) => Ok(Some(n.to_string())),
        Some(Yaml::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(format!(
            "'{key}' must be a string, found {}",
            yaml_kind(other)
        )),
    }
}

fn get_str_list(m: &Mapping, key: &str) -> Result<Vec<String>, String> {
    match get(m, key) {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Sequence(items)) => items
            .iter()
            .map(|i| match i {
                Yaml::String(s) => Ok(s.clone()),
                Yaml::Number(n) => Ok(n.to_string()),
                other => Err(format!(
                    "'{key}' must list strings, found {}",
                    yaml_kind(other)
                )),
            })
            .collect(),
        Some(Yaml::String(s)) => Ok(vec![s.clone()]),
        Some(other) => Err(format!(
            "'{key}' must be a list, found {}",
            yaml_kind(other)
        )),
    }
}

fn parse_meta(m: &Mapping, path: &str) -> Result<RuleMeta, String> {
    let title = get_str(m, "title")?.ok_or("missing 'title'")?;
    let level = match get_str(m, "level")? {
        Some(l) => Some(Severity::parse(&l).ok_or_else(|| format!("invalid level '{l}'"))?),
        None => None,
    };
    Ok(RuleMeta {
        id: get_str(m, "id")?,
        name: get_str(m, "name")?,
        title,
        level,
        status: get_str(m, "status")?,
        tags: get_str_list(m, "tags")?,
        description: get_str(m, "description")?,
        author: get_str(m, "author")?,
        falsepositives: get_str_list(m, "falsepositives").unwrap_or_default(),
        path: path.to_string(),
    })
}

fn parse_logsource(m: &Mapping) -> Result<Logsource, String> {
    let Some(ls) = get(m, "logsource") else {
        return Err("missing 'logsource'".into());
    };
    let Yaml::Mapping(ls) = ls else {
        return Err(format!(
            "'logsource' must be a map, found {}",
            yaml_kind(ls)
        ));
    };
    let lower = |k: &str| get_str(ls, k).map(|v| v.map(|s| s.to_ascii_lowercase()));
    Ok(Logsource {
        category: lower("category")?,
        product: lower("product")?,
        service: lower("service")?,
    })
}

/// Classifies and checks one YAML document.
pub fn parse_document(doc: &Yaml, path: &str) -> Result<Document, String> {
    let Yaml::Mapping(m) = doc else {
        return Err(format!(
            "a Sigma document must be a map, found {}",
            yaml_kind(doc)
        ));
    };
    if get(m, "action").is_some() {
        return Err("'action' documents (Sigma 1.0 rule collections) are obsolete".into());
    }
    let meta = parse_meta(m, path)?;
    if let Some(c) = get(m, "correlation") {
        return parse_correlation(meta, c).map(Document::Correlation);
    }
    if let Some(f) = get(m, "filter") {
        return parse_filter(meta, m, f).map(Document::Filter);
    }
    let detection = match get(m, "detection") {
        Some(Yaml::Mapping(d)) => d.clone(),
        Some(other) => {
            return Err(format!(
                "'detection' must be a map, found {}",
                yaml_kind(other)
            ))
        }
        None => return Err("no 'detection', 'correlation' or 'filter' section".into()),
    };
    if get(&detection, "condition").is_none() {
        return Err("'detection' has no 'condition'".into());
    }
    Ok(Document::Rule(RuleDoc {
        meta,
        logsource: parse_logsource(m)?,
        detection,
    }))
}

fn parse_filter(meta: RuleMeta, m: &Mapping, f: &Yaml) -> Result<FilterDoc, String> {
    let Yaml::Mapping(f) = f else {
        return Err("'filter' must be a map".into());
    };
    let rules = get_str_list(f, "rules")?;
    if rules.is_empty() {
        return Err("'filter' needs 'rules'".into());
    }
    let mut detection = f.clone();
    detection.remove(Yaml::String("rules".into()));
    if get(&detection, "condition").is_none() {
        return Err("'filter' has no 'condition'".into());
    }
    Ok(FilterDoc {
        meta,
        logsource: parse_logsource(m)?,
        rules,
        detection,
    })
}

/// `30s`, `5m`, `1h`, `7d` (also `1w`, `1M`, `1y` as pySigma accepts).
pub fn parse_timespan(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let unit_at = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("timespan '{s}' has no unit"))?;
    let n: u64 = s[..unit_at]
        .parse()
        .map_err(|_| format!("invalid timespan '{s}'"))?;
    let mult = match &s[unit_at..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" => 30 * 86_400,
        "y" => 365 * 86_400,
        other => return Err(format!("invalid timespan unit '{other}' in '{s}'")),
    };
    Ok(n * mult)
}

fn parse_correlation(meta: RuleMeta, c: &Yaml) -> Result<CorrelationDoc, String> {
    let Yaml::Mapping(c) = c else {
        return Err("'correlation' must be a map".into());
    };
    let kind_s = get_str(c, "type")?.ok_or("correlation has no 'type'")?;
    let kind = CorrelationType::parse(&kind_s)
        .ok_or_else(|| format!("unknown correlation type '{kind_s}'"))?;
    let rules = get_str_list(c, "rules")?;
    if rules.is_empty() {
        return Err("correlation has no 'rules'".into());
    }
    let timespan_s = get_str(c, "timespan")?
        .or(get_str(c, "timeframe")?)
        .ok_or("correlation has no 'timespan'")?;
    let timespan = parse_timespan(&timespan_s)?;
    let condition = parse_corr_condition(c, kind)?;
    let aliases = parse_aliases(c)?;
    let generate = matches!(get(c, "generate"), Some(Yaml::Bool(true)));
    Ok(CorrelationDoc {
        meta,
        kind,
        rules,
        group_by: get_str_list(c, "group-by")?,
        timespan,
        condition,
        aliases,
        generate,
    })
}

fn parse_corr_condition(
    c: &Mapping,
    kind: CorrelationType,
) -> Result<CorrelationCondition, String> {
    let mut cond = CorrelationCondition::default();
    match get(c, "condition") {
        None if kind.is_temporal() => {}
        None => return Err("correlation has no 'condition'".into()),
        Some(Yaml::Mapping(m)) => {
            for (k, v) in m {
                let key = k.as_str().ok_or("condition keys must be strings")?;
                if key == "field" {
                    cond.field = match v {
                        Yaml::String(s) => Some(s.clone()),
                        Yaml::Sequence(items) => Some(
                            items
                                .iter()
                                .filter_map(|i| i.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                        _ => return Err("condition 'field' must be a string".into()),
                    };
                    continue;
                }
                let op = match key {
                    "gt" => CmpOp::Gt,
                    "gte" => CmpOp::Gte,
                    "lt" => CmpOp::Lt,
                    "lte" => CmpOp::Lte,
                    "eq" => CmpOp::Eq,
                    "neq" => CmpOp::Neq,
                    other => {
                        return Err(format!("unknown correlation condition operator '{other}'"))
                    }
                };
                let n = v
                    .as_f64()
                    .ok_or_else(|| format!("condition '{key}' needs a number"))?;
                cond.checks.push((op, n));
            }
        }
        Some(other) => {
            return Err(format!(
                "correlation 'condition' must be a map, found {}",
                yaml_kind(other)
            ))
        }
    }
    if kind.needs_field() && cond.field.is_none() {
        return Err("this correlation type needs 'field' in its condition".into());
    }
    if !kind.is_temporal() && cond.checks.is_empty() {
        return Err("correlation condition needs a comparison (gt, gte, lt, lte, eq, neq)".into());
    }
    Ok(cond)
}

fn parse_aliases(c: &Mapping) -> Result<Vec<Alias>, String> {
    let Some(Yaml::Mapping(a)) = get(c, "aliases") else {
        return Ok(Vec::new());
    };
    a.iter()
        .map(|(alias, map)| {
            let alias = alias
                .as_str()
                .ok_or("alias names must be strings")?
                .to_string();
            let Yaml::Mapping(map) = map else {
                return Err(format!("alias '{alias}' must map rule names to fields"));
            };
            let pairs = map
                .iter()
                .map(|(r, f)| match (r.as_str(), f.as_str()) {
                    (Some(r), Some(f)) => Ok((r.to_string(), f.to_string())),
                    _ => Err(format!(
                        "alias '{alias}' must map rule names to field names"
                    )),
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok((alias, pairs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("90m").unwrap(), 5400);
        assert_eq!(parse_timespan("1d").unwrap(), 86400);
        assert!(parse_timespan("5").is_err());
        assert!(parse_timespan("5x").is_err());
    }
}
