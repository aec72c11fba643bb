/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: replaying a trace through the mapcache's
 * public API against the fake hypervisor, on a fresh mapcache for every
 * replay, and checking that the mapcache's counters agree with the
 * fake's and with the trace.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include <poll.h>
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "test-xen-mapcache-stubs.h"
#include "xen-mapcache-bench.h"

/*
 * Replay.
 */

typedef struct BenchReplay {
    uint8_t **slots;        /* pointer of each pinned slot */
    bool check_bytes;       /* compare what pointers show with the fake */
    uint64_t failures;      /* NULL, wrong reverse lookups, wrong bytes */
} BenchReplay;

static MemoryRegion *op_region(const BenchOp *op)
{
    return op->cache == XEN_MAPCACHE_RAM ?
           &xen_mapcache_test_ram_mr : &xen_mapcache_test_grants_mr;
}

static ram_addr_t op_ram_addr_offset(const BenchOp *op)
{
    return op->cache == XEN_MAPCACHE_RAM ? 0 : GRANT_REGION_OFFSET;
}

/* How many bytes at @p do not show what @op addresses. */
static size_t op_wrong_bytes(const BenchOp *op, const uint8_t *p)
{
    size_t len = MAX(op->size, 1);
    hwaddr in_page = op->addr & (PAGE_SIZE_4K - 1);

    if (op->cache == XEN_MAPCACHE_RAM) {
        return fake_xen_check_ram(p, op->addr, len);
    }
    return fake_xen_check_grant(p - in_page,
                                (op->addr - GRANT_REGION_OFFSET) >>
                                GRANT_BUCKET_SHIFT, in_page + len);
}

static uint8_t *replay_map(BenchReplay *r, const BenchOp *op, uint8_t lock)
{
    uint8_t *p = xen_map_cache(op_region(op), op->addr, op->size,
                               op_ram_addr_offset(op), lock, lock != 0,
                               op->is_write);

    if (!p) {
        r->failures++;
    } else if (r->check_bytes && op_wrong_bytes(op, p)) {
        r->failures++;
    }
    return p;
}

static void replay_read(BenchReplay *r, const BenchOp *op)
{
    uint8_t *p;

    rcu_read_lock();
    p = replay_map(r, op, 0);
    if (p) {
        bench_sink += qatomic_read(p);
    }
    rcu_read_unlock();
}

static void replay_pin(BenchReplay *r, const BenchOp *op)
{
    rcu_read_lock();
    r->slots[op->slot] = replay_map(r, op, 1);
    rcu_read_unlock();
}

static void replay_unpin(BenchReplay *r, const BenchOp *op)
{
    uint8_t *p = r->slots[op->slot];
    ram_addr_t addr;

    if (!p) {
        return;
    }
    rcu_read_lock();
    addr = xen_ram_addr_from_mapcache(p);
    rcu_read_unlock();
    if (addr != op->addr) {
        r->failures++;
    }
    xen_invalidate_map_cache_entry(p);
    r->slots[op->slot] = NULL;
}

static void replay_op(BenchReplay *r, const BenchOp *op)
{
    switch (op->kind) {
    case BENCH_READ:
        replay_read(r, op);
        break;
    case BENCH_PIN:
        replay_pin(r, op);
        break;
    default:
        replay_unpin(r, op);
        break;
    }
}

/*
 * A main-loop iteration serves this many requests with the BQL held;
 * between two, it drops the BQL for a ppoll() that finds the next request
 * at once, as a busy main loop does.  The call_rcu thread runs callbacks
 * only then.
 */
#define BENCH_BATCH 256

/*
 * Replay @t, with the BQL held but between batches; returns the time it
 * took in nanoseconds.
 */
static int64_t replay_trace(BenchReplay *r, const BenchTrace *t)
{
    int64_t start = bench_now_ns();
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        if (i && i % BENCH_BATCH == 0) {
            bql_unlock();
            poll(NULL, 0, 0);
            bql_lock();
        }
        replay_op(r, trace_op(t, i));
    }
    return bench_now_ns() - start;
}

