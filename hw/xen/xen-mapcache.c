/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: maps guest RAM and grant references into QEMU on demand.
 *
 * When QEMU is the device model of a Xen HVM guest, guest RAM is not
 * mapped into QEMU.  Every access goes through this cache, which maps
 * guest frames with xenforeignmemory_map2() (a hypercall: expensive) in
 * buckets of 1 MiB (64 KiB on 32-bit hosts) and keeps the mappings for
 * reuse.  See docs/devel/xen-mapcache.rst for the design and the rules.
 *
 * Requests
 * --------
 * A lock0 request (@lock == 0: qemu_map_ram_ptr(), address_space_rw())
 * hands out a pointer that the caller uses inside an RCU read-side
 * critical section and never gives back.  A lock1 request (@lock != 0:
 * address_space_map(), MemoryRegionCache) pins the mapping until
 * xen_invalidate_map_cache_entry() is called with the very pointer that was
 * returned.
 *
 * Layout
 * ------
 * Three caches: guest RAM (bucket granular), read-only grants and
 * read-write grants (page granular, created at the first grant request).
 * Each cache has
 *
 * - a hash table from bucket index to a bucket, whose chain holds the
 *   entries that start at that index (different sizes, pinned or not, a
 *   dummy), newest first.  Memory is in proportion to the entries;
 * - a hash table from each pointer handed out by a lock1 request to its
 *   pin record, so reverse lookups are O(1);
 * - an LRU list of the unpinned entries, least recently used first;
 * - 64 recent slots (MapCache.recent): per slot of bucket indexes, the
 *   entry that last served a request there, tried before any walk.
 *
 * An entry maps whole buckets from the start of its first bucket; a
 * bitmap says which of its pages are valid, when the hypervisor refused
 * some frames.  An entry serves a request when it starts at the same
 * bucket index, is large enough, and every page the request touches is
 * valid (mapcache_entry_serves()).
 *
 * Invariants (under MapCache.lock)
 * --------------------------------
 * - An entry is either in the cache (in its bucket's chain) or detached;
 *   a detached entry is never found again and its range is released by
 *   exactly one call_rcu() callback.
 * - An entry in the cache is in MapCache.lru if and only if its pin count
 *   is zero.  Its pin count is the sum of the counts of its pin records.
 * - Two entries in the cache never overlap in QEMU's address space.
 * - MapCache.live_bytes is the sum of the sizes of the entries in the
 *   cache, and stays under the cache limit but for pinned entries;
 *   MapCache.pending_bytes is that of the detached entries whose release
 *   has not run yet.
 *
 * The RCU rule
 * ------------
 * A range that was ever handed out is never unmapped, never mapped over
 * and never reused for other frames while a reader may still hold a
 * pointer into it.  The cache never changes an entry's mapping in place:
 * a request that no entry serves gets a new range from the kernel, and
 * every entry that leaves the cache (recycled for a larger mapping,
 * evicted, flushed, a grant at its last unpin, teardown) is detached under
 * the lock and released by mapcache_release_rcu() after a grace period.
 * A lock0 caller holds its pointer inside rcu_read_lock(), a lock1 caller
 * holds a pin (pinned entries are never detached but by teardown), so no
 * pointer a caller holds is unmapped under it.  Detached ranges stay
 * mapped until then, so the kernel cannot hand the same addresses out
 * again for other frames.
 *
 * The one exception is xen_replace_cache_entry(): it maps the real frames
 * with MAP_FIXED over a dummy entry made during incoming migration.  That
 * is its contract: the dummy stands in for memory whose frames are not
 * known yet, and its one caller (xen_add_to_physmap()) needs the pointer
 * it already gave the device model to show those frames from now on.  It
 * never replaces a foreign or grant mapping.
 *
 * Locking and concurrency
 * -----------------------
 * Every public function may be called from any thread.  Each cache has a
 * QemuMutex (MapCache.lock) protecting everything in it but the fields the
 * RCU callback updates with atomics (pending_bytes, releases_done) and
 * those the lock0 hit path reads without the lock (below).  Functions
 * suffixed _locked need the lock held.  No function takes two caches'
 * locks at once, none waits for a grace period under a lock, and the
 * release callback takes no lock: in QEMU it runs in the RCU thread with
 * the BQL held, and callers of the mapcache may hold the BQL.
 * mapcache_grants_lock only serialises the creation of the grant caches.
 *
 * The lock0 hit path, mapcache_hit_rcu(), takes no lock: inside a read
 * section it reads the recent slot of the request's bucket index and, if
 * the unpinned, non-dummy entry there serves the request, returns a
 * pointer into it.  This is safe because an entry's memory and range are
 * released only by mapcache_release_rcu(), queued after
 * mapcache_detach_locked() has cleared the entry's slot: a reader that
 * still found the entry began its read section before the release was
 * queued, and the grace period waits for it.  What the path reads of an
 * entry does not change while the entry is in the cache, but for
 * xen_replace_cache_entry() on a dummy, which the path skips
 * (MapCacheEntry.dummy is cleared last, with release semantics).  Written
 * under the lock and read by that path, with atomics: MapCache.recent and
 * MapCacheEntry.pin_count, .dummy, .referenced; the path counts its hits
 * in per-thread stripes (MapCacheHitStripe).
 */

#include "qemu/osdep.h"
/* xen_native.h must come before any other Xen header. */
#include "hw/xen/xen_native.h"
#include "qemu/units.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/lockable.h"
#include "qemu/queue.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/coroutine.h"
#include "block/aio.h"
#include "block/block.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "exec/ramlist.h"
#include "sysemu/runstate.h"
#include "sysemu/xen.h"
#include "sysemu/xen-mapcache.h"
#include "hw/xen/xen.h"
#include "trace.h"

#include <sys/resource.h>
#include <xengnttab.h>

/*
 * Bucket size, and the most address space the cache keeps mapped: the
 * whole of a 32-bit host's usable space would not fit guest RAM, so it is
 * capped lower there.
 */
#if HOST_LONG_BITS == 32
#define MCACHE_BUCKET_SHIFT 16
#define MCACHE_MAX_SIZE     (2 * GiB)
#else
#define MCACHE_BUCKET_SHIFT 20
#define MCACHE_MAX_SIZE     (32 * GiB)
#endif
#define MCACHE_BUCKET_SIZE  (1UL << MCACHE_BUCKET_SHIFT)

/*
 * Address space left to the rest of QEMU under a finite RLIMIT_AS (the
 * previous implementation measured about 75 MiB besides the mapcache).
 */
#define NON_MCACHE_MEMORY_SIZE (80 * MiB)

typedef struct MapCache MapCache;
typedef struct MapCacheBucket MapCacheBucket;

typedef struct MapCacheEntry {
    struct rcu_head rcu;            /* first member, for call_rcu() */
    MapCache *mc;
    MapCacheBucket *bucket;         /* NULL once detached */
    hwaddr paddr_index;             /* first bucket mapped */
    uint8_t *vaddr_base;
    size_t size;                    /* whole buckets */
    unsigned long *valid_mapping;   /* bit set if the page is mapped; */
                                    /* NULL when every page is */
    uint32_t pin_count;             /* lock1 requests not invalidated yet */
    bool dummy;                     /* anonymous stand-in, see top */
    bool referenced;                /* hit without the lock since the */
                                    /* eviction last looked at it */
    QLIST_ENTRY(MapCacheEntry) chain;
    QTAILQ_ENTRY(MapCacheEntry) lru;    /* in MapCache.lru iff unpinned */
} MapCacheEntry;

struct MapCacheBucket {
    hwaddr index;                           /* key in MapCache.buckets */
    QLIST_HEAD(, MapCacheEntry) chain;      /* newest first */
};

/* What one pointer handed out by a lock1 request pins. */
typedef struct MapCachePin {
    uint8_t *ptr;                   /* key in MapCache.pins */
    MapCacheEntry *entry;
    uint32_t count;                 /* times @ptr was handed out pinned */
    bool dma;
} MapCachePin;

/*
 * Each cache remembers, per slot of bucket indexes, the entry that last
 * served a request there: the lookaside of the lookups, locked or not.
 * Most requests hit a bucket used a moment before.
 */
#define MAPCACHE_RECENT_SLOTS 64

/*
 * Hits of the lock0 path that takes no lock, counted per stripe: threads
 * take stripes in turn, and a stripe fills a cache line, so that threads
 * hitting at once do not share one.
 */
#define MAPCACHE_HIT_STRIPES 16
#define MAPCACHE_CACHE_LINE 64      /* bytes, on the hosts Xen runs on */

typedef struct MapCacheHitStripe {
    size_t hits;
    char pad[MAPCACHE_CACHE_LINE - sizeof(size_t)];
} MapCacheHitStripe;

struct MapCache {
    QemuMutex lock;
    const char *name;               /* for messages and trace events */
    unsigned int bucket_shift;
    size_t max_size;                /* the cache limit, in bytes */
    bool grants;                    /* grant cache: page granular */
    bool writable;                  /* grant cache mapped read-write */
    phys_offset_to_gaddr_t phys_offset_to_gaddr;

    /* Protected by @lock. */
    GHashTable *buckets;            /* bucket index -> MapCacheBucket */
    GHashTable *pins;               /* pointer -> MapCachePin */
    QTAILQ_HEAD(, MapCacheEntry) lru;   /* unpinned, least recent first */
    /* Also read by mapcache_hit_rcu(), see mapcache_recent_slot(). */
    MapCacheEntry *recent[MAPCACHE_RECENT_SLOTS];
    size_t live_bytes;              /* sizes of the entries in the cache */
    size_t pinned_bytes;            /* those of the pinned ones */
    size_t peak_bytes;              /* of live_bytes + pending_bytes */
    XenMapCacheStats stats;

    /* Updated with atomics by mapcache_release_rcu(), outside @lock. */
    size_t pending_bytes;           /* detached, not released yet */
    size_t releases_done;

    /* Updated with atomics by mapcache_hit_rcu(), outside @lock. */
    MapCacheHitStripe hit_stripes[MAPCACHE_HIT_STRIPES];
};

/* One request, as xen_map_cache() got it, and what follows from it. */
typedef struct MapCacheRequest {
    hwaddr phys_addr;
    hwaddr size;                    /* as asked: 0 means one bucket */
    ram_addr_t ram_offset;          /* grant region base, for grant refs */
    bool pin;                       /* a lock1 request */
    bool dma;
    bool dummy;                     /* make an anonymous stand-in */
    /* Derived by mapcache_request_set_addr(). */
    hwaddr index;                   /* first bucket */
    size_t offset;                  /* of @phys_addr in the first bucket */
    size_t map_size;                /* bytes an entry must map */
    unsigned long first_page;       /* pages touched, from the entry base */
    unsigned long nr_pages;
} MapCacheRequest;

static MapCache *mapcache;
static MapCache *mapcache_grants_ro;
static MapCache *mapcache_grants_rw;
static QemuMutex mapcache_grants_lock;
static xengnttab_handle *xen_region_gnttabdev;
static unsigned mapcache_stripes_taken;
static __thread unsigned mapcache_thread_stripe;   /* 1-based; 0: none */

/* Arithmetic: buckets, pages, sizes. */

static size_t mapcache_bucket_size(const MapCache *mc)
{
    return (size_t)1 << mc->bucket_shift;
}

static hwaddr mapcache_bucket_index(const MapCache *mc, hwaddr addr)
{
    return addr >> mc->bucket_shift;
}

static size_t mapcache_bucket_offset(const MapCache *mc, hwaddr addr)
{
    return addr & (mapcache_bucket_size(mc) - 1);
}

static unsigned long mapcache_pages(size_t bytes)
{
    return bytes >> XC_PAGE_SHIFT;
}

/* Guest address of the first page of bucket @index. */
static hwaddr mapcache_bucket_addr(const MapCache *mc, hwaddr index)
{
    return index << mc->bucket_shift;
}

/* The recent slot of bucket @index: by index modulo the number of slots. */
static MapCacheEntry **mapcache_recent_slot(MapCache *mc, hwaddr index)
{
    return &mc->recent[index % MAPCACHE_RECENT_SLOTS];
}

/*
 * Fill in what follows from @phys_addr and @req->size: the bucket index,
 * the size of the mapping (size 0 means one bucket; otherwise the offset
 * plus the size rounded up to whole buckets) and the pages the request
 * touches (at least one).  @req->size must not exceed the cache limit.
 */
static void mapcache_request_set_addr(const MapCache *mc,
                                      MapCacheRequest *req, hwaddr phys_addr)
{
    size_t in_page = phys_addr & (XC_PAGE_SIZE - 1);

    req->phys_addr = phys_addr;
    req->index = mapcache_bucket_index(mc, phys_addr);
    req->offset = mapcache_bucket_offset(mc, phys_addr);
    req->first_page = mapcache_pages(req->offset);
    if (req->size) {
        /* Buckets are a power of two: no division on the hot path. */
        req->map_size = ROUND_UP(req->offset + req->size,
                                 mapcache_bucket_size(mc));
        req->nr_pages = DIV_ROUND_UP(in_page + req->size, XC_PAGE_SIZE);
    } else {
        req->map_size = mapcache_bucket_size(mc);
        req->nr_pages = 1;
    }
}

/* Set up @req for @phys_addr; false if its mapping exceeds the limit. */
static bool mapcache_request_fits(const MapCache *mc, MapCacheRequest *req,
                                  hwaddr phys_addr)
{
    if (req->size > mc->max_size) {
        return false;
    }
    mapcache_request_set_addr(mc, req, phys_addr);
    return req->map_size <= mc->max_size;
}

static bool mapcache_pages_valid(const MapCacheEntry *entry,
                                 unsigned long first, unsigned long nr)
{
    return !entry->valid_mapping ||
           find_next_zero_bit(entry->valid_mapping, first + nr, first) >=
           first + nr;
}

static bool mapcache_entry_serves(const MapCacheEntry *entry,
                                  const MapCacheRequest *req)
{
    return entry->paddr_index == req->index &&
           entry->size >= req->map_size &&
           mapcache_pages_valid(entry, req->first_page, req->nr_pages);
}

static bool mapcache_entry_is_dummy_for(const MapCacheEntry *entry,
                                        const MapCacheRequest *req)
{
    return entry->dummy && entry->paddr_index == req->index &&
           entry->size >= req->map_size;
}

static G_NORETURN void mapcache_fatal(const char *what, hwaddr addr,
                                      size_t size, int err)
{
    error_report("mapcache: %s at guest address 0x%" HWADDR_PRIx
                 " (size 0x%zx) failed: %s", what, addr, size, strerror(err));
    exit(EXIT_FAILURE);
}

/* Chains. */

static MapCacheBucket *mapcache_get_bucket_locked(MapCache *mc, hwaddr index)
{
    MapCacheBucket *bucket = g_hash_table_lookup(mc->buckets, &index);

    if (!bucket) {
        bucket = g_new0(MapCacheBucket, 1);
        bucket->index = index;
        QLIST_INIT(&bucket->chain);
        g_hash_table_insert(mc->buckets, &bucket->index, bucket);
    }
    return bucket;
}

/* Put @entry at the head of the chain of its first bucket. */
static void mapcache_chain_add_locked(MapCache *mc, MapCacheEntry *entry)
{
    entry->bucket = mapcache_get_bucket_locked(mc, entry->paddr_index);
    QLIST_INSERT_HEAD(&entry->bucket->chain, entry, chain);
}

/* Take @entry out of its chain; a bucket lives as long as its chain. */
static void mapcache_chain_remove_locked(MapCache *mc, MapCacheEntry *entry)
{
    MapCacheBucket *bucket = entry->bucket;

    QLIST_REMOVE(entry, chain);
    entry->bucket = NULL;
    if (QLIST_EMPTY(&bucket->chain)) {
        g_hash_table_remove(mc->buckets, &bucket->index);
    }
}

/* No lookup, locked or not, finds @entry through its recent slot now. */
static void mapcache_forget_recent_locked(MapCache *mc, MapCacheEntry *entry)
{
    MapCacheEntry **slot = mapcache_recent_slot(mc, entry->paddr_index);

    if (*slot == entry) {
        qatomic_rcu_set(slot, NULL);
    }
}

/* Releasing ranges: always after a grace period. */

/* Unmap a detached entry's range; no reader can point into it any more. */
static void mapcache_unmap_entry(MapCache *mc, MapCacheEntry *entry)
{
    hwaddr addr = mapcache_bucket_addr(mc, entry->paddr_index);
    int rc;

    if (mc->grants) {
        rc = xengnttab_unmap(xen_region_gnttabdev, entry->vaddr_base,
                             mapcache_pages(entry->size));
    } else if (entry->dummy) {
        rc = munmap(entry->vaddr_base, entry->size);
    } else {
        ram_block_notify_remove(entry->vaddr_base, entry->size, entry->size);
        rc = xenforeignmemory_unmap(xen_fmem, entry->vaddr_base,
                                    mapcache_pages(entry->size));
    }
    if (rc) {
        mapcache_fatal("unmapping", addr, entry->size, errno);
    }
}

static void mapcache_release_rcu(MapCacheEntry *entry)
{
    MapCache *mc = entry->mc;

    trace_xen_map_cache_release(mc->name, entry->vaddr_base, entry->size);
    mapcache_unmap_entry(mc, entry);
    qatomic_sub(&mc->pending_bytes, entry->size);
    qatomic_inc(&mc->releases_done);
    g_free(entry->valid_mapping);
    g_free(entry);
}

/*
 * Take an unpinned @entry out of the cache: nobody finds it any more, and
 * its range is released once every reader that may point into it is done.
 */
static void mapcache_detach_locked(MapCache *mc, MapCacheEntry *entry)
{
    assert(!entry->pin_count);
    mapcache_chain_remove_locked(mc, entry);
    QTAILQ_REMOVE(&mc->lru, entry, lru);
    /* Before call_rcu(): see "Locking and concurrency" at the top. */
    mapcache_forget_recent_locked(mc, entry);

    mc->live_bytes -= entry->size;
    qatomic_add(&mc->pending_bytes, entry->size);
    mc->stats.entries--;
    mc->stats.releases_queued++;
    trace_xen_map_cache_release_queued(mc->name, entry->vaddr_base,
                                       entry->size);
    call_rcu(entry, mapcache_release_rcu, rcu);
}

static void mapcache_detach_all_unpinned_locked(MapCache *mc,
                                                uint64_t *counter)
{
    MapCacheEntry *entry;

    while ((entry = QTAILQ_FIRST(&mc->lru))) {
        mapcache_detach_locked(mc, entry);
        (*counter)++;
    }
}

/*
 * Evict unpinned entries, least recently used first, until @size more
 * bytes fit under the limit.  An entry hit without the lock since it was
 * last looked at gets a second chance at the tail of the list (CLOCK):
 * those hits cannot move it there themselves.  Pinned entries may keep
 * the cache above the limit: the limit never fails a request.
 *
 * Releases still pending do not count here, although they hold address
 * space until their grace period ends: evicting cannot make them end
 * sooner, and each eviction adds to them.  Counting them shrank the cache
 * under a burst of misses, which made more misses and more pending bytes
 * (see docs/devel/xen-mapcache.rst).  They show in the mapped_bytes
 * counter; a mapping that fails with ENOMEM drops every unpinned entry
 * and retries once.
 */
static void mapcache_make_room_locked(MapCache *mc, size_t size)
{
    uint64_t chances = mc->stats.entries - mc->stats.pinned_entries;
    MapCacheEntry *entry;

    while (mc->live_bytes + size > mc->max_size &&
           (entry = QTAILQ_FIRST(&mc->lru))) {
        if (chances && qatomic_read(&entry->referenced)) {
            chances--;
            qatomic_set(&entry->referenced, false);
            QTAILQ_REMOVE(&mc->lru, entry, lru);
            QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
            continue;
        }
        trace_xen_map_cache_evict(mc->name, entry->vaddr_base, entry->size);
        mapcache_detach_locked(mc, entry);
        mc->stats.evictions++;
    }
}

/*
 * A new entry for @req is about to be mapped: the unpinned entries of the
 * chain that it covers would serve nothing it does not, so recycle them.
 */
static void mapcache_recycle_covered_locked(MapCache *mc,
                                            const MapCacheRequest *req)
{
    MapCacheBucket *bucket = g_hash_table_lookup(mc->buckets, &req->index);
    MapCacheEntry *entry, *next;

    if (!bucket) {
        return;
    }
    QLIST_FOREACH_SAFE(entry, &bucket->chain, chain, next) {
        if (!entry->pin_count && entry->size <= req->map_size) {
            mapcache_detach_locked(mc, entry);
            mc->stats.remaps++;
        }
    }
}

/* Mapping new ranges. */

/* Record which pages @err (from xenforeignmemory_map2()) says are mapped. */
static void mapcache_set_valid_pages(MapCacheEntry *entry, const int *err)
{
    unsigned long i, nr_pages = mapcache_pages(entry->size);

    g_free(entry->valid_mapping);
    entry->valid_mapping = NULL;
    for (i = 0; i < nr_pages; i++) {
        if (err[i]) {
            if (!entry->valid_mapping) {
                entry->valid_mapping = bitmap_new(nr_pages);
                bitmap_set(entry->valid_mapping, 0, nr_pages);
            }
            clear_bit(i, entry->valid_mapping);
        }
    }
}

static void *mapcache_map_foreign_once(MapCacheEntry *entry, void *fixed,
                                       int *err)
{
    unsigned long i, nr_pages = mapcache_pages(entry->size);
    g_autofree xen_pfn_t *pfns = g_new(xen_pfn_t, nr_pages);
    hwaddr first_pfn = entry->paddr_index <<
                       (entry->mc->bucket_shift - XC_PAGE_SHIFT);

    for (i = 0; i < nr_pages; i++) {
        pfns[i] = first_pfn + i;
    }
    /*
     * Foreign mappings ignore is_write and are always read-write: the
     * cache cannot upgrade a read-only mapping later.
     */
    return xenforeignmemory_map2(xen_fmem, xen_domid, fixed,
                                 PROT_READ | PROT_WRITE,
                                 fixed ? MAP_FIXED : 0,
                                 nr_pages, pfns, err);
}

/*
 * Map @entry's guest frames.  When the kernel is out of address space,
 * give back every unpinned entry (their releases are queued, not waited
 * for: the caller is usually inside a read section) and retry once.
 */
static void mapcache_map_foreign_locked(MapCache *mc, MapCacheEntry *entry)
{
    hwaddr addr = mapcache_bucket_addr(mc, entry->paddr_index);
    g_autofree int *err = g_new0(int, mapcache_pages(entry->size));

    entry->vaddr_base = mapcache_map_foreign_once(entry, NULL, err);
    if (!entry->vaddr_base && errno == ENOMEM) {
        trace_xen_map_cache_enomem_retry(mc->name, addr, entry->size);
        mapcache_detach_all_unpinned_locked(mc, &mc->stats.evictions);
        entry->vaddr_base = mapcache_map_foreign_once(entry, NULL, err);
    }
    if (!entry->vaddr_base) {
        mapcache_fatal("mapping guest frames", addr, entry->size, errno);
    }
    mapcache_set_valid_pages(entry, err);
    ram_block_notify_add(entry->vaddr_base, entry->size, entry->size);
}

static void mapcache_map_grants(MapCache *mc, MapCacheEntry *entry,
                                const MapCacheRequest *req)
{
    unsigned long i, nr_pages = mapcache_pages(entry->size);
    g_autofree uint32_t *refs = g_new(uint32_t, nr_pages);
    hwaddr first_ref = entry->paddr_index -
                       (req->ram_offset >> XC_PAGE_SHIFT);
    int prot = PROT_READ | (mc->writable ? PROT_WRITE : 0);

    for (i = 0; i < nr_pages; i++) {
        refs[i] = first_ref + i;
    }
    entry->vaddr_base = xengnttab_map_domain_grant_refs(xen_region_gnttabdev,
                                                        nr_pages, xen_domid,
                                                        refs, prot);
    if (!entry->vaddr_base) {
        mapcache_fatal("mapping grant references", req->phys_addr,
                       entry->size, errno);
    }
}

/* Anonymous memory standing in for frames not known yet (migration). */
static void mapcache_map_dummy(MapCacheEntry *entry,
                               const MapCacheRequest *req)
{
    entry->vaddr_base = mmap(NULL, entry->size, PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_SHARED, -1, 0);
    if (entry->vaddr_base == MAP_FAILED) {
        mapcache_fatal("mapping a dummy range", req->phys_addr,
                       entry->size, errno);
    }
}

/* Put a mapped, unpinned @entry in the cache, at the head of its chain. */
static void mapcache_insert_locked(MapCache *mc, MapCacheEntry *entry)
{
    mapcache_chain_add_locked(mc, entry);
    QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    mc->live_bytes += entry->size;
    mc->peak_bytes = MAX(mc->peak_bytes,
                         mc->live_bytes + qatomic_read(&mc->pending_bytes));
    mc->stats.entries++;
}

/*
 * Map a new entry for @req.  The result may still not serve @req, if the
 * hypervisor refused a page it touches.
 */
static MapCacheEntry *mapcache_new_entry_locked(MapCache *mc,
                                                const MapCacheRequest *req)
{
    MapCacheEntry *entry = g_new0(MapCacheEntry, 1);

    entry->mc = mc;
    entry->paddr_index = req->index;
    entry->size = req->map_size;
    entry->dummy = req->dummy;

    mapcache_recycle_covered_locked(mc, req);
    mapcache_make_room_locked(mc, entry->size);
    if (req->dummy) {
        mapcache_map_dummy(entry, req);
    } else if (mc->grants) {
        mapcache_map_grants(mc, entry, req);
    } else {
        mapcache_map_foreign_locked(mc, entry);
    }
    mapcache_insert_locked(mc, entry);

    mc->stats.new_mappings++;
    mc->stats.pages_mapped += mapcache_pages(entry->size);
    trace_xen_map_cache_new_entry(mc->name, entry->paddr_index, entry->size,
                                  entry->vaddr_base, entry->dummy);
    return entry;
}

/* Looking entries up. */

typedef bool MapCacheEntryTest(const MapCacheEntry *entry,
                               const MapCacheRequest *req);

/*
 * The one chain walk: find an entry of @req's chain that passes @test.
 * When several do, a pinned one wins (it stays mapped anyway, and leaving
 * the unpinned ones cold lets the LRU give them back); among pinned or
 * among unpinned ones, the nearest the head, that is the newest, wins.
 */
static MapCacheEntry *mapcache_find_locked(MapCache *mc,
                                           const MapCacheRequest *req,
                                           MapCacheEntryTest *test)
{
    MapCacheBucket *bucket = g_hash_table_lookup(mc->buckets, &req->index);
    MapCacheEntry *entry, *found = NULL;

    if (!bucket) {
        return NULL;
    }
    QLIST_FOREACH(entry, &bucket->chain, chain) {
        mc->stats.chain_steps++;
        if (!test(entry, req)) {
            mc->stats.fruitless_chain_steps++;
            continue;
        }
        if (entry->pin_count) {
            return entry;
        }
        if (!found) {
            found = entry;
        }
    }
    return found;
}

/*
 * The entry serving @req, if one is in the cache.  The entry in the recent
 * slot of its index is tried first, and wins if it serves, pinned or not:
 * most requests hit a bucket used a moment before, and then need no walk.
 */
static MapCacheEntry *mapcache_lookup_locked(MapCache *mc,
                                             const MapCacheRequest *req)
{
    MapCacheEntry *entry = *mapcache_recent_slot(mc, req->index);

    if (entry && mapcache_entry_serves(entry, req)) {
        mc->stats.recent_hits++;
        return entry;
    }
    entry = mapcache_find_locked(mc, req, mapcache_entry_serves);
    if (entry) {
        mc->stats.chain_hits++;
    }
    return entry;
}

/* The entry serving @req, mapping a new one if needed; NULL if none can. */
static MapCacheEntry *mapcache_get_entry_locked(MapCache *mc,
                                                const MapCacheRequest *req)
{
    MapCacheEntry *entry = mapcache_lookup_locked(mc, req);

    if (entry) {
        return entry;
    }
    entry = mapcache_new_entry_locked(mc, req);
    return mapcache_entry_serves(entry, req) ? entry : NULL;
}

/* Pinning. */

static void mapcache_pin_locked(MapCache *mc, MapCacheEntry *entry,
                                uint8_t *ptr, bool dma)
{
    MapCachePin *pin = g_hash_table_lookup(mc->pins, ptr);

    if (entry->pin_count == UINT32_MAX) {
        error_report("mapcache: pin count overflow on the entry at guest "
                     "address 0x%" HWADDR_PRIx " (size 0x%zx, host %p)",
                     mapcache_bucket_addr(mc, entry->paddr_index),
                     entry->size, entry->vaddr_base);
        abort();
    }
    if (!entry->pin_count) {
        QTAILQ_REMOVE(&mc->lru, entry, lru);
        mc->stats.pinned_entries++;
        mc->pinned_bytes += entry->size;
    }
    qatomic_set(&entry->pin_count, entry->pin_count + 1);

    if (!pin) {
        pin = g_new0(MapCachePin, 1);
        pin->ptr = ptr;
        pin->entry = entry;
        g_hash_table_insert(mc->pins, ptr, pin);
    }
    assert(pin->entry == entry);
    pin->count++;
    pin->dma |= dma;
}

/* Put an entry whose last pin went away back among the unpinned ones. */
static void mapcache_entry_unpinned_locked(MapCache *mc, MapCacheEntry *entry)
{
    mc->stats.pinned_entries--;
    mc->pinned_bytes -= entry->size;
    QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    if (mc->grants) {
        /* The granting domain expects its pages back. */
        mapcache_detach_locked(mc, entry);
    } else {
        mapcache_make_room_locked(mc, 0);
    }
}

/* Drop one pin taken through @ptr; false if @ptr pins nothing here. */
static bool mapcache_unpin_locked(MapCache *mc, uint8_t *ptr)
{
    MapCachePin *pin = g_hash_table_lookup(mc->pins, ptr);
    MapCacheEntry *entry;

    if (!pin) {
        return false;
    }
    entry = pin->entry;
    if (--pin->count == 0) {
        g_hash_table_remove(mc->pins, ptr);
    }
    qatomic_set(&entry->pin_count, entry->pin_count - 1);
    if (!entry->pin_count) {
        mapcache_entry_unpinned_locked(mc, entry);
    }
    return true;
}

static void mapcache_touch_locked(MapCache *mc, MapCacheEntry *entry)
{
    MapCacheEntry **slot = mapcache_recent_slot(mc, entry->paddr_index);

    if (*slot != entry) {
        qatomic_rcu_set(slot, entry);
    }
    if (!entry->pin_count && entry != QTAILQ_LAST(&mc->lru)) {
        QTAILQ_REMOVE(&mc->lru, entry, lru);
        QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    }
}

static void mapcache_count_pinned_reuse_locked(MapCache *mc,
                                               MapCacheEntry *entry)
{
    if (entry->pin_count) {
        mc->stats.pinned_reuses++;
        if (entry != QLIST_FIRST(&entry->bucket->chain)) {
            mc->stats.pinned_reuses_beyond_head++;
        }
    }
}

/*
 * Serve @req: an entry that serves it, or a new mapping; if a page it
 * touches is invalid, retry with the translated address (Xen < 4.10), then
 * in incoming migration with a dummy.
 */
static uint8_t *mapcache_map_locked(MapCache *mc, MapCacheRequest *req)
{
    MapCacheEntry *entry = mapcache_get_entry_locked(mc, req);

#ifdef XEN_COMPAT_PHYSMAP
    if (!entry && mc->phys_offset_to_gaddr) {
        mapcache_request_set_addr(mc, req,
                                  mc->phys_offset_to_gaddr(req->phys_addr,
                                                           req->size));
        entry = mapcache_get_entry_locked(mc, req);
    }
#endif
    if (!entry && !mc->grants && runstate_check(RUN_STATE_INMIGRATE)) {
        req->dummy = true;
        entry = mapcache_get_entry_locked(mc, req);
    }
    if (!entry) {
        mc->stats.null_returns++;
        return NULL;
    }

    mapcache_count_pinned_reuse_locked(mc, entry);
    mapcache_touch_locked(mc, entry);
    if (req->pin) {
        mapcache_pin_locked(mc, entry, entry->vaddr_base + req->offset,
                            req->dma);
    }
    return entry->vaddr_base + req->offset;
}

/* Count a request, then serve it (or refuse it, if it does not @fit). */
static uint8_t *mapcache_serve_locked(MapCache *mc, MapCacheRequest *req,
                                      bool fits)
{
    if (req->pin) {
        mc->stats.lookups_lock1++;
    } else {
        mc->stats.lookups_lock0++;
    }
    if (!fits) {
        trace_xen_map_cache_too_large(mc->name, req->phys_addr, req->size);
        mc->stats.null_returns++;
        return NULL;
    }
    return mapcache_map_locked(mc, req);
}

static void mapcache_count_hit_rcu(MapCache *mc)
{
    if (!mapcache_thread_stripe) {
        mapcache_thread_stripe = qatomic_fetch_inc(&mapcache_stripes_taken) %
                                 MAPCACHE_HIT_STRIPES + 1;
    }
    qatomic_inc(&mc->hit_stripes[mapcache_thread_stripe - 1].hits);
}

static size_t mapcache_hits_rcu(MapCache *mc)
{
    size_t i, hits = 0;

    for (i = 0; i < MAPCACHE_HIT_STRIPES; i++) {
        hits += qatomic_read(&mc->hit_stripes[i].hits);
    }
    return hits;
}

/*
 * The lock0 hit path, without the lock: a pointer into the entry in the
 * recent slot of @req's index, if it serves @req and is neither pinned
 * (pinned entries take the locked path, which counts pinned reuses) nor a
 * dummy.  See "Locking and concurrency" at the top for why this is safe.
 */
static uint8_t *mapcache_hit_rcu(MapCache *mc, const MapCacheRequest *req)
{
    MapCacheEntry *entry;

    RCU_READ_LOCK_GUARD();
    entry = qatomic_rcu_read(mapcache_recent_slot(mc, req->index));
    if (!entry || qatomic_load_acquire(&entry->dummy) ||
        qatomic_read(&entry->pin_count) ||
        !mapcache_entry_serves(entry, req)) {
        return NULL;
    }
    if (!qatomic_read(&entry->referenced)) {
        qatomic_set(&entry->referenced, true);
    }
    mapcache_count_hit_rcu(mc);
    return entry->vaddr_base + req->offset;
}

/* Creating and finding the caches. */

static MapCache *mapcache_create(const char *name, unsigned int bucket_shift,
                                 size_t max_size)
{
    MapCache *mc = g_new0(MapCache, 1);

    QEMU_BUILD_BUG_ON(sizeof(hwaddr) != sizeof(gint64));
    assert(bucket_shift >= XC_PAGE_SHIFT);
    qemu_mutex_init(&mc->lock);
    mc->name = name;
    mc->bucket_shift = bucket_shift;
    mc->max_size = max_size;
    mc->buckets = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                        NULL, g_free);
    mc->pins = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                     NULL, g_free);
    QTAILQ_INIT(&mc->lru);
    return mc;
}

