//! The embedded stores run the conformance suite.

use std::path::Path;

use watchfloor_store::conformance;
use watchfloor_store::{SqliteStateStore, TantivyEventStore, TantivyOptions};

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

fn sqlite(dir: &Path) -> SqliteStateStore {
    SqliteStateStore::open(&dir.join("state.db")).expect("open state store")
}

#[test]
fn tantivy_search_semantics() {
    conformance::search_semantics(&tantivy);
}

#[test]
fn tantivy_paging_and_time_range() {
    conformance::paging_and_time_range(&tantivy);
}

#[test]
fn tantivy_replay_is_idempotent() {
    conformance::replay_is_idempotent(&tantivy);
}

#[test]
fn tantivy_retention() {
    conformance::retention(&tantivy);
}

#[test]
fn tantivy_small_blocks_search_semantics() {
    conformance::search_semantics(&tantivy_small_blocks);
}

#[test]
fn tantivy_small_blocks_paging_and_time_range() {
    conformance::paging_and_time_range(&tantivy_small_blocks);
}

#[test]
fn tantivy_small_blocks_replay_is_idempotent() {
    conformance::replay_is_idempotent(&tantivy_small_blocks);
}

#[test]
fn sqlite_state_semantics() {
    conformance::state_semantics(&sqlite);
}

#[test]
fn sqlite_incident_semantics() {
    conformance::incident_semantics(&sqlite);
}

#[test]
fn sqlite_access_semantics() {
    conformance::access_semantics(&sqlite);
}

#[test]
fn sqlite_outbox_semantics() {
    conformance::outbox_semantics(&sqlite);
}

#[test]
fn sqlite_check_semantics() {
    conformance::check_semantics(&sqlite);
}
