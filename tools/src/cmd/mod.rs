//! One module per subcommand, plus the JSON-lines driver they share.

pub mod bench;
pub mod demo;
pub mod deribit_ws;
pub mod explain;
pub mod feeder;
pub mod hedge;
pub mod import;
pub mod iv;
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