/*
 * Grant mappings must use XC_PAGE_SIZE granularity since we can't map
 * anything beyond the number of pages granted to us.  The caches are
 * created at the first grant request: most guests never use one.
 */
static MapCache *mapcache_grants_get(bool is_write)
{
    MapCache **slot = is_write ? &mapcache_grants_rw : &mapcache_grants_ro;
    MapCache *mc = qatomic_load_acquire(slot);

    if (!mc) {
        QEMU_LOCK_GUARD(&mapcache_grants_lock);
        mc = *slot;
        if (!mc) {
            mc = mapcache_create(is_write ? "grants-rw" : "grants-ro",
                                 XC_PAGE_SHIFT, mapcache->max_size);
            mc->grants = true;
            mc->writable = is_write;
            mc->phys_offset_to_gaddr = mapcache->phys_offset_to_gaddr;
            qatomic_store_release(slot, mc);
        }
    }
    return mc;
}

/* The cache of @kind, or NULL if it does not exist (yet). */
static MapCache *mapcache_by_kind(XenMapCacheKind kind)
{
    switch (kind) {
    case XEN_MAPCACHE_RAM:
        return mapcache;
    case XEN_MAPCACHE_GRANTS_RO:
        return qatomic_load_acquire(&mapcache_grants_ro);
    case XEN_MAPCACHE_GRANTS_RW:
        return qatomic_load_acquire(&mapcache_grants_rw);
    default:
        g_assert_not_reached();
    }
}

