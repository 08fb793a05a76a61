//! DNS queries to a chosen resolver over UDP (TCP when the answer is
//! truncated): the response code and the answers.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::check::RCODES;
use crate::{DnsCheck, Outcome, Status};

async fn resolver_addr(r: &str) -> Result<SocketAddr, Outcome> {
    if let Ok(a) = r.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = r.trim_start_matches('[').trim_end_matches(']').parse() {
        return Ok(SocketAddr::new(ip, 53));
    }
    match r
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    {
        Some((host, port)) => super::resolve(host, port).await,
        None => super::resolve(r, 53).await,
    }
}

fn query(c: &DnsCheck, id: u16) -> Result<Vec<u8>, String> {
    let name = Name::from_str(&c.query).map_err(|e| format!("query {:?}: {e}", c.query))?;
    let kind = RecordType::from_str(&c.record_type).map_err(|e| e.to_string())?;
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(name, kind));
    m.to_vec().map_err(|e| e.to_string())
}

async fn over_udp(addr: SocketAddr, packet: &[u8], id: u16) -> Result<Message, String> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .map_err(|_| "bind")?;
    let socket = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    socket.connect(addr).await.map_err(|e| e.to_string())?;
    socket.send(packet).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        match Message::from_vec(&buf[..n]) {
            // Anything else is a stray or forged datagram: wait for ours.
            Ok(m) if m.metadata.id == id => return Ok(m),
            _ => continue,
        }
    }
}

async fn over_tcp(addr: SocketAddr, packet: &[u8], id: u16) -> Result<Message, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let len = u16::try_from(packet.len()).map_err(|_| "query too long")?;
    s.write_all(&len.to_be_bytes())
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(packet).await.map_err(|e| e.to_string())?;
    let n = s.read_u16().await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; n as usize];
    s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let m = Message::from_vec(&buf).map_err(|e| format!("unreadable answer: {e}"))?;
    if m.metadata.id != id {
        return Err("answer to another query".into());
    }
    Ok(m)
}

fn rcode_name(m: &Message) -> String {
    let code = u16::from(m.metadata.response_code);
    RCODES
        .get(code as usize)
        .map_or_else(|| format!("RCODE{code}"), |s| (*s).to_string())
}

/// Answers as text, without a final dot on names.
fn answers(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .map(|r| {
            r.data
                .to_string()
                .trim_end_matches('.')
                .trim_matches('"')
                .to_string()
        })
        .collect()
}

pub(crate) async fn run(c: &DnsCheck) -> Outcome {
    let addr = match resolver_addr(&c.resolver).await {
        Ok(a) => a,
        Err(o) => return o,
    };
    let id =
        (std::process::id() as u16) ^ (Instant::now().elapsed().subsec_nanos() as u16) ^ 0x3c5a;
    let packet = match query(c, id) {
        Ok(p) => p,
        Err(e) => return Outcome::new(Status::Unknown, e),
    };
    let start = Instant::now();
    let mut answer = over_udp(addr, &packet, id).await;
    if matches!(&answer, Ok(m) if m.metadata.truncation) {
        answer = over_tcp(addr, &packet, id).await;
    }
    let elapsed = start.elapsed();
    let m = match answer {
        Ok(m) => m,
        Err(e) => return Outcome::new(Status::Critical, format!("resolver {addr}: {e}")),
    };
    let rcode = rcode_name(&m);
    let got = answers(&m);
    let what = format!("{} {} @{addr}", c.record_type, c.query);
    if !rcode.eq_ignore_ascii_case(&c.rcode) {
        return Outcome::new(
            Status::Critical,
            format!("{what}: {rcode}, expected {}", c.rcode.to_ascii_uppercase()),
        )
        .with_latency(elapsed, None, None);
    }
    let missing: Vec<&String> = c
        .expect
        .iter()
        .filter(|want| {
            !got.iter()
                .any(|g| g.eq_ignore_ascii_case(want.trim_end_matches('.')))
        })
        .collect();
    if !missing.is_empty() {
        return Outcome::new(
            Status::Critical,
            format!(
                "{what}: answers [{}] lack {}",
                got.join(", "),
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with_latency(elapsed, None, None);
    }
    let shown = if got.is_empty() {
        rcode.clone()
    } else {
        got.join(", ")
    };
    Outcome::new(Status::Ok, format!("{what}: {shown}")).with_latency(elapsed, c.warn_ms, c.crit_ms)
}
