/* keel.h: Keel's shared-memory layout (docs/EMBEDDING.md).
 * Generated from runtime/src/embed/wire.rs; the test suite fails when it is not
 * current, and KEEL_UPDATE_HEADER=1 cargo test -p keel-tools --test embed_c_client
 * rewrites it. Do not edit by hand. */
#ifndef KEEL_H
#define KEEL_H

#include <stddef.h>
#include <stdint.h>

#define KEEL_ENGINE_MAGIC UINT64_C(0x314d48534c45454b)
#define KEEL_CLIENT_MAGIC UINT64_C(0x31494c434c45454b)
#define KEEL_LAYOUT_VERSION UINT64_C(2)
#define KEEL_CLIENTS_MAX UINT64_C(8)
#define KEEL_INGRESS_RECORDS UINT64_C(1024)
#define KEEL_WHAT_IF_LEGS_MAX UINT64_C(4)
#define KEEL_NAME_BYTES UINT64_C(32)
#define KEEL_SNAPSHOT_UNDERLYINGS_MAX UINT64_C(4)
#define KEEL_SNAPSHOT_BUCKETS_MAX UINT64_C(8)
#define KEEL_SNAPSHOT_CURRENCIES_MAX UINT64_C(4)
#define KEEL_ANSWER_CURRENCIES_MAX UINT64_C(4)
#define KEEL_KIND_FILL UINT64_C(1)
#define KEEL_KIND_COLLATERAL UINT64_C(2)
#define KEEL_KIND_INDEX_PRICE UINT64_C(3)
#define KEEL_KIND_TICKER UINT64_C(4)
#define KEEL_SIDE_BUY UINT64_C(1)
#define KEEL_SIDE_SELL UINT64_C(2)
#define KEEL_CURRENCY_QUOTE UINT64_C(64)
#define KEEL_STATUS_OK UINT64_C(0)
#define KEEL_STATUS_UNKNOWN_ACCOUNT UINT64_C(1)
#define KEEL_STATUS_UNKNOWN_INSTRUMENT UINT64_C(2)
#define KEEL_STATUS_SETTLED UINT64_C(3)
#define KEEL_STATUS_UNMARKED UINT64_C(4)
#define KEEL_STATUS_UNVALUED UINT64_C(5)
#define KEEL_STATUS_INVALID_LEG UINT64_C(6)
#define KEEL_STATUS_TOO_MANY_LEGS UINT64_C(7)
#define KEEL_STATUS_INVALID_SIZE UINT64_C(8)
#define KEEL_STATUS_UNKNOWN_QUERY UINT64_C(9)
#define KEEL_QUERY_WHAT_IF UINT64_C(0)
#define KEEL_QUERY_SIZE UINT64_C(1)
#define KEEL_BINDING_STRESS_BUDGET UINT64_C(64)
#define KEEL_BINDING_LOTS_MAX UINT64_C(65)
#define KEEL_REFUSED_KIND UINT64_C(1)
#define KEEL_REFUSED_SIDE UINT64_C(2)
#define KEEL_REFUSED_DECIMAL UINT64_C(3)
#define KEEL_REFUSED_ID UINT64_C(4)
#define KEEL_REFUSED_CURRENCY UINT64_C(5)

