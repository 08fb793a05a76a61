//! The streaming EVTX decoder gives the same events as the general one on
//! every record of the regression corpus.

use watchfloor_formats::{windows_event_from_json, windows_event_from_text};
use watchfloor_model::{Event, SourceRef};

fn sorted(e: Event) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = e
        .fields()
        .iter()
        .map(|f| (f.name.to_string(), format!("{:?}", f.value)))
        .collect();
    out.sort();
    out
}

#[test]
fn fast_and_general_paths_agree_on_the_corpus() {
    let Some(corpus) = watchfloor_testkit::corpus("EVTX decoder agreement") else {
        return;
    };
    let mut records = 0;
    let mut fast = 0;
    for file in watchfloor_testkit::evtx_files(&corpus.join("sigma/regression_data")) {
        let mut parser = evtx::EvtxParser::from_path(&file).expect("readable EVTX");
        for r in parser.records_json().flatten() {
            records += 1;
            let doc: serde_json::Value = serde_json::from_str(&r.data).expect("rendered JSON");
            let general =
                windows_event_from_json(&doc, SourceRef::default()).expect("windows event");
            if let Some(e) = windows_event_from_text(&r.data, SourceRef::default()) {
                fast += 1;
                let at = format!("{} record {}", file.display(), r.event_record_id);
                assert_eq!(e.core, general.core, "{at}");
                assert_eq!(sorted(e), sorted(general), "{at}");
            }
        }
    }
    println!("{fast} of {records} records took the fast path");
    assert!(
        records > 200 && fast * 10 >= records * 9,
        "{fast} of {records}"
    );
}
