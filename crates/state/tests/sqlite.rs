//! The SQLite backend runs the whole state conformance suite.

use std::path::Path;

use watchfloor_state::SqliteStateStore;

fn sqlite(dir: &Path) -> SqliteStateStore {
    SqliteStateStore::open(&dir.join("state.db")).expect("open state store")
}

watchfloor_state::state_store_test_suite!(sqlite);
