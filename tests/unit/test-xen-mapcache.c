/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Unit tests of the Xen mapcache (hw/xen/xen-mapcache.c), through its
 * public API, against a fake hypervisor whose guest frames hold a pattern
 * derived from their address: a pointer that shows the wrong guest memory
 * is caught by value (test-xen-mapcache-fake-xen.h).  The RAM block
 * notifier stubs play the block layer's RAM registrar: a call made where
 * qemu_in_main_thread() is false, or in a coroutine, is an error, as
 * blk_register_buf() asserts it is.
 *
 * Each test checks what a caller relies on: the bytes behind a pointer,
 * what stays mapped, reverse lookups, notifier registrations.  Counters
 * are read only where they are the behaviour: the map calls that the
 * cache exists to save.  Each test says which bug it catches.
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "qemu/coroutine.h"
#include "test-xen-mapcache.h"

/*
 * Overlapping DMA
 */

typedef struct DmaOverlapCase {
    const char *create;     /* the order of the requests A, B, C */
    const char *release;    /* the order of their invalidations */
    bool slow;              /* registered with -m slow only */
} DmaOverlapCase;

static const DmaOverlapCase dma_overlap_cases[] = {
    { "ABC", "ABC" }, { "ABC", "CBA" }, { "BAC", "ACB" }, { "BAC", "CBA" },
    { "ABC", "ACB", true }, { "ABC", "BAC", true }, { "ABC", "BCA", true },
    { "ABC", "CAB", true }, { "BAC", "ABC", true }, { "BAC", "BAC", true },
    { "BAC", "BCA", true }, { "BAC", "CAB", true },
};

typedef struct Dma {
    hwaddr addr;
    hwaddr size;
    uint8_t *p;
    bool held;
} Dma;

/* Every DMA still in flight is mapped, shows its bytes, maps back. */
static void dma_check_held(const Dma *dma, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        if (dma[i].held) {
            g_assert_true(fake_xen_is_live(dma[i].p, dma[i].size));
            check_bytes(dma[i].p, dma[i].addr, dma[i].size);
            g_assert_cmphex(xen_ram_addr_from_mapcache(dma[i].p), ==,
                            dma[i].addr);
        }
    }
}

/*
 * The 2017 overlapping DMA case (QEMU commit "xen-mapcache: Fix the bug
 * when overlapping emulated DMA operations may cause inconsistency in guest
 * memory mappings"): A is 512 bytes across a bucket boundary (a 2-bucket
 * mapping), B and C lie in the first bucket; all three are in flight at
 * once and complete in every order.  With B created first, B's 1-bucket
 * entry and A's 2-bucket entry share one chain.
 *
 * Catches: an invalidation that finds its entry by bucket index only (not
 * by the exact pointer) and unpins the wrong entry, or any pin-count
 * mistake that leaves an entry unpinned while a DMA still uses it.  After
 * each completion a larger request at the index and a flush drop whatever
 * is unpinned and drain_call_rcu() lets the unmaps run: a wrongly
 * unpinned entry is then gone, and fake_xen_is_live() on the DMA still in
 * flight fails.  A leaked pin leaves a range mapped at teardown.
 */
static void test_dma_overlap(gconstpointer opaque)
{
    const DmaOverlapCase *c = opaque;
    hwaddr base = bucket(16);
    Dma dma[3] = {
        { .addr = base + BUCKET_SIZE - 256, .size = 512 },  /* A */
        { .addr = base + 0x1000, .size = 0x2000 },          /* B */
        { .addr = base + 0x2000, .size = 0x2000 },          /* C */
    };
    unsigned i;

    setup();
    for (i = 0; i < 3; i++) {
        Dma *d = &dma[c->create[i] - 'A'];

        d->p = map1(d->addr, d->size);
        check_bytes(d->p, d->addr, d->size);
        d->held = true;
    }
    dma_check_held(dma, 3);

    for (i = 0; i < 3; i++) {
        Dma *d = &dma[c->release[i] - 'A'];

        unmap(d->p);
        d->held = false;
        g_assert_cmphex(xen_ram_addr_from_mapcache(d->p), ==,
                        RAM_ADDR_INVALID);
        g_assert_nonnull(map0(base, 3 * BUCKET_SIZE));
        xen_invalidate_map_cache();
        drain_call_rcu();
        dma_check_held(dma, 3);
    }
    teardown();
}

