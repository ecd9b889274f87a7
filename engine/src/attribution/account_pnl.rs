//! One account's PnL attribution, accrued step by step (a step ends at each batch end):
//! the current step's components per (underlying, currency), what they added up to since
//! the start of the day and since the account began, in the ledger currency and in USD,
//! and the actual PnL per currency (change in equity less collateral moved) to check
//! them against.

use rkyv::{Archive, Deserialize, Serialize};

use super::components::PnlComponents;
use super::decompose::{DAY_NS, Payoff, Valuation, decompose_move};
use crate::events::{Currency, InstrumentId, UnderlyingId};
use crate::state::account::RiskKey;
use crate::state::sorted_map::SortedVecMap;

/// The attribution day starts at 08:00 UTC, Deribit's daily settlement (where a crypto
/// derivatives desk's day turns), not at midnight.
pub const DAY_START_OFFSET_NS: u64 = 8 * 3_600_000_000_000;

/// The attribution day an instant belongs to (days since 1970-01-01 08:00 UTC).
pub fn attribution_day(now_ns: u64) -> u64 {
    now_ns.saturating_sub(DAY_START_OFFSET_NS) / DAY_NS
}

/// Components of one (underlying, currency): the step in progress (ledger currency), and
/// the sums since the start of the day and since the account began, in the ledger
/// currency and in USD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct KeyPnl {
    pub step: PnlComponents,
    pub day: PnlComponents,
    pub day_usd: PnlComponents,
    pub total: PnlComponents,
    pub total_usd: PnlComponents,
}

/// Actual PnL of one ledger currency: equity at the last step end, collateral moved in
/// the step in progress, and the actual PnL since the start of the day and since the
/// account began (ledger currency and USD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Archive, Serialize, Deserialize)]
pub struct CurrencyPnl {
    pub last_equity: f64,
    pub step_collateral: f64,
    pub day_actual: f64,
    pub day_actual_usd: f64,
    pub total_actual: f64,
    pub total_actual_usd: f64,
}

/// A trade of the step in progress: at the step's end, its part of the position's price
/// move is taken out of the Greek terms and counted as a new trade (new trades are valued
/// against the mark at the end of the step they were made in).
#[derive(Clone, Copy, Debug, PartialEq, Archive, Serialize, Deserialize)]
pub struct StepTrade {
    pub instrument: InstrumentId,
    pub key: RiskKey,
    pub quantity: f64,
}

/// One instrument revalued at a step end: what its holders' price PnL is decomposed from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceMove {
    pub instrument: InstrumentId,
    /// The move of one contract, decomposed once (every term is linear in the quantity,
    /// so each holder's is this scaled).
    unit: PnlComponents,
}

impl PriceMove {
    pub fn new(
        instrument: InstrumentId,
        payoff: Payoff,
        before: &Valuation,
        after: &Valuation,
    ) -> PriceMove {
        PriceMove {
            instrument,
            unit: decompose_move(1.0, payoff, before, after),
        }
    }

    /// The price PnL of `quantity` contracts held through this move, decomposed.
    pub fn components(&self, quantity: f64) -> PnlComponents {
        self.unit * quantity
    }
}

/// The USD value of one unit of `currency` at a step end: the underlying's index for its
/// coin, 1 for the quote currency; `None` without an index.
pub fn usd_rate(currency: Currency, index: impl Fn(UnderlyingId) -> Option<f64>) -> Option<f64> {
    match currency {
        Currency::Quote => Some(1.0),
        Currency::Coin(underlying) => index(underlying).filter(|p| p.is_finite() && *p > 0.0),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AccountAttribution {
    /// Attribution day of the last step closed (`day*` sums belong to it).
    pub day: u64,
    pub keys: SortedVecMap<RiskKey, KeyPnl>,
    pub currencies: SortedVecMap<Currency, CurrencyPnl>,
    /// Trades of the step in progress. At most one per fill, so bounded by the batch's
    /// events plus the parked fills one definition can release.
    pub step_trades: Vec<StepTrade>,
    /// Steps whose coin PnL had no index to convert it at (left out of the USD sums).
    pub usd_unconverted_steps: u64,
}

impl AccountAttribution {
    /// Adds `parts` to the step in progress of `key`.
    pub fn accrue(&mut self, key: RiskKey, parts: PnlComponents) {
        self.keys.entry_or_default(key).step += parts;
    }

    /// A trade of `quantity` contracts (signed) at `trade_value` per contract while the
    /// position is valued at `current_value` per contract, paying `fee`.
    pub fn trade(
        &mut self,
        instrument: InstrumentId,
        key: RiskKey,
        quantity: f64,
        trade_value: f64,
        current_value: f64,
        fee: f64,
    ) {
        let parts = PnlComponents {
            new_trades: quantity * (current_value - trade_value),
            fees: -fee,
            ..PnlComponents::ZERO
        };
        self.accrue(key, parts);
        self.step_trades.push(StepTrade {
            instrument,
            key,
            quantity,
        });
    }

    pub fn collateral(&mut self, currency: Currency, amount: f64) {
        self.currencies.entry_or_default(currency).step_collateral += amount;
    }

    /// Ends the step at `now_ns`: moves the step's trades out of the price moves into
    /// new trades, then adds each key's step to the day and total sums (USD at the
    /// index now), and each currency's actual PnL (`equity` now − equity at the last
    /// step end − collateral moved).
    pub fn close_step(
        &mut self,
        now_ns: u64,
        moves: &[PriceMove],
        index: impl Fn(UnderlyingId) -> Option<f64> + Copy,
        currencies: impl Iterator<Item = (Currency, f64)>,
    ) {
        for trade in self.step_trades.drain(..) {
            let Ok(found) = moves.binary_search_by_key(&trade.instrument, |m| m.instrument) else {
                continue;
            };
            let traded = moves[found].components(trade.quantity);
            let mut correction = traded * -1.0;
            correction.new_trades += traded.sum();
            self.keys.entry_or_default(trade.key).step += correction;
        }
        let day = attribution_day(now_ns);
        let new_day = day != self.day;
        self.day = day;
        let mut unconverted = false;
        for (&(_, currency), pnl) in self.keys.iter_mut() {
            if new_day {
                pnl.day = PnlComponents::ZERO;
                pnl.day_usd = PnlComponents::ZERO;
            }
            let step = std::mem::take(&mut pnl.step);
            pnl.day += step;
            pnl.total += step;
            match usd_rate(currency, index) {
                Some(rate) => {
                    pnl.day_usd += step * rate;
                    pnl.total_usd += step * rate;
                }
                None => unconverted |= !step.is_zero(),
            }
        }
        for (currency, equity) in currencies {
            let pnl = self.currencies.entry_or_default(currency);
            if new_day {
                pnl.day_actual = 0.0;
                pnl.day_actual_usd = 0.0;
            }
            let actual = equity - pnl.last_equity - pnl.step_collateral;
            pnl.last_equity = equity;
            pnl.step_collateral = 0.0;
            pnl.day_actual += actual;
            pnl.total_actual += actual;
            match usd_rate(currency, index) {
                Some(rate) => {
                    pnl.day_actual_usd += actual * rate;
                    pnl.total_actual_usd += actual * rate;
                }
                None => unconverted |= actual != 0.0,
            }
        }
        self.usd_unconverted_steps += u64::from(unconverted);
    }

    /// Whether the `day*` sums are today's at `now_ns` (else the day has no steps yet:
    /// read them as zero).
    pub fn is_current_day(&self, now_ns: u64) -> bool {
        self.day == attribution_day(now_ns)
    }
}
