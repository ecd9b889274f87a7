//! A shard's state as bytes and back (docs/PIPELINE.md, "State snapshots": recovery =
//! latest snapshot + journal tail). The image is an rkyv archive of plain mirror types —
//! vectors in key order, decimals as their 16 bytes — so the on-disk form does not change
//! when the in-memory containers do, and reading it back validates every byte (no panic on
//! any input).
//!
//! Restoring gives a state equal (`==`) to the one imaged, so replaying the same journal
//! tail from it reaches the same state hash as replaying from the start.

use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};
use rust_decimal::Decimal;
use thiserror::Error;

use super::account::AccountState;
use super::account_margin::{CurrencyMargin, TradingState};
use super::alerts::AlertLog;
use super::contract_margin::ContractMargin;
use super::contract_risk::{ContractRisk, Mark};
use super::hedge_bands::{BandAlert, BandAlertLog};
use super::instrument_state::InstrumentState;
use super::parking::{ParkedFill, Parking};
use super::position::Position;
use super::rejection::RejectionCounts;
use super::shard_state::ShardState;
use super::surface_state::{MarkSource, SurfaceState};
use super::trade_ids::TradeIdWindow;
use crate::attribution::{AccountAttribution, CurrencyPnl, KeyPnl, StepTrade};
use crate::events::{
    AccountId, Currency, Dec, HedgeBands, InstrumentDefinition, InstrumentId, Limits, MarginModel,
    Name, RiskParams, UnderlyingId,
};
use crate::margin::PmTotals;
use crate::surface::{ExpirySmile, SmileFit, SviParams};

/// Version of the image layout; an image of another version is refused (full replay).
pub const STATE_IMAGE_VERSION: u32 = 7;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("state image is damaged: {0}")]
    Invalid(String),
    #[error("state image version {found}, this build reads {STATE_IMAGE_VERSION}")]
    Version { found: u32 },
    #[error("state image is of shard {found_index} of {found_count}, not {index} of {count}")]
    WrongShard {
        found_index: u32,
        found_count: u32,
        index: u32,
        count: u32,
    },
    #[error("state image holds an invalid decimal")]
    InvalidDecimal,
    #[error("state image holds an impossible trade-id window")]
    InvalidTradeIds,
}

#[derive(Archive, Serialize, Deserialize)]
struct ShardImage {
    version: u32,
    shard_index: u32,
    shard_count: u32,
    instruments: Vec<InstrumentImage>,
    accounts: Vec<AccountImage>,
    index_prices: Vec<(UnderlyingId, u64, f64)>,
    risk_params: Vec<(UnderlyingId, RiskParams)>,
    market_rejections: RejectionCounts,
    account_rejections: RejectionCounts,
    parked: Vec<ParkedFill>,
    trade_ids_capacity: u64,
    /// Oldest first.
    trade_ids: Vec<u64>,
    funding_ids: Vec<u64>,
    account_names: Vec<(AccountId, Name)>,
    revaluation_failures: u64,
    ledger_overflows: u64,
    dirty: Vec<InstrumentId>,
    now_ns: u64,
    events_applied: u64,
    seq: u64,
    dirty_accounts: Vec<AccountId>,
    index_moves: Vec<(UnderlyingId, u64)>,
    staged_params: Vec<RiskParams>,
    alerts: AlertLog,
    surface: SurfaceImage,
    band_alerts_total: u64,
    band_alerts: Vec<BandAlert>,
}

#[derive(Archive, Serialize, Deserialize)]
struct SurfaceImage {
    smiles: Vec<SmileImage>,
    /// Per expiry with a defined option: due, last attempt (ns), venue-marked options
    /// now and at the last attempt.
    expiries: Vec<(UnderlyingId, u64, bool, u64, u32, u32)>,
    accepted_fits: u64,
    refused_fits: u64,
    bad_marks: u64,
    model_marks: u64,
}

