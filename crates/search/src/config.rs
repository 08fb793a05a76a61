//! `[store]`: time buckets, retention and the index writer.

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    #[schemars(range(min = 1, max = 8784))]
    pub bucket_hours: u64,
    /// 0 keeps events forever.
    #[schemars(range(min = 0, max = 36_600))]
    pub retention_days: u64,
    /// 0 sets no size limit.
    #[schemars(range(min = 0, max = 9_223_372_036_854_775_807u64))]
    pub max_bytes: u64,
    #[schemars(range(min = 16, max = 65_536))]
    pub writer_memory_mb: u64,
    #[schemars(range(min = 1, max = 64))]
    pub writer_threads: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            bucket_hours: 24,
            retention_days: 30,
            max_bytes: 0,
            writer_memory_mb: 64,
            writer_threads: 2,
        }
    }
}