/* The engine file's first 128 bytes, written by the engine only. */
typedef struct keel_engine_header {
    /* `KEEL_ENGINE_MAGIC`. */
    uint64_t magic;
    /* `KEEL_LAYOUT_VERSION`. */
    uint64_t layout_version;
    /* sizeof(keel_engine_header). */
    uint64_t header_bytes;
    /* sizeof(keel_account_snapshot). */
    uint64_t snapshot_bytes;
    /* Snapshot slots after the header (account ids 0 .. accounts_max-1). */
    uint64_t accounts_max;
    /* Client files (`<name>.client-0` ..). */
    uint64_t clients_max;
    /* sizeof(keel_client_area) and the ring's records. */
    uint64_t client_file_bytes;
    uint64_t ingress_records;
    /* Changes at every engine start: a client attached under another epoch must attach again. */
    uint64_t epoch;
    uint64_t engine_pid;
    /* 1 while the engine serves, 0 once it has stopped. */
    uint64_t running;
    /* Journal sequence of the last batch end published. */
    uint64_t published_seq;
    uint64_t reserved[4];
} keel_engine_header;
_Static_assert(sizeof(keel_engine_header) == 128, "keel_engine_header: size");
_Static_assert(offsetof(keel_engine_header, magic) == 0, "keel_engine_header.magic: offset");
_Static_assert(offsetof(keel_engine_header, layout_version) == 8, "keel_engine_header.layout_version: offset");
_Static_assert(offsetof(keel_engine_header, header_bytes) == 16, "keel_engine_header.header_bytes: offset");
_Static_assert(offsetof(keel_engine_header, snapshot_bytes) == 24, "keel_engine_header.snapshot_bytes: offset");
_Static_assert(offsetof(keel_engine_header, accounts_max) == 32, "keel_engine_header.accounts_max: offset");
_Static_assert(offsetof(keel_engine_header, clients_max) == 40, "keel_engine_header.clients_max: offset");
_Static_assert(offsetof(keel_engine_header, client_file_bytes) == 48, "keel_engine_header.client_file_bytes: offset");
_Static_assert(offsetof(keel_engine_header, ingress_records) == 56, "keel_engine_header.ingress_records: offset");
_Static_assert(offsetof(keel_engine_header, epoch) == 64, "keel_engine_header.epoch: offset");
_Static_assert(offsetof(keel_engine_header, engine_pid) == 72, "keel_engine_header.engine_pid: offset");
_Static_assert(offsetof(keel_engine_header, running) == 80, "keel_engine_header.running: offset");
_Static_assert(offsetof(keel_engine_header, published_seq) == 88, "keel_engine_header.published_seq: offset");
_Static_assert(offsetof(keel_engine_header, reserved) == 96, "keel_engine_header.reserved: offset");

/* One underlying's Greeks. */
typedef struct keel_underlying_greeks {
    uint64_t underlying;
    /* Coin-equivalent exposure (underlying units; inverse options net of their own coin value). */
    double delta_coin;
    /* Black delta of the USD value, in underlying units. */
    double black_delta_coin;
    /* Change of delta (coin) per 1 USD move of the underlying. */
    double gamma_coin_per_usd;
    /* Value change (USD) per volatility point. */
    double vega_usd_per_vol_point;
    /* Value change (USD) per day. */
    double theta_usd_per_day;
} keel_underlying_greeks;
_Static_assert(sizeof(keel_underlying_greeks) == 48, "keel_underlying_greeks: size");
_Static_assert(offsetof(keel_underlying_greeks, underlying) == 0, "keel_underlying_greeks.underlying: offset");
_Static_assert(offsetof(keel_underlying_greeks, delta_coin) == 8, "keel_underlying_greeks.delta_coin: offset");
_Static_assert(offsetof(keel_underlying_greeks, black_delta_coin) == 16, "keel_underlying_greeks.black_delta_coin: offset");
_Static_assert(offsetof(keel_underlying_greeks, gamma_coin_per_usd) == 24, "keel_underlying_greeks.gamma_coin_per_usd: offset");
_Static_assert(offsetof(keel_underlying_greeks, vega_usd_per_vol_point) == 32, "keel_underlying_greeks.vega_usd_per_vol_point: offset");
_Static_assert(offsetof(keel_underlying_greeks, theta_usd_per_day) == 40, "keel_underlying_greeks.theta_usd_per_day: offset");

/* One expiry bucket's Greeks (expiry 0: perpetuals). */
typedef struct keel_bucket_greeks {
    uint64_t underlying;
    uint64_t expiry_ns;
    double delta_coin;
    double black_delta_coin;
    double gamma_coin_per_usd;
    double vega_usd_per_vol_point;
    double theta_usd_per_day;
} keel_bucket_greeks;
_Static_assert(sizeof(keel_bucket_greeks) == 56, "keel_bucket_greeks: size");
_Static_assert(offsetof(keel_bucket_greeks, underlying) == 0, "keel_bucket_greeks.underlying: offset");
_Static_assert(offsetof(keel_bucket_greeks, expiry_ns) == 8, "keel_bucket_greeks.expiry_ns: offset");
_Static_assert(offsetof(keel_bucket_greeks, delta_coin) == 16, "keel_bucket_greeks.delta_coin: offset");
_Static_assert(offsetof(keel_bucket_greeks, black_delta_coin) == 24, "keel_bucket_greeks.black_delta_coin: offset");
_Static_assert(offsetof(keel_bucket_greeks, gamma_coin_per_usd) == 32, "keel_bucket_greeks.gamma_coin_per_usd: offset");
_Static_assert(offsetof(keel_bucket_greeks, vega_usd_per_vol_point) == 40, "keel_bucket_greeks.vega_usd_per_vol_point: offset");
_Static_assert(offsetof(keel_bucket_greeks, theta_usd_per_day) == 48, "keel_bucket_greeks.theta_usd_per_day: offset");

