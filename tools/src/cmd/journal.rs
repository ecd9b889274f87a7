//! `keel journal inspect | verify | dump`: look into a journal directory (read-only).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use keel_engine::events;
use keel_journal::{Depth, JournalReader, JournalSummary, check_journal, hex};
use serde_json::json;

#[derive(Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Subcommand)]
enum JournalCommand {
    /// Segments, record count, first/last sequence and timestamp, size, durability mode,
    /// seal status. Reads headers and seals, and the records of the open segment.
    Inspect {
        /// Journal directory.
        dir: PathBuf,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check every record CRC, sequence continuity and every seal. Exit 0 and print the
    /// head seal when clean; otherwise one line naming the segment file and byte offset.
    Verify {
        /// Journal directory.
        dir: PathBuf,
    },
    /// Records as lines: header fields and the decoded event (the payload in hex, with
    /// the reason, when it does not decode as an event).
    Dump {
        /// Journal directory.
        dir: PathBuf,
        /// First sequence number to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Print at most this many records.
        #[arg(long)]
        limit: Option<u64>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &JournalArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        JournalCommand::Inspect { dir, json } => inspect(dir, *json),
        JournalCommand::Verify { dir } => verify(dir),
        JournalCommand::Dump {
            dir,
            from,
            limit,
            json,
        } => dump(dir, *from, *limit, *json),
    }
}

fn require_dir(dir: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    Ok(())
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal.
fn progress_bar(total: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let template = format!("{{spinner}} {{bar:40}} {{pos}}/{{len}} {unit} ({{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

fn journal_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn inspect(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    require_dir(dir)?;
    let summary = check_journal(dir, Depth::Inspect, &mut |_| {})?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", summary_json(dir, &summary))?;
    } else {
        print_summary(&mut out, dir, &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn summary_json(dir: &Path, summary: &JournalSummary) -> serde_json::Value {
    let segments: Vec<_> = summary
        .segments
        .iter()
        .map(|s| {
            json!({
                "file": s.path.file_name().map(|n| n.to_string_lossy().into_owned()),
                "index": s.index,
                "first_seq": s.first_seq,
                "last_seq": s.last_seq,
                "records": s.records,
                "bytes_used": s.bytes_used,
                "size_bytes": s.size_bytes,
                "durability": s.durability.to_string(),
                "first_timestamp_ns": s.timestamps_ns.map(|t| t.0),
                "last_timestamp_ns": s.timestamps_ns.map(|t| t.1),
                "sealed": s.seal.is_some(),
                "seal": s.seal.as_ref().map(hex),
            })
        })
        .collect();
    json!({
        "dir": dir.display().to_string(),
        "segments": segments,
        "records": summary.records,
        "first_seq": summary.first_seq,
        "last_seq": summary.last_seq,
        "head_seal": summary.head_seal.as_ref().map(hex),
    })
}

fn print_summary(out: &mut impl Write, dir: &Path, summary: &JournalSummary) -> anyhow::Result<()> {
    writeln!(out, "journal {}", dir.display())?;
    writeln!(
        out,
        "{} records, sequence {}..={}, {} segment(s)",
        summary.records,
        summary.first_seq,
        summary.last_seq,
        summary.segments.len()
    )?;
    writeln!(
        out,
        "{:<14} {:>12} {:>12} {:>10} {:>12} {:>12} {:<14} {:<8}",
        "segment",
        "first_seq",
        "last_seq",
        "records",
        "used_bytes",
        "size_bytes",
        "durability",
        "sealed"
    )?;
    for s in &summary.segments {
        let name = s
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        writeln!(
            out,
            "{:<14} {:>12} {:>12} {:>10} {:>12} {:>12} {:<14} {:<8}",
            name,
            s.first_seq,
            s.last_seq,
            s.records,
            s.bytes_used,
            s.size_bytes,
            s.durability.to_string(),
            if s.seal.is_some() { "yes" } else { "open" }
        )?;
    }
    if let Some(last) = summary.segments.last().and_then(|s| s.timestamps_ns) {
        writeln!(
            out,
            "open segment timestamps (ns since epoch): {}..={}",
            last.0, last.1
        )?;
    }
    match &summary.head_seal {
        Some(seal) => writeln!(out, "head seal {}", hex(seal))?,
        None => writeln!(out, "head seal: none (no closed segment yet)")?,
    }
    Ok(())
}

fn verify(dir: &Path) -> anyhow::Result<ExitCode> {
    require_dir(dir)?;
    let bar = progress_bar(journal_bytes(dir), "bytes");
    let result = check_journal(dir, Depth::Verify, &mut |checked| bar.set_position(checked));
    bar.finish_and_clear();
    let summary = result?;
    let seal = summary
        .head_seal
        .as_ref()
        .map_or_else(|| "none (no closed segment yet)".to_string(), hex);
    println!(
        "ok: {} records in {} segment(s), sequence {}..={}; head seal {seal}",
        summary.records,
        summary.segments.len(),
        summary.first_seq,
        summary.last_seq
    );
    Ok(ExitCode::SUCCESS)
}

fn dump(dir: &Path, from: u64, limit: Option<u64>, json: bool) -> anyhow::Result<ExitCode> {
    require_dir(dir)?;
    let reader = JournalReader::open(dir)?;
    let records = reader.records_from(from)?;
    let bar = progress_bar(limit.unwrap_or(0), "records");
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (printed, record) in records.enumerate() {
        if limit.is_some_and(|limit| printed as u64 >= limit) {
            break;
        }
        let record = record?;
        let meta = &record.meta;
        let decoded = events::decode(meta.kind, record.payload);
        if json {
            let mut line = json!({
                "seq": meta.seq,
                "timestamp_ns": meta.timestamp_ns,
                "kind": meta.kind,
                "kind_name": events::kind_name(meta.kind),
                "len": record.payload.len(),
            });
            match &decoded {
                Ok(event) => line["event"] = serde_json::to_value(event.body)?,
                Err(error) => {
                    line["payload_hex"] = json!(hex_bytes(record.payload));
                    line["decode_error"] = json!(error.to_string());
                }
            }
            writeln!(out, "{line}").context("writing stdout")?;
        } else {
            let shown = match &decoded {
                Ok(event) => format!("event={:?}", event.body),
                Err(error) => format!("payload={} ({error})", hex_bytes(record.payload)),
            };
            writeln!(
                out,
                "seq={} timestamp_ns={} kind={} len={} {shown}",
                meta.seq,
                meta.timestamp_ns,
                events::kind_name(meta.kind),
                record.payload.len()
            )
            .context("writing stdout")?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.flush().context("writing stdout")?;
    Ok(ExitCode::SUCCESS)
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
