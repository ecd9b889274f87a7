//! The shared-memory wire structs, byte by byte (docs/EMBEDDING.md). Every struct is
//! `#[repr(C)]`, made only of 8-byte numbers (`u64`, `i64`, `f64`) and arrays of such
//! structs: no padding, every bit pattern valid, the same layout in C. Each struct is
//! declared once, with [`wire_struct!`], which also gives the C declaration that
//! `include/keel.h` is generated from (and checked against, by a test).

use std::sync::atomic::{AtomicU64, Ordering};

/// `"KEELSHM1"`: first word of an engine file.
pub const ENGINE_MAGIC: u64 = u64::from_le_bytes(*b"KEELSHM1");
/// `"KEELCLI1"`: first word of a client file.
pub const CLIENT_MAGIC: u64 = u64::from_le_bytes(*b"KEELCLI1");
/// Changes whenever any struct below changes.
pub const LAYOUT_VERSION: u64 = 2;
/// Clients one engine serves at once (one file and one ingress ring each).
pub const CLIENTS_MAX: usize = 8;
/// Records in each client's ingress ring (a power of two).
pub const INGRESS_RECORDS: u64 = 1024;
/// Legs of one what-if request.
pub const WHAT_IF_LEGS_MAX: usize = 4;
/// Underlyings, expiry buckets and currencies carried per account snapshot (the first
/// ones in id order; `truncated` says when an account has more).
pub const SNAPSHOT_UNDERLYINGS_MAX: usize = 4;
pub const SNAPSHOT_BUCKETS_MAX: usize = 8;
pub const SNAPSHOT_CURRENCIES_MAX: usize = 4;
/// Currencies in a what-if answer (before and after).
pub const ANSWER_CURRENCIES_MAX: usize = 4;

/// Bytes of a name field (account and instrument names).
pub const NAME_BYTES: usize = keel_engine::events::ids::NAME_MAX_BYTES;
const _: () = assert!(NAME_BYTES % 8 == 0);

/// Ingress record kinds (`kind`, the first word of every record).
pub const KIND_FILL: u64 = 1;
pub const KIND_COLLATERAL: u64 = 2;
pub const KIND_INDEX_PRICE: u64 = 3;
pub const KIND_TICKER: u64 = 4;

/// Sides (fills and what-if legs).
pub const SIDE_BUY: u64 = 1;
pub const SIDE_SELL: u64 = 2;

/// Currency code of the quote currency (USD); a coin's code is its underlying id.
pub const CURRENCY_QUOTE: u64 = keel_engine::events::ids::UNDERLYINGS_MAX as u64;

/// Marks a struct that may be copied to and from shared memory as plain words.
///
/// # Safety
/// The implementor is `#[repr(C)]`, made only of `u64`/`i64`/`f64` fields, `u8` arrays
/// of a multiple of 8 bytes, and arrays of `Wire` structs, so its size is a multiple of 8, its alignment 8, it has no padding and
/// every bit pattern is a valid value. [`wire_struct!`] is the only implementor.
pub unsafe trait Wire: Copy + Default + 'static {
    /// Size in 8-byte words.
    const WORDS: usize = size_of::<Self>() / 8;
}

/// A field type's C spelling.
pub trait CType {
    fn c_decl(field: &str) -> String;
}

impl CType for u64 {
    fn c_decl(field: &str) -> String {
        format!("uint64_t {field}")
    }
}

impl CType for i64 {
    fn c_decl(field: &str) -> String {
        format!("int64_t {field}")
    }
}

/// Only inside arrays whose length is a multiple of 8 (names: `char name[32]`).
impl CType for u8 {
    fn c_decl(field: &str) -> String {
        format!("char {field}")
    }
}

impl CType for f64 {
    fn c_decl(field: &str) -> String {
        format!("double {field}")
    }
}

impl<T: CType, const N: usize> CType for [T; N] {
    fn c_decl(field: &str) -> String {
        format!("{}[{N}]", T::c_decl(field))
    }
}

