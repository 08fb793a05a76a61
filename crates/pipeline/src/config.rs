//! `[rules]` and `[pipeline]`: which rules run, the bounds of correlation
//! state, and how often detection and indexing commit.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Rule files or directories (for example a SigmaHQ clone's `rules/`).
    #[schemars(extend("format" = "path-list"))]
    pub paths: Vec<PathBuf>,
    /// Load the rules that ship inside the binary.
    pub starter: bool,
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_correlation_groups: u64,
    #[schemars(range(min = 1, max = 100_000_000))]
    pub max_correlation_entries: u64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            paths: Vec::new(),
            starter: true,
            max_correlation_groups: 100_000,
            max_correlation_entries: 10_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    #[schemars(range(min = 10, max = 600_000))]
    pub commit_interval_ms: u64,
    /// A directory of parser files (`*.yml`) that add to the shipped
    /// parsers or replace one of the same name (see docs/SOURCES.md).
    #[schemars(extend("format" = "path"))]
    pub parsers_dir: Option<std::path::PathBuf>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            commit_interval_ms: 1000,
            parsers_dir: None,
        }
    }
}
