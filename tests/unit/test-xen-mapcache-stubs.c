/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Stubs for the parts of QEMU's system emulator that the Xen mapcache
 * calls, so that its unit test links without a target (as ptimer-test
 * does), plus the hooks the test and the benchmark use to steer them.
 *
 * Only QEMU's own API is used here: the file is built against QEMU's
 * libqemuutil inside a QEMU tree, and against the stand-in outside one.
 * Every stub is thread-safe: the mapcache calls ram_block_notify_remove()
 * from the RCU thread, and the tests call the rest from several threads.
 */

#include "qemu/osdep.h"
#include "hw/xen/xen_native.h"
#include "block/block.h"
#include "exec/memory.h"
#include "exec/ramlist.h"
#include "qemu/atomic.h"
#include "qemu/thread.h"
#include "sysemu/runstate.h"
#include "sysemu/xen.h"
#include "test-xen-mapcache-stubs.h"

/* hw/xen/xen-hvm-common.c and hw/xen/xen-common.c in QEMU */
xenforeignmemory_handle *xen_fmem;
uint32_t xen_domid;

MemoryRegion xen_mapcache_test_ram_mr;
MemoryRegion xen_mapcache_test_grants_mr;
MemoryRegion xen_mapcache_test_other_mr;

static int test_runstate = RUN_STATE_RUNNING;

/* counts is protected by counts_lock. */
static QemuMutex counts_lock;
static XenMapCacheTestCounts counts;

static void __attribute__((constructor)) stubs_init(void)
{
    qemu_mutex_init(&counts_lock);
}

bool xen_mr_is_memory(MemoryRegion *mr)
{
    return mr == &xen_mapcache_test_ram_mr;
}

bool xen_mr_is_grants(MemoryRegion *mr)
{
    return mr == &xen_mapcache_test_grants_mr;
}

void xen_mapcache_test_set_runstate(RunState state)
{
    qatomic_set(&test_runstate, state);
}

bool runstate_check(RunState state)
{
    return qatomic_read(&test_runstate) == state;
}

void ram_block_notify_add(void *host, size_t size, size_t max_size)
{
    qemu_mutex_lock(&counts_lock);
    counts.notify_adds++;
    counts.notified_bytes += size;
    qemu_mutex_unlock(&counts_lock);
}

void ram_block_notify_remove(void *host, size_t size, size_t max_size)
{
    qemu_mutex_lock(&counts_lock);
    counts.notify_removes++;
    counts.notified_bytes -= size;
    qemu_mutex_unlock(&counts_lock);
}

/* No block layer here: there is never any I/O in flight to wait for. */
void bdrv_drain_all(void)
{
    qemu_mutex_lock(&counts_lock);
    counts.drains++;
    qemu_mutex_unlock(&counts_lock);
}

void xen_mapcache_test_get_counts(XenMapCacheTestCounts *out)
{
    qemu_mutex_lock(&counts_lock);
    *out = counts;
    qemu_mutex_unlock(&counts_lock);
}
