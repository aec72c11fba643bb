/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Stubs for the parts of QEMU's system emulator that the Xen mapcache
 * calls, so that its unit test links without a target (as ptimer-test
 * does), plus the hooks the test and the benchmark use to steer them.
 */

#ifndef TEST_XEN_MAPCACHE_STUBS_H
#define TEST_XEN_MAPCACHE_STUBS_H

#include "exec/memory.h"
#include "sysemu/runstate.h"

/* xen_mr_is_memory() is true for this region only. */
extern MemoryRegion xen_mapcache_test_ram_mr;
/* xen_mr_is_grants() is true for this region only. */
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

#endif /* TEST_XEN_MAPCACHE_STUBS_H */