/* Margin in one currency (amounts in that currency). */
typedef struct keel_currency_margin {
    /* A coin's underlying id, or `KEEL_CURRENCY_QUOTE`. */
    uint64_t currency;
    double equity;
    double initial_margin;
    double maintenance_margin;
    /* maintenance_margin / equity (1 = liquidation); +inf when equity <= 0 < MM. */
    double maintenance_ratio;
    /* 0 when some position could not be margined (left out of the figures). */
    uint64_t complete;
} keel_currency_margin;
_Static_assert(sizeof(keel_currency_margin) == 48, "keel_currency_margin: size");
_Static_assert(offsetof(keel_currency_margin, currency) == 0, "keel_currency_margin.currency: offset");
_Static_assert(offsetof(keel_currency_margin, equity) == 8, "keel_currency_margin.equity: offset");
_Static_assert(offsetof(keel_currency_margin, initial_margin) == 16, "keel_currency_margin.initial_margin: offset");
_Static_assert(offsetof(keel_currency_margin, maintenance_margin) == 24, "keel_currency_margin.maintenance_margin: offset");
_Static_assert(offsetof(keel_currency_margin, maintenance_ratio) == 32, "keel_currency_margin.maintenance_ratio: offset");
_Static_assert(offsetof(keel_currency_margin, complete) == 40, "keel_currency_margin.complete: offset");

/* One account's risk, as of journal sequence `seq` (a seqlock slot: `version` even and */
/* unchanged around the copy means the copy is whole; 0 means never written). */
typedef struct keel_account_snapshot {
    uint64_t version;
    uint64_t seq;
    uint64_t account;
    /* 0 ACTIVE, 1 REDUCE_ONLY, 2 HALTED. */
    uint64_t trading_state;
    /* Condition bits of the last evaluation (docs/MARGIN.md). */
    uint64_t conditions;
    /* The account's own events rejected so far. */
    uint64_t rejected_events;
    uint64_t underlying_count;
    uint64_t bucket_count;
    uint64_t currency_count;
    /* Bit 0: more underlyings, bit 1: more buckets, bit 2: more currencies than fit. */
    uint64_t truncated;
    keel_underlying_greeks underlyings[4];
    keel_bucket_greeks buckets[8];
    keel_currency_margin currencies[4];
    uint64_t reserved[2];
} keel_account_snapshot;
_Static_assert(sizeof(keel_account_snapshot) == 928, "keel_account_snapshot: size");
_Static_assert(offsetof(keel_account_snapshot, version) == 0, "keel_account_snapshot.version: offset");
_Static_assert(offsetof(keel_account_snapshot, seq) == 8, "keel_account_snapshot.seq: offset");
_Static_assert(offsetof(keel_account_snapshot, account) == 16, "keel_account_snapshot.account: offset");
_Static_assert(offsetof(keel_account_snapshot, trading_state) == 24, "keel_account_snapshot.trading_state: offset");
_Static_assert(offsetof(keel_account_snapshot, conditions) == 32, "keel_account_snapshot.conditions: offset");
_Static_assert(offsetof(keel_account_snapshot, rejected_events) == 40, "keel_account_snapshot.rejected_events: offset");
_Static_assert(offsetof(keel_account_snapshot, underlying_count) == 48, "keel_account_snapshot.underlying_count: offset");
_Static_assert(offsetof(keel_account_snapshot, bucket_count) == 56, "keel_account_snapshot.bucket_count: offset");
_Static_assert(offsetof(keel_account_snapshot, currency_count) == 64, "keel_account_snapshot.currency_count: offset");
_Static_assert(offsetof(keel_account_snapshot, truncated) == 72, "keel_account_snapshot.truncated: offset");
_Static_assert(offsetof(keel_account_snapshot, underlyings) == 80, "keel_account_snapshot.underlyings: offset");
_Static_assert(offsetof(keel_account_snapshot, buckets) == 272, "keel_account_snapshot.buckets: offset");
_Static_assert(offsetof(keel_account_snapshot, currencies) == 720, "keel_account_snapshot.currencies: offset");
_Static_assert(offsetof(keel_account_snapshot, reserved) == 912, "keel_account_snapshot.reserved: offset");

