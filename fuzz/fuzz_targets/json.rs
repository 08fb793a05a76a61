//! The JSON splitter and decoder on any bytes: every framing, garbage,
//! truncation and deep nesting end as documents or errors, and every
//! document that parses becomes an event or a clear refusal, by the general
//! decoder and by the streaming EVTX one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_formats::{event_from_json, windows_event_from_text, JsonSplitter, Piece};
use watchfloor_model::SourceRef;

fuzz_target!(|data: &[u8]| {
    let mut splitter = JsonSplitter::new(data).with_limit(4096);
    let mut pieces = 0;
    while let Ok(Some(piece)) = splitter.next_piece() {
        pieces += 1;
        assert!(pieces <= data.len() + 1, "the splitter must make progress");
        if let Piece::Document { bytes, .. } = piece {
            // The streaming EVTX decoder on the same text. (Its agreement
            // with the general path is tested on real records; documents
            // with duplicate keys, which EVTX rendering never makes, may
            // differ.)
            if let Ok(text) = std::str::from_utf8(&bytes) {
                if let Some(fast) = windows_event_from_text(text, SourceRef::default()) {
                    assert!(fast.core.windows);
                }
            }
            if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if let Some(event) = event_from_json(&doc, SourceRef::default()) {
                    let _ = event.to_json_object();
                }
            }
        }
    }
});
