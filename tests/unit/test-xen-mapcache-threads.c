/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Tests of the Xen mapcache from where QEMU calls it: an IOThread, a
 * coroutine, a DMA request inside a read section that no grace period
 * ends, incoming migration, and the limit's options under RLIMIT_AS.
 *
 * The RAM block notifier stubs play the block layer's RAM registrar: a
 * call made where qemu_in_main_thread() is false, or in a coroutine, is an
 * error, as blk_register_buf() asserts it is (GLOBAL_STATE_CODE()).
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "qemu/atomic.h"
#include "qemu/coroutine.h"
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

#ifndef XEN_MAPCACHE_BUCKET_SHIFT
#define XEN_MAPCACHE_BUCKET_SHIFT (HOST_LONG_BITS == 32 ? 16 : 20)
#endif
#define BUCKET_SIZE ((hwaddr)1 << XEN_MAPCACHE_BUCKET_SHIFT)
#define FRAME_SIZE ((hwaddr)FAKE_XEN_PAGE_SIZE)
#define RAM_BYTES (64 * GiB)
#define LIMIT_BUCKETS 8

static hwaddr bucket(uint64_t index)
{
    return index * BUCKET_SIZE;
}

static uint8_t *map0(hwaddr addr, hwaddr size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         0, false, false);
}

static uint8_t *map1(hwaddr addr, hwaddr size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         1, true, true);
}

static void check_bytes(const uint8_t *p, hwaddr gaddr, size_t len)
{
    g_assert_nonnull(p);
    g_assert_cmpuint(fake_xen_check_ram(p, gaddr, len), ==, 0);
}

static FakeXenStats fake_stats(void)
{
    FakeXenStats stats;

    fake_xen_get_stats(&stats);
    return stats;
}

static XenMapCacheStats ram_stats(void)
{
    XenMapCacheStats stats;

    g_assert_true(xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &stats));
    return stats;
}

static uint64_t notify_errors(void)
{
    XenMapCacheTestNotifyCheck check;

    xen_mapcache_test_notify_check(&check);
    if (check.errors) {
        g_autofree char *report = xen_mapcache_test_notify_report();

        g_test_message("%s", report);
    }
    return check.errors;
}

static void setup_buckets(unsigned buckets)
{
    fake_xen_init(RAM_BYTES, 0);
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    xen_mapcache_test_notify_reset();
    xen_map_cache_init_limit(NULL, NULL, buckets * BUCKET_SIZE,
                             &error_abort);
}

static void teardown(void)
{
    FakeXenStats fs;

    xen_map_cache_fini();
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    fs = fake_stats();
    g_assert_cmpuint(fs.live_ranges, ==, 0);
    g_assert_cmpuint(fs.bad_unmaps, ==, 0);
    g_assert_cmpuint(fs.violations, ==, 0);
    g_assert_cmpuint(notify_errors(), ==, 0);
    fake_xen_fini();
}

/* Run the main loop's bottom halves until none is left. */
static void run_main_loop(void)
{
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* again */
    }
}

/*
 * An IOThread: runs @fn in a thread of its own, where
 * qemu_in_main_thread() is false, with an AioContext of its own; the
 * calling thread runs the main loop meanwhile.
 */
typedef struct IOThreadRun {
    void (*fn)(void *opaque);
    void *opaque;
    AioContext *ctx;
    bool done;
} IOThreadRun;

/* Makes the main loop's aio_poll() return. */
static void wake_main_loop(void *opaque)
{
}

static void *iothread_main(void *opaque)
{
    IOThreadRun *run = opaque;

    rcu_register_thread();
    xen_mapcache_test_set_in_main_thread(false);
    qemu_standin_set_current_aio_context(run->ctx);
    run->fn(run->opaque);
    rcu_unregister_thread();
    qatomic_store_release(&run->done, true);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), wake_main_loop, NULL);
    return NULL;
}

static void run_in_iothread(void (*fn)(void *opaque), void *opaque)
{
    IOThreadRun run = { .fn = fn, .opaque = opaque };
    QemuThread thread;

    run.ctx = aio_context_new(&error_abort);
    qemu_thread_create(&thread, "iothread", iothread_main, &run,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&run.done)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    qemu_thread_join(&thread);
    aio_context_unref(run.ctx);
}

