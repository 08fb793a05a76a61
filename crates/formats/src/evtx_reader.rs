use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings, SerializedEvtxRecord};
use watchfloor_model::SourceRef;

use crate::windows::windows_event_from_json;
use crate::windows_text::windows_event_from_text;
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
    let mut ordinal = 0;
    if emit_records(parser.records_json(), &label, &mut ordinal, sink).is_break() {
        return Ok(());
    }
    read_truncated_tail(path, &label, &mut ordinal, sink);
    Ok(())
}

const FILE_HEADER: usize = 4096;
const CHUNK: usize = 65536;

/// A file cut inside a chunk (a copy taken while the log was written, a
/// partial download): the `evtx` crate skips the incomplete chunk, so its
/// records are read here from a zero-padded copy, up to the cut. The cut
/// itself is reported as an error naming the chunk.
fn read_truncated_tail(
    path: &Path,
    label: &Arc<str>,
    ordinal: &mut u64,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) {
    let Ok(size) = std::fs::metadata(path).map(|m| m.len() as usize) else {
        return;
    };
    let tail = size.saturating_sub(FILE_HEADER) % CHUNK;
    if size <= FILE_HEADER || tail == 0 {
        return;
    }
    let chunk = (size - FILE_HEADER) / CHUNK;
    let cut = RecordError {
        path: label.to_string(),
        record: *ordinal + 1,
        message: format!(
            "file ends {tail} bytes into chunk {chunk} (of {CHUNK}): records after the cut are lost"
        ),
    };
    if sink(Err(cut)).is_break() {
        return;
    }
    let Some(padded) = padded_tail(path, size - tail, tail) else {
        return;
    };
    if let Ok(parser) = EvtxParser::from_buffer(padded) {
        let mut parser = parser.with_configuration(ParserSettings::new().num_threads(1));
        let _ = emit_records(parser.records_json(), label, ordinal, sink);
    }
}

/// The file header followed by the incomplete chunk, padded with zeros.
fn padded_tail(path: &Path, offset: usize, len: usize) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; FILE_HEADER + CHUNK];
    file.read_exact(&mut buf[..FILE_HEADER]).ok()?;
    file.seek(SeekFrom::Start(offset as u64)).ok()?;
    file.read_exact(&mut buf[FILE_HEADER..FILE_HEADER + len])
        .ok()?;
    Some(buf)
}

/// The event of one rendered record: the streaming path, or (for shapes it
/// leaves alone) the general one, which also names what is wrong.
fn record_event(text: &str, label: &Arc<str>, record: u64) -> Record {
    let source = SourceRef {
        path: label.clone(),
        record,
    };
    if let Some(event) = windows_event_from_text(text, source.clone()) {
        return Ok(event);
    }
    let error = |message: String| RecordError {
        path: label.to_string(),
        record,
        message,
    };
    let doc: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| error(format!("record rendered as invalid JSON: {e}")))?;
    windows_event_from_json(&doc, source)
        .ok_or_else(|| error("record has no Event.System element".into()))
}

/// Sends every record to `sink`; errors carry the ordinal.
fn emit_records(
    records: impl Iterator<Item = evtx::err::Result<SerializedEvtxRecord<String>>>,
    label: &Arc<str>,
    ordinal: &mut u64,
    sink: &mut dyn FnMut(Record) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for record in records {
        *ordinal += 1;
        let item = match record {
            Ok(r) => record_event(&r.data, label, r.event_record_id),
            Err(e) => Err(RecordError {
                path: label.to_string(),
                record: *ordinal,
                message: e.to_string(),
            }),
        };
        sink(item)?;
    }
    ControlFlow::Continue(())
}
