//! Account events: definitions (registered in every shard, kept by the owner), collateral
//! transfers, and the helper that applies a change to an owned account.

use super::*;

impl ShardState {
    /// Every shard registers every account (names unique engine-wide, fills for it
    /// no longer parked); only the owner keeps its state.
    pub(super) fn define_account(&mut self, definition: &AccountDefinition) -> Outcome {
        if definition.id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if let Some(existing) = self.account_names.get(&definition.id) {
            let same = *existing == definition.name
                && self
                    .accounts
                    .get(&definition.id)
                    .is_none_or(|a| a.margin_model == definition.margin_model);
            return if same {
                Outcome::Applied
            } else {
                Outcome::Rejected(RejectReason::ConflictingDefinition)
            };
        }
        if self.account_ids_by_name.contains_key(&definition.name) {
            return Outcome::Rejected(RejectReason::DuplicateName);
        }
        self.account_names.insert(definition.id, definition.name);
        self.account_ids_by_name
            .insert(definition.name, definition.id);
        if self.owns(definition.id) {
            let mut account = AccountState::new(definition.name, definition.margin_model);
            self.dirty_accounts.reserve(1);
            touch(
                &mut account,
                definition.id,
                self.seq,
                &mut self.dirty_accounts,
            );
            self.accounts.insert(definition.id, account);
        }
        self.release_parked();
        Outcome::Applied
    }

    /// A deposit, or a withdrawal of at most the available balance (equity − initial
    /// margin, as of now); a transfer id already applied to the account is a duplicate.
    pub(super) fn collateral(&mut self, collateral: &Collateral) -> Outcome {
        let Some(amount) = collateral.amount.get() else {
            return Outcome::Rejected(RejectReason::NotFinite);
        };
        if collateral.currency.slot().is_none() {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let currency = collateral.currency;
        self.with_account(collateral.account, |account| {
            if account.has_transfer(collateral.transfer_id) {
                return Err(RejectReason::DuplicateTransferId);
            }
            if amount.is_sign_negative() {
                // Both finite (bounded amount, finite available): a plain comparison.
                let requested = decimal_to_f64(&(-amount));
                if requested > account.withdrawable(currency) {
                    return Err(RejectReason::InsufficientCollateral);
                }
            }
            let new_cash = ledger(&account.cash, currency)
                .checked_add(amount)
                .ok_or(RejectReason::Overflow)?;
            account.set_cash(currency, new_cash);
            account.remember_transfer(collateral.transfer_id);
            account
                .attribution
                .collateral(currency, decimal_to_f64(&amount));
            Ok(())
        })
    }

    pub(super) fn with_account(
        &mut self,
        id: AccountId,
        change: impl FnOnce(&mut AccountState) -> Result<(), RejectReason>,
    ) -> Outcome {
        if !self.owns(id) {
            return Outcome::NotOwned;
        }
        if id.0 >= ACCOUNTS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let Some(account) = self.accounts.get_mut(&id) else {
            return Outcome::Rejected(RejectReason::UnknownAccount);
        };
        match change(account) {
            Ok(()) => {
                touch(account, id, self.seq, &mut self.dirty_accounts);
                Outcome::Applied
            }
            Err(reason) => Outcome::Rejected(reason),
        }
    }
}
