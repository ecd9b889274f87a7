//! A seeded, Deribit-like synthetic market: BTC and ETH indexes (GBM with jumps and
//! volatility regime switches), inverse perpetuals, dated futures and option chains
//! (10 expiries × 30 strikes each) marked on a smile, and accounts trading random fills
//! within their books (by default 40 instruments each, while tickers cover the chain).
//! Same seed, same event stream, byte for byte (own PRNG, no wall clock).

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use keel_engine::events::{
    AccountDefinition, AccountId, Collateral, Currency, DEFAULT_MARGIN_CALL_RATIO, Dec, Event,
    EventBody, Fill, HedgeBands, IndexPrice, InstrumentDefinition, InstrumentId, InstrumentKind,
    Limits, MarginModel, Name, OptionRight, RiskParams, Settlement, SettlementPrice, Side, Ticker,
    UnderlyingId,
};
use keel_engine::margin::PmParams;
use keel_engine::pricing::{OptionInputs, OptionKind, black76};

use crate::rng::SplitMix64;

const MINUTE_NS: u64 = 60_000_000_000;
const HOUR_NS: u64 = 60 * MINUTE_NS;
const DAY_NS: u64 = 24 * HOUR_NS;
const YEAR_NS: f64 = 365.0 * DAY_NS as f64;
/// Option expiries after the start: the first (15 minutes of market time, about 20,000
/// events) settles within an ordinary run, so settlement is always exercised.
const EXPIRY_OFFSETS_NS: [u64; 10] = [
    15 * MINUTE_NS,
    DAY_NS,
    2 * DAY_NS,
    7 * DAY_NS,
    14 * DAY_NS,
    30 * DAY_NS,
    60 * DAY_NS,
    90 * DAY_NS,
    180 * DAY_NS,
    365 * DAY_NS,
];
const FUTURE_OFFSETS_NS: [u64; 4] = [7 * DAY_NS, 30 * DAY_NS, 90 * DAY_NS, 180 * DAY_NS];
/// Strikes per option expiry (out of the money: puts below the forward, calls above).
pub const STRIKES_PER_EXPIRY: usize = 30;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub accounts: u32,
    /// Market time at the first event (ns since the epoch).
    pub start_ns: u64,
    /// Market time between steps (each step: index moves, some marks, maybe fills).
    pub step_ns: u64,
    /// Share of deliberately bad events (NaN marks, zero quantities, duplicate trade
    /// ids, stale marks), so rejections show up in reports.
    pub bad_event_rate: f64,
    /// Tickers per step.
    pub marks_per_step: u32,
    /// Steps between two updates of one underlying's index (underlyings take turns).
    pub index_interval_steps: u32,
    /// Instruments each account trades (its book, drawn at setup; a settled one is
    /// replaced by a live one when next picked). 0: every listed instrument.
    pub book_instruments: u32,
}

/// Tickers per 50 ms step in the realistic mix: 160 a second, against 2 index updates.
pub const REALISTIC_MARKS_PER_STEP: u32 = 8;
/// Steps between index updates of one underlying in the realistic mix: once a second,
/// as venues publish an index (Deribit's `deribit_price_index` is about 1 Hz).
pub const REALISTIC_INDEX_INTERVAL_STEPS: u32 = 20;
/// Instruments in each account's book in the realistic mix: tickers cover the whole
/// listed chain (as a gateway subscribed to it receives them) while an account trades a
/// few dozen, so most tickers are for instruments nobody in the engine holds.
pub const REALISTIC_BOOK_INSTRUMENTS: u32 = 40;

impl Default for SyntheticConfig {
    /// The realistic mix: each index once a second, 8 tickers and half a fill every
    /// 50 ms (about 1 % of events are index updates; a venue's share is lower still).
    fn default() -> Self {
        SyntheticConfig {
            seed: 1,
            accounts: 8,
            start_ns: 1_767_225_600_000_000_000, // 2026-01-01T00:00:00Z
            step_ns: 50_000_000,                 // 50 ms
            bad_event_rate: 0.001,
            marks_per_step: REALISTIC_MARKS_PER_STEP,
            index_interval_steps: REALISTIC_INDEX_INTERVAL_STEPS,
            book_instruments: REALISTIC_BOOK_INSTRUMENTS,
        }
    }
}