/* Public API. */

bool xen_map_cache_init_limit(phys_offset_to_gaddr_t f, void *opaque,
                              size_t max_size, Error **errp)
{
    assert(!mapcache);
    if (!xen_map_cache_check_max_size(max_size, &max_size, errp)) {
        return false;
    }
    xen_region_gnttabdev = xengnttab_open(NULL, 0);
    if (xen_region_gnttabdev == NULL) {
        error_report("mapcache: Failed to open gnttab device");
        exit(EXIT_FAILURE);
    }
    qemu_mutex_init(&mapcache_grants_lock);
    mapcache = mapcache_create("ram", MCACHE_BUCKET_SHIFT, max_size);
    mapcache->phys_offset_to_gaddr = f;
    trace_xen_map_cache_init(max_size, mapcache_bucket_size(mapcache));
    return true;
}

/*
 * The limit from RLIMIT_AS: root lifts it and takes the cap; otherwise the
 * soft limit is raised to the hard one, minus what the rest of QEMU needs.
 */
void xen_map_cache_init(phys_offset_to_gaddr_t f, void *opaque)
{
    struct rlimit rlimit_as;
    size_t max_size = MCACHE_MAX_SIZE;

    if (geteuid() == 0) {
        rlimit_as.rlim_cur = RLIM_INFINITY;
        rlimit_as.rlim_max = RLIM_INFINITY;
    } else {
        getrlimit(RLIMIT_AS, &rlimit_as);
        rlimit_as.rlim_cur = rlimit_as.rlim_max;

        if (rlimit_as.rlim_max != RLIM_INFINITY) {
            warn_report("QEMU's maximum size of virtual"
                        " memory is not infinity");
        }
        if (rlimit_as.rlim_max < MCACHE_MAX_SIZE + NON_MCACHE_MEMORY_SIZE) {
            max_size = rlimit_as.rlim_max > NON_MCACHE_MEMORY_SIZE ?
                       rlimit_as.rlim_max - NON_MCACHE_MEMORY_SIZE : 0;
        }
    }

    xen_map_cache_init_limit(f, opaque, max_size, &error_fatal);
    setrlimit(RLIMIT_AS, &rlimit_as);
}

