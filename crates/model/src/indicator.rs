//! Threat indicators as every room sees them: the intel room matches and
//! imports them (normalising values), the state store keeps them, the API
//! shows them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an indicator's value is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum IndicatorKind {
    /// An IPv4 or IPv6 address or network (a single address is a /32 or /128).
    Ip,
    /// A domain and every name under it.
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

impl IndicatorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Domain => "domain",
            IndicatorKind::Url => "url",
            IndicatorKind::Md5 => "md5",
            IndicatorKind::Sha1 => "sha1",
            IndicatorKind::Sha256 => "sha256",
            IndicatorKind::Email => "email",
        }
    }
}

/// The Traffic Light Protocol label of an indicator (FIRST TLP 2.0),
/// ordered from the least to the most restricted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Tlp {
    Clear,
    Green,
    #[default]
    Amber,
    AmberStrict,
    Red,
}

/// One indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Indicator {
    pub kind: IndicatorKind,
    /// The value in its normal form (the intel crate's `normalize`).
    pub value: String,
    /// The feed or person it came from.
    pub source: String,
    /// 0 to 100, as STIX and MISP say it.
    pub confidence: u8,
    pub tlp: Tlp,
    #[serde(default)]
    pub labels: Vec<String>,
    /// Nanoseconds since the epoch.
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    /// Past this it no longer matches (`None`: until it decays away).
    #[serde(default)]
    pub valid_until_ns: Option<i64>,
    #[serde(default)]
    pub sightings: u64,
}

impl IndicatorKind {
    pub const ALL: [IndicatorKind; 7] = [
        IndicatorKind::Ip,
        IndicatorKind::Domain,
        IndicatorKind::Url,
        IndicatorKind::Md5,
        IndicatorKind::Sha1,
        IndicatorKind::Sha256,
        IndicatorKind::Email,
    ];
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IndicatorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IndicatorKind::ALL
            .into_iter()
            .find(|k| s.eq_ignore_ascii_case(k.as_str()))
            .ok_or_else(|| {
                format!("unknown indicator kind {s:?}: expected ip, domain, url, md5, sha1, sha256 or email")
            })
    }
}

impl Tlp {
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber-strict",
            Tlp::Red => "red",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = String;

    /// `amber+strict` (TLP 2.0's spelling) and `white` (TLP 1.0's clear)
    /// are read too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s
            .trim()
            .trim_start_matches("tlp:")
            .trim_start_matches("TLP:");
        if s.eq_ignore_ascii_case("white") {
            return Ok(Tlp::Clear);
        }
        let s = s.replace('+', "-");
        Tlp::ALL
            .into_iter()
            .find(|t| s.eq_ignore_ascii_case(t.as_str()))
            .ok_or_else(|| {
                format!("unknown TLP {s:?}: expected clear, green, amber, amber-strict or red")
            })
    }
}
