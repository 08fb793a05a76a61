//! Checkpoints: small named values written together in one transaction
//! (the pipeline's log positions and the correlation state saved with them).

use crate::Result;

/// Named checkpoints.
pub trait CheckpointStore: Send + Sync {
    fn get_checkpoint(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Writes several keys in one transaction.
    fn put_checkpoints(&self, entries: &[(&str, &[u8])]) -> Result<()>;
}
