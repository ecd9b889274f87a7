//! Helpers shared by the `keel` command-line tests (each test file is its own crate and
//! uses only some of them).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `keel` binary built for these tests with `args`.
pub fn keel(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .output()
        .expect("keel runs")
}

/// A demo journal of `events` events in `dir/demo` (asserting the demo succeeded); its
/// path as text, for the commands' `--journal`.
pub fn demo_journal(dir: &Path, events: usize) -> String {
    let journal = dir.join("demo");
    let journal = journal.to_str().expect("utf-8").to_string();
    let events = events.to_string();
    let demo = keel(&["demo", "--events", &events, "--data-dir", &journal]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    journal
}
