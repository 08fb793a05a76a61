//! The append-only, hash-chained timeline. Each entry's hash covers its
//! content and the previous entry's hash; the incident keeps the head, so
//! a changed, removed, reordered or truncated entry breaks verification.

use sha2::{Digest, Sha256};
use watchfloor_model::incident::{Incident, TimelineEntry};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Something to record: the chain position and hash are added by [`chain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub time_ns: i64,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

impl Draft {
    pub fn new(time_ns: i64, actor: &str, action: &str, detail: serde_json::Value) -> Draft {
        Draft {
            time_ns,
            actor: actor.into(),
            action: action.into(),
            detail,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The hash of one entry: every field, length-prefixed so no two
/// different entries hash the same input.
pub fn entry_hash(e: &TimelineEntry) -> String {
    let detail = e.detail.to_string();
    let mut h = Sha256::new();
    h.update(b"watchfloor-timeline-v1\0");
    h.update(e.incident_id.to_le_bytes());
    h.update(e.seq.to_le_bytes());
    h.update(e.time_ns.to_le_bytes());
    for part in [
        e.actor.as_str(),
        e.action.as_str(),
        detail.as_str(),
        e.prev_hash.as_str(),
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Chains drafts onto the incident's timeline head and moves the head.
pub fn chain(incident: &mut Incident, drafts: Vec<Draft>) -> Vec<TimelineEntry> {
    let mut out = Vec::with_capacity(drafts.len());
    for d in drafts {
        let prev_hash = if incident.timeline_seq == 0 {
            GENESIS.to_string()
        } else {
            incident.timeline_hash.clone()
        };
        let mut entry = TimelineEntry {
            incident_id: incident.id,
            seq: incident.timeline_seq + 1,
            time_ns: d.time_ns,
            actor: d.actor,
            action: d.action,
            detail: d.detail,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry);
        incident.timeline_seq = entry.seq;
        incident.timeline_hash.clone_from(&entry.hash);
        out.push(entry);
    }
    out
}

/// Where a timeline stops verifying.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainBreak {
    /// The first entry that does not verify (or the missing one).
    pub seq: i64,
    pub reason: String,
}

/// Checks every entry in order, then that the last one is the head the
/// incident recorded.
pub fn verify(incident: &Incident, entries: &[TimelineEntry]) -> Result<(), ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let seq = i as i64 + 1;
        let broken = |reason: String| Err(ChainBreak { seq, reason });
        if e.seq != seq {
            return broken(format!(
                "entry {seq} is missing (found {} in its place)",
                e.seq
            ));
        }
        if e.incident_id != incident.id {
            return broken(format!("entry {seq} belongs to incident {}", e.incident_id));
        }
        if e.prev_hash != prev {
            return broken(format!("entry {seq} does not follow entry {}", seq - 1));
        }
        if entry_hash(e) != e.hash {
            return broken(format!("entry {seq} was changed after it was written"));
        }
        prev.clone_from(&e.hash);
    }
    let last = entries.len() as i64;
    if last != incident.timeline_seq || (last > 0 && prev != incident.timeline_hash) {
        return Err(ChainBreak {
            seq: last + 1,
            reason: format!(
                "the timeline ends at entry {last} but the incident recorded {} entries",
                incident.timeline_seq
            ),
        });
    }
    Ok(())
}
