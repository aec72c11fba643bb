/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * A fake Xen hypervisor for the mapcache's tests and benchmark.
 *
 * It implements the libxenforeignmemory and libxengnttab entry points
 * declared by the real Xen headers.  Guest RAM is a sparse memfd where
 * frame pfn lives at offset pfn * 4096; granted pages live in a second
 * memfd, grant reference r at offset r * 4096.  Both hold a pattern derived
 * from the address, written when a frame is first mapped, so that a
 * pointer showing the wrong frame is caught by value.
 *
 * It also plays the granting domain, so that a difference from what the
 * mapcache's grant contract relies on fails a test by construction:
 * fake_xen_end_foreign_access() fails, as Linux's
 * gnttab_end_foreign_access_ref() does, while the backend still maps the
 * grant, and the reference is then disabled for good.
 *
 * Everything here is thread-safe.  It is QEMU code: include
 * "qemu/osdep.h" first.
 */

#ifndef FAKE_XEN_H
#define FAKE_XEN_H

#define FAKE_XEN_PAGE_SIZE 4096

typedef enum FakeXenCall {
    FAKE_XEN_FOREIGN_MAP,   /* xenforeignmemory_map2() */
    FAKE_XEN_GRANT_MAP,     /* xengnttab_map_domain_grant_refs() */
} FakeXenCall;

/*
 * Call counters count every call, failed ones (injected or not) included;
 * live_ranges and live_pages describe what is mapped now (foreign and
 * grant mappings alike: what the budget counts).
 */
typedef struct FakeXenStats {
    uint64_t map_calls;          /* xenforeignmemory_map2() calls */
    uint64_t pages_mapped;       /* pages asked of them */
    uint64_t fixed_maps;         /* of map_calls, those with MAP_FIXED */
    uint64_t unmap_calls;        /* xenforeignmemory_unmap() calls */
    uint64_t pages_unmapped;
    uint64_t grant_map_calls;    /* xengnttab_map_domain_grant_refs() */
    uint64_t grant_pages_mapped;
    uint64_t grant_unmap_calls;  /* xengnttab_unmap() */
    uint64_t failures_injected;  /* calls failed by fake_xen_fail_next() */
    uint64_t bad_unmaps;         /* unmaps matching no live range exactly */
    uint64_t violations;         /* reader violations (FakeXenHooks) */
    uint64_t live_ranges;        /* ranges mapped and not yet unmapped */
    uint64_t live_pages;
    uint64_t peak_live_ranges;   /* the most live_ranges ever reached */
    uint64_t peak_live_pages;    /* the most live_pages ever reached */
    uint64_t budget_failures;    /* map calls failed by FakeXenHooks.fits */
    uint64_t end_access_calls;   /* fake_xen_end_foreign_access() calls */
    uint64_t end_access_failures;   /* of them, grants still mapped */
    uint64_t bad_end_access;     /* of them, references not granted */
    uint64_t grant_maps_refused; /* maps of references not granted */
} FakeXenStats;

/*
 * Set up (or reset) the fake: @ram_bytes of guest RAM (sparse: only what
 * gets mapped is filled), @grant_pages granted pages (every reference
 * granted), no holes, counters cleared.  Ranges
 * still mapped from a previous run are forgotten, not unmapped.
 */
void fake_xen_init(uint64_t ram_bytes, uint64_t grant_pages);
void fake_xen_fini(void);

/* The pattern: what guest RAM / granted memory holds at an address. */
uint8_t fake_xen_ram_byte(uint64_t gaddr);
uint8_t fake_xen_grant_byte(uint64_t grant_ref, size_t offset);

/*
 * Compare @len bytes at @p with guest RAM starting at @gaddr (the pattern,
 * or what was written since); returns the number of wrong bytes.  @p is
 * compared with the pattern first, without any lock; only pages that
 * differ are compared with what guest RAM holds, copied under the fake's
 * lock.  @p is never read with a lock held: a caller may leave with
 * siglongjmp() from a fault on @p.
 */
size_t fake_xen_check_ram(const void *p, uint64_t gaddr, size_t len);
size_t fake_xen_check_grant(const void *p, uint64_t grant_ref, size_t len);

/*
 * Make frames [@pfn, @pfn + @count) holes (map2 reports err[i] = -EINVAL
 * and the page stays inaccessible) or RAM again.
 */
void fake_xen_set_hole(uint64_t pfn, uint64_t count, bool hole);

/* Fail the next @n calls of @call with @err (errno), NULL returned. */
void fake_xen_fail_next(FakeXenCall call, unsigned n, int err);

/*
 * The granting domain's side, as Linux's gnttab_end_foreign_access_ref():
 * end the backend's access to @ref.  Fails (returns false, counted in
 * end_access_failures) while any mapping of @ref the backend made is
 * live; the reference is then disabled for further use, as Linux does
 * ("still in use by backend domain, disabled for further use").
 * Succeeds otherwise, and from then on a map of @ref fails (EINVAL).
 * Ending a reference that is not granted (out of range, ended or
 * disabled) returns false, counted in bad_end_access.
 */
bool fake_xen_end_foreign_access(uint32_t ref);

/*
 * Grant @ref to the backend again after its access was ended (as a
 * frontend reusing it does).  False if @ref was disabled or is out of
 * range: Linux never reuses a disabled reference.
 */
bool fake_xen_grant_foreign_access(uint32_t ref);

/* Did ending access to @ref fail while it was mapped? */
bool fake_xen_grant_is_disabled(uint32_t ref);

/* The backend's live mappings of @ref. */
unsigned fake_xen_grant_mappings(uint32_t ref);

void fake_xen_get_stats(FakeXenStats *stats);

/*
 * Is [@p, @p + @len) inside a range the fake mapped and has not unmapped?
 */
bool fake_xen_is_live(const void *p, size_t len);

/*
 * Hooks for what only the standalone tests use (the reader registry and
 * the kernel's budget, tests/standalone/fake-xen-extra.c); NULL here.
 * They are called with the fake's lock held.
 */
typedef struct FakeXenHooks {
    /* [@start, +@len) is about to be unmapped, mapped over or handed out. */
    void (*range_changes)(const char *what, uintptr_t start, size_t len);
    /* May a map call take the live mappings to @pages and @ranges? */
    bool (*fits)(uint64_t pages, uint64_t ranges);
    /* fake_xen_init() and fake_xen_fini() ran (without the lock). */
    void (*reset)(void);
    /* The violations range_changes() found (without the lock). */
    uint64_t (*violations)(void);
} FakeXenHooks;

extern FakeXenHooks fake_xen_hooks;

#ifdef XEN_MAPCACHE_STANDALONE
#include "fake-xen-extra.h"
#endif

#endif /* FAKE_XEN_H */
