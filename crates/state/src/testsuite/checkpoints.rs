//! [`CheckpointStore`](crate::CheckpointStore): values written together
//! survive reopening; a later write replaces a key.

use std::path::Path;

use crate::CheckpointStore;

pub fn checkpoints_survive_reopen<S: CheckpointStore>(open: &dyn Fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let state = open(dir.path());
        assert_eq!(state.get_checkpoint("x").expect("get"), None);
        state
            .put_checkpoints(&[("x", b"1"), ("y", b"2")])
            .expect("put");
        state.put_checkpoints(&[("x", b"3")]).expect("put");
    }
    let state = open(dir.path());
    assert_eq!(
        state.get_checkpoint("x").expect("get").as_deref(),
        Some(&b"3"[..]),
        "survives reopen"
    );
    assert_eq!(
        state.get_checkpoint("y").expect("get").as_deref(),
        Some(&b"2"[..])
    );
}
