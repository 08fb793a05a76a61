//! Syslog (RFC 5424 and 3164, CEF inside) from any bytes, decoded the way
//! the file reader does it, all the way to an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_formats::{parse_cef, parse_syslog_line, syslog_event};
use watchfloor_model::SourceRef;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(msg) = parse_syslog_line(&text) {
        let event = syslog_event(&msg, SourceRef::default());
        for f in event.fields() {
            let _ = f.value.as_text();
        }
    }
    let _ = parse_cef(&text);
});