uint8_t *xen_map_cache(MemoryRegion *mr,
                       hwaddr phys_addr, hwaddr size,
                       ram_addr_t ram_addr_offset,
                       uint8_t lock, bool dma,
                       bool is_write)
{
    bool grant = xen_mr_is_grants(mr);
    MapCacheRequest req = {
        .size = size,
        .ram_offset = ram_addr_offset,
        .pin = lock != 0,
        .dma = dma,
    };
    MapCache *mc;
    uint8_t *p = NULL;
    bool fits;

    if (grant && !lock) {
        /*
         * Grants are only supported via address_space_map(). Anything
         * else is considered a user/guest error.
         *
         * QEMU generally doesn't expect these mappings to ever fail, so
         * if this happens we report an error message and abort().
         */
        error_report("Tried to access a grant reference without mapping it.");
        abort();
    }

    trace_xen_map_cache(phys_addr);
    mc = grant ? mapcache_grants_get(is_write) : mapcache;
    fits = mapcache_request_fits(mc, &req, phys_addr);
    if (fits && !req.pin) {
        p = mapcache_hit_rcu(mc, &req);
    }
    if (!p) {
        QEMU_LOCK_GUARD(&mc->lock);
        p = mapcache_serve_locked(mc, &req, fits);
    }
    trace_xen_map_cache_return(p);
    return p;
}

