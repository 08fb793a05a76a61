//! Syslog receivers: UDP (one message per datagram), TCP and TLS (RFC 6587
//! framing). TCP and TLS acknowledge by reading on: a connection's next
//! read waits until its previous frames are durable, so a full log slows
//! senders through TCP flow control instead of losing their messages.
//! UDP cannot push back; what it cannot queue is counted as dropped.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::framing::{Frame, FrameDecoder};
use crate::metrics::{source, IngestMetrics};
use watchfloor_model::now_ns;

use crate::record::{Kind, RawRecord};
use crate::wal::Appender;

/// Limits and labels shared by the syslog receivers.
#[derive(Debug, Clone)]
pub struct SyslogOptions {
    pub tenant: String,
    /// Messages longer than this are cut and flagged.
    pub max_message: usize,
    /// A quiet connection is closed after this long.
    pub idle_timeout: Duration,
    /// A frame must arrive whole within this long once begun (slow senders
    /// cannot hold a connection open a byte at a time).
    pub frame_timeout: Duration,
    pub handshake_timeout: Duration,
    pub max_connections: usize,
}

impl Default for SyslogOptions {
    fn default() -> Self {
        SyslogOptions {
            tenant: "default".into(),
            max_message: 64 * 1024,
            idle_timeout: Duration::from_secs(3600),
            frame_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// TLS set-up errors, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// A TLS acceptor from a PEM certificate chain and private key.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    tls_acceptor_checking_clients(cert, key, None)
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::File {
            path: path.display().to_string(),
            message: "no certificate in the file".into(),
        });
    }
    Ok(certs)
}

/// A TLS acceptor that, given `client_ca`, accepts only clients presenting
/// a certificate signed by one of its CAs (mutual TLS: a forwarder proves
/// who it is, as rsyslog's `tls.authMode` and syslog-ng's `peer-verify`
/// expect).
pub fn tls_acceptor_checking_clients(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs(cert)?;
    let key_pem = read_pem(key)?;
    let private = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| TlsError::File {
            path: key.display().to_string(),
            message: e.to_string(),
        })?
        .ok_or_else(|| TlsError::File {
            path: key.display().to_string(),
            message: "no private key in the file".into(),
        })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|e| TlsError::File {
                        path: ca.display().to_string(),
                        message: e.to_string(),
                    })?;
            builder.with_client_cert_verifier(verifier)
        }
    }
    .with_single_cert(certs, private)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The labels of a stream's records, made once a connection (a listener,
/// for UDP: its peer's label is made again when the sender changes), which
/// every record shares instead of allocating its own.
struct Origin {
    source: Arc<str>,
    tenant: Arc<str>,
    peer_ip: Option<IpAddr>,
    peer: Arc<str>,
}

impl Origin {
    fn new(source: &str, opts: &SyslogOptions, peer: Option<SocketAddr>) -> Origin {
        let peer_ip = peer.map(|p| p.ip());
        Origin {
            source: source.into(),
            tenant: opts.tenant.as_str().into(),
            peer_ip,
            peer: peer_ip.map(|ip| ip.to_string()).unwrap_or_default().into(),
        }
    }

    /// The origin of a datagram from `peer`.
    fn sent_by(&mut self, peer: SocketAddr) -> &Origin {
        if self.peer_ip != Some(peer.ip()) {
            self.peer_ip = Some(peer.ip());
            self.peer = peer.ip().to_string().into();
        }
        self
    }

    fn record(&self, frame: Frame) -> RawRecord {
        RawRecord {
            received_ns: now_ns(),
            kind: Kind::Syslog,
            source: self.source.clone(),
            tenant: self.tenant.clone(),
            peer: self.peer.clone(),
            truncated: frame.truncated,
            body: frame.bytes,
        }
    }
}

/// A UDP socket with a large receive buffer (bursts queue in the kernel).
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let sock = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = sock.set_recv_buffer_size(8 << 20);
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    UdpSocket::from_std(sock.into())
}

