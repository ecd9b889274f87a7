//! Every word a shared-memory client writes is untrusted. This throws hostile ingress
//! records and what-if / size requests at a shard holding a realistic book, through the
//! decoder and the answerer the engine serves clients with (`embed::codec`): random words,
//! and valid messages with one to three words replaced by extreme values (NaN, ±∞,
//! subnormals, `i64::MIN`, scale 29, ids past every limit, timestamps 0 and `u64::MAX`).
//!
//! Must hold: no panic; every refused message has a stated reason; every event reaches
//! the state machine and is applied, parked or counted as rejected (none vanishes); an
//! answered what-if carries no NaN and no infinity
//! (only a maintenance ratio may be +∞: equity gone); an answer written into the
//! engine's reused request and answer equals a fresh one; the from-scratch checker agrees
//! at every batch end. `KEEL_HOSTILE_WORDS` runs more messages (default sized for CI).

use keel_engine::events::InstrumentKind;
use keel_engine::state::ShardState;
use keel_engine::state::checker::check;
use keel_feeds::rng::SplitMix64;
use keel_feeds::{SyntheticConfig, SyntheticMarket};
use keel_runtime::embed::codec::{
    AnswerScratch, answer, answer_in_place, as_record, decode_record,
};
use keel_runtime::embed::wire::*;

const WARM_UP_EVENTS: usize = 20_000;
const MESSAGES_DEFAULT: usize = 60_000;

/// The project's seeded generator, with the two draws these messages use.
type Words = SplitMix64;

fn chance(words: &mut Words, percent: u64) -> bool {
    words.below(100) < percent
}

/// Extreme values for any word: as integers, decimal parts and f64 bits.
fn hostile_word(words: &mut Words, valid: u64) -> u64 {
    let f = |x: f64| x.to_bits();
    let pool = [
        0,
        1,
        2,
        3,
        4,
        5,
        7,
        28,
        29,
        255,
        65_535,
        u64::from(u32::MAX),
        u64::from(u32::MAX) + 1,
        u64::MAX,
        i64::MAX as u64,
        i64::MIN as u64,
        (-1i64) as u64,
        1_000_000_000_000_000_000,
        (-1_000_000_000_000_000_000i64) as u64,
        f(f64::NAN),
        0x7FF0_0000_0000_0001, // a signalling NaN
        f(-f64::NAN),
        f(f64::INFINITY),
        f(f64::NEG_INFINITY),
        f(-0.0),
        f(f64::MIN_POSITIVE),
        f(5e-324),
        f(f64::MAX),
        f(-f64::MAX),
        f(-1.0),
        f(1e-300),
        f(1e300),
        f(f64::from_bits(valid) * 1e6),
        f(f64::from_bits(valid) * 1e-6),
        valid.wrapping_add(1),
        valid.wrapping_sub(1),
        words.next_u64(),
    ];
    pool[words.below(pool.len() as u64) as usize]
}

/// Replaces one to three of `message`'s words with extreme values (none: 20 %).
fn mutate(words: &mut Words, message: &mut [u64], first_word: usize) {
    if chance(words, 20) {
        return;
    }
    for _ in 0..=words.below(3) {
        let index = first_word + words.below((message.len() - first_word) as u64) as usize;
        message[index] = hostile_word(words, message[index]);
    }
}

fn decimal_parts(words: &mut Words, units_max: u64, scale: u64) -> (i64, u64) {
    let units = 1 + words.below(units_max * 10u64.pow(scale as u32));
    (units as i64, scale)
}

