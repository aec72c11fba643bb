/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Unit tests of the Xen mapcache (hw/xen/xen-mapcache.c), run against a
 * fake hypervisor that maps guest frames from a memfd holding a pattern
 * derived from the address: a pointer that shows the wrong guest memory is
 * caught by value.
 *
 * Each test sets up its own mapcache with an explicit limit and tears it
 * down with xen_map_cache_fini(); the teardown then checks that the fake
 * hypervisor has no range left mapped, saw no unmap of a range it did not
 * map and no reader-registry violation, and that every
 * ram_block_notify_add() was matched by a ram_block_notify_remove().
 *
 * The scenario tests (/xen-mapcache/scenario/...) say above them which bug
 * of an earlier mapcache they catch, and how.
 */

#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "hw/xen/xen-mapcache-info.h"
#include "test-xen-mapcache.h"

/*
 * Incoming migration: pin @size bytes of a RAM block at @addr, whose
 * frames are holes for now, as qemu_ram_ptr_length() pins VRAM: a dummy.
 */
static uint8_t *map_dummy_pinned(hwaddr addr, hwaddr size)
{
    uint8_t *p;

    fake_xen_set_hole(addr / FRAME_SIZE, size / FRAME_SIZE, true);
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    p = xen_map_cache(&xen_mapcache_test_other_mr, addr, size, addr,
                      1, false, true);
    g_assert_nonnull(p);
    return p;
}

/*
 * Outside any RCU read-side critical section, once the queued releases
 * have run, the bytes announced with ram_block_notify_add() and not yet
 * removed are those of the live foreign RAM mappings.
 */
static void check_notified_bytes_match_live(void)
{
    XenMapCacheTestNotifyCheck check;

    drain_call_rcu();
    xen_mapcache_test_notify_check(&check);
    g_assert_cmpuint(check.live_bytes, ==,
                     fake_stats().live_pages * FRAME_SIZE);
}

/*
 * Sizing
 */

typedef struct SizingCase {
    hwaddr offset;      /* of the request in its first bucket */
    hwaddr size;        /* of the request */
    unsigned buckets;   /* the mapping it needs */
} SizingCase;

static const SizingCase sizing_cases[] = {
    { 0, 0, 1 },                        /* size 0 is one bucket */
    { 0x3000, 0, 1 },                   /* wherever it starts */
    { 0, 1, 1 },
    { BUCKET_SIZE - 1, 1, 1 },          /* the last byte of a bucket */
    { 0, BUCKET_SIZE, 1 },              /* exactly one bucket */
    { 0, BUCKET_SIZE + 1, 2 },
    { BUCKET_SIZE - 256, 512, 2 },      /* 512 bytes across a boundary */
    { 0x1000, 2 * BUCKET_SIZE, 3 },
};

/* Each request maps offset + size rounded up to whole buckets. */
static void test_sizing(gconstpointer opaque)
{
    uint8_t lock = GPOINTER_TO_UINT(opaque);
    size_t i;

    setup();
    for (i = 0; i < ARRAY_SIZE(sizing_cases); i++) {
        const SizingCase *c = &sizing_cases[i];
        hwaddr addr = bucket(16 * (i + 1)) + c->offset;
        size_t len = c->size ? c->size : BUCKET_SIZE - c->offset;
        XenMapCacheStats before = ram_stats(), after;
        FakeXenStats fbefore = fake_stats(), fafter;
        uint8_t *p;

        p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, c->size, 0,
                          lock, lock, false);
        check_bytes(p, addr, len);

        after = ram_stats();
        fafter = fake_stats();
        g_assert_cmpuint(DELTA(after, before, new_mappings), ==, 1);
        g_assert_cmpuint(DELTA(after, before, pages_mapped), ==,
                         c->buckets * BUCKET_FRAMES);
        g_assert_cmpuint(DELTA(after, before, mapped_bytes), ==,
                         c->buckets * BUCKET_SIZE);
        g_assert_cmpuint(DELTA(fafter, fbefore, map_calls), ==, 1);
        g_assert_cmpuint(DELTA(fafter, fbefore, pages_mapped), ==,
                         c->buckets * BUCKET_FRAMES);
        if (lock) {
            g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, addr);
            unmap(p);
        }
    }
    teardown();
}

/* A second request inside a mapped bucket costs no new mapping. */
static void test_sizing_hit(void)
{
    hwaddr base = bucket(3);
    FakeXenStats before;
    uint8_t *p;

    setup();
    check_bytes(map0(base, 0), base, BUCKET_SIZE);
    before = fake_stats();
    p = map0(base + 0x5678, 100);
    check_bytes(p, base + 0x5678, 100);
    p = map1(base + BUCKET_SIZE - FRAME_SIZE, FRAME_SIZE);
    check_bytes(p, base + BUCKET_SIZE - FRAME_SIZE, FRAME_SIZE);
    unmap(p);
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 0);
    teardown();
}

/* What is written through a mapping is guest RAM: a new mapping shows it. */
static void test_bytes_write_reaches_guest(void)
{
    hwaddr addr = bucket(5) + 0x1234;
    FakeXenStats before;
    uint8_t *p;
    int i;

    setup();
    p = map1(addr, 256);
    g_assert_nonnull(p);
    for (i = 0; i < 256; i++) {
        p[i] = ~fake_xen_ram_byte(addr + i);
    }
    check_bytes(p, addr, 256);
    unmap(p);
    xen_invalidate_map_cache();
    drain_call_rcu();

    before = fake_stats();
    p = map0(addr, 256);
    g_assert_nonnull(p);
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 1);
    for (i = 0; i < 256; i++) {
        g_assert_cmphex(p[i], ==, (uint8_t)~fake_xen_ram_byte(addr + i));
    }
    teardown();
}

/*
 * Page validity
 */

/* A request touching a hole gets NULL; its neighbours are unaffected. */
static void test_holes_null(void)
{
    hwaddr base = bucket(7);
    hwaddr hole = base + 10 * FRAME_SIZE;
    XenMapCacheStats before, after;
    uint8_t *p;

    setup();
    fake_xen_set_hole(hole / FRAME_SIZE, 1, true);
    before = ram_stats();
    g_assert_null(map0(hole + 100, 16));
    g_assert_null(map0(hole - 8, 16));          /* ends in the hole */
    g_assert_null(map1(hole, FRAME_SIZE));
    g_assert_null(map0(base, 2 * BUCKET_SIZE));  /* covers it */
    after = ram_stats();
    g_assert_cmpuint(DELTA(after, before, null_returns), ==, 4);
    g_assert_cmpuint(after.pinned_entries, ==, 0);

    p = map0(base, FRAME_SIZE);                 /* same bucket, page 0 */
    check_bytes(p, base, FRAME_SIZE);
    p = map1(hole + FRAME_SIZE, 2 * FRAME_SIZE);  /* right after the hole */
    check_bytes(p, hole + FRAME_SIZE, 2 * FRAME_SIZE);
    unmap(p);
    p = map0(hole - FRAME_SIZE, FRAME_SIZE);    /* right before it */
    check_bytes(p, hole - FRAME_SIZE, FRAME_SIZE);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    teardown();
}

/*
 * Incoming migration: a block whose frames the guest has not populated yet
 * (its ram_addr is all holes) gets a dummy mapping; once the guest placed
 * it, xen_replace_cache_entry() puts the real frames under the same
 * pointer.  This is what hw/i386/xen/xen-hvm.c does for VRAM.
 */
static void test_inmigrate_dummy_replaced(void)
{
    hwaddr old = bucket(200), new = bucket(300), size = 2 * BUCKET_SIZE;
    XenMapCacheTestCounts n0, n1;
    FakeXenStats f0, f1;
    uint8_t *p, *q;

    setup();
    p = map_dummy_pinned(old, size);
    /* Anonymous memory, not a foreign mapping, and not announced. */
    g_assert_false(fake_xen_is_live(p, size));
    check_notified_bytes_match_live();

    n0 = notify_counts();
    f0 = fake_stats();
    q = xen_replace_cache_entry(old, new, size);
    g_assert_true(q == p);
    check_bytes(p, new, size);
    g_assert_true(fake_xen_is_live(p, size));
    n1 = notify_counts();
    f1 = fake_stats();
    g_assert_cmpuint(DELTA(f1, f0, fixed_maps), ==, 1);
    g_assert_cmpuint(DELTA(n1, n0, notify_adds), ==, 1);
    g_assert_cmpint(DELTA(n1, n0, notified_bytes), ==, size);
    check_notified_bytes_match_live();
    teardown();
}

/* Only a dummy entry may be replaced; anything else gets NULL. */
static void test_inmigrate_replace_needs_dummy(void)
{
    hwaddr old = bucket(200), new = bucket(300);
    FakeXenStats before;
    uint8_t *p;

    setup();
    g_assert_null(xen_replace_cache_entry(old, new, BUCKET_SIZE));

    p = map1(old, BUCKET_SIZE);
    check_bytes(p, old, BUCKET_SIZE);
    before = fake_stats();
    g_assert_null(xen_replace_cache_entry(old, new, BUCKET_SIZE));
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 0);
    check_bytes(p, old, BUCKET_SIZE);
    unmap(p);
    teardown();
}

/*
 * A replacement that cannot show every page asked for, because one is a
 * hole, is refused and changes nothing: the dummy stays a dummy, under
 * the same pointer, and a later replacement with valid frames succeeds.
 * A size of 0 finds no dummy.
 */
static void test_inmigrate_replace_hole(void)
{
    hwaddr old = bucket(200), new = bucket(300), size = BUCKET_SIZE;
    hwaddr hole = new + 5 * FRAME_SIZE;
    FakeXenStats before;
    uint8_t *p;

    setup();
    fake_xen_set_hole(hole / FRAME_SIZE, 1, true);
    p = map_dummy_pinned(old, size);
    memset(p, 0x5a, size);

    g_assert_null(xen_replace_cache_entry(old, new, 0));
    before = fake_stats();
    g_assert_null(xen_replace_cache_entry(old, new, size));
    g_assert_cmpuint(DELTA(fake_stats(), before, fixed_maps), ==, 0);
    g_assert_cmpuint(fake_stats().live_ranges, ==, before.live_ranges);
    g_assert_false(fake_xen_is_live(p, size));
    g_assert_cmpuint(p[0], ==, 0x5a);
    g_assert_cmpuint(p[size - 1], ==, 0x5a);

    /* Still the dummy: real frames can replace it. */
    fake_xen_set_hole(hole / FRAME_SIZE, 1, false);
    g_assert_true(xen_replace_cache_entry(old, new, size) == p);
    g_assert_true(fake_xen_is_live(p, size));
    check_bytes(p, new, size);
    xen_invalidate_map_cache_entry(p);
    check_notified_bytes_match_live();
    teardown();
}

