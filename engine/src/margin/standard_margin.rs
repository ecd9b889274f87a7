//! Standard (non-portfolio) margin, Deribit's per-position rules (docs/MARGIN.md): the
//! second model, selectable per account. Amounts in the settlement currency.

use super::portfolio_margin::{MarginError, PmContract};
use crate::pricing::OptionKind;

/// Futures: IM rate 2 % + 0.005 % per coin of size, MM rate 1 % + the same.
pub const FUTURE_IM_BASE: f64 = 0.02;
pub const FUTURE_MM_BASE: f64 = 0.01;
pub const FUTURE_RATE_PER_COIN: f64 = 0.000_05;
/// Short options: IM max(0.15 − OTM/underlying, 0.1) + mark; MM 0.075 + mark.
pub const OPTION_IM_BASE: f64 = 0.15;
pub const OPTION_IM_FLOOR: f64 = 0.1;
pub const OPTION_MM_BASE: f64 = 0.075;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StandardMargin {
    pub initial_margin: f64,
    pub maintenance_margin: f64,
}

impl std::ops::AddAssign for StandardMargin {
    fn add_assign(&mut self, other: StandardMargin) {
        self.initial_margin += other.initial_margin;
        self.maintenance_margin += other.maintenance_margin;
    }
}

/// Margin of `quantity` (coin units, as for portfolio margin) of `contract`.
/// `underlying`: the underlying's price (USD); `mark`: the option's mark per unit, in the
/// settlement currency (coin for inverse). Long options need none (premium paid).
pub fn standard_margin(
    contract: &PmContract,
    quantity: f64,
    underlying: f64,
    mark: f64,
) -> Result<StandardMargin, MarginError> {
    if !quantity.is_finite() {
        return Err(MarginError::InvalidQuantity);
    }
    if !(underlying.is_finite() && underlying > 0.0) {
        return Err(MarginError::InvalidPrice {
            what: "underlying",
            value: underlying,
        });
    }
    if !(mark.is_finite() && mark >= 0.0) {
        return Err(MarginError::InvalidPrice {
            what: "mark",
            value: mark,
        });
    }
    let size = quantity.abs();
    let margin = match *contract {
        PmContract::InverseFuture { .. } | PmContract::LinearFuture { .. } => {
            // Linear contracts margin in the quote currency: size × price.
            let notional = match contract {
                PmContract::LinearFuture { .. } => size * underlying,
                _ => size,
            };
            let extra = FUTURE_RATE_PER_COIN * size;
            StandardMargin {
                initial_margin: notional * (FUTURE_IM_BASE + extra),
                maintenance_margin: notional * (FUTURE_MM_BASE + extra),
            }
        }
        PmContract::Option { .. } if quantity >= 0.0 => StandardMargin::default(),
        PmContract::Option {
            kind,
            strike,
            inverse,
            ..
        } => {
            let out_of_the_money = match kind {
                OptionKind::Call => (strike - underlying).max(0.0),
                OptionKind::Put => (underlying - strike).max(0.0),
            };
            // Rates are per unit of underlying in coin; linear options scale by price.
            let unit = if inverse { 1.0 } else { underlying };
            let im_rate = (OPTION_IM_BASE - out_of_the_money / underlying).max(OPTION_IM_FLOOR);
            let (im, mm) = match kind {
                OptionKind::Call => (im_rate * unit + mark, OPTION_MM_BASE * unit + mark),
                OptionKind::Put => {
                    let mm = (OPTION_MM_BASE * unit).max(OPTION_MM_BASE * mark) + mark;
                    ((im_rate * unit + mark).max(mm), mm)
                }
            };
            StandardMargin {
                initial_margin: size * im,
                maintenance_margin: size * mm,
            }
        }
    };
    Ok(margin)
}