/// One field for the header: C declaration, name, byte offset, documentation.
pub type CField = (String, &'static str, usize, &'static str);

/// A wire struct's C declaration and layout, for the generated header.
pub struct CStruct {
    pub name: &'static str,
    pub doc: &'static str,
    pub size: usize,
    /// (C declaration, field name, byte offset, documentation).
    pub fields: fn() -> Vec<CField>,
}

macro_rules! wire_struct {
    ($(#[doc = $doc:literal])* $name:ident => $c_name:literal {
        $($(#[doc = $field_doc:literal])* $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq)]
        pub struct $name {
            $($(#[doc = $field_doc])* pub $field: $ty),*
        }

        const _: () = assert!(size_of::<$name>() % 8 == 0 && align_of::<$name>() == 8);

        // SAFETY: generated for a #[repr(C)] struct whose fields are u64/i64/f64, byte
        // arrays of a multiple of 8 bytes, or arrays of wire structs (`CType` exists only for
        // those), so every field sits at a multiple of 8 with a size that is one: no padding,
        // every bit pattern valid. The assertion above checks size and alignment.
        unsafe impl Wire for $name {}

        impl CType for $name {
            fn c_decl(field: &str) -> String {
                format!("{} {field}", $c_name)
            }
        }

        impl $name {
            pub const C: CStruct = CStruct {
                name: $c_name,
                doc: concat!($($doc, "\n"),*),
                size: size_of::<$name>(),
                fields: || vec![$((
                    <$ty as CType>::c_decl(stringify!($field)),
                    stringify!($field),
                    std::mem::offset_of!($name, $field),
                    concat!($($field_doc),*),
                )),*],
            };
        }
    };
}

/// The words of a wire value.
pub fn words_of<T: Wire>(value: &T) -> &[u64] {
    // SAFETY: `Wire` guarantees size = WORDS * 8, alignment 8 and no padding, so the value
    // is exactly WORDS initialised u64s; the borrow keeps it alive and unmodified.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u64>(), T::WORDS) }
}

/// The words of a wire value, writable.
pub fn words_of_mut<T: Wire>(value: &mut T) -> &mut [u64] {
    // SAFETY: as in `words_of`, and every bit pattern is a valid `T`, so any u64 written
    // through the slice leaves a valid value.
    unsafe { std::slice::from_raw_parts_mut((value as *mut T).cast::<u64>(), T::WORDS) }
}

/// Copies a wire value out of shared words (relaxed loads: the caller orders them).
pub fn load<T: Wire>(words: &[AtomicU64]) -> T {
    let mut value = T::default();
    for (out, word) in words_of_mut(&mut value).iter_mut().zip(words) {
        *out = word.load(Ordering::Relaxed);
    }
    value
}

/// Copies a wire value into shared words (relaxed stores: the caller orders them).
pub fn store<T: Wire>(words: &[AtomicU64], value: &T) {
    for (word, value) in words.iter().zip(words_of(value)) {
        word.store(*value, Ordering::Relaxed);
    }
}

/// Stores a mailbox message: every word but the first (relaxed), then the first, its
/// sequence, released, so a reader that acquires the sequence sees the whole message.
pub fn publish_sequence_last<T: Wire>(words: &[AtomicU64], value: &T) {
    let values = words_of(value);
    for (word, value) in words.iter().zip(values).skip(1) {
        word.store(*value, Ordering::Relaxed);
    }
    if let (Some(first), Some(value)) = (words.first(), values.first()) {
        first.store(*value, Ordering::Release);
    }
}

wire_struct! {
    /// The engine file's first 128 bytes, written by the engine only.
    EngineHeader => "keel_engine_header" {
        /// `KEEL_ENGINE_MAGIC`.
        magic: u64,
        /// `KEEL_LAYOUT_VERSION`.
        layout_version: u64,
        /// sizeof(keel_engine_header).
        header_bytes: u64,
        /// sizeof(keel_account_snapshot).
        snapshot_bytes: u64,
        /// Snapshot slots after the header (account ids 0 .. accounts_max-1).
        accounts_max: u64,
        /// Client files (`<name>.client-0` ..).
        clients_max: u64,
        /// sizeof(keel_client_area) and the ring's records.
        client_file_bytes: u64,
        ingress_records: u64,
        /// Changes at every engine start: a client attached under another epoch must
        /// attach again.
        epoch: u64,
        engine_pid: u64,
        /// 1 while the engine serves, 0 once it has stopped.
        running: u64,
        /// Journal sequence of the last batch end published.
        published_seq: u64,
        reserved: [u64; 4],
    }
}

wire_struct! {
    /// One underlying's Greeks.
    SnapshotUnderlying => "keel_underlying_greeks" {
        underlying: u64,
        /// Coin-equivalent exposure (underlying units; inverse options net of their own
        /// coin value).
        delta_coin: f64,
        /// Black delta of the USD value, in underlying units.
        black_delta_coin: f64,
        /// Change of delta (coin) per 1 USD move of the underlying.
        gamma_coin_per_usd: f64,
        /// Value change (USD) per volatility point.
        vega_usd_per_vol_point: f64,
        /// Value change (USD) per day.
        theta_usd_per_day: f64,
    }
}

wire_struct! {
    /// One expiry bucket's Greeks (expiry 0: perpetuals).
    SnapshotBucket => "keel_bucket_greeks" {
        underlying: u64,
        expiry_ns: u64,
        delta_coin: f64,
        black_delta_coin: f64,
        gamma_coin_per_usd: f64,
        vega_usd_per_vol_point: f64,
        theta_usd_per_day: f64,
    }
}

wire_struct! {
    /// Margin in one currency (amounts in that currency).
    CurrencyFigures => "keel_currency_margin" {
        /// A coin's underlying id, or `KEEL_CURRENCY_QUOTE`.
        currency: u64,
        equity: f64,
        initial_margin: f64,
        maintenance_margin: f64,
        /// maintenance_margin / equity (1 = liquidation); +inf when equity <= 0 < MM.
        maintenance_ratio: f64,
        /// 0 when some position could not be margined (left out of the figures).
        complete: u64,
    }
}

wire_struct! {
    /// One account's risk, as of journal sequence `seq` (a seqlock slot: `version` even and
    /// unchanged around the copy means the copy is whole; 0 means never written).
    AccountSnapshot => "keel_account_snapshot" {
        version: u64,
        seq: u64,
        account: u64,
        /// 0 ACTIVE, 1 REDUCE_ONLY, 2 HALTED.
        trading_state: u64,
        /// Condition bits of the last evaluation (docs/MARGIN.md).
        conditions: u64,
        /// The account's own events rejected so far.
        rejected_events: u64,
        underlying_count: u64,
        bucket_count: u64,
        currency_count: u64,
        /// Bit 0: more underlyings, bit 1: more buckets, bit 2: more currencies than fit.
        truncated: u64,
        underlyings: [SnapshotUnderlying; SNAPSHOT_UNDERLYINGS_MAX],
        buckets: [SnapshotBucket; SNAPSHOT_BUCKETS_MAX],
        currencies: [CurrencyFigures; SNAPSHOT_CURRENCIES_MAX],
        reserved: [u64; 2],
    }
}

wire_struct! {
    /// Written by the engine when it creates the client file.
    ClientHeader => "keel_client_header" {
        /// `KEEL_CLIENT_MAGIC`.
        magic: u64,
        layout_version: u64,
        /// The whole file: sizeof(keel_client_area) + ingress_records * sizeof(keel_record).
        file_bytes: u64,
        /// This file's client slot (0 .. clients_max-1).
        slot: u64,
        /// The engine's epoch when it created the file.
        epoch: u64,
        ingress_records: u64,
        legs_max: u64,
        reserved: u64,
    }
}

wire_struct! {
    /// Written by the client (informational to the engine: never trusted).
    ClientControl => "keel_client_control" {
        /// Incremented at every attach to this slot.
        attach_count: u64,
        client_pid: u64,
        /// Pushes the client found the ring full for (it counts them itself).
        pushes_refused_full: u64,
        reserved: [u64; 5],
    }
}

wire_struct! {
    /// Written by the engine: what happened to this client's input.
    EngineCounters => "keel_engine_counters" {
        /// Records taken from the ring and sent into the engine's ring.
        records_accepted: u64,
        /// Records refused at decode (unknown kind, bad side or decimal): counted, skipped.
        records_rejected: u64,
        /// The client tag and reason code of the last refused record.
        last_rejected_tag: u64,
        last_rejection: u64,
        /// This client's events journaled (acknowledged under the journal's durability).
        events_journaled: u64,
        /// Times the ring indexes were impossible (head behind tail, or more than the
        /// ring holds ahead): the engine skipped to the head.
        ring_faults: u64,
        /// Questions answered (what-if and size queries).
        what_ifs_answered: u64,
        reserved: u64,
    }
}

wire_struct! {
    /// One ring index on a cache line of its own.
    RingIndex => "keel_ring_index" {
        value: u64,
        reserved: [u64; 7],
    }
}

wire_struct! {
    /// An ingress record: `kind` says which of the record structs below it is. 16 words.
    Record => "keel_record" {
        kind: u64,
        timestamp_ns: u64,
        /// The client's own reference, echoed when the record is refused.
        client_tag: u64,
        words: [u64; 13],
    }
}

wire_struct! {
    /// A fill (kind 1). Decimals are mantissa × 10^-scale, scale 0..28.
    FillRecord => "keel_fill_record" {
        kind: u64,
        timestamp_ns: u64,
        client_tag: u64,
        account: u64,
        instrument: u64,
        /// `KEEL_SIDE_BUY` or `KEEL_SIDE_SELL`.
        side: u64,
        quantity_mantissa: i64,
        quantity_scale: u64,
        price_mantissa: i64,
        price_scale: u64,
        fee_mantissa: i64,
        fee_scale: u64,
        trade_id: u64,
        reserved: [u64; 3],
    }
}

wire_struct! {
    /// Collateral moved in (amount > 0) or out (kind 2).
    CollateralRecord => "keel_collateral_record" {
        kind: u64,
        timestamp_ns: u64,
        client_tag: u64,
        account: u64,
        currency: u64,
        amount_mantissa: i64,
        amount_scale: u64,
        transfer_id: u64,
        reserved: [u64; 8],
    }
}

wire_struct! {
    /// An index price in quote currency (kind 3).
    IndexPriceRecord => "keel_index_price_record" {
        kind: u64,
        timestamp_ns: u64,
        client_tag: u64,
        underlying: u64,
        price: f64,
        reserved: [u64; 11],
    }
}

wire_struct! {
    /// A ticker (kind 4): prices as the venue quotes them, IV as a fraction.
    TickerRecord => "keel_ticker_record" {
        kind: u64,
        timestamp_ns: u64,
        client_tag: u64,
        instrument: u64,
        mark_price: f64,
        mark_iv: f64,
        forward: f64,
        best_bid: f64,
        best_ask: f64,
        reserved: [u64; 7],
    }
}

wire_struct! {
    /// One leg of a what-if (price mantissa 0: at the instrument's mark).
    WhatIfLeg => "keel_what_if_leg" {
        /// Used when `instrument_name` is empty (its first byte 0).
        instrument: u64,
        side: u64,
        quantity_mantissa: i64,
        quantity_scale: u64,
        price_mantissa: i64,
        price_scale: u64,
        fee_mantissa: i64,
        fee_scale: u64,
        /// The instrument's name, NUL-padded; empty: use `instrument`.
        instrument_name: [u8; NAME_BYTES],
    }
}

wire_struct! {
    /// A question, written by the client; `request_seq` last (released), one greater than
    /// the previous request's.
    WhatIfRequest => "keel_what_if_request" {
        request_seq: u64,
        /// Used when `account_name` is empty.
        account: u64,
        leg_count: u64,
        /// `KEEL_QUERY_WHAT_IF`: what the legs would do. `KEEL_QUERY_SIZE`: the largest
        /// quantity of leg 0's instrument and side the account may trade at the mark, in
        /// whole lots of leg 0's quantity (one leg; its price and fee are not read).
        query: u64,
        /// The account's name, NUL-padded; empty: use `account`.
        account_name: [u8; NAME_BYTES],
        legs: [WhatIfLeg; WHAT_IF_LEGS_MAX],
        /// Size queries: a stress budget when `stress_max_loss_share` > 0 — the loss of
        /// book and trade together when every underlying moves by `stress_spot_move`
        /// (a fraction: -0.2 is -20 %) and every vol by `stress_vol_points` (absolute
        /// points) stays at most that share of equity (0.1: 10 %).
        stress_spot_move: f64,
        stress_vol_points: f64,
        stress_max_loss_share: f64,
        reserved: u64,
    }
}

wire_struct! {
    /// The answer, written by the engine; `response_seq` (= the request's) last.
    WhatIfResponse => "keel_what_if_response" {
        response_seq: u64,
        /// 0 answered; otherwise why not (`KEEL_STATUS_*`), `status_detail` the id concerned.
        status: u64,
        status_detail: u64,
        /// Journal sequence of the last event applied when answering.
        as_of_seq: u64,
        /// 1 if the trade is allowed.
        allowed: u64,
        /// 0 stays active, 1 reduce-only but the trade shrinks positions, 2 halted,
        /// 3 breach of condition `breach_condition`.
        reason: u64,
        breach_condition: u64,
        trading_state_after: u64,
        conditions_after: u64,
        currency_count: u64,
        underlying_count: u64,
        /// Size answers: the largest quantity (mantissa × 10^-scale contracts, a whole
        /// number of lots), its lots, and what one lot more would breach
        /// (`KEEL_BINDING_*`, or a condition code as `breach_condition`); `after` and
        /// `greeks_after` are the account with that quantity traded at the mark.
        max_quantity_mantissa: i64,
        max_quantity_scale: u64,
        lots: u64,
        binding: u64,
        /// 1 when the binding constraint is breached before any trade (`lots` is then 0).
        already_breached: u64,
        /// What-if evaluations the search made.
        evaluations: u64,
        reserved: [u64; 2],
        before: [CurrencyFigures; ANSWER_CURRENCIES_MAX],
        after: [CurrencyFigures; ANSWER_CURRENCIES_MAX],
        greeks_after: [SnapshotUnderlying; SNAPSHOT_UNDERLYINGS_MAX],
    }
}

wire_struct! {
    /// The start of every client file; the ring's records follow it.
    ClientArea => "keel_client_area" {
        header: ClientHeader,
        control: ClientControl,
        counters: EngineCounters,
        head: RingIndex,
        tail: RingIndex,
        request: WhatIfRequest,
        response: WhatIfResponse,
    }
}

/// What-if status codes (`WhatIfResponse::status`).
pub const STATUS_OK: u64 = 0;
pub const STATUS_UNKNOWN_ACCOUNT: u64 = 1;
pub const STATUS_UNKNOWN_INSTRUMENT: u64 = 2;
pub const STATUS_SETTLED: u64 = 3;
pub const STATUS_UNMARKED: u64 = 4;
pub const STATUS_UNVALUED: u64 = 5;
pub const STATUS_INVALID_LEG: u64 = 6;
pub const STATUS_TOO_MANY_LEGS: u64 = 7;
/// A size query without its one leg, with a lot that is not positive, a quantity too
/// large for the wire, or an invalid stress budget.
pub const STATUS_INVALID_SIZE: u64 = 8;
/// `query` is not a known query kind (`status_detail`: the value sent).
pub const STATUS_UNKNOWN_QUERY: u64 = 9;

/// Query kinds (`WhatIfRequest::query`).
pub const QUERY_WHAT_IF: u64 = 0;
pub const QUERY_SIZE: u64 = 1;

/// What binds a size answer besides a condition (`WhatIfResponse::binding`; below 64 it
/// is a condition code).
pub const BINDING_STRESS_BUDGET: u64 = 64;
pub const BINDING_LOTS_MAX: u64 = 65;

/// Reasons a record is refused at decode (`EngineCounters::last_rejection`).
pub const REFUSED_KIND: u64 = 1;
pub const REFUSED_SIDE: u64 = 2;
pub const REFUSED_DECIMAL: u64 = 3;
pub const REFUSED_ID: u64 = 4;
pub const REFUSED_CURRENCY: u64 = 5;

/// Every struct, in declaration order (dependencies first), for the header.
pub const STRUCTS: &[CStruct] = &[
    EngineHeader::C,
    SnapshotUnderlying::C,
    SnapshotBucket::C,
    CurrencyFigures::C,
    AccountSnapshot::C,
    ClientHeader::C,
    ClientControl::C,
    EngineCounters::C,
    RingIndex::C,
    Record::C,
    FillRecord::C,
    CollateralRecord::C,
    IndexPriceRecord::C,
    TickerRecord::C,
    WhatIfLeg::C,
    WhatIfRequest::C,
    WhatIfResponse::C,
    ClientArea::C,
];

/// Every constant a C client needs, by its C name.
pub const CONSTANTS: &[(&str, u64)] = &[
    ("KEEL_ENGINE_MAGIC", ENGINE_MAGIC),
    ("KEEL_CLIENT_MAGIC", CLIENT_MAGIC),
    ("KEEL_LAYOUT_VERSION", LAYOUT_VERSION),
    ("KEEL_CLIENTS_MAX", CLIENTS_MAX as u64),
    ("KEEL_INGRESS_RECORDS", INGRESS_RECORDS),
    ("KEEL_WHAT_IF_LEGS_MAX", WHAT_IF_LEGS_MAX as u64),
    ("KEEL_NAME_BYTES", NAME_BYTES as u64),
    (
        "KEEL_SNAPSHOT_UNDERLYINGS_MAX",
        SNAPSHOT_UNDERLYINGS_MAX as u64,
    ),
    ("KEEL_SNAPSHOT_BUCKETS_MAX", SNAPSHOT_BUCKETS_MAX as u64),
    (
        "KEEL_SNAPSHOT_CURRENCIES_MAX",
        SNAPSHOT_CURRENCIES_MAX as u64,
    ),
    ("KEEL_ANSWER_CURRENCIES_MAX", ANSWER_CURRENCIES_MAX as u64),
    ("KEEL_KIND_FILL", KIND_FILL),
    ("KEEL_KIND_COLLATERAL", KIND_COLLATERAL),
    ("KEEL_KIND_INDEX_PRICE", KIND_INDEX_PRICE),
    ("KEEL_KIND_TICKER", KIND_TICKER),
    ("KEEL_SIDE_BUY", SIDE_BUY),
    ("KEEL_SIDE_SELL", SIDE_SELL),
    ("KEEL_CURRENCY_QUOTE", CURRENCY_QUOTE),
    ("KEEL_STATUS_OK", STATUS_OK),
    ("KEEL_STATUS_UNKNOWN_ACCOUNT", STATUS_UNKNOWN_ACCOUNT),
    ("KEEL_STATUS_UNKNOWN_INSTRUMENT", STATUS_UNKNOWN_INSTRUMENT),
    ("KEEL_STATUS_SETTLED", STATUS_SETTLED),
    ("KEEL_STATUS_UNMARKED", STATUS_UNMARKED),
    ("KEEL_STATUS_UNVALUED", STATUS_UNVALUED),
    ("KEEL_STATUS_INVALID_LEG", STATUS_INVALID_LEG),
    ("KEEL_STATUS_TOO_MANY_LEGS", STATUS_TOO_MANY_LEGS),
    ("KEEL_STATUS_INVALID_SIZE", STATUS_INVALID_SIZE),
    ("KEEL_STATUS_UNKNOWN_QUERY", STATUS_UNKNOWN_QUERY),
    ("KEEL_QUERY_WHAT_IF", QUERY_WHAT_IF),
    ("KEEL_QUERY_SIZE", QUERY_SIZE),
    ("KEEL_BINDING_STRESS_BUDGET", BINDING_STRESS_BUDGET),
    ("KEEL_BINDING_LOTS_MAX", BINDING_LOTS_MAX),
    ("KEEL_REFUSED_KIND", REFUSED_KIND),
    ("KEEL_REFUSED_SIDE", REFUSED_SIDE),
    ("KEEL_REFUSED_DECIMAL", REFUSED_DECIMAL),
    ("KEEL_REFUSED_ID", REFUSED_ID),
    ("KEEL_REFUSED_CURRENCY", REFUSED_CURRENCY),
];

/// The text of `include/keel.h`: constants, every struct with its documentation, and a
/// static assertion of every size and field offset, so a C compiler whose layout differs
/// from Rust's refuses to build the client.
pub fn c_header() -> String {
    let mut text = String::from(
        "/* keel.h: Keel's shared-memory layout (docs/EMBEDDING.md).\n \
         * Generated from runtime/src/embed/wire.rs; the test suite fails when it is not\n \
         * current, and KEEL_UPDATE_HEADER=1 cargo test -p keel-tools --test embed_c_client\n \
         * rewrites it. Do not edit by hand. */\n\
         #ifndef KEEL_H\n#define KEEL_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n",
    );
    for (name, value) in CONSTANTS {
        if name.ends_with("MAGIC") {
            text += &format!("#define {name} UINT64_C({value:#x})\n");
        } else {
            text += &format!("#define {name} UINT64_C({value})\n");
        }
    }
    for item in STRUCTS {
        text += "\n";
        for line in item.doc.lines() {
            text += &format!("/*{line} */\n");
        }
        text += &format!("typedef struct {} {{\n", item.name);
        for (decl, _, _, doc) in (item.fields)() {
            if !doc.is_empty() {
                text += &format!("    /*{doc} */\n");
            }
            text += &format!("    {decl};\n");
        }
        text += &format!("}} {};\n", item.name);
        text += &format!(
            "_Static_assert(sizeof({0}) == {1}, \"{0}: size\");\n",
            item.name, item.size
        );
        for (_, field, offset, _) in (item.fields)() {
            text += &format!(
                "_Static_assert(offsetof({0}, {field}) == {offset}, \"{0}.{field}: offset\");\n",
                item.name
            );
        }
    }
    text += "\n#endif /* KEEL_H */\n";
    text
}

/// The byte-by-byte layout as Markdown tables (docs/EMBEDDING.md carries this text between
/// its layout markers; a test keeps it current).
pub fn markdown_layout() -> String {
    let mut text = String::from("| constant | value |\n|---|---|\n");
    for (name, value) in CONSTANTS {
        if name.ends_with("MAGIC") {
            text += &format!("| `{name}` | `{value:#x}` |\n");
        } else {
            text += &format!("| `{name}` | {value} |\n");
        }
    }
    for item in STRUCTS {
        text += &format!("\n**`{}`** ({} bytes).", item.name, item.size);
        for line in item.doc.lines() {
            text += line;
        }
        text += "\n\n| offset | bytes | field (C) | meaning |\n|---:|---:|---|---|\n";
        let fields = (item.fields)();
        for (index, (decl, _, offset, doc)) in fields.iter().enumerate() {
            let end = fields.get(index + 1).map_or(item.size, |next| next.2);
            text += &format!(
                "| {offset} | {} | `{decl}` | {} |\n",
                end - offset,
                doc.trim()
            );
        }
    }
    text
}
