//! RELP, rsyslog's Reliable Event Logging Protocol (`omrelp`, `imrelp`):
//! syslog messages over TCP (or TLS), each acknowledged by number. A
//! message is acknowledged only once it is durable in the log, so a
//! forwarder that was told `200 OK` can forget it, and one that was not
//! sends it again after a reconnect.
//!
//! A frame is `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The commands a
//! client sends are `open` (offers), `syslog` (one message) and `close`;
//! the server answers each with `TXNR rsp DATALEN CODE [TEXT]`, and may send
//! `0 serverclose 0` before it drops the session.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::metrics::IngestMetrics;
use crate::record::{Kind, RawRecord};
use crate::syslog::{Acceptor, Connection, Stream, SyslogOptions};
use crate::wal::Appender;
use watchfloor_model::now_ns;

/// The largest frame accepted at all; longer messages up to this are kept
/// cut at `max_message`, longer frames end the session.
const MAX_FRAME: usize = 16 << 20;

/// One RELP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub txnr: u64,
    pub command: String,
    pub data: Vec<u8>,
}

/// Why a session was ended: the stream cannot be read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RELP framing: {0}")]
pub struct FramingError(pub String);

/// Reads one frame from the start of `buf`: `Ok(None)` when more bytes are
/// needed, else the frame and how many bytes it took.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FramingError> {
    let bad = |why: String| Err(FramingError(why));
    let mut fields = [0usize; 3];
    let mut pos = 0;
    for (i, end) in fields.iter_mut().enumerate() {
        let Some(len) = buf[pos..].iter().position(|b| matches!(b, b' ' | b'\n')) else {
            if buf.len() - pos > 32 {
                return bad(format!("header field {} is too long", i + 1));
            }
            return Ok(None);
        };
        *end = pos + len;
        let is_last = i == 2;
        if buf[*end] == b'\n' && !is_last {
            return bad("header ends early".into());
        }
        pos = *end + 1;
    }
    let txnr_text = &buf[..fields[0]];
    let command_text = &buf[fields[0] + 1..fields[1]];
    let len_text = &buf[fields[1] + 1..fields[2]];
    let txnr = number(txnr_text).ok_or_else(|| {
        FramingError(format!(
            "transaction number {:?} is not a number",
            String::from_utf8_lossy(txnr_text)
        ))
    })?;
    if command_text.is_empty()
        || command_text.len() > 32
        || !command_text.iter().all(u8::is_ascii_alphabetic)
    {
        return bad(format!(
            "command {:?} is not 1 to 32 letters",
            String::from_utf8_lossy(command_text)
        ));
    }
    let data_len = number(len_text).ok_or_else(|| {
        FramingError(format!(
            "data length {:?} is not a number",
            String::from_utf8_lossy(len_text)
        ))
    })? as usize;
    if data_len > MAX_FRAME {
        return bad(format!("frame of {data_len} bytes exceeds {MAX_FRAME}"));
    }
    let data_start = fields[2] + 1;
    let (data, end) = if buf[fields[2]] == b'\n' {
        if data_len != 0 {
            return bad("data length given but no data".into());
        }
        (Vec::new(), data_start)
    } else {
        let need = data_start + data_len + 1;
        if buf.len() < need {
            return Ok(None);
        }
        if buf[need - 1] != b'\n' {
            return bad("frame does not end with a line feed".into());
        }
        (buf[data_start..need - 1].to_vec(), need)
    };
    let frame = Frame {
        txnr,
        command: String::from_utf8_lossy(command_text).into_owned(),
        data,
    };
    Ok(Some((frame, end)))
}

fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A response frame: `TXNR rsp LEN BODY LF`.
fn response(txnr: u64, body: &str) -> Vec<u8> {
    if body.is_empty() {
        return format!("{txnr} rsp 0\n").into_bytes();
    }
    format!("{txnr} rsp {} {body}\n", body.len()).into_bytes()
}

const OPEN_OFFERS: &str = "200 OK\nrelp_version=0\nrelp_software=watchfloor\ncommands=syslog";
const SERVER_CLOSE: &[u8] = b"0 serverclose 0\n";

/// Accepts RELP sessions (TLS when `tls` is given) until the listener fails.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    appender: Appender,
    metrics: Arc<IngestMetrics>,
    opts: Arc<SyslogOptions>,
) -> std::io::Result<()> {
    let name: &'static str = if tls.is_some() { "relp-tls" } else { "relp" };
    let conns = Acceptor {
        name,
        tls,
        appender,
        metrics,
        opts,
    };
    conns
        .run(listener, |stream, conn| async move {
            Session(conn).run(stream).await
        })
        .await
}

/// A RELP session on an accepted connection.
struct Session(Connection);

impl std::ops::Deref for Session {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0
    }
}

/// What the frames read so far ask the session to do.
#[derive(Default)]
struct Pending {
    records: Vec<RawRecord>,
    bytes: u64,
    /// Responses, in order, sent once the records are durable.
    replies: Vec<u8>,
    close: bool,
}

