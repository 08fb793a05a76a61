//! TCP connect.

use std::time::Instant;

use tokio::net::TcpStream;

use crate::{Outcome, Status, TcpCheck};

pub(crate) async fn run(c: &TcpCheck) -> Outcome {
    let addr = match super::resolve(&c.host, c.port).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let start = Instant::now();
    match TcpStream::connect(addr).await {
        Ok(_) => Outcome::new(Status::Ok, format!("{addr} accepted the connection")).with_latency(
            start.elapsed(),
            c.warn_ms,
            c.crit_ms,
        ),
        Err(e) => Outcome::new(Status::Critical, format!("{addr}: {e}")),
    }
}