/*
 * A lock0 reader against a recycle
 */

#define READER_BASE bucket(32)

typedef struct ReaderRun {
    hwaddr addr;
    uint8_t *p;             /* the reader's pointer */
    bool holding;           /* reader -> writer: pointer taken */
    bool recycled;          /* writer -> reader: its entry replaced */
    /* Results, read after the join. */
    bool writer_blocked;
    bool live_after;
    size_t wrong_after;
} ReaderRun;

static void *reader_thread(void *opaque)
{
    ReaderRun *r = opaque;
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;

    rcu_register_thread();
    rcu_read_lock();
    r->p = map0(r->addr, FRAME_SIZE);
    qatomic_store_release(&r->holding, true);

    /* Inside the read section, wait for the writer to recycle. */
    while (!qatomic_load_acquire(&r->recycled)) {
        if (g_get_monotonic_time() > deadline) {
            r->writer_blocked = true;
            break;
        }
        g_usleep(100);
    }
    if (r->p) {
        r->live_after = fake_xen_is_live(r->p, FRAME_SIZE);
        if (r->live_after) {
            r->wrong_after = fake_xen_check_ram(r->p, r->addr, FRAME_SIZE);
        }
    }
    rcu_read_unlock();
    rcu_unregister_thread();
    return NULL;
}

/*
 * A lock0 pointer held inside rcu_read_lock() by one thread while the
 * main loop makes a larger entry at its bucket index, which replaces the
 * reader's 1-bucket entry.
 *
 * Catches: a mapcache that munmaps, remaps in place (MAP_FIXED) or hands
 * the range out again without waiting for the readers, as upstream does:
 * the reader's range is no longer mapped, or shows other frames.  Also
 * catches a grace-period wait (synchronize_rcu()) on the writer's path:
 * the writer blocks on the reader, which waits for the writer; the reader
 * gives up after HANDSHAKE_TIMEOUT_US and the test fails on
 * writer_blocked.  Once the reader is gone, the old range is unmapped:
 * the entry was replaced, not kept.
 */
static void test_lock0_reader_vs_recycle(void)
{
    ReaderRun run = { .addr = READER_BASE + 0x4000 };
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;
    QemuThread thread;
    hwaddr across = READER_BASE + BUCKET_SIZE - 256;

    setup();
    qemu_thread_create(&thread, "mapcache-reader", reader_thread, &run,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&run.holding)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }
    check_bytes(map0(across, 512), across, 512);
    qatomic_store_release(&run.recycled, true);
    qemu_thread_join(&thread);

    g_assert_nonnull(run.p);
    g_assert_false(run.writer_blocked);
    g_assert_true(run.live_after);
    g_assert_cmpuint(run.wrong_after, ==, 0);
    pass_grace_periods();
    g_assert_false(fake_xen_is_live(run.p, FRAME_SIZE));
    teardown();
}

/*
 * Reuse: the map calls the cache exists to save
 */

/*
 * A lock0 and a lock1 request served by a pinned entry that is not the
 * chain head.  E1 (1 bucket, pinned) is made first; E2 (2 buckets, pinned,
 * the new chain head) next; E2 is then unpinned and stays cached.  A
 * 1-bucket lock0 and a lock1 request at the index are served by E1.
 *
 * Catches: a lookup that stops at the first unpinned entry of the chain
 * and only takes an entry of exactly the size needed (upstream 9.2): it
 * stops at E2, sees the wrong size and remaps it, so the fake sees a map
 * call; a lookup that takes E2 returns a pointer into E2, not E1.
 */
static void test_reuse_beyond_head(void)
{
    hwaddr base = bucket(48);
    FakeXenStats before;
    uint8_t *e1, *e2, *p, *q;

    setup_with_limit(LIMIT_DEFAULT * 2);
    e1 = map1(base, FRAME_SIZE);
    e2 = map1(base + BUCKET_SIZE - 256, 512);
    check_bytes(e1, base, FRAME_SIZE);
    check_bytes(e2, base + BUCKET_SIZE - 256, 512);
    unmap(e2);
    /*
     * Accesses elsewhere in between, as a guest makes them: the requests
     * below then walk the chain instead of taking the entry that served
     * there last (E2) from the recent slot.
     */
    forget_recent(48);

    before = fake_stats();
    p = map0(base, 0);
    q = map1(base + 0x3000, FRAME_SIZE);
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 0);
    g_assert_true(p == e1);
    g_assert_true(q == e1 + 0x3000);
    check_bytes(p, base, BUCKET_SIZE);
    unmap(q);
    unmap(e1);
    teardown();
}

