//! Child process for the journal crash and cross-process tests.
//!
//! `journal_child DIR MODE SEGMENT_BYTES COUNT`: opens (recovering) the journal in DIR with
//! durability MODE (`none`, `sync`, or `interval`), prints `recovered <last_seq>`, then
//! appends COUNT records continuing the sequence (0 = until killed), printing
//! `ack <seq>` for every record acknowledged under MODE. Contents come from
//! `keel_tests::journal_payload`, so the parent can check every byte.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use keel_journal::{Durability, JournalConfig, JournalWriter};
use keel_tests::{journal_kind, journal_payload};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("journal_child: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, mode, segment_bytes, count] = args.as_slice() else {
        return Err("usage: journal_child DIR MODE SEGMENT_BYTES COUNT".into());
    };
    let durability = match mode.as_str() {
        "none" => Durability::None,
        "sync" => Durability::Sync,
        "interval" => Durability::Interval { period_ms: 1 },
        other => return Err(format!("unknown mode {other}")),
    };
    let config = JournalConfig {
        segment_size_bytes: segment_bytes
            .parse()
            .map_err(|e| format!("segment size: {e}"))?,
        durability,
        ..JournalConfig::default()
    };
    let count: u64 = count.parse().map_err(|e| format!("count: {e}"))?;
    let (mut writer, report) =
        JournalWriter::open(&PathBuf::from(dir), config).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "recovered {}", report.last_seq).map_err(io)?;
    out.flush().map_err(io)?;
    let mut acked = writer.acknowledged_seq();
    let mut appended = 0;
    while count == 0 || appended < count {
        let seq = writer.next_seq();
        writer
            .append(journal_kind(seq), seq, &journal_payload(seq))
            .map_err(|e| e.to_string())?;
        appended += 1;
        let now_acked = writer.acknowledged_seq();
        if now_acked > acked {
            acked = now_acked;
            writeln!(out, "ack {acked}").map_err(io)?;
            out.flush().map_err(io)?;
        }
    }
    writer.close().map_err(|e| e.to_string())?;
    writeln!(out, "done {acked}").map_err(io)?;
    Ok(())
}
