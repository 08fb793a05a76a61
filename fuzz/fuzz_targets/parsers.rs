//! Parsers of common sources: a parser file from any bytes (grok compiler,
//! YAML, samples), and any line through the shipped parsers under each of
//! their programs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_formats::parsers::Parser;
use watchfloor_model::{Event, SourceRef, Value};

const PROGRAMS: [&str; 12] = [
    "sshd",
    "sudo",
    "kernel",
    "su",
    "cron",
    "nginx",
    "apache2",
    "squid",
    "postfix/smtpd",
    "dnsmasq",
    "named",
    "unknown",
];

/// Compiled once: compiling every shipped parser per input would make the
/// fuzzer spend its time in the regex compiler.
fn shipped_parsers() -> &'static watchfloor_formats::parsers::Parsers {
    static PARSERS: std::sync::OnceLock<watchfloor_formats::parsers::Parsers> =
        std::sync::OnceLock::new();
    PARSERS.get_or_init(watchfloor_formats::parsers::Parsers::shipped)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    if first & 1 == 0 {
        let _ = Parser::from_yaml(&text);
        return;
    }
    let parsers = shipped_parsers();
    let mut event = Event::new(SourceRef::default());
    event.push("message", Value::Str(text.as_ref().into()));
    event.core.provider = Some(PROGRAMS[(first as usize >> 1) % PROGRAMS.len()].into());
    let _ = parsers.apply(&mut event);
    for f in event.fields() {
        let _ = f.value.as_text();
    }
});