/*
 * lock0 of one bucket and lock1 of two buckets (across the boundary)
 * alternating at one index, the lock1 mapping invalidated each time.
 *
 * Catches: a lookup that only reuses an entry of exactly the size needed,
 * or that stops at the first unpinned entry (QEMU 9.2): it remaps the
 * entry back and forth, two map calls per round, where the rewrite maps
 * twice in all (the 1-bucket entry, then the 2-bucket one that serves both
 * sizes from then on).
 */
static void test_reuse_size_ping_pong(void)
{
    hwaddr base = bucket(64), across = base + BUCKET_SIZE - 256;
    FakeXenStats before;
    uint8_t *p;
    int i;

    setup();
    before = fake_stats();
    for (i = 0; i < 1000; i++) {
        check_bytes(map0(base, 0), base, 64);
        p = map1(across, 512);
        check_bytes(p, across, 512);
        unmap(p);
    }
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), <=, 2);
    teardown();
}

/*
 * Addresses a cache size apart (upstream's 32 GiB, and the limit set
 * here) shared one slot of upstream's table, whose head was remapped from
 * one to the other.  With the working set well within the limit, they must
 * map once each and then stay.
 *
 * Catches: a table indexed by bucket index modulo a cache size, whose
 * colliding entries evict or remap each other: map calls grow with the
 * rounds instead of staying at 3.
 */
static void test_reuse_collisions(void)
{
    const hwaddr addrs[] = {
        bucket(80), bucket(80) + UPSTREAM_CACHE_SIZE,
        bucket(80) + LIMIT_DEFAULT,
    };
    FakeXenStats before;
    size_t i;
    int round;

    setup();
    before = fake_stats();
    for (round = 0; round < 100; round++) {
        for (i = 0; i < ARRAY_SIZE(addrs); i++) {
            check_bytes(map0(addrs[i] + 0x40, 64), addrs[i] + 0x40, 64);
        }
    }
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==,
                     ARRAY_SIZE(addrs));
    teardown();
}

/*
 * Reverse lookups
 */

#define REVERSE_PER_BUCKET 256

static hwaddr reverse_pin_addr(unsigned k)
{
    return bucket(40 + k / REVERSE_PER_BUCKET) +
           (k % REVERSE_PER_BUCKET) * (BUCKET_SIZE / REVERSE_PER_BUCKET);
}

/*
 * With @n pointers pinned, each maps back to its address and an unknown
 * pointer to none; returns the chain steps that the lookups of the oldest
 * and newest pins, of an unknown pointer, and an invalidation cost.
 */
static uint64_t reverse_lookup_steps(unsigned n)
{
    g_autofree uint8_t **pins = g_new0(uint8_t *, n);
    XenMapCacheStats before;
    uint8_t unknown;
    uint64_t steps;
    unsigned k;

    setup();
    for (k = 0; k < n; k++) {
        pins[k] = map1(reverse_pin_addr(k), 16);
        check_bytes(pins[k], reverse_pin_addr(k), 16);
    }
    for (k = 0; k < n; k++) {
        g_assert_cmphex(xen_ram_addr_from_mapcache(pins[k]), ==,
                        reverse_pin_addr(k));
    }

    before = ram_stats();
    xen_ram_addr_from_mapcache(pins[0]);
    xen_ram_addr_from_mapcache(pins[n - 1]);
    g_assert_cmphex(xen_ram_addr_from_mapcache(&unknown), ==,
                    RAM_ADDR_INVALID);
    unmap(pins[0]);
    steps = DELTA(ram_stats(), before, chain_steps);

    g_assert_cmphex(xen_ram_addr_from_mapcache(pins[0]), ==,
                    RAM_ADDR_INVALID);
    for (k = 1; k < n; k++) {
        unmap(pins[k]);
    }
    teardown();
    return steps;
}

/*
 * Reverse lookups and invalidations cost the same with 1 and with 1024
 * pinned pointers.
 *
 * Catches: a reverse lookup that walks every entry and its list of pins
 * (upstream): its steps grow with the pins.
 */
