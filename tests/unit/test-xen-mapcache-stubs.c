/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Stubs for the parts of QEMU's system emulator that the Xen mapcache
 * calls, so that its unit test links without a target (as ptimer-test
 * does), plus the hooks the test and the benchmark use to steer them.
 *
 * Only QEMU's own API is used here: the file is built against QEMU's
 * libqemuutil inside a QEMU tree, and against the stand-in outside one.
 * Every stub is thread-safe: the mapcache calls ram_block_notify_remove()
 * from the RCU thread, and the tests call the rest from several threads.
 * Where the registrar may run is what qemu_in_main_thread() says: the
 * stand-in answers bql_locked(), as QEMU's system emulators do, so a test
 * thread that does not hold the BQL is an IOThread.  In a QEMU tree the
 * unit tests' BQL is a stub that is never held, and qemu_in_main_thread()
 * compares AioContexts instead; there the RCU thread, which has none,
 * counts as holding the BQL, as it does in QEMU's emulators while it runs
 * callbacks.
 *
 * The RAM block notifiers record every call, and check what the block
 * RAM registrar relies on (a backend such as blkio registers each range
 * added and unregisters it when removed): every add is paired with
 * exactly one remove of the same host and size, no remove lacks its add,
 * and neither runs in a coroutine or outside the main thread.
 */

#include "qemu/osdep.h"
#include "hw/xen/xen_native.h"
#include "block/block.h"
#include "exec/memory.h"
#include "exec/ramlist.h"
#include "qemu/atomic.h"
#include "qemu/coroutine.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "block/aio.h"
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

/* counts and notify are protected by counts_lock. */
static QemuMutex counts_lock;
static XenMapCacheTestCounts counts;

/* A RAM block notifier call, as the block RAM registrar sees it. */
typedef struct NotifyEvent {
    bool add;
    void *host;
    size_t size;
} NotifyEvent;

/*
 * Calls recorded at most since the last reset (24 MiB): long runs such as
 * the benchmark's never reset, and need only the counts and the pairing.
 */
#define NOTIFY_MAX_EVENTS (1 << 20)

static struct {
    GHashTable *live;           /* host -> size, added and not removed */
    GArray *events;             /* NotifyEvent, every call in order */
    bool events_dropped;        /* more than NOTIFY_MAX_EVENTS calls */
    GString *errors;            /* one line per unbalanced call */
    uint64_t nr_errors;
} notify;

static void __attribute__((constructor)) stubs_init(void)
{
    qemu_mutex_init(&counts_lock);
    notify.live = g_hash_table_new(g_direct_hash, g_direct_equal);
    notify.events = g_array_new(FALSE, FALSE, sizeof(NotifyEvent));
    notify.errors = g_string_new("");
}