impl Session {
    async fn run(&self, mut stream: Box<dyn Stream>) {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut open = false;
        let mut frame_started: Option<Instant> = None;
        loop {
            let limit = match frame_started {
                Some(t) => self.opts.frame_timeout.saturating_sub(t.elapsed()),
                None => self.opts.idle_timeout,
            };
            let n = match tokio::time::timeout(limit, stream.read(&mut chunk)).await {
                Ok(Ok(0)) => return,
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    self.metrics.reject(self.name, "read_error");
                    tracing::info!("{}: {}: {e}", self.name, self.peer);
                    return;
                }
                Err(_) => {
                    let reason = if frame_started.is_some() {
                        "frame_timeout"
                    } else {
                        "idle_timeout"
                    };
                    self.metrics.reject(self.name, reason);
                    let _ = stream.write_all(SERVER_CLOSE).await;
                    return;
                }
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut pending = Pending::default();
            let consumed = match self.take_frames(&buf, &mut open, &mut pending) {
                Ok(consumed) => consumed,
                Err(e) => {
                    self.metrics.reject(self.name, "bad_frame");
                    tracing::info!("{}: {}: {e}", self.name, self.peer);
                    // Messages framed before the error are still stored and answered.
                    let _ = self.answer(&mut stream, pending).await;
                    let _ = stream.write_all(SERVER_CLOSE).await;
                    return;
                }
            };
            buf.drain(..consumed);
            frame_started = match (buf.is_empty(), frame_started) {
                (true, _) => None,
                (false, Some(t)) if consumed == 0 => Some(t),
                (false, _) => Some(Instant::now()),
            };
            let close = pending.close;
            if !self.answer(&mut stream, pending).await || close {
                return;
            }
        }
    }

    /// Reads the whole frames at the start of `buf` into `pending`;
    /// returns how many bytes they took.
    fn take_frames(
        &self,
        buf: &[u8],
        open: &mut bool,
        pending: &mut Pending,
    ) -> Result<usize, FramingError> {
        let mut at = 0;
        while !pending.close {
            let Some((frame, used)) = parse_frame(&buf[at..])? else {
                break;
            };
            at += used;
            pending.bytes += used as u64;
            match (frame.command.as_str(), *open) {
                ("open", _) => {
                    *open = true;
                    pending.replies.extend(response(frame.txnr, OPEN_OFFERS));
                }
                ("syslog", true) => {
                    pending.records.push(self.record(frame.data));
                    pending.replies.extend(response(frame.txnr, "200 OK"));
                }
                ("close", _) => {
                    pending.replies.extend(response(frame.txnr, ""));
                    pending.close = true;
                }
                ("syslog", false) => {
                    return Err(FramingError("syslog before open".into()));
                }
                (other, _) => {
                    let text = format!("500 unknown command {other}");
                    pending.replies.extend(response(frame.txnr, &text));
                }
            }
        }
        Ok(at)
    }

    fn record(&self, mut message: Vec<u8>) -> RawRecord {
        let truncated = message.len() > self.opts.max_message;
        message.truncate(self.opts.max_message);
        // rsyslog's omrelp sends the formatted line, often with its LF.
        if message.last() == Some(&b'\n') {
            message.pop();
        }
        RawRecord {
            received_ns: now_ns(),
            kind: Kind::Syslog,
            source: self.name.into(),
            tenant: self.opts.tenant.as_str().into(),
            peer: self.peer.ip().to_string().into(),
            truncated,
            body: message,
        }
    }

    /// Stores the pending messages, waits until they are durable, then
    /// sends the responses. False when the session must end.
    async fn answer(&self, stream: &mut Box<dyn Stream>, pending: Pending) -> bool {
        if !pending.records.is_empty() {
            let count = pending.records.len() as u64;
            let truncated = pending.records.iter().filter(|r| r.truncated).count() as u64;
            self.metrics
                .count_batch(self.name, count, pending.bytes, truncated);
            if let Err(e) = self.appender.append(pending.records).await {
                // Not acknowledged: the forwarder sends them again.
                self.metrics.drop_messages(self.name, "log_error", count);
                tracing::error!(
                    "{}: {}: {count} messages not stored: {e}",
                    self.name,
                    self.peer
                );
                return false;
            }
        }
        if pending.replies.is_empty() {
            return true;
        }
        stream.write_all(&pending.replies).await.is_ok() && stream.flush().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &[u8]) -> (Frame, usize) {
        parse_frame(text).unwrap().unwrap()
    }

    #[test]
    fn frames_of_each_command_are_read() {
        let (open, used) = frame(b"1 open 86 relp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n");
        assert_eq!((open.txnr, open.command.as_str(), used), (1, "open", 97));
        assert!(open.data.starts_with(b"relp_version=0"));
        let (msg, used) = frame(b"2 syslog 10 <13>hello\n\nrest");
        assert_eq!((msg.data.as_slice(), used), (&b"<13>hello\n"[..], 23));
        let (close, used) = frame(b"3 close 0\n");
        assert_eq!(
            (close.command.as_str(), close.data.len(), used),
            ("close", 0, 10)
        );
    }

    #[test]
    fn partial_frames_wait_for_more() {
        let whole = b"12 syslog 5 hello\n";
        for cut in 0..whole.len() {
            assert_eq!(parse_frame(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn broken_frames_are_named() {
        for (bad, needle) in [
            (&b"x syslog 1 a\n"[..], "transaction number"),
            (b"1 sys-log 1 a\n", "command"),
            (b"1 syslog ten a\n", "data length"),
            (b"1 syslog 1 ab\n", "line feed"),
            (b"1 syslog 3\n", "no data"),
            (b"1 syslog\n", "ends early"),
            (b"1 syslog 999999999 a", "exceeds"),
            (&[b'1'; 40][..], "too long"),
        ] {
            let err = parse_frame(bad).unwrap_err().to_string();
            assert!(
                err.contains(needle),
                "{:?}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn responses_carry_their_length() {
        assert_eq!(response(7, "200 OK"), b"7 rsp 6 200 OK\n");
        assert_eq!(response(9, ""), b"9 rsp 0\n");
    }
}
