//! Snapshots of engine state: an opaque blob tagged with the last sequence number it
//! includes. Written tmp → fsync → rename → fsync dir, so a crash at any point leaves the
//! old snapshots or the new one usable; a damaged snapshot is skipped with a warning.
//!
//! File `snapshot-<seq, 20 digits>.snap`: magic `KEELSNP1`, version u32, reserved u32,
//! seq u64, blob length u64, blob, CRC32C (u32) of everything before it.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::format::{read_u32, read_u64};
use crate::segment::sync_dir;

const SNAPSHOT_MAGIC: [u8; 8] = *b"KEELSNP1";
const SNAPSHOT_VERSION: u32 = 1;
const SNAPSHOT_HEADER_LEN: usize = 32;
const SNAPSHOT_DIR: &str = "snapshots";

/// The steps of writing a snapshot, in order; tests stop after any of them to model a
/// crash there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SnapshotStep {
    CreateTmp,
    WriteHalf,
    WriteAll,
    SyncTmp,
    Rename,
    SyncDir,
}

impl SnapshotStep {
    pub const ALL: [SnapshotStep; 6] = [
        SnapshotStep::CreateTmp,
        SnapshotStep::WriteHalf,
        SnapshotStep::WriteAll,
        SnapshotStep::SyncTmp,
        SnapshotStep::Rename,
        SnapshotStep::SyncDir,
    ];
}

/// A snapshot read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub seq: u64,
    pub blob: Vec<u8>,
    pub path: PathBuf,
}

