/*
 * Copyright (C) 2011       Citrix Ltd.
 *
 * This work is licensed under the terms of the GNU GPL, version 2.  See
 * the COPYING file in the top-level directory.
 *
 * Xen mapcache: on-demand mappings of guest RAM and grant references for
 * a Xen device model.  See docs/devel/xen-mapcache.rst.
 */

#ifndef XEN_MAPCACHE_H
#define XEN_MAPCACHE_H

#include "exec/cpu-common.h"
#include "qemu/units.h"
#include "sysemu/xen.h"

/*
 * The RAM cache maps guest RAM in buckets of XEN_MAPCACHE_BUCKET_SIZE
 * bytes, and keeps at most XEN_MAPCACHE_MAX_SIZE bytes mapped: smaller
 * buckets and a lower cap on 32-bit hosts, whose whole usable address
 * space would not fit guest RAM.  The mapcache and its tests both read
 * these; a build may define XEN_MAPCACHE_LONG_BITS to 32 to test a 32-bit
 * host's constants on a 64-bit one.
 */
#ifndef XEN_MAPCACHE_LONG_BITS
#define XEN_MAPCACHE_LONG_BITS HOST_LONG_BITS
#endif
#if XEN_MAPCACHE_LONG_BITS == 32
#define XEN_MAPCACHE_BUCKET_SHIFT 16
#define XEN_MAPCACHE_MAX_SIZE (2 * GiB)
#else
#define XEN_MAPCACHE_BUCKET_SHIFT 20
#define XEN_MAPCACHE_MAX_SIZE (32 * GiB)
#endif
#define XEN_MAPCACHE_BUCKET_SIZE ((hwaddr)1 << XEN_MAPCACHE_BUCKET_SHIFT)

typedef hwaddr (*phys_offset_to_gaddr_t)(hwaddr phys_offset,
                                         ram_addr_t size);

/**
 * enum XenMapCacheKind - which of the mapcache's caches to look at
 *
 * @XEN_MAPCACHE_RAM: foreign mappings of guest RAM (bucket granular)
 * @XEN_MAPCACHE_GRANTS_RO: read-only grant mappings (page granular)
 * @XEN_MAPCACHE_GRANTS_RW: read-write grant mappings (page granular)
 * @XEN_MAPCACHE_KIND__MAX: the number of kinds
 */
typedef enum {
    XEN_MAPCACHE_RAM,
    XEN_MAPCACHE_GRANTS_RO,
    XEN_MAPCACHE_GRANTS_RW,
    XEN_MAPCACHE_KIND__MAX,
} XenMapCacheKind;

/**
 * struct XenMapCacheStats - counters of one cache, since its creation
 *
 * @lookups_lock0: xen_map_cache() requests with @lock == 0
 * @lookups_lock1: xen_map_cache() requests with @lock != 0
 * @recent_hits: requests served by the entry that last served a request
 *     at their bucket index (a recent slot), without a walk
 * @chain_hits: requests served by an entry found walking a chain
 * @pinned_reuses: requests served by an entry that was already pinned
 * @pinned_reuses_beyond_head: those of @pinned_reuses whose entry was not
 *     the head of its chain
 * @new_mappings: foreign, grant or dummy mappings created
 * @pages_mapped: pages in @new_mappings
 * @recycled: unpinned entries replaced by a new mapping at the same bucket
 *     index (a larger size, or pages that were invalid)
 * @chain_steps: entries looked at while walking chains
 * @fruitless_chain_steps: those of @chain_steps that could not serve
 * @evictions: unpinned entries dropped to stay within the cache limit, or
 *     after a mapping failed with ENOMEM
 * @flushed: unpinned entries dropped by xen_invalidate_map_cache(), and
 *     every entry dropped by xen_map_cache_fini()
 * @releases_queued: mappings out of the cache that a reader may still
 *     point into, queued behind an RCU grace period
 * @releases_done: queued mappings actually unmapped; the difference with
 *     @releases_queued is what is still pending
 * @null_returns: requests answered with NULL
 * @oversize: requests served whose mapping alone exceeds the cache limit
 * @over_limit: new mappings made past the cache limit because nothing
 *     could be evicted (everything pinned, or handed out unpinned within
 *     the current RCU grace period)
 * @partial_mappings: new mappings of only the pages a request touches,
 *     rather than whole buckets, because the limit left no room
 * @freed_at_once: unpinned mappings unmapped without waiting for a grace
 *     period, because no reader could get a pointer into them without a
 *     pin, or one had passed since a reader last could (grant mappings
 *     among them, at their last unpin)
 * @freed_by_main_loop: unpinned mappings that no reader could point into,
 *     released where the RAM block notifiers may not run (an IOThread, a
 *     coroutine) and so handed to the main loop to be unmapped there
 * @grace_periods: RCU grace periods the cache waited for to know which
 *     mappings it may unmap at once
 * @entries: entries currently in the cache (each is one range, a kernel VMA)
 * @pinned_entries: those of @entries with a non-zero pin count
 * @pending_ranges: ranges out of the cache, waiting for a grace period
 *     or for the main loop to unmap them
 * @limit_bytes: the cache limit
 * @live_bytes: bytes mapped by @entries
 * @pinned_bytes: bytes mapped by @pinned_entries
 * @pending_bytes: bytes mapped by @pending_ranges
 * @peak_bytes: the most @live_bytes plus @pending_bytes ever reached
 * @mapped_bytes: @live_bytes plus @pending_bytes
 */
