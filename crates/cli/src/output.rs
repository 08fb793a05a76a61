//! Finding writers: an aligned table (default), JSON lines, or CSV.

use std::io::Write;

use clap::ValueEnum;
use watchfloor_sigma::Finding;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Jsonl,
    Csv,
}

pub trait FindingWriter: Send {
    fn write(&mut self, f: &Finding) -> std::io::Result<()>;
    fn finish(&mut self) -> std::io::Result<()>;
}

pub fn writer(format: OutputFormat, out: Box<dyn Write + Send>) -> Box<dyn FindingWriter> {
    match format {
        OutputFormat::Table => Box::new(TableWriter { out, rows: 0 }),
        OutputFormat::Jsonl => Box::new(JsonlWriter { out }),
        OutputFormat::Csv => Box::new(CsvWriter {
            out: csv::Writer::from_writer(out),
            header: false,
        }),
    }
}

struct JsonlWriter {
    out: Box<dyn Write + Send>,
}

impl FindingWriter for JsonlWriter {
    fn write(&mut self, f: &Finding) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, f)?;
        self.out.write_all(b"\n")
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn source_label(f: &Finding) -> String {
    f.source
        .as_ref()
        .map(|s| format!("{}:{}", s.path, s.record))
        .unwrap_or_else(|| "correlation".into())
}

fn fields_label(f: &Finding) -> String {
    let mut parts: Vec<String> = f
        .fields
        .iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    if let Some(v) = f.value {
        parts.push(format!("value={v}"));
    }
    parts.join(" ")
}

struct CsvWriter {
    out: csv::Writer<Box<dyn Write + Send>>,
    header: bool,
}

impl FindingWriter for CsvWriter {
    fn write(&mut self, f: &Finding) -> std::io::Result<()> {
        if !self.header {
            self.header = true;
            self.out.write_record([
                "timestamp",
                "level",
                "rule_id",
                "rule_title",
                "tags",
                "host",
                "source",
                "fields",
            ])?;
        }
        self.out.write_record([
            f.timestamp.as_deref().unwrap_or(""),
            f.rule.level.as_str(),
            f.rule.id.as_deref().unwrap_or(""),
            &f.rule.title,
            &f.rule.tags.join(","),
            f.host.as_deref().unwrap_or(""),
            &source_label(f),
            &fields_label(f),
        ])?;
        Ok(())
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Streams rows with fixed column widths, so that nothing is held back.
struct TableWriter {
    out: Box<dyn Write + Send>,
    rows: usize,
}

const TITLE_WIDTH: usize = 60;

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}

impl FindingWriter for TableWriter {
    fn write(&mut self, f: &Finding) -> std::io::Result<()> {
        if self.rows == 0 {
            writeln!(
                self.out,
                "{:<27} {:<13} {:<w$} {:<20} SOURCE",
                "TIMESTAMP",
                "LEVEL",
                "RULE",
                "HOST",
                w = TITLE_WIDTH
            )?;
        }
        self.rows += 1;
        writeln!(
            self.out,
            "{:<27} {:<13} {:<w$} {:<20} {}",
            f.timestamp.as_deref().unwrap_or("-"),
            f.rule.level.as_str(),
            clip(&f.rule.title, TITLE_WIDTH),
            clip(f.host.as_deref().unwrap_or("-"), 20),
            source_label(f),
            w = TITLE_WIDTH
        )
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
