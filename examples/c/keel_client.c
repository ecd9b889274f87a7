/* A C client of a running Keel engine (docs/EMBEDDING.md): attach, ask a what-if, push a
 * fill, wait until the fill is journaled and published, read the account's snapshot.
 * Prints one JSON object: the answer and the snapshot.
 *
 *   cc -std=c11 -O2 -Wall -Wextra -Iinclude examples/c/keel_client.c -o keel_client
 *   ./keel_client SHM_DIR ENGINE ACCOUNT INSTRUMENT QUANTITY_TENTHS PRICE_E8 TRADE_ID TIMESTAMP_NS
 *
 * Shared words are read and written with the GCC/Clang __atomic builtins: sequence words
 * with acquire/release, payload words relaxed (the same rules as the Rust side). */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keel.h"

#define TIMEOUT_NS 10000000000LL

typedef struct {
    const keel_engine_header *engine;
    size_t engine_bytes;
    keel_client_area *area;
    keel_record *records;
    uint64_t head;
    uint64_t next_request;
} keel_client;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t load_acquire(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_ACQUIRE); }
static void store_release(uint64_t *word, uint64_t value) { __atomic_store_n(word, value, __ATOMIC_RELEASE); }

/* Copies `bytes` of shared words with relaxed atomic loads / stores. */
static void load_words(void *dst, const void *src, size_t bytes) {
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / 8; i++) d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}
static void store_words(void *dst, const void *src, size_t bytes) {
    uint64_t *d = dst;
    const uint64_t *s = src;
    for (size_t i = 0; i < bytes / 8; i++) __atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static void *map_file(const char *path, int writable, size_t *bytes, int *fd_out) {
    int fd = open(path, writable ? O_RDWR : O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 64) { close(fd); return NULL; }
    void *map = mmap(NULL, (size_t)st.st_size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { close(fd); return NULL; }
    *bytes = (size_t)st.st_size;
    *fd_out = fd;
    return map;
}

/* Attaches to engine `name` in `dir`: checks the layout, claims a free client slot. */
static int keel_attach(keel_client *client, const char *dir, const char *name) {
    char path[4096];
    int fd;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    client->engine = map_file(path, 0, &client->engine_bytes, &fd);
    if (!client->engine) { fprintf(stderr, "no engine at %s: %s\n", path, strerror(errno)); return -1; }
    keel_engine_header header;
    load_words(&header, client->engine, sizeof header);
    if (header.magic != KEEL_ENGINE_MAGIC || header.layout_version != KEEL_LAYOUT_VERSION ||
        header.header_bytes != sizeof(keel_engine_header) ||
        header.snapshot_bytes != sizeof(keel_account_snapshot) ||
        header.ingress_records != KEEL_INGRESS_RECORDS ||
        header.client_file_bytes != sizeof(keel_client_area) + KEEL_INGRESS_RECORDS * sizeof(keel_record)) {
        fprintf(stderr, "%s: layout version %" PRIu64 " or sizes differ from keel.h\n", path, header.layout_version);
        return -1;
    }
    if (header.running != 1) { fprintf(stderr, "engine stopped\n"); return -1; }
    for (uint64_t slot = 0; slot < header.clients_max; slot++) {
        size_t bytes;
        snprintf(path, sizeof path, "%s/%s.client-%" PRIu64, dir, name, slot);
        int cfd;
        keel_client_area *area = map_file(path, 1, &bytes, &cfd);
        if (!area) continue;
        if (flock(cfd, LOCK_EX | LOCK_NB) != 0) { munmap(area, bytes); close(cfd); continue; }
        if (area->header.magic != KEEL_CLIENT_MAGIC || area->header.epoch != header.epoch ||
            bytes != header.client_file_bytes) {
            fprintf(stderr, "%s: not this engine's client file\n", path);
            return -1;
        }
        /* The descriptor stays open: the lock is this client's claim on the slot. */
        __atomic_store_n(&area->control.attach_count, area->control.attach_count + 1, __ATOMIC_RELAXED);
        __atomic_store_n(&area->control.client_pid, (uint64_t)getpid(), __ATOMIC_RELAXED);
        uint64_t tail = load_acquire(&area->tail.value);
        uint64_t head = __atomic_load_n(&area->head.value, __ATOMIC_RELAXED);
        if (head - tail > KEEL_INGRESS_RECORDS) { head = tail; store_release(&area->head.value, head); }
        uint64_t request = __atomic_load_n(&area->request.request_seq, __ATOMIC_RELAXED);
        uint64_t response = load_acquire(&area->response.response_seq);
        client->area = area;
        client->records = (keel_record *)(area + 1);
        client->head = head;
        client->next_request = (request > response ? request : response) + 1;
        return 0;
    }
    fprintf(stderr, "no free client slot\n");
    return -1;
}

/* Pushes one record; -1 when the ring is full (never waits). */
static int keel_push(keel_client *client, const keel_record *record) {
    uint64_t tail = load_acquire(&client->area->tail.value);
    if (client->head - tail >= KEEL_INGRESS_RECORDS) return -1;
    store_words(&client->records[client->head % KEEL_INGRESS_RECORDS], record, sizeof *record);
    client->head++;
    store_release(&client->area->head.value, client->head);
    return 0;
}

/* Asks a what-if and spins for the answer. */
static int keel_what_if(keel_client *client, keel_what_if_request *request, keel_what_if_response *out) {
    uint64_t seq = client->next_request++;
    request->request_seq = seq;
    /* Everything but the sequence, then the sequence, released. */
    store_words((uint64_t *)&client->area->request + 1, (const uint64_t *)request + 1, sizeof *request - 8);
    store_release(&client->area->request.request_seq, seq);
    int64_t deadline = now_ns() + TIMEOUT_NS;
    for (;;) {
        if (load_acquire(&client->area->response.response_seq) == seq) {
            load_words(out, &client->area->response, sizeof *out);
            if (out->response_seq == seq) return 0;
        }
        if (now_ns() > deadline) return -1;
    }
}

/* Reads account `account`'s snapshot with the seqlock rule; -1 if never published. */
static int keel_snapshot(const keel_client *client, uint64_t account, keel_account_snapshot *out) {
    const keel_engine_header *header = client->engine;
    if (account >= header->accounts_max) return -1;
    const keel_account_snapshot *slot = (const keel_account_snapshot *)(header + 1) + account;
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t before = load_acquire(&slot->version);
        if (before == 0) return -1;
        if (before & 1) continue;
        load_words(out, slot, sizeof *out);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&slot->version, __ATOMIC_RELAXED) == before) return 0;
    }
    return -1;
}

