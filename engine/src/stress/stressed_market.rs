//! The market under a move: the one rule both stress testing and the liquidation distance
//! use. Index, forwards and futures' prices move by `1 + spot_move`; an option's mark moves
//! by the change of its Black-76 value (forward moved, vol shocked by tenor, time stepped),
//! so an unmoved market leaves every mark exactly where the venue put it.

use super::scenario::Shock;
use crate::attribution::DAY_NS;
use crate::events::InstrumentKind;
use crate::margin::PmContract;
use crate::state::contract_margin::pm_contract;
use crate::state::contract_risk::Mark;
use crate::state::instrument_state::InstrumentState;

/// An instrument's mark after `shock` and `time_step_ns` (from its current mark, at model
/// time `now_ns`); `None` without a mark or when the model cannot value it.
pub fn stressed_mark(
    instrument: &InstrumentState,
    shock: &Shock,
    now_ns: u64,
    time_step_ns: u64,
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
    let mark_iv = shock.vol.apply(mark.mark_iv, days);
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