/* Written by the engine when it creates the client file. */
typedef struct keel_client_header {
    /* `KEEL_CLIENT_MAGIC`. */
    uint64_t magic;
    uint64_t layout_version;
    /* The whole file: sizeof(keel_client_area) + ingress_records * sizeof(keel_record). */
    uint64_t file_bytes;
    /* This file's client slot (0 .. clients_max-1). */
    uint64_t slot;
    /* The engine's epoch when it created the file. */
    uint64_t epoch;
    uint64_t ingress_records;
    uint64_t legs_max;
    uint64_t reserved;
} keel_client_header;
_Static_assert(sizeof(keel_client_header) == 64, "keel_client_header: size");
_Static_assert(offsetof(keel_client_header, magic) == 0, "keel_client_header.magic: offset");
_Static_assert(offsetof(keel_client_header, layout_version) == 8, "keel_client_header.layout_version: offset");
_Static_assert(offsetof(keel_client_header, file_bytes) == 16, "keel_client_header.file_bytes: offset");
_Static_assert(offsetof(keel_client_header, slot) == 24, "keel_client_header.slot: offset");
_Static_assert(offsetof(keel_client_header, epoch) == 32, "keel_client_header.epoch: offset");
_Static_assert(offsetof(keel_client_header, ingress_records) == 40, "keel_client_header.ingress_records: offset");
_Static_assert(offsetof(keel_client_header, legs_max) == 48, "keel_client_header.legs_max: offset");
_Static_assert(offsetof(keel_client_header, reserved) == 56, "keel_client_header.reserved: offset");

/* Written by the client (informational to the engine: never trusted). */
typedef struct keel_client_control {
    /* Incremented at every attach to this slot. */
    uint64_t attach_count;
    uint64_t client_pid;
    /* Pushes the client found the ring full for (it counts them itself). */
    uint64_t pushes_refused_full;
    uint64_t reserved[5];
} keel_client_control;
_Static_assert(sizeof(keel_client_control) == 64, "keel_client_control: size");
_Static_assert(offsetof(keel_client_control, attach_count) == 0, "keel_client_control.attach_count: offset");
_Static_assert(offsetof(keel_client_control, client_pid) == 8, "keel_client_control.client_pid: offset");
_Static_assert(offsetof(keel_client_control, pushes_refused_full) == 16, "keel_client_control.pushes_refused_full: offset");
_Static_assert(offsetof(keel_client_control, reserved) == 24, "keel_client_control.reserved: offset");

/* Written by the engine: what happened to this client's input. */
typedef struct keel_engine_counters {
    /* Records taken from the ring and sent into the engine's ring. */
    uint64_t records_accepted;
    /* Records refused at decode (unknown kind, bad side or decimal): counted, skipped. */
    uint64_t records_rejected;
    /* The client tag and reason code of the last refused record. */
    uint64_t last_rejected_tag;
    uint64_t last_rejection;
    /* This client's events journaled (acknowledged under the journal's durability). */
    uint64_t events_journaled;
    /* Times the ring indexes were impossible (head behind tail, or more than the ring holds ahead): the engine skipped to the head. */
    uint64_t ring_faults;
    /* Questions answered (what-if and size queries). */
    uint64_t what_ifs_answered;
    uint64_t reserved;
} keel_engine_counters;
_Static_assert(sizeof(keel_engine_counters) == 64, "keel_engine_counters: size");
_Static_assert(offsetof(keel_engine_counters, records_accepted) == 0, "keel_engine_counters.records_accepted: offset");
_Static_assert(offsetof(keel_engine_counters, records_rejected) == 8, "keel_engine_counters.records_rejected: offset");
_Static_assert(offsetof(keel_engine_counters, last_rejected_tag) == 16, "keel_engine_counters.last_rejected_tag: offset");
_Static_assert(offsetof(keel_engine_counters, last_rejection) == 24, "keel_engine_counters.last_rejection: offset");
_Static_assert(offsetof(keel_engine_counters, events_journaled) == 32, "keel_engine_counters.events_journaled: offset");
_Static_assert(offsetof(keel_engine_counters, ring_faults) == 40, "keel_engine_counters.ring_faults: offset");
_Static_assert(offsetof(keel_engine_counters, what_ifs_answered) == 48, "keel_engine_counters.what_ifs_answered: offset");
_Static_assert(offsetof(keel_engine_counters, reserved) == 56, "keel_engine_counters.reserved: offset");

