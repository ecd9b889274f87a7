//! The surface inside the state machine (issue 15): refits at batch ends, model marks for
//! options without a fresh venue mark, flags on venue marks far from the surface, refused
//! fits counted with the previous smile kept, and all of it surviving a snapshot.

use keel_engine::events::{
    AccountDefinition, AccountId, Collateral, Currency, Dec, Event, EventBody, Fill, IndexPrice,
    InstrumentDefinition, InstrumentId, InstrumentKind, MarginModel, Name, OptionRight, Settlement,
    Side, Ticker, UnderlyingId,
};
use keel_engine::pricing::{OptionInputs, OptionKind, black76_price};
use keel_engine::state::hash::combined_hash;
use keel_engine::state::surface_state::{
    MODEL_MARK_STALE_NS, MarkSource, SURFACE_REFIT_INTERVAL_NS,
};
use keel_engine::state::{ShardState, decode_state, encode_state};
use keel_engine::surface::SviParams;
use rust_decimal::Decimal;

const T0: u64 = 1_767_225_600_000_000_000;
const DAY_NS: u64 = 86_400_000_000_000;
const YEAR_NS: f64 = 365.0 * DAY_NS as f64;
const FORWARD: f64 = 90_000.0;
const BTC: UnderlyingId = UnderlyingId(0);
const STRIKES: u32 = 20;

/// The smile the venue marks on (a skewed raw SVI, total variance at 30 days).
const SMILE: SviParams = SviParams {
    a: 0.004,
    b: 0.03,
    rho: -0.4,
    m: 0.02,
    sigma: 0.1,
};

struct Market {
    state: ShardState,
    seq: u64,
    now_ns: u64,
}

impl Market {
    fn new() -> Market {
        Market {
            state: ShardState::new(0, 1),
            seq: 0,
            now_ns: T0,
        }
    }

    fn send(&mut self, body: EventBody) {
        self.seq += 1;
        let event = Event {
            timestamp_ns: self.now_ns,
            body,
        };
        self.state.apply_at(self.seq, &event);
    }

    fn batch_end(&mut self) {
        self.state.finish_batch();
    }

    /// Option `id` of the expiry `days` out: strikes from 70 % to 130 % of the forward.
    fn define(&mut self, id: u32, days: u64, index: u32) {
        let strike = strike_of(index);
        self.send(EventBody::InstrumentDefined(InstrumentDefinition {
            id: InstrumentId(id),
            name: Name::new(&format!("BTC-{days}D-{strike}-{id}")).expect("test input"),
            kind: InstrumentKind::Option,
            settlement: Settlement::Inverse,
            underlying: BTC,
            expiry_ns: T0 + days * DAY_NS,
            strike: Dec::new(Decimal::from(strike as u64)),
            right: if strike >= FORWARD {
                OptionRight::Call
            } else {
                OptionRight::Put
            },
            contract_size: Dec::new(Decimal::ONE),
        }));
    }

