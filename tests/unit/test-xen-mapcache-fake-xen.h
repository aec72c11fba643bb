/*
 * SPDX-License-Identifier: GPL-2.0-or-later
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
 * Everything here is thread-safe.
 */

#ifndef FAKE_XEN_H
#define FAKE_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_XEN_PAGE_SIZE 4096

typedef enum FakeXenCall {
    FAKE_XEN_FOREIGN_MAP,   /* xenforeignmemory_map2() */
    FAKE_XEN_GRANT_MAP,     /* xengnttab_map_domain_grant_refs() */
} FakeXenCall;

/*
 * Call counters count every call, failed ones (injected or not) included;
 * live_ranges and live_pages describe what is mapped now.
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
    uint64_t violations;         /* reader-registry violations */
    uint64_t live_ranges;        /* ranges mapped and not yet unmapped */
    uint64_t live_pages;
} FakeXenStats;

/*
 * Set up (or reset) the fake: @ram_bytes of guest RAM (sparse: only what
 * gets mapped is filled), @grant_pages granted pages, no holes, counters
 * and registry cleared.  Ranges still mapped from a previous run are
 * forgotten, not unmapped.
 */
void fake_xen_init(uint64_t ram_bytes, uint64_t grant_pages);
void fake_xen_fini(void);

/* The pattern: what guest RAM / granted memory holds at an address. */
uint8_t fake_xen_ram_byte(uint64_t gaddr);
uint8_t fake_xen_grant_byte(uint64_t grant_ref, size_t offset);

/*
 * Compare @len bytes at @p with guest RAM starting at @gaddr (the pattern,
 * or what was written since); returns the number of wrong bytes.
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

void fake_xen_get_stats(FakeXenStats *stats);

/*
 * Is [@p, @p + @len) inside a range the fake mapped and has not unmapped?
 */
bool fake_xen_is_live(const void *p, size_t len);

/*
 * Reader registry: a reader declares [@p, @p + @len) in use; until the
 * matching fake_xen_reader_exit(), any unmap of, MAP_FIXED mapping over,
 * or new mapping returned over an overlapping range is a violation.
 * Returns a token for fake_xen_reader_exit().
 */
int fake_xen_reader_enter(const void *p, size_t len);
void fake_xen_reader_exit(int token);

#endif /* FAKE_XEN_H */
