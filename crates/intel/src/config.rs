//! `[intel]`: live matching, the decay model and the warninglists.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::decay::DecayModel;

const DAY_NS: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct IntelConfig {
    /// Match every event of the live pipeline against the indicators.
    pub enabled: bool,
    /// A directory of MISP warninglists (`lists/*/list.json`, as in the
    /// MISP/misp-warninglists repository): values on them never raise an
    /// alert, and explanations name the list.
    #[schemars(extend("format" = "path"))]
    pub warninglists: Option<PathBuf>,
    /// Decay (MISP's polynomial model): days an indicator lives after its
    /// last sighting.
    #[schemars(range(min = 1, max = 36_600))]
    pub lifetime_days: u64,
    /// Decay speed δ (below 1: holds, then falls fast).
    #[schemars(range(min = 0.01, max = 100.0))]
    pub decay_speed: f64,
    /// Indicators scoring below this (0 to 100) match nothing.
    #[schemars(range(min = 0.0, max = 100.0))]
    pub threshold: f64,
    /// Retro-hunt: indicators that arrive are looked for in the stored
    /// events of this many past days (0: no retro-hunt).
    #[schemars(range(max = 3_660))]
    pub retro_days: u64,
    /// Feeds pulled on a schedule (`[[intel.feeds]]`, docs/INTEL.md).
    pub feeds: Vec<crate::feeds::FeedConfig>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        let d = DecayModel::default();
        IntelConfig {
            enabled: true,
            warninglists: None,
            lifetime_days: (d.lifetime_ns / DAY_NS) as u64,
            decay_speed: d.speed,
            threshold: d.threshold,
            retro_days: 30,
            feeds: Vec::new(),
        }
    }
}

impl IntelConfig {
    /// Problems no single key shows: feeds named twice, URLs that are not.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            if self.feeds[..i].iter().any(|f| f.name == feed.name) {
                out.push(format!(
                    "intel.feeds: the name {:?} is used twice",
                    feed.name
                ));
            }
            match url::Url::parse(&feed.url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => out.push(format!(
                    "intel.feeds {:?}: url {:?} is not an http(s) URL",
                    feed.name, feed.url
                )),
            }
            if feed.kind == crate::feeds::FeedKind::Taxii && feed.collection.is_none() {
                out.push(format!(
                    "intel.feeds {:?}: a TAXII feed needs a collection",
                    feed.name
                ));
            }
        }
        out
    }

    /// The retro-hunt window, in ns (0: none).
    pub fn retro_window_ns(&self) -> i64 {
        (self.retro_days.min(3_660) as i64) * DAY_NS
    }

    pub fn decay(&self) -> DecayModel {
        DecayModel {
            lifetime_ns: (self.lifetime_days.min(36_600) as i64) * DAY_NS,
            speed: self.decay_speed,
            threshold: self.threshold,
        }
    }
}
