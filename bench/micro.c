/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: micro-measurements.  One uncontended
 * QemuMutex lock/unlock pair is the calibration; lock0 hits on one and
 * two threads, reverse lookups with 1 and 1024 pinned pointers, and
 * flushes of a few hundred entries are measured against it.
 *
 * Each measurement is repeated bench_config.runs times and its median
 * printed.  Measurements compared with each other are taken in the same
 * round, back to back, and their ratio is the median of the rounds'
 * ratios, so that a slow moment of the machine (other jobs, frequency
 * changes) affects both sides of a ratio alike.
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "test-xen-mapcache-stubs.h"
#include "xen-mapcache-bench.h"

#include <sched.h>

typedef struct MicroSeries {
    double v[BENCH_MAX_RUNS];
} MicroSeries;

static double series_median(const MicroSeries *s)
{
    return median(s->v, bench_config.runs);
}

#define MICRO_PINNED_MANY       1024
#define MICRO_PINS_PER_BUCKET   16
#define MICRO_FLUSH_ENTRIES     256
#define MICRO_BASE              (2 * GiB)

const unsigned micro_hit_buckets[2] = { 1, 16 };
const unsigned micro_flush_entries[3] = {
    0, MICRO_FLUSH_ENTRIES, 2 * MICRO_FLUSH_ENTRIES,
};

static unsigned micro_iterations(void)
{
    return bench_config.quick ? 1 << 10 : 1 << 20;
}

/* A lock0 request in its own read section, to map an entry. */
static void micro_read(BenchMicro *m, hwaddr addr, hwaddr size)
{
    rcu_read_lock();
    m->failures += !xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                                  0, false, false);
    rcu_read_unlock();
}

static double micro_mutex_pair_once(unsigned iterations)
{
    QemuMutex mutex;
    int64_t start;
    unsigned i;

    qemu_mutex_init(&mutex);
    start = bench_now_ns();
    for (i = 0; i < iterations; i++) {
        qemu_mutex_lock(&mutex);
        qemu_mutex_unlock(&mutex);
    }
    start = bench_now_ns() - start;
    qemu_mutex_destroy(&mutex);
    return (double)start / iterations;
}

static double micro_rcu_section_once(unsigned iterations)
{
    int64_t start = bench_now_ns();
    unsigned i;

    for (i = 0; i < iterations; i++) {
        rcu_read_lock();
        rcu_read_unlock();
    }
    return (double)(bench_now_ns() - start) / iterations;
}

/*
 * lock0 hits: every request a hit on an entry mapped beforehand, each in
 * its own read section, cycling through @nbuckets buckets (1 or 16: each
 * bucket's entry sits in the recent slot of its index either way).
 */
typedef struct HitLoop {
    QemuThread thread;
    unsigned nbuckets;          /* a power of two */
    unsigned first;
    unsigned iterations;
    int64_t elapsed_ns;
    uint64_t failures;
    uint64_t sink;              /* bytes read, added to bench_sink after */
} HitLoop;

static bool hit_go;
static unsigned hit_ready;

static hwaddr hit_addr(unsigned i)
{
    return MICRO_BASE + (hwaddr)i * MiB + 128;
}

static void hit_loop_run(HitLoop *h)
{
    int64_t start = bench_now_ns();
    unsigned i;

    for (i = 0; i < h->iterations; i++) {
        hwaddr addr = hit_addr((h->first + i) & (h->nbuckets - 1));
        uint8_t *p;

        rcu_read_lock();
        p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, 64, 0, 0, false,
                          false);
        if (p) {
            h->sink += qatomic_read(p);
        } else {
            h->failures++;
        }
        rcu_read_unlock();
    }
    h->elapsed_ns = bench_now_ns() - start;
}

/* ns per lock0 hit of @h, which has run; its failures go to @m. */
static double hit_loop_collect(const HitLoop *h, BenchMicro *m)
{
    m->failures += h->failures;
    bench_sink += h->sink;
    return (double)h->elapsed_ns / h->iterations;
}

