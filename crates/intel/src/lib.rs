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
//! Live matching in the pipeline, feeds (TAXII, MISP), the TAXII server,
//! exports, the ATT&CK table and the API and console pages build on this
//! (issue 17).

pub mod decay;
pub mod domains;
pub mod indicator;
pub mod lists;
pub mod set;
pub mod stix;
pub mod trie;
pub mod warninglist;

pub use decay::DecayModel;
pub use indicator::{normalize, Indicator, Kind, Tlp};
pub use set::{Added, IntelSet, Outcome};
pub use warninglist::Warninglists;
