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
/// USD) `closed·size·(1/entry − 1/exit)` in coin.
pub fn closing_pnl(
    definition: &InstrumentDefinition,
    size: Decimal,
    closed: Decimal,
    entry: Decimal,
    exit: Decimal,
) -> Decimal {
    if is_inverse_future(definition) {
        if entry.is_zero() || exit.is_zero() {
            return Decimal::ZERO;
        }
        return closed * size * (Decimal::ONE / entry - Decimal::ONE / exit);
    }
    closed * size * (exit - entry)
}

impl Position {
    /// Applies a trade of `signed_quantity` at `price`: adds to the position (average
    /// entry updated; harmonically for inverse futures, whose PnL is in 1/price), or
    /// closes part of it (PnL realized), or closes and reverses it.
    pub fn trade(
        &mut self,
        definition: &InstrumentDefinition,
        size: Decimal,
        signed_quantity: Decimal,
        price: Decimal,
    ) -> TradeEffect {
        let same_direction = self.quantity.is_zero()
            || self.quantity.is_sign_positive() == signed_quantity.is_sign_positive();
        if same_direction {
            let total = self.quantity + signed_quantity;
            self.average_price = if is_inverse_future(definition) {
                // Σq / Σ(q/p): the entry for which q·N·(1/entry − 1/exit) is exact.
                let weight = self.quantity.abs() / self.average_price_or(price)
                    + signed_quantity.abs() / price;
                total.abs() / weight
            } else {
                (self.quantity.abs() * self.average_price + signed_quantity.abs() * price)
                    / total.abs()
            };
            self.quantity = total;
            return TradeEffect {
                realized: Decimal::ZERO,
            };
        }
        let closing = signed_quantity.abs().min(self.quantity.abs());
        let closed = if self.quantity.is_sign_positive() {
            closing
        } else {
            -closing
        };
        let realized = closing_pnl(definition, size, closed, self.average_price, price);
        let remainder = signed_quantity.abs() - closing;
        self.quantity -= closed;
        if !remainder.is_zero() {
            // Reversed: the rest opens a new position at this price.
            self.quantity = if signed_quantity.is_sign_positive() {
                remainder
            } else {
                -remainder
            };
            self.average_price = price;
        } else if self.quantity.is_zero() {
            self.average_price = Decimal::ZERO;
        }
        TradeEffect { realized }
    }

    fn average_price_or(&self, price: Decimal) -> Decimal {
        if self.average_price.is_zero() {
            price
        } else {
            self.average_price
        }
    }
}