#[derive(Archive, Serialize, Deserialize)]
struct SmileImage {
    underlying: UnderlyingId,
    expiry_ns: u64,
    /// a, b, ρ, m, σ.
    params: [f64; 5],
    years: f64,
    points: u64,
    rmse_vol_points: f64,
    max_error_vol_points: f64,
    worst_log_moneyness: f64,
    k_min: f64,
    k_max: f64,
    forward: f64,
    fitted_ns: u64,
}

#[derive(Archive, Serialize, Deserialize)]
struct InstrumentImage {
    definition: InstrumentDefinition,
    contract_size: f64,
    strike: f64,
    mark: Option<Mark>,
    risk: ContractRisk,
    risk_current: bool,
    risk_mark: Option<Mark>,
    risk_ns: u64,
    margin: ContractMargin,
    mark_seq: u64,
    dirty: bool,
    settled: bool,
    mark_source: MarkSource,
    mark_suspect: bool,
    holders: Vec<AccountId>,
}

#[derive(Archive, Serialize, Deserialize)]
struct AccountImage {
    id: AccountId,
    name: Name,
    /// (instrument, quantity, average price).
    positions: Vec<(InstrumentId, Dec, Dec)>,
    cash: Vec<(Currency, Dec)>,
    realized_pnl: Vec<(Currency, Dec)>,
    risk: Vec<(UnderlyingId, Currency, ContractRisk)>,
    buckets: Vec<(UnderlyingId, u64, ContractRisk)>,
    entry_value: Vec<(Currency, f64)>,
    limits: Option<Limits>,
    hedge_bands: Vec<HedgeBands>,
    hedge_out_of_band: u64,
    margin_model: MarginModel,
    pm_totals: Vec<(UnderlyingId, Currency, PmTotals)>,
    margin: Vec<(Currency, CurrencyMargin)>,
    trading_state: TradingState,
    conditions: u8,
    margin_dirty: bool,
    cause_seq: u64,
    transfer_ids: Vec<u64>,
    rejected_events: u64,
    attribution: AttributionImage,
}

#[derive(Archive, Serialize, Deserialize)]
struct AttributionImage {
    day: u64,
    keys: Vec<(UnderlyingId, Currency, KeyPnl)>,
    currencies: Vec<(Currency, CurrencyPnl)>,
    step_trades: Vec<StepTrade>,
    usd_unconverted_steps: u64,
}

/// The state's image, ready for a snapshot file.
pub fn encode_state(state: &ShardState) -> Result<AlignedVec, SnapshotError> {
    let image = ShardImage {
        version: STATE_IMAGE_VERSION,
        shard_index: state.shard_index,
        shard_count: state.shard_count,
        instruments: state
            .instruments
            .values()
            .map(|i| InstrumentImage {
                definition: i.definition,
                contract_size: i.contract_size,
                strike: i.strike,
                mark: i.mark,
                risk: i.risk,
                risk_current: i.risk_current,
                risk_mark: i.risk_mark,
                risk_ns: i.risk_ns,
                margin: i.margin,
                mark_seq: i.mark_seq,
                dirty: i.dirty,
                settled: i.settled,
                mark_source: i.mark_source,
                mark_suspect: i.mark_suspect,
                holders: i.holders.keys().copied().collect(),
            })
            .collect(),
        accounts: state
            .accounts
            .iter()
            .map(|(id, a)| account_image(*id, a))
            .collect(),
        index_prices: state
            .index_prices
            .iter()
            .map(|(u, (t, p))| (*u, *t, *p))
            .collect(),
        risk_params: state.risk_params.iter().map(|(u, p)| (*u, *p)).collect(),
        market_rejections: state.market_rejections.clone(),
        account_rejections: state.account_rejections.clone(),
        parked: state.parked.fills().to_vec(),
        trade_ids_capacity: state.trade_ids.capacity() as u64,
        trade_ids: state.trade_ids.iter().collect(),
        funding_ids: state.funding_ids.iter().collect(),
        account_names: state.account_names.iter().map(|(i, n)| (*i, *n)).collect(),
        revaluation_failures: state.revaluation_failures,
        ledger_overflows: state.ledger_overflows,
        dirty: state.dirty_instruments().to_vec(),
        now_ns: state.now_ns,
        events_applied: state.events_applied,
        seq: state.seq,
        dirty_accounts: state.dirty_accounts().to_vec(),
        index_moves: state.index_moves().to_vec(),
        staged_params: state.staged_params().to_vec(),
        alerts: state.alerts.clone(),
        surface: surface_image(&state.surface),
        band_alerts_total: state.band_alerts.total,
        band_alerts: state.band_alerts.recent().copied().collect(),
    };
    rkyv::to_bytes::<rancor::Error>(&image).map_err(|e| SnapshotError::Invalid(e.to_string()))
}

