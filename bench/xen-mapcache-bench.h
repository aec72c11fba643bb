/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: what its parts share.
 *
 * The parts: xen-mapcache-bench.c (options, clock, main), workloads.c
 * (recording the workloads as traces), bound.c (the bound of each trace
 * and its LRU simulation), replay.c (replaying a trace through the
 * mapcache and checking its counters), micro.c (micro-measurements) and
 * report.c (the table and --json).
 */

#ifndef XEN_MAPCACHE_BENCH_H
#define XEN_MAPCACHE_BENCH_H

#include "qemu/units.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-fake-xen.h"

/*
 * The cache limit of the workloads.  The mapcache keeps its live bytes
 * plus those of ranges still waiting for a grace period (pending) within
 * the limit whenever something can be freed: at the limit a miss first
 * frees, at once, least recently used entries past a grace period, then
 * evicts behind call_rcu(); when nothing is freeable the limit is
 * exceeded and counted (over_limit).  Every workload but over-limit keeps
 * its working set under 3/4 of the limit, so that pending releases leave
 * room and force no evictions.
 */
#define BENCH_LIMIT             (64 * MiB)
/* The micro-measurements keep up to 512 entries of 1 MiB. */
#define BENCH_MICRO_LIMIT       (2 * GiB)
/* Upstream's cache size as root: 32768 buckets of 1 MiB on 64-bit hosts. */
#define UPSTREAM_CACHE_SIZE     XEN_MAPCACHE_MAX_SIZE
/* Sparse guest RAM of the fake: four upstream cache sizes, for collide. */
#define BENCH_RAM_BYTES         (4 * UPSTREAM_CACHE_SIZE)
#define BENCH_GRANT_PAGES       1024
/*
 * Where the grant region's RAMBlock sits in ram_addr_t space (QEMU places
 * it after guest RAM): xen_map_cache() gets block->offset + addr and
 * block->offset, as qemu_ram_ptr_length() passes them.
 */
#define GRANT_REGION_OFFSET     BENCH_RAM_BYTES
#define RAM_BUCKET_SHIFT        XEN_MAPCACHE_BUCKET_SHIFT
#define GRANT_BUCKET_SHIFT      12
#define PAGE_SIZE_4K            4096
#define BENCH_MAX_RUNS          99

/* Options (xen-mapcache-bench.c). */

typedef struct BenchConfig {
    gboolean quick;
    gboolean json;
    gint runs;
    gchar *workload;
} BenchConfig;

extern BenchConfig bench_config;

/*
 * The bytes the benchmark reads, summed so that the compiler keeps the
 * reads; qatomic_read() makes each one a real load.
 */
extern uint64_t bench_sink;

int64_t bench_now_ns(void);
double median(const double *values, unsigned n);

/* Deterministic random numbers: xorshift64*, one fixed seed per workload. */

typedef struct BenchRng {
    uint64_t state;
} BenchRng;