/*
 * Only a dummy of exactly the size asked is replaced: the rest of a larger
 * dummy is still in its caller's hands.  A new range that needs more than
 * the dummy maps (its offset in its bucket is larger) is refused, and
 * neither changes anything.
 */
static void test_inmigrate_replace_size_relation(void)
{
    hwaddr old = bucket(200), new = bucket(300), size = 2 * BUCKET_SIZE;
    FakeXenStats before;
    uint8_t *p;

    setup();
    p = map_dummy_pinned(old, size);

    before = fake_stats();
    /* Smaller than the dummy: not the dummy of this request. */
    g_assert_null(xen_replace_cache_entry(old, new, BUCKET_SIZE));
    /* Same size, but 4 KiB into its bucket: three buckets needed. */
    g_assert_null(xen_replace_cache_entry(old, new + FRAME_SIZE, size));
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 0);
    g_assert_false(fake_xen_is_live(p, size));

    g_assert_true(xen_replace_cache_entry(old, new, size) == p);
    check_bytes(p, new, size);
    g_assert_cmpuint(xen_ram_addr_from_mapcache(p), ==, old);
    xen_invalidate_map_cache_entry(p);
    g_assert_cmpuint(xen_ram_addr_from_mapcache(p), ==, RAM_ADDR_INVALID);
    check_notified_bytes_match_live();
    teardown();
}

/*
 * The kernel out of address space while a dummy is replaced: what may be
 * freed is freed and the mapping retried, as for every other mapping.
 */
static void test_inmigrate_replace_enomem(void)
{
    hwaddr old = bucket(200), new = bucket(300), size = BUCKET_SIZE;
    XenMapCacheStats before;
    uint8_t *p, *cold;

    setup();
    cold = map0(bucket(10), 0);
    g_assert_nonnull(cold);
    map0(bucket(10 + 64), 0);   /* displaces cold from its recent slot */
    pass_grace_periods();

    p = map_dummy_pinned(old, size);
    before = ram_stats();
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    g_assert_true(xen_replace_cache_entry(old, new, size) == p);
    check_bytes(p, new, size);
    g_assert_cmpuint(DELTA(ram_stats(), before, freed_at_once), >=, 1);
    xen_invalidate_map_cache_entry(p);
    teardown();
}

/*
 * Grants
 */

/* The grant caches come into being at the first grant request of each. */
static void test_grants_lazy(void)
{
    XenMapCacheStats stats;
    uint8_t *ro, *rw;

    setup();
    memset(&stats, 0xff, sizeof(stats));
    g_assert_false(xen_map_cache_get_stats(XEN_MAPCACHE_GRANTS_RO, &stats));
    g_assert_cmpuint(stats.lookups_lock1, ==, 0);
    g_assert_cmpuint(stats.mapped_bytes, ==, 0);
    g_assert_false(xen_map_cache_get_stats(XEN_MAPCACHE_GRANTS_RW, &stats));

    ro = map_grant(3, 0, FRAME_SIZE, false);
    check_grant_bytes(ro, 3, 1);
    g_assert_true(xen_map_cache_get_stats(XEN_MAPCACHE_GRANTS_RO, &stats));
    g_assert_false(xen_map_cache_get_stats(XEN_MAPCACHE_GRANTS_RW, &stats));

    rw = map_grant(4, 0, FRAME_SIZE, true);
    check_grant_bytes(rw, 4, 1);
    g_assert_true(xen_map_cache_get_stats(XEN_MAPCACHE_GRANTS_RW, &stats));
    unmap(ro);
    unmap(rw);
    teardown();
}

/* Read-only and read-write grants of one ref live in separate caches. */
static void test_grants_ro_rw_separate(void)
{
    XenMapCacheStats ro_stats, rw_stats;
    XenMapCacheTestCounts n0;
    FakeXenStats before;
    uint8_t *ro, *rw, *ro2;

    setup();
    n0 = notify_counts();
    before = fake_stats();
    ro = map_grant(5, 0, FRAME_SIZE, false);
    rw = map_grant(5, 0, FRAME_SIZE, true);
    check_grant_bytes(ro, 5, 1);
    check_grant_bytes(rw, 5, 1);
    g_assert_true(ro != rw);

    ro_stats = cache_stats(XEN_MAPCACHE_GRANTS_RO);
    rw_stats = cache_stats(XEN_MAPCACHE_GRANTS_RW);
    g_assert_cmpuint(ro_stats.lookups_lock1, ==, 1);
    g_assert_cmpuint(ro_stats.new_mappings, ==, 1);
    g_assert_cmpuint(rw_stats.lookups_lock1, ==, 1);
    g_assert_cmpuint(rw_stats.new_mappings, ==, 1);
    g_assert_cmpuint(ram_stats().lookups_lock1, ==, 0);
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_map_calls), ==, 2);
    g_assert_cmpuint(DELTA(fake_stats(), before, map_calls), ==, 0);

    /* Pinned: a second request for the same ref reuses the mapping. */
    ro2 = map_grant(5, 0x10, 16, false);
    g_assert_true(ro2 == ro + 0x10);
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_map_calls), ==, 2);

    /* Each grant mapping is announced to the RAM block notifiers. */
    g_assert_cmpuint(DELTA(notify_counts(), n0, notify_adds), ==, 2);
    g_assert_cmpint(DELTA(notify_counts(), n0, notified_bytes), ==,
                    2 * FRAME_SIZE);
    g_assert_cmphex(xen_ram_addr_from_mapcache(ro), ==, grant_addr(5));
    g_assert_cmphex(xen_ram_addr_from_mapcache(rw), ==, grant_addr(5));
    unmap(ro2);
    unmap(ro);
    unmap(rw);
    teardown();
}

/* Grant mappings are page granular: no rounding to a bucket. */
static void test_grants_page_granular(void)
{
    XenMapCacheStats stats;
    FakeXenStats before;
    uint8_t *p;

    setup();
    before = fake_stats();
    p = map_grant(10, 100, 2 * FRAME_SIZE, false);  /* touches 3 frames */
    g_assert_nonnull(p);
    check_grant_bytes(p - 100, 10, 3);
    stats = cache_stats(XEN_MAPCACHE_GRANTS_RO);
    g_assert_cmpuint(stats.pages_mapped, ==, 3);
    g_assert_cmpuint(stats.mapped_bytes, ==, 3 * FRAME_SIZE);
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_pages_mapped), ==, 3);
    unmap(p);
    teardown();
}

/*
 * The granting domain ends foreign access as soon as the request
 * completes: the grant is unmapped, and the notifiers told, before the
 * last xen_invalidate_map_cache_entry() returns.  No grace period.
 */
static void test_grants_released_at_last_unpin(void)
{
    XenMapCacheTestCounts n0;
    XenMapCacheStats stats;
    FakeXenStats before;
    uint8_t *p, *p2;

    setup();
    p = map_grant(7, 0, FRAME_SIZE, true);
    p2 = map_grant(7, 0, FRAME_SIZE, true);
    g_assert_true(p2 == p);
    before = fake_stats();
    n0 = notify_counts();

    unmap(p);
    g_assert_true(fake_xen_is_live(p, FRAME_SIZE));
    check_grant_bytes(p, 7, 1);
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_unmap_calls), ==, 0);

    unmap(p);
    g_assert_false(fake_xen_is_live(p, FRAME_SIZE));
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_unmap_calls), ==, 1);
    g_assert_cmpuint(DELTA(notify_counts(), n0, notify_removes), ==, 1);
    g_assert_cmpuint(fake_stats().live_ranges, ==, 0);
    stats = cache_stats(XEN_MAPCACHE_GRANTS_RW);
    g_assert_cmpuint(stats.entries, ==, 0);
    g_assert_cmpuint(stats.freed_at_once, ==, 1);
    g_assert_cmpuint(stats.releases_queued, ==, 0);
    g_assert_cmpuint(stats.mapped_bytes, ==, 0);
    teardown();
}

/* xen_invalidate_map_cache() is about guest RAM only. */
static void test_grants_flush_leaves_them(void)
{
    FakeXenStats before;
    uint8_t *p;

    setup();
    p = map_grant(9, 0, 2 * FRAME_SIZE, true);
    before = fake_stats();
    xen_invalidate_map_cache();
    drain_call_rcu();
    g_assert_true(fake_xen_is_live(p, 2 * FRAME_SIZE));
    check_grant_bytes(p, 9, 2);
    g_assert_cmpuint(DELTA(fake_stats(), before, grant_unmap_calls), ==, 0);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_GRANTS_RW).flushed, ==, 0);
    g_assert_cmpuint(cache_stats(XEN_MAPCACHE_GRANTS_RW).pinned_entries,
                     ==, 1);
    unmap(p);
    teardown();
}

/* A grant may only be mapped with lock != 0: report and abort. */
static void test_grants_lock0_aborts(void)
{
    if (g_test_subprocess()) {
        setup();
        xen_map_cache(&xen_mapcache_test_grants_mr, grant_addr(1), FRAME_SIZE,
                      GRANTS_RAM_OFFSET, 0, false, false);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*grant*");
}

/*
 * RAM block notifiers
 */

/* Foreign RAM mappings are announced when made and when released. */
static void test_notify_add_remove(void)
{
    XenMapCacheTestCounts n0, n1;
    uint8_t *p;

    setup();
    n0 = notify_counts();
    g_assert_nonnull(map0(bucket(20), 0));
    g_assert_nonnull(map0(bucket(21), 0));
    g_assert_nonnull(map0(bucket(22), 0));
    p = map1(bucket(24) + BUCKET_SIZE - 256, 512);
    g_assert_nonnull(p);
    n1 = notify_counts();
    g_assert_cmpuint(DELTA(n1, n0, notify_adds), ==, 4);
    g_assert_cmpint(DELTA(n1, n0, notified_bytes), ==, 5 * BUCKET_SIZE);
    g_assert_cmpuint(DELTA(n1, n0, notify_removes), ==, 0);
    check_notified_bytes_match_live();

    unmap(p);
    xen_invalidate_map_cache();
    drain_call_rcu();
    n1 = notify_counts();
    g_assert_cmpuint(DELTA(n1, n0, notify_removes), ==, 4);
    g_assert_cmpint(DELTA(n1, n0, notified_bytes), ==, 0);
    teardown();
}

/*
 * Reverse lookups
 */

/* A pinned pointer maps back to its guest address. */
static void test_reverse_pinned(void)
{
    hwaddr a = bucket(17) + 0x1234, b = bucket(18) - 256;
    uint8_t *p, *q;

    setup();
    p = map1(a, 100);
    q = map1(b, 512);
    check_bytes(p, a, 100);
    check_bytes(q, b, 512);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, a);
    g_assert_cmphex(xen_ram_addr_from_mapcache(q), ==, b);
    unmap(p);
    unmap(q);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, RAM_ADDR_INVALID);
    teardown();
}

