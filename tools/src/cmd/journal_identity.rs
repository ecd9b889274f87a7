//! What wrote a journal directory. `keel demo` (with its seed and accounts) and `keel run`
//! each claim the directory they write; a directory claimed by another writer, or
//! holding a journal of unknown origin, is refused with one line, so synthetic events
//! never mix into a real journal or the other way round.

use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;

/// The claim, beside the journal's segments.
pub const IDENTITY_FILE: &str = "keel-writer.json";

/// Claims `dir` for `identity` (a JSON object with at least `"writer"`), or refuses
/// with one line ending in `hint` (what the user can do instead).
pub fn claim(dir: &Path, identity: &Value, hint: &str) -> anyhow::Result<()> {
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            if found != *identity {
                bail!(
                    "{} holds a journal written by {found}, not {identity}: {hint}",
                    dir.display()
                );
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            if holds_segments(dir)? {
                bail!(
                    "{} holds a journal of unknown origin (no {IDENTITY_FILE}); refusing to append to it",
                    dir.display()
                );
            }
            let temporary = dir.join(format!("{IDENTITY_FILE}.tmp"));
            std::fs::write(&temporary, identity.to_string())
                .with_context(|| format!("writing {}", temporary.display()))?;
            std::fs::rename(&temporary, &path)
                .with_context(|| format!("writing {}", path.display()))
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn holds_segments(dir: &Path) -> anyhow::Result<bool> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(error).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if entry.file_name().to_string_lossy().ends_with(".seg") {
            return Ok(true);
        }
    }
    Ok(false)
}
