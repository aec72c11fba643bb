/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Stubs for the parts of QEMU's system emulator that the Xen mapcache
 * calls, so that its unit test links without a target (as ptimer-test
 * does), plus the hooks the test and the benchmark use to steer them.
 */

#ifndef TEST_XEN_MAPCACHE_STUBS_H
#define TEST_XEN_MAPCACHE_STUBS_H

#include "exec/memory.h"
#include "sysemu/runstate.h"

/* Guest RAM: xen_mr_is_memory() is true for it (QEMU's xen_memory). */
extern MemoryRegion xen_mapcache_test_ram_mr;
/*
 * Grants: xen_mr_is_grants() is true for this region only, and
 * xen_mr_is_memory() too, as QEMU's for xen_grants.
 */
extern MemoryRegion xen_mapcache_test_grants_mr;
/* Neither guest RAM nor grants (a ROM or VRAM block, say). */
extern MemoryRegion xen_mapcache_test_other_mr;

/* What runstate_check() compares with; RUN_STATE_RUNNING at start. */
void xen_mapcache_test_set_runstate(RunState state);

typedef struct XenMapCacheTestCounts {
    uint64_t notify_adds;       /* ram_block_notify_add() calls */
    uint64_t notify_removes;    /* ram_block_notify_remove() calls */
    int64_t notified_bytes;     /* bytes added minus bytes removed */
    uint64_t drains;            /* bdrv_drain_all() calls */
} XenMapCacheTestCounts;

void xen_mapcache_test_get_counts(XenMapCacheTestCounts *counts);

/*
 * The RAM block notifier calls, as the block RAM registrar sees them: a
 * registration is live from its ram_block_notify_add() to the
 * ram_block_notify_remove() of the same host.  Errors are calls that
 * break the pairing (an add of a host already live, a remove of a host
 * not live, a remove whose size differs from its add's) and calls made
 * where the registrar must not run (in a coroutine, or where
 * qemu_in_main_thread() is false).
 */
typedef struct XenMapCacheTestNotifyCheck {
    uint64_t events;            /* calls recorded since the last reset */
    uint64_t errors;            /* unbalanced calls */
    uint64_t live;              /* registrations added, not removed */
    uint64_t live_bytes;        /* their sizes */
} XenMapCacheTestNotifyCheck;

/* Forget every registration, call and error recorded so far. */
void xen_mapcache_test_notify_reset(void);

void xen_mapcache_test_notify_check(XenMapCacheTestNotifyCheck *check);

/*
 * One line per error and per live registration, for a failure message;
 * g_free() it.
 */
char *xen_mapcache_test_notify_report(void);

/* Is [@p, @p + @len) inside one live registration? */
bool xen_mapcache_test_notify_is_live(const void *p, size_t len);

/*
 * Adds (@add) or removes recorded from call number @since on (0: since
 * the last reset; see XenMapCacheTestNotifyCheck.events) of @host (NULL:
 * any) with @size (0: any).
 */
size_t xen_mapcache_test_notify_count(size_t since, bool add,
                                      const void *host, size_t size);

#endif /* TEST_XEN_MAPCACHE_STUBS_H */