/* ns per lock0 hit of one loop in the calling thread. */
static double micro_hits_here(unsigned nbuckets, BenchMicro *m)
{
    HitLoop loop = {
        .nbuckets = nbuckets,
        .iterations = micro_iterations(),
    };

    hit_loop_run(&loop);
    return hit_loop_collect(&loop, m);
}

static void *hit_thread(void *opaque)
{
    HitLoop *h = opaque;

    rcu_register_thread();
    qatomic_inc(&hit_ready);
    while (!qatomic_read(&hit_go)) {
        sched_yield();
    }
    hit_loop_run(h);
    rcu_unregister_thread();
    return NULL;
}

/* ns per lock0 hit, averaged over two threads started together. */
static double micro_hits_2threads(unsigned nbuckets, BenchMicro *m)
{
    HitLoop loops[2];
    double ns = 0;
    unsigned i;

    qatomic_set(&hit_go, false);
    qatomic_set(&hit_ready, 0);
    for (i = 0; i < ARRAY_SIZE(loops); i++) {
        loops[i] = (HitLoop) {
            .nbuckets = nbuckets,
            .first = i * nbuckets / 2,
            .iterations = micro_iterations(),
        };
        qemu_thread_create(&loops[i].thread, "bench-lock0", hit_thread,
                           &loops[i], QEMU_THREAD_JOINABLE);
    }
    while (qatomic_read(&hit_ready) < ARRAY_SIZE(loops)) {
        sched_yield();
    }
    qatomic_set(&hit_go, true);
    for (i = 0; i < ARRAY_SIZE(loops); i++) {
        qemu_thread_join(&loops[i].thread);
        ns += hit_loop_collect(&loops[i], m);
    }
    return ns / ARRAY_SIZE(loops);
}

/* A fresh mapcache with the buckets of hit_addr() mapped. */
static void micro_hits_setup(BenchMicro *m)
{
    unsigned i;

    bench_fresh_state(BENCH_MICRO_LIMIT);
    for (i = 0; i < micro_hit_buckets[1]; i++) {
        micro_read(m, hit_addr(i), 64);
    }
}

/* The calibration lines and lock0 hits on one thread, round by round. */
static void micro_hits_1thread(BenchMicro *m)
{
    MicroSeries pair, section, hit[2], net[2];
    unsigned iterations = micro_iterations(), b;
    int run;

    micro_hits_setup(m);
    for (run = 0; run < bench_config.runs; run++) {
        pair.v[run] = micro_mutex_pair_once(iterations);
        section.v[run] = micro_rcu_section_once(iterations);
        for (b = 0; b < ARRAY_SIZE(micro_hit_buckets); b++) {
            hit[b].v[run] = micro_hits_here(micro_hit_buckets[b], m);
            net[b].v[run] = (hit[b].v[run] - section.v[run]) /
                            pair.v[run];
        }
    }
    xen_map_cache_fini();
    m->mutex_pair_ns = series_median(&pair);
    m->rcu_section_ns = series_median(&section);
    for (b = 0; b < ARRAY_SIZE(micro_hit_buckets); b++) {
        m->hit_ns[b] = series_median(&hit[b]);
        m->hit_net_pairs[b] = series_median(&net[b]);
    }
}

static void micro_hits_contended(BenchMicro *m)
{
    MicroSeries two, ratio;
    int run;

    micro_hits_setup(m);
    for (run = 0; run < bench_config.runs; run++) {
        two.v[run] = micro_hits_2threads(micro_hit_buckets[1], m);
        ratio.v[run] = two.v[run] / micro_hits_here(micro_hit_buckets[1], m);
    }
    xen_map_cache_fini();
    m->hit_2threads_ns = series_median(&two);
    m->hit_2threads_ratio = series_median(&ratio);
}

/*
 * Reverse lookups: @npinned pointers pinned by lock1 requests (16 per
 * bucket, 64 KiB apart) in a fresh mapcache, each looked up in a
 * shuffled order, as address_space_unmap() does at every DMA completion.
 */
static hwaddr reverse_addr(unsigned i)
{
    return MICRO_BASE + (hwaddr)(i / MICRO_PINS_PER_BUCKET) * MiB +
           (hwaddr)(i % MICRO_PINS_PER_BUCKET) * 64 * KiB;
}