/* Pointers the mapcache never pinned are unknown to it. */
static void test_reverse_unknown(void)
{
    uint8_t on_stack[16];
    uint8_t *p;

    setup();
    g_assert_cmphex(xen_ram_addr_from_mapcache(on_stack), ==,
                    RAM_ADDR_INVALID);
    g_assert_cmphex(xen_ram_addr_from_mapcache(NULL), ==, RAM_ADDR_INVALID);
    p = map0(bucket(19) + 0x40, 16);        /* lock0 records nothing */
    g_assert_nonnull(p);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, RAM_ADDR_INVALID);
    teardown();
}

/* The same pointer pinned twice needs two invalidations. */
static void test_reverse_pinned_twice(void)
{
    hwaddr a = bucket(17) + 0x800;
    uint8_t *p, *p2;

    setup();
    p = map1(a, 64);
    p2 = map1(a, 64);
    g_assert_true(p2 == p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);

    unmap(p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, a);
    xen_invalidate_map_cache();
    drain_call_rcu();
    g_assert_true(fake_xen_is_live(p, 64));
    check_bytes(p, a, 64);

    unmap(p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, RAM_ADDR_INVALID);
    teardown();
}

#define REVERSE_PER_BUCKET 256

static hwaddr reverse_pin_addr(unsigned k)
{
    return bucket(40 + k / REVERSE_PER_BUCKET) +
           (k % REVERSE_PER_BUCKET) * (BUCKET_SIZE / REVERSE_PER_BUCKET);
}

/*
 * With @n pointers pinned, the chain steps and fruitless chain steps that
 * reverse lookups and an invalidation cost.
 */
static void reverse_lookup_work(unsigned n, uint64_t *steps,
                                uint64_t *fruitless)
{
    g_autofree uint8_t **pins = g_new0(uint8_t *, n);
    XenMapCacheStats before, after;
    uint8_t unknown;
    unsigned k;

    setup();
    for (k = 0; k < n; k++) {
        pins[k] = map1(reverse_pin_addr(k), 16);
        g_assert_nonnull(pins[k]);
    }
    g_assert_cmpuint(ram_stats().pinned_entries, ==,
                     DIV_ROUND_UP(n, REVERSE_PER_BUCKET));

    before = ram_stats();
    /* The oldest pin: last in a list that is pushed at its head. */
    g_assert_cmphex(xen_ram_addr_from_mapcache(pins[0]), ==,
                    reverse_pin_addr(0));
    /* The newest one, and one that a walk finds nowhere. */
    g_assert_cmphex(xen_ram_addr_from_mapcache(pins[n - 1]), ==,
                    reverse_pin_addr(n - 1));
    g_assert_cmphex(xen_ram_addr_from_mapcache(&unknown), ==,
                    RAM_ADDR_INVALID);
    unmap(pins[0]);
    unmap(&unknown);
    after = ram_stats();
    *steps = DELTA(after, before, chain_steps);
    *fruitless = DELTA(after, before, fruitless_chain_steps);

    for (k = 1; k < n; k++) {
        unmap(pins[k]);
    }
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    teardown();
}

/* Reverse lookups cost the same with 1 and with 1024 pinned mappings. */
static void test_reverse_o1(void)
{
    uint64_t steps1, fruitless1, steps1024, fruitless1024;

    reverse_lookup_work(1, &steps1, &fruitless1);
    reverse_lookup_work(1024, &steps1024, &fruitless1024);
    g_assert_cmpuint(steps1024, ==, steps1);
    g_assert_cmpuint(fruitless1024, ==, fruitless1);
}

/*
 * Coroutines
 */

typedef struct BounceData {
    uint8_t *p;
    bool done;
} BounceData;

static void coroutine_fn invalidate_in_coroutine(void *opaque)
{
    BounceData *data = opaque;

    xen_invalidate_map_cache_entry(data->p);
    data->done = true;
}

/*
 * In a coroutine, xen_invalidate_map_cache_entry() hands the work to a
 * bottom half and yields: nothing is unpinned until the BH runs.
 */
static void test_coroutine_bounce(void)
{
    hwaddr a = bucket(30) + 0x100;
    BounceData data = { 0 };
    Coroutine *co;
    int i;

    setup();
    data.p = map1(a, 64);
    g_assert_nonnull(data.p);
    co = qemu_coroutine_create(invalidate_in_coroutine, &data);
    qemu_coroutine_enter(co);

    g_assert_false(data.done);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(data.p), ==, a);

    for (i = 0; i < 100 && !data.done; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_true(data.done);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    g_assert_cmphex(xen_ram_addr_from_mapcache(data.p), ==, RAM_ADDR_INVALID);
    teardown();
}

/*
 * Flush
 */

/* The flush drains block I/O first: in-flight DMA completes and unpins. */
static void test_flush_drains(void)
{
    uint64_t drains;

    setup();
    drains = notify_counts().drains;
    xen_invalidate_map_cache();
    g_assert_cmpuint(notify_counts().drains - drains, ==, 1);
    teardown();
}

/*
 * Two entries at one index: a 1-bucket one (@small), then a 2-bucket one
 * (@big) at the chain head.  Only @small stays pinned if
 * @keep_small_pinned, only @big otherwise.
 */
static void make_chain(hwaddr base, bool keep_small_pinned,
                       uint8_t **small, uint8_t **big)
{
    *small = map1(base + 0x3000, FRAME_SIZE);
    *big = map1(base + BUCKET_SIZE - 256, 512);
    check_bytes(*small, base + 0x3000, FRAME_SIZE);
    check_bytes(*big, base + BUCKET_SIZE - 256, 512);
    unmap(keep_small_pinned ? *big : *small);
}

/*
 * The flush drops every unpinned entry, those behind the chain head too,
 * and keeps the pinned ones with their bytes.
 */
static void test_flush_drops_unpinned(void)
{
    hwaddr a = bucket(1), b = bucket(4);
    XenMapCacheStats before, after;
    FakeXenStats fbefore;
    uint8_t *a_small, *a_big, *b_small, *b_big;

    setup();
    make_chain(a, false, &a_small, &a_big);     /* unpinned behind head */
    make_chain(b, true, &b_small, &b_big);      /* unpinned head */
    check_bytes(map0(bucket(10), 0), bucket(10), BUCKET_SIZE);
    before = ram_stats();
    g_assert_cmpuint(before.entries, ==, 5);
    g_assert_cmpuint(before.pinned_entries, ==, 2);

    fbefore = fake_stats();
    xen_invalidate_map_cache();
    after = ram_stats();
    g_assert_cmpuint(after.entries, ==, 2);
    g_assert_cmpuint(after.pinned_entries, ==, 2);
    g_assert_cmpuint(DELTA(after, before, flushed), ==, 3);
    check_bytes(a_big, a + BUCKET_SIZE - 256, 512);
    check_bytes(b_small, b + 0x3000, FRAME_SIZE);

    drain_call_rcu();
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, unmap_calls), ==, 3);
    g_assert_cmpuint(fake_stats().live_ranges, ==, 2);
    g_assert_false(fake_xen_is_live(a_small, FRAME_SIZE));
    g_assert_false(fake_xen_is_live(b_big, 512));
    g_assert_true(fake_xen_is_live(a_big, 512));
    g_assert_true(fake_xen_is_live(b_small, FRAME_SIZE));
    check_bytes(a_big, a + BUCKET_SIZE - 256, 512);
    check_bytes(b_small, b + 0x3000, FRAME_SIZE);
    check_notified_bytes_match_live();

    /* The kept entries serve; the dropped 2-bucket one is mapped anew. */
    fbefore = fake_stats();
    check_bytes(map0(a + 0x5000, 16), a + 0x5000, 16);
    check_bytes(map0(b + 0x5000, 16), b + 0x5000, 16);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==, 0);
    check_bytes(map0(b + BUCKET_SIZE - 256, 512), b + BUCKET_SIZE - 256, 512);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==, 1);
    unmap(a_big);
    unmap(b_small);
    teardown();
}

/* What the flush drops is released behind an RCU grace period. */
static void test_flush_releases_through_rcu(void)
{
    XenMapCacheStats before, after;

    setup();
    g_assert_nonnull(map0(bucket(11), 0));
    g_assert_nonnull(map0(bucket(12), 0));
    g_assert_nonnull(map0(bucket(13), 2 * BUCKET_SIZE));
    before = ram_stats();
    xen_invalidate_map_cache();
    after = ram_stats();
    g_assert_cmpuint(DELTA(after, before, releases_queued), ==, 3);

    drain_call_rcu();
    after = ram_stats();
    g_assert_cmpuint(after.releases_done, ==, after.releases_queued);
    g_assert_cmpuint(after.mapped_bytes, ==, 0);
    g_assert_cmpuint(after.entries, ==, 0);
    g_assert_cmpuint(fake_stats().live_ranges, ==, 0);
    teardown();
}

/*
 * Cache limit and eviction
 */

/* Bytes of the releases still pending, each one bucket large. */
static uint64_t pending_bucket_bytes(const XenMapCacheStats *s)
{
    return (s->releases_queued - s->releases_done) * BUCKET_SIZE;
}

/* Past the limit, unpinned entries are evicted; the live ones fit. */
static void test_limit_evicts(void)
{
    XenMapCacheStats stats;
    unsigned i;

    setup_with_limit(LIMIT_SMALL);
    for (i = 0; i < 32; i++) {
        check_bytes(map0(bucket(100 + i), 0), bucket(100 + i), BUCKET_SIZE);
        stats = ram_stats();
        g_assert_cmpuint(stats.mapped_bytes, <=,
                         LIMIT_SMALL + pending_bucket_bytes(&stats));
        g_assert_cmpuint(stats.entries * BUCKET_SIZE, <=, LIMIT_SMALL);
    }
    stats = ram_stats();
    g_assert_cmpuint(stats.evictions, >=, 32 - LIMIT_SMALL / BUCKET_SIZE);

    drain_call_rcu();
    stats = ram_stats();
    g_assert_cmpuint(stats.mapped_bytes, <=, LIMIT_SMALL);
    g_assert_cmpuint(fake_stats().live_ranges, <=, LIMIT_SMALL / BUCKET_SIZE);
    check_notified_bytes_match_live();
    teardown();
}

/*
 * The least recently used unpinned entry goes first, and alone: with no
 * release pending, one miss at a full cache evicts one entry.  (Catches an
 * eviction loop that counts the releases it queues against the limit
 * without crediting them: it empties the whole cache on every miss.)
 */
