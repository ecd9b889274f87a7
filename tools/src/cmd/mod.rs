//! One module per subcommand, plus the JSON-lines driver they share.

pub mod bench;
pub mod demo;
pub mod deribit_ws;
pub mod explain;
pub mod feeder;
pub mod hedge;
pub mod import;
pub mod iv;

/// The state a journal rebuilds up to `to` (one shard), for the commands that analyse it.
pub(crate) fn replayed_state(
    journal: &std::path::Path,
    to: Option<u64>,
) -> anyhow::Result<keel_engine::state::ShardState> {
    anyhow::ensure!(journal.is_dir(), "{} is not a directory", journal.display());
    let (shards, _) = keel_runtime::replay(journal, to, 1)?;
    shards
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no state rebuilt"))
}
pub mod journal;
pub mod journal_identity;
pub mod json_lines;
pub mod margin;
pub mod pnl_json;
pub mod price;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod run;
pub mod sim;
pub mod size;
pub mod stress;
pub mod stress_scenarios;
pub mod surface;
pub mod what_if;
