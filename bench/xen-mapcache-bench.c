/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Benchmark of the Xen mapcache (make bench).
 *
 * Replays named workloads, each modelled on a device's pattern of guest
 * memory accesses, through the mapcache's public API against the fake
 * hypervisor, and prints one row per workload: what the mapcache did (its
 * counters and the fake's), the time per operation, and "bound", the
 * number of mappings the trace itself makes necessary, computed from the
 * trace alone (see "The bound" below).  Then micro-measurements: reverse
 * lookups with 1 and 1024 pinned mappings, flushes of a few hundred
 * entries, lock0 hits on one and two threads, against one uncontended
 * QemuMutex lock/unlock pair.
 *
 * Every workload is first recorded as an array of operations from a fixed
 * seed, then replayed: the bound and the replay see the same trace.
 * Targets are printed, never asserted: the exit status is non-zero only
 * when the mapcache's counters disagree with the fake hypervisor's, when
 * a request fails, or when a pointer shows the wrong guest memory.
 * README.md, "Reading make bench", explains the columns.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-stubs.h"
#include "test-xen-mapcache-fake-xen.h"

#include <sched.h>
#include <time.h>

/*
 * The cache limit of the workloads.  Every workload but over-limit keeps
 * its working set under 3/4 of it, so that releases still waiting for a
 * grace period (they count against the limit) do not force evictions.
 */
#define BENCH_LIMIT             (64 * MiB)
/* The micro-measurements keep up to 512 entries of 1 MiB. */
#define BENCH_MICRO_LIMIT       (2 * GiB)
/* Upstream's cache size on a 64-bit host as root: 32768 buckets of 1 MiB. */
#define UPSTREAM_CACHE_SIZE     (32 * GiB)
/* Sparse guest RAM of the fake: four upstream cache sizes, for collide. */
#define BENCH_RAM_BYTES         (4 * UPSTREAM_CACHE_SIZE)
#define BENCH_GRANT_PAGES       1024
/*
 * Where the grant region's RAMBlock sits in ram_addr_t space (QEMU places
 * it after guest RAM): xen_map_cache() gets block->offset + addr and
 * block->offset, as qemu_ram_ptr_length() passes them.
 */
#define GRANT_REGION_OFFSET     BENCH_RAM_BYTES
#define RAM_BUCKET_SHIFT        20
#define GRANT_BUCKET_SHIFT      12
#define PAGE_SIZE_4K            4096
#define BENCH_MAX_RUNS          99
/* Quick mode replays 1/QUICK_DIVISOR of each workload's requests. */
#define QUICK_DIVISOR           64

/* Options. */

typedef struct BenchConfig {
    gboolean quick;
    gboolean json;
    gint runs;
    gchar *workload;
} BenchConfig;

static BenchConfig config = { .runs = 5 };

/*
 * The bytes the benchmark reads, summed so that the compiler keeps the
 * reads; qatomic_read() makes each one a real load.
 */
static uint64_t bench_sink;

static int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(const double *values, unsigned n)
{
    g_autofree double *sorted = g_new(double, n);

    memcpy(sorted, values, n * sizeof(double));
    qsort(sorted, n, sizeof(double), compare_doubles);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/* Deterministic random numbers: xorshift64*, one fixed seed per workload. */

typedef struct BenchRng {
    uint64_t state;
} BenchRng;

static uint64_t rng_next(BenchRng *rng)
{
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return rng->state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n); n > 0. */
static uint64_t rng_below(BenchRng *rng, uint64_t n)
{
    return rng_next(rng) % n;
}

/* True with probability percent / 100. */
static bool rng_percent(BenchRng *rng, unsigned percent)
{
    return rng_below(rng, 100) < percent;
}

/*
 * Traces.
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

static void trace_init(BenchTrace *t)
{
    t->ops = g_array_new(false, false, sizeof(BenchOp));
    t->outstanding = g_array_new(false, true, sizeof(BenchOp));
}

static void trace_destroy(BenchTrace *t)
{
    g_array_free(t->ops, true);
    g_array_free(t->outstanding, true);
}

static const BenchOp *trace_op(const BenchTrace *t, size_t i)
{
    return &g_array_index(t->ops, BenchOp, i);
}

static uint32_t trace_slots(const BenchTrace *t)
{
    return t->outstanding->len;
}

static BenchOp ram_request(hwaddr addr, uint32_t size, bool is_write)
{
    return (BenchOp) {
        .addr = addr,
        .size = size,
        .cache = XEN_MAPCACHE_RAM,
        .is_write = is_write,
    };
}

/* A grant mapping is read-write when the device writes guest memory. */
static BenchOp grant_request(uint32_t ref, uint32_t offset, uint32_t size,
                             bool is_write)
{
    return (BenchOp) {
        .addr = GRANT_REGION_OFFSET + (hwaddr)ref * PAGE_SIZE_4K + offset,
        .size = size,
        .cache = is_write ? XEN_MAPCACHE_GRANTS_RW : XEN_MAPCACHE_GRANTS_RO,
        .is_write = is_write,
    };
}

static void trace_read(BenchTrace *t, BenchOp op)
{
    assert(op.cache == XEN_MAPCACHE_RAM);
    op.kind = BENCH_READ;
    g_array_append_val(t->ops, op);
}

static BenchOp *trace_slot(BenchTrace *t, uint32_t slot)
{
    if (slot >= t->outstanding->len) {
        g_array_set_size(t->outstanding, slot + 1);
    }
    return &g_array_index(t->outstanding, BenchOp, slot);
}

static void trace_pin(BenchTrace *t, uint32_t slot, BenchOp op)
{
    BenchOp *pending = trace_slot(t, slot);

    assert(pending->kind != BENCH_PIN);
    op.kind = BENCH_PIN;
    op.slot = slot;
    *pending = op;
    g_array_append_val(t->ops, op);
}

static void trace_unpin(BenchTrace *t, uint32_t slot)
{
    BenchOp *pending = trace_slot(t, slot);
    BenchOp op = *pending;

    assert(pending->kind == BENCH_PIN);
    pending->kind = BENCH_UNPIN;
    op.kind = BENCH_UNPIN;
    g_array_append_val(t->ops, op);
}

/* A page-aligned buffer of @pages pages inside [@base, @base + @area). */
static hwaddr random_buffer(BenchRng *rng, hwaddr base, hwaddr area,
                            unsigned pages)
{
    return base + rng_below(rng, area / PAGE_SIZE_4K - pages) * PAGE_SIZE_4K;
}

/*
 * A page-aligned buffer of @pages (>= 2) pages that crosses one of the
 * 1 MiB boundaries strictly inside [@base, @base + @area).
 */
static hwaddr crossing_buffer(BenchRng *rng, hwaddr base, hwaddr area,
                              unsigned pages)
{
    hwaddr boundary = base + (1 + rng_below(rng, area / MiB - 1)) * MiB;

    return boundary - (1 + rng_below(rng, pages - 1)) * PAGE_SIZE_4K;
}

/* Complete every outstanding request of slots [0, @depth), in order. */
static void trace_complete_all(BenchTrace *t, uint32_t depth)
{
    uint32_t slot;

    for (slot = 0; slot < depth; slot++) {
        if (trace_slot(t, slot)->kind == BENCH_PIN) {
            trace_unpin(t, slot);
        }
    }
}

/*
 * Workloads.  Each generator records @requests device requests; an
 * operation count is the length of the trace (requests and completions).
 */

/*
 * ahci-ncq: an AHCI disk with native command queueing, 32 commands
 * outstanding all the time.  Each command: a lock0 read of its 128-byte
 * command table (32 tables, 256 bytes apart, in one page below the
 * buffers), then its data buffer pinned with address_space_map(): 4 to
 * 256 KiB (a whole number of pages), page aligned, anywhere in a 16 MiB
 * area (the guest's hot page cache); one in eight is placed across a
 * 1 MiB boundary on purpose, others cross by chance.  Completions come in
 * random order (the disk reorders); each completion frees its slot for
 * the next command.  Locality: 16 buckets of buffers, one of tables.
 */
#define AHCI_NCQ_DEPTH          32
#define AHCI_CMD_TABLES         (255 * MiB)
#define AHCI_BUF_BASE           (256 * MiB)
#define AHCI_BUF_AREA           (16 * MiB)
#define AHCI_MAX_PAGES          64

static void ahci_issue(BenchTrace *t, BenchRng *rng, uint32_t slot)
{
    unsigned pages = 1 + rng_below(rng, AHCI_MAX_PAGES);
    bool cross = pages > 1 && rng_below(rng, 8) == 0;
    hwaddr buf;

    trace_read(t, ram_request(AHCI_CMD_TABLES + slot * 256, 128, false));
    if (cross) {
        buf = crossing_buffer(rng, AHCI_BUF_BASE, AHCI_BUF_AREA, pages);
    } else {
        buf = random_buffer(rng, AHCI_BUF_BASE, AHCI_BUF_AREA, pages);
    }
    trace_pin(t, slot, ram_request(buf, pages * PAGE_SIZE_4K,
                                   rng_percent(rng, 50)));
}

typedef void BenchIssue(BenchTrace *t, BenchRng *rng, uint32_t slot);

/*
 * @requests requests through @depth slots always busy, each completed in
 * random order and its slot reused at once by @issue.
 */
static void gen_random_completion(BenchTrace *t, BenchRng *rng,
                                  unsigned requests, uint32_t depth,
                                  BenchIssue *issue)
{
    uint32_t slot;
    unsigned n;

    for (slot = 0; slot < depth; slot++) {
        issue(t, rng, slot);
    }
    for (n = depth; n < requests; n++) {
        slot = rng_below(rng, depth);
        trace_unpin(t, slot);
        issue(t, rng, slot);
    }
    trace_complete_all(t, depth);
}

static void gen_ahci_ncq(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    gen_random_completion(t, rng, requests, AHCI_NCQ_DEPTH, ahci_issue);
}

/*
 * virtio-blk: a sequential reader, queue depth 8, completions in order.
 * Each request: a lock0 read of its 16-byte descriptor in the ring, its
 * 128 KiB data buffer pinned; at completion the buffer is unmapped and a
 * lock0 write of the one-byte status follows.  The buffers follow each
 * other through a 16 MiB area, wrapping around, starting 4 KiB into it
 * (the guest's buffers are page aligned, not 128 KiB aligned), so one
 * request in eight crosses a 1 MiB boundary.
 */
#define VIRTIO_BLK_DEPTH        8
#define VIRTIO_RING             (254 * MiB)
#define VIRTIO_RING_SIZE        256
#define VIRTIO_STATUS           (VIRTIO_RING + 64 * KiB)
#define VIRTIO_BUF_BASE         (512 * MiB)
#define VIRTIO_BUF_AREA         (16 * MiB)
#define VIRTIO_REQUEST          (128 * KiB)

static void virtio_issue(BenchTrace *t, unsigned n)
{
    hwaddr desc = VIRTIO_RING + (n % VIRTIO_RING_SIZE) * 16;
    hwaddr buf = VIRTIO_BUF_BASE + PAGE_SIZE_4K +
                 ((hwaddr)n * VIRTIO_REQUEST) % VIRTIO_BUF_AREA;

    trace_read(t, ram_request(desc, 16, false));
    trace_pin(t, n % VIRTIO_BLK_DEPTH,
              ram_request(buf, VIRTIO_REQUEST, true));
}

static void virtio_complete(BenchTrace *t, unsigned n)
{
    trace_unpin(t, n % VIRTIO_BLK_DEPTH);
    trace_read(t, ram_request(VIRTIO_STATUS + n % VIRTIO_RING_SIZE, 1,
                              true));
}

static void gen_virtio_blk(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    unsigned n;

    for (n = 0; n < requests; n++) {
        if (n >= VIRTIO_BLK_DEPTH) {
            virtio_complete(t, n - VIRTIO_BLK_DEPTH);
        }
        virtio_issue(t, n);
    }
    for (n = requests - MIN(requests, VIRTIO_BLK_DEPTH); n < requests;
         n++) {
        virtio_complete(t, n);
    }
}

/*
 * lock0-heavy: small reads and writes the way device emulation and
 * qemu_map_ram_ptr() users make them, no DMA.  A random walk over a
 * 16 MiB area: 70% of the reads land within 256 bytes after the previous
 * one, 20% within 64 KiB either side, 10% anywhere in the area.  Half
 * have size 0 (qemu_map_ram_ptr(): one bucket), the rest 1 to 256 bytes,
 * so a few cross a 1 MiB boundary; 30% are writes.
 */
#define LOCK0_BASE              (64 * MiB)
#define LOCK0_AREA              (16 * MiB)
#define LOCK0_MAX_SIZE          256

static hwaddr lock0_step(BenchRng *rng, hwaddr cur)
{
    unsigned dice = rng_below(rng, 100);
    int64_t delta;

    if (dice < 70) {
        delta = rng_below(rng, 256);
    } else if (dice < 90) {
        delta = (int64_t)rng_below(rng, 128 * KiB) - 64 * KiB;
    } else {
        return LOCK0_BASE + rng_below(rng, LOCK0_AREA - LOCK0_MAX_SIZE);
    }
    if (delta < 0 && cur - LOCK0_BASE < (hwaddr)-delta) {
        return LOCK0_BASE;
    }
    return MIN(cur + delta,
               (hwaddr)(LOCK0_BASE + LOCK0_AREA - LOCK0_MAX_SIZE));
}

static void gen_lock0_heavy(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    hwaddr cur = LOCK0_BASE;
    unsigned n;

    for (n = 0; n < requests; n++) {
        uint32_t size = rng_percent(rng, 50) ?
                        0 : 1 + rng_below(rng, LOCK0_MAX_SIZE);

        cur = lock0_step(rng, cur);
        trace_read(t, ram_request(cur, size, rng_percent(rng, 30)));
    }
}

/*
 * seed-overlap: the overlapping DMA of the 2017 fix, repeated.  Three
 * requests pinned at once at one bucket index: A, 512 bytes across the
 * 1 MiB boundary (a 2 MiB mapping); B, one page, and C, two pages, inside
 * the first MiB (1 MiB each).  Each round picks one of 8 indexes, issues
 * A, B and C in a random one of the 6 orders with a lock0 read of the
 * first MiB between the second and the third, then completes them in a
 * random one of the 6 orders.  A request counts A, B, C or the read.
 */
#define OVERLAP_BASE            (768 * MiB)
#define OVERLAP_INDEXES         8
#define OVERLAP_STRIDE          (4 * MiB)

static const uint8_t overlap_orders[6][3] = {
    { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
    { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
};

static BenchOp overlap_request(hwaddr base, unsigned which)
{
    switch (which) {
    case 0:
        return ram_request(base + MiB - 256, 512, true);
    case 1:
        return ram_request(base + 0x1000, PAGE_SIZE_4K, false);
    default:
        return ram_request(base + 0x80000, 2 * PAGE_SIZE_4K, true);
    }
}

static void overlap_round(BenchTrace *t, BenchRng *rng)
{
    hwaddr base = OVERLAP_BASE +
                  rng_below(rng, OVERLAP_INDEXES) * OVERLAP_STRIDE;
    const uint8_t *issue = overlap_orders[rng_below(rng, 6)];
    const uint8_t *complete = overlap_orders[rng_below(rng, 6)];
    unsigned i;

    for (i = 0; i < 3; i++) {
        if (i == 2) {
            trace_read(t, ram_request(base + 0x40000, 64, false));
        }
        trace_pin(t, issue[i], overlap_request(base, issue[i]));
    }
    for (i = 0; i < 3; i++) {
        trace_unpin(t, complete[i]);
    }
}

static void gen_seed_overlap(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    unsigned n;

    for (n = 0; n < requests; n += 4) {
        overlap_round(t, rng);
    }
}

/*
 * collide: 8 bucket indexes, each with 4 aliases one upstream cache size
 * (32 GiB) apart: all 4 share a bucket in upstream's layout (index modulo
 * 32768), none in a hash keyed by the index.  Working set: 32 buckets.
 * Lock0 reads (64 bytes, inside the bucket) at a random index and the
 * aliases in turn, so that consecutive requests at one upstream bucket
 * alternate between aliases; one request in eight is instead a DMA of 4 to
 * 64 KiB within the bucket, queue depth 4, completed in order.
 */
#define COLLIDE_BASE            (16 * MiB)
#define COLLIDE_INDEXES         8
#define COLLIDE_ALIASES         4
#define COLLIDE_DEPTH           4

static hwaddr collide_addr(BenchRng *rng, unsigned n)
{
    hwaddr index = rng_below(rng, COLLIDE_INDEXES);
    hwaddr alias = n % COLLIDE_ALIASES;

    return alias * UPSTREAM_CACHE_SIZE + COLLIDE_BASE + index * MiB;
}

static void gen_collide(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    unsigned n, dma = 0;

    for (n = 0; n < requests; n++) {
        hwaddr bucket = collide_addr(rng, n);
        unsigned pages = 1 + rng_below(rng, 16);

        if (rng_below(rng, 8)) {
            trace_read(t, ram_request(bucket + rng_below(rng, 1024) * 64,
                                      64, false));
            continue;
        }
        if (dma >= COLLIDE_DEPTH) {
            trace_unpin(t, dma % COLLIDE_DEPTH);
        }
        trace_pin(t, dma % COLLIDE_DEPTH,
                  ram_request(bucket + rng_below(rng, 240) * PAGE_SIZE_4K,
                              pages * PAGE_SIZE_4K, rng_percent(rng, 50)));
        dma++;
    }
    trace_complete_all(t, COLLIDE_DEPTH);
}

/*
 * over-limit: a working set of twice the limit (128 MiB), so eviction
 * runs.  DMA of 64 to 256 KiB, queue depth 8, random completion order,
 * with a lock0 read of a command block in the same area before each;
 * 70% of the addresses fall in a warm quarter of the area, the rest
 * anywhere in it, so an LRU cache has something to keep.  One buffer in
 * eight crosses a 1 MiB boundary on purpose.
 */
#define OVER_DEPTH              8
#define OVER_BASE               (1 * GiB)
#define OVER_AREA               (2 * BENCH_LIMIT)
#define OVER_WARM               (OVER_AREA / 4)

static void over_issue(BenchTrace *t, BenchRng *rng, uint32_t slot)
{
    hwaddr area = rng_percent(rng, 70) ? OVER_WARM : OVER_AREA;
    unsigned pages = 16 + rng_below(rng, 49);
    hwaddr buf;

    trace_read(t, ram_request(random_buffer(rng, OVER_BASE, area, 1), 64,
                              false));
    if (rng_below(rng, 8) == 0) {
        buf = crossing_buffer(rng, OVER_BASE, area, pages);
    } else {
        buf = random_buffer(rng, OVER_BASE, area, pages);
    }
    trace_pin(t, slot, ram_request(buf, pages * PAGE_SIZE_4K,
                                   rng_percent(rng, 50)));
}

static void gen_over_limit(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    gen_random_completion(t, rng, requests, OVER_DEPTH, over_issue);
}

/*
 * grants: a Xen PV-style backend on grant references (virtio with grants,
 * say).  Queue depth 8, completions in order.  Each request has 1 to 11
 * segments, each a separate grant reference from the frontend's pool of
 * 256 (a free list, most recently freed first, as frontends recycle
 * them), 512 bytes to one page at a 512-byte aligned offset; the
 * segments are pinned one by one, read-only for a disk write (the device
 * reads guest memory), read-write for a disk read, and each is unmapped
 * at completion (grants are released at their last unpin).
 */
#define GRANTS_DEPTH            8
#define GRANTS_MAX_SEGMENTS     11
#define GRANTS_POOL             256

typedef struct GrantPool {
    uint32_t free[GRANTS_POOL];
    uint32_t nfree;
    uint32_t nsegs[GRANTS_DEPTH];
} GrantPool;

static void grants_issue(BenchTrace *t, BenchRng *rng, GrantPool *pool,
                         unsigned n)
{
    unsigned req = n % GRANTS_DEPTH;
    bool disk_read = rng_percent(rng, 50);
    unsigned seg;

    pool->nsegs[req] = 1 + rng_below(rng, GRANTS_MAX_SEGMENTS);
    for (seg = 0; seg < pool->nsegs[req]; seg++) {
        uint32_t sectors = 1 + rng_below(rng, 8);
        uint32_t first = rng_below(rng, 9 - sectors);

        assert(pool->nfree > 0);
        trace_pin(t, req * GRANTS_MAX_SEGMENTS + seg,
                  grant_request(pool->free[--pool->nfree], first * 512,
                                sectors * 512, disk_read));
    }
}

static void grants_complete(BenchTrace *t, GrantPool *pool, unsigned n)
{
    unsigned req = n % GRANTS_DEPTH;
    unsigned seg;

    for (seg = 0; seg < pool->nsegs[req]; seg++) {
        uint32_t slot = req * GRANTS_MAX_SEGMENTS + seg;
        const BenchOp *pin = trace_slot(t, slot);
        uint32_t ref = (pin->addr - GRANT_REGION_OFFSET) / PAGE_SIZE_4K;

        trace_unpin(t, slot);
        pool->free[pool->nfree++] = ref;
    }
}

static void gen_grants(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    GrantPool pool = { .nfree = GRANTS_POOL };
    unsigned n;

    for (n = 0; n < GRANTS_POOL; n++) {
        pool.free[n] = GRANTS_POOL - 1 - n;
    }
    for (n = 0; n < requests; n++) {
        if (n >= GRANTS_DEPTH) {
            grants_complete(t, &pool, n - GRANTS_DEPTH);
        }
        grants_issue(t, rng, &pool, n);
    }
    for (n = requests - MIN(requests, GRANTS_DEPTH); n < requests; n++) {
        grants_complete(t, &pool, n);
    }
}

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

static const BenchWorkload workloads[] = {
    { "ahci-ncq", gen_ahci_ncq, 0xa1c1, 20000, TARGET_COMPULSORY },
    { "virtio-blk", gen_virtio_blk, 0x7b1c, 20000, TARGET_COMPULSORY },
    { "lock0-heavy", gen_lock0_heavy, 0x10c0, 100000, TARGET_COMPULSORY },
    { "seed-overlap", gen_seed_overlap, 0x2017, 20000, TARGET_COMPULSORY },
    { "collide", gen_collide, 0xc011, 50000, TARGET_COMPULSORY },
    { "over-limit", gen_over_limit, 0x0fe1, 5000, TARGET_LRU },
    { "grants", gen_grants, 0x6a47, 5000, TARGET_NONE },
};

static double target_ratio(BenchTarget target)
{
    return target == TARGET_COMPULSORY ? 1.02 :
           target == TARGET_LRU ? 1.10 : 0;
}

/*
 * The bound: mappings that the trace makes necessary, from the trace
 * alone.
 *
 * A mapping is named by its cache and the bucket index of its first byte
 * (its key) and covers whole buckets from there: a request of @size bytes
 * at offset @off in its first bucket needs QEMU_ALIGN_UP(off + size,
 * bucket) bytes at its key (one bucket for size 0), as upstream and the
 * rewrite both map.  A request crossing into the next bucket therefore
 * needs a two-bucket mapping at its first bucket's key; it does not touch
 * the next bucket's key, which names another mapping, the one requests
 * starting there need.
 *
 * Compulsory mappings: a cache that maps on demand what a request needs
 * must map at a key the first time the key is requested, and again each
 * time a request there needs more than the largest mapping made so far at
 * that key (a mapping cannot grow in place; the larger one serves all the
 * smaller one did, and keeping it costs nothing while the working set
 * fits).  So the compulsory count is, per key, the number of sizes that
 * beat every earlier size there: the number of distinct keys when every
 * request at a key needs the same size, one more per growth.  Nothing
 * else is compulsory; upstream's layout adds collisions of different
 * indexes in one bucket and remaps between lock0 and lock1 sizes.
 *
 * When the working set does not fit the limit, the bound is the number
 * of misses of an LRU cache of the same limit simulated on the trace:
 * same keys and sizes, pinned entries never evicted, unpinned ones kept
 * on an LRU list (a hit or the last unpin makes an entry the most recent)
 * and evicted least recent first before a miss maps more than the limit
 * allows, or when an unpin leaves the cache above it; a new mapping
 * replaces the unpinned ones at its key that it covers; grant mappings go
 * at their last unpin.  Releases are instantaneous in the simulation (the
 * real cache counts ranges waiting for a grace period against its limit).
 * The working set fits when this simulation never evicts; its misses then
 * equal the compulsory mappings of the RAM cache.
 */

typedef struct SimEntry SimEntry;

typedef struct SimChain {
    uint64_t id;            /* (cache << 56) | key: the hash table key */
    GPtrArray *entries;     /* SimEntry, in creation order */
} SimChain;

struct SimEntry {
    SimChain *chain;
    uint64_t size;
    uint32_t pins;
    GList lru_link;         /* in BenchSim.lru while unpinned (RAM only) */
    bool in_lru;
};

typedef struct BenchSim {
    uint64_t limit;
    uint64_t used;          /* bytes of the entries in the cache */
    uint64_t peak;
    uint64_t misses;
    uint64_t evictions;
    GHashTable *chains;     /* &SimChain.id -> SimChain */
    GQueue lru;             /* least recently used first */
    SimEntry **slots;       /* the entry each slot's pin went to */
} BenchSim;

static unsigned op_bucket_shift(const BenchOp *op)
{
    return op->cache == XEN_MAPCACHE_RAM ?
           RAM_BUCKET_SHIFT : GRANT_BUCKET_SHIFT;
}

static uint64_t op_key(const BenchOp *op)
{
    return op->addr >> op_bucket_shift(op);
}

static uint64_t op_chain_id(const BenchOp *op)
{
    return ((uint64_t)op->cache << 56) | op_key(op);
}

/* Bytes the mapping serving @op needs at its key. */
static uint64_t op_need(const BenchOp *op)
{
    uint64_t bucket = 1ULL << op_bucket_shift(op);
    uint64_t offset = op->addr & (bucket - 1);

    return op->size ? QEMU_ALIGN_UP(offset + op->size, bucket) : bucket;
}

static bool op_is_request(const BenchOp *op)
{
    return op->kind != BENCH_UNPIN;
}

static void sim_chain_free(gpointer data)
{
    SimChain *chain = data;

    g_ptr_array_free(chain->entries, true);
    g_free(chain);
}

static void sim_init(BenchSim *sim, uint64_t limit, uint32_t nslots)
{
    *sim = (BenchSim) { .limit = limit };
    sim->chains = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                        sim_chain_free);
    g_queue_init(&sim->lru);
    sim->slots = g_new0(SimEntry *, nslots);
}

static void sim_destroy(BenchSim *sim)
{
    g_hash_table_destroy(sim->chains);
    g_free(sim->slots);
}

static SimChain *sim_chain(BenchSim *sim, const BenchOp *op)
{
    uint64_t id = op_chain_id(op);
    SimChain *chain = g_hash_table_lookup(sim->chains, &id);

    if (!chain) {
        chain = g_new0(SimChain, 1);
        chain->id = id;
        chain->entries = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(sim->chains, &chain->id, chain);
    }
    return chain;
}

/* An entry of @chain at least @need bytes large, a pinned one first. */
static SimEntry *sim_find(SimChain *chain, uint64_t need)
{
    SimEntry *found = NULL;
    guint i;

    for (i = 0; i < chain->entries->len; i++) {
        SimEntry *e = g_ptr_array_index(chain->entries, i);

        if (e->size >= need && (e->pins || !found)) {
            found = e;
        }
    }
    return found;
}

static void sim_lru_remove(BenchSim *sim, SimEntry *e)
{
    if (e->in_lru) {
        g_queue_unlink(&sim->lru, &e->lru_link);
        e->in_lru = false;
    }
}

static void sim_lru_push(BenchSim *sim, SimEntry *e)
{
    sim_lru_remove(sim, e);
    e->lru_link.data = e;
    g_queue_push_tail_link(&sim->lru, &e->lru_link);
    e->in_lru = true;
}

static void sim_drop(BenchSim *sim, SimEntry *e)
{
    sim_lru_remove(sim, e);
    sim->used -= e->size;
    g_ptr_array_remove_fast(e->chain->entries, e);
}

static void sim_make_room(BenchSim *sim, uint64_t need)
{
    while (sim->used + need > sim->limit && sim->lru.head) {
        sim_drop(sim, sim->lru.head->data);
        sim->evictions++;
    }
}

/* A miss: replace the unpinned entries that the new one covers. */
static SimEntry *sim_map(BenchSim *sim, SimChain *chain, uint64_t need,
                         bool is_ram)
{
    SimEntry *e;
    guint i = 0;

    sim->misses++;
    while (i < chain->entries->len) {
        e = g_ptr_array_index(chain->entries, i);
        if (!e->pins && e->size <= need) {
            sim_drop(sim, e);
        } else {
            i++;
        }
    }
    if (is_ram) {
        sim_make_room(sim, need);
    }
    e = g_new0(SimEntry, 1);
    e->chain = chain;
    e->size = need;
    g_ptr_array_add(chain->entries, e);
    sim->used += need;
    sim->peak = MAX(sim->peak, sim->used);
    return e;
}

static void sim_request(BenchSim *sim, const BenchOp *op)
{
    SimChain *chain = sim_chain(sim, op);
    uint64_t need = op_need(op);
    SimEntry *e = sim_find(chain, need);
    bool is_ram = op->cache == XEN_MAPCACHE_RAM;

    if (!e) {
        e = sim_map(sim, chain, need, is_ram);
    }
    if (op->kind == BENCH_PIN) {
        sim_lru_remove(sim, e);
        e->pins++;
        sim->slots[op->slot] = e;
    } else if (!e->pins) {
        sim_lru_push(sim, e);
    }
}

static void sim_unpin(BenchSim *sim, const BenchOp *op)
{
    SimEntry *e = sim->slots[op->slot];

    if (--e->pins) {
        return;
    }
    if (op->cache != XEN_MAPCACHE_RAM) {
        sim_drop(sim, e);
        return;
    }
    sim_lru_push(sim, e);
    sim_make_room(sim, 0);
}

static void sim_run(BenchSim *sim, const BenchTrace *t)
{
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        const BenchOp *op = trace_op(t, i);

        if (op_is_request(op)) {
            sim_request(sim, op);
        } else {
            sim_unpin(sim, op);
        }
    }
}

typedef struct BenchBound {
    uint64_t distinct_keys;
    uint64_t compulsory;
    uint64_t lru_misses;
    uint64_t lru_evictions;
    uint64_t peak_bytes;    /* of the simulated LRU cache */
    uint64_t bound;
    bool fits;
} BenchBound;

/* Distinct keys and compulsory mappings (sizes beating the key's record). */
static void bound_compulsory(BenchBound *b, const BenchTrace *t)
{
    g_autoptr(GHashTable) record = g_hash_table_new_full(g_int64_hash,
                                                         g_int64_equal,
                                                         g_free, g_free);
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        const BenchOp *op = trace_op(t, i);
        uint64_t id = op_chain_id(op), need = op_need(op);
        uint64_t *max;

        if (!op_is_request(op)) {
            continue;
        }
        max = g_hash_table_lookup(record, &id);
        if (!max) {
            uint64_t *key = g_new(uint64_t, 1);

            *key = id;
            max = g_new0(uint64_t, 1);
            g_hash_table_insert(record, key, max);
            b->distinct_keys++;
        }
        if (need > *max) {
            *max = need;
            b->compulsory++;
        }
    }
}

static void bound_compute(BenchBound *b, const BenchTrace *t, uint64_t limit)
{
    BenchSim sim;

    *b = (BenchBound) { 0 };
    bound_compulsory(b, t);
    sim_init(&sim, limit, trace_slots(t));
    sim_run(&sim, t);
    b->lru_misses = sim.misses;
    b->lru_evictions = sim.evictions;
    b->peak_bytes = sim.peak;
    b->fits = sim.evictions == 0;
    b->bound = b->fits ? b->compulsory : b->lru_misses;
    sim_destroy(&sim);
}

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

/* Replay @t; returns the time it took in nanoseconds. */
static int64_t replay_trace(BenchReplay *r, const BenchTrace *t)
{
    int64_t start = bench_now_ns();
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        replay_op(r, trace_op(t, i));
    }
    return bench_now_ns() - start;
}

