//! Batch-end close of each account's PnL attribution step (the accrual itself happens
//! where the PnL does: fills, funding, settlement, revaluation).

use super::*;

impl ShardState {
    /// Closes the attribution step of every account the batch end evaluated (every
    /// account whose equity could have moved is among them: each such event touches it),
    /// right after the evaluation, whose equity per currency it reads.
    pub(super) fn close_attribution_steps(&mut self) {
        let ShardState {
            accounts,
            instruments,
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
            for trade in &account.attribution.step_trades {
                if let Some(instrument) = instruments.get_mut(&trade.instrument) {
                    instrument.traded_in_step = false;
                }
            }
            let AccountState {
                cash,
                margin,
                attribution,
                ..
            } = account;
            // The evaluation just computed each currency's equity from this same state.
            let currencies = margin
                .iter()
                .filter(|(currency, _)| cash.contains_key(currency))
                .map(|(&currency, m)| (currency, m.equity));
            attribution.close_step(*now_ns, &scratch.moves, index, currencies);
        }
    }
}