typedef struct XenMapCacheStats {
    uint64_t lookups_lock0;
    uint64_t lookups_lock1;
    uint64_t recent_hits;
    uint64_t chain_hits;
    uint64_t pinned_reuses;
    uint64_t pinned_reuses_beyond_head;
    uint64_t new_mappings;
    uint64_t pages_mapped;
    uint64_t recycled;
    uint64_t chain_steps;
    uint64_t fruitless_chain_steps;
    uint64_t evictions;
    uint64_t flushed;
    uint64_t releases_queued;
    uint64_t releases_done;
    uint64_t null_returns;
    uint64_t oversize;
    uint64_t over_limit;
    uint64_t partial_mappings;
    uint64_t freed_at_once;
    uint64_t freed_by_main_loop;
    uint64_t grace_periods;
    uint64_t entries;
    uint64_t pinned_entries;
    uint64_t pending_ranges;
    uint64_t limit_bytes;
    uint64_t live_bytes;
    uint64_t pinned_bytes;
    uint64_t pending_bytes;
    uint64_t peak_bytes;
    uint64_t mapped_bytes;
} XenMapCacheStats;

#ifdef CONFIG_XEN_IS_POSSIBLE

/**
 * xen_map_cache_init: set up the mapcache
 * @f: translation used to retry a request touching invalid pages (only
 *     with Xen older than 4.10), or %NULL
 * @opaque: unused
 *
 * xen_map_cache_init_limit() without a limit of the user's: the limit
 * comes from %RLIMIT_AS alone.  Call once, before any other mapcache
 * function.
 */
void xen_map_cache_init(phys_offset_to_gaddr_t f,
                        void *opaque);

/**
 * xen_map_cache: map guest memory, or find it already mapped
 * @mr: the memory region; grant regions (xen_mr_is_grants()) map grant
 *      references, page by page, in a read-only or a read-write cache
 * @phys_addr: the guest address (for grants, its RAM address)
 * @size: bytes wanted; 0 asks for one page (the whole bucket is mapped)
 * @ram_addr_offset: the RAM address of @mr's block (grant references are
 *                   counted from it)
 * @lock: 0 for a pointer used inside the caller's RCU read-side critical
 *        section and never given back; non-zero to pin the mapping until
 *        xen_invalidate_map_cache_entry() is called with the returned
 *        pointer
 * @dma: the pin is for DMA (traced if a flush finds it)
 * @is_write: for grants, map read-write
 *
 * Returns: a host pointer to @phys_addr, valid for @size bytes (one page if
 * @size is 0), or %NULL if a page it touches cannot be mapped (a hole;
 * during incoming migration an anonymous dummy is mapped instead), if the
 * whole buckets it spans exceed the largest mapping (the cap: 32 GiB on
 * 64-bit hosts, 2 GiB on 32-bit ones) or its bytes reach the last address
 * of the 64-bit space, or if a grant page it spans has no grant reference
 * (below @ram_addr_offset, or beyond 32 bits).  A request larger than the
 * cache limit is served, and counted.  A lock0 request on a grant region
 * is an error: it reports and aborts.  Exits, naming address, size, errno
 * and what the cache holds, if the mapping fails and freeing what may be
 * freed does not cure it.  Thread-safe.
 */
