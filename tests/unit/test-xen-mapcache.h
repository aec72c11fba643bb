/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Helpers shared by the Xen mapcache's tests: set up and tear down a
 * mapcache against the fake hypervisor, map and unmap as QEMU's callers
 * do, check what a pointer shows, and run code as an IOThread does.
 *
 * The test's thread is QEMU's main loop: it holds the BQL from setup() to
 * teardown() but while it waits (drain_call_rcu() drops it, and so does
 * main_loop_iteration()).  teardown() checks that the fake has no range
 * left mapped and saw no bad unmap, and that the RAM block notifiers saw
 * every registration removed and no call from where they may not run.
 */

#ifndef TEST_XEN_MAPCACHE_H
#define TEST_XEN_MAPCACHE_H

#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "block/aio.h"
#include "exec/memory.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-fake-xen.h"
#include "test-xen-mapcache-stubs.h"

/* The stand-in spells QEMU's util/async.c function with its own prefix. */
#ifdef XEN_MAPCACHE_STANDALONE
#define qemu_set_current_aio_context qemu_standin_set_current_aio_context
#endif

/* The mapcache's own bucket size and cap (sysemu/xen-mapcache.h). */
#define BUCKET_SHIFT XEN_MAPCACHE_BUCKET_SHIFT
#define BUCKET_SIZE XEN_MAPCACHE_BUCKET_SIZE
#define FRAME_SIZE ((hwaddr)FAKE_XEN_PAGE_SIZE)
#define BUCKET_FRAMES (BUCKET_SIZE / FRAME_SIZE)
/* The largest mapping, and the largest limit, on this host. */
#define MAPCACHE_TEST_MAX_SIZE ((size_t)XEN_MAPCACHE_MAX_SIZE)
/* Upstream's default cache size; its table had one head per bucket of it. */
#define UPSTREAM_CACHE_SIZE MAPCACHE_TEST_MAX_SIZE

/* Sparse: only the frames that get mapped cost memory. */
#define RAM_BYTES (64 * GiB)
#define GRANT_FRAMES 64
/* The grant region's RAM block comes after guest RAM, as in QEMU. */
#define GRANTS_RAM_OFFSET RAM_BYTES

/* Large enough for every test that is not about the limit. */
#define LIMIT_DEFAULT ((size_t)256 * MiB)
#define LIMIT_SMALL ((size_t)8 * BUCKET_SIZE)

/* How long a thread waits for the other one before calling it blocked. */
#define HANDSHAKE_TIMEOUT_US (10 * G_USEC_PER_SEC)

#define DELTA(after, before, field) ((after).field - (before).field)

static inline FakeXenStats fake_stats(void)
{
    FakeXenStats stats;

    fake_xen_get_stats(&stats);
    return stats;
}

static inline XenMapCacheStats cache_stats(XenMapCacheKind kind)
{
    XenMapCacheStats stats;

    g_assert_true(xen_map_cache_get_stats(kind, &stats));
    return stats;
}

static inline XenMapCacheStats ram_stats(void)
{
    return cache_stats(XEN_MAPCACHE_RAM);
}

static inline XenMapCacheTestCounts notify_counts(void)
{
    XenMapCacheTestCounts counts;

    xen_mapcache_test_get_counts(&counts);
    return counts;
}

/* Calls of the RAM block notifiers that broke their rules, reported. */
static inline uint64_t notify_errors(void)
{
    XenMapCacheTestNotifyCheck check;

    xen_mapcache_test_notify_check(&check);
    if (check.errors) {
        g_autofree char *report = xen_mapcache_test_notify_report();

        g_test_message("%s", report);
    }
    return check.errors;
}

static inline void setup_with_limit(size_t limit)
{
    bql_lock();
    fake_xen_init(RAM_BYTES, GRANT_FRAMES);
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    xen_mapcache_test_notify_reset();
    xen_map_cache_init_limit(NULL, NULL, limit, &error_abort);
}

static inline void setup(void)
{
    setup_with_limit(LIMIT_DEFAULT);
}

static inline void teardown(void)
{
    XenMapCacheTestNotifyCheck check;
    FakeXenStats fs;

    xen_map_cache_fini();
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);

    fs = fake_stats();
    g_assert_cmpuint(fs.live_ranges, ==, 0);
    g_assert_cmpuint(fs.live_pages, ==, 0);
    g_assert_cmpuint(fs.violations, ==, 0);
    g_assert_cmpuint(fs.bad_unmaps, ==, 0);
    g_assert_cmpuint(notify_errors(), ==, 0);
    xen_mapcache_test_notify_check(&check);
    g_assert_cmpuint(check.live, ==, 0);
    fake_xen_fini();
    bql_unlock();
}

