//! How PnL attribution is printed: one JSON object of named components, and one table
//! line. Shared by `keel explain` and the run/demo reports.

use keel_engine::attribution::{COMPONENT_NAMES, PnlComponents};
use serde_json::{Map, Value, json};

/// `{"delta": …, "gamma": …, …, "residual": …}`.
pub fn components_json(parts: &PnlComponents) -> Value {
    let mut object = Map::new();
    for (name, value) in COMPONENT_NAMES.iter().zip(parts.fields()) {
        object.insert((*name).to_string(), json!(value));
    }
    Value::Object(object)
}

/// `delta -1234.56 USD, gamma 12.00 USD, …`: USD to the cent, coin to 1e-6.
pub fn components_line(parts: &PnlComponents, unit: &str) -> String {
    let decimals = if unit == "USD" { 2 } else { 6 };
    COMPONENT_NAMES
        .iter()
        .zip(parts.fields())
        .map(|(name, value)| format!("{name} {value:.decimals$} {unit}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads back a components object (tables print from the JSON they were built from).
pub fn components_of(value: &Value) -> PnlComponents {
    let get = |name: &str| value[name].as_f64().unwrap_or(0.0);
    PnlComponents {
        delta: get("delta"),
        gamma: get("gamma"),
        vega: get("vega"),
        theta: get("theta"),
        new_trades: get("new_trades"),
        fees: get("fees"),
        funding: get("funding"),
        settlement: get("settlement"),
        residual: get("residual"),
    }
}
