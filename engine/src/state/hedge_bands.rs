//! Target bands: where an account's Greeks per underlying are judged against its
//! `HedgeBands`, and the bounded log of band alerts (an account leaving a band at a
//! batch end, citing the journal sequence of the event that moved it).

use super::account::AccountState;
use super::account_margin::for_each_underlying;
use super::contract_risk::ContractRisk;
use crate::events::{AccountId, HedgeBands, UnderlyingId};

/// Band alerts kept (oldest overwritten first); the count is kept in full.
pub const BAND_ALERTS_RECENT_MAX: usize = 256;

/// One account leaving one underlying's band.
#[derive(Clone, Copy, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct BandAlert {
    pub cause_seq: u64,
    pub account: AccountId,
    pub underlying: UnderlyingId,
    pub delta_coin: f64,
    pub vega_usd: f64,
    pub gamma_usd: f64,
}

#[derive(Clone, Debug)]
pub struct BandAlertLog {
    pub total: u64,
    recent: Vec<BandAlert>,
    next: usize,
}

/// Reserved in full up front: raising an alert at a batch end never allocates.
impl Default for BandAlertLog {
    fn default() -> Self {
        BandAlertLog {
            total: 0,
            recent: Vec::with_capacity(BAND_ALERTS_RECENT_MAX),
            next: 0,
        }
    }
}

/// Equal when the count and the alerts, oldest first, are (wherever the ring starts).
impl PartialEq for BandAlertLog {
    fn eq(&self, other: &BandAlertLog) -> bool {
        self.total == other.total && self.recent().eq(other.recent())
    }
}

impl BandAlertLog {
    pub fn push(&mut self, alert: BandAlert) {
        self.total += 1;
        if self.recent.len() < BAND_ALERTS_RECENT_MAX {
            self.recent.push(alert);
        } else {
            self.recent[self.next] = alert;
        }
        self.next = (self.next + 1) % BAND_ALERTS_RECENT_MAX;
    }

    /// Oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &BandAlert> {
        let split = if self.recent.len() < BAND_ALERTS_RECENT_MAX {
            0
        } else {
            self.next
        };
        self.recent[split..].iter().chain(&self.recent[..split])
    }

    /// From an image's fields (oldest first).
    pub fn restored(total: u64, alerts: Vec<BandAlert>) -> BandAlertLog {
        let mut log = BandAlertLog::default();
        for alert in alerts {
            log.push(alert);
        }
        log.total = total;
        log
    }
}

/// Whether `greeks` are outside `bands` (a delta band, and ± vega and gamma bands where
/// set).
pub fn outside(bands: &HedgeBands, greeks: &ContractRisk) -> bool {
    let delta_out = bands.has_delta_band()
        && (greeks.delta_coin < bands.delta_min_coin || greeks.delta_coin > bands.delta_max_coin);
    let vega_out = bands.vega_max_abs_usd > 0.0 && greeks.vega_usd.abs() > bands.vega_max_abs_usd;
    let gamma_out =
        bands.gamma_max_abs_usd > 0.0 && greeks.gamma_usd.abs() > bands.gamma_max_abs_usd;
    delta_out || vega_out || gamma_out
}

/// The account's Greeks per banded underlying (zero where it holds nothing of one).
pub fn banded_greeks(account: &AccountState, mut each: impl FnMut(&HedgeBands, &ContractRisk)) {
    for (underlying, bands) in account.hedge_bands.iter() {
        let mut greeks = ContractRisk::ZERO;
        for_each_underlying(&account.risk, |u, sum| {
            if u == *underlying {
                greeks = *sum;
            }
        });
        each(bands, &greeks);
    }
}

/// Judges the account against its bands after an evaluation: raises an alert for each
/// underlying whose band it has just left, and records where it is outside.
pub fn judge(account: &mut AccountState, id: AccountId, log: &mut BandAlertLog) {
    if account.hedge_bands.is_empty() {
        return;
    }
    let mut out = 0u64;
    let before = account.hedge_out_of_band;
    let cause_seq = account.cause_seq;
    banded_greeks(account, |bands, greeks| {
        if outside(bands, greeks) {
            let bit = 1u64 << bands.underlying.0;
            out |= bit;
            if before & bit == 0 {
                log.push(BandAlert {
                    cause_seq,
                    account: id,
                    underlying: bands.underlying,
                    delta_coin: greeks.delta_coin,
                    vega_usd: greeks.vega_usd,
                    gamma_usd: greeks.gamma_usd,
                });
            }
        }
    });
    account.hedge_out_of_band = out;
}
