//! What arrives from the network, from any bytes: syslog stream framing
//! (split at every position the input suggests), HTTP ingest bodies (plain
//! and as if gzip), the shippers' protocols (Elasticsearch bulk, Splunk HEC,
//! OTLP protobuf and JSON, RELP frames), log records read back, and the
//! decode to an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_ingest::framing::FrameDecoder;
use watchfloor_ingest::{Kind, RawRecord};

/// Compiled once: compiling every shipped parser per input would make the
/// fuzzer spend its time in the regex compiler.
fn shipped_parsers() -> &'static watchfloor_formats::parsers::Parsers {
    static PARSERS: std::sync::OnceLock<watchfloor_formats::parsers::Parsers> =
        std::sync::OnceLock::new();
    PARSERS.get_or_init(watchfloor_formats::parsers::Parsers::shipped)
}

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
    shippers(data);
    let parsers = shipped_parsers();
    for kind in [Kind::Syslog, Kind::Json] {
        let raw = RawRecord {
            received_ns: 0,
            kind,
            source: "fuzz".into(),
            tenant: "t".into(),
            peer: "".into(),
            truncated: false,
            body: data.to_vec(),
        };
        let (event, _) = watchfloor_pipeline::decode::decode(1, &raw, parsers);
        let _ = watchfloor_pipeline::decode::to_doc(1, &raw, &event);
    }
});

/// The shippers' readers: never a panic, and what they accept is sane.
fn shippers(data: &[u8]) {
    use watchfloor_ingest::shippers::{es_bulk, hec, otlp};
    if let Ok(items) = es_bulk::parse(data, Some("fuzz"), 256) {
        let answer = es_bulk::response(&items, 1, 0);
        assert_eq!(answer["items"].as_array().map(Vec::len), Some(items.len()));
    }
    let _ = hec::parse_events(data);
    let _ = hec::raw_lines(data);
    for encoding in [otlp::Encoding::Protobuf, otlp::Encoding::Json] {
        if let Ok(request) = otlp::decode(data, encoding) {
            let _ = otlp::documents(&request);
        }
    }
    let mut at = 0;
    while let Ok(Some((_, used))) = watchfloor_ingest::relp::parse_frame(&data[at..]) {
        assert!(used > 0);
        at += used;
    }
}