/*
 * DMA as address_space_map() makes it, from a device whose requests come
 * faster than grace periods end (the caller stays in one read section):
 * no reader ever got a pointer into those entries without a pin, so the
 * limit unmaps them at once and nothing piles up behind the RCU thread.
 * An earlier cache stamped every hand-out and queued every release: here
 * the fake saw 64 buckets mapped against a limit of 8.
 */
static void test_dma_in_read_section(void)
{
    XenMapCacheStats s;
    int i;

    setup_buckets(LIMIT_BUCKETS);
    rcu_read_lock();
    for (i = 0; i < 8 * LIMIT_BUCKETS; i++) {
        hwaddr addr = bucket(100 + i) + 0x2000;
        uint8_t *p = map1(addr, 128 * KiB);

        check_bytes(p, addr, 128 * KiB);
        xen_invalidate_map_cache_entry(p);
    }
    s = ram_stats();
    rcu_read_unlock();
    g_assert_cmpuint(s.pending_bytes, ==, 0);
    g_assert_cmpuint(fake_stats().peak_live_pages * FRAME_SIZE, <=,
                     LIMIT_BUCKETS * BUCKET_SIZE);
    teardown();
}

/*
 * Lock0 readers in the same read section keep what they were handed: the
 * bytes the limit could not release are pending, not unmapped.
 */
static void test_lock0_in_read_section_kept(void)
{
    uint8_t *p[2 * LIMIT_BUCKETS];
    int i;

    setup_buckets(LIMIT_BUCKETS);
    rcu_read_lock();
    for (i = 0; i < 2 * LIMIT_BUCKETS; i++) {
        p[i] = map0(bucket(100 + i) + 0x40, 64);
        check_bytes(p[i], bucket(100 + i) + 0x40, 64);
    }
    for (i = 0; i < 2 * LIMIT_BUCKETS; i++) {
        check_bytes(p[i], bucket(100 + i) + 0x40, 64);
    }
    rcu_read_unlock();
    g_assert_cmpuint(fake_stats().violations, ==, 0);
    teardown();
}

typedef struct IOThreadMaps {
    hwaddr addr[4];
    uint8_t *p[4];
    int n;
} IOThreadMaps;

static void iothread_map_and_unmap(void *opaque)
{
    IOThreadMaps *m = opaque;
    int i;

    for (i = 0; i < m->n; i++) {
        m->p[i] = map1(m->addr[i], 4096);
        check_bytes(m->p[i], m->addr[i], 4096);
        xen_invalidate_map_cache_entry(m->p[i]);
    }
}

/*
 * Misses and releases in an IOThread reach the RAM block notifiers from
 * the main loop, the removal before the unmap.  Upstream, and an earlier
 * version of this cache, called ram_block_notify_add() in the IOThread,
 * where virtio-blk's RAM registrar aborts QEMU.
 */
static void test_iothread_notifiers(void)
{
    IOThreadMaps first = { .addr = { bucket(10) }, .n = 1 };
    IOThreadMaps more = {
        .addr = { bucket(20), bucket(21), bucket(22) }, .n = 3,
    };

    setup_buckets(2);
    run_in_iothread(iothread_map_and_unmap, &first);
    run_main_loop();
    g_assert_true(xen_mapcache_test_notify_is_live(first.p[0], 4096));
    /* Evicted from the IOThread: unmapped only after the removal. */
    run_in_iothread(iothread_map_and_unmap, &more);
    run_main_loop();
    g_assert_cmpuint(xen_mapcache_test_notify_count(0, false, first.p[0],
                                                    BUCKET_SIZE), ==, 1);
    g_assert_cmpuint(ram_stats().pending_bytes, ==, 0);
    g_assert_cmpuint(fake_stats().peak_live_pages * FRAME_SIZE, <=,
                     3 * BUCKET_SIZE);
    g_assert_cmpuint(notify_errors(), ==, 0);
    teardown();
}

typedef struct CoroutineMaps {
    IOThreadMaps maps;
    bool done;
} CoroutineMaps;

static void coroutine_fn coroutine_map_and_unmap(void *opaque)
{
    CoroutineMaps *c = opaque;

    iothread_map_and_unmap(&c->maps);
    c->done = true;
}

static void run_coroutine(CoroutineMaps *c)
{
    Coroutine *co = qemu_coroutine_create(coroutine_map_and_unmap, c);

    qemu_coroutine_enter(co);
    while (!c->done) {
        aio_poll(qemu_get_current_aio_context(), true);
    }
}

