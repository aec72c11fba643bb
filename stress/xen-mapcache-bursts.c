/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Xen mapcache: bursts of DMA under a finite RLIMIT_AS, as an
 * unprivileged QEMU runs them, from the main thread and from an IOThread.
 *
 * Each test runs in a subprocess that sets RLIMIT_AS, drops to uid 65534
 * and sets the cache up as QEMU does, through xen_map_cache_init() or
 * with a size option.  A request is made as address_space_map() makes it:
 * inside an RCU read section, a 64-byte lock0 read of a descriptor in the
 * bucket, then a 128 KiB lock1 map; eight are in flight.  Nothing waits
 * for a grace period; in the worst case, one read section around the
 * whole burst, no grace period can end.  That case runs in the main
 * thread only: an IOThread adds its stack to the address space QEMU
 * needs, and with 80 MiB left to the rest of the process, a cache full of
 * entries that a still open read section may point into cannot make room
 * (docs/devel/xen-mapcache.rst, "The limit").  The cache must neither
 * exit nor show wrong bytes, and the fake hypervisor's peak of mapped
 * pages must stay within the limit plus the pages readers were handed
 * while nothing could be evicted (docs/devel/xen-mapcache.rst, "The
 * limit").
 *
 * Standalone only: QEMU's unit tests do not run as root, and sanitizers'
 * shadow memory does not fit a finite RLIMIT_AS.
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "block/aio.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-fake-xen.h"
#include "test-xen-mapcache-stubs.h"

#define BUCKET_SIZE ((uint64_t)XEN_MAPCACHE_BUCKET_SIZE)
/*
 * Requests start a MiB apart, each in a bucket of its own whatever the
 * bucket size, so that a burst is the same on 32-bit hosts' constants.
 */
#define REQUEST_STRIDE ((uint64_t)MiB)
#define PAGE ((uint64_t)FAKE_XEN_PAGE_SIZE)
#define IN_FLIGHT 8
#define DESCRIPTOR_SIZE 64
#define DATA_SIZE (128 * KiB)
#define RAM_BYTES (64 * GiB)
/*
 * The main loop serves this many requests per iteration with the BQL
 * held, and drops it in between: only then may the call_rcu thread run
 * callbacks.
 */
#define MAIN_LOOP_BATCH 256

#if defined(QEMU_SANITIZE_ADDRESS) || defined(QEMU_SANITIZE_THREAD)
#define SANITIZED_BUILD 1
#endif

typedef struct Burst {
    uint64_t requests;          /* each in a bucket of its own */
    bool one_read_section;      /* around the whole burst */
    bool dma_only;              /* no descriptor read before the map */
    uint64_t wrong_bytes;
} Burst;

static uint8_t *map0(uint64_t addr, uint64_t size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         0, false, false);
}

static uint8_t *map1(uint64_t addr, uint64_t size)
{
    return xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                         1, true, true);
}

static XenMapCacheStats ram_stats(void)
{
    XenMapCacheStats stats;

    g_assert_true(xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &stats));
    return stats;
}

static void run_burst(Burst *b)
{
    uint8_t *in_flight[IN_FLIGHT] = { NULL };
    uint64_t i;

    if (b->one_read_section) {
        rcu_read_lock();
    }
    for (i = 0; i < b->requests; i++) {
        uint64_t base = (i + 16) * REQUEST_STRIDE;
        unsigned slot = i % IN_FLIGHT;
        uint8_t *desc;

        if (bql_locked() && i && i % MAIN_LOOP_BATCH == 0) {
            bql_unlock();
            bql_lock();
        }
        if (in_flight[slot]) {
            xen_invalidate_map_cache_entry(in_flight[slot]);
        }
        WITH_RCU_READ_LOCK_GUARD() {
            if (!b->dma_only) {
                desc = map0(base, DESCRIPTOR_SIZE);
                b->wrong_bytes += fake_xen_check_ram(desc, base,
                                                     DESCRIPTOR_SIZE);
            }
            in_flight[slot] = map1(base + 64 * KiB, DATA_SIZE);
        }
        b->wrong_bytes += fake_xen_check_ram(in_flight[slot],
                                             base + 64 * KiB, DATA_SIZE);
    }
    for (i = 0; i < IN_FLIGHT; i++) {
        if (in_flight[i]) {
            xen_invalidate_map_cache_entry(in_flight[i]);
        }
    }
    if (b->one_read_section) {
        rcu_read_unlock();
    }
}

typedef struct IOThreadBurst {
    Burst *burst;
    bool done;
} IOThreadBurst;

static void *iothread_burst(void *opaque)
{
    IOThreadBurst *t = opaque;

    rcu_register_thread();
    run_burst(t->burst);        /* without the BQL */
    rcu_unregister_thread();
    qatomic_store_release(&t->done, true);
    return NULL;
}

/* Run @b in an IOThread while this thread runs the main loop. */
static void run_burst_in_iothread(Burst *b)
{
    IOThreadBurst t = { .burst = b };
    QemuThread thread;

    qemu_thread_create(&thread, "iothread", iothread_burst, &t,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&t.done)) {
        /*
         * Wait for events without the BQL, as QEMU's main loop does in
         * ppoll(), then run bottom halves with it.
         */
        bql_unlock();
        g_usleep(1000);
        bql_lock();
        aio_poll(qemu_get_aio_context(), false);
    }
    qemu_thread_join(&thread);
}