fn account_image(id: AccountId, account: &AccountState) -> AccountImage {
    let decimals = |map: &std::collections::BTreeMap<Currency, Decimal>| {
        map.iter().map(|(u, v)| (*u, Dec::new(*v))).collect()
    };
    AccountImage {
        id,
        name: account.name,
        positions: account
            .positions
            .iter()
            .map(|(i, p)| (*i, Dec::new(p.quantity), Dec::new(p.average_price)))
            .collect(),
        cash: decimals(&account.cash),
        realized_pnl: decimals(&account.realized_pnl),
        risk: account
            .risk
            .iter()
            .map(|((u, c), r)| (*u, *c, *r))
            .collect(),
        buckets: account
            .buckets
            .iter()
            .map(|((u, e), r)| (*u, *e, *r))
            .collect(),
        entry_value: account.entry_value.iter().map(|(u, v)| (*u, *v)).collect(),
        limits: account.limits,
        hedge_bands: account.hedge_bands.values().copied().collect(),
        hedge_out_of_band: account.hedge_out_of_band,
        margin_model: account.margin_model,
        pm_totals: account
            .pm_totals
            .iter()
            .map(|((u, c), t)| (*u, *c, *t))
            .collect(),
        margin: account.margin.iter().map(|(c, m)| (*c, *m)).collect(),
        trading_state: account.trading_state,
        conditions: account.conditions,
        margin_dirty: account.margin_dirty,
        cause_seq: account.cause_seq,
        transfer_ids: account.transfer_ids.clone(),
        rejected_events: account.rejected_events,
        attribution: attribution_image(&account.attribution),
    }
}

fn attribution_image(attribution: &AccountAttribution) -> AttributionImage {
    AttributionImage {
        day: attribution.day,
        keys: attribution
            .keys
            .iter()
            .map(|((u, c), pnl)| (*u, *c, *pnl))
            .collect(),
        currencies: attribution
            .currencies
            .iter()
            .map(|(c, p)| (*c, *p))
            .collect(),
        step_trades: attribution.step_trades.clone(),
        usd_unconverted_steps: attribution.usd_unconverted_steps,
    }
}

/// Most step trades an image may hold for one account (a batch's fills and a release of
/// parked fills are far fewer).
const STEP_TRADES_IMAGE_MAX: usize = 1 << 16;

fn restored_attribution(image: AttributionImage) -> Result<AccountAttribution, SnapshotError> {
    if image.step_trades.len() > STEP_TRADES_IMAGE_MAX {
        return Err(SnapshotError::Invalid("too many step trades".into()));
    }
    let mut step_trades = image.step_trades;
    step_trades.reserve((super::BATCH_EVENTS_MAX as usize).saturating_sub(step_trades.len()));
    Ok(AccountAttribution {
        day: image.day,
        keys: image
            .keys
            .into_iter()
            .map(|(u, c, p)| ((u, c), p))
            .collect(),
        currencies: image.currencies.into_iter().collect(),
        step_trades,
        usd_unconverted_steps: image.usd_unconverted_steps,
    })
}

fn decimal(value: Dec) -> Result<Decimal, SnapshotError> {
    value.get().ok_or(SnapshotError::InvalidDecimal)
}