static inline hwaddr bucket(uint64_t index)
{
    return index << BUCKET_SHIFT;
}

/* A short-lived access, as qemu_map_ram_ptr() makes it. */
static inline uint8_t *map0(hwaddr addr, hwaddr size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         0, false, false);
}

/* A DMA mapping, as address_space_map() makes it. */
static inline uint8_t *map1(hwaddr addr, hwaddr size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         1, true, true);
}

static inline hwaddr grant_addr(uint64_t ref)
{
    return GRANTS_RAM_OFFSET + ref * FRAME_SIZE;
}

/* DMA on a grant reference, as address_space_map() makes it. */
static inline uint8_t *map_grant(uint64_t ref, hwaddr offset, hwaddr size,
                                 bool is_write)
{
    return xen_map_cache(&xen_mapcache_test_grants_mr,
                         grant_addr(ref) + offset, size, GRANTS_RAM_OFFSET,
                         1, true, is_write);
}

static inline void unmap(uint8_t *p)
{
    xen_invalidate_map_cache_entry(p);
}

/* Does @p show @len bytes of guest RAM from @gaddr? */
static inline void check_bytes(const uint8_t *p, hwaddr gaddr, size_t len)
{
    g_assert_nonnull(p);
    g_assert_cmpuint(fake_xen_check_ram(p, gaddr, len), ==, 0);
}

/* Does @p show @frames granted frames from @ref on? */
static inline void check_grant_bytes(const uint8_t *p, uint64_t ref,
                                     size_t frames)
{
    g_assert_nonnull(p);
    g_assert_cmpuint(fake_xen_check_grant(p, ref, frames * FRAME_SIZE), ==, 0);
}

/*
 * Let every grace period the cache waits for end.  An entry handed out
 * while the cache's grace-period callback was queued needs the next one,
 * which that callback queues when it runs, after drain_call_rcu() began:
 * hence two.
 */
static inline void pass_grace_periods(void)
{
    drain_call_rcu();
    drain_call_rcu();
}

/*
 * The mapcache remembers, per slot of bucket indexes, the entry that last
 * served there, and tries it before walking the chain.  Mapping the
 * RECENT_SWEEP buckets after @index takes every slot, whatever their
 * number (up to RECENT_SWEEP), so that the next request at @index walks
 * its chain.  Needs a limit of LIMIT_DEFAULT * 2, so that nothing is
 * evicted meanwhile.
 */
#define RECENT_SWEEP 256
QEMU_BUILD_BUG_ON((RECENT_SWEEP + 4) * BUCKET_SIZE > LIMIT_DEFAULT * 2);

static inline void forget_recent(uint64_t index)
{
    unsigned i;

    for (i = 1; i <= RECENT_SWEEP; i++) {
        g_assert_nonnull(map0(bucket(index + i), 16));
    }
}

/* Run the main loop's bottom halves until none is left. */
static inline void run_main_loop(void)
{
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* again */
    }
}

/*
 * One iteration of QEMU's main loop, whose thread this is: wait for
 * events without the BQL, then run the bottom halves with it.
 */
static inline void main_loop_iteration(void)
{
    bql_unlock();
    g_usleep(50);
    bql_lock();
    run_main_loop();
}

/*
 * An IOThread: runs @fn in a thread of its own, which never takes the
 * BQL (so qemu_in_main_thread() is false there), with an AioContext of
 * its own; the calling thread runs the main loop meanwhile.
 */
typedef struct IOThreadRun {
    void (*fn)(void *opaque);
    void *opaque;
    AioContext *ctx;
    bool done;
} IOThreadRun;

static inline void *iothread_main(void *opaque)
{
    IOThreadRun *run = opaque;

    rcu_register_thread();
    qemu_set_current_aio_context(run->ctx);
    run->fn(run->opaque);
    rcu_unregister_thread();
    qatomic_store_release(&run->done, true);
    return NULL;
}

static inline void run_in_iothread(void (*fn)(void *opaque), void *opaque)
{
    IOThreadRun run = { .fn = fn, .opaque = opaque };
    QemuThread thread;

    run.ctx = aio_context_new(&error_abort);
    qemu_thread_create(&thread, "iothread", iothread_main, &run,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&run.done)) {
        main_loop_iteration();
    }
    qemu_thread_join(&thread);
    aio_context_unref(run.ctx);
}

#endif /* TEST_XEN_MAPCACHE_H */
