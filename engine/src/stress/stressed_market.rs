//! The market under a move: the one rule both stress testing and the liquidation distance
//! use. Index, forwards and futures' prices move by `1 + spot_move`; an option's mark moves
//! by the change of its Black-76 value (forward moved, vol shocked by tenor, time stepped),
//! so an unmoved market leaves every mark exactly where the venue put it.

use super::scenario::{STRESSED_VOL_FLOOR, Shock};
use crate::attribution::DAY_NS;
use crate::events::InstrumentKind;
use crate::margin::PmContract;
use crate::pricing::{OptionInputs, black76_as_in_batch};
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
    if instrument.definition.kind != InstrumentKind::Option {
        return Some(moved_non_option_mark(&mark, shock));
    }
    let later_ns = now_ns.saturating_add(time_step_ns);
    let moved = moved_option_mark(instrument, &mark, shock, later_ns, surface);
    let moved_value = option_model_value(instrument, &moved, later_ns)?;
    let value_now = option_model_value(instrument, &mark, now_ns)?;
    Some(repriced_mark(&mark, moved, moved_value, value_now))
}

/// A future's, perpetual's or spot's mark after `shock`: forward and price scaled alike.
pub(crate) fn moved_non_option_mark(mark: &Mark, shock: &Shock) -> Mark {
    let factor = 1.0 + shock.spot_move;
    Mark {
        forward: mark.forward * factor,
        mark_price: mark.mark_price * factor,
        ..*mark
    }
}

/// An option's forward and IV after `shock` at `later_ns` (its price not yet moved: see
/// [`repriced_mark`]).
pub(crate) fn moved_option_mark(
    instrument: &InstrumentState,
    mark: &Mark,
    shock: &Shock,
    later_ns: u64,
    surface: Option<&VolSurface>,
) -> Mark {
    let forward = mark.forward * (1.0 + shock.spot_move);
    let days = (instrument.definition.expiry_ns as f64 - later_ns as f64) / DAY_NS as f64;
    let mark_iv = surface
        .and_then(|surface| surface_vol(surface, instrument, mark, forward, shock, later_ns))
        .unwrap_or_else(|| shock.vol.apply(mark.mark_iv, days));
    Mark {
        forward,
        mark_iv,
        ..*mark
    }
}

/// The stressed mark: `moved`'s forward and IV, and the venue's mark price moved by the
/// change of the model value (so an unmoved market leaves the venue's price as it is).
pub(crate) fn repriced_mark(mark: &Mark, moved: Mark, moved_value: f64, value_now: f64) -> Mark {
    Mark {
        mark_price: (mark.mark_price + (moved_value - value_now)).max(0.0),
        ..moved
    }
}

/// The Black-76 inputs of an option's model value at `mark` and `now_ns` (expired: at
/// zero years), and whether its price is quoted in coin; `None` for other instruments.
pub(crate) fn model_inputs(
    instrument: &InstrumentState,
    mark: &Mark,
    now_ns: u64,
) -> Option<(OptionInputs, bool)> {
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
    let inputs = OptionInputs {
        kind,
        forward: mark.forward,
        strike,
        years: years.max(0.0),
        vol: mark.mark_iv,
        rate: 0.0,
    };
    Some((inputs, inverse))
}

/// A Black-76 USD price as the option quotes it (÷ the forward for coin-quoted options).
pub(crate) fn quoted_value(usd: f64, inverse: bool, forward: f64) -> f64 {
    if inverse { usd / forward } else { usd }
}

/// Black-76 value of one contract as quoted (coin for inverse options) at `mark`, priced
/// by the batch kernel (the bits a batch of stressed options gets for it).
pub fn option_model_value(instrument: &InstrumentState, mark: &Mark, now_ns: u64) -> Option<f64> {
    let (inputs, inverse) = model_inputs(instrument, mark, now_ns)?;
    let usd = black76_as_in_batch(&inputs).ok()?.price_usd;
    Some(quoted_value(usd, inverse, inputs.forward))
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