/// Restores shard `shard_index` of `shard_count` from an image. Validates the bytes, the
/// version, the shard and every decimal; never panics.
pub fn decode_state(
    bytes: &[u8],
    shard_index: u32,
    shard_count: u32,
) -> Result<ShardState, SnapshotError> {
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    let image = rkyv::from_bytes::<ShardImage, rancor::Error>(&aligned)
        .map_err(|e| SnapshotError::Invalid(e.to_string()))?;
    if image.version != STATE_IMAGE_VERSION {
        return Err(SnapshotError::Version {
            found: image.version,
        });
    }
    if (image.shard_index, image.shard_count) != (shard_index, shard_count) {
        return Err(SnapshotError::WrongShard {
            found_index: image.shard_index,
            found_count: image.shard_count,
            index: shard_index,
            count: shard_count,
        });
    }
    let capacity = usize::try_from(image.trade_ids_capacity)
        .ok()
        .filter(|&c| c > 0 && c <= super::shard_state::TRADE_IDS_MAX && image.trade_ids.len() <= c)
        .ok_or(SnapshotError::InvalidTradeIds)?;
    let mut state = ShardState::new(shard_index, shard_count);
    state.trade_ids = TradeIdWindow::with_capacity(capacity);
    image
        .trade_ids
        .iter()
        .for_each(|&id| state.trade_ids.insert(id));
    for i in image.instruments {
        state.instruments.insert(
            i.definition.id,
            InstrumentState {
                definition: i.definition,
                contract_size: i.contract_size,
                strike: i.strike,
                mark: i.mark,
                risk: i.risk,
                risk_current: i.risk_current,
                risk_mark: i.risk_mark,
                risk_ns: i.risk_ns,
                // Set again below from the accounts' step trades.
                traded_in_step: false,
                margin: i.margin,
                mark_seq: i.mark_seq,
                dirty: i.dirty,
                settled: i.settled,
                mark_source: i.mark_source,
                mark_suspect: i.mark_suspect,
                // Quantities are restored from the positions below.
                holders: i.holders.into_iter().map(|h| (h, 0.0)).collect(),
            },
        );
    }
    for a in image.accounts {
        let mut account = AccountState::new(a.name, a.margin_model);
        for (instrument, quantity, average_price) in a.positions {
            let position = Position {
                quantity: decimal(quantity)?,
                average_price: decimal(average_price)?,
            };
            account.positions.insert(instrument, position);
        }
        for (u, v) in a.cash {
            account.set_cash(u, decimal(v)?);
        }
        for (u, v) in a.realized_pnl {
            account.realized_pnl.insert(u, decimal(v)?);
        }
        account.risk = a.risk.into_iter().map(|(u, c, r)| ((u, c), r)).collect();
        account.buckets = a.buckets.into_iter().map(|(u, e, r)| ((u, e), r)).collect();
        account.entry_value = a.entry_value.into_iter().collect();
        account.limits = a.limits;
        for bands in a.hedge_bands {
            account.hedge_bands.insert(bands.underlying, bands);
        }
        account.hedge_out_of_band = a.hedge_out_of_band;
        account.pm_totals = a
            .pm_totals
            .into_iter()
            .map(|(u, c, t)| ((u, c), t))
            .collect();
        account.margin = a.margin.into_iter().collect();
        account.trading_state = a.trading_state;
        account.conditions = a.conditions;
        account.margin_dirty = a.margin_dirty;
        account.cause_seq = a.cause_seq;
        if a.transfer_ids.len() > super::account::TRANSFER_IDS_PER_ACCOUNT_MAX {
            return Err(SnapshotError::InvalidTradeIds);
        }
        account.transfer_ids = a.transfer_ids;
        account.rejected_events = a.rejected_events;
        account.attribution = restored_attribution(a.attribution)?;
        for trade in &account.attribution.step_trades {
            if let Some(instrument) = state.instruments.get_mut(&trade.instrument) {
                instrument.traded_in_step = true;
            }
        }
        state.accounts.insert(a.id, account);
    }
    state.index_prices = image
        .index_prices
        .into_iter()
        .map(|(u, t, p)| (u, (t, p)))
        .collect();
    state.risk_params = image.risk_params.into_iter().collect();
    state.market_rejections = image.market_rejections;
    state.account_rejections = image.account_rejections;
    if image.parked.len() > super::parking::PARKED_FILLS_TOTAL_MAX
        || image.funding_ids.len() > super::shard_state::FUNDING_IDS_MAX
    {
        return Err(SnapshotError::InvalidTradeIds);
    }
    state.parked = Parking::from_fills(image.parked);
    image
        .funding_ids
        .iter()
        .for_each(|&id| state.funding_ids.insert(id));
    state.account_names = image.account_names.into_iter().collect();
    state.revaluation_failures = image.revaluation_failures;
    state.ledger_overflows = image.ledger_overflows;
    state.rebuild_name_indexes();
    state.rebuild_holder_quantities();
    state.restore_dirty_instruments(&image.dirty);
    state.now_ns = image.now_ns;
    state.events_applied = image.events_applied;
    state.seq = image.seq;
    state.restore_margin_queues(
        &image.dirty_accounts,
        &image.index_moves,
        &image.staged_params,
    );
    state.alerts = image.alerts.restored();
    restore_surface(&mut state, image.surface);
    state.band_alerts = BandAlertLog::restored(image.band_alerts_total, image.band_alerts);
    Ok(state)
}

