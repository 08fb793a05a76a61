//! Parsers of common sources: a parser file from any bytes (grok compiler,
//! YAML, samples), and any line through the shipped parsers under each of
//! their programs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_formats::parsers::{Parser, Parsers};
use watchfloor_model::{Event, SourceRef, Value};

const PROGRAMS: [&str; 12] = [
    "sshd", "sudo", "kernel", "su", "cron", "nginx", "apache2", "squid", "postfix/smtpd",
    "dnsmasq", "named", "unknown",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if first & 1 == 0 {
        let _ = Parser::from_yaml(&text);
        return;
    }
    let parsers = Parsers::shipped();
    let mut event = Event::new(SourceRef::default());
    event.push("message", Value::Str(text.as_ref().into()));
    event.core.provider = Some(PROGRAMS[(first as usize >> 1) % PROGRAMS.len()].into());
    let _ = parsers.apply(&mut event);
    for f in event.fields() {
        let _ = f.value.as_text();
    }
});
