//! The tantivy backend runs the event store conformance suite, with blocks
//! of the default size and of two events.

use std::path::Path;

use watchfloor_search::{TantivyEventStore, TantivyOptions};

fn tantivy(dir: &Path) -> TantivyEventStore {
    let options = TantivyOptions {
        writer_memory: 15 << 20,
        ..TantivyOptions::default()
    };
    TantivyEventStore::open(dir, options).expect("open event store")
}

/// Blocks of two events: the suite's events spread over many blocks, so
/// that finding candidate blocks and checking their events both count.
fn tantivy_small_blocks(dir: &Path) -> TantivyEventStore {
    let options = TantivyOptions {
        writer_memory: 15 << 20,
        block_events: 2,
        ..TantivyOptions::default()
    };
    TantivyEventStore::open(dir, options).expect("open event store")
}

mod default_blocks {
    use super::*;
    watchfloor_search::event_store_test_suite!(tantivy);
}

mod blocks_of_two {
    use super::*;
    watchfloor_search::event_store_test_suite!(tantivy_small_blocks);
}