/// A record as a client would send it, then mutated (or, 15 %, 16 random words).
fn record(words: &mut Words, state: &ShardState, instruments: &[u64]) -> Record {
    if chance(words, 15) {
        let mut record = Record::default();
        for word in words_of_mut(&mut record) {
            *word = words.next_u64();
        }
        record.kind = words.below(6);
        return record;
    }
    let timestamp_ns = state.now_ns + words.below(1_000_000_000);
    let instrument = instruments[words.below(instruments.len() as u64) as usize];
    let mut record = match words.below(4) {
        0 => {
            let (quantity_mantissa, quantity_scale) = decimal_parts(words, 10, 1);
            let (price_mantissa, price_scale) = decimal_parts(words, 100, 4);
            as_record(&FillRecord {
                kind: KIND_FILL,
                timestamp_ns,
                account: words.below(9),
                instrument,
                side: 1 + words.below(2),
                quantity_mantissa,
                quantity_scale,
                price_mantissa,
                price_scale,
                fee_mantissa: 1,
                fee_scale: 4,
                trade_id: 1 << 40 | words.below(1 << 20),
                ..FillRecord::default()
            })
        }
        1 => {
            let (amount_mantissa, amount_scale) = decimal_parts(words, 50, 2);
            as_record(&CollateralRecord {
                kind: KIND_COLLATERAL,
                timestamp_ns,
                account: words.below(9),
                currency: [0, 1, CURRENCY_QUOTE][words.below(3) as usize],
                amount_mantissa: if chance(words, 30) {
                    -amount_mantissa
                } else {
                    amount_mantissa
                },
                amount_scale,
                transfer_id: 1 << 40 | words.below(1 << 20),
                ..CollateralRecord::default()
            })
        }
        2 => as_record(&IndexPriceRecord {
            kind: KIND_INDEX_PRICE,
            timestamp_ns,
            underlying: words.below(2),
            price: [60_000.0, 90_000.0, 3_000.0][words.below(3) as usize]
                * (1.0 + (words.below(200) as f64 - 100.0) * 1e-4),
            ..IndexPriceRecord::default()
        }),
        _ => {
            let held = state.instruments.get(&keel_engine::events::InstrumentId(
                u32::try_from(instrument).unwrap_or(0),
            ));
            let mark = held.and_then(|i| i.mark).map_or(0.05, |m| m.mark_price);
            as_record(&TickerRecord {
                kind: KIND_TICKER,
                timestamp_ns,
                instrument,
                mark_price: mark * (1.0 + (words.below(200) as f64 - 100.0) * 1e-3),
                mark_iv: 0.3 + words.below(100) as f64 * 0.01,
                forward: 90_000.0,
                best_bid: mark * 0.99,
                best_ask: mark * 1.01,
                ..TickerRecord::default()
            })
        }
    };
    // Word 0 (the kind) is mutated too, sometimes: a valid body under another kind.
    mutate(words, words_of_mut(&mut record), 0);
    record
}

/// A what-if or size request as a client would write it, then mutated (or, 15 %, random).
fn request(
    words: &mut Words,
    state: &ShardState,
    instruments: &[u64],
    accounts: &[u32],
) -> WhatIfRequest {
    let mut request = WhatIfRequest::default();
    if chance(words, 15) {
        for word in words_of_mut(&mut request) {
            *word = words.next_u64();
        }
        if chance(words, 50) {
            request.leg_count = words.below(6);
            request.query = words.below(4);
        }
        return request;
    }
    request.account = u64::from(accounts[words.below(accounts.len() as u64) as usize]);
    if chance(words, 30) {
        let id = keel_engine::events::AccountId(request.account as u32);
        if let Some(account) = state.accounts.get(&id) {
            request.account_name = account.name.0;
        }
    }
    request.query = if chance(words, 80) {
        QUERY_WHAT_IF
    } else {
        QUERY_SIZE
    };
    request.leg_count = if request.query == QUERY_SIZE {
        1
    } else {
        1 + words.below(WHAT_IF_LEGS_MAX as u64)
    };
    for leg in &mut request.legs[..request.leg_count as usize] {
        leg.instrument = instruments[words.below(instruments.len() as u64) as usize];
        if chance(words, 30) {
            let id = keel_engine::events::InstrumentId(leg.instrument as u32);
            if let Some(held) = state.instruments.get(&id) {
                leg.instrument_name = held.definition.name.0;
            }
        }
        leg.side = 1 + words.below(2);
        (leg.quantity_mantissa, leg.quantity_scale) = decimal_parts(words, 20, 1);
        if chance(words, 50) {
            (leg.price_mantissa, leg.price_scale) = decimal_parts(words, 100, 4);
        }
        (leg.fee_mantissa, leg.fee_scale) = (1, 4);
    }
    if request.query == QUERY_SIZE && chance(words, 50) {
        request.stress_spot_move = -0.2;
        request.stress_vol_points = 0.1;
        request.stress_max_loss_share = 0.3;
    }
    // The sequence word is the mailbox's, not the answerer's: left alone.
    mutate(words, words_of_mut(&mut request), 1);
    request
}