/* One ring index on a cache line of its own. */
typedef struct keel_ring_index {
    uint64_t value;
    uint64_t reserved[7];
} keel_ring_index;
_Static_assert(sizeof(keel_ring_index) == 64, "keel_ring_index: size");
_Static_assert(offsetof(keel_ring_index, value) == 0, "keel_ring_index.value: offset");
_Static_assert(offsetof(keel_ring_index, reserved) == 8, "keel_ring_index.reserved: offset");

/* An ingress record: `kind` says which of the record structs below it is. 16 words. */
typedef struct keel_record {
    uint64_t kind;
    uint64_t timestamp_ns;
    /* The client's own reference, echoed when the record is refused. */
    uint64_t client_tag;
    uint64_t words[13];
} keel_record;
_Static_assert(sizeof(keel_record) == 128, "keel_record: size");
_Static_assert(offsetof(keel_record, kind) == 0, "keel_record.kind: offset");
_Static_assert(offsetof(keel_record, timestamp_ns) == 8, "keel_record.timestamp_ns: offset");
_Static_assert(offsetof(keel_record, client_tag) == 16, "keel_record.client_tag: offset");
_Static_assert(offsetof(keel_record, words) == 24, "keel_record.words: offset");

/* A fill (kind 1). Decimals are mantissa × 10^-scale, scale 0..28. */
typedef struct keel_fill_record {
    uint64_t kind;
    uint64_t timestamp_ns;
    uint64_t client_tag;
    uint64_t account;
    uint64_t instrument;
    /* `KEEL_SIDE_BUY` or `KEEL_SIDE_SELL`. */
    uint64_t side;
    int64_t quantity_mantissa;
    uint64_t quantity_scale;
    int64_t price_mantissa;
    uint64_t price_scale;
    int64_t fee_mantissa;
    uint64_t fee_scale;
    uint64_t trade_id;
    uint64_t reserved[3];
} keel_fill_record;
_Static_assert(sizeof(keel_fill_record) == 128, "keel_fill_record: size");
_Static_assert(offsetof(keel_fill_record, kind) == 0, "keel_fill_record.kind: offset");
_Static_assert(offsetof(keel_fill_record, timestamp_ns) == 8, "keel_fill_record.timestamp_ns: offset");
_Static_assert(offsetof(keel_fill_record, client_tag) == 16, "keel_fill_record.client_tag: offset");
_Static_assert(offsetof(keel_fill_record, account) == 24, "keel_fill_record.account: offset");
_Static_assert(offsetof(keel_fill_record, instrument) == 32, "keel_fill_record.instrument: offset");
_Static_assert(offsetof(keel_fill_record, side) == 40, "keel_fill_record.side: offset");
_Static_assert(offsetof(keel_fill_record, quantity_mantissa) == 48, "keel_fill_record.quantity_mantissa: offset");
_Static_assert(offsetof(keel_fill_record, quantity_scale) == 56, "keel_fill_record.quantity_scale: offset");
_Static_assert(offsetof(keel_fill_record, price_mantissa) == 64, "keel_fill_record.price_mantissa: offset");
_Static_assert(offsetof(keel_fill_record, price_scale) == 72, "keel_fill_record.price_scale: offset");
_Static_assert(offsetof(keel_fill_record, fee_mantissa) == 80, "keel_fill_record.fee_mantissa: offset");
_Static_assert(offsetof(keel_fill_record, fee_scale) == 88, "keel_fill_record.fee_scale: offset");
_Static_assert(offsetof(keel_fill_record, trade_id) == 96, "keel_fill_record.trade_id: offset");
_Static_assert(offsetof(keel_fill_record, reserved) == 104, "keel_fill_record.reserved: offset");