/// Receives datagrams until the socket fails.
pub async fn serve_udp(
    socket: UdpSocket,
    appender: Appender,
    metrics: Arc<IngestMetrics>,
    opts: Arc<SyslogOptions>,
) -> std::io::Result<()> {
    const NAME: &str = "syslog-udp";
    let mut buf = vec![0u8; 65_536];
    let mut origin = Origin::new(NAME, &opts, None);
    loop {
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        let mut take = |buf: &[u8], n: usize, peer: SocketAddr| {
            let keep = n.min(opts.max_message);
            let frame = Frame {
                bytes: buf[..keep].to_vec(),
                truncated: keep < n,
            };
            origin.sent_by(peer).record(frame)
        };
        let (n, peer) = socket.recv_from(&mut buf).await?;
        bytes += n as u64;
        batch.push(take(&buf, n, peer));
        while batch.len() < 1024 {
            match socket.try_recv_from(&mut buf) {
                Ok((n, peer)) => {
                    bytes += n as u64;
                    batch.push(take(&buf, n, peer));
                }
                Err(_) => break,
            }
        }
        let count = batch.len() as u64;
        let truncated = batch.iter().filter(|r| r.truncated).count() as u64;
        metrics.count_batch(NAME, count, bytes, truncated);
        match appender.try_append(batch) {
            // UDP has no acknowledgement: the ack is not awaited.
            Ok(_ack) => {}
            Err(e) => {
                metrics.drop_messages(NAME, "backpressure", count);
                tracing::debug!("syslog-udp: {count} messages dropped: {e}");
            }
        }
    }
}

/// Accepts stream connections (TCP, or TLS when `tls` is given).
pub async fn serve_stream(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    appender: Appender,
    metrics: Arc<IngestMetrics>,
    opts: Arc<SyslogOptions>,
) -> std::io::Result<()> {
    let name: &'static str = if tls.is_some() {
        "syslog-tls"
    } else {
        "syslog-tcp"
    };
    let conns = Acceptor {
        name,
        tls,
        appender,
        metrics,
        opts,
    };
    conns
        .run(listener, |stream, conn| async move {
            conn.read_frames(stream).await
        })
        .await
}

/// A byte stream a connection handler reads and writes: TCP or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Accepts stream connections for a socket source: at most
/// `max_connections` at once (the others are refused and counted), each
/// through the TLS handshake when there is an acceptor, each handled on
/// its own task.
pub(crate) struct Acceptor {
    pub name: &'static str,
    pub tls: Option<TlsAcceptor>,
    pub appender: Appender,
    pub metrics: Arc<IngestMetrics>,
    pub opts: Arc<SyslogOptions>,
}

impl Acceptor {
    pub async fn run<F, Fut>(self, listener: TcpListener, handle: F) -> std::io::Result<()>
    where
        F: Fn(Box<dyn Stream>, Connection) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let name = self.name;
        let slots = Arc::new(Semaphore::new(self.opts.max_connections.max(1)));
        let (this, handle) = (Arc::new(self), Arc::new(handle));
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!("{name}: accept: {e}");
                    this.metrics.reject(name, "accept_error");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                this.metrics.reject(name, "too_many_connections");
                tracing::warn!(
                    "{name}: {peer}: refused, {} connections open",
                    this.opts.max_connections
                );
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (this, handle) = (this.clone(), handle.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let gauge = this
                    .metrics
                    .connections
                    .get_or_create(&source(name))
                    .clone();
                gauge.inc();
                if let Some(s) = this.handshake(stream, peer).await {
                    let conn = Connection {
                        name,
                        peer,
                        appender: this.appender.clone(),
                        metrics: this.metrics.clone(),
                        opts: this.opts.clone(),
                    };
                    handle(s, conn).await;
                }
                gauge.dec();
            });
        }
    }

    async fn handshake(&self, stream: TcpStream, peer: SocketAddr) -> Option<Box<dyn Stream>> {
        let name = self.name;
        let Some(acceptor) = &self.tls else {
            return Some(Box::new(stream));
        };
        match tokio::time::timeout(self.opts.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(s)) => Some(Box::new(s)),
            Ok(Err(e)) => {
                self.metrics.reject(name, "tls_handshake");
                tracing::info!("{name}: {peer}: TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                self.metrics.reject(name, "handshake_timeout");
                tracing::info!("{name}: {peer}: TLS handshake timed out");
                None
            }
        }
    }
}

