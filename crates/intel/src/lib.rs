//! The intel room: threat indicators and what matches them.
//!
//! - [`indicator`]: the kinds (addresses and networks, domains, URLs,
//!   hashes, e-mail addresses), one normal form for each, registrable
//!   domains by the public suffix list;
//! - [`set::IntelSet`]: indicators indexed for matching (a CIDR trie with
//!   an exact-address map, domain suffixes, exact values), re-imports
//!   merged;
//! - [`decay`]: MISP's polynomial decay, restarted by each sighting;
//! - [`warninglist`]: MISP warninglists keep known-benign values from
//!   matching, named in the outcome;
//! - [`stix`]: indicators out of STIX 2.1 bundles; [`lists`]: plain lists
//!   (one value a line, CSV with a column map).
//!
//! - [`fields`]: which event fields hold values indicators name;
//! - [`live::Intel`]: the indicators of every scope (tenants, and the
//!   shared feeds) while `serve` runs, matched against each event;
//! - [`config`]: the `[intel]` section.
//!
//! - [`export`]: blocklists out (text, DNS RPZ, nftables sets, STIX 2.1);
//! - [`retro::RetroSet`]: new indicators looked for in stored events.

pub mod attack;
pub mod config;
pub mod decay;
pub mod domains;
pub mod export;
pub mod feeds;
pub mod fields;
pub mod indicator;
pub mod lists;
pub mod live;
pub mod phishing;
pub mod retro;
pub mod set;
pub mod stix;
pub mod synthetic;
pub mod taxii;
pub mod trie;
pub mod warninglist;

pub use config::IntelConfig;
pub use decay::DecayModel;
pub use indicator::{normalize, Indicator, Kind, Tlp};
pub use live::{Intel, Match, SHARED};
pub use set::{Added, IntelSet, Outcome};
pub use warninglist::Warninglists;