/*
 * Counters: the mapcache's, summed over its caches, and the fake's.
 */

typedef struct BenchCounts {
    XenMapCacheStats cache[XEN_MAPCACHE_KIND__MAX];
    XenMapCacheStats total;
    FakeXenStats fake;
} BenchCounts;

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

static uint64_t counts_map_calls(const BenchCounts *c)
{
    return c->fake.map_calls + c->fake.grant_map_calls;
}

static uint64_t counts_unmaps(const BenchCounts *c)
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
    check_eq(chk, "releases_done + freed_at_once / fake unmaps",
             c->total.releases_done + c->total.freed_at_once,
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

typedef struct BenchResult {
    const BenchWorkload *w;
    uint64_t ops;
    BenchCounts counts;     /* first run, right after its replay */
    double ns_per_op;       /* median over the runs */
    BenchBound bound;
    unsigned disagreements;
    uint64_t failures;
} BenchResult;

static void bench_fresh_state(uint64_t limit)
{
    fake_xen_init(BENCH_RAM_BYTES, BENCH_GRANT_PAGES);
    xen_map_cache_init_limit(NULL, NULL, limit, &error_abort);
}

/* One replay of @t on a fresh mapcache; returns its ns per operation. */
static double workload_run_once(BenchResult *res, const BenchTrace *t,
                                bool keep_counts)
{
    BenchReplay replay = { .check_bytes = config.quick };
    BenchCheck chk = { .workload = res->w->name };
    BenchCounts after;
    int64_t ns;

    replay.slots = g_new0(uint8_t *, MAX(trace_slots(t), 1));
    bench_fresh_state(BENCH_LIMIT);
    ns = replay_trace(&replay, t);
    if (keep_counts) {
        counts_read(&res->counts);
    }
    drain_call_rcu();
    counts_read(&after);
    check_drained(&chk, &after, t);
    xen_map_cache_fini();
    check_finished(&chk);
    res->disagreements += chk.disagreements;
    res->failures += replay.failures;
    g_free(replay.slots);
    return (double)ns / t->ops->len;
}

static void workload_run(BenchResult *res, const BenchWorkload *w)
{
    unsigned requests = config.quick ? w->requests / QUICK_DIVISOR
                                     : w->requests;
    BenchRng rng = { .state = w->seed };
    g_autofree double *ns = g_new0(double, config.runs);
    BenchTrace t;
    int run;

    *res = (BenchResult) { .w = w };
    trace_init(&t);
    w->generate(&t, &rng, requests);
    res->ops = t.ops->len;
    bound_compute(&res->bound, &t, BENCH_LIMIT);
    for (run = 0; run < config.runs; run++) {
        ns[run] = workload_run_once(res, &t, run == 0);
    }
    res->ns_per_op = median(ns, config.runs);
    trace_destroy(&t);
}

static double result_ratio(const BenchResult *res)
{
    return res->bound.bound ?
           (double)counts_map_calls(&res->counts) / res->bound.bound : 0;
}

/* "PASS", "MISS", or "-" for a workload without a target. */
static const char *result_marker(const BenchResult *res)
{
    double target = target_ratio(res->w->target);

    if (!target) {
        return "-";
    }
    if (res->w->target == TARGET_COMPULSORY && !res->bound.fits) {
        return "MISS";  /* the working set was meant to fit */
    }
    return result_ratio(res) <= target ? "PASS" : "MISS";
}

/*
 * Micro-measurements.
 */

/*
 * Each measurement is repeated config.runs times and its median printed.
 * Measurements compared with each other are taken in the same round,
 * back to back, and their ratio is the median of the rounds' ratios, so
 * that a slow moment of the machine (other jobs, frequency changes)
 * affects both sides of a ratio alike.
 */

typedef struct MicroSeries {
    double v[BENCH_MAX_RUNS];
} MicroSeries;

static double series_median(const MicroSeries *s)
{
    return median(s->v, config.runs);
}

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

#define MICRO_PINNED_MANY       1024
#define MICRO_PINS_PER_BUCKET   16
#define MICRO_FLUSH_ENTRIES     256
#define MICRO_BASE              (2 * GiB)

static const unsigned hit_buckets[2] = { 1, 16 };
static const unsigned flush_entries[3] = {
    0, MICRO_FLUSH_ENTRIES, 2 * MICRO_FLUSH_ENTRIES,
};

static unsigned micro_iterations(void)
{
    return config.quick ? 1 << 10 : 1 << 20;
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

/* ns per lock0 hit of one loop in the calling thread. */
static double micro_hits_here(unsigned nbuckets, BenchMicro *m)
{
    HitLoop loop = {
        .nbuckets = nbuckets,
        .iterations = micro_iterations(),
    };

    hit_loop_run(&loop);
    m->failures += loop.failures;
    bench_sink += loop.sink;
    return (double)loop.elapsed_ns / loop.iterations;
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
        ns += (double)loops[i].elapsed_ns / loops[i].iterations;
        m->failures += loops[i].failures;
        bench_sink += loops[i].sink;
    }
    return ns / ARRAY_SIZE(loops);
}

/* A fresh mapcache with the buckets of hit_addr() mapped. */
static void micro_hits_setup(BenchMicro *m)
{
    unsigned i;

    bench_fresh_state(BENCH_MICRO_LIMIT);
    for (i = 0; i < hit_buckets[1]; i++) {
        rcu_read_lock();
        m->failures += !xen_map_cache(&xen_mapcache_test_ram_mr,
                                      hit_addr(i), 64, 0, 0, false, false);
        rcu_read_unlock();
    }
}

/* The calibration lines and lock0 hits on one thread, round by round. */
static void micro_hits_1thread(BenchMicro *m)
{
    MicroSeries pair, section, hit[2], net[2];
    unsigned iterations = micro_iterations(), b;
    int run;

    micro_hits_setup(m);
    for (run = 0; run < config.runs; run++) {
        pair.v[run] = micro_mutex_pair_once(iterations);
        section.v[run] = micro_rcu_section_once(iterations);
        for (b = 0; b < ARRAY_SIZE(hit_buckets); b++) {
            hit[b].v[run] = micro_hits_here(hit_buckets[b], m);
            net[b].v[run] = (hit[b].v[run] - section.v[run]) /
                            pair.v[run];
        }
    }
    xen_map_cache_fini();
    m->mutex_pair_ns = series_median(&pair);
    m->rcu_section_ns = series_median(&section);
    for (b = 0; b < ARRAY_SIZE(hit_buckets); b++) {
        m->hit_ns[b] = series_median(&hit[b]);
        m->hit_net_pairs[b] = series_median(&net[b]);
    }
}

static void micro_hits_contended(BenchMicro *m)
{
    MicroSeries two, ratio;
    int run;

    micro_hits_setup(m);
    for (run = 0; run < config.runs; run++) {
        two.v[run] = micro_hits_2threads(hit_buckets[1], m);
        ratio.v[run] = two.v[run] / micro_hits_here(hit_buckets[1], m);
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

    for (run = 0; run < config.runs; run++) {
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
        rcu_read_lock();
        m->failures += !xen_map_cache(&xen_mapcache_test_ram_mr,
                                      MICRO_BASE + (hwaddr)i * MiB, 0, 0, 0,
                                      false, false);
        rcu_read_unlock();
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
    MicroSeries ns[ARRAY_SIZE(flush_entries)], ratio;
    unsigned i;
    int run;

    bench_fresh_state(BENCH_MICRO_LIMIT);
    for (run = 0; run < config.runs; run++) {
        for (i = 0; i < ARRAY_SIZE(flush_entries); i++) {
            ns[i].v[run] = micro_flush_once(flush_entries[i], m);
        }
        ratio.v[run] = (ns[2].v[run] / flush_entries[2]) /
                       (ns[1].v[run] / flush_entries[1]);
    }
    xen_map_cache_fini();
    for (i = 0; i < ARRAY_SIZE(flush_entries); i++) {
        m->flush_ns[i] = series_median(&ns[i]);
    }
    m->flush_ratio = series_median(&ratio);
}

static void micro_run(BenchMicro *m)
{
    *m = (BenchMicro) { 0 };
    micro_hits_1thread(m);
    micro_hits_contended(m);
    micro_reverse(m);
    micro_flush(m);
}

/* Targets of the micro-measurements. */
#define TARGET_HIT_PAIRS        2.0
#define TARGET_REVERSE_RATIO    1.5
/* Per-entry flush cost at 2N within this factor of the cost at N. */
#define TARGET_FLUSH_SPREAD     1.5

static double flush_per_entry(const BenchMicro *m, unsigned i)
{
    return m->flush_ns[i] / flush_entries[i];
}

static const char *pass_miss(bool pass)
{
    return pass ? "PASS" : "MISS";
}

static bool flush_proportional(const BenchMicro *m)
{
    return m->flush_ratio <= TARGET_FLUSH_SPREAD &&
           m->flush_ratio >= 1 / TARGET_FLUSH_SPREAD;
}

/*
 * Output.
 */

static void print_table_header(void)
{
    printf("%-12s %7s %6s %8s %6s %17s %15s %13s %6s %8s %6s %-4s"
           " %7s %s\n",
           "workload", "ops", "maps", "pages", "unmaps", "steps(fruitless)",
           "reuses(beyond)", "rcu(done)", "evict", "ns/op", "bound", "by",
           "ratio", "target");
}

static void print_pair(int width, uint64_t a, uint64_t b)
{
    char buf[48];

    snprintf(buf, sizeof(buf), "%" PRIu64 "(%" PRIu64 ")", a, b);
    printf(" %*s", width, buf);
}

static void print_target(const BenchResult *res)
{
    double target = target_ratio(res->w->target);

    if (target) {
        printf("<=%.2f %s", target, result_marker(res));
    } else {
        printf("-");
    }
}

static void print_row(const BenchResult *res)
{
    const BenchCounts *c = &res->counts;

    printf("%-12s %7" PRIu64 " %6" PRIu64 " %8" PRIu64 " %6" PRIu64,
           res->w->name, res->ops, counts_map_calls(c),
           c->fake.pages_mapped + c->fake.grant_pages_mapped,
           counts_unmaps(c));
    print_pair(17, c->total.chain_steps, c->total.fruitless_chain_steps);
    print_pair(15, c->total.pinned_reuses,
               c->total.pinned_reuses_beyond_head);
    print_pair(13, c->total.releases_queued, c->total.releases_done);
    printf(" %6" PRIu64 " %8.1f %6" PRIu64 " %-4s %7.3f ",
           c->total.evictions, res->ns_per_op, res->bound.bound,
           res->bound.fits ? "cmp" : "lru", result_ratio(res));
    print_target(res);
    printf("\n");
}

/*
 * A lock0 hit: its time with the read section around it, then net of an
 * empty read section (the caller's cost, not the mapcache's: QEMU's
 * callers are inside one anyway, and the stand-in's is an out-of-line
 * liburcu call where QEMU's is inline); the target compares the net time
 * with two mutex pairs.
 */
static void print_hit(const BenchMicro *m, unsigned b)
{
    g_autofree char *what = g_strdup_printf("lock0 hit, 1 thread, "
                                            "%u bucket%s", hit_buckets[b],
                                            hit_buckets[b] > 1 ? "s" : "");

    printf("%-44s %10.1f\n", what, m->hit_ns[b]);
    printf("%-44s %10.1f  %.2f mutex pairs, <= %.0f %s\n",
           "  net of the empty read section",
           m->hit_ns[b] - m->rcu_section_ns, m->hit_net_pairs[b],
           TARGET_HIT_PAIRS,
           pass_miss(m->hit_net_pairs[b] <= TARGET_HIT_PAIRS));
}

static void print_micro(const BenchMicro *m)
{
    printf("\n%-44s %10s  %s\n", "micro-measurement", "ns", "ratio, target");
    printf("%-44s %10.1f\n", "QemuMutex lock/unlock pair, uncontended",
           m->mutex_pair_ns);
    printf("%-44s %10.1f\n", "rcu_read_lock/unlock, empty section",
           m->rcu_section_ns);
    print_hit(m, 0);
    print_hit(m, 1);
    printf("%-44s %10.1f  %.2fx 1 thread\n",
           "lock0 hit, 2 threads, 16 buckets (each)", m->hit_2threads_ns,
           m->hit_2threads_ratio);
    printf("%-44s %10.1f\n", "reverse lookup, 1 pinned", m->reverse_ns[0]);
    printf("%-44s %10.1f  %.2fx 1 pinned, <= %.1f %s\n",
           "reverse lookup, 1024 pinned", m->reverse_ns[1],
           m->reverse_ratio, TARGET_REVERSE_RATIO,
           pass_miss(m->reverse_ratio <= TARGET_REVERSE_RATIO));
    printf("%-44s %10.0f\n", "flush, 0 entries", m->flush_ns[0]);
    printf("%-44s %10.0f  %.1f ns/entry\n", "flush, 256 entries",
           m->flush_ns[1], flush_per_entry(m, 1));
    printf("%-44s %10.0f  %.1f ns/entry, %.2fx per entry at 256, %s\n",
           "flush, 512 entries", m->flush_ns[2], flush_per_entry(m, 2),
           m->flush_ratio, pass_miss(flush_proportional(m)));
}

static void print_table(const BenchResult *results, unsigned n,
                        const BenchMicro *m)
{
    unsigned i;

    printf("xen-mapcache-bench: cache limit %" PRIu64 " MiB, %d run%s, "
           "median ns/op%s\n\n", (uint64_t)BENCH_LIMIT / MiB, config.runs,
           config.runs > 1 ? "s" : "", config.quick ? " (quick mode)" : "");
    print_table_header();
    for (i = 0; i < n; i++) {
        print_row(&results[i]);
    }
    if (m) {
        print_micro(m);
    }
}

static void json_stats(const char *name, const XenMapCacheStats *s)
{
    printf("\"%s\": {\"lookups_lock0\": %" PRIu64
           ", \"lookups_lock1\": %" PRIu64
           ", \"recent_hits\": %" PRIu64 ", \"chain_hits\": %" PRIu64
           ", \"pinned_reuses\": %" PRIu64
           ", \"pinned_reuses_beyond_head\": %" PRIu64
           ", \"new_mappings\": %" PRIu64 ", \"pages_mapped\": %" PRIu64
           ", \"remaps\": %" PRIu64 ", \"chain_steps\": %" PRIu64
           ", \"fruitless_chain_steps\": %" PRIu64
           ", \"evictions\": %" PRIu64 ", \"flushed\": %" PRIu64
           ", \"releases_queued\": %" PRIu64
           ", \"releases_done\": %" PRIu64 ", \"null_returns\": %" PRIu64
           ", \"entries\": %" PRIu64 ", \"pinned_entries\": %" PRIu64
           ", \"mapped_bytes\": %" PRIu64 "}",
           name, s->lookups_lock0, s->lookups_lock1, s->recent_hits,
           s->chain_hits, s->pinned_reuses, s->pinned_reuses_beyond_head,
           s->new_mappings, s->pages_mapped, s->remaps, s->chain_steps,
           s->fruitless_chain_steps, s->evictions, s->flushed,
           s->releases_queued, s->releases_done, s->null_returns,
           s->entries, s->pinned_entries, s->mapped_bytes);
}

static void json_bound(const BenchBound *b)
{
    printf("\"bound\": %" PRIu64 ", \"bound_kind\": \"%s\""
           ", \"distinct_keys\": %" PRIu64 ", \"compulsory\": %" PRIu64
           ", \"lru_misses\": %" PRIu64 ", \"lru_evictions\": %" PRIu64
           ", \"lru_peak_bytes\": %" PRIu64,
           b->bound, b->fits ? "compulsory" : "lru", b->distinct_keys,
           b->compulsory, b->lru_misses, b->lru_evictions, b->peak_bytes);
}

static void json_result(const BenchResult *res)
{
    const BenchCounts *c = &res->counts;
    double target = target_ratio(res->w->target);

    printf("    {\"name\": \"%s\", \"operations\": %" PRIu64
           ", \"map_calls\": %" PRIu64 ", \"pages_mapped\": %" PRIu64
           ", \"unmaps\": %" PRIu64 ", \"ns_per_op\": %.1f, ",
           res->w->name, res->ops, counts_map_calls(c),
           c->fake.pages_mapped + c->fake.grant_pages_mapped,
           counts_unmaps(c), res->ns_per_op);
    json_bound(&res->bound);
    printf(", \"ratio\": %.4f", result_ratio(res));
    if (target) {
        printf(", \"target\": %.2f, \"target_met\": %s", target,
               strcmp(result_marker(res), "PASS") ? "false" : "true");
    } else {
        printf(", \"target\": null, \"target_met\": null");
    }
    printf(", \"counters_agree\": %s, \"failures\": %" PRIu64 ",\n     ",
           res->disagreements ? "false" : "true", res->failures);
    json_stats("total", &c->total);
    printf(",\n     ");
    json_stats("ram", &c->cache[XEN_MAPCACHE_RAM]);
    printf("}");
}

static void json_micro(const BenchMicro *m)
{
    printf("  \"micro\": {\"mutex_pair_ns\": %.2f, \"rcu_section_ns\": %.2f"
           ",\n    \"lock0_hit_1bucket_ns\": %.2f"
           ", \"lock0_hit_1bucket_net_mutex_pairs\": %.3f"
           ",\n    \"lock0_hit_16buckets_ns\": %.2f"
           ", \"lock0_hit_16buckets_net_mutex_pairs\": %.3f"
           ",\n    \"lock0_hit_2threads_ns\": %.2f"
           ", \"lock0_hit_2threads_ratio\": %.3f"
           ",\n    \"reverse_lookup_1_ns\": %.2f"
           ", \"reverse_lookup_1024_ns\": %.2f"
           ", \"reverse_lookup_ratio\": %.3f"
           ",\n    \"flush_0_ns\": %.0f, \"flush_256_ns\": %.0f"
           ", \"flush_512_ns\": %.0f, \"flush_per_entry_ratio\": %.3f}\n",
           m->mutex_pair_ns, m->rcu_section_ns, m->hit_ns[0],
           m->hit_net_pairs[0], m->hit_ns[1], m->hit_net_pairs[1],
           m->hit_2threads_ns, m->hit_2threads_ratio, m->reverse_ns[0],
           m->reverse_ns[1], m->reverse_ratio, m->flush_ns[0],
           m->flush_ns[1], m->flush_ns[2], m->flush_ratio);
}

static void print_json(const BenchResult *results, unsigned n,
                       const BenchMicro *m)
{
    unsigned i;

    printf("{\n  \"limit_bytes\": %" PRIu64 ", \"runs\": %d, "
           "\"quick\": %s,\n  \"workloads\": [\n",
           (uint64_t)BENCH_LIMIT, config.runs,
           config.quick ? "true" : "false");
    for (i = 0; i < n; i++) {
        json_result(&results[i]);
        printf("%s\n", i + 1 < n ? "," : "");
    }
    printf("  ]%s\n", m ? "," : "");
    if (m) {
        json_micro(m);
    }
    printf("}\n");
}

/*
 * main
 */

static const GOptionEntry bench_options[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &config.quick,
      "Small sizes, one run: check the counters agree, nothing timed", NULL },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &config.json,
      "Print the results as JSON", NULL },
    { "workload", 'w', 0, G_OPTION_ARG_STRING, &config.workload,
      "Run only workload NAME (no micro-measurements)", "NAME" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &config.runs,
      "Replays per workload; the median ns/op is printed (5)", "N" },
    { NULL }
};

static bool parse_options(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("");
    g_autoptr(GError) err = NULL;

    g_option_context_set_summary(ctx, "Replay device workloads through "
                                 "the Xen mapcache against the fake "
                                 "hypervisor.");
    g_option_context_add_main_entries(ctx, bench_options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "xen-mapcache-bench: %s\n", err->message);
        return false;
    }
    if (config.quick) {
        config.runs = 1;
    }
    if (config.runs < 1 || config.runs > BENCH_MAX_RUNS) {
        fprintf(stderr, "xen-mapcache-bench: --runs must be 1 to %d\n",
                BENCH_MAX_RUNS);
        return false;
    }
    return true;
}

