//! What arrives from the network, from any bytes: syslog stream framing
//! (split at every position the input suggests), HTTP ingest bodies (plain
//! and as if gzip), log records read back, and the decode to an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_ingest::framing::FrameDecoder;
use watchfloor_ingest::{Kind, RawRecord};

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |b| *b as usize % (data.len() + 1));
    let mut decoder = FrameDecoder::new(64);
    let mut frames = Vec::new();
    decoder.push(&data[..cut], &mut frames);
    decoder.push(&data[cut..], &mut frames);
    decoder.finish(&mut frames);
    for f in &frames {
        assert!(f.bytes.len() <= 64);
    }
    if let Ok(body) = watchfloor_ingest::http_body::decode(data, false, 1 << 20) {
        let _ = watchfloor_ingest::http_body::split(&body, 128);
    }
    let _ = RawRecord::decode(data);
    for kind in [Kind::Syslog, Kind::Json] {
        let raw = RawRecord {
            received_ns: 0,
            kind,
            source: "fuzz".into(),
            tenant: "t".into(),
            peer: String::new(),
            truncated: false,
            body: data.to_vec(),
        };
        let (event, _) = watchfloor_pipeline::decode::decode(1, &raw);
        let _ = watchfloor_pipeline::decode::to_doc(1, &raw, &event);
    }
});
