//! Pins snapshot crash safety (docs/RELIABILITY.md): a crash between any two steps of writing a
//! snapshot leaves the old or the new one usable; damaged snapshots are skipped in favour
//! of older ones, down to none (full replay).

use keel_journal::{SnapshotStep, SnapshotStore};

#[test]
fn a_crash_at_any_step_leaves_the_old_or_the_new_snapshot() {
    for step in SnapshotStep::ALL {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::open(dir.path()).expect("store");
        store.write(10, b"old state").expect("old snapshot");
        store
            .write_until(20, b"new state, longer than the old", step)
            .expect("partial write");
        let latest = store
            .latest_valid(u64::MAX)
            .expect("readable")
            .expect("a snapshot");
        let renamed = step >= SnapshotStep::Rename;
        let expected: (u64, &[u8]) = if renamed {
            (20, b"new state, longer than the old")
        } else {
            (10, b"old state")
        };
        assert_eq!(
            (latest.seq, latest.blob.as_slice()),
            expected,
            "crash after {step:?}"
        );
        // A later complete write supersedes whatever the crash left.
        store.write(30, b"next").expect("next snapshot");
        assert_eq!(
            store
                .latest_valid(u64::MAX)
                .expect("readable")
                .expect("some")
                .seq,
            30
        );
    }
}

#[test]
fn damaged_snapshots_fall_back_to_older_ones_then_to_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SnapshotStore::open(dir.path()).expect("store");
    let first = store.write(5, b"five").expect("write");
    let second = store.write(9, b"nine").expect("write");
    assert_eq!(
        store.latest_valid(8).expect("ok").expect("some").seq,
        5,
        "bounded by max_seq"
    );
    let mut bytes = std::fs::read(&second).expect("read");
    bytes[33] ^= 0x10;
    std::fs::write(&second, bytes).expect("damage");
    assert_eq!(
        store.latest_valid(u64::MAX).expect("ok").expect("some").seq,
        5
    );
    std::fs::write(&first, b"KEELSNP1 truncated").expect("damage");
    assert_eq!(store.latest_valid(u64::MAX).expect("ok"), None);
}