/// The snapshots of one journal, in `<journal dir>/snapshots`.
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn open(journal_dir: &Path) -> Result<SnapshotStore> {
        Self::open_at(&journal_dir.join(SNAPSHOT_DIR))
    }

    /// A store in `<journal dir>/snapshots/<name>`: one per producer (e.g. per shard),
    /// so that producers never race on a file name.
    pub fn open_named(journal_dir: &Path, name: &str) -> Result<SnapshotStore> {
        Self::open_at(&Self::named_dir(journal_dir, name))
    }

    /// The named store `name`, if it exists (nothing is created: a read-only audit).
    pub fn existing_named(journal_dir: &Path, name: &str) -> Result<Option<SnapshotStore>> {
        let dir = Self::named_dir(journal_dir, name);
        Ok(dir.is_dir().then_some(SnapshotStore { dir }))
    }

    /// Every named store that exists, in name order.
    pub fn all_named(journal_dir: &Path) -> Result<Vec<SnapshotStore>> {
        let root = journal_dir.join(SNAPSHOT_DIR);
        let entries = match std::fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(JournalError::io(&root, e)),
        };
        let mut stores = Vec::new();
        for entry in entries {
            let dir = entry.map_err(|e| JournalError::io(&root, e))?.path();
            if dir.is_dir() {
                stores.push(SnapshotStore { dir });
            }
        }
        stores.sort_by(|a, b| a.dir.cmp(&b.dir));
        Ok(stores)
    }

    fn named_dir(journal_dir: &Path, name: &str) -> PathBuf {
        journal_dir.join(SNAPSHOT_DIR).join(name)
    }

    fn open_at(dir: &Path) -> Result<SnapshotStore> {
        std::fs::create_dir_all(dir).map_err(|e| JournalError::io(dir, e))?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes a snapshot of the state after record `seq`, durably.
    pub fn write(&self, seq: u64, blob: &[u8]) -> Result<PathBuf> {
        self.write_until(seq, blob, SnapshotStep::SyncDir)
    }

    /// Writes a snapshot but stops after `last_step`, as a crash would. For tests.
    pub fn write_until(&self, seq: u64, blob: &[u8], last_step: SnapshotStep) -> Result<PathBuf> {
        let path = self.dir.join(format!("snapshot-{seq:020}.snap"));
        let tmp = path.with_extension("snap.tmp");
        let bytes = encode(seq, blob);
        let io = |e| JournalError::io(&tmp, e);
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        if last_step == SnapshotStep::CreateTmp {
            return Ok(path);
        }
        let half = bytes.len() / 2;
        file.write_all(&bytes[..half]).map_err(io)?;
        if last_step == SnapshotStep::WriteHalf {
            return Ok(path);
        }
        file.write_all(&bytes[half..]).map_err(io)?;
        if last_step == SnapshotStep::WriteAll {
            return Ok(path);
        }
        file.sync_all().map_err(io)?;
        if last_step == SnapshotStep::SyncTmp {
            return Ok(path);
        }
        std::fs::rename(&tmp, &path).map_err(|e| JournalError::io(&path, e))?;
        if last_step == SnapshotStep::Rename {
            return Ok(path);
        }
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// The newest snapshot that reads back whole, at or before `max_seq`. Damaged ones
    /// are skipped with a warning; `None` means replay from the start.
    pub fn latest_valid(&self, max_seq: u64) -> Result<Option<Snapshot>> {
        self.latest_accepted(max_seq, |_, _| Ok(()))
            .map(|found| found.map(|(snapshot, ())| snapshot))
    }

    /// The newest snapshot at or before `max_seq` that reads back whole and that `accept`
    /// (e.g. decoding the state in it) takes; refused ones are skipped with a warning.
    pub fn latest_accepted<T>(
        &self,
        max_seq: u64,
        mut accept: impl FnMut(u64, &[u8]) -> std::result::Result<T, String>,
    ) -> Result<Option<(Snapshot, T)>> {
        let candidates = self.list()?;
        for (seq, path) in candidates
            .into_iter()
            .rev()
            .filter(|(seq, _)| *seq <= max_seq)
        {
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| decode(&bytes, seq))
                .and_then(|blob| accept(seq, &blob).map(|taken| (blob, taken)));
            match read {
                Ok((blob, taken)) => return Ok(Some((Snapshot { seq, blob, path }, taken))),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "snapshot unusable; trying an older one");
                }
            }
        }
        Ok(None)
    }

    /// Snapshot files by sequence, oldest first (leftover `.tmp` files are not listed).
    pub fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| JournalError::io(&self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| JournalError::io(&self.dir, e))?;
            let name = entry.file_name();
            let seq = name
                .to_str()
                .and_then(|n| n.strip_prefix("snapshot-"))
                .and_then(|n| n.strip_suffix(".snap"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(seq) = seq {
                found.push((seq, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Deletes all but the newest `keep` snapshots.
    pub fn prune(&self, keep: usize) -> Result<()> {
        let found = self.list()?;
        let excess = found.len().saturating_sub(keep);
        for (_, path) in &found[..excess] {
            std::fs::remove_file(path).map_err(|e| JournalError::io(path, e))?;
        }
        Ok(())
    }

    /// Deletes snapshots after `seq`: they describe records the journal no longer holds
    /// (lost in a crash), and records written from here on may differ from them.
    pub fn discard_after(&self, seq: u64) -> Result<usize> {
        let mut discarded = 0;
        for (_, path) in self.list()?.iter().filter(|(s, _)| *s > seq) {
            std::fs::remove_file(path).map_err(|e| JournalError::io(path, e))?;
            discarded += 1;
        }
        if discarded > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(discarded)
    }
}

fn encode(seq: u64, blob: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(SNAPSHOT_HEADER_LEN + blob.len() + 4);
    bytes.extend_from_slice(&SNAPSHOT_MAGIC);
    bytes.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    bytes.extend_from_slice(blob);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode(bytes: &[u8], seq_from_name: u64) -> std::result::Result<Vec<u8>, String> {
    if bytes.len() < SNAPSHOT_HEADER_LEN + 4 || bytes[0..8] != SNAPSHOT_MAGIC {
        return Err("not a snapshot file".into());
    }
    if read_u32(bytes, 8) != SNAPSHOT_VERSION {
        return Err("unsupported snapshot version".into());
    }
    let blob_len = usize::try_from(read_u64(bytes, 24)).map_err(|e| e.to_string())?;
    let body_len = SNAPSHOT_HEADER_LEN
        .checked_add(blob_len)
        .ok_or("impossible blob length")?;
    if bytes.len() != body_len + 4 {
        return Err(format!(
            "length {} where {} was expected",
            bytes.len(),
            body_len + 4
        ));
    }
    if crc32c::crc32c(&bytes[..body_len]) != read_u32(bytes, body_len) {
        return Err("CRC mismatch".into());
    }
    if read_u64(bytes, 16) != seq_from_name {
        return Err("sequence in the file differs from its name".into());
    }
    Ok(bytes[SNAPSHOT_HEADER_LEN..body_len].to_vec())
}
