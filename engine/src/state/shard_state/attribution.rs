//! Batch-end close of each account's PnL attribution step (the accrual itself happens
//! where the PnL does: fills, funding, settlement, revaluation).

use super::*;
use crate::state::account::equity_of;

impl ShardState {
    /// Closes the attribution step of every account the batch end evaluated (every
    /// account whose equity could have moved is among them: each such event touches it).
    pub(super) fn close_attribution_steps(&mut self) {
        let ShardState {
            accounts,
            index_prices,
            scratch,
            now_ns,
            ..
        } = self;
        let index = |u: UnderlyingId| index_prices.get(&u).map(|&(_, price)| price);
        for id in &scratch.evaluated {
            let Some(account) = accounts.get_mut(id) else {
                continue;
            };
            let AccountState {
                cash,
                risk,
                entry_value,
                attribution,
                ..
            } = account;
            let currencies = cash
                .keys()
                .map(|&currency| (currency, equity_of(cash, risk, entry_value, currency)));
            attribution.close_step(*now_ns, &scratch.moves, index, currencies);
        }
    }
}