static ram_addr_t mapcache_ram_addr_from_ptr(MapCache *mc, uint8_t *ptr)
{
    MapCachePin *pin;

    QEMU_LOCK_GUARD(&mc->lock);
    pin = g_hash_table_lookup(mc->pins, ptr);
    if (!pin) {
        return RAM_ADDR_INVALID;
    }
    return mapcache_bucket_addr(mc, pin->entry->paddr_index) +
           (ptr - pin->entry->vaddr_base);
}

/* Only pointers that a lock1 request returned are known, as upstream. */
ram_addr_t xen_ram_addr_from_mapcache(void *ptr)
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        MapCache *mc = mapcache_by_kind(kind);
        ram_addr_t addr;

        if (mc) {
            addr = mapcache_ram_addr_from_ptr(mc, ptr);
            if (addr != RAM_ADDR_INVALID) {
                return addr;
            }
        }
    }
    trace_xen_ram_addr_from_mapcache_not_found(ptr);
    return RAM_ADDR_INVALID;
}

static void xen_invalidate_map_cache_entry_all(uint8_t *buffer)
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        MapCache *mc = mapcache_by_kind(kind);

        if (mc) {
            QEMU_LOCK_GUARD(&mc->lock);
            if (mapcache_unpin_locked(mc, buffer)) {
                return;
            }
        }
    }
    trace_xen_invalidate_map_cache_entry_not_found(buffer);
}

