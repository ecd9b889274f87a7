//! `keel bench journal`: appending encoded events to the memory-mapped journal
//! (durability `none`) and scanning them back with every CRC checked. Baseline, same run:
//! the same records through `BufWriter<File>`, and read back through `BufReader`.

use std::hint::black_box;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use keel_engine::events::{Event, EventEncoder};
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_journal::{Durability, JournalConfig, JournalReader, JournalWriter};

use super::{Figures, median_s};

#[derive(Args)]
pub struct JournalArgs {
    /// Records per round.
    #[arg(long, default_value_t = 2_000_000)]
    records: usize,
    /// Rounds (median reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Where the benchmark files go (wiped first).
    #[arg(long, default_value = "keel-data/bench/journal")]
    data_dir: PathBuf,
}

/// Every event encoded once: (kind, timestamp, payload).
fn encoded(count: usize) -> anyhow::Result<Vec<(u16, u64, Vec<u8>)>> {
    let mut encoder = EventEncoder::default();
    let events: Vec<Event> = SyntheticMarket::new(SyntheticConfig::default())
        .take(count)
        .collect();
    events
        .iter()
        .map(|event| {
            let (kind, payload) = encoder.encode(event)?;
            Ok((kind, event.timestamp_ns, payload.to_vec()))
        })
        .collect()
}

fn fresh(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

pub fn run(args: &JournalArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(args.records > 0, "--records must be positive");
    let records = encoded(args.records)?;
    let journal_dir = args.data_dir.join("journal");
    let file_path = args.data_dir.join("buffered.bin");
    let config = JournalConfig {
        durability: Durability::None,
        ..JournalConfig::default()
    };
    let mut failure: Option<anyhow::Error> = None;
    // Appends timed, opening and closing (the final sync) not.
    let mut append_times_s = Vec::with_capacity(args.rounds.max(1));
    for _ in 0..args.rounds.max(1) {
        fresh(&args.data_dir)?;
        let (mut writer, _) = JournalWriter::open(&journal_dir, config.clone())?;
        let start = std::time::Instant::now();
        for (kind, timestamp_ns, payload) in &records {
            writer.append(*kind, *timestamp_ns, payload)?;
        }
        append_times_s.push(start.elapsed().as_secs_f64());
        writer.close()?;
    }
    append_times_s.sort_by(f64::total_cmp);
    let append_s = append_times_s[append_times_s.len() / 2];
    let scan_s = median_s(
        args.rounds,
        || (),
        |()| {
            let result = JournalReader::open(&journal_dir).and_then(|reader| {
                let mut bytes = 0usize;
                for record in reader.records_from(1)? {
                    bytes += record?.payload.len();
                }
                Ok(bytes)
            });
            match result {
                Ok(bytes) => {
                    black_box(bytes);
                }
                Err(error) => failure = Some(error.into()),
            }
        },
    );
    // Baseline: the same framing (kind, timestamp, length, CRC, payload) through std I/O.
    let baseline_append_s = median_s(
        args.rounds,
        || (),
        |()| {
            let result = (|| -> anyhow::Result<()> {
                let mut file = BufWriter::new(std::fs::File::create(&file_path)?);
                for (kind, timestamp_ns, payload) in &records {
                    let crc = crc32c::crc32c(payload);
                    file.write_all(&kind.to_le_bytes())?;
                    file.write_all(&timestamp_ns.to_le_bytes())?;
                    file.write_all(&(payload.len() as u32).to_le_bytes())?;
                    file.write_all(&crc.to_le_bytes())?;
                    file.write_all(payload)?;
                }
                file.flush()?;
                Ok(())
            })();
            if let Err(error) = result {
                failure = Some(error);
            }
        },
    );
    let baseline_scan_s = median_s(
        args.rounds,
        || (),
        |()| {
            let result = (|| -> anyhow::Result<usize> {
                let mut file = BufReader::new(std::fs::File::open(&file_path)?);
                let mut header = [0u8; 18];
                let mut payload = Vec::with_capacity(4096);
                let mut count = 0;
                while file.read_exact(&mut header).is_ok() {
                    let length =
                        u32::from_le_bytes([header[10], header[11], header[12], header[13]]);
                    let crc = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
                    payload.resize(length as usize, 0);
                    file.read_exact(&mut payload)?;
                    anyhow::ensure!(crc32c::crc32c(&payload) == crc, "CRC mismatch");
                    count += 1;
                }
                Ok(count)
            })();
            match result {
                Ok(count) => {
                    black_box(count);
                }
                Err(error) => failure = Some(error),
            }
        },
    );
    if let Some(error) = failure {
        return Err(error.context("journal benchmark"));
    }
    let count = records.len() as f64;
    let mut figures = Figures::default();
    figures.set("bench", "journal");
    figures.set("records", records.len() as u64);
    figures.number(
        "payload_bytes_mean",
        records.iter().map(|r| r.2.len()).sum::<usize>() as f64 / count,
    );
    figures.number("append_records_per_s", count / append_s);
    figures.number("append_ns_per_record", append_s * 1e9 / count);
    figures.number("baseline_append_records_per_s", count / baseline_append_s);
    figures.number("append_ratio", baseline_append_s / append_s);
    figures.number("scan_records_per_s", count / scan_s);
    figures.number("baseline_scan_records_per_s", count / baseline_scan_s);
    figures.number("scan_ratio", baseline_scan_s / scan_s);
    Ok(figures)
}
