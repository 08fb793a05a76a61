//! Telemetry into the metric store: the Prometheus text exposition and
//! OpenMetrics parser ([`exposition`]), remote write ([`remote_write`]),
//! JSON push ([`push`]) and scraping ([`scrape`]).

pub mod checks;
pub mod config;
pub mod exposition;
pub mod flows;
pub mod push;
pub mod remote_write;
pub mod rules;
pub mod scrape;
pub mod snmp;
pub mod stores;
pub mod usm;

pub use config::{ScrapeConfig, TelemetryConfig};
pub use stores::Stores;
