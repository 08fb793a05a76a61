//! `events.search`: who did something, from the stored events: the query
//! (search syntax) over the last `since` (7 days by default), and the
//! distinct values of the `collect` fields (`user.name`, `source.ip`, ...)
//! of the matching events, for the next steps to loop over.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{show, string, strings, Call, Host};

pub fn run(host: &dyn Host, input: &Value, call: &Call<'_>) -> Result<Value, String> {
    let query = string(input, "query")?;
    let since = match input.get("since").filter(|v| !v.is_null()) {
        Some(v) => {
            humantime::parse_duration(&show(v)).map_err(|e| format!("`since` {}: {e}", show(v)))?
        }
        None => std::time::Duration::from_secs(7 * 86_400),
    };
    let limit = match input.get("limit").filter(|v| !v.is_null()) {
        Some(v) => show(v)
            .parse::<usize>()
            .map_err(|_| format!("`limit` {}: a whole number", show(v)))?
            .clamp(1, 100_000),
        None => 10_000,
    };
    let collect = match input.get("collect") {
        None | Some(Value::Null) => vec!["user.name".to_string(), "source.ip".to_string()],
        Some(_) => strings(input, "collect")?,
    };
    let from_ns = watchfloor_model::now_ns()
        .saturating_sub(i64::try_from(since.as_nanos()).unwrap_or(i64::MAX));
    let events = host.search(call, &query, from_ns, limit)?;
    let mut values = serde_json::Map::new();
    for field in &collect {
        let distinct: BTreeSet<String> = events
            .iter()
            .filter_map(|e| e.get(field))
            .map(show)
            .filter(|v| !v.is_empty())
            .collect();
        values.insert(field.clone(), json!(distinct));
    }
    Ok(json!({
        "query": query,
        "count": events.len(),
        "values": values,
        "events": events.iter().take(20).collect::<Vec<_>>(),
    }))
}