/* As QEMU's: any kind of Xen memory, foreign mappings or grants. */
bool xen_mr_is_memory(MemoryRegion *mr)
{
    return mr == &xen_mapcache_test_ram_mr ||
           mr == &xen_mapcache_test_grants_mr;
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

/* Record an unbalanced notifier call.  counts_lock held. */
static void G_GNUC_PRINTF(1, 2) notify_error_locked(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(notify.errors, fmt, ap);
    va_end(ap);
    g_string_append_c(notify.errors, '\n');
    notify.nr_errors++;
}

/*
 * May the block RAM registrar run here?  See the top of the file for the
 * RCU thread.
 */
static bool notify_in_main_thread(void)
{
    return qemu_in_main_thread() || !qemu_get_current_aio_context();
}

/*
 * Record a notifier call, and an error if it runs where the block RAM
 * registrar must not: in a coroutine, or outside the main thread.
 */
static void notify_record_locked(bool add, void *host, size_t size)
{
    NotifyEvent ev = { .add = add, .host = host, .size = size };

    if (qemu_in_coroutine()) {
        notify_error_locked("%s of %p (size 0x%zx) in a coroutine",
                            add ? "add" : "remove", host, size);
    }
    if (!notify_in_main_thread()) {
        notify_error_locked("%s of %p (size 0x%zx) outside the main thread",
                            add ? "add" : "remove", host, size);
    }

    if (notify.events->len >= NOTIFY_MAX_EVENTS) {
        notify.events_dropped = true;
        return;
    }
    g_array_append_val(notify.events, ev);
}

void ram_block_notify_add(void *host, size_t size, size_t max_size)
{
    QEMU_LOCK_GUARD(&counts_lock);
    counts.notify_adds++;
    counts.notified_bytes += size;
    notify_record_locked(true, host, size);
    if (g_hash_table_contains(notify.live, host)) {
        notify_error_locked("add of %p (size 0x%zx) already registered",
                            host, size);
        return;
    }
    g_hash_table_insert(notify.live, host, GSIZE_TO_POINTER(size));
}

void ram_block_notify_remove(void *host, size_t size, size_t max_size)
{
    gpointer added;

    QEMU_LOCK_GUARD(&counts_lock);
    counts.notify_removes++;
    counts.notified_bytes -= size;
    notify_record_locked(false, host, size);
    if (!g_hash_table_lookup_extended(notify.live, host, NULL, &added)) {
        notify_error_locked("remove of %p (size 0x%zx) never added",
                            host, size);
        return;
    }
    if (GPOINTER_TO_SIZE(added) != size) {
        notify_error_locked("remove of %p (size 0x%zx) added with size "
                            "0x%zx", host, size, GPOINTER_TO_SIZE(added));
    }
    g_hash_table_remove(notify.live, host);
}

void xen_mapcache_test_notify_reset(void)
{
    QEMU_LOCK_GUARD(&counts_lock);
    g_hash_table_remove_all(notify.live);
    g_array_set_size(notify.events, 0);
    notify.events_dropped = false;
    g_string_truncate(notify.errors, 0);
    notify.nr_errors = 0;
}

void xen_mapcache_test_notify_check(XenMapCacheTestNotifyCheck *check)
{
    GHashTableIter iter;
    gpointer host, size;

    QEMU_LOCK_GUARD(&counts_lock);
    *check = (XenMapCacheTestNotifyCheck) {
        .events = notify.events->len,
        .errors = notify.nr_errors,
        .live = g_hash_table_size(notify.live),
    };
    g_hash_table_iter_init(&iter, notify.live);
    while (g_hash_table_iter_next(&iter, &host, &size)) {
        check->live_bytes += GPOINTER_TO_SIZE(size);
    }
}

char *xen_mapcache_test_notify_report(void)
{
    GString *report = g_string_new("");
    GHashTableIter iter;
    gpointer host, size;

    QEMU_LOCK_GUARD(&counts_lock);
    g_string_append(report, notify.errors->str);
    g_hash_table_iter_init(&iter, notify.live);
    while (g_hash_table_iter_next(&iter, &host, &size)) {
        g_string_append_printf(report, "%p (size 0x%zx) added, not removed\n",
                               host, GPOINTER_TO_SIZE(size));
    }
    return g_string_free(report, FALSE);
}

bool xen_mapcache_test_notify_is_live(const void *p, size_t len)
{
    GHashTableIter iter;
    gpointer host, size;

    QEMU_LOCK_GUARD(&counts_lock);
    g_hash_table_iter_init(&iter, notify.live);
    while (g_hash_table_iter_next(&iter, &host, &size)) {
        if ((const uint8_t *)p >= (uint8_t *)host &&
            (const uint8_t *)p + len <=
            (uint8_t *)host + GPOINTER_TO_SIZE(size)) {
            return true;
        }
    }
    return false;
}

size_t xen_mapcache_test_notify_count(size_t since, bool add,
                                      const void *host, size_t size)
{
    size_t i, n = 0;

    QEMU_LOCK_GUARD(&counts_lock);
    g_assert(!notify.events_dropped);
    for (i = since; i < notify.events->len; i++) {
        NotifyEvent *ev = &g_array_index(notify.events, NotifyEvent, i);

        n += ev->add == add && (!host || ev->host == host) &&
             (!size || ev->size == size);
    }
    return n;
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