static const BenchWorkload *find_workload(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(workloads); i++) {
        if (!strcmp(workloads[i].name, name)) {
            return &workloads[i];
        }
    }
    return NULL;
}

/* Returns how many results failed (disagreeing counters, failures). */
static unsigned run_workloads(BenchResult *results, unsigned *n)
{
    unsigned i, bad = 0;

    *n = 0;
    for (i = 0; i < ARRAY_SIZE(workloads); i++) {
        BenchResult *res = &results[*n];

        if (config.workload && strcmp(config.workload, workloads[i].name)) {
            continue;
        }
        workload_run(res, &workloads[i]);
        bad += res->disagreements || res->failures;
        (*n)++;
    }
    return bad;
}

int main(int argc, char **argv)
{
    BenchResult results[ARRAY_SIZE(workloads)];
    BenchMicro micro;
    unsigned n, bad;
    bool with_micro;

    if (!parse_options(argc, argv)) {
        return EXIT_FAILURE;
    }
    if (config.workload && !find_workload(config.workload)) {
        fprintf(stderr, "xen-mapcache-bench: no workload '%s'\n",
                config.workload);
        return EXIT_FAILURE;
    }
    with_micro = !config.workload;
    bad = run_workloads(results, &n);
    if (with_micro) {
        micro_run(&micro);
        bad += micro.failures != 0;
    }
    if (config.json) {
        print_json(results, n, with_micro ? &micro : NULL);
    } else {
        print_table(results, n, with_micro ? &micro : NULL);
    }
    fake_xen_fini();
    if (bad) {
        fprintf(stderr, "xen-mapcache-bench: %u failure%s (see above)\n",
                bad, bad > 1 ? "s" : "");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