uint8_t *xen_map_cache(MemoryRegion *mr, hwaddr phys_addr, hwaddr size,
                       ram_addr_t ram_addr_offset,
                       uint8_t lock, bool dma,
                       bool is_write);

/**
 * xen_ram_addr_from_mapcache: reverse lookup of a pinned pointer
 * @ptr: a pointer returned by a lock1 xen_map_cache() request, still pinned
 *
 * Returns: the address @ptr was mapped as (the @phys_addr of the request
 * that returned it), also after xen_replace_cache_entry() gave its
 * mapping other frames; or %RAM_ADDR_INVALID if @ptr is not a pinned
 * pointer (only the exact pointers returned are known).  O(1).
 * Thread-safe.
 */
ram_addr_t xen_ram_addr_from_mapcache(void *ptr);

/**
 * xen_invalidate_map_cache_entry: drop one pin
 * @buffer: a pointer returned by a lock1 xen_map_cache() request
 *
 * Drops one pin taken through @buffer: a pointer pinned twice needs two
 * calls.  An unpinned guest RAM entry stays cached; a grant mapping is
 * unmapped at its last unpin, and the RAM block notifiers told, before
 * this returns, so that the granting domain may end foreign access.
 * Unknown pointers are ignored (trace event).  In a coroutine, the work is
 * done in a bottom half and the coroutine yields until it is done.  O(1).
 * Thread-safe.
 */
void xen_invalidate_map_cache_entry(uint8_t *buffer);

/**
 * xen_invalidate_map_cache: drop every unpinned guest RAM mapping
 *
 * Drains block I/O first (bdrv_drain_all()), then drops every unpinned
 * entry of the guest RAM cache: at once those that no reader can point
 * into any more, the others after an RCU grace period, so pointers held by
 * readers stay valid until they leave their read-side critical sections.
 * Pinned entries and grant mappings are kept.  Call it from the main
 * thread, outside coroutines.  O(entries).  Thread-safe.
 */
void xen_invalidate_map_cache(void);

/**
 * xen_replace_cache_entry: map real frames over a dummy mapping
 * @old_phys_addr: the address the dummy was made for
 * @new_phys_addr: the guest address whose frames it must show from now on
 * @size: bytes
 *
 * Replaces, in place (MAP_FIXED), the dummy entry made during incoming
 * migration for @old_phys_addr and @size (exactly: its whole buckets) with
 * the frames of @new_phys_addr, so that the pointer already handed out
 * shows them.  Only dummies are replaced.  The new frames are probed
 * first, with a mapping of their own: a refusal changes nothing.
 *
 * Returns: the pointer for @new_phys_addr, or %NULL (with a trace event)
 * if there is no dummy of that size for @old_phys_addr, @size is 0, the
 * new range needs more than the dummy maps, or a page of it is a hole.
 */
uint8_t *xen_replace_cache_entry(hwaddr old_phys_addr,
                                 hwaddr new_phys_addr,
                                 hwaddr size);