static void test_limit_lru(void)
{
    unsigned i, n = LIMIT_SMALL / BUCKET_SIZE;
    XenMapCacheStats before;
    FakeXenStats fbefore;

    setup_with_limit(LIMIT_SMALL);
    for (i = 0; i < n; i++) {
        g_assert_nonnull(map0(bucket(100 + i), 0));
    }
    g_assert_nonnull(map0(bucket(100), 0));     /* now the most recent */
    drain_call_rcu();

    before = ram_stats();
    g_assert_nonnull(map0(bucket(200), 0));     /* evicts bucket 101 */
    g_assert_cmpuint(DELTA(ram_stats(), before, evictions), ==, 1);
    drain_call_rcu();

    fbefore = fake_stats();
    for (i = 0; i < n; i++) {
        if (i != 1) {
            check_bytes(map0(bucket(100 + i), 16), bucket(100 + i), 16);
        }
    }
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==, 0);
    check_bytes(map0(bucket(101), 16), bucket(101), 16);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==, 1);
    teardown();
}

/* Pinned entries are never evicted, however hard the cache is pressed. */
static void test_limit_pinned_kept(void)
{
    hwaddr a = bucket(99) + 0x2000;
    uint8_t *pinned;
    unsigned i;

    setup_with_limit(LIMIT_SMALL);
    pinned = map1(a, FRAME_SIZE);
    for (i = 0; i < 64; i++) {
        check_bytes(map0(bucket(100 + i), 0), bucket(100 + i), BUCKET_SIZE);
        check_bytes(pinned, a, FRAME_SIZE);
    }
    g_assert_cmpuint(ram_stats().evictions, >, 0);
    drain_call_rcu();
    g_assert_true(fake_xen_is_live(pinned, FRAME_SIZE));
    check_bytes(pinned, a, FRAME_SIZE);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(pinned), ==, a);
    unmap(pinned);
    teardown();
}

/*
 * A single request larger than the limit is served, as QEMU's callers need
 * it: QEMU pins RAM blocks whole (qemu_ram_ptr_length()) and keeps a NULL
 * as the block's host pointer, and DMA retries a NULL mapping forever.
 * It is counted, and the cache goes back within the limit once it is
 * unpinned.
 */
static void test_limit_oversize_served(void)
{
    XenMapCacheStats before, after;
    uint8_t *p, *q;

    setup_with_limit(LIMIT_SMALL);
    before = ram_stats();
    p = map0(bucket(100), LIMIT_SMALL + 1);
    check_bytes(p, bucket(100), LIMIT_SMALL + 1);
    q = map1(bucket(200) + 0x1000, LIMIT_SMALL + 1);
    check_bytes(q, bucket(200) + 0x1000, LIMIT_SMALL + 1);
    after = ram_stats();
    g_assert_cmpuint(DELTA(after, before, null_returns), ==, 0);
    g_assert_cmpuint(DELTA(after, before, oversize), ==, 2);
    g_assert_cmpuint(after.pinned_entries, ==, 1);
    g_assert_cmpuint(after.pinned_bytes, ==, LIMIT_SMALL + BUCKET_SIZE);
    unmap(q);
    drain_call_rcu();
    check_bytes(map0(bucket(300), 0), bucket(300), BUCKET_SIZE);
    drain_call_rcu();
    after = ram_stats();
    g_assert_cmpuint(after.live_bytes + after.pending_bytes, <=, LIMIT_SMALL);
    teardown();
}

/*
 * Requests that no mapping can serve, whatever the limit ("unlimited" is
 * SIZE_MAX, which is the cap): past the largest mapping, up to the last
 * byte of the 64-bit space, or wrapping past it.  NULL, counted, nothing
 * mapped.
 */
static void test_limit_too_large(void)
{
    static const struct {
        hwaddr addr, size;
    } cases[] = {
        { 0, (hwaddr)MAPCACHE_TEST_MAX_SIZE + 1 },
        { 0x1000, (hwaddr)MAPCACHE_TEST_MAX_SIZE },
        { 0, UINT64_MAX },
        { 0, UINT64_MAX - 4 * MiB + 1 },
        { 0x80000, UINT64_MAX - 0x7ffff },
        { UINT64_MAX, 0 },
        { UINT64_MAX, 1 },
        { UINT64_MAX - FRAME_SIZE + 1, FRAME_SIZE },
        { UINT64_MAX - 1, 2 },
    };
    XenMapCacheStats before;
    FakeXenStats f0;
    unsigned i;

    setup_with_limit(SIZE_MAX);
    g_assert_cmpuint(ram_stats().limit_bytes, ==, MAPCACHE_TEST_MAX_SIZE);
    before = ram_stats();
    f0 = fake_stats();
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_assert_null(map0(cases[i].addr, cases[i].size));
        g_assert_null(map1(cases[i].addr, cases[i].size));
    }
    g_assert_cmpuint(DELTA(ram_stats(), before, null_returns), ==,
                     2 * G_N_ELEMENTS(cases));
    g_assert_cmpuint(DELTA(fake_stats(), f0, map_calls), ==, 0);
    g_assert_cmpuint(ram_stats().entries, ==, 0);
    teardown();
}

/* A limit under one bucket is refused with an error, and sets nothing up. */
static void test_limit_below_one_bucket(void)
{
    Error *err = NULL;

    g_assert_false(xen_map_cache_init_limit(NULL, NULL, BUCKET_SIZE - 1,
                                            &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "one bucket"));
    error_free(err);
    setup_with_limit(BUCKET_SIZE);
    check_bytes(map0(bucket(3), 0), bucket(3), BUCKET_SIZE);
    teardown();
}

/*
 * A grant reference is 32 bits: a request whose references do not fit,
 * or that starts below the grant region, maps nothing.  (Cutting the
 * reference to 32 bits would map another grant.)
 */
static void test_grants_bad_ref(void)
{
    XenMapCacheStats before;
    FakeXenStats f0;
    uint8_t *p;

    setup();
    p = map_grant(3, 0, FRAME_SIZE, true);
    check_grant_bytes(p, 3, 1);
    before = cache_stats(XEN_MAPCACHE_GRANTS_RW);
    f0 = fake_stats();
    g_assert_null(map_grant((1ULL << 32) + 3, 0, FRAME_SIZE, true));
    g_assert_null(map_grant(UINT32_MAX, 0, 2 * FRAME_SIZE, true));
    g_assert_null(xen_map_cache(&xen_mapcache_test_grants_mr,
                                GRANTS_RAM_OFFSET - FRAME_SIZE, FRAME_SIZE,
                                GRANTS_RAM_OFFSET, 1, true, true));
    g_assert_cmpuint(DELTA(cache_stats(XEN_MAPCACHE_GRANTS_RW), before,
                           null_returns), ==, 3);
    g_assert_cmpuint(DELTA(fake_stats(), f0, grant_map_calls), ==, 0);
    unmap(p);
    teardown();
}

/*
 * Failures of the map calls
 */

/*
 * A request whose map call fails.  Bucket aligned, so that the address and
 * size asked and those of the mapping are the same.
 */
#define FATAL_ADDR ((hwaddr)0x5300000)
#define FATAL_SIZE (2 * BUCKET_SIZE)
#define FATAL_GRANT_REF 2

typedef struct FatalCase {
    FakeXenCall call;
    unsigned failures;
    int err;
} FatalCase;

static const FatalCase fatal_efault = { FAKE_XEN_FOREIGN_MAP, 1, EFAULT };
static const FatalCase fatal_einval = { FAKE_XEN_FOREIGN_MAP, 1, EINVAL };
static const FatalCase fatal_enomem_twice = {
    FAKE_XEN_FOREIGN_MAP, 2, ENOMEM
};
static const FatalCase fatal_grant = { FAKE_XEN_GRANT_MAP, 1, EFAULT };

/*
 * A failed map call is fatal: the message names the guest
 * address, the size (in hex) and the errno text.
 */
static void test_fault_fatal(gconstpointer opaque)
{
    const FatalCase *c = opaque;
    g_autofree char *errno_pattern = NULL;
    g_autofree char *addr_pattern = NULL;

    if (g_test_subprocess()) {
        setup();
        fake_xen_fail_next(c->call, c->failures, c->err);
        if (c->call == FAKE_XEN_GRANT_MAP) {
            map_grant(FATAL_GRANT_REF, 0, FRAME_SIZE, true);
        } else {
            map0(FATAL_ADDR, FATAL_SIZE);
        }
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    errno_pattern = g_strdup_printf("*%s*", strerror(c->err));
    g_test_trap_assert_stderr(errno_pattern);
    if (c->call == FAKE_XEN_FOREIGN_MAP) {
        addr_pattern = g_strdup_printf("*%" PRIx64 "*%" PRIx64 "*",
                                       FATAL_ADDR, FATAL_SIZE);
    } else {
        addr_pattern = g_strdup_printf("*%" PRIx64 "*",
                                       grant_addr(FATAL_GRANT_REF));
    }
    g_test_trap_assert_stderr(addr_pattern);
}

/*
 * One ENOMEM: every unpinned entry is detached and the map retried once;
 * the request succeeds, the pinned entry stays.
 */
static void test_fault_enomem_recovered(void)
{
    hwaddr pinned_addr = bucket(54) + 0x40;
    XenMapCacheStats before, after;
    FakeXenStats fbefore;
    uint8_t *pinned, *p;

    setup();
    g_assert_nonnull(map0(bucket(51), 0));
    g_assert_nonnull(map0(bucket(52), 0));
    g_assert_nonnull(map0(bucket(53), 0));
    /* Out of their recent slots, and a grace period later: freeable. */
    g_assert_nonnull(map0(bucket(51 + 64), 0));
    g_assert_nonnull(map0(bucket(52 + 64), 0));
    g_assert_nonnull(map0(bucket(53 + 64), 0));
    pass_grace_periods();
    pinned = map1(pinned_addr, 64);
    before = ram_stats();
    fbefore = fake_stats();

    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    p = map0(bucket(55) + 0x10, 64);
    check_bytes(p, bucket(55) + 0x10, 64);
    after = ram_stats();
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, failures_injected), ==, 1);
    /* Unmapped at once, before the retry: no grace period to wait for. */
    g_assert_cmpuint(DELTA(after, before, freed_at_once), ==, 3);
    g_assert_cmpuint(DELTA(after, before, evictions), ==, 3);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, unmap_calls), ==, 3);
    g_assert_cmpuint(after.entries, ==, 5);
    g_assert_cmpuint(after.pinned_entries, ==, 1);
    check_bytes(pinned, pinned_addr, 64);
    unmap(pinned);
    teardown();
}

/*
 * Out of address space with nothing that may be freed (everything was
 * handed out within the current grace period): fatal, and the message
 * says what the cache holds.
 */
/*
 * A transient ENOMEM with nothing that may be unmapped (every unpinned
 * entry was handed out within the current grace period): the mapping is
 * retried once all the same, and served.
 */