static void print_currencies(const keel_currency_margin *c, uint64_t count) {
    printf("[");
    for (uint64_t i = 0; i < count; i++)
        printf("%s{\"currency\":%" PRIu64 ",\"equity\":%.17g,\"im\":%.17g,\"mm\":%.17g,\"complete\":%" PRIu64 "}",
               i ? "," : "", c[i].currency, c[i].equity, c[i].initial_margin, c[i].maintenance_margin,
               c[i].complete);
    printf("]");
}

static void print_greeks(const keel_underlying_greeks *g, uint64_t count) {
    printf("[");
    for (uint64_t i = 0; i < count; i++)
        printf("%s{\"underlying\":%" PRIu64 ",\"delta_coin\":%.17g,\"black_delta_coin\":%.17g,"
               "\"gamma_coin_per_usd\":%.17g,\"vega_usd_per_vol_point\":%.17g,\"theta_usd_per_day\":%.17g}",
               i ? "," : "", g[i].underlying, g[i].delta_coin, g[i].black_delta_coin, g[i].gamma_coin_per_usd,
               g[i].vega_usd_per_vol_point, g[i].theta_usd_per_day);
    printf("]");
}

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s SHM_DIR ENGINE ACCOUNT INSTRUMENT QUANTITY_TENTHS PRICE_E8 TRADE_ID TIMESTAMP_NS\n", argv[0]);
        return 2;
    }
    uint64_t account = strtoull(argv[3], NULL, 10), instrument = strtoull(argv[4], NULL, 10);
    int64_t quantity_tenths = strtoll(argv[5], NULL, 10), price_e8 = strtoll(argv[6], NULL, 10);
    uint64_t trade_id = strtoull(argv[7], NULL, 10), timestamp_ns = strtoull(argv[8], NULL, 10);

    keel_client client;
    if (keel_attach(&client, argv[1], argv[2]) != 0) return 1;

    keel_account_snapshot before;
    int64_t deadline = now_ns() + TIMEOUT_NS;
    while (keel_snapshot(&client, account, &before) != 0) {
        if (now_ns() > deadline) { fprintf(stderr, "account never published\n"); return 1; }
        usleep(1000);
    }

    keel_what_if_request request;
    memset(&request, 0, sizeof request);
    request.account = account;
    request.leg_count = 1;
    request.legs[0] = (keel_what_if_leg){
        .instrument = instrument, .side = KEEL_SIDE_BUY,
        .quantity_mantissa = quantity_tenths, .quantity_scale = 1,
        .price_mantissa = price_e8, .price_scale = 8,
    };
    keel_what_if_response answer;
    if (keel_what_if(&client, &request, &answer) != 0) { fprintf(stderr, "no what-if answer\n"); return 1; }
    if (answer.status != KEEL_STATUS_OK) {
        fprintf(stderr, "what-if refused: status %" PRIu64 "\n", answer.status);
        return 1;
    }

    /* The largest quantity the account may buy, in lots of 0.1, and what binds it. */
    keel_what_if_request size_request;
    memset(&size_request, 0, sizeof size_request);
    size_request.account = account;
    size_request.query = KEEL_QUERY_SIZE;
    size_request.leg_count = 1;
    size_request.legs[0] = (keel_what_if_leg){
        .instrument = instrument, .side = KEEL_SIDE_BUY, .quantity_mantissa = 1, .quantity_scale = 1,
    };
    keel_what_if_response size;
    if (keel_what_if(&client, &size_request, &size) != 0) { fprintf(stderr, "no size answer\n"); return 1; }
    if (size.status != KEEL_STATUS_OK) {
        fprintf(stderr, "size refused: status %" PRIu64 "\n", size.status);
        return 1;
    }

    keel_fill_record fill;
    memset(&fill, 0, sizeof fill);
    fill.kind = KEEL_KIND_FILL;
    fill.timestamp_ns = timestamp_ns;
    fill.client_tag = trade_id;
    fill.account = account;
    fill.instrument = instrument;
    fill.side = KEEL_SIDE_BUY;
    fill.quantity_mantissa = quantity_tenths;
    fill.quantity_scale = 1;
    fill.price_mantissa = price_e8;
    fill.price_scale = 8;
    fill.trade_id = trade_id;
    keel_record record;
    memcpy(&record, &fill, sizeof record);
    if (keel_push(&client, &record) != 0) { fprintf(stderr, "ring full\n"); return 1; }

    /* Journaled, then published at the batch end that follows it. */
    keel_account_snapshot after;
    deadline = now_ns() + TIMEOUT_NS;
    for (;;) {
        uint64_t journaled = __atomic_load_n(&client.area->counters.events_journaled, __ATOMIC_ACQUIRE);
        if (journaled >= 1 && keel_snapshot(&client, account, &after) == 0 && after.seq > before.seq) break;
        if (now_ns() > deadline) { fprintf(stderr, "fill never published\n"); return 1; }
        usleep(1000);
    }

    printf("{\"what_if\":{\"as_of_seq\":%" PRIu64 ",\"allowed\":%" PRIu64 ",\"after\":", answer.as_of_seq, answer.allowed);
    print_currencies(answer.after, answer.currency_count);
    printf(",\"greeks_after\":");
    print_greeks(answer.greeks_after, answer.underlying_count);
    printf("},\"size\":{\"max_quantity_mantissa\":%" PRId64 ",\"max_quantity_scale\":%" PRIu64
           ",\"lots\":%" PRIu64 ",\"binding\":%" PRIu64 "}", size.max_quantity_mantissa, size.max_quantity_scale,
           size.lots, size.binding);
    printf(",\"snapshot\":{\"seq\":%" PRIu64 ",\"account\":%" PRIu64 ",\"trading_state\":%" PRIu64
           ",\"rejected_events\":%" PRIu64 ",\"currencies\":", after.seq, after.account, after.trading_state,
           after.rejected_events);
    print_currencies(after.currencies, after.currency_count);
    printf(",\"underlyings\":");
    print_greeks(after.underlyings, after.underlying_count);
    printf("},\"slot\":%" PRIu64 "}\n", client.area->header.slot);
    return 0;
}