    /// A venue ticker for option `id` (strike index `index`, expiry `days` after T0) at
    /// `vol_shift` vol points from `smile` scaled by `level`.
    fn mark(&mut self, id: u32, days: u64, index: u32, level: f64, vol_shift: f64) {
        let strike = strike_of(index);
        let years = ((T0 + days * DAY_NS) - self.now_ns) as f64 / YEAR_NS;
        let k = (strike / FORWARD).ln();
        let vol = level * (SMILE.total_variance(k) / (30.0 / 365.0)).sqrt() + vol_shift / 100.0;
        let kind = if strike >= FORWARD {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let usd = black76_price(&OptionInputs {
            kind,
            forward: FORWARD,
            strike,
            years,
            vol,
            rate: 0.0,
        })
        .expect("test input");
        let price = usd / FORWARD;
        self.send(EventBody::Ticker(Ticker {
            instrument: InstrumentId(id),
            mark_price: price,
            mark_iv: vol,
            forward: FORWARD,
            best_bid: price,
            best_ask: price,
        }));
    }
}

fn strike_of(index: u32) -> f64 {
    FORWARD * (0.7 + 0.6 * f64::from(index) / f64::from(STRIKES - 1))
}

/// One 30-day expiry of 20 marked strikes, plus option 20 (between two strikes, never
/// marked by the venue) held by an account.
fn chain() -> Market {
    let mut m = Market::new();
    m.send(EventBody::IndexPrice(IndexPrice {
        underlying: BTC,
        price: FORWARD,
    }));
    for i in 0..STRIKES {
        m.define(i, 30, i);
    }
    m.send(EventBody::InstrumentDefined(InstrumentDefinition {
        id: InstrumentId(20),
        name: Name::new("BTC-30D-UNMARKED").expect("test input"),
        kind: InstrumentKind::Option,
        settlement: Settlement::Inverse,
        underlying: BTC,
        expiry_ns: T0 + 30 * DAY_NS,
        strike: Dec::new(Decimal::from(92_500)),
        right: OptionRight::Call,
        contract_size: Dec::new(Decimal::ONE),
    }));
    m.send(EventBody::AccountDefined(AccountDefinition {
        id: AccountId(0),
        name: Name::new("desk").expect("test input"),
        margin_model: MarginModel::Portfolio,
    }));
    m.send(EventBody::Collateral(Collateral {
        account: AccountId(0),
        currency: Currency::Coin(BTC),
        amount: Dec::new(Decimal::from(100)),
        transfer_id: 1,
    }));
    m.send(EventBody::Fill(Fill {
        account: AccountId(0),
        instrument: InstrumentId(20),
        side: Side::Buy,
        quantity: Dec::new(Decimal::ONE),
        price: Dec::new(Decimal::new(3, 2)),
        fee: Dec::new(Decimal::ZERO),
        trade_id: 1,
    }));
    for i in 0..STRIKES {
        m.mark(i, 30, i, 1.0, 0.0);
    }
    m.batch_end();
    m
}

#[test]
fn an_unmarked_option_gets_a_model_mark_from_the_surface_until_the_venue_marks_it() {
    let mut m = chain();
    let s = &m.state;
    assert_eq!(s.surface.surface.accepted_fits, 1);
    let smile = s.surface.surface.smiles[&(BTC, T0 + 30 * DAY_NS)];
    assert!(smile.fit.rmse_vol_points < 0.05, "{:?}", smile.fit);
    let unmarked = &s.instruments[&InstrumentId(20)];
    assert_eq!(unmarked.mark_source, MarkSource::Model);
    assert_eq!(s.surface.model_marks, 1);
    let mark = unmarked.mark.expect("model mark");
    let k = (92_500.0f64 / FORWARD).ln();
    let truth = (SMILE.total_variance(k) / (30.0 / 365.0)).sqrt();
    assert!(
        (mark.mark_iv - truth).abs() < 0.001,
        "{} vs {truth}",
        mark.mark_iv
    );
    // The account holding it is valued on the model mark (it carries Greeks).
    let delta = s.accounts[&AccountId(0)]
        .risk
        .values()
        .map(|r| r.delta_coin)
        .sum::<f64>();
    assert!(delta > 0.1, "{delta}");
    // The venue marks it: the model mark is gone and is not set again.
    m.now_ns += SURFACE_REFIT_INTERVAL_NS;
    m.send(EventBody::Ticker(Ticker {
        instrument: InstrumentId(20),
        mark_price: mark.mark_price,
        mark_iv: mark.mark_iv,
        forward: FORWARD,
        best_bid: 0.0,
        best_ask: 0.0,
    }));
    m.mark(3, 30, 3, 1.0, 0.0);
    m.batch_end();
    assert_eq!(
        m.state.instruments[&InstrumentId(20)].mark_source,
        MarkSource::Venue
    );
    assert_eq!(m.state.surface.model_marks, 1);
    assert_eq!(m.state.surface.surface.accepted_fits, 2);
}

#[test]
fn stale_venue_marks_are_replaced_by_model_marks() {
    let mut m = chain();
    // Six minutes on, the venue marks only the first 15 strikes.
    m.now_ns += MODEL_MARK_STALE_NS + 60_000_000_000;
    for i in 0..15 {
        m.mark(i, 30, i, 1.0, 0.0);
    }
    m.batch_end();
    let s = &m.state;
    for i in 0..STRIKES {
        let expected = if i < 15 {
            MarkSource::Venue
        } else {
            MarkSource::Model
        };
        assert_eq!(s.instruments[&InstrumentId(i)].mark_source, expected, "{i}");
    }
    // Five stale strikes, and the unmarked option again.
    assert_eq!(s.surface.model_marks, 1 + 5 + 1);
}

#[test]
fn a_mark_far_from_the_surface_is_flagged_and_left_out_of_the_fit() {
    let mut m = chain();
    m.now_ns += 1_000_000_000;
    m.mark(7, 30, 7, 1.0, 25.0); // 25 vol points off the smile
    m.mark(8, 30, 8, 1.0, 1.0); // within the threshold
    assert_eq!(m.state.surface.bad_marks, 1);
    assert!(m.state.instruments[&InstrumentId(7)].mark_suspect);
    assert!(!m.state.instruments[&InstrumentId(8)].mark_suspect);
    m.now_ns += SURFACE_REFIT_INTERVAL_NS;
    m.mark(9, 30, 9, 1.0, 0.0);
    m.batch_end();
    let smile = m.state.surface.surface.smiles[&(BTC, T0 + 30 * DAY_NS)];
    assert_eq!(m.state.surface.surface.accepted_fits, 2);
    assert_eq!(smile.fit.points, 19, "the flagged mark is left out");
    assert!(smile.fit.max_error_vol_points < 1.5, "{:?}", smile.fit);
    // The venue's mark stays the mark (the venue margins on it).
    let mark = m.state.instruments[&InstrumentId(7)]
        .mark
        .expect("test input");
    assert_eq!(
        m.state.instruments[&InstrumentId(7)].mark_source,
        MarkSource::Venue
    );
    assert!(mark.mark_iv > 0.3);
}

#[test]
fn a_refit_with_calendar_arbitrage_is_refused_and_the_previous_smile_kept() {
    let mut m = Market::new();
    m.send(EventBody::IndexPrice(IndexPrice {
        underlying: BTC,
        price: FORWARD,
    }));
    for i in 0..STRIKES {
        m.define(i, 30, i);
        m.define(100 + i, 60, i);
    }
    for i in 0..STRIKES {
        m.mark(i, 30, i, 1.0, 0.0);
        m.mark(100 + i, 60, i, 1.0, 0.0);
    }
    m.batch_end();
    let key = (BTC, T0 + 30 * DAY_NS);
    assert_eq!(m.state.surface.surface.accepted_fits, 2);
    let before = m.state.surface.surface.smiles[&key];
    // The 30-day expiry jumps to 1.6× its vol: its total variance passes the 60-day's.
    m.now_ns += SURFACE_REFIT_INTERVAL_NS;
    for i in 0..STRIKES {
        m.mark(i, 30, i, 1.6, 0.0);
    }
    m.batch_end();
    assert_eq!(m.state.surface.surface.refused_fits, 1);
    assert_eq!(m.state.surface.surface.smiles[&key], before);
}

#[test]
fn the_surface_survives_a_snapshot_and_is_in_the_hash() {
    let mut m = chain();
    m.now_ns += 1_000_000_000;
    m.mark(7, 30, 7, 1.0, 25.0);
    let image = encode_state(&m.state).expect("test input");
    let restored = decode_state(&image, 0, 1).expect("test input");
    assert_eq!(restored, m.state);
    assert_eq!(combined_hash([&restored]), combined_hash([&m.state]));
    let mut changed = m.state.clone();
    changed.surface.bad_marks += 1;
    assert_ne!(combined_hash([&changed]), combined_hash([&m.state]));
    let mut changed = m.state.clone();
    let smile = changed
        .surface
        .surface
        .smiles
        .values_mut()
        .next()
        .expect("test input");
    smile.fit.params.a += 1e-12;
    assert_ne!(combined_hash([&changed]), combined_hash([&m.state]));
}
