/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: on-demand mappings of guest RAM and grant references for
 * a Xen device model.  See docs/devel/xen-mapcache.rst.
 */

#ifndef XEN_MAPCACHE_H
#define XEN_MAPCACHE_H

#include "exec/cpu-common.h"
#include "sysemu/xen.h"

typedef hwaddr (*phys_offset_to_gaddr_t)(hwaddr phys_offset,
                                         ram_addr_t size);

/**
 * XenMapCacheKind: which of the mapcache's caches to look at
 *
 * @XEN_MAPCACHE_RAM: foreign mappings of guest RAM (bucket granular)
 * @XEN_MAPCACHE_GRANTS_RO: read-only grant mappings (page granular)
 * @XEN_MAPCACHE_GRANTS_RW: read-write grant mappings (page granular)
 */
typedef enum XenMapCacheKind {
    XEN_MAPCACHE_RAM,
    XEN_MAPCACHE_GRANTS_RO,
    XEN_MAPCACHE_GRANTS_RW,
    XEN_MAPCACHE_KIND__MAX,
} XenMapCacheKind;

/**
 * XenMapCacheStats: counters of one cache, since its creation
 *
 * @lookups_lock0: xen_map_cache() requests with @lock == 0
 * @lookups_lock1: xen_map_cache() requests with @lock != 0
 * @last_entry_hits: requests served by the last entry used, without a walk
 * @chain_hits: requests served by an entry found walking a chain
 * @locked_reuses: requests served by an entry that was already pinned
 * @locked_reuses_beyond_head: those of @locked_reuses whose entry was not
 *     the head of its chain
 * @new_mappings: foreign, grant or dummy mappings created
 * @pages_mapped: pages in @new_mappings
 * @remaps: unpinned entries replaced by a new mapping at the same bucket
 *     index (a larger size, or pages that were invalid)
 * @chain_steps: entries looked at while walking chains
 * @fruitless_chain_steps: those of @chain_steps that could not serve
 * @evictions: unpinned entries dropped to stay within the cache limit, or
 *     after a mapping failed with ENOMEM
 * @flushed: unpinned entries dropped by xen_invalidate_map_cache()
 * @releases_queued: mappings detached and queued behind an RCU grace period
 * @releases_done: queued mappings actually unmapped; the difference with
 *     @releases_queued is what is still pending
 * @null_returns: requests answered with NULL
 * @entries: entries currently in the cache
 * @pinned_entries: those of @entries with a non-zero pin count
 * @mapped_bytes: bytes mapped by @entries plus the releases still pending:
 *     what counts against the cache limit
 */
typedef struct XenMapCacheStats {
    uint64_t lookups_lock0;
    uint64_t lookups_lock1;
    uint64_t last_entry_hits;
    uint64_t chain_hits;
    uint64_t locked_reuses;
    uint64_t locked_reuses_beyond_head;
    uint64_t new_mappings;
    uint64_t pages_mapped;
    uint64_t remaps;
    uint64_t chain_steps;
    uint64_t fruitless_chain_steps;
    uint64_t evictions;
    uint64_t flushed;
    uint64_t releases_queued;
    uint64_t releases_done;
    uint64_t null_returns;
    uint64_t entries;
    uint64_t pinned_entries;
    uint64_t mapped_bytes;
} XenMapCacheStats;

#ifdef CONFIG_XEN_IS_POSSIBLE

void xen_map_cache_init(phys_offset_to_gaddr_t f,
                        void *opaque);
uint8_t *xen_map_cache(MemoryRegion *mr, hwaddr phys_addr, hwaddr size,
                       ram_addr_t ram_addr_offset,
                       uint8_t lock, bool dma,
                       bool is_write);
ram_addr_t xen_ram_addr_from_mapcache(void *ptr);
void xen_invalidate_map_cache_entry(uint8_t *buffer);
void xen_invalidate_map_cache(void);
uint8_t *xen_replace_cache_entry(hwaddr old_phys_addr,
                                 hwaddr new_phys_addr,
                                 hwaddr size);

/**
 * xen_map_cache_init_limit: set up the mapcache with an explicit size limit
 * @f: translation used to retry a request touching invalid pages (only
 *     with Xen older than 4.10), or %NULL
 * @opaque: unused; kept for symmetry with xen_map_cache_init()
 * @max_size: bytes of address space the cache may keep mapped; unpinned
 *     entries are evicted, least recently used first, to stay below it
 *
 * Like xen_map_cache_init(), but neither reads nor changes %RLIMIT_AS.
 * Useful for small device-model domains, tests and benchmarks.  Must be
 * called once, before any other mapcache function, or again after
 * xen_map_cache_fini().
 */
void xen_map_cache_init_limit(phys_offset_to_gaddr_t f, void *opaque,
                              size_t max_size);

/**
 * xen_map_cache_fini: release every mapping and free the mapcache
 *
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

#else

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

static inline void xen_map_cache_init_limit(phys_offset_to_gaddr_t f,
                                            void *opaque, size_t max_size)
{
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

#endif

#endif /* XEN_MAPCACHE_H */