static void reverse_pin_all(uint8_t **ptrs, unsigned *order,
                            unsigned npinned, BenchMicro *m)
{
    BenchRng rng = { .state = 0x5e7e };
    unsigned i;

    for (i = 0; i < npinned; i++) {
        ptrs[i] = xen_map_cache(&xen_mapcache_test_ram_mr, reverse_addr(i),
                                PAGE_SIZE_4K, 0, 1, true, false);
        m->failures += !ptrs[i] ||
                       xen_ram_addr_from_mapcache(ptrs[i]) != reverse_addr(i);
        order[i] = i;
    }
    for (i = npinned - 1; i > 0; i--) {
        unsigned j = rng_below(&rng, i + 1), tmp = order[i];

        order[i] = order[j];
        order[j] = tmp;
    }
}

static double micro_reverse_once(unsigned npinned, BenchMicro *m)
{
    g_autofree uint8_t **ptrs = g_new0(uint8_t *, npinned);
    g_autofree unsigned *order = g_new0(unsigned, npinned);
    unsigned iterations = micro_iterations(), i;
    uint64_t sum = 0;
    int64_t start;

    bench_fresh_state(BENCH_MICRO_LIMIT);
    reverse_pin_all(ptrs, order, npinned, m);
    start = bench_now_ns();
    for (i = 0; i < iterations; i++) {
        sum += xen_ram_addr_from_mapcache(ptrs[order[i & (npinned - 1)]]);
    }
    start = bench_now_ns() - start;
    bench_sink += sum;
    for (i = 0; i < npinned; i++) {
        xen_invalidate_map_cache_entry(ptrs[i]);
    }
    xen_map_cache_fini();
    return (double)start / iterations;
}

static void micro_reverse(BenchMicro *m)
{
    MicroSeries one, many, ratio;
    int run;

    for (run = 0; run < bench_config.runs; run++) {
        one.v[run] = micro_reverse_once(1, m);
        many.v[run] = micro_reverse_once(MICRO_PINNED_MANY, m);
        ratio.v[run] = many.v[run] / one.v[run];
    }
    m->reverse_ns[0] = series_median(&one);
    m->reverse_ns[1] = series_median(&many);
    m->reverse_ratio = series_median(&ratio);
}

/*
 * Flush: @nentries unpinned entries, one per bucket, made by lock0
 * requests, then one timed xen_invalidate_map_cache(); the releases it
 * queues are drained before the next round, outside the timing.
 */
static double micro_flush_once(unsigned nentries, BenchMicro *m)
{
    int64_t start;
    unsigned i;

    for (i = 0; i < nentries; i++) {
        micro_read(m, MICRO_BASE + (hwaddr)i * MiB, 0);
    }
    drain_call_rcu();
    start = bench_now_ns();
    xen_invalidate_map_cache();
    start = bench_now_ns() - start;
    drain_call_rcu();
    return start;
}

static void micro_flush(BenchMicro *m)
{
    MicroSeries ns[ARRAY_SIZE(micro_flush_entries)], ratio;
    unsigned i;
    int run;

    bench_fresh_state(BENCH_MICRO_LIMIT);
    for (run = 0; run < bench_config.runs; run++) {
        for (i = 0; i < ARRAY_SIZE(micro_flush_entries); i++) {
            ns[i].v[run] = micro_flush_once(micro_flush_entries[i], m);
        }
        ratio.v[run] = (ns[2].v[run] / micro_flush_entries[2]) /
                       (ns[1].v[run] / micro_flush_entries[1]);
    }
    xen_map_cache_fini();
    for (i = 0; i < ARRAY_SIZE(micro_flush_entries); i++) {
        m->flush_ns[i] = series_median(&ns[i]);
    }
    m->flush_ratio = series_median(&ratio);
}

/*
 * The main thread measures as QEMU's main loop runs, with the BQL held
 * (drain_call_rcu() drops it while it waits); the second thread of the
 * contended hits is an IOThread.
 */
void micro_run(BenchMicro *m)
{
    *m = (BenchMicro) { 0 };
    bql_lock();
    micro_hits_1thread(m);
    micro_hits_contended(m);
    micro_reverse(m);
    micro_flush(m);
    bql_unlock();
}
