//! The wire formats of the log shippers people already run, read into
//! documents for the log: the Elasticsearch bulk API ([`es_bulk`]), Splunk's
//! HTTP Event Collector ([`hec`]) and OTLP logs over HTTP ([`otlp`]). The
//! server's handlers authenticate, call these, and append what they return
//! like any other HTTP source; RELP, a socket protocol, is in
//! [`crate::relp`].

pub mod es_bulk;
pub mod hec;
pub mod otlp;

/// A body that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipperError {
    #[error("{0}")]
    Malformed(String),
}

/// Checks that `doc` is one JSON object without building it. A document
/// longer than `max_event` is not checked: it is kept cut and flagged
/// (`Ok(true)`), like the other sources' long events.
pub(crate) fn check_object(doc: &[u8], max_event: usize) -> Result<bool, String> {
    if doc.len() > max_event {
        return Ok(true);
    }
    let first = doc.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err("the document is not a JSON object".into());
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(doc)
        .map(|_| false)
        .map_err(|e| format!("invalid JSON document: {e}"))
}
