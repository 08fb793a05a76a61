//! The search language, the configuration file and the terms the index
//! makes of a field, from any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = watchfloor_search::query::parse(&text);
    let _ =
        watchfloor_server::Config::parse(&text, "fuzz.toml", std::path::Path::new("/nonexistent"));
    let _ = watchfloor_server::timeparse::parse_time(&text, 0);
    // The index's terms of a field: the first line names it, the rest is its value.
    let text: &str = &text;
    let (name, value) = text.split_once('\n').unwrap_or(("message", text));
    watchfloor_search::terms::TermBuilder::default().value(name, value, |term, _| {
        assert!(!term.contains('\u{1e}'), "a term holds the block separator");
    });
});