static void test_fault_enomem_transient(void)
{
    FakeXenStats fbefore;
    uint8_t *p;
    int i;

    setup();
    for (i = 0; i < 32; i++) {
        g_assert_nonnull(map0(bucket(100 + i), 0));
    }
    fbefore = fake_stats();
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    p = map0(bucket(200) + 0x10, 64);
    check_bytes(p, bucket(200) + 0x10, 64);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, failures_injected), ==, 1);
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, unmap_calls), ==, 0);
    teardown();
}

static void test_fault_enomem_nothing_freeable(void)
{
    g_autofree char *expected = NULL;

    if (g_test_subprocess()) {
        setup();
        g_assert_nonnull(map0(bucket(51), 0));
        g_assert_nonnull(map1(bucket(52), 0));
        /* The first failure and its retry. */
        fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 2, ENOMEM);
        map0(bucket(53), 0);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    expected = g_strdup_printf("*mapping guest frames at guest address "
                               "0x%" PRIx64 " (size 0x%" PRIx64 ") failed: "
                               "Cannot allocate memory; the ram cache holds "
                               "0x%" PRIx64 " bytes live, 0x%" PRIx64 " of "
                               "them pinned, and 0x0 pending*",
                               bucket(53), BUCKET_SIZE, 2 * BUCKET_SIZE,
                               BUCKET_SIZE);
    g_test_trap_assert_stderr(expected);
}

/*
 * Bad input
 */

/* Invalidating a pointer the mapcache never pinned is a no-op. */
static void test_bad_unknown_pointer(void)
{
    uint8_t on_stack[16];
    uint8_t *p;

    setup();
    p = map1(bucket(60), 64);
    unmap(on_stack);
    unmap(NULL);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, bucket(60));
    unmap(p);
    teardown();
}

/* Only the exact pointer handed out is known. */
static void test_bad_middle_pointer(void)
{
    hwaddr a = bucket(61) + 0x100;
    uint8_t *p;

    setup();
    p = map1(a, 2 * FRAME_SIZE);
    unmap(p + 100);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p + 100), ==,
                    RAM_ADDR_INVALID);
    g_assert_cmphex(xen_ram_addr_from_mapcache(p), ==, a);
    xen_invalidate_map_cache();
    drain_call_rcu();
    check_bytes(p, a, 2 * FRAME_SIZE);
    unmap(p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    teardown();
}

/* A second invalidation of one pin must not take another pin with it. */
static void test_bad_double_invalidation(void)
{
    hwaddr a = bucket(62) + 0x100, b = bucket(62) + 0x8000;
    uint8_t *p, *q;

    setup();
    p = map1(a, 64);
    q = map1(b, 64);                    /* same entry, another pointer */
    unmap(p);
    unmap(p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    g_assert_cmphex(xen_ram_addr_from_mapcache(q), ==, b);
    xen_invalidate_map_cache();
    drain_call_rcu();
    g_assert_true(fake_xen_is_live(q, 64));
    check_bytes(q, b, 64);
    unmap(q);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    teardown();
}

/*
 * Counters
 */

/* The counters move as the header documents them. */
static void test_stats_counters(void)
{
    hwaddr a = bucket(70);
    XenMapCacheStats s, t;
    uint8_t *p;

    setup_with_limit(LIMIT_DEFAULT * 2);    /* nothing is evicted */
    s = ram_stats();
    g_assert_cmpuint(s.lookups_lock0 + s.lookups_lock1, ==, 0);
    g_assert_cmpuint(s.entries, ==, 0);
    g_assert_cmpuint(s.mapped_bytes, ==, 0);

    g_assert_nonnull(map0(a, 16));
    t = ram_stats();
    g_assert_cmpuint(t.lookups_lock0, ==, 1);
    g_assert_cmpuint(t.new_mappings, ==, 1);
    g_assert_cmpuint(t.pages_mapped, ==, BUCKET_FRAMES);
    g_assert_cmpuint(t.entries, ==, 1);
    g_assert_cmpuint(t.mapped_bytes, ==, BUCKET_SIZE);

    s = t;
    g_assert_nonnull(map0(a + 0x100, 16));      /* the recent entry again */
    t = ram_stats();
    g_assert_cmpuint(DELTA(t, s, recent_hits), ==, 1);
    g_assert_cmpuint(DELTA(t, s, new_mappings), ==, 0);

    forget_recent(70);
    s = ram_stats();
    g_assert_nonnull(map0(a, 16));              /* found in its chain */
    t = ram_stats();
    g_assert_cmpuint(DELTA(t, s, chain_hits), ==, 1);
    g_assert_cmpuint(DELTA(t, s, chain_steps), >=, 1);
    g_assert_cmpuint(DELTA(t, s, new_mappings), ==, 0);

    p = map1(a + 0x200, 16);
    t = ram_stats();
    g_assert_cmpuint(t.lookups_lock1, ==, 1);
    g_assert_cmpuint(t.pinned_entries, ==, 1);
    s = t;
    g_assert_nonnull(map0(a + 0x300, 16));      /* a pinned entry serves */
    t = ram_stats();
    g_assert_cmpuint(DELTA(t, s, pinned_reuses), ==, 1);
    unmap(p);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);

    /* The swept entries left their recent slots a grace period ago. */
    pass_grace_periods();
    s = ram_stats();
    xen_invalidate_map_cache();
    drain_call_rcu();
    t = ram_stats();
    g_assert_cmpuint(DELTA(t, s, flushed), ==, 1 + RECENT_SWEEP);
    /* Those past their grace period go at once, the others after one. */
    g_assert_cmpuint(DELTA(t, s, releases_queued) +
                     DELTA(t, s, freed_at_once), ==, 1 + RECENT_SWEEP);
    g_assert_cmpuint(DELTA(t, s, freed_at_once), >, 0);
    g_assert_cmpuint(t.releases_done, ==, t.releases_queued);
    g_assert_cmpuint(t.entries, ==, 0);
    g_assert_cmpuint(t.mapped_bytes, ==, 0);
    g_assert_cmpuint(t.lookups_lock0, ==, 4 + RECENT_SWEEP);
    teardown();
}

/*
 * Grace periods
 */

/* A reader that holds a read section until told to leave it. */
typedef struct HeldReader {
    QemuThread thread;
    bool inside;
    bool leave;
} HeldReader;

static void *held_reader_thread(void *opaque)
{
    HeldReader *r = opaque;

    rcu_register_thread();
    rcu_read_lock();
    qatomic_store_release(&r->inside, true);
    while (!qatomic_load_acquire(&r->leave)) {
        g_usleep(100);
    }
    rcu_read_unlock();
    rcu_unregister_thread();
    return NULL;
}

static void held_reader_start(HeldReader *r)
{
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;

    qemu_thread_create(&r->thread, "held-reader", held_reader_thread, r,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&r->inside)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }
}

static void held_reader_stop(HeldReader *r)
{
    qatomic_store_release(&r->leave, true);
    qemu_thread_join(&r->thread);
}

/*
 * Wait until the cache has counted @n grace periods: as QEMU's main loop
 * waits, without the BQL, which the call_rcu thread needs to run them.
 */
static void wait_grace_periods(uint64_t n)
{
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;

    bql_unlock();
    while (ram_stats().grace_periods < n) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }
    bql_lock();
}

/* A miss the kernel first answers with ENOMEM: what is freeable goes. */
static uint64_t miss_freeing(hwaddr addr)
{
    XenMapCacheStats before = ram_stats();

    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    check_bytes(map0(addr, 0), addr, BUCKET_SIZE);
    return DELTA(ram_stats(), before, freed_at_once);
}

/*
 * An RCU callback that blocks the RCU thread until released: callbacks
 * run one after the other, so those queued after it wait too.  It drops
 * the BQL while it blocks (as QEMU's call_rcu thread does while it waits
 * for a callback), so that the main thread goes on meanwhile.
 */
typedef struct BlockingCallback {
    struct rcu_head rcu;
    bool running;
    bool release;
} BlockingCallback;

static void blocking_callback_rcu(BlockingCallback *b)
{
    bql_unlock();
    qatomic_store_release(&b->running, true);
    while (!qatomic_load_acquire(&b->release)) {
        g_usleep(100);
    }
    bql_lock();
}

/* Without the BQL: the call_rcu thread needs it to reach @b. */
static void blocking_callback_wait_running(BlockingCallback *b)
{
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;

    bql_unlock();
    while (!qatomic_load_acquire(&b->running)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }
    bql_lock();
}

/*
 * An entry handed out while the cache's grace-period callback is already
 * queued is not protected by it: that grace period may have begun before
 * the reader took its pointer.  Only the next one, queued after the
 * hand-out, makes the entry freeable.  A reader held in its read section
 * keeps the first callback in flight across the hand-out; a callback that
 * blocks the RCU thread right after it keeps the next one from running.
 */
static void test_grace_period_began_after(void)
{
    HeldReader reader = { 0 };
    BlockingCallback blocker = { 0 };
    hwaddr cold = bucket(90), e = bucket(91);
    uint64_t gp0;
    uint8_t *p;

    setup();
    /* A freeable entry, so that the misses below have one to free. */
    g_assert_nonnull(map0(cold, 0));
    g_assert_nonnull(map0(cold + 64 * BUCKET_SIZE, 0));
    pass_grace_periods();
    gp0 = ram_stats().grace_periods;

    held_reader_start(&reader);
    g_assert_nonnull(map0(bucket(200), 0));     /* queues callback gp0 + 1 */
    p = map0(e, 0);                             /* handed out meanwhile */
    g_assert_nonnull(map0(e + 64 * BUCKET_SIZE, 0));   /* leaves its slot */
    call_rcu(&blocker, blocking_callback_rcu, rcu);
    held_reader_stop(&reader);
    blocking_callback_wait_running(&blocker);

    /*
     * The callback that was in flight has run: cold is freed, e is not
     * freeable yet (the new mapping may take cold's addresses, not e's).
     */
    g_assert_cmpuint(ram_stats().grace_periods, ==, gp0 + 1);
    g_assert_cmpuint(miss_freeing(bucket(300)), ==, 1);
    g_assert_true(fake_xen_is_live(p, BUCKET_SIZE));
    check_bytes(p, e, BUCKET_SIZE);

    /*
     * The next one, queued by the first as e waited for it, runs now; e
     * is the one entry out of its recent slot, so the one freed.
     */
    qatomic_store_release(&blocker.release, true);
    wait_grace_periods(gp0 + 2);
    g_assert_cmpuint(miss_freeing(bucket(301)), ==, 1);
    g_assert_cmpuint(ram_stats().entries, ==, 5);
    teardown();
}

/*
 * Found by the fuzz target (fuzz/corpus/)
 */

/*
 * Out of address space while a replacement probes the new frames: the
 * retry frees what it may, but not the unpinned dummy being replaced.
 */
