//! TLS handshakes: is the chain valid for the name, and how many days are
//! left before the certificate expires. The handshake completes even when
//! the chain does not verify, so an invalid certificate's expiry is still
//! reported.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use crate::{Outcome, Perf, Status, TlsCheck};

/// What the handshake showed: the leaf certificate and the verdict on the chain.
type Seen = Option<(Vec<u8>, Result<(), String>)>;

#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Mutex<Seen>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map(|_| ())
            .map_err(|e| e.to_string());
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((end_entity.to_vec(), verdict));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn roots(c: &TlsCheck) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &c.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("ca_file {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
        }
    }
    Ok(roots)
}

fn connector(c: &TlsCheck) -> Result<(TlsConnector, Arc<Recording>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(c)?), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let recording = Arc::new(Recording {
        inner,
        seen: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recording.clone())
        .with_no_client_auth();
    Ok((TlsConnector::from(Arc::new(config)), recording))
}

/// Seconds since the epoch at which the certificate stops being valid.
fn not_after(der: &[u8]) -> Result<i64, String> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert.validity().not_after.timestamp())
        .map_err(|e| format!("unreadable certificate: {e}"))
}

pub(crate) async fn run(c: &TlsCheck) -> Outcome {
    let name = c.server_name.clone().unwrap_or_else(|| c.host.clone());
    let Ok(server_name) = ServerName::try_from(name.clone()) else {
        return Outcome::new(Status::Unknown, format!("{name:?} is not a server name"));
    };
    let (connector, recording) = match connector(c) {
        Ok(x) => x,
        Err(e) => return Outcome::new(Status::Unknown, e),
    };
    let addr = match super::resolve(&c.host, c.port).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let start = Instant::now();
    let tcp = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Outcome::new(Status::Critical, format!("{addr}: {e}")),
    };
    if let Err(e) = connector.connect(server_name, tcp).await {
        return Outcome::new(
            Status::Critical,
            format!("{addr}: TLS handshake failed: {e}"),
        );
    }
    let elapsed = start.elapsed();
    let seen = recording.seen.lock().ok().and_then(|mut s| s.take());
    let Some((der, verdict)) = seen else {
        return Outcome::new(
            Status::Unknown,
            format!("{addr}: no certificate was presented"),
        );
    };
    let expires = match not_after(&der) {
        Ok(t) => t,
        Err(e) => return Outcome::new(Status::Critical, format!("{addr}: {e}")),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = (expires - now).div_euclid(86_400);
    let (status, summary) = match verdict {
        Err(e) => (
            Status::Critical,
            format!("{name}: certificate not valid: {e}; expires in {days} days"),
        ),
        Ok(()) if days < c.crit_days => (
            Status::Critical,
            format!("{name}: certificate expires in {days} days"),
        ),
        Ok(()) if days < c.warn_days => (
            Status::Warning,
            format!("{name}: certificate expires in {days} days"),
        ),
        Ok(()) => (
            Status::Ok,
            format!("{name}: certificate valid, expires in {days} days"),
        ),
    };
    let mut o = Outcome::new(status, summary).with_latency(elapsed, None, None);
    o.cert_days_left = Some(days);
    o.perf.push(Perf {
        label: "days".into(),
        value: days as f64,
        unit: String::new(),
        warn: Some(c.warn_days as f64),
        crit: Some(c.crit_days as f64),
    });
    o
}