/*
 * Counters: the mapcache's, summed over its caches, and the fake's.
 */

/* XenMapCacheStats is a list of uint64_t counters: add them one by one. */
static void stats_add(XenMapCacheStats *sum, const XenMapCacheStats *s)
{
    uint64_t *to = (uint64_t *)sum;
    const uint64_t *from = (const uint64_t *)s;
    size_t i;

    QEMU_BUILD_BUG_ON(sizeof(*s) % sizeof(uint64_t));
    for (i = 0; i < sizeof(*s) / sizeof(uint64_t); i++) {
        to[i] += from[i];
    }
}

static void counts_read(BenchCounts *c)
{
    XenMapCacheKind kind;

    memset(c, 0, sizeof(*c));
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        xen_map_cache_get_stats(kind, &c->cache[kind]);
        stats_add(&c->total, &c->cache[kind]);
    }
    fake_xen_get_stats(&c->fake);
}

static uint64_t counts_grants(const BenchCounts *c, size_t field)
{
    const uint8_t *ro = (const uint8_t *)&c->cache[XEN_MAPCACHE_GRANTS_RO];
    const uint8_t *rw = (const uint8_t *)&c->cache[XEN_MAPCACHE_GRANTS_RW];

    return *(const uint64_t *)(ro + field) + *(const uint64_t *)(rw + field);
}

uint64_t counts_map_calls(const BenchCounts *c)
{
    return c->fake.map_calls + c->fake.grant_map_calls;
}

uint64_t counts_pages(const BenchCounts *c)
{
    return c->fake.pages_mapped + c->fake.grant_pages_mapped;
}

uint64_t counts_unmaps(const BenchCounts *c)
{
    return c->fake.unmap_calls + c->fake.grant_unmap_calls;
}

/*
 * Agreement of the mapcache's counters with the fake's and with the
 * trace.  Each disagreement is printed and counted.
 */

typedef struct BenchCheck {
    const char *workload;
    unsigned disagreements;
} BenchCheck;

static void check_eq(BenchCheck *chk, const char *what, uint64_t mapcache,
                     uint64_t expected)
{
    if (mapcache != expected) {
        fprintf(stderr, "xen-mapcache-bench: %s: %s: %" PRIu64
                " != %" PRIu64 "\n", chk->workload, what, mapcache,
                expected);
        chk->disagreements++;
    }
}

/* Requests of @t made of @cache with lock @lock1. */
static uint64_t trace_requests(const BenchTrace *t, XenMapCacheKind cache,
                               bool lock1)
{
    uint64_t n = 0;
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        const BenchOp *op = trace_op(t, i);

        n += op->cache == cache &&
             op->kind == (lock1 ? BENCH_PIN : BENCH_READ);
    }
    return n;
}

static void check_lookups(BenchCheck *chk, const BenchCounts *c,
                          const BenchTrace *t)
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        check_eq(chk, "lookups_lock0 / trace",
                 c->cache[kind].lookups_lock0,
                 trace_requests(t, kind, false));
        check_eq(chk, "lookups_lock1 / trace",
                 c->cache[kind].lookups_lock1,
                 trace_requests(t, kind, true));
    }
}

