/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: the workloads.  Each is recorded as an
 * array of operations (a trace) from a fixed seed, so that the bound and
 * the replays see the same trace.
 */

#include "qemu/osdep.h"
#include "xen-mapcache-bench.h"

/* Quick mode records 1/QUICK_DIVISOR of each workload's requests. */
#define QUICK_DIVISOR           64

static void trace_init(BenchTrace *t)
{
    t->ops = g_array_new(false, false, sizeof(BenchOp));
    t->outstanding = g_array_new(false, true, sizeof(BenchOp));
}

void trace_destroy(BenchTrace *t)
{
    g_array_free(t->ops, true);
    g_array_free(t->outstanding, true);
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

/*
 * Pin a DMA buffer of @pages pages in [@base, @base + @area) for @slot,
 * placed across a 1 MiB boundary when @cross (then @pages >= 2); the
 * device writes guest memory for half of them.
 */
static void trace_dma(BenchTrace *t, BenchRng *rng, uint32_t slot,
                      hwaddr base, hwaddr area, unsigned pages, bool cross)
{
    hwaddr buf = cross ? crossing_buffer(rng, base, area, pages)
                       : random_buffer(rng, base, area, pages);

    trace_pin(t, slot, ram_request(buf, pages * PAGE_SIZE_4K,
                                   rng_percent(rng, 50)));
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

    trace_read(t, ram_request(AHCI_CMD_TABLES + slot * 256, 128, false));
    trace_dma(t, rng, slot, AHCI_BUF_BASE, AHCI_BUF_AREA, pages, cross);
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
 * A queue whose requests complete in the order issued: request @n is
 * issued by @issue, completed by @complete; @opaque is the device's.
 */
typedef struct InOrderQueue {
    unsigned depth;
    void (*issue)(BenchTrace *t, BenchRng *rng, void *opaque, unsigned n);
    void (*complete)(BenchTrace *t, void *opaque, unsigned n);
} InOrderQueue;

/*
 * @requests requests through @q, @q->depth outstanding: request n is
 * issued right after request n - @q->depth completes.
 */
static void gen_in_order_completion(BenchTrace *t, BenchRng *rng,
                                    unsigned requests,
                                    const InOrderQueue *q, void *opaque)
{
    unsigned n;

    for (n = 0; n < requests; n++) {
        if (n >= q->depth) {
            q->complete(t, opaque, n - q->depth);
        }
        q->issue(t, rng, opaque, n);
    }
    for (n = requests - MIN(requests, q->depth); n < requests; n++) {
        q->complete(t, opaque, n);
    }
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

static void virtio_issue(BenchTrace *t, BenchRng *rng, void *opaque,
                         unsigned n)
{
    hwaddr desc = VIRTIO_RING + (n % VIRTIO_RING_SIZE) * 16;
    hwaddr buf = VIRTIO_BUF_BASE + PAGE_SIZE_4K +
                 ((hwaddr)n * VIRTIO_REQUEST) % VIRTIO_BUF_AREA;

    trace_read(t, ram_request(desc, 16, false));
    trace_pin(t, n % VIRTIO_BLK_DEPTH,
              ram_request(buf, VIRTIO_REQUEST, true));
}

static void virtio_complete(BenchTrace *t, void *opaque, unsigned n)
{
    trace_unpin(t, n % VIRTIO_BLK_DEPTH);
    trace_read(t, ram_request(VIRTIO_STATUS + n % VIRTIO_RING_SIZE, 1,
                              true));
}

static const InOrderQueue virtio_queue = {
    VIRTIO_BLK_DEPTH, virtio_issue, virtio_complete,
};

static void gen_virtio_blk(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    gen_in_order_completion(t, rng, requests, &virtio_queue, NULL);
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

    trace_read(t, ram_request(random_buffer(rng, OVER_BASE, area, 1), 64,
                              false));
    trace_dma(t, rng, slot, OVER_BASE, area, pages, rng_below(rng, 8) == 0);
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

static void grants_issue(BenchTrace *t, BenchRng *rng, void *opaque,
                         unsigned n)
{
    GrantPool *pool = opaque;
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

static void grants_complete(BenchTrace *t, void *opaque, unsigned n)
{
    GrantPool *pool = opaque;
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

static const InOrderQueue grants_queue = {
    GRANTS_DEPTH, grants_issue, grants_complete,
};

static void gen_grants(BenchTrace *t, BenchRng *rng, unsigned requests)
{
    GrantPool pool = { .nfree = GRANTS_POOL };
    unsigned n;

    for (n = 0; n < GRANTS_POOL; n++) {
        pool.free[n] = GRANTS_POOL - 1 - n;
    }
    gen_in_order_completion(t, rng, requests, &grants_queue, &pool);
}

const BenchWorkload bench_workloads[] = {
    { "ahci-ncq", gen_ahci_ncq, 0xa1c1, 20000, TARGET_COMPULSORY },
    { "virtio-blk", gen_virtio_blk, 0x7b1c, 20000, TARGET_COMPULSORY },
    { "lock0-heavy", gen_lock0_heavy, 0x10c0, 100000, TARGET_COMPULSORY },
    { "seed-overlap", gen_seed_overlap, 0x2017, 20000, TARGET_COMPULSORY },
    { "collide", gen_collide, 0xc011, 50000, TARGET_COMPULSORY },
    { "over-limit", gen_over_limit, 0x0fe1, 5000, TARGET_LRU },
    { "grants", gen_grants, 0x6a47, 5000, TARGET_NONE },
};

const unsigned bench_nworkloads = ARRAY_SIZE(bench_workloads);

const BenchWorkload *workload_find(const char *name)
{
    unsigned i;

    for (i = 0; i < bench_nworkloads; i++) {
        if (!strcmp(bench_workloads[i].name, name)) {
            return &bench_workloads[i];
        }
    }
    return NULL;
}

void workload_record(BenchTrace *t, const BenchWorkload *w, bool quick)
{
    BenchRng rng = { .state = w->seed };

    trace_init(t);
    w->generate(t, &rng, quick ? w->requests / QUICK_DIVISOR : w->requests);
}
