//! The Windows event shape: `Event.System` / `Event.EventData` as written by
//! the `evtx` crate and by EVTX-to-JSON exports, flattened to the field
//! names Sigma rules use (`EventID`, `Channel`, `Provider_Name`, `Image`).

use serde_json::{Map, Value as Json};
use watchfloor_model::{parse_timestamp, Event, SourceRef, Value};

const ATTRS: &str = "#attributes";
const TEXT: &str = "#text";

/// Builds an event from a document whose top level holds `Event` with a
/// `System` object. Returns `None` when the document has another shape.
pub fn windows_event_from_json(doc: &Json, source: SourceRef) -> Option<Event> {
    let event = doc.get("Event")?.as_object()?;
    let system = event.get("System")?.as_object()?;
    let mut e = Event::new(source);
    e.core.windows = true;
    push_system(&mut e, system);
    for (key, value) in event {
        match key.as_str() {
            "System" | ATTRS => {}
            "EventData" => push_event_data(&mut e, value),
            "UserData" => push_user_data(&mut e, value),
            other => e.flatten_json(other, value),
        }
    }
    fill_windows_core(&mut e);
    Some(e)
}

/// System children become `Name` or `Name_Attribute` (Sigma's convention:
/// `Provider_Name`, `Execution_ProcessID`, `Security_UserID`).
fn push_system(e: &mut Event, system: &Map<String, Json>) {
    for (key, value) in system {
        match value {
            Json::Object(obj) => {
                if let Some(text) = obj.get(TEXT) {
                    e.push(key.as_str(), Value::from_json_scalar(text));
                }
                if let Some(Json::Object(attrs)) = obj.get(ATTRS) {
                    for (attr, v) in attrs {
                        e.push(format!("{key}_{attr}"), Value::from_json_scalar(v));
                    }
                }
                for (child, v) in obj.iter().filter(|(k, _)| *k != ATTRS && *k != TEXT) {
                    e.flatten_json(&format!("{key}_{child}"), v);
                }
            }
            scalar => e.push(key.as_str(), Value::from_json_scalar(scalar)),
        }
    }
}

fn push_event_data(e: &mut Event, data: &Json) {
    let Json::Object(fields) = data else {
        if !data.is_null() {
            e.push("EventData", Value::from_json_scalar(data));
        }
        return;
    };
    for (key, value) in fields {
        if key == ATTRS {
            continue;
        }
        push_data_value(e, key, value);
    }
}

/// Data names with spaces (Defender's `Threat Name`) are stored without
/// them, the form the Sigma specification prescribes for field names.
fn push_data_value(e: &mut Event, key: &str, value: &Json) {
    let stripped;
    let key = if key.contains(' ') {
        stripped = key.replace(' ', "");
        stripped.as_str()
    } else {
        key
    };
    match value {
        Json::Object(obj) => match obj.get(TEXT) {
            Some(text) => e.push(key, Value::from_json_scalar(text)),
            None => e.flatten_json(key, value),
        },
        other => e.push(key, Value::from_json_scalar(other)),
    }
}

/// UserData holds one provider-specific element; its children are named by
/// their leaf name, as rules reference them.
fn push_user_data(e: &mut Event, data: &Json) {
    let Json::Object(outer) = data else { return };
    for (_, inner) in outer.iter().filter(|(k, _)| *k != ATTRS) {
        match inner {
            Json::Object(fields) => {
                for (key, value) in fields.iter().filter(|(k, _)| *k != ATTRS) {
                    push_data_value(e, key, value);
                }
            }
            other => e.push("UserData", Value::from_json_scalar(other)),
        }
    }
}

/// Derives the typed core attributes from the flattened Windows fields.
pub(crate) fn fill_windows_core(e: &mut Event) {
    e.core.channel = e.first_text(&["Channel"]);
    e.core.provider = e.first_text(&["Provider_Name", "SourceName"]);
    e.core.host = e.first_text(&["Computer", "Hostname", "ComputerName"]);
    e.core.event_id = e.get("EventID").and_then(Value::as_f64).map(|f| f as u32);
    e.core.timestamp = e
        .first_text(&[
            "TimeCreated_SystemTime",
            "@timestamp",
            "TimeCreated",
            "EventTime",
            "UtcTime",
        ])
        .and_then(|t| parse_timestamp(&t));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Json {
        json!({"Event": {
            "#attributes": {"xmlns": "x"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
                "EventID": 1,
                "TimeCreated": {"#attributes": {"SystemTime": "2025-11-26T05:11:27.927693Z"}},
                "EventRecordID": 142649,
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "ws1",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": {"Image": "C:\\a.exe", "ProcessId": 10, "Empty": null, "Threat Name": "EICAR"}
        }})
    }

    #[test]
    fn system_and_event_data_are_named_as_sigma_expects() {
        let e = windows_event_from_json(&sample(), SourceRef::default()).unwrap();
        assert_eq!(e.get("EventID"), Some(&Value::Int(1)));
        assert_eq!(
            e.get("Provider_Name"),
            Some(&Value::Str("Microsoft-Windows-Sysmon".into()))
        );
        assert_eq!(
            e.get("Security_UserID"),
            Some(&Value::Str("S-1-5-18".into()))
        );
        assert_eq!(e.get("Image"), Some(&Value::Str("C:\\a.exe".into())));
        assert_eq!(e.get("Empty"), Some(&Value::Null));
        assert_eq!(e.get("ThreatName"), Some(&Value::Str("EICAR".into())));
        assert_eq!(e.core.event_id, Some(1));
        assert_eq!(e.core.host.as_deref(), Some("ws1"));
        assert_eq!(
            e.core.channel.as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert!(e.core.timestamp.is_some());
    }

    #[test]
    fn event_id_with_qualifiers_keeps_its_text() {
        let doc = json!({"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045}, "Channel": "System"},
            "UserData": {"LogFileCleared": {"SubjectUserName": "bob"}}}});
        let e = windows_event_from_json(&doc, SourceRef::default()).unwrap();
        assert_eq!(e.core.event_id, Some(7045));
        assert_eq!(e.get("EventID_Qualifiers"), Some(&Value::Int(16384)));
        assert_eq!(e.get("SubjectUserName"), Some(&Value::Str("bob".into())));
    }

    #[test]
    fn other_shapes_are_not_windows() {
        assert!(windows_event_from_json(&json!({"a": 1}), SourceRef::default()).is_none());
    }
}