/* After the replay and drain_call_rcu(): nothing pending any more. */
static void check_drained(BenchCheck *chk, const BenchCounts *c,
                          const BenchTrace *t)
{
    const XenMapCacheStats *ram = &c->cache[XEN_MAPCACHE_RAM];

    check_eq(chk, "RAM new_mappings / fake map_calls",
             ram->new_mappings, c->fake.map_calls);
    check_eq(chk, "RAM pages_mapped / fake pages_mapped",
             ram->pages_mapped, c->fake.pages_mapped);
    check_eq(chk, "grant new_mappings / fake grant_map_calls",
             counts_grants(c, offsetof(XenMapCacheStats, new_mappings)),
             c->fake.grant_map_calls);
    check_eq(chk, "grant pages_mapped / fake grant_pages_mapped",
             counts_grants(c, offsetof(XenMapCacheStats, pages_mapped)),
             c->fake.grant_pages_mapped);
    check_eq(chk, "releases_done + freed_at_once + freed_by_main_loop / "
             "fake unmaps",
             c->total.releases_done + c->total.freed_at_once +
             c->total.freed_by_main_loop,
             counts_unmaps(c));
    check_eq(chk, "releases_done / releases_queued",
             c->total.releases_done, c->total.releases_queued);
    check_eq(chk, "entries / fake live_ranges",
             c->total.entries, c->fake.live_ranges);
    check_eq(chk, "pinned_entries", c->total.pinned_entries, 0);
    check_eq(chk, "null_returns", c->total.null_returns, 0);
    check_eq(chk, "fake violations", c->fake.violations, 0);
    check_eq(chk, "fake bad_unmaps", c->fake.bad_unmaps, 0);
    check_lookups(chk, c, t);
}

/* After xen_map_cache_fini(): everything unmapped and notified. */
static void check_finished(BenchCheck *chk)
{
    XenMapCacheTestCounts notes;
    FakeXenStats fake;

    fake_xen_get_stats(&fake);
    xen_mapcache_test_get_counts(&notes);
    check_eq(chk, "fake live_ranges after fini", fake.live_ranges, 0);
    check_eq(chk, "fake unmaps after fini",
             fake.unmap_calls + fake.grant_unmap_calls,
             fake.map_calls + fake.grant_map_calls);
    check_eq(chk, "ram_block_notify_remove / add",
             notes.notify_removes, notes.notify_adds);
    check_eq(chk, "notified bytes after fini", notes.notified_bytes, 0);
}

/*
 * Running a workload.
 */

void bench_fresh_state(uint64_t limit)
{
    fake_xen_init(BENCH_RAM_BYTES, BENCH_GRANT_PAGES);
    xen_map_cache_init_limit(NULL, NULL, limit, &error_abort);
}

/*
 * One replay of @t on a fresh mapcache, as the main loop makes it (with
 * the BQL, which drain_call_rcu() drops while it waits); returns its ns
 * per operation.
 */
static double workload_run_once(BenchResult *res, const BenchTrace *t,
                                bool keep_counts)
{
    BenchReplay replay = { .check_bytes = bench_config.quick };
    BenchCheck chk = { .workload = res->w->name };
    BenchCounts after;
    int64_t ns;

    replay.slots = g_new0(uint8_t *, MAX(trace_slots(t), 1));
    bql_lock();
    bench_fresh_state(BENCH_LIMIT);
    ns = replay_trace(&replay, t);
    if (keep_counts) {
        counts_read(&res->counts);
    }
    drain_call_rcu();
    counts_read(&after);
    res->fake_peak_bytes = MAX(res->fake_peak_bytes,
                               after.fake.peak_live_pages *
                               FAKE_XEN_PAGE_SIZE);
    check_drained(&chk, &after, t);
    xen_map_cache_fini();
    bql_unlock();
    check_finished(&chk);
    res->disagreements += chk.disagreements;
    res->failures += replay.failures;
    g_free(replay.slots);
    return (double)ns / t->ops->len;
}

void workload_run(BenchResult *res, const BenchWorkload *w)
{
    g_autofree double *ns = g_new0(double, bench_config.runs);
    BenchTrace t;
    int run;

    *res = (BenchResult) { .w = w };
    workload_record(&t, w, bench_config.quick);
    res->ops = t.ops->len;
    bound_compute(&res->bound, &t, BENCH_LIMIT);
    for (run = 0; run < bench_config.runs; run++) {
        ns[run] = workload_run_once(res, &t, run == 0);
    }
    res->ns_per_op = median(ns, bench_config.runs);
    trace_destroy(&t);
}