/* Collateral moved in (amount > 0) or out (kind 2). */
typedef struct keel_collateral_record {
    uint64_t kind;
    uint64_t timestamp_ns;
    uint64_t client_tag;
    uint64_t account;
    uint64_t currency;
    int64_t amount_mantissa;
    uint64_t amount_scale;
    uint64_t transfer_id;
    uint64_t reserved[8];
} keel_collateral_record;
_Static_assert(sizeof(keel_collateral_record) == 128, "keel_collateral_record: size");
_Static_assert(offsetof(keel_collateral_record, kind) == 0, "keel_collateral_record.kind: offset");
_Static_assert(offsetof(keel_collateral_record, timestamp_ns) == 8, "keel_collateral_record.timestamp_ns: offset");
_Static_assert(offsetof(keel_collateral_record, client_tag) == 16, "keel_collateral_record.client_tag: offset");
_Static_assert(offsetof(keel_collateral_record, account) == 24, "keel_collateral_record.account: offset");
_Static_assert(offsetof(keel_collateral_record, currency) == 32, "keel_collateral_record.currency: offset");
_Static_assert(offsetof(keel_collateral_record, amount_mantissa) == 40, "keel_collateral_record.amount_mantissa: offset");
_Static_assert(offsetof(keel_collateral_record, amount_scale) == 48, "keel_collateral_record.amount_scale: offset");
_Static_assert(offsetof(keel_collateral_record, transfer_id) == 56, "keel_collateral_record.transfer_id: offset");
_Static_assert(offsetof(keel_collateral_record, reserved) == 64, "keel_collateral_record.reserved: offset");

/* An index price in quote currency (kind 3). */
typedef struct keel_index_price_record {
    uint64_t kind;
    uint64_t timestamp_ns;
    uint64_t client_tag;
    uint64_t underlying;
    double price;
    uint64_t reserved[11];
} keel_index_price_record;
_Static_assert(sizeof(keel_index_price_record) == 128, "keel_index_price_record: size");
_Static_assert(offsetof(keel_index_price_record, kind) == 0, "keel_index_price_record.kind: offset");
_Static_assert(offsetof(keel_index_price_record, timestamp_ns) == 8, "keel_index_price_record.timestamp_ns: offset");
_Static_assert(offsetof(keel_index_price_record, client_tag) == 16, "keel_index_price_record.client_tag: offset");
_Static_assert(offsetof(keel_index_price_record, underlying) == 24, "keel_index_price_record.underlying: offset");
_Static_assert(offsetof(keel_index_price_record, price) == 32, "keel_index_price_record.price: offset");
_Static_assert(offsetof(keel_index_price_record, reserved) == 40, "keel_index_price_record.reserved: offset");

/* A ticker (kind 4): prices as the venue quotes them, IV as a fraction. */
typedef struct keel_ticker_record {
    uint64_t kind;
    uint64_t timestamp_ns;
    uint64_t client_tag;
    uint64_t instrument;
    double mark_price;
    double mark_iv;
    double forward;
    double best_bid;
    double best_ask;
    uint64_t reserved[7];
} keel_ticker_record;
_Static_assert(sizeof(keel_ticker_record) == 128, "keel_ticker_record: size");
_Static_assert(offsetof(keel_ticker_record, kind) == 0, "keel_ticker_record.kind: offset");
_Static_assert(offsetof(keel_ticker_record, timestamp_ns) == 8, "keel_ticker_record.timestamp_ns: offset");
_Static_assert(offsetof(keel_ticker_record, client_tag) == 16, "keel_ticker_record.client_tag: offset");
_Static_assert(offsetof(keel_ticker_record, instrument) == 24, "keel_ticker_record.instrument: offset");
_Static_assert(offsetof(keel_ticker_record, mark_price) == 32, "keel_ticker_record.mark_price: offset");
_Static_assert(offsetof(keel_ticker_record, mark_iv) == 40, "keel_ticker_record.mark_iv: offset");
_Static_assert(offsetof(keel_ticker_record, forward) == 48, "keel_ticker_record.forward: offset");
_Static_assert(offsetof(keel_ticker_record, best_bid) == 56, "keel_ticker_record.best_bid: offset");
_Static_assert(offsetof(keel_ticker_record, best_ask) == 64, "keel_ticker_record.best_ask: offset");
_Static_assert(offsetof(keel_ticker_record, reserved) == 72, "keel_ticker_record.reserved: offset");