impl SyntheticConfig {
    /// The stress mix of earlier versions: both indexes move every step, 4 tickers a
    /// step (31 % of events are index updates), and every account trades every listed
    /// instrument, so every ticker lands on a held instrument and every batch end
    /// re-evaluates every account.
    pub fn index_heavy() -> Self {
        SyntheticConfig {
            marks_per_step: 4,
            index_interval_steps: 1,
            book_instruments: 0,
            ..SyntheticConfig::default()
        }
    }

    /// The realistic rates with every account trading every listed instrument (the
    /// books of earlier versions): every ticker lands on an instrument several accounts
    /// hold.
    pub fn all_held() -> Self {
        SyntheticConfig {
            book_instruments: 0,
            ..SyntheticConfig::default()
        }
    }
}

struct Underlying {
    id: UnderlyingId,
    name: &'static str,
    index: f64,
    base_vol: f64,
    high_regime: bool,
    strike_step: f64,
    perp_contract_usd: u32,
}

#[derive(Clone, Copy)]
struct Listed {
    id: InstrumentId,
    underlying: usize,
    kind: InstrumentKind,
    expiry_ns: u64,
    strike: f64,
    right: OptionRight,
    settled: bool,
}

/// The event stream, an endless iterator (take as many as needed).
pub struct SyntheticMarket {
    config: SyntheticConfig,
    rng: SplitMix64,
    underlyings: Vec<Underlying>,
    listed: Vec<Listed>,
    /// Per account, the positions in `listed` of the instruments it trades (empty: all).
    books: Vec<Vec<usize>>,
    /// Names in use: venue names are unique (strikes rounding alike get a suffix).
    names: std::collections::BTreeSet<Name>,
    pending: std::collections::VecDeque<Event>,
    now_ns: u64,
    trade_id: u64,
    steps: u64,
}

impl SyntheticMarket {
    pub fn new(config: SyntheticConfig) -> Self {
        let underlyings = vec![
            Underlying {
                id: UnderlyingId(0),
                name: "BTC",
                index: 90_000.0,
                base_vol: 0.55,
                high_regime: false,
                strike_step: 1_000.0,
                perp_contract_usd: 10,
            },
            Underlying {
                id: UnderlyingId(1),
                name: "ETH",
                index: 3_000.0,
                base_vol: 0.70,
                high_regime: false,
                strike_step: 50.0,
                perp_contract_usd: 1,
            },
        ];
        let mut market = SyntheticMarket {
            rng: SplitMix64::new(config.seed),
            now_ns: config.start_ns,
            config,
            underlyings,
            listed: Vec::new(),
            books: Vec::new(),
            names: std::collections::BTreeSet::new(),
            pending: std::collections::VecDeque::new(),
            trade_id: 0,
            steps: 0,
        };
        market.emit_setup();
        market
    }

    /// Number of instruments defined.
    pub fn instruments(&self) -> usize {
        self.listed.len()
    }

    fn push(&mut self, body: EventBody) {
        self.pending.push_back(Event {
            timestamp_ns: self.now_ns,
            body,
        });
    }

    fn emit_setup(&mut self) {
        for position in 0..self.underlyings.len() {
            self.list_underlying(position);
        }
        let book_size = (self.config.book_instruments as usize).min(self.listed.len());
        if book_size > 0 {
            for _ in 0..self.config.accounts {
                let mut book: Vec<usize> = Vec::with_capacity(book_size);
                while book.len() < book_size {
                    let pick = self.rng.below(self.listed.len() as u64) as usize;
                    if !book.contains(&pick) {
                        book.push(pick);
                    }
                }
                self.books.push(book);
            }
        }
        for id in 0..self.config.accounts {
            let name = Name::new(&format!("account-{id}")).expect("short name");
            // Every fourth account is on standard margin, the rest on portfolio margin.
            let margin_model = if id % 4 == 3 {
                MarginModel::Standard
            } else {
                MarginModel::Portfolio
            };
            self.push(EventBody::AccountDefined(AccountDefinition {
                id: AccountId(id),
                name,
                margin_model,
            }));
            // Two accounts carry limits, so limit states show in reports.
            let limits = match id {
                0 => Some((25.0, 0.0, 0.0, 0.0)),
                1 => Some((0.0, 50_000.0, 0.0, 1.5)),
                _ => None,
            };
            if let Some((delta, vega, gamma, min_ratio)) = limits {
                self.push(EventBody::Limits(Limits {
                    account: AccountId(id),
                    max_abs_delta_coin: delta,
                    max_abs_vega_usd: vega,
                    max_abs_gamma_usd: gamma,
                    min_margin_ratio: min_ratio,
                    margin_call_ratio: DEFAULT_MARGIN_CALL_RATIO,
                }));
            }
            // Every account has target bands (hedge proposals bring it back inside):
            // delta in coin and vega in USD, per underlying.
            for (underlying, delta, vega) in [(0, 10.0, 20_000.0), (1, 25.0, 5_000.0)] {
                self.push(EventBody::HedgeBands(HedgeBands {
                    account: AccountId(id),
                    underlying: UnderlyingId(underlying),
                    delta_min_coin: -delta,
                    delta_max_coin: delta,
                    vega_max_abs_usd: vega,
                    gamma_max_abs_usd: 0.0,
                }));
            }
            for (currency, amount) in [(UnderlyingId(0), 500), (UnderlyingId(1), 15_000)] {
                self.push(EventBody::Collateral(Collateral {
                    account: AccountId(id),
                    currency: Currency::Coin(currency),
                    amount: Dec::new(Decimal::from(amount)),
                    transfer_id: u64::from(id) * 2 + u64::from(currency.0),
                }));
            }
        }
    }

