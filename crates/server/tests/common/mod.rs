//! The server both in-process test files start: `assemble` on a fresh data
//! directory, and the router over it (no socket, no pipeline thread).

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::Router;
use watchfloor_server::api::AppState;
use watchfloor_server::{assemble, Config};

/// The router, the state behind it, and the data directory (kept alive).
#[allow(dead_code)]
pub async fn assembled() -> (Router, Arc<AppState>, tempfile::TempDir) {
    assembled_with(|_, _| {}).await
}

/// Like [`assembled`], with the configuration changed by `change` first.
#[allow(dead_code)]
pub async fn assembled_with(
    change: impl FnOnce(&mut Config, &std::path::Path),
) -> (Router, Arc<AppState>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    change(&mut cfg, dir.path());
    let url: SocketAddr = "127.0.0.1:8080".parse().expect("address");
    let assembled = assemble(&cfg, url, Arc::new(AtomicBool::new(false)))
        .await
        .expect("assemble");
    let router = watchfloor_server::api::router(assembled.app.clone());
    (router, assembled.app, dir)
}