/* This process's address space now, from /proc/self/statm. */
static uint64_t address_space_now(void)
{
    g_autofree char *statm = NULL;
    unsigned long pages = 0;

    g_assert_true(g_file_get_contents("/proc/self/statm", &statm, NULL,
                                      NULL));
    g_assert_cmpint(sscanf(statm, "%lu", &pages), ==, 1);
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

typedef struct BurstCase {
    uint64_t rlimit_above_now;  /* RLIMIT_AS: what the process has + this */
    uint64_t rlimit_total;      /* or this, if not 0 */
    uint64_t option;            /* the size option; 0 for none */
    uint64_t times_limit;       /* MiB requested, in limits */
    bool iothread;
    bool one_read_section;
    bool dma_only;
} BurstCase;

static void test_burst(const void *opaque)
{
    const BurstCase *c = opaque;

    if (g_test_subprocess()) {
        struct rlimit rl;
        XenMapCacheStats s;
        FakeXenStats fs;
        Burst b = {
            .one_read_section = c->one_read_section,
            .dma_only = c->dma_only,
        };
        uint64_t limit, slack;

        bql_lock();     /* this thread is the main loop */
        fake_xen_init(RAM_BYTES, 0);
        rl.rlim_cur = rl.rlim_max = c->rlimit_total ? c->rlimit_total :
                                    address_space_now() + c->rlimit_above_now;
        g_assert_cmpint(setrlimit(RLIMIT_AS, &rl), ==, 0);
        g_assert_cmpint(setresgid(65534, 65534, 65534), ==, 0);
        g_assert_cmpint(setresuid(65534, 65534, 65534), ==, 0);
        if (c->option) {
            xen_map_cache_init_limit(NULL, NULL, c->option, &error_abort);
        } else {
            xen_map_cache_init(NULL, NULL);
        }
        limit = ram_stats().limit_bytes;
        b.requests = c->times_limit * limit / REQUEST_STRIDE;
        if (c->iothread) {
            run_burst_in_iothread(&b);
        } else {
            run_burst(&b);
        }
        s = ram_stats();
        fake_xen_get_stats(&fs);
        /* Readers were handed at most a page of each descriptor read. */
        slack = b.requests * PAGE + IN_FLIGHT * (DATA_SIZE + BUCKET_SIZE);
        g_printerr("# limit %" PRIu64 " MiB (%" PRIu64 " MiB at the end), %"
                   PRIu64 " requests: fake "
                       "peak %" PRIu64 " KiB mapped; %" PRIu64 " mappings "
                       "of pages only, %" PRIu64 " past the limit, %" PRIu64
                       " freed at once, %" PRIu64 " by the main loop, %"
                       PRIu64 " queued\n",
                       limit / MiB, s.limit_bytes / MiB, b.requests,
                       fs.peak_live_pages * PAGE / KiB, s.partial_mappings,
                       s.over_limit, s.freed_at_once, s.freed_by_main_loop,
                       s.releases_queued);
        g_assert_cmpuint(b.wrong_bytes, ==, 0);
        g_assert_cmpuint(fs.violations, ==, 0);
        g_assert_cmpuint(fs.peak_live_pages * PAGE, <=, limit + slack);
        xen_map_cache_fini();
        bql_unlock();
        return;
    }
    if (geteuid() != 0) {
        g_test_skip("setting RLIMIT_AS and dropping the uid needs root");
        return;
    }
#ifdef SANITIZED_BUILD
    g_test_skip("a sanitizer's shadow memory does not fit RLIMIT_AS");
    return;
#endif
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDOUT |
                           G_TEST_SUBPROCESS_INHERIT_STDERR);
    g_test_trap_assert_passed();
}

/* A hard RLIMIT_AS of 1 GiB: the cache takes 944 MiB of it. */
static const BurstCase burst_main = {
    .rlimit_total = 1 * GiB, .times_limit = 4, .one_read_section = true,
};
static const BurstCase burst_main_sections = {
    .rlimit_total = 1 * GiB, .times_limit = 4,
};
static const BurstCase burst_iothread = {
    .rlimit_total = 1 * GiB, .times_limit = 4, .iothread = true,
};
/* An IOThread's churn: 64 MiB asked, 512 MiB of address space to spare. */
static const BurstCase churn_iothread = {
    .rlimit_above_now = 512 * MiB, .option = 64 * MiB, .times_limit = 16,
    .iothread = true, .dma_only = true,
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);

    g_test_add_data_func("/xen-mapcache/bursts/main-thread/one-read-section",
                         &burst_main, test_burst);
    g_test_add_data_func("/xen-mapcache/bursts/main-thread/read-sections",
                         &burst_main_sections, test_burst);
    g_test_add_data_func("/xen-mapcache/bursts/iothread/read-sections",
                         &burst_iothread, test_burst);
    g_test_add_data_func("/xen-mapcache/bursts/iothread/churn",
                         &churn_iothread, test_burst);
    return g_test_run();
}
