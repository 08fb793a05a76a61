//! The search language, the configuration file and the event-terms
//! tokenizer of the index, from any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = watchfloor_store::query::parse(&text);
    let _ = watchfloor_server::Config::parse(&text, "fuzz.toml", std::path::Path::new("/nonexistent"));
    let _ = watchfloor_server::timeparse::parse_time(&text, 0);
    watchfloor_store::terms::tokenize(&text, |_, _| {});
});
