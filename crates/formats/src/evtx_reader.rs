use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings};
use watchfloor_model::SourceRef;

use crate::windows::windows_event_from_json;
use crate::{FormatError, Record, RecordError};

/// Streams the records of an EVTX file. The `evtx` crate decodes chunk by
/// chunk (64 KiB each), so memory does not grow with the file.
pub(crate) fn read_evtx(
    path: &Path,
    threads: usize,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> Result<(), FormatError> {
    let settings = ParserSettings::new().num_threads(threads);
    let mut parser = EvtxParser::from_path(path)
        .map_err(|e| FormatError::Evtx {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?
        .with_configuration(settings);
    let label: Arc<str> = path.display().to_string().into();
    for (index, record) in parser.records_json_value().enumerate() {
        let ordinal = index as u64 + 1;
        let item = match record {
            Ok(r) => {
                let source = SourceRef {
                    path: label.clone(),
                    record: r.event_record_id,
                };
                windows_event_from_json(&r.data, source).ok_or_else(|| RecordError {
                    path: label.to_string(),
                    record: r.event_record_id,
                    message: "record has no Event.System element".into(),
                })
            }
            Err(e) => Err(RecordError {
                path: label.to_string(),
                record: ordinal,
                message: e.to_string(),
            }),
        };
        if sink(item).is_break() {
            break;
        }
    }
    Ok(())
}
