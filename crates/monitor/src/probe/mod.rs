//! The probes: one async function per kind of check.

mod dns;
mod http;
mod icmp;
mod tcp;
mod tls;

use std::net::SocketAddr;

use crate::{Check, Outcome, Status};

pub(crate) async fn run(check: &Check) -> Outcome {
    match check {
        Check::Icmp(c) => icmp::run(c).await,
        Check::Tcp(c) => tcp::run(c).await,
        Check::Http(c) => http::run(c).await,
        Check::Tls(c) => tls::run(c).await,
        Check::Dns(c) => dns::run(c).await,
    }
}

/// The first address of `host`, or the CRITICAL outcome that says it
/// does not resolve.
pub(crate) async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Outcome> {
    let failed =
        |why: String| Outcome::new(Status::Critical, format!("{host} does not resolve: {why}"));
    match tokio::net::lookup_host((host, port)).await {
        Ok(mut addrs) => addrs.next().ok_or_else(|| failed("no address".into())),
        Err(e) => Err(failed(e.to_string())),
    }
}