static void iothread_run_coroutine(void *opaque)
{
    run_coroutine(opaque);
}

/*
 * The same from coroutines, of the main loop and of an IOThread: misses
 * announce from the main loop, and an unpin bounces there.
 */
static void test_coroutine_notifiers(void)
{
    CoroutineMaps main_co = {
        .maps = { .addr = { bucket(30), bucket(31), bucket(32) }, .n = 3 },
    };
    CoroutineMaps io_co = {
        .maps = { .addr = { bucket(40), bucket(41), bucket(42) }, .n = 3 },
    };

    setup_buckets(LIMIT_BUCKETS);
    run_coroutine(&main_co);
    run_main_loop();
    run_in_iothread(iothread_run_coroutine, &io_co);
    run_main_loop();
    g_assert_true(xen_mapcache_test_notify_is_live(io_co.maps.p[2], 4096));
    g_assert_cmpuint(notify_errors(), ==, 0);
    teardown();
}

/*
 * A hole touched during incoming migration gets a dummy; once migration
 * has ended the same guest address shows the real frames, pinned or not,
 * and the dummies are gone.  Upstream unmaps lock1 dummies at their last
 * unpin; an earlier version of this cache served zeros from them.
 */
static void test_dummy_after_migration(void)
{
    hwaddr pinned = bucket(50) + 0x100, unpinned = bucket(51) + 0x100;
    uint8_t *p;

    setup_buckets(LIMIT_BUCKETS);
    fake_xen_set_hole(bucket(50) / FRAME_SIZE, 2 * BUCKET_SIZE / FRAME_SIZE,
                      true);
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    p = map1(pinned, 4096);
    g_assert_nonnull(p);
    xen_invalidate_map_cache_entry(p);
    g_assert_nonnull(map0(unpinned, 64));
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    fake_xen_set_hole(bucket(50) / FRAME_SIZE, 2 * BUCKET_SIZE / FRAME_SIZE,
                      false);

    p = map1(pinned, 4096);
    check_bytes(p, pinned, 4096);
    xen_invalidate_map_cache_entry(p);
    check_bytes(map0(unpinned, 64), unpinned, 64);
    g_assert_cmpuint(ram_stats().entries, ==, 2);
    teardown();
}

/*
 * The limit a user gives combines with RLIMIT_AS: the soft limit is
 * raised to the hard one, and the cache keeps the smaller of the option
 * and what the hard limit leaves.  As an unprivileged user, whose limits
 * the test sets before dropping its uid.
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
        fake_xen_init(RAM_BYTES, 0);
        g_assert_true(xen_map_cache_init_limit(NULL, NULL, option,
                                               &error_abort));
        getrlimit(RLIMIT_AS, &after);
        g_assert_cmpuint(after.rlim_cur, ==, hard);
        g_assert_cmpuint(ram_stats().limit_bytes, ==, expected);
        xen_map_cache_fini();
        return;
    }
    if (geteuid() != 0) {
        g_test_skip("dropping to an unprivileged user needs root");
        return;
    }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    g_test_skip("a sanitizer's shadow memory does not fit RLIMIT_AS");
    return;
#endif
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

static void test_option_raises_soft_limit(void)
{
    option_under_rlimit(3 * GiB, RLIM_INFINITY, 16 * GiB, 16 * GiB);
}

static void test_option_within_hard_limit(void)
{
    option_under_rlimit(1 * GiB, 1 * GiB, 16 * GiB, 1 * GiB - 80 * MiB);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_func("/xen-mapcache/threads/dma-in-read-section",
                    test_dma_in_read_section);
    g_test_add_func("/xen-mapcache/threads/lock0-in-read-section-kept",
                    test_lock0_in_read_section_kept);
    g_test_add_func("/xen-mapcache/threads/iothread-notifiers",
                    test_iothread_notifiers);
    g_test_add_func("/xen-mapcache/threads/coroutine-notifiers",
                    test_coroutine_notifiers);
    g_test_add_func("/xen-mapcache/threads/dummy-after-migration",
                    test_dummy_after_migration);
    g_test_add_func("/xen-mapcache/threads/option-raises-soft-limit",
                    test_option_raises_soft_limit);
    g_test_add_func("/xen-mapcache/threads/option-within-hard-limit",
                    test_option_within_hard_limit);
    return g_test_run();
}