/// One accepted connection of a socket source: what its handler needs to
/// count and store what the sender sends.
pub(crate) struct Connection {
    pub name: &'static str,
    pub peer: SocketAddr,
    pub appender: Appender,
    pub metrics: Arc<IngestMetrics>,
    pub opts: Arc<SyslogOptions>,
}

impl Connection {
    async fn read_frames<S: AsyncRead + Unpin>(&self, mut stream: S) {
        let origin = Origin::new(self.name, &self.opts, Some(self.peer));
        let mut decoder = FrameDecoder::new(self.opts.max_message);
        let mut buf = vec![0u8; 64 * 1024];
        let mut frames = Vec::new();
        let mut frame_started: Option<Instant> = None;
        loop {
            let limit = match frame_started {
                Some(t) => self.opts.frame_timeout.saturating_sub(t.elapsed()),
                None => self.opts.idle_timeout,
            };
            let n = match tokio::time::timeout(limit, stream.read(&mut buf)).await {
                Err(_) => {
                    let reason = if frame_started.is_some() {
                        "frame_timeout"
                    } else {
                        "idle_timeout"
                    };
                    self.metrics.reject(self.name, reason);
                    tracing::info!("{}: {}: closed ({reason})", self.name, self.peer);
                    decoder.finish(&mut frames);
                    break;
                }
                Ok(Ok(0)) => {
                    decoder.finish(&mut frames);
                    break;
                }
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    self.metrics.reject(self.name, "read_error");
                    tracing::info!("{}: {}: {e}", self.name, self.peer);
                    decoder.finish(&mut frames);
                    break;
                }
            };
            decoder.push(&buf[..n], &mut frames);
            frame_started = match (decoder.in_frame(), frame_started) {
                (false, _) => None,
                (true, Some(t)) if frames.is_empty() => Some(t),
                (true, _) => Some(Instant::now()),
            };
            if !frames.is_empty() && !self.flush(&origin, &mut frames, n as u64).await {
                return;
            }
        }
        self.flush(&origin, &mut frames, 0).await;
    }

    /// Appends the frames and waits until they are durable.
    async fn flush(&self, origin: &Origin, frames: &mut Vec<Frame>, bytes: u64) -> bool {
        if frames.is_empty() {
            return true;
        }
        let records: Vec<RawRecord> = frames.drain(..).map(|f| origin.record(f)).collect();
        let count = records.len() as u64;
        let truncated = records.iter().filter(|r| r.truncated).count() as u64;
        self.metrics.count_batch(self.name, count, bytes, truncated);
        match self.appender.append(records).await {
            Ok(_) => true,
            Err(e) => {
                self.metrics.drop_messages(self.name, "log_error", count);
                tracing::error!(
                    "{}: {}: {count} messages not stored: {e}",
                    self.name,
                    self.peer
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Frame {
        Frame {
            bytes: text.as_bytes().to_vec(),
            truncated: false,
        }
    }

    /// Datagrams from senders taking turns each get their sender's
    /// address; records of one stream share its labels.
    #[test]
    fn records_are_labelled_by_their_own_sender() {
        let opts = SyslogOptions {
            tenant: "acme".into(),
            ..SyslogOptions::default()
        };
        let mut udp = Origin::new("syslog-udp", &opts, None);
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.0.0.1:514".parse().unwrap(),
            "[2001:db8::2]:999".parse().unwrap(),
        );
        let peers: Vec<_> = [a, a, b, a]
            .into_iter()
            .map(|p| udp.sent_by(p).record(frame("x")).peer)
            .collect();
        assert_eq!(
            peers,
            ["10.0.0.1", "10.0.0.1", "2001:db8::2", "10.0.0.1"].map(Arc::from)
        );
        let tcp = Origin::new("syslog-tcp", &opts, Some(b));
        let (one, two) = (tcp.record(frame("1")), tcp.record(frame("2")));
        assert_eq!(
            (&*one.source, &*one.tenant, &*one.peer),
            ("syslog-tcp", "acme", "2001:db8::2")
        );
        assert!(Arc::ptr_eq(&one.peer, &two.peer) && Arc::ptr_eq(&one.tenant, &two.tenant));
        assert_eq!(two.body, b"2");
    }
}