static void test_fuzz_replace_enomem_keeps_dummy(void)
{
    hwaddr old = bucket(200), new = bucket(300);
    XenMapCacheStats before;
    uint8_t *p;

    setup();
    g_assert_nonnull(map0(bucket(10), 0));      /* one to free */
    g_assert_nonnull(map0(bucket(10 + 64), 0));
    fake_xen_set_hole(old / FRAME_SIZE, BUCKET_FRAMES, true);
    xen_mapcache_test_set_runstate(RUN_STATE_INMIGRATE);
    p = map0(old, 0);                           /* an unpinned dummy */
    g_assert_nonnull(p);
    g_assert_nonnull(map0(old + 64 * BUCKET_SIZE, 0));  /* out of its slot */
    pass_grace_periods();                       /* both freeable */
    before = ram_stats();
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    g_assert_true(xen_replace_cache_entry(old, new, BUCKET_SIZE) == p);
    check_bytes(p, new, BUCKET_SIZE);
    g_assert_cmpuint(DELTA(ram_stats(), before, freed_at_once), ==, 1);
    teardown();
}

/*
 * Out of address space, the retry frees every freeable entry, also one the
 * lock-free path hit (its CLOCK bit set): the second chance is for the
 * limit, not for a mapping that cannot be made otherwise.
 */
static void test_fuzz_enomem_frees_referenced(void)
{
    hwaddr a = bucket(40);
    XenMapCacheStats before;

    setup();
    g_assert_nonnull(map0(a, 0));
    g_assert_nonnull(map0(a + 0x100, 0));       /* a lock-free hit */
    g_assert_nonnull(map0(a + 64 * BUCKET_SIZE, 0));    /* out of its slot */
    pass_grace_periods();
    before = ram_stats();
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    check_bytes(map0(bucket(41), 0), bucket(41), BUCKET_SIZE);
    g_assert_cmpuint(DELTA(ram_stats(), before, freed_at_once), ==, 1);
    teardown();
}

/* A request over the limit is counted even when the recent slot serves it. */
static void test_fuzz_oversize_hit_counted(void)
{
    hwaddr a = bucket(50) + 0x100;
    XenMapCacheStats before;

    setup_with_limit(BUCKET_SIZE);
    before = ram_stats();
    check_bytes(map0(a, BUCKET_SIZE), a, BUCKET_SIZE);
    check_bytes(map0(a, BUCKET_SIZE), a, BUCKET_SIZE);
    g_assert_cmpuint(DELTA(ram_stats(), before, oversize), ==, 2);
    teardown();
}

/*
 * The budget
 */

/* The limit in buckets: 512 with -m slow, else 128 (fewer drains). */
#define BUDGET_BUCKETS_SLOW 512
#define BUDGET_BUCKETS 128
#define BUDGET_SLACK ((size_t)16 * BUCKET_SIZE)
#define BUDGET_DRAIN_EVERY 32

/*
 * Misses at distinct indexes, three times the limit, each in its own read
 * section, with a grace period every 32 of them, against a kernel that
 * refuses to map past the limit plus a little (as under RLIMIT_AS): the
 * cache frees what a grace period has freed before it maps more, so it
 * never fails, and holds live plus pending within its limit throughout.
 * Each grace period is a drain_call_rcu(), 50 ms or more with QEMU's RCU
 * pacing: the default run makes 12 of them, -m slow 48.
 */
static void test_budget_misses_past_limit(void)
{
    uint64_t buckets = g_test_slow() ? BUDGET_BUCKETS_SLOW : BUDGET_BUCKETS;
    size_t limit = buckets * BUCKET_SIZE;
    uint64_t misses = 3 * buckets;
    XenMapCacheStats s;
    uint64_t i;

    setup_with_limit(limit);
    fake_xen_set_budget(limit + BUDGET_SLACK, 0);
    for (i = 0; i < misses; i++) {
        /* 41 is prime to the 2^n buckets of guest RAM: all distinct. */
        hwaddr addr = bucket(i * 41 % (RAM_BYTES / BUCKET_SIZE));

        WITH_RCU_READ_LOCK_GUARD() {
            check_bytes(map0(addr, 0), addr, FRAME_SIZE);
        }
        if (i % BUDGET_DRAIN_EVERY == BUDGET_DRAIN_EVERY - 1) {
            s = ram_stats();
            g_assert_cmpuint(s.live_bytes + s.pending_bytes, <=, limit);
            drain_call_rcu();
        }
    }
    s = ram_stats();
    g_test_message("peak live + pending %" PRIu64 " MiB of %zu MiB; "
                   "%" PRIu64 " ranges freed at once, %" PRIu64 " queued, "
                   "%" PRIu64 " past the limit; fake budget refusals %"
                   PRIu64, s.peak_bytes / MiB, limit / MiB,
                   s.freed_at_once, s.releases_queued, s.over_limit,
                   fake_stats().budget_failures);
    g_assert_cmpuint(s.null_returns, ==, 0);
    g_assert_cmpuint(s.peak_bytes, <=, limit);
    g_assert_cmpuint(s.over_limit, ==, 0);
    g_assert_cmpuint(s.freed_at_once, >=, misses - buckets);
    teardown();
}

/*
 * Teardown
 */

/* xen_map_cache_fini() releases pinned entries and grants too. */
static void test_fini_releases_everything(void)
{
    setup();
    g_assert_nonnull(map1(bucket(80), 64));
    g_assert_nonnull(map1(bucket(81) - 256, 512));
    g_assert_nonnull(map0(bucket(83), 0));
    g_assert_nonnull(map_grant(1, 0, FRAME_SIZE, false));
    g_assert_nonnull(map_grant(1, 0, FRAME_SIZE, true));
    g_assert_cmpuint(fake_stats().live_ranges, ==, 5);
    teardown();

    /* And the mapcache can be set up again. */
    setup();
    check_bytes(map1(bucket(80), 64), bucket(80), 64);
    teardown();
}

/*
 * Seed scenarios
 */

typedef struct DmaOverlapCase {
    const char *create;     /* the order of the requests A, B, C */
    const char *release;    /* the order of their invalidations */
} DmaOverlapCase;

static const DmaOverlapCase dma_overlap_cases[] = {
    { "ABC", "ABC" }, { "ABC", "ACB" }, { "ABC", "BAC" },
    { "ABC", "BCA" }, { "ABC", "CAB" }, { "ABC", "CBA" },
    { "BAC", "ABC" }, { "BAC", "ACB" }, { "BAC", "BAC" },
    { "BAC", "BCA" }, { "BAC", "CAB" }, { "BAC", "CBA" },
};

typedef struct Dma {
    hwaddr addr;
    hwaddr size;
    uint8_t *p;
    int token;
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
 * flight fails (and the reader registry records a violation).  A leaked
 * pin fails the final pinned_entries == 0.
 */
static void test_scenario_dma_overlap(gconstpointer opaque)
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
        d->token = fake_xen_reader_enter(d->p, d->size);
        d->held = true;
    }
    dma_check_held(dma, 3);

    for (i = 0; i < 3; i++) {
        Dma *d = &dma[c->release[i] - 'A'];

        unmap(d->p);
        fake_xen_reader_exit(d->token);
        d->held = false;
        g_assert_cmphex(xen_ram_addr_from_mapcache(d->p), ==,
                        RAM_ADDR_INVALID);

        g_assert_nonnull(map0(base, 3 * BUCKET_SIZE));
        xen_invalidate_map_cache();
        drain_call_rcu();
        dma_check_held(dma, 3);
        g_assert_cmpuint(fake_stats().violations, ==, 0);
    }
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
    teardown();
}

/*
 * A lock0 reader against a writer thread
 */

typedef struct ReaderCase {
    size_t limit;
    hwaddr addr;            /* the reader's lock0 request */
    hwaddr size;
    void (*prepare)(void);  /* before the reader starts */
    void (*act)(void);      /* while the reader holds its pointer */
    bool entry_goes;        /* the act detaches the reader's entry */
} ReaderCase;

typedef struct ReaderRun {
    const ReaderCase *c;
    uint8_t *p;             /* the reader's pointer */
    bool holding;           /* reader -> writer: pointer taken */
    bool acted;             /* writer -> reader: action done */
    /* Results, read after the join. */
    bool mapped;
    bool writer_blocked;
    bool live_after;
    size_t wrong_before;
    size_t wrong_after;
} ReaderRun;

#define READER_BASE ((hwaddr)32 << BUCKET_SHIFT)

static uint8_t *reader_pin;

static void *reader_thread(void *opaque)
{
    ReaderRun *r = opaque;
    hwaddr addr = r->c->addr, len = r->c->size;
    gint64 deadline;
    uint8_t *p;
    int token = 0;

    rcu_register_thread();
    rcu_read_lock();
    p = r->p = map0(addr, len);
    r->mapped = p != NULL;
    if (p) {
        token = fake_xen_reader_enter(p, len);
        r->wrong_before = fake_xen_check_ram(p, addr, len);
    }
    qatomic_store_release(&r->holding, true);

    /* Inside the read section, wait for the writer's action to finish. */
    deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;
    while (!qatomic_load_acquire(&r->acted)) {
        if (g_get_monotonic_time() > deadline) {
            r->writer_blocked = true;
            break;
        }
        g_usleep(100);
    }

    if (p) {
        r->live_after = fake_xen_is_live(p, len);
        if (r->live_after) {
            r->wrong_after = fake_xen_check_ram(p, addr, len);
        }
        fake_xen_reader_exit(token);
    }
    rcu_read_unlock();
    rcu_unregister_thread();
    return NULL;
}

/* Another index in the same slot of upstream's table: it was recycled. */
static void act_collision(void)
{
    XenMapCacheStats before = ram_stats();

    g_assert_nonnull(map0(READER_BASE + UPSTREAM_CACHE_SIZE, 0));
    g_assert_nonnull(map0(READER_BASE + LIMIT_DEFAULT, 0));
    g_assert_cmpuint(DELTA(ram_stats(), before, new_mappings), ==, 2);
}

/* A larger request at the same index: the 1-bucket entry is recycled. */
static void act_grow(void)
{
    XenMapCacheStats before = ram_stats();

    g_assert_nonnull(map0(READER_BASE + BUCKET_SIZE - 256, 512));
    g_assert_cmpuint(DELTA(ram_stats(), before, new_mappings), ==, 1);
}

/* A smaller request at the same index (upstream resized the entry). */
static void act_shrink(void)
{
    uint8_t *p;

    g_assert_nonnull(map0(READER_BASE, 0));
    p = map1(READER_BASE, FRAME_SIZE);
    g_assert_nonnull(p);
    unmap(p);
}