typedef struct XenMapCacheData {
    Coroutine *co;
    uint8_t *buffer;
} XenMapCacheData;

static void xen_invalidate_map_cache_entry_bh(void *opaque)
{
    XenMapCacheData *data = opaque;

    xen_invalidate_map_cache_entry_all(data->buffer);
    aio_co_wake(data->co);
}

/*
 * In a coroutine, do the work in a bottom half and yield until it is done.
 * The previous implementation needed this because its last unpin ran
 * ram_block_notify_remove(), which must not run in a coroutine; here that
 * runs in the release callback, and the bounce is kept so that callers in
 * coroutines see no change.
 */
void coroutine_mixed_fn xen_invalidate_map_cache_entry(uint8_t *buffer)
{
    if (qemu_in_coroutine()) {
        XenMapCacheData data = {
            .co = qemu_coroutine_self(),
            .buffer = buffer,
        };
        aio_bh_schedule_oneshot(qemu_get_current_aio_context(),
                                xen_invalidate_map_cache_entry_bh, &data);
        qemu_coroutine_yield();
    } else {
        xen_invalidate_map_cache_entry_all(buffer);
    }
}

static void mapcache_trace_stats_locked(MapCache *mc)
{
    XenMapCacheStats *s = &mc->stats;
    size_t hits = mapcache_hits_rcu(mc);

    trace_xen_map_cache_stats(mc->name,
                              s->lookups_lock0 + s->lookups_lock1 + hits,
                              s->recent_hits + s->chain_hits + hits,
                              s->pinned_reuses, s->new_mappings, s->remaps,
                              s->evictions, s->releases_queued,
                              qatomic_read(&mc->releases_done));
}

