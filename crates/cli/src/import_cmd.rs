//! `watchfloor import PATH...`: reads files (EVTX, JSON, NDJSON, syslog,
//! CEF) with the same decoders as `hunt` and sends their events to a
//! running server, which stores them durably and runs detection on them.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use watchfloor_formats::{read_path, ReadOptions};
use watchfloor_model::{format_rfc3339, Event};

use crate::client::{Client, HttpError, ServerArgs};

#[derive(Args)]
pub struct ImportArgs {
    /// Files or directories to import.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Source name stored with the events (as http:<name>).
    #[arg(long, default_value = "import")]
    pub source: String,
    /// Events per request.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The JSON form of an event for the ingest API; the time and host are
/// written out so the server finds them again.
fn event_json(e: &Event) -> serde_json::Value {
    let mut obj = e.to_json_object();
    if let Some(t) = e.core.timestamp {
        obj.entry("@timestamp")
            .or_insert_with(|| format_rfc3339(t).into());
    }
    if let Some(p) = &e.core.product {
        obj.entry("product").or_insert_with(|| p.to_string().into());
    }
    if let Some(h) = &e.core.host {
        if !["Computer", "host", "hostname", "host.name"]
            .iter()
            .any(|k| obj.contains_key(*k))
        {
            obj.insert("host".into(), h.to_string().into());
        }
    }
    serde_json::Value::Object(obj)
}

#[derive(Default)]
struct Totals {
    sent: u64,
    rejected: u64,
    unreadable_records: u64,
    unreadable_files: u64,
}

struct Sender<'a> {
    client: &'a Client,
    source: String,
    buf: Vec<u8>,
    count: usize,
    totals: Totals,
}

impl Sender<'_> {
    fn push(&mut self, e: &Event) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.buf, &event_json(e))?;
        self.buf.push(b'\n');
        self.count += 1;
        Ok(())
    }

    /// Sends the batch, waiting and retrying while the server says 429.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&self.buf)?;
        let body = gz.finish()?;
        let query = [("source", self.source.clone())];
        loop {
            match self
                .client
                .post("/api/v1/ingest", &query, body.clone(), true)
            {
                Ok(r) => {
                    self.totals.sent += r["accepted"].as_u64().unwrap_or(0);
                    self.totals.rejected += r["rejected"].as_u64().unwrap_or(0);
                    break;
                }
                Err(e) => match e.downcast_ref::<HttpError>() {
                    Some(h) if h.status == 429 => {
                        std::thread::sleep(Duration::from_secs(
                            h.retry_after.unwrap_or(1).clamp(1, 30),
                        ));
                    }
                    _ => return Err(e),
                },
            }
        }
        self.buf.clear();
        self.count = 0;
        Ok(())
    }
}

pub fn run(args: ImportArgs) -> anyhow::Result<u8> {
    let client = args.server.connect()?;
    let mut sender = Sender {
        client: &client,
        source: args.source.clone(),
        buf: Vec::new(),
        count: 0,
        totals: Totals::default(),
    };
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {pos} events sent {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut failure: Option<anyhow::Error> = None;
    for path in &args.paths {
        let mut on_record = |record: watchfloor_formats::Record| {
            match record {
                Ok(e) => {
                    if let Err(err) = sender.push(&e) {
                        failure = Some(err);
                        return ControlFlow::Break(());
                    }
                }
                Err(e) => {
                    sender.totals.unreadable_records += 1;
                    progress.suspend(|| eprintln!("unreadable record: {e}"));
                }
            }
            if sender.count >= args.batch {
                if let Err(err) = sender.flush() {
                    failure = Some(err);
                    return ControlFlow::Break(());
                }
                progress.set_position(sender.totals.sent);
            }
            ControlFlow::Continue(())
        };
        progress.set_message(path.display().to_string());
        if let Err(e) = read_path(path, &ReadOptions::default(), &mut on_record) {
            sender.totals.unreadable_files += 1;
            progress.suspend(|| eprintln!("unreadable input: {e}"));
        }
        if let Some(e) = failure.take() {
            progress.finish_and_clear();
            return Err(e);
        }
    }
    sender.flush()?;
    progress.finish_and_clear();
    let t = &sender.totals;
    eprintln!(
        "imported {} events ({} rejected by the server, {} unreadable records, {} unreadable files)",
        t.sent, t.rejected, t.unreadable_records, t.unreadable_files
    );
    Ok(if t.unreadable_files as usize == args.paths.len() {
        crate::EXIT_USAGE
    } else {
        0
    })
}