/*
 * A pinned 1-bucket entry behind an unpinned 2-bucket chain head: the
 * reader's request is served by the pinned one, beyond the head.  Accesses
 * elsewhere last, so that the reader's request walks the chain.
 */
static void prepare_pinned_beyond_head(void)
{
    reader_pin = map1(READER_BASE + 0x1000, 16);
    g_assert_nonnull(reader_pin);
    unmap(map1(READER_BASE + BUCKET_SIZE - 256, 512));
    forget_recent(READER_BASE >> BUCKET_SHIFT);
}

/* The last unpin of the entry the reader's lock0 pointer points into. */
static void act_unpin(void)
{
    XenMapCacheStats stats = ram_stats();

    g_assert_cmpuint(stats.pinned_reuses_beyond_head, ==, 1);
    unmap(reader_pin);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 0);
}

static void act_flush(void)
{
    XenMapCacheStats before = ram_stats();

    xen_invalidate_map_cache();
    g_assert_cmpuint(DELTA(ram_stats(), before, flushed), >=, 1);
}

/* Enough other buckets, with a small limit, that the reader's goes. */
static void act_evict(void)
{
    XenMapCacheStats before = ram_stats();
    unsigned i;

    for (i = 1; i <= 2 * LIMIT_SMALL / BUCKET_SIZE; i++) {
        g_assert_nonnull(map0(READER_BASE + bucket(2 * i), 0));
    }
    g_assert_cmpuint(DELTA(ram_stats(), before, evictions), >,
                     LIMIT_SMALL / BUCKET_SIZE);
}

static const ReaderCase reader_collision = {
    LIMIT_DEFAULT, READER_BASE + 0x4000, FRAME_SIZE, NULL, act_collision,
    false,
};
static const ReaderCase reader_grow = {
    LIMIT_DEFAULT, READER_BASE + 0x4000, FRAME_SIZE, NULL, act_grow, true,
};
static const ReaderCase reader_shrink = {
    LIMIT_DEFAULT, READER_BASE + BUCKET_SIZE - FRAME_SIZE, 2 * FRAME_SIZE,
    NULL, act_shrink, false,
};
static const ReaderCase reader_unpin = {
    LIMIT_DEFAULT * 2, READER_BASE + 0x4000, FRAME_SIZE,
    prepare_pinned_beyond_head, act_unpin, false,
};
static const ReaderCase reader_flush = {
    LIMIT_DEFAULT, READER_BASE + 0x4000, FRAME_SIZE, NULL, act_flush, true,
};
static const ReaderCase reader_evict = {
    LIMIT_SMALL, READER_BASE + 0x4000, FRAME_SIZE, NULL, act_evict, true,
};

/*
 * A lock0 pointer held inside rcu_read_lock() by one thread while another
 * thread makes its entry go: recycled for another index of the same slot
 * of upstream's table (collision), replaced by a larger entry at the same
 * index (grow), asked for at a smaller size (shrink), unpinned for the last
 * time (unpin: the reader's request was served by a pinned entry behind
 * the chain head, which upstream unmapped at once at its last unpin),
 * flushed, or evicted.
 *
 * Catches: a mapcache that munmaps, remaps in place (MAP_FIXED) or hands
 * the range out again without waiting for the readers, as upstream does in
 * each of these cases: the reader registry records a violation, and the
 * reader's bytes are wrong or its range is no longer mapped.  Also catches
 * a grace-period wait (synchronize_rcu()) on the writer's path: the writer
 * blocks on the reader, which waits for the writer; the reader gives up
 * after HANDSHAKE_TIMEOUT_US and the test fails on writer_blocked.
 */
static void test_scenario_reader_vs_writer(gconstpointer opaque)
{
    ReaderRun run = { .c = opaque };
    QemuThread thread;
    gint64 deadline;

    setup_with_limit(run.c->limit);
    if (run.c->prepare) {
        run.c->prepare();
    }
    qemu_thread_create(&thread, "mapcache-reader", reader_thread, &run,
                       QEMU_THREAD_JOINABLE);
    deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;
    while (!qatomic_load_acquire(&run.holding)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(100);
    }

    run.c->act();
    qatomic_store_release(&run.acted, true);
    qemu_thread_join(&thread);

    g_assert_true(run.mapped);
    g_assert_false(run.writer_blocked);
    g_assert_cmpuint(run.wrong_before, ==, 0);
    g_assert_true(run.live_after);
    g_assert_cmpuint(run.wrong_after, ==, 0);
    g_assert_cmpuint(fake_stats().violations, ==, 0);

    /* Once the reader is gone, the entry went if the act made it go. */
    drain_call_rcu();
    g_assert_cmpint(fake_xen_is_live(run.p, run.c->size), !=,
                    run.c->entry_goes);
    teardown();
}

/*
 * A lock0 and a lock1 request served by a pinned entry that is not the
 * chain head.  E1 (1 bucket, pinned) is made first; E2 (2 buckets, pinned,
 * the new chain head) next; E2 is then unpinned and stays cached.  A
 * 1-bucket lock0 and a lock1 request at the index are served by E1.
 *
 * Catches: a lookup that stops at the first unpinned entry of the chain
 * and only takes an entry of exactly the size needed (upstream 9.2): it
 * stops at E2, sees the wrong size and remaps it, so map_calls moves; a
 * lookup that finds E2 instead of the pinned E1 fails the
 * pinned_reuses_beyond_head count.
 */
static void test_scenario_locked_beyond_head(void)
{
    hwaddr base = bucket(48);
    XenMapCacheStats before, after;
    FakeXenStats fbefore;
    uint8_t *e1, *e2, *p, *q;

    setup_with_limit(LIMIT_DEFAULT * 2);
    e1 = map1(base, FRAME_SIZE);
    e2 = map1(base + BUCKET_SIZE - 256, 512);
    check_bytes(e1, base, FRAME_SIZE);
    check_bytes(e2, base + BUCKET_SIZE - 256, 512);
    unmap(e2);
    g_assert_cmpuint(ram_stats().pinned_entries, ==, 1);
    /*
     * Accesses elsewhere in between, as a guest makes them: the requests
     * below then walk the chain instead of taking the entry that served
     * there last (E2) from the recent slot.
     */
    forget_recent(48);

    before = ram_stats();
    fbefore = fake_stats();
    p = map0(base, 0);
    q = map1(base + 0x3000, FRAME_SIZE);
    after = ram_stats();
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==, 0);
    g_assert_cmpuint(DELTA(after, before, new_mappings), ==, 0);
    g_assert_cmpuint(DELTA(after, before, recycled), ==, 0);
    g_assert_cmpuint(DELTA(after, before, pinned_reuses), ==, 2);
    g_assert_cmpuint(DELTA(after, before, pinned_reuses_beyond_head), ==, 2);
    g_assert_true(p == e1);
    g_assert_true(q == e1 + 0x3000);
    check_bytes(p, base, BUCKET_SIZE);
    check_bytes(q, base + 0x3000, FRAME_SIZE);
    unmap(q);
    unmap(e1);
    teardown();
}

#define PING_PONG_ROUNDS 1000

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
static void test_scenario_size_ping_pong(void)
{
    hwaddr base = bucket(64), across = base + BUCKET_SIZE - 256;
    XenMapCacheStats before, after;
    FakeXenStats fbefore;
    uint8_t *p;
    int i;

    setup();
    before = ram_stats();
    fbefore = fake_stats();
    for (i = 0; i < PING_PONG_ROUNDS; i++) {
        p = map0(base, 0);
        check_bytes(p, base, 64);
        p = map1(across, 512);
        check_bytes(p, across, 512);
        unmap(p);
    }
    after = ram_stats();
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), <=, 2);
    g_assert_cmpuint(DELTA(after, before, new_mappings), <=, 2);
    g_assert_cmpuint(DELTA(after, before, recycled), <=, 1);
    g_assert_cmpuint(after.pinned_entries, ==, 0);
    teardown();
}

/*
 * Addresses a cache size apart (upstream's 32 GiB, and the limit set
 * here) shared one slot of upstream's table, whose head was remapped from
 * one to the other.  With the working set well within the limit, they must
 * map once each and then stay.
 *
 * Catches: a table indexed by bucket index modulo a cache size, whose
 * colliding entries evict or remap each other: map_calls grows with the
 * rounds instead of staying at 3, and remaps or evictions move.
 */
static void test_scenario_collisions(void)
{
    const hwaddr addrs[] = {
        bucket(80), bucket(80) + UPSTREAM_CACHE_SIZE,
        bucket(80) + LIMIT_DEFAULT,
    };
    XenMapCacheStats before, after;
    FakeXenStats fbefore;
    size_t i;
    int round;

    setup();
    before = ram_stats();
    fbefore = fake_stats();
    for (round = 0; round < 100; round++) {
        for (i = 0; i < ARRAY_SIZE(addrs); i++) {
            check_bytes(map0(addrs[i] + 0x40, 64), addrs[i] + 0x40, 64);
        }
    }
    after = ram_stats();
    g_assert_cmpuint(DELTA(fake_stats(), fbefore, map_calls), ==,
                     ARRAY_SIZE(addrs));
    g_assert_cmpuint(DELTA(after, before, evictions), ==, 0);
    g_assert_cmpuint(DELTA(after, before, recycled), ==, 0);
    teardown();
}

/*
 * Readers against an updater, for a while
 */

#define RCU_READERS 2
#define RCU_BUCKETS 4
#define RCU_BASE ((hwaddr)512 << BUCKET_SHIFT)

typedef struct RcuReader {
    QemuThread thread;
    GRand *rand;
    uint64_t reads;
    uint64_t wrong;
    uint64_t nulls;
} RcuReader;

static bool rcu_go;
static bool rcu_stop;

static void rcu_read_once(RcuReader *r)
{
    hwaddr addr = RCU_BASE +
                  bucket(g_rand_int_range(r->rand, 0, RCU_BUCKETS)) +
                  g_rand_int_range(r->rand, 0, BUCKET_FRAMES) * FRAME_SIZE;
    uint8_t *p;
    int token;

    RCU_READ_LOCK_GUARD();
    p = map0(addr, FRAME_SIZE);
    if (!p) {
        r->nulls++;
        return;
    }
    token = fake_xen_reader_enter(p, FRAME_SIZE);
    r->wrong += fake_xen_check_ram(p, addr, FRAME_SIZE);
    fake_xen_reader_exit(token);
    r->reads++;
}

static void *rcu_reader_thread(void *opaque)
{
    RcuReader *r = opaque;

    rcu_register_thread();
    while (!qatomic_load_acquire(&rcu_go)) {
        g_usleep(10);
    }
    while (!qatomic_read(&rcu_stop)) {
        rcu_read_once(r);
    }
    rcu_unregister_thread();
    return NULL;
}