    fn list_underlying(&mut self, position: usize) {
        let (id, name, index, step, perp_size) = {
            let u = &self.underlyings[position];
            (u.id, u.name, u.index, u.strike_step, u.perp_contract_usd)
        };
        // Deribit's published parameters for each currency.
        let params = if id.0 == 0 {
            PmParams::BTC
        } else {
            PmParams::ETH
        };
        self.push(EventBody::RiskParams(RiskParams {
            underlying: id,
            params,
        }));
        self.define(
            position,
            InstrumentKind::Perpetual,
            format!("{name}-PERPETUAL"),
            0,
            0.0,
            OptionRight::Call,
            f64::from(perp_size),
        );
        for offset in FUTURE_OFFSETS_NS {
            let expiry = self.config.start_ns + offset;
            self.define(
                position,
                InstrumentKind::Future,
                format!("{name}-F{}", offset / HOUR_NS),
                expiry,
                0.0,
                OptionRight::Call,
                f64::from(perp_size),
            );
        }
        for offset in EXPIRY_OFFSETS_NS {
            let expiry = self.config.start_ns + offset;
            let years = offset as f64 / YEAR_NS;
            let width = 0.5 * (years.sqrt() * 2.0).clamp(0.1, 1.0);
            for k in 0..STRIKES_PER_EXPIRY {
                let moneyness = -width + 2.0 * width * k as f64 / (STRIKES_PER_EXPIRY - 1) as f64;
                let strike = ((index * moneyness.exp()) / step).round().max(1.0) * step;
                let right = if strike >= index {
                    OptionRight::Call
                } else {
                    OptionRight::Put
                };
                let suffix = if right == OptionRight::Call { "C" } else { "P" };
                let label = format!("{name}-{}M-{strike:.0}-{suffix}", offset / MINUTE_NS);
                self.define(
                    position,
                    InstrumentKind::Option,
                    label,
                    expiry,
                    strike,
                    right,
                    1.0,
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn define(
        &mut self,
        underlying: usize,
        kind: InstrumentKind,
        label: String,
        expiry_ns: u64,
        strike: f64,
        right: OptionRight,
        contract_size: f64,
    ) {
        let id = InstrumentId(self.listed.len() as u32);
        let fallback = || Name::new(&format!("I{}", id.0)).expect("short");
        let mut name = Name::new(&label).unwrap_or_else(fallback);
        if self.names.contains(&name) {
            name = Name::new(&format!("{label}#{}", id.0)).unwrap_or_else(fallback);
        }
        self.names.insert(name);
        let decimal = |value: f64| Dec::new(Decimal::from_f64(value).unwrap_or_default());
        self.push(EventBody::InstrumentDefined(InstrumentDefinition {
            id,
            name,
            kind,
            settlement: Settlement::Inverse,
            underlying: self.underlyings[underlying].id,
            expiry_ns,
            strike: decimal(strike),
            right,
            contract_size: decimal(contract_size),
        }));
        self.listed.push(Listed {
            id,
            underlying,
            kind,
            expiry_ns,
            strike,
            right,
            settled: false,
        });
    }

    /// One step of market time: indexes move, expiries settle, some instruments are
    /// marked, and accounts may trade.
    fn step(&mut self) {
        self.now_ns += self.config.step_ns;
        self.steps += 1;
        let interval = u64::from(self.config.index_interval_steps.max(1));
        // Each index moves over its whole interval; underlyings take turns, spread evenly.
        let dt = (interval * self.config.step_ns) as f64 / YEAR_NS;
        let count = self.underlyings.len() as u64;
        for position in 0..self.underlyings.len() {
            let turn = position as u64 * interval / count;
            if self.steps % interval == turn {
                self.move_index(position, dt);
            }
        }
        self.settle_expired();
        for _ in 0..self.config.marks_per_step {
            let pick = self.pick_live_instrument();
            if let Some(listed) = pick {
                self.mark(listed);
            }
        }
        if self.rng.uniform() < 0.5 {
            let account = AccountId(self.rng.below(u64::from(self.config.accounts.max(1))) as u32);
            if let Some(listed) = self.pick_traded_instrument(account) {
                self.trade(account, listed);
            }
        }
        if self.rng.uniform() < self.config.bad_event_rate * 8.0 {
            self.bad_event();
        }
    }

    fn move_index(&mut self, position: usize, dt: f64) {
        let shock = self.rng.normal();
        let jump = if self.rng.uniform() < 0.0005 {
            0.02 * self.rng.normal()
        } else {
            0.0
        };
        if self.rng.uniform() < 0.0002 {
            self.underlyings[position].high_regime = !self.underlyings[position].high_regime;
        }
        let u = &mut self.underlyings[position];
        let vol = u.base_vol * if u.high_regime { 1.6 } else { 1.0 };
        u.index *= ((-0.5 * vol * vol) * dt + vol * dt.sqrt() * shock + jump).exp();
        let (id, price) = (u.id, u.index);
        self.push(EventBody::IndexPrice(IndexPrice {
            underlying: id,
            price,
        }));
    }

    fn settle_expired(&mut self) {
        for position in 0..self.listed.len() {
            let listed = self.listed[position];
            if listed.settled || listed.expiry_ns == 0 || listed.expiry_ns > self.now_ns {
                continue;
            }
            self.listed[position].settled = true;
            let price = Decimal::from_f64(self.underlyings[listed.underlying].index)
                .unwrap_or_default()
                .round_dp(2);
            self.push(EventBody::Settlement(SettlementPrice {
                instrument: listed.id,
                price: Dec::new(price),
            }));
        }
    }

    fn pick_live_instrument(&mut self) -> Option<Listed> {
        for _ in 0..8 {
            let listed = self.listed[self.rng.below(self.listed.len() as u64) as usize];
            if !listed.settled {
                return Some(listed);
            }
        }
        None
    }

    /// An instrument `account` trades: from its book (a settled one replaced by a live
    /// one, as a desk rolls), or any live one when books are off.
    fn pick_traded_instrument(&mut self, account: AccountId) -> Option<Listed> {
        let Some(book_len) = self.books.get(account.0 as usize).map(Vec::len) else {
            return self.pick_live_instrument();
        };
        let slot = self.rng.below(book_len as u64) as usize;
        let position = self.books[account.0 as usize][slot];
        if !self.listed[position].settled {
            return Some(self.listed[position]);
        }
        let replacement = self.pick_live_instrument()?;
        self.books[account.0 as usize][slot] = replacement.id.0 as usize;
        Some(replacement)
    }

    /// Forward, vol and the mark as quoted (coin for options, USD for futures).
    fn price(&self, listed: &Listed) -> (f64, f64, f64) {
        let u = &self.underlyings[listed.underlying];
        let years = (listed.expiry_ns.saturating_sub(self.now_ns)) as f64 / YEAR_NS;
        let forward = u.index * (0.05 * years).exp();
        if listed.kind != InstrumentKind::Option {
            return (forward, 0.0, forward);
        }
        let k = (listed.strike / forward).ln();
        let atm = u.base_vol
            * if u.high_regime { 1.6 } else { 1.0 }
            * (1.0 + 0.15 * (-years * 12.0).exp());
        let vol = ssvi_vol(atm, k, years);
        let inputs = OptionInputs {
            kind: if listed.right == OptionRight::Call {
                OptionKind::Call
            } else {
                OptionKind::Put
            },
            forward,
            strike: listed.strike,
            years,
            vol,
            rate: 0.0,
        };
        let usd = black76(&inputs).map(|g| g.price_usd).unwrap_or(0.0);
        (forward, vol, usd / forward)
    }

    fn mark(&mut self, listed: Listed) {
        let (forward, vol, mark) = self.price(&listed);
        self.push(EventBody::Ticker(Ticker {
            instrument: listed.id,
            mark_price: mark,
            mark_iv: vol,
            forward,
            best_bid: mark * 0.99,
            best_ask: mark * 1.01,
        }));
    }

    fn trade(&mut self, account: AccountId, listed: Listed) {
        let (_, _, mark) = self.price(&listed);
        let (quantity, price) = if listed.kind == InstrumentKind::Option {
            let quantity = Decimal::new(1 + self.rng.below(100) as i64, 1); // 0.1 to 10
            (
                quantity,
                Decimal::from_f64(mark)
                    .unwrap_or_default()
                    .round_dp(4)
                    .max(Decimal::new(1, 4)),
            )
        } else {
            let quantity = Decimal::from(1 + self.rng.below(100)); // contracts of 10 / 1 USD
            (
                quantity,
                Decimal::from_f64(mark)
                    .unwrap_or_default()
                    .round_dp(1)
                    .max(Decimal::ONE),
            )
        };
        self.trade_id += 1;
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        self.push(EventBody::Fill(Fill {
            account,
            instrument: listed.id,
            side,
            quantity: Dec::new(quantity),
            price: Dec::new(price),
            fee: Dec::new(Decimal::new(3, 4)),
            trade_id: self.trade_id,
        }));
    }

    fn bad_event(&mut self) {
        let Some(listed) = self.pick_live_instrument() else {
            return;
        };
        let unused_trade_id = u64::MAX - self.rng.below(1 << 20);
        match self.rng.below(4) {
            0 => self.push(EventBody::Ticker(Ticker {
                instrument: listed.id,
                mark_price: f64::NAN,
                mark_iv: 0.5,
                forward: 1.0,
                best_bid: 0.0,
                best_ask: 0.0,
            })),
            1 => self.push(EventBody::Fill(Fill {
                account: AccountId(0),
                instrument: listed.id,
                side: Side::Buy,
                quantity: Dec::ZERO,
                price: Dec::new(Decimal::ONE),
                fee: Dec::ZERO,
                trade_id: unused_trade_id,
            })),
            2 if self.trade_id > 0 => self.push(EventBody::Fill(Fill {
                account: AccountId(0),
                instrument: listed.id,
                side: Side::Buy,
                quantity: Dec::new(Decimal::ONE),
                price: Dec::new(Decimal::ONE),
                fee: Dec::ZERO,
                trade_id: self.trade_id, // a repeat of the last trade id
            })),
            _ => {
                // A mark stamped a second in the past: stale once a newer mark exists.
                let (forward, vol, mark) = self.price(&listed);
                self.pending.push_back(Event {
                    timestamp_ns: self.now_ns - 1_000_000_000,
                    body: EventBody::Ticker(Ticker {
                        instrument: listed.id,
                        mark_price: mark,
                        mark_iv: vol,
                        forward,
                        best_bid: 0.0,
                        best_ask: 0.0,
                    }),
                });
            }
        }
    }
}

impl Iterator for SyntheticMarket {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        while self.pending.is_empty() {
            self.step();
        }
        self.pending.pop_front()
    }
}

/// Skew and curvature of the synthetic smile (SSVI, power-law φ = η/√θ).
const SMILE_RHO: f64 = -0.25;
const SMILE_ETA: f64 = 0.8;

/// Implied vol at log moneyness `k` on an SSVI smile with ATM vol `atm`. With
/// η²(1 + |ρ|) ≤ 4 and φ = η/√θ it is free of butterfly arbitrage at every tenor, and
/// of calendar arbitrage while θ = atm²·T grows with T, as a venue's marks mostly are
/// (Deribit's real chains: 71 of 74 expiries); marks with arbitrage come from the
/// adversarial feed, not the market simulation.
fn ssvi_vol(atm: f64, k: f64, years: f64) -> f64 {
    let theta = atm * atm * years;
    if !(theta.is_finite() && theta > 0.0) {
        return atm;
    }
    let phi = SMILE_ETA / theta.sqrt();
    let x = phi * k + SMILE_RHO;
    let w =
        0.5 * theta * (1.0 + SMILE_RHO * phi * k + (x * x + 1.0 - SMILE_RHO * SMILE_RHO).sqrt());
    (w / years).sqrt()
}
