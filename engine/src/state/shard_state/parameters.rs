//! Risk parameters: journaled, staged, and in force from the next batch end.

use super::*;

impl ShardState {
    /// Parameters journaled since the last batch end take effect now, before
    /// revaluation: between batch ends the parameters in force never change, so an
    /// instrument valued late (on its first fill) gets what the batch end would have.
    pub(super) fn install_staged_params(&mut self) {
        for index in 0..self.staged_params.len() {
            let params = self.staged_params[index];
            self.risk_params.insert(params.underlying, params);
            // Every marked instrument of the underlying is revalued under them.
            for (id, instrument) in self.instruments.iter_mut() {
                let affected = instrument.definition.underlying == params.underlying
                    && instrument.mark.is_some()
                    && !instrument.settled;
                if affected && !instrument.dirty {
                    instrument.dirty = true;
                    self.dirty.push(*id);
                }
            }
        }
        self.staged_params.clear();
    }

    pub(super) fn set_risk_params(&mut self, params: &RiskParams) -> Outcome {
        if params.underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        if !params.params.is_valid() {
            return Outcome::Rejected(RejectReason::InvalidParams);
        }
        // Cited by the holders of every instrument it revalues.
        for instrument in self.instruments.values_mut() {
            if instrument.definition.underlying == params.underlying {
                instrument.mark_seq = self.seq;
            }
        }
        self.staged_params.push(*params);
        Outcome::Applied
    }
}