static inline uint64_t rng_next(BenchRng *rng)
{
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t rng_below(BenchRng *rng, uint64_t n)
{
    return rng_next(rng) % n;
}

/* True with probability percent / 100. */
static inline bool rng_percent(BenchRng *rng, unsigned percent)
{
    return rng_below(rng, 100) < percent;
}

/*
 * Traces (workloads.c).
 *
 * An operation is what a device model's memory API call makes of the
 * mapcache, as QEMU 9.2's system/physmem.c makes it:
 *
 * - BENCH_READ: a lock0 request (flatview_read/write_continue() or
 *   qemu_map_ram_ptr(), through qemu_ram_ptr_length(): dma = lock = 0),
 *   inside its own rcu_read_lock() section; the caller reads the first
 *   byte and drops the pointer.  Size 0 is qemu_map_ram_ptr()'s.
 * - BENCH_PIN: a lock1 request (address_space_map(): dma = lock = 1),
 *   inside a read section as address_space_map() makes it; the pointer
 *   is kept in a slot until its BENCH_UNPIN.
 * - BENCH_UNPIN: address_space_unmap(): xen_ram_addr_from_mapcache()
 *   (through qemu_ram_block_from_host(), in a read section), then
 *   xen_invalidate_map_cache_entry().
 *
 * The replay makes them as QEMU's main loop does: BENCH_BATCH of them per
 * iteration with the BQL held, which it drops in between (replay.c).
 */

typedef enum BenchOpKind {
    BENCH_READ,
    BENCH_PIN,
    BENCH_UNPIN,
} BenchOpKind;

typedef struct BenchOp {
    hwaddr addr;        /* guest-physical, or ram_addr_t for grants */
    uint32_t size;
    uint32_t slot;      /* BENCH_PIN, BENCH_UNPIN: the pointer's slot */
    uint8_t kind;       /* BenchOpKind */
    uint8_t cache;      /* XenMapCacheKind that serves it */
    bool is_write;
} BenchOp;

typedef struct BenchTrace {
    GArray *ops;            /* BenchOp, in replay order */
    GArray *outstanding;    /* by slot: its BenchOp while pinned */
} BenchTrace;

static inline const BenchOp *trace_op(const BenchTrace *t, size_t i)
{
    return &g_array_index(t->ops, BenchOp, i);
}

static inline uint32_t trace_slots(const BenchTrace *t)
{
    return t->outstanding->len;
}

/* Workloads (workloads.c). */

typedef void BenchGenerator(BenchTrace *t, BenchRng *rng, unsigned requests);

typedef enum BenchTarget {
    TARGET_COMPULSORY,  /* map calls / compulsory mappings <= 1.02 */
    TARGET_LRU,         /* map calls / simulated LRU misses <= 1.10 */
    TARGET_NONE,        /* ratio printed without a target */
} BenchTarget;

typedef struct BenchWorkload {
    const char *name;
    BenchGenerator *generate;
    uint64_t seed;
    unsigned requests;      /* in a full run */
    BenchTarget target;
} BenchWorkload;

extern const BenchWorkload bench_workloads[];
extern const unsigned bench_nworkloads;

const BenchWorkload *workload_find(const char *name);
/* Record @w's trace into @t: a fraction of its requests with @quick. */
void workload_record(BenchTrace *t, const BenchWorkload *w, bool quick);
void trace_destroy(BenchTrace *t);

/* The bound (bound.c). */

typedef struct BenchBound {
    uint64_t distinct_keys;
    uint64_t compulsory;
    uint64_t lru_misses;
    uint64_t lru_evictions;
    uint64_t peak_bytes;    /* of the simulated LRU cache */
    uint64_t bound;
    bool fits;
} BenchBound;

void bound_compute(BenchBound *b, const BenchTrace *t, uint64_t limit);

/* Replay and counters (replay.c). */

/* The mapcache's counters, summed over its caches, and the fake's. */
typedef struct BenchCounts {
    XenMapCacheStats cache[XEN_MAPCACHE_KIND__MAX];
    XenMapCacheStats total;
    FakeXenStats fake;
} BenchCounts;

/* What the fake hypervisor saw: map calls, pages mapped, unmap calls. */
uint64_t counts_map_calls(const BenchCounts *c);
uint64_t counts_pages(const BenchCounts *c);
uint64_t counts_unmaps(const BenchCounts *c);

typedef struct BenchResult {
    const BenchWorkload *w;
    uint64_t ops;
    BenchCounts counts;     /* first run, right after its replay */
    /*
     * The most bytes the fake hypervisor had mapped at once, live and
     * pending release alike (its peak of live pages): the maximum over
     * the runs.
     */
    uint64_t fake_peak_bytes;
    double ns_per_op;       /* median over the runs */
    BenchBound bound;
    unsigned disagreements;
    uint64_t failures;
} BenchResult;

/* A fresh fake hypervisor and mapcache of limit @limit. */
void bench_fresh_state(uint64_t limit);
void workload_run(BenchResult *res, const BenchWorkload *w);

/* Micro-measurements (micro.c). */

typedef struct BenchMicro {
    double mutex_pair_ns;
    double rcu_section_ns;
    double hit_ns[2];           /* lock0 hit, 1 thread: 1, 16 buckets */
    double hit_net_pairs[2];    /* net of an empty read section / pair */
    double hit_2threads_ns;     /* lock0 hit, 2 threads, 16 buckets */
    double hit_2threads_ratio;  /* / 1 thread, 16 buckets */
    double reverse_ns[2];       /* reverse lookup, 1 and 1024 pinned */
    double reverse_ratio;
    double flush_ns[3];         /* flush of 0, 256, 512 entries */
    double flush_ratio;         /* per entry at 512 / per entry at 256 */
    uint64_t failures;
} BenchMicro;

/* The buckets hit_ns[] cycles over, the entries flush_ns[] flushes. */
extern const unsigned micro_hit_buckets[2];
extern const unsigned micro_flush_entries[3];

void micro_run(BenchMicro *m);

/* Output (report.c); @m is NULL without micro-measurements. */

void print_table(const BenchResult *results, unsigned n,
                 const BenchMicro *m);
void print_json(const BenchResult *results, unsigned n,
                const BenchMicro *m);

#endif
