//! A position and its average-entry accounting, in exact decimals.

use rust_decimal::Decimal;

use crate::events::{InstrumentDefinition, InstrumentKind, Settlement};

/// Signed quantity (contracts; > 0 long) and average entry price (as quoted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub quantity: Decimal,
    pub average_price: Decimal,
}

/// How a trade changed a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeEffect {
    /// Realized PnL of the part that closed, in the settlement currency.
    pub realized: Decimal,
}

fn is_inverse_future(definition: &InstrumentDefinition) -> bool {
    definition.settlement == Settlement::Inverse
        && matches!(
            definition.kind,
            InstrumentKind::Future | InstrumentKind::Perpetual
        )
}

/// PnL of closing `closed` contracts (signed like the position they close) entered at
/// `entry`, exited at `exit`: `closed·size·(exit − entry)`, or for inverse futures (size in
/// USD) `closed·size·(1/entry − 1/exit)` in coin. `None` if it would overflow.
pub fn closing_pnl(
    definition: &InstrumentDefinition,
    size: Decimal,
    closed: Decimal,
    entry: Decimal,
    exit: Decimal,
) -> Option<Decimal> {
    let notional = closed.checked_mul(size)?;
    if is_inverse_future(definition) {
        if entry.is_zero() || exit.is_zero() {
            return Some(Decimal::ZERO);
        }
        let per_usd = Decimal::ONE
            .checked_div(entry)?
            .checked_sub(Decimal::ONE.checked_div(exit)?)?;
        return notional.checked_mul(per_usd);
    }
    notional.checked_mul(exit.checked_sub(entry)?)
}

impl Position {
    /// Applies a trade of `signed_quantity` at `price`: adds to the position (average
    /// entry updated; harmonically for inverse futures, whose PnL is in 1/price), or
    /// closes part of it (PnL realized), or closes and reverses it. Checked: on overflow
    /// it returns `None` and the position is unchanged.
    pub fn trade(
        &mut self,
        definition: &InstrumentDefinition,
        size: Decimal,
        signed_quantity: Decimal,
        price: Decimal,
    ) -> Option<TradeEffect> {
        let (next, effect) = self.traded(definition, size, signed_quantity, price)?;
        *self = next;
        Some(effect)
    }

    fn traded(
        &self,
        definition: &InstrumentDefinition,
        size: Decimal,
        signed_quantity: Decimal,
        price: Decimal,
    ) -> Option<(Position, TradeEffect)> {
        let same_direction = self.quantity.is_zero()
            || self.quantity.is_sign_positive() == signed_quantity.is_sign_positive();
        if same_direction {
            let total = self.quantity.checked_add(signed_quantity)?;
            let average_price = if is_inverse_future(definition) {
                // Σq / Σ(q/p): the entry for which q·N·(1/entry − 1/exit) is exact.
                let weight = self
                    .quantity
                    .abs()
                    .checked_div(self.average_price_or(price))?
                    .checked_add(signed_quantity.abs().checked_div(price)?)?;
                total.abs().checked_div(weight)?
            } else {
                self.quantity
                    .abs()
                    .checked_mul(self.average_price)?
                    .checked_add(signed_quantity.abs().checked_mul(price)?)?
                    .checked_div(total.abs())?
            };
            let next = Position {
                quantity: total,
                average_price,
            };
            let effect = TradeEffect {
                realized: Decimal::ZERO,
            };
            return Some((next, effect));
        }
        let closing = signed_quantity.abs().min(self.quantity.abs());
        let closed = if self.quantity.is_sign_positive() {
            closing
        } else {
            -closing
        };
        let realized = closing_pnl(definition, size, closed, self.average_price, price)?;
        let remainder = signed_quantity.abs() - closing;
        let mut next = Position {
            quantity: self.quantity - closed,
            average_price: self.average_price,
        };
        if !remainder.is_zero() {
            // Reversed: the rest opens a new position at this price.
            next.quantity = if signed_quantity.is_sign_positive() {
                remainder
            } else {
                -remainder
            };
            next.average_price = price;
        } else if next.quantity.is_zero() {
            next.average_price = Decimal::ZERO;
        }
        Some((next, TradeEffect { realized }))
    }

    fn average_price_or(&self, price: Decimal) -> Decimal {
        if self.average_price.is_zero() {
            price
        } else {
            self.average_price
        }
    }
}
