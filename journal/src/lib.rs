//! `keel-journal`: the segmented, memory-mapped append-only log (DESIGN 7).
//!
//! Not built yet: the journal issue fills this crate. It exists now so the workspace has
//! its final shape and the dependency direction (`engine` → `journal`) is fixed early.
