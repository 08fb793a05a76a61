//! Sources that own sockets, the write-ahead log they append to, and the
//! counters that say what happened to every message. Decoding is not done
//! here: records go to the log raw and `formats` decodes them after; only
//! the framing of HTTP bodies into events ([`http_body`]) uses `formats`'
//! JSON splitter.

pub mod config;
pub mod framing;
pub mod http_body;
pub mod metrics;
pub mod record;
pub mod relp;
pub mod shippers;
pub mod syslog;
pub mod tail;
pub mod wal;

pub use config::{FileConfig, FileFormat, StartAt, SyslogConfig, WalConfig};
pub use metrics::IngestMetrics;
pub use record::{Kind, RawRecord};
pub use syslog::{tls_acceptor, tls_acceptor_checking_clients, SyslogOptions};
pub use tail::{PositionStore, TailSpec, Tailer};
pub use wal::{Appender, LsnRange, Wal, WalError, WalOptions, WalReader};