static void mapcache_trace_pinned_dma_locked(MapCache *mc)
{
    GHashTableIter iter;
    MapCachePin *pin;

    g_hash_table_iter_init(&iter, mc->pins);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pin)) {
        if (pin->dma) {
            trace_xen_invalidate_map_cache(pin->entry->paddr_index, pin->ptr);
        }
    }
}

/*
 * Drop every unpinned entry of the RAM cache, wherever it is in its
 * chain, through the same release as everything else.  Pinned entries
 * stay; grant caches are left alone (they hold pinned entries only).
 */
void xen_invalidate_map_cache(void)
{
    /* Flush pending AIO before destroying the mapcache */
    bdrv_drain_all();

    QEMU_LOCK_GUARD(&mapcache->lock);
    mapcache_trace_pinned_dma_locked(mapcache);
    mapcache_detach_all_unpinned_locked(mapcache, &mapcache->stats.flushed);
    mapcache_trace_stats_locked(mapcache);
}

static uint8_t *mapcache_replace_locked(MapCache *mc, hwaddr old_phys_addr,
                                        hwaddr new_phys_addr, hwaddr size)
{
    MapCacheRequest req = { .size = size };
    MapCacheEntry *entry = NULL;
    g_autofree int *err = NULL;

    if (size && mapcache_request_fits(mc, &req, old_phys_addr)) {
        entry = mapcache_find_locked(mc, &req, mapcache_entry_is_dummy_for);
    }
    if (!entry) {
        trace_xen_replace_cache_entry_no_dummy(old_phys_addr);
        return NULL;
    }
    trace_xen_replace_cache_entry_dummy(old_phys_addr, new_phys_addr);

    /* The entry moves to the chain of the frames it now maps. */
    mapcache_forget_recent_locked(mc, entry);
    mapcache_chain_remove_locked(mc, entry);
    mapcache_request_set_addr(mc, &req, new_phys_addr);
    entry->paddr_index = req.index;
    mapcache_chain_add_locked(mc, entry);

    /* The one in-place replacement: see the top of the file. */
    err = g_new0(int, mapcache_pages(entry->size));
    if (!mapcache_map_foreign_once(entry, entry->vaddr_base, err)) {
        mapcache_fatal("replacing a dummy mapping", new_phys_addr,
                       entry->size, errno);
    }
    mapcache_set_valid_pages(entry, err);
    /* Last: mapcache_hit_rcu() skips dummies, see the top of the file. */
    qatomic_store_release(&entry->dummy, false);
    ram_block_notify_add(entry->vaddr_base, entry->size, entry->size);

    if (!mapcache_entry_serves(entry, &req)) {
        trace_xen_replace_cache_entry_could_not_update_entry(old_phys_addr);
        return NULL;
    }
    return entry->vaddr_base + req.offset;
}

uint8_t *xen_replace_cache_entry(hwaddr old_phys_addr,
                                 hwaddr new_phys_addr,
                                 hwaddr size)
{
    QEMU_LOCK_GUARD(&mapcache->lock);
    return mapcache_replace_locked(mapcache, old_phys_addr, new_phys_addr,
                                   size);
}

bool xen_map_cache_get_stats(XenMapCacheKind kind, XenMapCacheStats *stats)
{
    MapCache *mc = mapcache_by_kind(kind);
    size_t hits;

    memset(stats, 0, sizeof(*stats));
    if (!mc) {
        return false;
    }
    QEMU_LOCK_GUARD(&mc->lock);
    hits = mapcache_hits_rcu(mc);
    *stats = mc->stats;
    stats->lookups_lock0 += hits;
    stats->recent_hits += hits;
    stats->releases_done = qatomic_read(&mc->releases_done);
    stats->pending_ranges = stats->releases_queued - stats->releases_done;
    stats->limit_bytes = mc->max_size;
    stats->live_bytes = mc->live_bytes;
    stats->pinned_bytes = mc->pinned_bytes;
    stats->pending_bytes = qatomic_read(&mc->pending_bytes);
    stats->peak_bytes = mc->peak_bytes;
    stats->mapped_bytes = stats->live_bytes + stats->pending_bytes;
    return true;
}

/* Unpin everything and detach every entry: teardown only. */
static void mapcache_drop_all_locked(MapCache *mc)
{
    GHashTableIter iter;
    MapCachePin *pin;

    g_hash_table_iter_init(&iter, mc->pins);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pin)) {
        qatomic_set(&pin->entry->pin_count,
                    pin->entry->pin_count - pin->count);
        if (!pin->entry->pin_count) {
            mc->stats.pinned_entries--;
            mc->pinned_bytes -= pin->entry->size;
            QTAILQ_INSERT_TAIL(&mc->lru, pin->entry, lru);
        }
        g_hash_table_iter_remove(&iter);
    }
    mapcache_trace_stats_locked(mc);
    mapcache_detach_all_unpinned_locked(mc, &mc->stats.flushed);
}

static void mapcache_free(MapCache *mc)
{
    assert(!g_hash_table_size(mc->buckets));
    assert(!qatomic_read(&mc->pending_bytes));
    g_hash_table_destroy(mc->buckets);
    g_hash_table_destroy(mc->pins);
    qemu_mutex_destroy(&mc->lock);
    g_free(mc);
}

void xen_map_cache_fini(void)
{
    MapCache *caches[XEN_MAPCACHE_KIND__MAX];
    XenMapCacheKind kind;

    if (!mapcache) {
        return;
    }
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        caches[kind] = mapcache_by_kind(kind);
        if (caches[kind]) {
            QEMU_LOCK_GUARD(&caches[kind]->lock);
            mapcache_drop_all_locked(caches[kind]);
        }
    }

    /* Every release queued above runs before the caches go away. */
    drain_call_rcu();

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        if (caches[kind]) {
            mapcache_free(caches[kind]);
        }
    }
    mapcache = NULL;
    qatomic_set(&mapcache_grants_ro, NULL);
    qatomic_set(&mapcache_grants_rw, NULL);
    qemu_mutex_destroy(&mapcache_grants_lock);
    xengnttab_close(xen_region_gnttabdev);
    xen_region_gnttabdev = NULL;
}

/*
 * What the monitor shows: the text of x-query-xen-mapcache and of
 * "info xen-mapcache".
 *
 * One table names every field of XenMapCacheStats, with its unit and the
 * line of a cache's block it goes on: renaming a counter is one edit here.
 * A cache's block is a title line and MAPCACHE_INFO_LINES lines of fields.
 */

typedef enum {
    MAPCACHE_INFO_BYTES,    /* "label 3 MiB" */
    MAPCACHE_INFO_RANGES,   /* " in 2 ranges", after the bytes before it */
    MAPCACHE_INFO_COUNT,    /* "7 label": the label says what is counted */
} MapCacheInfoUnit;