/// The figures of an answered request: no NaN, no infinity but a maintenance ratio's.
fn assert_answer_is_sound(request: &WhatIfRequest, response: &WhatIfResponse) {
    let known = [
        STATUS_OK,
        STATUS_UNKNOWN_ACCOUNT,
        STATUS_UNKNOWN_INSTRUMENT,
        STATUS_SETTLED,
        STATUS_UNMARKED,
        STATUS_UNVALUED,
        STATUS_INVALID_LEG,
        STATUS_TOO_MANY_LEGS,
        STATUS_UNKNOWN_QUERY,
        STATUS_INVALID_SIZE,
    ];
    assert!(
        known.contains(&response.status),
        "unknown status {} for {request:?}",
        response.status
    );
    if response.status != STATUS_OK {
        return;
    }
    let currencies = response.currency_count as usize;
    let underlyings = response.underlying_count as usize;
    assert!(currencies <= ANSWER_CURRENCIES_MAX && underlyings <= SNAPSHOT_UNDERLYINGS_MAX);
    for figures in response.before[..currencies]
        .iter()
        .chain(&response.after[..currencies])
    {
        let money = [
            figures.equity,
            figures.initial_margin,
            figures.maintenance_margin,
        ];
        assert!(
            money.iter().all(|x| x.is_finite()) && !figures.maintenance_ratio.is_nan(),
            "{figures:?} answering {request:?}"
        );
        assert!(figures.maintenance_ratio >= 0.0, "{figures:?}");
    }
    for greeks in &response.greeks_after[..underlyings] {
        let values = [
            greeks.delta_coin,
            greeks.black_delta_coin,
            greeks.gamma_coin_per_usd,
            greeks.vega_usd_per_vol_point,
            greeks.theta_usd_per_day,
        ];
        assert!(
            values.iter().all(|x| x.is_finite()),
            "{greeks:?} answering {request:?}"
        );
    }
}

#[test]
fn hostile_client_words_never_break_the_engine_or_its_answers() {
    let messages = keel_tests::env_or("KEEL_HOSTILE_WORDS", MESSAGES_DEFAULT);
    let market = SyntheticMarket::new(SyntheticConfig {
        seed: 23,
        accounts: 8,
        ..SyntheticConfig::default()
    });
    let mut state = ShardState::new(0, 1);
    let mut seq = 0u64;
    for event in market.take(WARM_UP_EVENTS) {
        seq += 1;
        state.step(seq, &event);
    }
    // Ids the messages draw from: every listed instrument (futures among them) and a few
    // past them.
    let mut instruments: Vec<u64> = state.instruments.keys().map(|id| u64::from(id.0)).collect();
    let listed = instruments.len() as u64;
    instruments.extend([listed, listed + 1, 4_000_000]);
    assert!(
        state
            .instruments
            .values()
            .any(|i| i.definition.kind != InstrumentKind::Option),
        "the market lists futures too, so fills and what-ifs reach them"
    );
    let accounts: Vec<u32> = state
        .accounts
        .keys()
        .map(|id| id.0)
        .chain([9, u32::MAX])
        .collect();

    let mut words = Words::new(0x6B65_656C);
    let mut scratch = AnswerScratch::default();
    let mut served = AnswerScratch::default();
    let (mut stepped, mut refused_records) = (seq, 0u64);
    let (mut answered, mut refused_requests, mut sizes) = (0u64, 0u64, 0u64);
    for message in 0..messages {
        if chance(&mut words, 60) {
            let record = record(&mut words, &state, &instruments);
            match decode_record(&record) {
                Ok(event) => {
                    seq += 1;
                    stepped += 1;
                    if state.step(seq, &event).batch_end {
                        if let Err(discrepancy) = check(&state) {
                            panic!("checker after message {message}: {discrepancy}");
                        }
                    }
                }
                Err(reason) => {
                    assert!(
                        [
                            REFUSED_KIND,
                            REFUSED_ID,
                            REFUSED_SIDE,
                            REFUSED_DECIMAL,
                            REFUSED_CURRENCY
                        ]
                        .contains(&reason),
                        "unknown refusal {reason}"
                    );
                    refused_records += 1;
                }
            }
        } else {
            let request = request(&mut words, &state, &instruments, &accounts);
            // The answerer borrows the state shared, and the state has no interior
            // mutability: that an answer leaves it unchanged is the compiler's to check.
            let response = answer(&state, &request, &mut scratch);
            assert_answer_is_sound(&request, &response);
            // The engine answers into one reused request and answer: whatever the
            // previous message left there, the answer is the fresh one.
            served.request = request;
            answer_in_place(&state, &mut served);
            assert_eq!(served.response, response, "answered in place: {request:?}");
            if response.status == STATUS_OK {
                answered += 1;
                sizes += u64::from(request.query == QUERY_SIZE);
            } else {
                refused_requests += 1;
            }
        }
    }
    let rejected = state.rejections().total();
    let parked = state.parked.len() as u64;
    assert_eq!(
        state.events_applied + rejected + parked,
        stepped,
        "every event is applied, parked or rejected"
    );
    println!(
        "{messages} messages: {stepped} events stepped ({rejected} rejected, {parked} parked), \
         {refused_records} records refused by the decoder, {answered} answers \
         ({sizes} size queries), {refused_requests} requests refused"
    );
    // The mix reaches every outcome, so the checks above are not vacuous.
    assert!(refused_records > 0 && rejected > 0 && refused_requests > 0);
    assert!(answered > messages as u64 / 20 && sizes > 0);
}
