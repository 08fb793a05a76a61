//! Watchfloor's data model.
//!
//! An [`Event`] is one log record: its original fields, flattened to dotted
//! paths (`Event.EventData.Image` style nesting becomes reachable by path),
//! plus a few typed core attributes ([`Core`]) that every part of the
//! pipeline needs without re-parsing: time, host, channel, provider, event id,
//! tenant and where the record came from.
//!
//! The type is built for the detection hot path: fields live in one flat
//! vector (records carry a few dozen fields, where a linear scan over
//! short keys beats hashing), values are stored once, and numbers are kept
//! as numbers so an `EventID: 4688` comparison needs no formatting.
//!
//! An [`Alert`] is what any detector emits, with its [`Severity`],
//! [`AlertKind`] and [`Domain`]; incidents ([`incident`]) group alerts.
//! [`Clock`] is the one notion of "now" the domain crates share.

pub mod alert;
pub mod clock;
mod event;
pub mod incident;
pub mod indicator;
mod sample;
mod text;
mod time;
mod value;

pub use alert::{Alert, AlertKind, Indicators, Severity, UnknownSeverity};
pub use clock::{now_ns, Clock, ManualClock, SystemClock};
pub use event::{Core, Event, Field, Name, SourceRef};
pub use incident::Domain;
pub use indicator::{Indicator, IndicatorKind, Tlp};
pub use sample::CheckSample;
pub use text::Text;
pub use time::{format_rfc3339, parse_timestamp};
pub use value::{Value, ValueStr};