typedef struct MapCacheInfoField {
    unsigned int line;
    MapCacheInfoUnit unit;
    const char *label;          /* NULL for MAPCACHE_INFO_RANGES */
    size_t offset;              /* of a uint64_t in XenMapCacheStats */
} MapCacheInfoField;

#define MAPCACHE_INFO_FIELD(line_, unit_, label_, field_)                   \
    { line_, MAPCACHE_INFO_##unit_, label_,                                 \
      offsetof(XenMapCacheStats, field_) }

static const MapCacheInfoField mapcache_info_fields[] = {
    MAPCACHE_INFO_FIELD(0, BYTES, "limit", limit_bytes),
    MAPCACHE_INFO_FIELD(0, BYTES, "mapped", mapped_bytes),
    MAPCACHE_INFO_FIELD(0, BYTES, "peak", peak_bytes),
    MAPCACHE_INFO_FIELD(1, BYTES, "live", live_bytes),
    MAPCACHE_INFO_FIELD(1, RANGES, NULL, entries),
    MAPCACHE_INFO_FIELD(1, BYTES, "pinned", pinned_bytes),
    MAPCACHE_INFO_FIELD(1, RANGES, NULL, pinned_entries),
    MAPCACHE_INFO_FIELD(2, BYTES, "pending release", pending_bytes),
    MAPCACHE_INFO_FIELD(2, RANGES, NULL, pending_ranges),
    MAPCACHE_INFO_FIELD(3, COUNT, "lock0 lookups", lookups_lock0),
    MAPCACHE_INFO_FIELD(3, COUNT, "lock1 lookups", lookups_lock1),
    MAPCACHE_INFO_FIELD(3, COUNT, "NULL returns", null_returns),
    MAPCACHE_INFO_FIELD(4, COUNT, "recent-slot hits", recent_hits),
    MAPCACHE_INFO_FIELD(4, COUNT, "chain hits", chain_hits),
    MAPCACHE_INFO_FIELD(5, COUNT, "reuses of pinned entries", pinned_reuses),
    MAPCACHE_INFO_FIELD(5, COUNT, "of them beyond the chain head",
                        pinned_reuses_beyond_head),
    MAPCACHE_INFO_FIELD(6, COUNT, "chain steps", chain_steps),
    MAPCACHE_INFO_FIELD(6, COUNT, "of them fruitless", fruitless_chain_steps),
    MAPCACHE_INFO_FIELD(7, COUNT, "new mappings", new_mappings),
    MAPCACHE_INFO_FIELD(7, COUNT, "pages mapped", pages_mapped),
    MAPCACHE_INFO_FIELD(7, COUNT, "remaps", remaps),
    MAPCACHE_INFO_FIELD(8, COUNT, "oversize requests served", oversize),
    MAPCACHE_INFO_FIELD(8, COUNT, "mappings past the limit", over_limit),
    MAPCACHE_INFO_FIELD(9, COUNT, "evictions", evictions),
    MAPCACHE_INFO_FIELD(9, COUNT, "entries flushed", flushed),
    MAPCACHE_INFO_FIELD(10, COUNT, "releases queued", releases_queued),
    MAPCACHE_INFO_FIELD(10, COUNT, "of them done", releases_done),
    MAPCACHE_INFO_FIELD(10, COUNT, "freed at once", freed_at_once),
};
#define MAPCACHE_INFO_LINES 11

/* Every field of XenMapCacheStats is a uint64_t, and has a row. */
QEMU_BUILD_BUG_ON(ARRAY_SIZE(mapcache_info_fields) * sizeof(uint64_t) !=
                  sizeof(XenMapCacheStats));

static const char *const mapcache_kind_names[XEN_MAPCACHE_KIND__MAX] = {
    [XEN_MAPCACHE_RAM] = "guest RAM cache",
    [XEN_MAPCACHE_GRANTS_RO] = "read-only grant cache",
    [XEN_MAPCACHE_GRANTS_RW] = "read-write grant cache",
};

/* @bytes in the largest binary unit that shows it exactly: "1028 KiB". */
static void mapcache_format_bytes(GString *buf, uint64_t bytes)
{
    static const char *const units[] = {
        "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
    };
    unsigned int i = 0;

    while (bytes && QEMU_IS_ALIGNED(bytes, KiB) && i + 1 < ARRAY_SIZE(units)) {
        bytes /= KiB;
        i++;
    }
    g_string_append_printf(buf, "%" PRIu64 " %s", bytes, units[i]);
}

static void mapcache_format_field(GString *buf, const MapCacheInfoField *field,
                                  uint64_t value)
{
    switch (field->unit) {
    case MAPCACHE_INFO_BYTES:
        g_string_append_printf(buf, "%s ", field->label);
        mapcache_format_bytes(buf, value);
        break;
    case MAPCACHE_INFO_RANGES:
        g_string_append_printf(buf, " in %" PRIu64 " %s", value,
                               value == 1 ? "range" : "ranges");
        break;
    case MAPCACHE_INFO_COUNT:
        g_string_append_printf(buf, "%" PRIu64 " %s", value, field->label);
        break;
    }
}

void xen_map_cache_format_stats(GString *buf, XenMapCacheKind kind,
                                const XenMapCacheStats *stats)
{
    const MapCacheInfoField *field;
    unsigned int line = UINT_MAX;

    assert(kind < XEN_MAPCACHE_KIND__MAX);
    g_string_append_printf(buf, "%s:", mapcache_kind_names[kind]);
    for (field = mapcache_info_fields;
         field < mapcache_info_fields + ARRAY_SIZE(mapcache_info_fields);
         field++) {
        uint64_t value = *(const uint64_t *)((const char *)stats +
                                             field->offset);

        assert(field->line < MAPCACHE_INFO_LINES);
        if (field->line != line) {
            g_string_append(buf, "\n  ");
            line = field->line;
        } else if (field->unit != MAPCACHE_INFO_RANGES) {
            g_string_append(buf, ", ");
        }
        mapcache_format_field(buf, field, value);
    }
    g_string_append_c(buf, '\n');
}

GString *xen_map_cache_format_info(void)
{
    GString *buf = g_string_new("");
    XenMapCacheStats stats;
    XenMapCacheKind kind;

    if (!xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &stats)) {
        g_string_append(buf, "The Xen mapcache is not set up: QEMU is not "
                        "(yet) the device model of a Xen guest.\n");
        return buf;
    }
    xen_map_cache_format_stats(buf, XEN_MAPCACHE_RAM, &stats);
    for (kind = XEN_MAPCACHE_RAM + 1; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        if (xen_map_cache_get_stats(kind, &stats)) {
            xen_map_cache_format_stats(buf, kind, &stats);
        }
    }
    return buf;
}

/*
 * The limit a user asked for (-accel xen,mapcache-max-size=SIZE), checked
 * here so that the option is refused when it is parsed, with the message
 * xen_map_cache_init_limit() would give.
 */
bool xen_map_cache_check_max_size(uint64_t size, size_t *max_size,
                                  Error **errp)
{
    if (size < MCACHE_BUCKET_SIZE) {
        error_setg(errp, "mapcache: a limit of %" PRIu64 " bytes is less "
                   "than one bucket (%zu bytes)", size,
                   (size_t)MCACHE_BUCKET_SIZE);
        return false;
    }
    *max_size = MIN(size, MCACHE_MAX_SIZE);
    return true;
}