/* One leg of a what-if (price mantissa 0: at the instrument's mark). */
typedef struct keel_what_if_leg {
    /* Used when `instrument_name` is empty (its first byte 0). */
    uint64_t instrument;
    uint64_t side;
    int64_t quantity_mantissa;
    uint64_t quantity_scale;
    int64_t price_mantissa;
    uint64_t price_scale;
    int64_t fee_mantissa;
    uint64_t fee_scale;
    /* The instrument's name, NUL-padded; empty: use `instrument`. */
    char instrument_name[32];
} keel_what_if_leg;
_Static_assert(sizeof(keel_what_if_leg) == 96, "keel_what_if_leg: size");
_Static_assert(offsetof(keel_what_if_leg, instrument) == 0, "keel_what_if_leg.instrument: offset");
_Static_assert(offsetof(keel_what_if_leg, side) == 8, "keel_what_if_leg.side: offset");
_Static_assert(offsetof(keel_what_if_leg, quantity_mantissa) == 16, "keel_what_if_leg.quantity_mantissa: offset");
_Static_assert(offsetof(keel_what_if_leg, quantity_scale) == 24, "keel_what_if_leg.quantity_scale: offset");
_Static_assert(offsetof(keel_what_if_leg, price_mantissa) == 32, "keel_what_if_leg.price_mantissa: offset");
_Static_assert(offsetof(keel_what_if_leg, price_scale) == 40, "keel_what_if_leg.price_scale: offset");
_Static_assert(offsetof(keel_what_if_leg, fee_mantissa) == 48, "keel_what_if_leg.fee_mantissa: offset");
_Static_assert(offsetof(keel_what_if_leg, fee_scale) == 56, "keel_what_if_leg.fee_scale: offset");
_Static_assert(offsetof(keel_what_if_leg, instrument_name) == 64, "keel_what_if_leg.instrument_name: offset");

/* A question, written by the client; `request_seq` last (released), one greater than */
/* the previous request's. */
typedef struct keel_what_if_request {
    uint64_t request_seq;
    /* Used when `account_name` is empty. */
    uint64_t account;
    uint64_t leg_count;
    /* `KEEL_QUERY_WHAT_IF`: what the legs would do. `KEEL_QUERY_SIZE`: the largest quantity of leg 0's instrument and side the account may trade at the mark, in whole lots of leg 0's quantity (one leg; its price and fee are not read). */
    uint64_t query;
    /* The account's name, NUL-padded; empty: use `account`. */
    char account_name[32];
    keel_what_if_leg legs[4];
    /* Size queries: a stress budget when `stress_max_loss_share` > 0 — the loss of book and trade together when every underlying moves by `stress_spot_move` (a fraction: -0.2 is -20 %) and every vol by `stress_vol_points` (absolute points) stays at most that share of equity (0.1: 10 %). */
    double stress_spot_move;
    double stress_vol_points;
    double stress_max_loss_share;
    uint64_t reserved;
} keel_what_if_request;
_Static_assert(sizeof(keel_what_if_request) == 480, "keel_what_if_request: size");
_Static_assert(offsetof(keel_what_if_request, request_seq) == 0, "keel_what_if_request.request_seq: offset");
_Static_assert(offsetof(keel_what_if_request, account) == 8, "keel_what_if_request.account: offset");
_Static_assert(offsetof(keel_what_if_request, leg_count) == 16, "keel_what_if_request.leg_count: offset");
_Static_assert(offsetof(keel_what_if_request, query) == 24, "keel_what_if_request.query: offset");
_Static_assert(offsetof(keel_what_if_request, account_name) == 32, "keel_what_if_request.account_name: offset");
_Static_assert(offsetof(keel_what_if_request, legs) == 64, "keel_what_if_request.legs: offset");
_Static_assert(offsetof(keel_what_if_request, stress_spot_move) == 448, "keel_what_if_request.stress_spot_move: offset");
_Static_assert(offsetof(keel_what_if_request, stress_vol_points) == 456, "keel_what_if_request.stress_vol_points: offset");
_Static_assert(offsetof(keel_what_if_request, stress_max_loss_share) == 464, "keel_what_if_request.stress_max_loss_share: offset");
_Static_assert(offsetof(keel_what_if_request, reserved) == 472, "keel_what_if_request.reserved: offset");