static void test_reverse_1_vs_1024(void)
{
    g_assert_cmpuint(reverse_lookup_steps(1024), ==, reverse_lookup_steps(1));
}

/*
 * Grants
 */

/*
 * The granting domain ends foreign access as soon as the request
 * completes (Linux's xen_grant_dma_unmap_page()): the grant must be
 * unmapped, and its notifier registration removed, before the last
 * xen_invalidate_map_cache_entry() returns.  An earlier pin keeps it.
 *
 * Catches: a grant released behind a grace period or by the LRU, as RAM
 * is: fake_xen_end_foreign_access() then fails, as Linux's does, which
 * disables the reference and breaks the device.
 */
static void test_grants_contract(void)
{
    uint8_t *p, *p2;

    setup();
    p = map_grant(7, 0, 2 * FRAME_SIZE, true);
    p2 = map_grant(7, 0x10, 16, true);
    g_assert_true(p2 == p + 0x10);
    check_grant_bytes(p, 7, 2);
    g_assert_true(xen_mapcache_test_notify_is_live(p, 2 * FRAME_SIZE));
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, grant_addr(7));

    unmap(p);
    check_grant_bytes(p, 7, 2);
    g_assert_true(xen_mapcache_test_notify_is_live(p, 2 * FRAME_SIZE));

    unmap(p2);
    g_assert_false(xen_mapcache_test_notify_is_live(p, 1));
    g_assert_true(fake_xen_end_foreign_access(7));
    g_assert_true(fake_xen_end_foreign_access(8));
    teardown();
}

/*
 * Incoming migration
 */

/*
 * A block whose frames the guest has not populated yet (its ram_addr is
 * all holes) gets a dummy mapping; once the guest placed it,
 * xen_replace_cache_entry() puts the real frames under the same pointer,
 * as xen_add_to_physmap() needs for VRAM.
 *
 * Catches: a replace that maps the frames elsewhere (the device model
 * keeps the old pointer), that leaves the dummy's anonymous memory in
 * place, or that does not announce the new mapping to the notifiers.
 */
static void test_migration_replace(void)
{
    hwaddr old = bucket(200), new = bucket(300), size = 2 * BUCKET_SIZE;
    uint8_t *p;

    setup();
    fake_xen_set_hole(old / FRAME_SIZE, size / FRAME_SIZE, true);
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    p = xen_map_cache(&xen_mapcache_test_other_mr, old, size, old,
                      1, false, true);
    g_assert_nonnull(p);
    g_assert_false(fake_xen_is_live(p, size));

    g_assert_true(xen_replace_cache_entry(old, new, size) == p);
    check_bytes(p, new, size);
    g_assert_true(fake_xen_is_live(p, size));
    g_assert_true(xen_mapcache_test_notify_is_live(p, size));
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, old);
    unmap(p);
    teardown();
}

/*
 * A hole touched during incoming migration gets a dummy; once migration
 * has ended the same guest address shows the real frames, pinned or not.
 *
 * Catches: a dummy that keeps serving after RUN_STATE_INMIGRATE (an
 * earlier version of this cache served zeros from it).
 */
static void test_migration_dummy_after_end(void)
{
    hwaddr pinned = bucket(50) + 0x100, unpinned = bucket(51) + 0x100;
    uint8_t *p;

    setup_with_limit(LIMIT_SMALL);
    fake_xen_set_hole(bucket(50) / FRAME_SIZE, 2 * BUCKET_FRAMES, true);
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    p = map1(pinned, FRAME_SIZE);
    g_assert_nonnull(p);
    unmap(p);
    g_assert_nonnull(map0(unpinned, 64));
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    fake_xen_set_hole(bucket(50) / FRAME_SIZE, 2 * BUCKET_FRAMES, false);

    p = map1(pinned, FRAME_SIZE);
    check_bytes(p, pinned, FRAME_SIZE);
    unmap(p);
    check_bytes(map0(unpinned, 64), unpinned, 64);
    teardown();
}

/*
 * The kernel out of address space
 */

/*
 * One ENOMEM from the map call, with nothing that may be unmapped (every
 * unpinned entry was handed out within the current grace period, and one
 * is pinned): the mapping is retried once all the same, and served; what
 * the cache holds is untouched.
 *
 * Catches: a cache that gives up (NULL, or exit) at the first ENOMEM when
 * it has nothing to evict; one that evicts a pinned or unread entry.
 */
