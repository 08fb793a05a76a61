//! Rule YAML from any text: loaded (or rejected with a reason) and, when it
//! loads, evaluated against a few events of different shapes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use watchfloor_model::{Event, SourceRef, Value};
use watchfloor_sigma::{RuleSetBuilder, RuleSetOptions, Scratch};

fn events() -> Vec<Event> {
    let mut windows = Event::new(SourceRef::default());
    windows.core.windows = true;
    windows.core.channel = Some("Security".into());
    windows.core.event_id = Some(4688);
    windows.push("CommandLine", Value::Str("cmd.exe /c whoami".into()));
    windows.push("EventID", Value::Int(4688));
    let mut plain = Event::new(SourceRef::default());
    plain.push("message", Value::Str("Failed password for root".into()));
    plain.push(
        "list",
        Value::List(vec![Value::Int(1), Value::Null, Value::Bool(true)].into()),
    );
    vec![windows, plain]
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut b = RuleSetBuilder::new(RuleSetOptions::default());
    b.add_yaml(text, "fuzz.yml");
    let set = b.build();
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for e in events() {
        out.clear();
        set.evaluate(&e, &mut scratch, &mut out);
    }
});
