//! Where `keel stress` gets its scenarios: the built-in library, a TOML file, or inline
//! `--shock` text. Coins are named as the journal's instruments name them (BTC, ETH);
//! `*` is every underlying a scenario does not name.

use std::path::Path;

use anyhow::{Context, bail};
use keel_engine::attribution::DAY_NS;
use keel_engine::events::UnderlyingId;
use keel_engine::state::ShardState;
use keel_engine::stress::{Scenario, Shock, SmileDynamics, VolShock, builtin_scenarios};
use serde::Deserialize;

use super::report::underlying_name;

/// Most scenarios one run takes (a file or the flags).
pub const SCENARIOS_MAX: usize = 10_000;

/// A scenario file: `[[scenario]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    scenario: Vec<ScenarioToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioToml {
    name: String,
    /// Time that passes, in hours (default 0).
    #[serde(default)]
    time_step_hours: f64,
    /// `sticky-strike` (default) or `surface`.
    #[serde(default)]
    smile: Option<String>,
    shock: Vec<ShockToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShockToml {
    /// A coin (BTC, ETH) or `*` for every underlying not named.
    underlying: String,
    #[serde(default)]
    spot_move_pct: f64,
    #[serde(default)]
    vol_points: f64,
    #[serde(default)]
    vol_relative_pct: f64,
    #[serde(default = "reference_days_default")]
    vol_reference_days: f64,
    #[serde(default)]
    vol_tenor_power: f64,
}

fn reference_days_default() -> f64 {
    30.0
}

/// The underlying a coin name stands for in this state.
pub fn underlying_by_name(state: &ShardState, coin: &str) -> Option<UnderlyingId> {
    state
        .instruments
        .values()
        .map(|i| i.definition.underlying)
        .find(|&u| underlying_name(state, u).eq_ignore_ascii_case(coin))
}

fn resolve(state: &ShardState, coin: &str, scenario: &str) -> anyhow::Result<UnderlyingId> {
    underlying_by_name(state, coin)
        .with_context(|| format!("scenario {scenario:?}: no instrument of {coin} in the journal"))
}

fn hours_ns(hours: f64, scenario: &str) -> anyhow::Result<u64> {
    if !(hours.is_finite() && (0.0..=365.0 * 24.0).contains(&hours)) {
        bail!("scenario {scenario:?}: time step {hours} h is not within 0 to one year");
    }
    Ok((hours * 3_600.0 * 1e9).round() as u64)
}

/// Scenarios from a TOML file.
pub fn from_file(state: &ShardState, path: &Path) -> anyhow::Result<Vec<Scenario>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading scenarios {}", path.display()))?;
    let file: ScenarioFile =
        toml::from_str(&text).with_context(|| format!("scenarios {}", path.display()))?;
    if file.scenario.len() > SCENARIOS_MAX {
        bail!(
            "{} holds more than {SCENARIOS_MAX} scenarios",
            path.display()
        );
    }
    let mut scenarios = Vec::with_capacity(file.scenario.len());
    for s in file.scenario {
        let mut scenario = Scenario {
            time_step_ns: hours_ns(s.time_step_hours, &s.name)?,
            smile: match &s.smile {
                Some(text) => {
                    parse_smile(text).with_context(|| format!("scenario {:?}", s.name))?
                }
                None => SmileDynamics::StickyStrike,
            },
            name: s.name,
            ..Scenario::default()
        };
        for shock in s.shock {
            let value = Shock {
                spot_move: shock.spot_move_pct / 100.0,
                vol: VolShock {
                    points: shock.vol_points,
                    relative: shock.vol_relative_pct / 100.0,
                    reference_days: shock.vol_reference_days,
                    tenor_power: shock.vol_tenor_power,
                },
            };
            if shock.underlying == "*" {
                scenario.others = Some(value);
            } else {
                let u = resolve(state, &shock.underlying, &scenario.name)?;
                scenario.shocks.push((u, value));
            }
        }
        scenario.validate()?;
        scenarios.push(scenario);
    }
    Ok(scenarios)
}

/// One inline scenario: `BTC:spot=-10%,vol=+5;ETH:spot=-15%,vol=+20%,time=24h`.
/// `spot` in %; `vol` in vol points, or relative with a trailing `%`; `power` and `ref`
/// weight the vol by tenor; `time` (hours, `h` optional) and `smile` (`sticky-strike` or
/// `surface`) for the whole scenario.
pub fn from_shock(state: &ShardState, text: &str) -> anyhow::Result<Scenario> {
    let mut scenario = Scenario {
        name: format!("shock {text}"),
        ..Scenario::default()
    };
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (coin, fields) = part
            .split_once(':')
            .with_context(|| format!("--shock {part:?}: expected COIN:spot=…,vol=…"))?;
        let mut shock = Shock::default();
        shock.vol.reference_days = 30.0;
        for field in fields.split(',').map(str::trim) {
            let (key, value) = field
                .split_once('=')
                .with_context(|| format!("--shock {field:?}: expected key=value"))?;
            if key == "smile" {
                scenario.smile = parse_smile(value)?;
                continue;
            }
            let (number, percent) = match value.strip_suffix('%') {
                Some(v) => (v, true),
                None => (value.strip_suffix('h').unwrap_or(value), false),
            };
            let number: f64 = number
                .trim_start_matches('+')
                .parse()
                .with_context(|| format!("--shock {field:?}: not a number"))?;
            match (key, percent) {
                ("spot", _) => shock.spot_move = number / 100.0,
                ("vol", false) => shock.vol.points = number,
                ("vol", true) => shock.vol.relative = number / 100.0,
                ("power", false) => shock.vol.tenor_power = number,
                ("ref", false) => shock.vol.reference_days = number,
                ("time", false) => scenario.time_step_ns = hours_ns(number, text)?,
                _ => bail!("--shock {field:?}: keys are spot, vol, power, ref, time, smile"),
            }
        }
        if coin.trim() == "*" {
            scenario.others = Some(shock);
        } else {
            let u = resolve(state, coin.trim(), text)?;
            scenario.shocks.push((u, shock));
        }
    }
    scenario.validate()?;
    Ok(scenario)
}

/// `sticky-strike` or `surface` (how vols move under a scenario).
pub fn parse_smile(text: &str) -> anyhow::Result<SmileDynamics> {
    match text.trim() {
        "sticky-strike" | "sticky_strike" => Ok(SmileDynamics::StickyStrike),
        "surface" => Ok(SmileDynamics::Surface),
        other => bail!("smile '{other}' must be sticky-strike or surface"),
    }
}

/// The built-in library on this journal's coins.
pub fn builtin(state: &ShardState) -> Vec<Scenario> {
    builtin_scenarios(|coin| underlying_by_name(state, coin))
}

/// Day length, for the table's "time" column.
pub fn hours_of(ns: u64) -> f64 {
    ns as f64 / (DAY_NS as f64 / 24.0)
}