/* The answer, written by the engine; `response_seq` (= the request's) last. */
typedef struct keel_what_if_response {
    uint64_t response_seq;
    /* 0 answered; otherwise why not (`KEEL_STATUS_*`), `status_detail` the id concerned. */
    uint64_t status;
    uint64_t status_detail;
    /* Journal sequence of the last event applied when answering. */
    uint64_t as_of_seq;
    /* 1 if the trade is allowed. */
    uint64_t allowed;
    /* 0 stays active, 1 reduce-only but the trade shrinks positions, 2 halted, 3 breach of condition `breach_condition`. */
    uint64_t reason;
    uint64_t breach_condition;
    uint64_t trading_state_after;
    uint64_t conditions_after;
    uint64_t currency_count;
    uint64_t underlying_count;
    /* Size answers: the largest quantity (mantissa × 10^-scale contracts, a whole number of lots), its lots, and what one lot more would breach (`KEEL_BINDING_*`, or a condition code as `breach_condition`); `after` and `greeks_after` are the account with that quantity traded at the mark. */
    int64_t max_quantity_mantissa;
    uint64_t max_quantity_scale;
    uint64_t lots;
    uint64_t binding;
    /* 1 when the binding constraint is breached before any trade (`lots` is then 0). */
    uint64_t already_breached;
    /* What-if evaluations the search made. */
    uint64_t evaluations;
    uint64_t reserved[2];
    keel_currency_margin before[4];
    keel_currency_margin after[4];
    keel_underlying_greeks greeks_after[4];
} keel_what_if_response;
_Static_assert(sizeof(keel_what_if_response) == 728, "keel_what_if_response: size");
_Static_assert(offsetof(keel_what_if_response, response_seq) == 0, "keel_what_if_response.response_seq: offset");
_Static_assert(offsetof(keel_what_if_response, status) == 8, "keel_what_if_response.status: offset");
_Static_assert(offsetof(keel_what_if_response, status_detail) == 16, "keel_what_if_response.status_detail: offset");
_Static_assert(offsetof(keel_what_if_response, as_of_seq) == 24, "keel_what_if_response.as_of_seq: offset");
_Static_assert(offsetof(keel_what_if_response, allowed) == 32, "keel_what_if_response.allowed: offset");
_Static_assert(offsetof(keel_what_if_response, reason) == 40, "keel_what_if_response.reason: offset");
_Static_assert(offsetof(keel_what_if_response, breach_condition) == 48, "keel_what_if_response.breach_condition: offset");
_Static_assert(offsetof(keel_what_if_response, trading_state_after) == 56, "keel_what_if_response.trading_state_after: offset");
_Static_assert(offsetof(keel_what_if_response, conditions_after) == 64, "keel_what_if_response.conditions_after: offset");
_Static_assert(offsetof(keel_what_if_response, currency_count) == 72, "keel_what_if_response.currency_count: offset");
_Static_assert(offsetof(keel_what_if_response, underlying_count) == 80, "keel_what_if_response.underlying_count: offset");
_Static_assert(offsetof(keel_what_if_response, max_quantity_mantissa) == 88, "keel_what_if_response.max_quantity_mantissa: offset");
_Static_assert(offsetof(keel_what_if_response, max_quantity_scale) == 96, "keel_what_if_response.max_quantity_scale: offset");
_Static_assert(offsetof(keel_what_if_response, lots) == 104, "keel_what_if_response.lots: offset");
_Static_assert(offsetof(keel_what_if_response, binding) == 112, "keel_what_if_response.binding: offset");
_Static_assert(offsetof(keel_what_if_response, already_breached) == 120, "keel_what_if_response.already_breached: offset");
_Static_assert(offsetof(keel_what_if_response, evaluations) == 128, "keel_what_if_response.evaluations: offset");
_Static_assert(offsetof(keel_what_if_response, reserved) == 136, "keel_what_if_response.reserved: offset");
_Static_assert(offsetof(keel_what_if_response, before) == 152, "keel_what_if_response.before: offset");
_Static_assert(offsetof(keel_what_if_response, after) == 344, "keel_what_if_response.after: offset");
_Static_assert(offsetof(keel_what_if_response, greeks_after) == 536, "keel_what_if_response.greeks_after: offset");

/* The start of every client file; the ring's records follow it. */
typedef struct keel_client_area {
    keel_client_header header;
    keel_client_control control;
    keel_engine_counters counters;
    keel_ring_index head;
    keel_ring_index tail;
    keel_what_if_request request;
    keel_what_if_response response;
} keel_client_area;
_Static_assert(sizeof(keel_client_area) == 1528, "keel_client_area: size");
_Static_assert(offsetof(keel_client_area, header) == 0, "keel_client_area.header: offset");
_Static_assert(offsetof(keel_client_area, control) == 64, "keel_client_area.control: offset");
_Static_assert(offsetof(keel_client_area, counters) == 128, "keel_client_area.counters: offset");
_Static_assert(offsetof(keel_client_area, head) == 192, "keel_client_area.head: offset");
_Static_assert(offsetof(keel_client_area, tail) == 256, "keel_client_area.tail: offset");
_Static_assert(offsetof(keel_client_area, request) == 320, "keel_client_area.request: offset");
_Static_assert(offsetof(keel_client_area, response) == 800, "keel_client_area.response: offset");

#endif /* KEEL_H */