/**
 * xen_map_cache_init_limit: set up the mapcache, with a user's size limit
 * @f: translation used to retry a request touching invalid pages (only
 *     with Xen older than 4.10), or %NULL
 * @opaque: unused; kept for symmetry with xen_map_cache_init()
 * @max_size: bytes of address space the cache may keep mapped
 *     (``-machine mapcache-max-size=SIZE``), or 0 for no limit of the
 *     user's; a @max_size above the cap (32 GiB on 64-bit hosts, 2 GiB on
 *     32-bit ones) is taken as the cap
 *
 * The cache keeps the smaller of @max_size and what %RLIMIT_AS leaves it:
 * as root both limits are lifted and the cache may take the cap;
 * otherwise the soft limit is raised to the hard one, and a finite hard
 * limit leaves the cache that limit less 80 MiB for the rest of QEMU.
 * Unpinned entries are released, least recently used first, to stay
 * below the limit.  Must be called once, before any other mapcache
 * function, or again after xen_map_cache_fini().
 *
 * Returns: %true on success; %false with @errp set, and nothing set up, if
 * @max_size is not 0 and smaller than one bucket (1 MiB on 64-bit hosts,
 * 64 KiB on 32-bit ones).  Exits, naming the limit and the minimum, if
 * the hard %RLIMIT_AS leaves less than one bucket above those 80 MiB, and
 * if the grant device cannot be opened.
 */
bool xen_map_cache_init_limit(phys_offset_to_gaddr_t f, void *opaque,
                              size_t max_size, Error **errp);

/**
 * xen_map_cache_fini: release every mapping and free the mapcache
 *
 * For tests and benchmarks: QEMU itself never tears the mapcache down.
 * Drops every entry, pinned or not, waits for the RCU callbacks that
 * unmap them (drain_call_rcu()) and frees the caches.  Must not be called
 * inside an RCU read-side critical section, nor while another thread may
 * still use the mapcache.  Afterwards xen_map_cache_init_limit() or
 * xen_map_cache_init() may be called again.
 */
void xen_map_cache_fini(void);

/**
 * xen_map_cache_get_stats: read the counters of one cache
 * @kind: which cache
 * @stats: filled with a consistent snapshot of the counters
 *
 * Returns: %true if the cache exists, %false if it was never created (grant
 * caches come into being at the first grant request); @stats is then
 * zeroed.  Thread-safe.
 */
bool xen_map_cache_get_stats(XenMapCacheKind kind, XenMapCacheStats *stats);

/**
 * xen_map_cache_check_max_size: check a cache limit given by the user
 * @size: bytes, as given (``-machine mapcache-max-size=SIZE``)
 * @max_size: set to the limit the cache will have: @size, or the cap
 *     (32 GiB on 64-bit hosts, 2 GiB on 32-bit ones) if @size is above it
 * @errp: set on failure
 *
 * Applies the rules of xen_map_cache_init_limit() without setting anything
 * up, so that a bad option is refused where it is parsed.
 *
 * Returns: %true if xen_map_cache_init_limit() accepts @size; %false with
 * @errp set if @size is smaller than one bucket.
 */
bool xen_map_cache_check_max_size(uint64_t size, size_t *max_size,
                                  Error **errp);

#else /* !CONFIG_XEN_IS_POSSIBLE: inline fallbacks, QEMU 9.2 only */

static inline void xen_map_cache_init(phys_offset_to_gaddr_t f,
                                      void *opaque)
{
}

static inline uint8_t *xen_map_cache(MemoryRegion *mr,
                                     hwaddr phys_addr,
                                     hwaddr size,
                                     ram_addr_t ram_addr_offset,
                                     uint8_t lock,
                                     bool dma,
                                     bool is_write)
{
    abort();
}

static inline ram_addr_t xen_ram_addr_from_mapcache(void *ptr)
{
    abort();
}

static inline void xen_invalidate_map_cache_entry(uint8_t *buffer)
{
}

static inline void xen_invalidate_map_cache(void)
{
}

static inline uint8_t *xen_replace_cache_entry(hwaddr old_phys_addr,
                                               hwaddr new_phys_addr,
                                               hwaddr size)
{
    abort();
}

static inline bool xen_map_cache_init_limit(phys_offset_to_gaddr_t f,
                                            void *opaque, size_t max_size,
                                            Error **errp)
{
    abort();
}

static inline void xen_map_cache_fini(void)
{
}

static inline bool xen_map_cache_get_stats(XenMapCacheKind kind,
                                           XenMapCacheStats *stats)
{
    memset(stats, 0, sizeof(*stats));
    return false;
}

#endif /* CONFIG_XEN_IS_POSSIBLE */

#endif /* XEN_MAPCACHE_H */