/* One round of everything that makes an entry go. */
static void rcu_update_once(unsigned round)
{
    hwaddr base = RCU_BASE + bucket(round % RCU_BUCKETS);
    uint8_t *p;

    g_assert_nonnull(map0(base + BUCKET_SIZE - 256, 512));    /* grow */
    g_assert_nonnull(map0(base + UPSTREAM_CACHE_SIZE, 0));    /* collide */
    p = map1(base + 0x1000, 3 * BUCKET_SIZE);                 /* pin */
    g_assert_nonnull(p);
    unmap(p);
    if (round % 4 == 3) {
        xen_invalidate_map_cache();
    }
}

/*
 * lock0 readers in read sections while an updater grows, collides, pins,
 * unpins, flushes and, with a small limit, evicts: no wrong byte, no
 * violation.  Short by default; longer with -m slow.
 */
static void test_rcu_readers_vs_updater(void)
{
    gint64 duration = g_test_quick() ? G_USEC_PER_SEC / 4
                                     : 5 * G_USEC_PER_SEC;
    RcuReader readers[RCU_READERS] = { 0 };
    uint64_t reads = 0;
    unsigned round = 0;
    gint64 end;
    int i;

    setup_with_limit(LIMIT_SMALL);
    qatomic_set(&rcu_go, false);
    qatomic_set(&rcu_stop, false);
    for (i = 0; i < RCU_READERS; i++) {
        readers[i].rand = g_rand_new_with_seed(g_test_rand_int());
        qemu_thread_create(&readers[i].thread, "mapcache-reader",
                           rcu_reader_thread, &readers[i],
                           QEMU_THREAD_JOINABLE);
    }

    qatomic_store_release(&rcu_go, true);
    end = g_get_monotonic_time() + duration;
    while (g_get_monotonic_time() < end) {
        rcu_update_once(round++);
    }
    qatomic_set(&rcu_stop, true);

    for (i = 0; i < RCU_READERS; i++) {
        qemu_thread_join(&readers[i].thread);
        g_rand_free(readers[i].rand);
        g_assert_cmpuint(readers[i].wrong, ==, 0);
        g_assert_cmpuint(readers[i].nulls, ==, 0);
        reads += readers[i].reads;
    }
    g_assert_cmpuint(reads, >, 0);
    g_assert_cmpuint(fake_stats().violations, ==, 0);
    if (g_test_verbose()) {
        g_test_message("%" PRIu64 " reads, %u update rounds", reads, round);
    }
    teardown();
}

/*
 * A little of everything, for the example in docs/devel/xen-mapcache.rst
 * (from tests/unit/test-xen-mapcache-info.c): run with --verbose to see
 * the text of "info xen-mapcache".
 */
static void test_info_example(void)
{
    g_autoptr(GString) text = NULL;
    XenMapCacheStats stats;
    uint8_t *dma, *again, *grant;
    int i;

    setup_with_limit(64 * MiB);
    dma = map1(0, 4 * KiB);
    again = map1(0, 4 * KiB);               /* a reuse of a pinned entry */
    for (i = 0; i < 8; i++) {
        g_assert_nonnull(map0((i % 4 + 1) * BUCKET_SIZE, 64));
    }
    g_assert_nonnull(map0(BUCKET_SIZE + 16, 2 * BUCKET_SIZE)); /* remap */
    grant = map_grant(3, 0, FRAME_SIZE, false);
    g_assert_nonnull(grant);
    unmap(grant);
    xen_invalidate_map_cache();             /* flush the unpinned ones */
    drain_call_rcu();

    text = xen_map_cache_format_info();
    if (g_test_verbose()) {
        g_printerr("%s", text->str);
    }
    stats = ram_stats();
    g_assert_cmpuint(stats.pinned_reuses, ==, 1);
    g_assert_cmpuint(stats.recycled, ==, 1);
    g_assert_cmpuint(stats.flushed, >, 0);
    unmap(again);
    unmap(dma);
    teardown();
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_data_func("/xen-mapcache/sizing/lock0", GUINT_TO_POINTER(0),
                         test_sizing);
    g_test_add_data_func("/xen-mapcache/sizing/lock1", GUINT_TO_POINTER(1),
                         test_sizing);
    g_test_add_func("/xen-mapcache/sizing/hit", test_sizing_hit);
    g_test_add_func("/xen-mapcache/bytes/write-reaches-guest",
                    test_bytes_write_reaches_guest);
    g_test_add_func("/xen-mapcache/holes/null", test_holes_null);
    g_test_add_func("/xen-mapcache/inmigrate/dummy-replaced",
                    test_inmigrate_dummy_replaced);
    g_test_add_func("/xen-mapcache/inmigrate/replace-hole",
                    test_inmigrate_replace_hole);
    g_test_add_func("/xen-mapcache/inmigrate/replace-size-relation",
                    test_inmigrate_replace_size_relation);
    g_test_add_func("/xen-mapcache/inmigrate/replace-enomem",
                    test_inmigrate_replace_enomem);
    g_test_add_func("/xen-mapcache/inmigrate/replace-needs-dummy",
                    test_inmigrate_replace_needs_dummy);
    g_test_add_func("/xen-mapcache/grants/lazy", test_grants_lazy);
    g_test_add_func("/xen-mapcache/grants/ro-rw-separate",
                    test_grants_ro_rw_separate);
    g_test_add_func("/xen-mapcache/grants/page-granular",
                    test_grants_page_granular);
    g_test_add_func("/xen-mapcache/grants/released-at-last-unpin",
                    test_grants_released_at_last_unpin);
    g_test_add_func("/xen-mapcache/grants/flush-leaves-them",
                    test_grants_flush_leaves_them);
    g_test_add_func("/xen-mapcache/grants/lock0-aborts",
                    test_grants_lock0_aborts);
    g_test_add_func("/xen-mapcache/notify/add-remove",
                    test_notify_add_remove);
    g_test_add_func("/xen-mapcache/reverse/pinned", test_reverse_pinned);
    g_test_add_func("/xen-mapcache/reverse/unknown", test_reverse_unknown);
    g_test_add_func("/xen-mapcache/reverse/pinned-twice",
                    test_reverse_pinned_twice);
    g_test_add_func("/xen-mapcache/reverse/1-vs-1024", test_reverse_o1);
    g_test_add_func("/xen-mapcache/coroutine/bounce", test_coroutine_bounce);
    g_test_add_func("/xen-mapcache/flush/drains", test_flush_drains);
    g_test_add_func("/xen-mapcache/flush/drops-unpinned",
                    test_flush_drops_unpinned);
    g_test_add_func("/xen-mapcache/flush/releases-through-rcu",
                    test_flush_releases_through_rcu);
    g_test_add_func("/xen-mapcache/limit/evicts", test_limit_evicts);
    g_test_add_func("/xen-mapcache/limit/lru", test_limit_lru);
    g_test_add_func("/xen-mapcache/limit/pinned-kept",
                    test_limit_pinned_kept);
    g_test_add_func("/xen-mapcache/limit/oversize-served",
                    test_limit_oversize_served);
    g_test_add_func("/xen-mapcache/limit/too-large", test_limit_too_large);
    g_test_add_func("/xen-mapcache/limit/below-one-bucket",
                    test_limit_below_one_bucket);
    g_test_add_func("/xen-mapcache/grants/bad-ref", test_grants_bad_ref);
    g_test_add_data_func("/xen-mapcache/fault/efault", &fatal_efault,
                         test_fault_fatal);
    g_test_add_data_func("/xen-mapcache/fault/einval", &fatal_einval,
                         test_fault_fatal);
    g_test_add_data_func("/xen-mapcache/fault/enomem-twice",
                         &fatal_enomem_twice, test_fault_fatal);
    g_test_add_data_func("/xen-mapcache/fault/grant-map", &fatal_grant,
                         test_fault_fatal);
    g_test_add_func("/xen-mapcache/fault/enomem-nothing-freeable",
                    test_fault_enomem_nothing_freeable);
    g_test_add_func("/xen-mapcache/fault/enomem-recovered",
                    test_fault_enomem_recovered);
    g_test_add_func("/xen-mapcache/fault/enomem-transient",
                    test_fault_enomem_transient);
    g_test_add_func("/xen-mapcache/bad-input/unknown-pointer",
                    test_bad_unknown_pointer);
    g_test_add_func("/xen-mapcache/bad-input/middle-pointer",
                    test_bad_middle_pointer);
    g_test_add_func("/xen-mapcache/bad-input/double-invalidation",
                    test_bad_double_invalidation);
    g_test_add_func("/xen-mapcache/stats/counters", test_stats_counters);
    g_test_add_func("/xen-mapcache/fuzz/replace-enomem-keeps-dummy",
                    test_fuzz_replace_enomem_keeps_dummy);
    g_test_add_func("/xen-mapcache/fuzz/enomem-frees-referenced",
                    test_fuzz_enomem_frees_referenced);
    g_test_add_func("/xen-mapcache/fuzz/oversize-hit-counted",
                    test_fuzz_oversize_hit_counted);
    g_test_add_func("/xen-mapcache/budget/misses-past-limit",
                    test_budget_misses_past_limit);
    g_test_add_func("/xen-mapcache/grace-period/began-after",
                    test_grace_period_began_after);
    g_test_add_func("/xen-mapcache/fini/releases-everything",
                    test_fini_releases_everything);

    for (i = 0; i < ARRAY_SIZE(dma_overlap_cases); i++) {
        const DmaOverlapCase *c = &dma_overlap_cases[i];
        g_autofree char *path =
            g_strdup_printf("/xen-mapcache/scenario/dma-overlap/"
                            "create-%s/release-%s", c->create, c->release);

        g_test_add_data_func(path, c, test_scenario_dma_overlap);
    }
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/collision",
                         &reader_collision, test_scenario_reader_vs_writer);
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/grow",
                         &reader_grow, test_scenario_reader_vs_writer);
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/shrink",
                         &reader_shrink, test_scenario_reader_vs_writer);
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/unpin",
                         &reader_unpin, test_scenario_reader_vs_writer);
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/flush",
                         &reader_flush, test_scenario_reader_vs_writer);
    g_test_add_data_func("/xen-mapcache/scenario/reader-vs-writer/evict",
                         &reader_evict, test_scenario_reader_vs_writer);
    g_test_add_func("/xen-mapcache/scenario/locked-beyond-head",
                    test_scenario_locked_beyond_head);
    g_test_add_func("/xen-mapcache/scenario/size-ping-pong",
                    test_scenario_size_ping_pong);
    g_test_add_func("/xen-mapcache/scenario/collisions",
                    test_scenario_collisions);
    g_test_add_func("/xen-mapcache/info/example", test_info_example);
    g_test_add_func("/xen-mapcache/rcu/readers-vs-updater",
                    test_rcu_readers_vs_updater);

    return g_test_run();
}
