/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Tests of the Xen mapcache inside a read section that no grace period
 * ends: DMA requests, and lock0 readers that keep what they were handed.
 * The rest of this file (IOThreads, coroutines, incoming migration, the
 * limit's option under RLIMIT_AS) ships, in tests/unit/test-xen-mapcache.c.
 */

#include "qemu/osdep.h"
#include "test-xen-mapcache.h"

#define LIMIT_BUCKETS 8

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

    setup_with_limit(LIMIT_BUCKETS * BUCKET_SIZE);
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

    setup_with_limit(LIMIT_BUCKETS * BUCKET_SIZE);
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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_func("/xen-mapcache/threads/dma-in-read-section",
                    test_dma_in_read_section);
    g_test_add_func("/xen-mapcache/threads/lock0-in-read-section-kept",
                    test_lock0_in_read_section_kept);
    return g_test_run();
}
