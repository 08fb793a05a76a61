//! The Elasticsearch bulk API as log shippers use it (Filebeat, Winlogbeat,
//! Fluent Bit, Vector, rsyslog's omelasticsearch, the Python client's bulk
//! helper): NDJSON pairs of an action line and a document line.
//!
//! `index` and `create` carry a document and are accepted; `update` and
//! `delete` are refused item by item (the log is append-only), as are
//! documents that are not JSON objects. A malformed action line makes the
//! rest of the body unreadable, so it refuses the whole request, as
//! Elasticsearch does.

use serde_json::{json, Map, Value as Json};

use super::{check_object, ShipperError};

/// What an action line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Index,
    Create,
    Update,
    Delete,
}

impl Op {
    fn from_name(name: &str) -> Option<Op> {
        Some(match name {
            "index" => Op::Index,
            "create" => Op::Create,
            "update" => Op::Update,
            "delete" => Op::Delete,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Index => "index",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// `delete` is the only action without a document line.
    fn has_document(self) -> bool {
        self != Op::Delete
    }
}

/// One action of a bulk body, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkItem {
    pub op: Op,
    pub index: String,
    /// The `_id` the shipper chose, echoed back.
    pub id: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The document's JSON text, and whether it was cut at the size limit.
    Accepted { doc: Vec<u8>, truncated: bool },
    Refused {
        status: u16,
        kind: &'static str,
        reason: String,
    },
}

/// Reads a bulk body. `path_index` is the `{index}` of `/{index}/_bulk`,
/// used when an action names none.
pub fn parse(
    body: &[u8],
    path_index: Option<&str>,
    max_event: usize,
) -> Result<Vec<BulkItem>, ShipperError> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some((line, action)) = lines.next() {
        let (op, meta) = action_line(action, line)?;
        let index = meta
            .get("_index")
            .and_then(Json::as_str)
            .or(path_index)
            .unwrap_or_default()
            .to_string();
        let id = meta.get("_id").map(|v| match v {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        });
        let document = if op.has_document() {
            let Some((_, doc)) = lines.next() else {
                return Err(ShipperError::Malformed(format!(
                    "line {line}: the {} action has no document line after it",
                    op.name()
                )));
            };
            Some(doc)
        } else {
            None
        };
        let outcome = outcome(op, &index, document, max_event);
        items.push(BulkItem {
            op,
            index,
            id,
            outcome,
        });
    }
    if items.is_empty() {
        return Err(ShipperError::Malformed(
            "request body is required (no action in the bulk body)".into(),
        ));
    }
    Ok(items)
}

fn action_line(text: &[u8], line: usize) -> Result<(Op, Map<String, Json>), ShipperError> {
    let malformed = |why: &str| {
        ShipperError::Malformed(format!(
            "line {line}: malformed action/metadata line: {why}"
        ))
    };
    let Ok(Json::Object(action)) = serde_json::from_slice::<Json>(text) else {
        return Err(malformed("expected a JSON object"));
    };
    let mut entries = action.into_iter();
    let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
        return Err(malformed("expected exactly one action"));
    };
    let op = Op::from_name(&name).ok_or_else(|| {
        malformed(&format!(
            "unknown action {name:?} (index, create, update or delete)"
        ))
    })?;
    match meta {
        Json::Object(meta) => Ok((op, meta)),
        _ => Err(malformed("the action's metadata must be an object")),
    }
}

fn outcome(op: Op, index: &str, document: Option<&[u8]>, max_event: usize) -> Outcome {
    let refused = |status, kind, reason: String| Outcome::Refused {
        status,
        kind,
        reason,
    };
    if !matches!(op, Op::Index | Op::Create) {
        return refused(
            400,
            "action_request_validation_exception",
            format!(
                "{} is not supported: the event log is append-only",
                op.name()
            ),
        );
    }
    if !valid_index(index) {
        return refused(
            400,
            "invalid_index_name_exception",
            format!(
                "invalid index name {index:?}: use letters, digits, '.', '_' and '-' (at most 255)"
            ),
        );
    }
    let doc = document.unwrap_or_default();
    match check_object(doc, max_event) {
        Ok(truncated) => Outcome::Accepted {
            doc: doc[..doc.len().min(max_event)].to_vec(),
            truncated,
        },
        Err(why) => refused(400, "document_parsing_exception", why),
    }
}

