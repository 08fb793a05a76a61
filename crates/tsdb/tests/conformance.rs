//! The embedded store passes the metric store conformance suite.

use watchfloor_tsdb::{testsuite, DiskStore};

#[test]
fn disk_store_conforms() {
    testsuite::run(|dir, options| DiskStore::open(dir, options).expect("open store"));
}