fn surface_image(surface: &SurfaceState) -> SurfaceImage {
    SurfaceImage {
        smiles: surface
            .surface
            .smiles
            .iter()
            .map(|(&(underlying, expiry_ns), s)| {
                let p = s.fit.params;
                SmileImage {
                    underlying,
                    expiry_ns,
                    params: [p.a, p.b, p.rho, p.m, p.sigma],
                    years: s.fit.years,
                    points: s.fit.points as u64,
                    rmse_vol_points: s.fit.rmse_vol_points,
                    max_error_vol_points: s.fit.max_error_vol_points,
                    worst_log_moneyness: s.fit.worst_log_moneyness,
                    k_min: s.fit.k_min,
                    k_max: s.fit.k_max,
                    forward: s.forward,
                    fitted_ns: s.fitted_ns,
                }
            })
            .collect(),
        expiries: surface
            .expiries
            .iter()
            .map(|(&(u, e), x)| {
                (
                    u,
                    e,
                    x.due,
                    x.attempted_ns,
                    x.venue_marked,
                    x.venue_marked_at_attempt,
                )
            })
            .collect(),
        accepted_fits: surface.surface.accepted_fits,
        refused_fits: surface.surface.refused_fits,
        bad_marks: surface.bad_marks,
        model_marks: surface.model_marks,
    }
}

/// The surface from its image; the per-expiry option lists from the instruments.
fn restore_surface(state: &mut ShardState, image: SurfaceImage) {
    let surface = &mut state.surface;
    for s in image.smiles {
        let [a, b, rho, m, sigma] = s.params;
        let fit = SmileFit {
            params: SviParams {
                a,
                b,
                rho,
                m,
                sigma,
            },
            years: s.years,
            points: usize::try_from(s.points).unwrap_or(usize::MAX),
            rmse_vol_points: s.rmse_vol_points,
            max_error_vol_points: s.max_error_vol_points,
            worst_log_moneyness: s.worst_log_moneyness,
            k_min: s.k_min,
            k_max: s.k_max,
            arbitrage: None,
        };
        let smile = ExpirySmile {
            fit,
            forward: s.forward,
            fitted_ns: s.fitted_ns,
        };
        surface
            .surface
            .smiles
            .insert((s.underlying, s.expiry_ns), smile);
    }
    surface.surface.accepted_fits = image.accepted_fits;
    surface.surface.refused_fits = image.refused_fits;
    surface.bad_marks = image.bad_marks;
    surface.model_marks = image.model_marks;
    for instrument in state.instruments.values() {
        if instrument.definition.kind == crate::events::InstrumentKind::Option {
            state.surface.add_option(&instrument.definition);
        }
    }
    for (underlying, expiry_ns, due, attempted_ns, marked, marked_at) in image.expiries {
        if let Some(entry) = state.surface.expiries.get_mut(&(underlying, expiry_ns)) {
            entry.due = due;
            entry.attempted_ns = attempted_ns;
            entry.venue_marked = marked;
            entry.venue_marked_at_attempt = marked_at;
        }
    }
}