/// Index names as Elasticsearch allows them, narrowed to what names a
/// source safely (`es:<index>`).
fn valid_index(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['-', '_', '+'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The bulk response: one item per action, in order. Accepted documents
/// get the log sequence numbers `first_id`, `first_id + 1`, ... as `_id`
/// unless the shipper chose one.
pub fn response(items: &[BulkItem], first_id: u64, took_ms: u64) -> Json {
    let mut next = first_id;
    let mut errors = false;
    let rendered: Vec<Json> = items
        .iter()
        .map(|item| {
            let mut body = json!({ "_index": item.index });
            match &item.outcome {
                Outcome::Accepted { .. } => {
                    let id = item.id.clone().unwrap_or_else(|| next.to_string());
                    next += 1;
                    body["_id"] = json!(id);
                    body["_version"] = json!(1);
                    body["result"] = json!("created");
                    body["_shards"] = json!({"total": 1, "successful": 1, "failed": 0});
                    body["status"] = json!(201);
                }
                Outcome::Refused {
                    status,
                    kind,
                    reason,
                } => {
                    errors = true;
                    if let Some(id) = &item.id {
                        body["_id"] = json!(id);
                    }
                    body["status"] = json!(status);
                    body["error"] = json!({"type": kind, "reason": reason});
                }
            }
            json!({ item.op.name(): body })
        })
        .collect();
    json!({"took": took_ms, "errors": errors, "items": rendered})
}

/// Every item refused with the same status (the log is full or failing):
/// shippers retry items answered 429 or 503.
pub fn response_all_refused(items: &[BulkItem], status: u16, reason: &str, took_ms: u64) -> Json {
    let kind = if status == 429 {
        "es_rejected_execution_exception"
    } else {
        "unavailable_shards_exception"
    };
    let refused: Vec<BulkItem> = items
        .iter()
        .map(|item| BulkItem {
            outcome: Outcome::Refused {
                status,
                kind,
                reason: reason.to_string(),
            },
            ..item.clone()
        })
        .collect();
    response(&refused, 0, took_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(item: &BulkItem) -> &[u8] {
        match &item.outcome {
            Outcome::Accepted { doc, .. } => doc,
            other => panic!("refused: {other:?}"),
        }
    }

    #[test]
    fn index_and_create_pairs_are_documents_with_their_index() {
        let body = b"{\"index\":{\"_index\":\"logs\"}}\n{\"message\":\"a\"}\n{\"create\":{}}\n{\"message\":\"b\"}\n";
        let items = parse(body, Some("winlogbeat-8"), 1024).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].index, "logs");
        assert_eq!(items[1].index, "winlogbeat-8");
        assert_eq!(accepted(&items[1]), b"{\"message\":\"b\"}");
        let answer = response(&items, 41, 3);
        assert_eq!(answer["errors"], false);
        assert_eq!(answer["items"][0]["index"]["_id"], "41");
        assert_eq!(answer["items"][1]["create"]["_id"], "42");
        assert_eq!(answer["items"][1]["create"]["status"], 201);
    }

    #[test]
    fn delete_update_and_bad_documents_are_refused_alone() {
        let body = concat!(
            "{\"delete\":{\"_index\":\"logs\",\"_id\":\"7\"}}\n",
            "{\"update\":{\"_index\":\"logs\",\"_id\":\"8\"}}\n{\"doc\":{}}\n",
            "{\"index\":{\"_index\":\"logs\"}}\n[1,2]\n",
            "{\"index\":{\"_index\":\"logs\"}}\n{\"message\":\"kept\"}\n",
            "{\"index\":{\"_index\":\"BAD name\"}}\n{}\n",
        );
        let items = parse(body.as_bytes(), None, 1024).unwrap();
        assert_eq!(items.len(), 5);
        let answer = response(&items, 1, 0);
        assert_eq!(answer["errors"], true);
        assert_eq!(answer["items"][0]["delete"]["status"], 400);
        assert_eq!(answer["items"][0]["delete"]["_id"], "7");
        assert_eq!(answer["items"][1]["update"]["status"], 400);
        assert_eq!(
            answer["items"][2]["index"]["error"]["type"],
            "document_parsing_exception"
        );
        assert_eq!(answer["items"][3]["index"]["_id"], "1");
        assert_eq!(
            answer["items"][4]["index"]["error"]["type"],
            "invalid_index_name_exception"
        );
    }

    #[test]
    fn a_malformed_action_line_refuses_the_request_naming_the_line() {
        for (body, needle) in [
            ("{\"index\":{}}\n{}\nnot json\n{}\n", "line 3"),
            ("{\"index\":{},\"create\":{}}\n{}\n", "exactly one action"),
            ("{\"upsert\":{}}\n{}\n", "unknown action \"upsert\""),
            ("{\"index\":{}}\n", "no document line"),
            ("\n\n", "no action"),
        ] {
            let err = parse(body.as_bytes(), None, 1024).unwrap_err().to_string();
            assert!(err.contains(needle), "{body:?}: {err}");
        }
    }

    #[test]
    fn crlf_and_blank_lines_are_tolerated_and_long_documents_cut() {
        let body = b"\r\n{\"index\":{\"_index\":\"x\"}}\r\n{\"message\":\"0123456789\"}\r\n";
        let items = parse(body, None, 10).unwrap();
        match &items[0].outcome {
            Outcome::Accepted { doc, truncated } => {
                assert!(truncated);
                assert_eq!(doc.len(), 10);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_log_refuses_every_item_with_a_retryable_status() {
        let items = parse(b"{\"index\":{\"_index\":\"x\"}}\n{}\n", None, 100).unwrap();
        let answer = response_all_refused(&items, 429, "saturated", 0);
        assert_eq!(answer["errors"], true);
        assert_eq!(answer["items"][0]["index"]["status"], 429);
    }
}