static void test_enomem_retried(void)
{
    hwaddr pinned_addr = bucket(99) + 0x40;
    uint8_t *p, *pinned;
    int i;

    setup();
    for (i = 0; i < 32; i++) {
        g_assert_nonnull(map0(bucket(100 + i), 0));
    }
    pinned = map1(pinned_addr, 64);
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    p = map0(bucket(200) + 0x10, 64);
    check_bytes(p, bucket(200) + 0x10, 64);
    g_assert_cmpuint(fake_stats().failures_injected, ==, 1);
    g_assert_cmpuint(fake_stats().unmap_calls, ==, 0);
    check_bytes(pinned, pinned_addr, 64);
    unmap(pinned);
    teardown();
}

/*
 * ENOMEM twice (the first failure and its retry): QEMU exits, saying
 * which mapping failed, its size and why.
 */
static void test_enomem_twice_fatal(void)
{
    g_autofree char *expected = NULL;

    if (g_test_subprocess()) {
        setup();
        fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 2, ENOMEM);
        map0(bucket(53), 2 * BUCKET_SIZE);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    expected = g_strdup_printf("*0x%" PRIx64 "*0x%" PRIx64 "*%s*",
                               bucket(53), 2 * BUCKET_SIZE,
                               g_strerror(ENOMEM));
    g_test_trap_assert_stderr(expected);
}

/*
 * Threads: the RAM block notifiers run in the main loop only
 */

typedef struct Maps {
    hwaddr addr[3];
    uint8_t *p[3];
    int n;
    bool done;
} Maps;

static void map_and_unmap(void *opaque)
{
    Maps *m = opaque;
    int i;

    for (i = 0; i < m->n; i++) {
        m->p[i] = map1(m->addr[i], FRAME_SIZE);
        check_bytes(m->p[i], m->addr[i], FRAME_SIZE);
        unmap(m->p[i]);
    }
}

/*
 * Misses and evictions in an IOThread, with a limit of 2 buckets, reach
 * the RAM block notifiers from the main loop: each registration is
 * removed once, and nothing piles up.
 *
 * Catches: ram_block_notify_add() or _remove() called in the IOThread
 * (upstream, and an earlier version of this cache), where virtio-blk's
 * RAM registrar aborts QEMU: the stubs record an error.
 */
static void test_threads_iothread_notifiers(void)
{
    Maps first = { .addr = { bucket(10) }, .n = 1 };
    Maps more = { { bucket(20), bucket(21), bucket(22) }, .n = 3 };

    setup_with_limit(2 * BUCKET_SIZE);
    run_in_iothread(map_and_unmap, &first);
    run_main_loop();
    g_assert_true(xen_mapcache_test_notify_is_live(first.p[0], FRAME_SIZE));
    run_in_iothread(map_and_unmap, &more);
    run_main_loop();
    g_assert_cmpuint(xen_mapcache_test_notify_count(0, false, first.p[0],
                                                    BUCKET_SIZE), ==, 1);
    g_assert_cmpuint(fake_stats().peak_live_pages * FRAME_SIZE, <=,
                     3 * BUCKET_SIZE);
    g_assert_cmpuint(notify_errors(), ==, 0);
    teardown();
}

static void coroutine_fn coroutine_map_and_unmap(void *opaque)
{
    Maps *m = opaque;

    map_and_unmap(m);
    m->done = true;
}

static void run_coroutine(void *opaque)
{
    Maps *m = opaque;

    qemu_coroutine_enter(qemu_coroutine_create(coroutine_map_and_unmap, m));
    while (!m->done) {
        aio_poll(qemu_get_current_aio_context(), true);
    }
}

/*
 * The same from coroutines, of the main loop and of an IOThread: misses
 * announce from the main loop, and an unpin bounces there.
 *
 * Catches: a notifier called in a coroutine, even in the main thread
 * (the registrar's GLOBAL_STATE_CODE() forbids it).
 */
static void test_threads_coroutine_notifiers(void)
{
    Maps main_co = { { bucket(30), bucket(31), bucket(32) }, .n = 3 };
    Maps io_co = { { bucket(40), bucket(41), bucket(42) }, .n = 3 };

    setup();
    run_coroutine(&main_co);
    run_main_loop();
    run_in_iothread(run_coroutine, &io_co);
    run_main_loop();
    g_assert_true(xen_mapcache_test_notify_is_live(io_co.p[2], FRAME_SIZE));
    g_assert_cmpuint(notify_errors(), ==, 0);
    teardown();
}

