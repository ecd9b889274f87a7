//! The market under a move: the one rule both stress testing and the liquidation distance
//! use. Index, forwards and futures' prices move by `1 + spot_move`; an option's mark moves
//! by the change of its Black-76 value (forward moved, vol shocked by tenor, time stepped),
//! so an unmoved market leaves every mark exactly where the venue put it.

use super::scenario::{STRESSED_VOL_FLOOR, Shock};
use crate::attribution::DAY_NS;
use crate::events::InstrumentKind;
use crate::margin::PmContract;
use crate::state::contract_margin::pm_contract;
use crate::state::contract_risk::Mark;
use crate::state::contract_risk::YEAR_NS;
use crate::state::instrument_state::InstrumentState;
use crate::surface::{ExpirySmile, VolSurface};

/// An instrument's mark after `shock` and `time_step_ns` (from its current mark, at model
/// time `now_ns`); `None` without a mark or when the model cannot value it. With a
/// `surface`, an option's vol moves on it ([`SmileDynamics::Surface`]).
///
/// [`SmileDynamics::Surface`]: super::SmileDynamics::Surface
pub fn stressed_mark(
    instrument: &InstrumentState,
    shock: &Shock,
    now_ns: u64,
    time_step_ns: u64,
    surface: Option<&VolSurface>,
) -> Option<Mark> {
    let mark = instrument.mark?;
    let factor = 1.0 + shock.spot_move;
    let forward = mark.forward * factor;
    if instrument.definition.kind != InstrumentKind::Option {
        return Some(Mark {
            forward,
            mark_price: mark.mark_price * factor,
            ..mark
        });
    }
    let later_ns = now_ns.saturating_add(time_step_ns);
    let days = (instrument.definition.expiry_ns as f64 - later_ns as f64) / DAY_NS as f64;
    let mark_iv = surface
        .and_then(|surface| surface_vol(surface, instrument, &mark, forward, shock, later_ns))
        .unwrap_or_else(|| shock.vol.apply(mark.mark_iv, days));
    let moved = Mark {
        forward,
        mark_iv,
        ..mark
    };
    let change = option_model_value(instrument, &moved, later_ns)?
        - option_model_value(instrument, &mark, now_ns)?;
    Some(Mark {
        forward,
        mark_iv,
        mark_price: (mark.mark_price + change).max(0.0),
        ..mark
    })
}

/// Black-76 value of one contract as quoted (coin for inverse options) at `mark`.
pub fn option_model_value(instrument: &InstrumentState, mark: &Mark, now_ns: u64) -> Option<f64> {
    let (contract, _) = pm_contract(
        &instrument.definition,
        instrument.contract_size,
        instrument.strike,
        mark,
        now_ns,
    );
    let PmContract::Option {
        kind,
        strike,
        years,
        inverse,
    } = contract
    else {
        return None;
    };
    let usd = crate::pricing::black76_price(&crate::pricing::OptionInputs {
        kind,
        forward: mark.forward,
        strike,
        years: years.max(0.0),
        vol: mark.mark_iv,
        rate: 0.0,
    })
    .ok()?;
    Some(if inverse { usd / mark.forward } else { usd })
}

/// An option's shocked IV on the surface: its mark IV plus the change of the surface's
/// vol between (its moneyness now, unshocked) and (its moneyness after the move, shocked),
/// both floored by the shorter expiries' total variance at that moneyness (no calendar
/// arbitrage). An unmoved market changes nothing. `None` without an accepted smile.
fn surface_vol(
    surface: &VolSurface,
    instrument: &InstrumentState,
    mark: &Mark,
    forward_moved: f64,
    shock: &Shock,
    later_ns: u64,
) -> Option<f64> {
    let underlying = instrument.definition.underlying;
    let expiry_ns = instrument.definition.expiry_ns;
    let smile = surface.smiles.get(&(underlying, expiry_ns))?;
    let k_now = (instrument.strike / mark.forward).ln();
    let k_moved = (instrument.strike / forward_moved).ln();
    let years_of = |e: u64| (e as f64 - later_ns as f64) / YEAR_NS;
    let days_of = |e: u64| (e as f64 - later_ns as f64) / DAY_NS as f64;
    let vol_of = |s: &ExpirySmile, k: f64| s.implied_vol_at(k);
    let years = years_of(expiry_ns);
    // The vol at `k` on the surface moved by `shocked`, at least what keeps total variance
    // from falling below a shorter expiry's at the same moneyness.
    let calendar_vol = |k: f64, shocked: bool| -> Option<f64> {
        let moved = |v: f64, e: u64| {
            if shocked {
                shock.vol.apply(v, days_of(e))
            } else {
                v
            }
        };
        let own = moved(vol_of(smile, k)?, expiry_ns);
        if years.is_nan() || years <= 0.0 {
            return Some(own);
        }
        let shorter = surface
            .smiles
            .range((underlying, later_ns.saturating_add(1))..(underlying, expiry_ns))
            .filter_map(|(&(_, e), s)| Some(moved(vol_of(s, k)?, e).powi(2) * years_of(e)))
            .fold(0.0, f64::max);
        Some(own.max((shorter / years).sqrt()))
    };
    let before = calendar_vol(k_now, false)?;
    let after = calendar_vol(k_moved, true)?;
    let vol = mark.mark_iv + (after - before);
    vol.is_finite().then_some(vol.max(STRESSED_VOL_FLOOR))
}
