//! The HTTP listener: accepts connections (plain or TLS) and hands them to
//! hyper, with the limits that keep one hostile client from starving the
//! rest. Without them, a client that opens thousands of connections and
//! never finishes its request headers holds one file descriptor each until
//! the process has none left, and then the API, the console and syslog over
//! TCP all stop answering.
//!
//! - a header read timeout: a connection that has not sent a whole request
//!   head in time (including an idle keep-alive connection) is closed;
//! - a limit on open connections in total and per client address: past it
//!   a new connection is closed at once, before it costs anything more;
//! - a limit on the size of a request head.
//!
//! Each refusal is counted in `/metrics`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The listener's limits (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers) in bytes.
    pub max_header_bytes: usize,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

/// What the listener counts.
#[derive(Clone, Default)]
pub struct HttpMetrics {
    open: Gauge,
    accepted: Counter,
    refused: Family<Reason, Counter>,
    closed_early: Family<Reason, Counter>,
}

impl HttpMetrics {
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "watchfloor_http_connections_open",
            "HTTP connections open now",
            self.open.clone(),
        );
        r.register(
            "watchfloor_http_connections_accepted",
            "HTTP connections accepted and served",
            self.accepted.clone(),
        );
        r.register(
            "watchfloor_http_connections_refused",
            "HTTP connections closed at accept: over the total limit, over the per-client limit, or the process out of file descriptors",
            self.refused.clone(),
        );
        r.register(
            "watchfloor_http_connections_closed_early",
            "HTTP connections closed by the server before a request completed: header read timeout, TLS handshake failure or timeout, protocol error",
            self.closed_early.clone(),
        );
    }

    fn refuse(&self, reason: &'static str) {
        self.refused.get_or_create(&Reason { reason }).inc();
    }

    fn close_early(&self, reason: &'static str) {
        self.closed_early.get_or_create(&Reason { reason }).inc();
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerClient {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One client's slot; gives it back when the connection ends.
struct ClientSlot {
    table: Arc<PerClient>,
    ip: IpAddr,
}

impl PerClient {
    fn take(table: &Arc<PerClient>, ip: IpAddr, limit: usize) -> Option<ClientSlot> {
        let mut counts = table.counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: table.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// What a connection holds while it is open.
struct Admission {
    _total: OwnedSemaphorePermit,
    _client: ClientSlot,
    open: Gauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then asks every
/// connection to finish and waits up to `drain` for them.
pub async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    limits: ConnectionLimits,
    metrics: HttpMetrics,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let total = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = Arc::new(PerClient::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a transient
                    // error: back off instead of spinning on it.
                    metrics.refuse("accept_error");
                    tracing::warn!("http accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admission) = admit(&total, &per_client, peer, &limits, &metrics) else {
            drop(stream);
            continue;
        };
        let conn = Connection {
            router: router.clone(),
            tls: tls.clone(),
            limits,
            metrics: metrics.clone(),
            stop: stop_rx.clone(),
            peer,
        };
        tokio::spawn(conn.run(stream, admission));
    }
    let _ = stop_tx.send(true);
    let all = limits.max_connections.max(1) as u32;
    let _ = tokio::time::timeout(drain, total.acquire_many(all)).await;
}

fn admit(
    total: &Arc<Semaphore>,
    per_client: &Arc<PerClient>,
    peer: SocketAddr,
    limits: &ConnectionLimits,
    metrics: &HttpMetrics,
) -> Option<Admission> {
    let Ok(permit) = total.clone().try_acquire_owned() else {
        metrics.refuse("total_limit");
        tracing::debug!(
            "http {peer}: refused, {} connections open",
            limits.max_connections
        );
        return None;
    };
    let Some(client) = PerClient::take(per_client, peer.ip(), limits.max_connections_per_client)
    else {
        metrics.refuse("client_limit");
        tracing::debug!("http {peer}: refused, too many connections from this address");
        return None;
    };
    metrics.accepted.inc();
    metrics.open.inc();
    Some(Admission {
        _total: permit,
        _client: client,
        open: metrics.open.clone(),
    })
}

/// One accepted connection.
struct Connection {
    router: axum::Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    metrics: HttpMetrics,
    stop: watch::Receiver<bool>,
    peer: SocketAddr,
}

impl Connection {
    async fn run(self, stream: TcpStream, _admission: Admission) {
        let _ = stream.set_nodelay(true);
        match self.tls.clone() {
            None => self.http(stream).await,
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                match tokio::time::timeout(self.limits.header_read_timeout, handshake).await {
                    Ok(Ok(tls)) => self.http(tls).await,
                    Ok(Err(e)) => {
                        self.metrics.close_early("tls_handshake");
                        tracing::debug!("https {}: handshake: {e}", self.peer);
                    }
                    Err(_) => {
                        self.metrics.close_early("tls_handshake_timeout");
                        tracing::debug!("https {}: handshake timed out", self.peer);
                    }
                }
            }
        }
    }

    async fn http<S>(self, io: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let service = self.router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        );
        let service = hyper_util::service::TowerToHyperService::new(service);
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            .max_buf_size(self.limits.max_header_bytes.max(8192))
            .serve_connection(hyper_util::rt::TokioIo::new(io), service);
        tokio::pin!(conn);
        let mut stop = self.stop.clone();
        let stopping = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let result = tokio::select! {
            r = conn.as_mut() => r,
            () = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = result {
            self.metrics.close_early(early_reason(&e));
            tracing::debug!("http {peer}: {e}");
        }
    }
}

fn early_reason(e: &hyper::Error) -> &'static str {
    if e.is_timeout() {
        "header_timeout"
    } else if e.is_parse_too_large() {
        "header_too_large"
    } else if e.is_parse() {
        "malformed_request"
    } else {
        "connection_error"
    }
}