/*
 * The size option under RLIMIT_AS
 */

/*
 * The limit a user gives combines with RLIMIT_AS: the soft limit is
 * raised to the hard one, and the cache keeps the smaller of the option
 * and what the hard limit leaves.  As an unprivileged user, whose limits
 * the test sets before dropping its uid.
 *
 * Catches: a cache that keeps the option past the hard limit (the first
 * burst of DMA then fails with ENOMEM), or that leaves the soft limit low.
 */
static void option_under_rlimit(rlim_t soft, rlim_t hard, size_t option,
                                size_t expected)
{
    struct rlimit limit = { .rlim_cur = soft, .rlim_max = hard };
    struct rlimit after;

    if (g_test_subprocess()) {
        g_assert_cmpint(setrlimit(RLIMIT_AS, &limit), ==, 0);
        g_assert_cmpint(setresgid(65534, 65534, 65534), ==, 0);
        g_assert_cmpint(setresuid(65534, 65534, 65534), ==, 0);
        bql_lock();
        fake_xen_init(RAM_BYTES, 0);
        g_assert_true(xen_map_cache_init_limit(NULL, NULL, option,
                                               &error_abort));
        getrlimit(RLIMIT_AS, &after);
        g_assert_cmpuint(after.rlim_cur, ==, hard);
        g_assert_cmpuint(ram_stats().limit_bytes, ==, expected);
        xen_map_cache_fini();
        bql_unlock();
        return;
    }
    if (geteuid() != 0) {
        g_test_skip("dropping to an unprivileged user needs root");
        return;
    }
#if defined(QEMU_SANITIZE_ADDRESS) || defined(QEMU_SANITIZE_THREAD)
    g_test_skip("a sanitizer's shadow memory does not fit RLIMIT_AS");
    return;
#endif
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

static void test_option_raises_soft_limit(void)
{
    option_under_rlimit(3 * GiB, RLIM_INFINITY, 16 * GiB,
                        MIN(16 * GiB, XEN_MAPCACHE_MAX_SIZE));
}

static void test_option_within_hard_limit(void)
{
    option_under_rlimit(1 * GiB, 1 * GiB, 16 * GiB, 1 * GiB - 80 * MiB);
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    for (i = 0; i < ARRAY_SIZE(dma_overlap_cases); i++) {
        const DmaOverlapCase *c = &dma_overlap_cases[i];
        g_autofree char *path =
            g_strdup_printf("/xen-mapcache/dma/overlap/%s-%s",
                            c->create, c->release);

        if (!c->slow || g_test_slow()) {
            g_test_add_data_func(path, c, test_dma_overlap);
        }
    }
    g_test_add_func("/xen-mapcache/lock0/reader-vs-recycle",
                    test_lock0_reader_vs_recycle);
    g_test_add_func("/xen-mapcache/reuse/beyond-head",
                    test_reuse_beyond_head);
    g_test_add_func("/xen-mapcache/reuse/size-ping-pong",
                    test_reuse_size_ping_pong);
    g_test_add_func("/xen-mapcache/reuse/collisions", test_reuse_collisions);
    g_test_add_func("/xen-mapcache/reverse/1-vs-1024",
                    test_reverse_1_vs_1024);
    g_test_add_func("/xen-mapcache/grants/contract", test_grants_contract);
    g_test_add_func("/xen-mapcache/migration/replace",
                    test_migration_replace);
    g_test_add_func("/xen-mapcache/migration/dummy-after-end",
                    test_migration_dummy_after_end);
    g_test_add_func("/xen-mapcache/enomem/retried", test_enomem_retried);
    g_test_add_func("/xen-mapcache/enomem/twice-fatal",
                    test_enomem_twice_fatal);
    g_test_add_func("/xen-mapcache/threads/iothread-notifiers",
                    test_threads_iothread_notifiers);
    g_test_add_func("/xen-mapcache/threads/coroutine-notifiers",
                    test_threads_coroutine_notifiers);
    g_test_add_func("/xen-mapcache/max-size/option-raises-soft-limit",
                    test_option_raises_soft_limit);
    g_test_add_func("/xen-mapcache/max-size/option-within-hard-limit",
                    test_option_within_hard_limit);
    return g_test_run();
}
