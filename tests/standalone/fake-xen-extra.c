/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * The fake Xen hypervisor's reader registry and kernel budget, for the
 * standalone tests only (fake-xen-extra.h).  They plug into the fake's
 * hooks (FakeXenHooks) at startup.
 *
 * extra.lock protects everything here.  The hooks run with the fake's
 * lock held, so extra.lock nests inside it, never the other way round;
 * readers take only extra.lock, so entering and leaving the registry
 * stays cheap.  QemuMutex has no static initializer and the registry may
 * be used before fake_xen_init(): the lock is set up on first use.
 */

#include "qemu/osdep.h"
/* xen_native.h must come before any other Xen header. */
#include "hw/xen/xen_native.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"

#include <xengnttab.h>

#include "test-xen-mapcache-fake-xen.h"

/* Readers registered at once, over all threads. */
#define FAKE_XEN_MAX_READERS 4096

typedef struct FakeXenReader {
    uintptr_t start;
    size_t len;
    bool active;
} FakeXenReader;

static struct {
    QemuMutex lock;
    FakeXenReader slots[FAKE_XEN_MAX_READERS];
    int free_slots[FAKE_XEN_MAX_READERS];
    int nr_free;
    int high_water;             /* slots[high_water...] never used */
    uint64_t violations;
    uint64_t budget_pages;      /* 0: unlimited */
    uint64_t budget_ranges;     /* 0: unlimited */
} extra;

static QemuMutex *extra_lock(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        qemu_mutex_init(&extra.lock);
        g_once_init_leave(&done, 1);
    }
    return &extra.lock;
}

/* The budget */

void fake_xen_set_budget(uint64_t bytes, uint64_t ranges)
{
    QEMU_LOCK_GUARD(extra_lock());
    extra.budget_pages = bytes / FAKE_XEN_PAGE_SIZE;
    extra.budget_ranges = ranges;
}

static bool budget_fits(uint64_t pages, uint64_t ranges)
{
    QEMU_LOCK_GUARD(extra_lock());
    return (!extra.budget_pages || pages <= extra.budget_pages) &&
           (!extra.budget_ranges || ranges <= extra.budget_ranges);
}

/* Reader registry */

static bool overlaps(uintptr_t a, size_t alen, uintptr_t b, size_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Count (and report) the readers overlapping [@start, @start + @len). */
static void registry_check(const char *what, uintptr_t start, size_t len)
{
    int i;

    QEMU_LOCK_GUARD(extra_lock());
    for (i = 0; i < extra.high_water; i++) {
        FakeXenReader *r = &extra.slots[i];

        if (r->active && overlaps(start, len, r->start, r->len)) {
            extra.violations++;
            error_report("fake-xen: violation: %s [0x%" PRIxPTR ", +0x%zx) "
                         "overlaps reader %d at [0x%" PRIxPTR ", +0x%zx)",
                         what, start, len, i, r->start, r->len);
        }
    }
}

int fake_xen_reader_enter(const void *p, size_t len)
{
    int token;

    QEMU_LOCK_GUARD(extra_lock());
    if (extra.nr_free) {
        token = extra.free_slots[--extra.nr_free];
    } else if (extra.high_water < FAKE_XEN_MAX_READERS) {
        token = extra.high_water++;
    } else {
        error_report("fake-xen: more than %d readers", FAKE_XEN_MAX_READERS);
        abort();
    }
    extra.slots[token] = (FakeXenReader) {
        .start = (uintptr_t)p, .len = len, .active = true,
    };
    return token;
}

void fake_xen_reader_exit(int token)
{
    QEMU_LOCK_GUARD(extra_lock());
    if (token < 0 || token >= extra.high_water ||
        !extra.slots[token].active) {
        error_report("fake-xen: bad reader token %d", token);
        abort();
    }
    extra.slots[token].active = false;
    extra.free_slots[extra.nr_free++] = token;
}

static uint64_t registry_violations(void)
{
    QEMU_LOCK_GUARD(extra_lock());
    return extra.violations;
}

/* fake_xen_init() and fake_xen_fini(): no reader, no budget. */
static void extra_reset(void)
{
    QEMU_LOCK_GUARD(extra_lock());
    extra.nr_free = 0;
    extra.high_water = 0;
    extra.violations = 0;
    extra.budget_pages = extra.budget_ranges = 0;
}

static void __attribute__((constructor)) fake_xen_extra_init(void)
{
    fake_xen_hooks = (FakeXenHooks) {
        .range_changes = registry_check,
        .fits = budget_fits,
        .reset = extra_reset,
        .violations = registry_violations,
    };
}

/*
 * Entry points of libxenforeignmemory and libxengnttab that the mapcache
 * does not call, for code written against the whole libraries.
 */

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom,
                           int prot, size_t pages,
                           const xen_pfn_t arr[/*pages*/], int err[/*pages*/])
{
    return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid)
{
    return 0;
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt,
                               uint32_t count,
                               uint32_t *domids,
                               uint32_t *refs,
                               int prot)
{
    return xengnttab_map_domain_grant_refs(xgt, count, count ? domids[0] : 0,
                                           refs, prot);
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt,
                              uint32_t domid,
                              uint32_t ref,
                              int prot)
{
    return xengnttab_map_domain_grant_refs(xgt, 1, domid, &ref, prot);
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
    return 0;
}
