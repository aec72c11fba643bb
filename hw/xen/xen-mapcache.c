/*
 * Copyright (C) 2011       Citrix Ltd.
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * This work is licensed under the terms of the GNU GPL, version 2.  See
 * the COPYING file in the top-level directory.
 *
 * Contributions after 2012-01-13 are licensed under the terms of the
 * GNU GPL, version 2 or (at your option) any later version.
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
 * - An entry is either in the cache (in its bucket's chain) or out of it;
 *   an entry out of the cache is never found again, and its range is
 *   unmapped exactly once.
 * - An entry in the cache is in MapCache.lru if and only if its pin count
 *   is zero.  Its pin count is the sum of the counts of its pin records.
 * - Two entries in the cache never overlap in QEMU's address space.
 * - MapCache.live_bytes is the sum of the sizes of the entries in the
 *   cache, MapCache.pending_bytes that of the entries out of it whose
 *   range is still mapped.  Their sum stays within the cache limit
 *   whenever an unpinned entry may be released (below); otherwise the
 *   limit is exceeded, and counted, rather than a request failed.
 *
 * How an entry leaves the cache
 * -----------------------------
 * An unpinned entry leaves the cache in one of four ways, each counted
 * in one place: it is evicted (the limit, or a mapping refused with
 * ENOMEM: XenMapCacheStats.evictions), recycled (a new mapping at its
 * bucket index covers it: .recycled), flushed (xen_invalidate_map_cache(),
 * teardown: .flushed), or released at its last unpin (grant mappings,
 * and dummies once incoming migration has ended).  Each way calls
 * mapcache_release_locked(), which takes the entry out of the cache and
 * has its range unmapped in one of three ways, also counted once each:
 *
 * - now (.freed_at_once), when no reader can point into it and the RAM
 *   block notifiers may run here or never heard of it;
 * - by the main loop (.freed_by_main_loop), when no reader can point into
 *   it but the notifiers may not run here ("Threads", below);
 * - after a grace period (.releases_queued), by mapcache_release_rcu(),
 *   when a reader may still point into it.
 *
 * No pointer a caller holds is unmapped under it
 * ----------------------------------------------
 * A range that was ever handed out is never unmapped, never mapped over
 * and never reused for other frames while a reader may still hold a
 * pointer into it.  A lock1 caller holds a pin, and pinned entries never
 * leave the cache but by teardown.  A lock0 caller holds its pointer
 * inside rcu_read_lock().  The cache never changes an entry's mapping in
 * place: a request that no entry serves gets a new range from the
 * kernel, and an unpinned entry that leaves the cache is unmapped after
 * a grace period, unless mapcache_entry_unread_locked() shows that no
 * reader can point into it: it was never handed out unpinned, or a grace
 * period that began after its last hand-out has ended ("Grace periods",
 * below).
 *
 * Most entries are never handed out unpinned: DMA pins what it maps, and
 * such an entry is held by its pins alone, so it may be unmapped as soon
 * as it leaves the cache, as grant mappings are.  This matters because
 * QEMU's RCU thread runs callbacks late, in batches, and only when it can
 * take the BQL: releases that waited for it would pile up under load.
 *
 * Grant mappings are never handed out unpinned (a lock0 request on
 * grants aborts), so at their last unpin they are unmapped before the
 * unpin returns, as the granting domain expects.
 *
 * The one in-place change is xen_replace_cache_entry(): it maps the real
 * frames with MAP_FIXED over a dummy entry made during incoming
 * migration.  That is its contract: the dummy stands in for memory whose
 * frames are not known yet, and its one caller (xen_add_to_physmap())
 * needs the pointer it already gave the device model to show those frames
 * from now on.  It never replaces a foreign or grant mapping.  A dummy
 * serves nothing once incoming migration has ended.
 *
 * Grace periods
 * -------------
 * One RCU callback per cache, mapcache_grace_period_rcu(), counts grace
 * periods: MapCache.gp_queued counts its queueings, MapCache.gp_done its
 * runs, and at most one is in flight.  Whenever a reader may get a
 * pointer into an entry without a pin, the entry is stamped with
 * gp_queued + 1, the number of the first callback queued from then on
 * (mapcache_stamp_locked()): when the lock hands it out unpinned, and
 * when it leaves its recent slot while lent, since the lock-free path
 * hands it out from there at any moment (so an entry lent from a recent
 * slot is never unread).  A callback already in flight does not do: its
 * grace period may have begun before the reader's read section.  The
 * entry is unread once gp_done has reached its stamp; an entry never
 * stamped is unread from the start.  The callback is queued by a stamp
 * when none is in flight, and queues itself again while a stamp waits
 * for it; never once teardown began (MapCache.gp_stopped).
 *
 * The limit
 * ---------
 * At the limit a miss first evicts the least recently used unread
 * entries, counting live plus pending bytes, then evicts more, into
 * call_rcu(), until the live bytes fit (mapcache_make_room_locked()).  If
 * live plus pending bytes still leave no room for whole buckets, the miss
 * maps only the pages its request touches (to the end of its bucket for
 * a request of size 0, whose caller may use the rest of it): under
 * pressure a range costs its pages, not a bucket.  Off the main loop
 * such mappings are not announced to the RAM block notifiers, so that
 * they may be unmapped there at once.
 *
 * What bounds live plus pending bytes beyond the limit, then, is what
 * readers were handed unpinned within one grace period: the pages of
 * each lock0 miss made while nothing could be evicted.  A caller that
 * makes such misses inside one long read section, or while the BQL keeps
 * QEMU's RCU thread from running callbacks, takes the cache past its
 * limit by those pages, and this is counted (over_limit); no pointer is
 * unmapped under it.
 *
 * A mapping refused with ENOMEM evicts every unread entry and is retried
 * once, even if there was none (the failure may be transient), and a RAM
 * mapping's retry maps only the pages its request touches.  In an
 * IOThread the retry first waits, a second at most, for the main loop to
 * unmap what it was handed.  Under a finite RLIMIT_AS the failure also
 * shows that the rest of QEMU needs more than the 80 MiB it was left
 * (QEMU with a PC machine needs about 270 MiB): the limit drops below
 * what the cache held, by a sixteenth and at least a bucket.  A second
 * failure exits with a message naming the address, the size and the
 * errno.
 *
 * Threads
 * -------
 * The RAM block notifiers run only with the BQL held and outside
 * coroutines (mapcache_may_notify_here()), as the block layer's RAM
 * registrar requires, and ram_block_notify_remove() completes before its
 * range is unmapped or reused.  A miss elsewhere (an IOThread, a
 * coroutine) queues its announcement on MapCache.to_announce, and a
 * release there that has told the notifiers queues its range on
 * MapCache.to_unmap, for one bottom half of the main loop
 * (mapcache_main_loop_bh()); RCU callbacks run with the BQL held, outside
 * coroutines, and may notify.  An entry released before the main loop
 * announced it never reached a notifier, and is unmapped at once.  In a
 * coroutine, xen_invalidate_map_cache_entry() does its work in a bottom
 * half of the main loop while the coroutine yields.
 *
 * One ordering cannot be kept: a grant mapping released by an IOThread
 * outside a coroutine is unmapped before the unpin returns, and its
 * notifier removal runs later, from the main loop.  Until then an
 * inaccessible placeholder keeps its addresses, so that no other mapping
 * is announced there first.
 *
 * Locking and concurrency
 * -----------------------
 * Every public function may be called from any thread.  Each cache has a
 * QemuMutex (MapCache.lock) protecting everything in it but the fields
 * RCU callbacks update with atomics (pending_bytes, releases_done, and
 * the grace-period counters but gp_wanted) and those the lock0 hit path
 * reads without the lock (below).  Functions suffixed _locked need the
 * lock held; those suffixed _rcu are RCU callbacks; those suffixed
 * _lockfree run without the lock, inside a read section.  No function
 * takes two caches' locks at once and none waits for a grace period under
 * a lock.  The RCU callbacks take no lock; the main loop's bottom half
 * takes its cache's lock with the BQL held, as callers holding the BQL
 * do.  mapcache_grants_lock only serialises the creation of the grant
 * caches.
 *
 * The lock0 hit path, mapcache_hit_lockfree(), takes no lock: inside a
 * read section it reads the recent slot of the request's bucket index
 * and, if the entry there is lent (MapCacheEntry.lent), unpinned and
 * serves the request, returns a pointer into it.  An entry is lent when
 * the lock hands it out unpinned, unless it is a dummy, and stays lent
 * until it leaves the cache; what the path reads of a lent entry does not
 * change meanwhile.  This is safe because an entry leaves its slot under
 * the lock, and is stamped then, before its range can be unmapped: a
 * reader that still found it there began its read section before, and
 * the grace period that the stamp waits for waits for that section too.
 * Written under the lock and read by that path, with atomics:
 * MapCache.recent and MapCacheEntry.pin_count, .lent, .referenced.  The
 * path stores to no entry but its CLOCK referenced bit, and only when it
 * is clear; it counts its hits in per-thread stripes (MapCacheHitStripe).
 */

#include "qemu/osdep.h"
#include <sys/resource.h>
/* xen_native.h must come before any other Xen header. */
#include "hw/xen/xen_native.h"
#include <xengnttab.h>
#include "qemu/units.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/memalign.h"
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

/*
 * Bucket size, and the most address space the cache keeps mapped (lower
 * on 32-bit hosts): from sysemu/xen-mapcache.h, which the tests read too.
 */
#define MCACHE_BUCKET_SHIFT XEN_MAPCACHE_BUCKET_SHIFT
#define MCACHE_MAX_SIZE     XEN_MAPCACHE_MAX_SIZE
#define MCACHE_BUCKET_SIZE  (1UL << MCACHE_BUCKET_SHIFT)

/*
 * How long a thread out of address space waits for the main loop to
 * unmap what it handed it, in milliseconds.
 */
#define MAPCACHE_MAIN_LOOP_WAIT_MS 1000

/* Address space left to the rest of QEMU under a finite RLIMIT_AS. */
#define NON_MCACHE_MEMORY_SIZE (80 * MiB)

typedef struct MapCache MapCache;
typedef struct MapCacheBucket MapCacheBucket;

typedef struct MapCacheEntry {
    struct rcu_head rcu;            /* first member, for call_rcu() */
    MapCache *mc;
    MapCacheBucket *bucket;         /* NULL once out of the cache */
    hwaddr index;             /* first bucket mapped */
    uint8_t *vaddr_base;
    size_t start;                   /* of the range, from the bucket base */
    size_t size;                    /* whole buckets, but under pressure */
    unsigned long *valid_mapping;   /* bit set if the page is mapped; */
                                    /* NULL when every page is */
    uint32_t pin_count;             /* lock1 requests not invalidated yet */
    unsigned long stamp;            /* grace period to wait for, see top; */
                                    /* 0 if never handed out unpinned */
    bool lent;                      /* mapcache_hit_lockfree() may hand */
                                    /* it out: see top */
    bool announced;                 /* ram_block_notify_add() has run */
    bool announce_queued;           /* in MapCache.to_announce */
    bool unmapped;                  /* only its notifier removal is left */
    bool reserved;                  /* a placeholder holds its addresses */
    bool pages_only;                /* mapped under pressure: see top */
    bool dummy;                     /* anonymous stand-in, see top */
    bool referenced;                /* hit without the lock since the */
                                    /* eviction last looked at it */
    QLIST_ENTRY(MapCacheEntry) chain;
    /*
     * In MapCache.lru while in the cache and unpinned; in
     * MapCache.to_unmap once handed to the main loop.
     */
    QTAILQ_ENTRY(MapCacheEntry) lru;
    QTAILQ_ENTRY(MapCacheEntry) announce;   /* in MapCache.to_announce */
} MapCacheEntry;

struct MapCacheBucket {
    hwaddr index;                           /* key in MapCache.buckets */
    QLIST_HEAD(, MapCacheEntry) chain;      /* newest first */
};

/* What one pointer handed out by a lock1 request pins. */
typedef struct MapCachePin {
    uint8_t *ptr;                   /* key in MapCache.pins */
    MapCacheEntry *entry;
    ram_addr_t ram_addr;            /* what @ptr was mapped as */
    uint32_t count;                 /* times @ptr was handed out pinned */
    uint32_t dma_count;             /* those for DMA, kept first */
} MapCachePin;

/*
 * Each cache remembers, per slot of bucket indexes, the entry that last
 * served a request there: the lookaside of the lookups, locked or not.
 * Most requests hit a bucket used a moment before.
 */
#define MAPCACHE_RECENT_SLOTS 64

/*
 * Hits of the lock0 path that takes no lock, counted per stripe: threads
 * take stripes in turn, and a stripe fills a cache line of its own, so
 * that threads hitting at once do not share one.
 */
#define MAPCACHE_HIT_STRIPES 16
#define MAPCACHE_CACHE_LINE 64      /* bytes, on the hosts Xen runs on */

typedef struct MapCacheHitStripe {
    size_t hits;
} QEMU_ALIGNED(MAPCACHE_CACHE_LINE) MapCacheHitStripe;

struct MapCache {
    QemuMutex lock;
    const char *name;               /* for messages and trace events */
    unsigned int bucket_shift;
    size_t max_size;                /* the cache limit, in bytes */
    bool rlimit_bound;              /* a finite RLIMIT_AS bounds QEMU */
    bool grants;                    /* grant cache: page granular */
    bool writable;                  /* grant cache mapped read-write */
    phys_offset_to_gaddr_t phys_offset_to_gaddr;

    /* Protected by @lock. */
    GHashTable *buckets;            /* bucket index -> MapCacheBucket */
    GHashTable *pins;               /* pointer -> MapCachePin */
    QTAILQ_HEAD(, MapCacheEntry) lru;   /* unpinned, least recent first */
    /* Also read by mapcache_hit_lockfree(): "Locking and concurrency". */
    MapCacheEntry *recent[MAPCACHE_RECENT_SLOTS];
    size_t live_bytes;              /* sizes of the entries in the cache */
    size_t pinned_bytes;            /* those of the pinned ones */
    size_t peak_bytes;              /* of live_bytes + pending_bytes */
    XenMapCacheStats stats;

    /*
     * Work for the main loop, protected by @lock: see "Threads" at the
     * top.  @bh_scheduled is also read by teardown without the lock.
     */
    QTAILQ_HEAD(, MapCacheEntry) to_announce;   /* mapped, not announced */
    QTAILQ_HEAD(, MapCacheEntry) to_unmap;      /* out of the cache */
    bool bh_scheduled;
    QemuCond main_loop_ran;         /* broadcast by the bottom half */

    /* Updated with atomics by mapcache_release_rcu(), outside @lock. */
    size_t pending_bytes;           /* out of the cache, still mapped */
    size_t releases_done;

    /*
     * Grace periods, counted by one self-queued RCU callback: see "Freeing
     * at once" at the top.  @gp_wanted is written under @lock; the others
     * by whoever holds @gp_in_flight, with atomics.
     */
    struct rcu_head gp_rcu;
    bool gp_in_flight;              /* gp_rcu is queued */
    bool gp_stopped;                /* teardown: never queue it again */
    unsigned long gp_queued;        /* times gp_rcu was queued */
    unsigned long gp_done;          /* times it ran */
    unsigned long gp_wanted;        /* the newest stamp */

    /*
     * Updated with atomics by mapcache_hit_lockfree(), outside @lock;
     * MAPCACHE_HIT_STRIPES of them, aligned on a cache line.
     */
    MapCacheHitStripe *hit_stripes;
};

/* One request, as xen_map_cache() got it, and what follows from it. */
typedef struct MapCacheRequest {
    hwaddr phys_addr;
    hwaddr size;                    /* as asked: 0 means one bucket */
    ram_addr_t ram_offset;          /* grant region base, for grant refs */
    bool pin;                       /* a lock1 request */
    bool dma;
    bool dummy;                     /* make an anonymous stand-in */
    /* Derived by mapcache_request_init(). */
    hwaddr index;                   /* first bucket */
    size_t offset;                  /* of @phys_addr in the first bucket */
    size_t map_size;                /* whole buckets that hold @end */
    size_t end;                     /* the last page an entry must map */
                                    /* ends here, from the bucket base */
    unsigned long first_page;       /* pages touched, from the bucket */
    unsigned long nr_pages;         /* base */
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

/* Guest address of the first page @entry maps. */
static hwaddr mapcache_entry_addr(const MapCache *mc,
                                  const MapCacheEntry *entry)
{
    return mapcache_bucket_addr(mc, entry->index) + entry->start;
}

/* The recent slot of bucket @index: by index modulo the number of slots. */
static MapCacheEntry **mapcache_recent_slot(MapCache *mc, hwaddr index)
{
    return &mc->recent[index % MAPCACHE_RECENT_SLOTS];
}

/*
 * Fill in what follows from @phys_addr and @size: the bucket index, the
 * size of the mapping (size 0 means one bucket; otherwise the offset plus
 * the size rounded up to whole buckets) and the pages the request touches
 * (at least one).  False if the bytes touched would reach the last
 * address of the 64-bit space (RAM_ADDR_INVALID) or the mapping would
 * exceed MCACHE_MAX_SIZE: no request can be served then, whatever the
 * limit.  Every sum is checked before it is made, so no size wraps.
 */
static bool mapcache_request_init(const MapCache *mc, MapCacheRequest *req,
                                  hwaddr phys_addr, hwaddr size)
{
    size_t in_page = phys_addr & (XC_PAGE_SIZE - 1);

    req->phys_addr = phys_addr;
    req->size = size;
    req->index = mapcache_bucket_index(mc, phys_addr);
    req->offset = mapcache_bucket_offset(mc, phys_addr);
    req->first_page = mapcache_pages(req->offset);
    if (MAX(size, 1) > RAM_ADDR_INVALID - phys_addr ||
        size > MCACHE_MAX_SIZE - req->offset) {
        return false;
    }
    if (size) {
        /* Buckets are a power of two: no division on the hot path. */
        req->map_size = ROUND_UP(req->offset + size,
                                 mapcache_bucket_size(mc));
        req->nr_pages = DIV_ROUND_UP(in_page + size, XC_PAGE_SIZE);
        req->end = (req->first_page + req->nr_pages) << XC_PAGE_SHIFT;
    } else {
        /*
         * Only the first page is checked, but upstream's callers may
         * use the rest of the bucket.
         */
        req->map_size = mapcache_bucket_size(mc);
        req->nr_pages = 1;
        req->end = req->map_size;
    }
    return true;
}

/*
 * The grant reference of the first page @req's entry maps; false if a
 * page of the entry would have no reference (below the grant region, or
 * beyond grant_ref_t).
 */
static bool mapcache_request_first_ref(const MapCache *mc,
                                       const MapCacheRequest *req,
                                       uint32_t *first_ref)
{
    hwaddr base = mapcache_bucket_addr(mc, req->index);
    hwaddr ref;

    if (base < req->ram_offset) {
        return false;
    }
    ref = (base - req->ram_offset) >> XC_PAGE_SHIFT;
    if (ref > UINT32_MAX - (mapcache_pages(req->map_size) - 1)) {
        return false;
    }
    *first_ref = ref;
    return true;
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
    return entry->index == req->index &&
           entry->start <= req->offset &&
           entry->start + entry->size >= req->end &&
           mapcache_pages_valid(entry,
                                req->first_page - mapcache_pages(entry->start),
                                req->nr_pages);
}

/* The pointer @entry, which serves @req, gives for it. */
static uint8_t *mapcache_entry_ptr(const MapCacheEntry *entry,
                                   const MapCacheRequest *req)
{
    return entry->vaddr_base + (req->offset - entry->start);
}

/*
 * The locked lookups' test: a dummy stands in for frames not known yet,
 * so once incoming migration has ended it serves nothing (the lock-free
 * path never sees one).
 */
static bool mapcache_entry_serves_now(const MapCacheEntry *entry,
                                      const MapCacheRequest *req)
{
    return mapcache_entry_serves(entry, req) &&
           (!entry->dummy || runstate_check(RUN_STATE_INMIGRATE));
}

/* xen_replace_cache_entry() takes a dummy of exactly the size asked. */
static bool mapcache_entry_is_dummy_for(const MapCacheEntry *entry,
                                        const MapCacheRequest *req)
{
    return entry->dummy && entry->index == req->index &&
           entry->start == 0 && entry->size == req->map_size;
}

static G_NORETURN void mapcache_fatal(MapCache *mc, const char *what,
                                      hwaddr addr, size_t size, int err)
{
    error_report("mapcache: %s at guest address 0x%" HWADDR_PRIx
                 " (size 0x%zx) failed: %s; the %s cache holds 0x%zx bytes"
                 " live, 0x%zx of them pinned, and 0x%zx pending release",
                 what, addr, size, strerror(err), mc->name, mc->live_bytes,
                 mc->pinned_bytes, qatomic_read(&mc->pending_bytes));
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
    entry->bucket = mapcache_get_bucket_locked(mc, entry->index);
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

/* Grace periods: when an entry may be unmapped at once. */

/* Has the callback numbered @stamp run?  Wraps safely. */
static bool mapcache_gp_passed(MapCache *mc, unsigned long stamp)
{
    return (long)(qatomic_load_acquire(&mc->gp_done) - stamp) >= 0;
}

static void mapcache_grace_period_rcu(struct rcu_head *head);

/* Queue the grace-period callback unless it is queued already. */
static void mapcache_queue_grace_period(MapCache *mc)
{
    if (qatomic_read(&mc->gp_in_flight) ||
        qatomic_cmpxchg(&mc->gp_in_flight, false, true)) {
        return;
    }
    if (qatomic_read(&mc->gp_stopped)) {
        qatomic_store_release(&mc->gp_in_flight, false);
        return;
    }
    qatomic_set(&mc->gp_queued, qatomic_read(&mc->gp_queued) + 1);
    call_rcu1(&mc->gp_rcu, mapcache_grace_period_rcu);
}

/*
 * Count a grace period, and queue the next one while a stamp waits for
 * it.  Takes no lock: the stamping side publishes @gp_wanted before it
 * looks at @gp_in_flight, this side publishes @gp_in_flight before it
 * looks at @gp_wanted, so one of them queues the callback a new stamp
 * needs (and the cmpxchg in mapcache_queue_grace_period() lets only one).
 */
static void mapcache_grace_period_rcu(struct rcu_head *head)
{
    MapCache *mc = container_of(head, MapCache, gp_rcu);
    unsigned long done = qatomic_read(&mc->gp_queued);

    qatomic_store_release(&mc->gp_done, done);
    /* Release: whoever queues gp_rcu next sees this run finished. */
    qatomic_store_release(&mc->gp_in_flight, false);
    /* Pairs with mapcache_stamp_locked(): gp_in_flight, then gp_wanted. */
    smp_mb();
    if ((long)(qatomic_read(&mc->gp_wanted) - done) > 0) {
        mapcache_queue_grace_period(mc);
    }
}

/*
 * A reader may have got a pointer into @entry just now: stamp it with the
 * number of the first callback queued from now on.  Its grace period
 * begins after this moment, so once it has run no reader can point into
 * @entry from before.  A callback already queued began its grace period
 * earlier and proves nothing.
 */
static void mapcache_stamp_locked(MapCache *mc, MapCacheEntry *entry)
{
    assert(!mc->grants);    /* grant mappings never reach a reader unpinned */
    entry->stamp = qatomic_read(&mc->gp_queued) + 1;
    if (mc->gp_wanted == entry->stamp) {
        return;     /* an earlier stamp asked for that callback already */
    }
    qatomic_set(&mc->gp_wanted, entry->stamp);
    /* Pairs with mapcache_grace_period_rcu(): gp_wanted, then in_flight. */
    smp_mb();
    mapcache_queue_grace_period(mc);
}

/*
 * @entry leaves its recent slot: if it was lent, the lock-free path may
 * have handed it out until this moment.
 */
static void mapcache_leave_recent_slot_locked(MapCache *mc,
                                              MapCacheEntry *entry)
{
    if (entry->lent) {
        mapcache_stamp_locked(mc, entry);
    }
}

/* No lookup, locked or not, finds @entry through its recent slot now. */
static void mapcache_forget_recent_locked(MapCache *mc, MapCacheEntry *entry)
{
    MapCacheEntry **slot = mapcache_recent_slot(mc, entry->index);

    if (*slot == entry) {
        qatomic_rcu_set(slot, NULL);
        mapcache_leave_recent_slot_locked(mc, entry);
    }
}

/*
 * Can no reader point into @entry?  True if it was never handed out
 * unpinned, or if a grace period that began after its last hand-out has
 * ended and the lock-free path cannot hand it out again (it is not lent
 * from its recent slot).
 */
static bool mapcache_entry_unread_locked(MapCache *mc, MapCacheEntry *entry)
{
    if (!entry->stamp) {
        return true;
    }
    return !(entry->lent && *mapcache_recent_slot(mc, entry->index) == entry)
           && mapcache_gp_passed(mc, entry->stamp);
}

/*
 * The RAM block notifiers run with the BQL held and outside coroutines,
 * as the block layer's RAM registrar requires (it calls
 * blk_register_buf(), which is GLOBAL_STATE_CODE()).  Elsewhere their
 * calls, and the unmaps that must follow a removal, go to the main loop.
 */
static bool mapcache_may_notify_here(void)
{
    return qemu_in_main_thread() && !qemu_in_coroutine();
}

/* Releasing ranges. */

static void mapcache_entry_free(MapCacheEntry *entry)
{
    g_free(entry->valid_mapping);
    g_free(entry);
}

static void mapcache_unannounce(MapCacheEntry *entry)
{
    if (entry->announced) {
        ram_block_notify_remove(entry->vaddr_base, entry->size, entry->size);
        entry->announced = false;
    }
}

/* Unmap a range that no reader and no notifier knows any more. */
static void mapcache_unmap_range(MapCache *mc, MapCacheEntry *entry)
{
    int rc;

    if (mc->grants) {
        rc = xengnttab_unmap(xen_region_gnttabdev, entry->vaddr_base,
                             mapcache_pages(entry->size));
    } else if (entry->dummy) {
        rc = munmap(entry->vaddr_base, entry->size);
    } else {
        rc = xenforeignmemory_unmap(xen_fmem, entry->vaddr_base,
                                    mapcache_pages(entry->size));
    }
    if (rc) {
        mapcache_fatal(mc, "unmapping", mapcache_entry_addr(mc, entry),
                       entry->size, errno);
    }
    entry->unmapped = true;
}

/*
 * @entry's range is unmapped but the notifiers still know it: keep its
 * addresses from going to another mapping until they are told, with an
 * inaccessible placeholder.  Without MAP_FIXED_NOREPLACE, or if another
 * thread took the addresses first, there is none.
 */
static void mapcache_reserve_range(MapCacheEntry *entry)
{
#ifdef MAP_FIXED_NOREPLACE
    void *p = mmap(entry->vaddr_base, entry->size, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                   MAP_FIXED_NOREPLACE, -1, 0);

    entry->reserved = p == entry->vaddr_base;
    if (p != MAP_FAILED && !entry->reserved) {
        munmap(p, entry->size);     /* a kernel that ignores the flag */
    }
#endif
}

static void mapcache_unreserve_range(MapCacheEntry *entry)
{
    if (entry->reserved) {
        munmap(entry->vaddr_base, entry->size);
        entry->reserved = false;
    }
}

static void mapcache_unmap(MapCache *mc, MapCacheEntry *entry)
{
    mapcache_unannounce(entry);
    mapcache_unmap_range(mc, entry);
}

/* A grace period after its release: see "Unmapping" at the top. */
static void mapcache_release_rcu(MapCacheEntry *entry)
{
    MapCache *mc = entry->mc;

    trace_xen_map_cache_release(mc->name, entry->vaddr_base, entry->size);
    mapcache_unmap(mc, entry);
    qatomic_sub(&mc->pending_bytes, entry->size);
    qatomic_inc(&mc->releases_done);
    mapcache_entry_free(entry);
}

static void mapcache_main_loop_bh(void *opaque);

static void mapcache_wake_main_loop_locked(MapCache *mc)
{
    if (!mc->bh_scheduled) {
        qatomic_set(&mc->bh_scheduled, true);
        aio_bh_schedule_oneshot(qemu_get_aio_context(),
                                mapcache_main_loop_bh, mc);
    }
}

/*
 * Announce a new mapping to the RAM block notifiers, here or from the
 * main loop.  Dummies are not announced: see xen_replace_cache_entry().
 * Nor are mappings of pages only made off the main loop: they are small
 * and short-lived, and an unannounced range may be unmapped anywhere
 * (see "Threads" at the top).
 */
static void mapcache_announce_locked(MapCache *mc, MapCacheEntry *entry)
{
    if (mapcache_may_notify_here()) {
        ram_block_notify_add(entry->vaddr_base, entry->size, entry->size);
        entry->announced = true;
    } else if (!entry->pages_only) {
        QTAILQ_INSERT_TAIL(&mc->to_announce, entry, announce);
        entry->announce_queued = true;
        mapcache_wake_main_loop_locked(mc);
    }
}

/* Take an unpinned @entry out of the cache: nobody finds it any more. */
static void mapcache_take_out_locked(MapCache *mc, MapCacheEntry *entry)
{
    assert(!entry->pin_count);
    mapcache_chain_remove_locked(mc, entry);
    QTAILQ_REMOVE(&mc->lru, entry, lru);
    mapcache_forget_recent_locked(mc, entry);
    if (entry->announce_queued) {
        /* It never reached a notifier, and now never will. */
        QTAILQ_REMOVE(&mc->to_announce, entry, announce);
        entry->announce_queued = false;
    }
    mc->live_bytes -= entry->size;
    mc->stats.entries--;
}

/*
 * Release an unpinned @entry: take it out of the cache, and unmap its
 * range
 *
 * - after a grace period (call_rcu()), if a reader may still point into
 *   it;
 * - else now, if the notifiers may run here or never heard of it;
 * - else from the main loop, after its notifier removal.
 *
 * A grant mapping is never read unpinned, and is always unmapped before
 * this returns (the granting domain expects it so): off the main loop
 * only its notifier removal is left to it.
 */
static void mapcache_release_locked(MapCache *mc, MapCacheEntry *entry)
{
    mapcache_take_out_locked(mc, entry);
    if (!mapcache_entry_unread_locked(mc, entry)) {
        qatomic_add(&mc->pending_bytes, entry->size);
        mc->stats.releases_queued++;
        trace_xen_map_cache_release_queued(mc->name, entry->vaddr_base,
                                           entry->size);
        call_rcu(entry, mapcache_release_rcu, rcu);
        return;
    }
    if (!entry->announced || mapcache_may_notify_here()) {
        trace_xen_map_cache_free(mc->name, entry->vaddr_base, entry->size);
        mapcache_unmap(mc, entry);
        mc->stats.freed_at_once++;
        mapcache_entry_free(entry);
        return;
    }
    if (mc->grants) {
        /* The one ordering not kept: see "Threads" at the top. */
        mapcache_unmap_range(mc, entry);
        mapcache_reserve_range(entry);
    } else {
        qatomic_add(&mc->pending_bytes, entry->size);
    }
    mc->stats.freed_by_main_loop++;
    QTAILQ_INSERT_TAIL(&mc->to_unmap, entry, lru);
    mapcache_wake_main_loop_locked(mc);
}

/* What the main loop was handed: announcements, then releases. */
static void mapcache_run_main_loop_work_locked(MapCache *mc)
{
    MapCacheEntry *entry;

    while ((entry = QTAILQ_FIRST(&mc->to_announce))) {
        QTAILQ_REMOVE(&mc->to_announce, entry, announce);
        entry->announce_queued = false;
        ram_block_notify_add(entry->vaddr_base, entry->size, entry->size);
        entry->announced = true;
    }
    while ((entry = QTAILQ_FIRST(&mc->to_unmap))) {
        QTAILQ_REMOVE(&mc->to_unmap, entry, lru);
        if (entry->unmapped) {
            mapcache_unannounce(entry);
            mapcache_unreserve_range(entry);
        } else {
            mapcache_unmap(mc, entry);
            qatomic_sub(&mc->pending_bytes, entry->size);
        }
        mapcache_entry_free(entry);
    }
}

static void mapcache_main_loop_bh(void *opaque)
{
    MapCache *mc = opaque;

    QEMU_LOCK_GUARD(&mc->lock);
    qatomic_set(&mc->bh_scheduled, false);
    mapcache_run_main_loop_work_locked(mc);
    qemu_cond_broadcast(&mc->main_loop_ran);
}

/* The limit. */

static void mapcache_lru_move_to_tail_locked(MapCache *mc,
                                             MapCacheEntry *entry)
{
    if (entry != QTAILQ_LAST(&mc->lru)) {
        QTAILQ_REMOVE(&mc->lru, entry, lru);
        QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    }
}

/*
 * CLOCK: an entry hit without the lock since the LRU last looked at it
 * gets a second chance at the tail of the list (those hits cannot move it
 * there themselves).  True if @entry got one.
 */
static bool mapcache_second_chance_locked(MapCache *mc, MapCacheEntry *entry)
{
    if (!qatomic_read(&entry->referenced)) {
        return false;
    }
    qatomic_set(&entry->referenced, false);
    mapcache_lru_move_to_tail_locked(mc, entry);
    return true;
}

static size_t mapcache_held_bytes(MapCache *mc)
{
    return mc->live_bytes + qatomic_read(&mc->pending_bytes);
}

static void mapcache_evict_locked(MapCache *mc, MapCacheEntry *entry)
{
    trace_xen_map_cache_evict(mc->name, entry->vaddr_base, entry->size);
    mc->stats.evictions++;
    mapcache_release_locked(mc, entry);
}

/*
 * Evict unread entries, least recently used first (CLOCK), until @size
 * more bytes fit under the limit, live and pending bytes together.  One
 * pass over the unpinned entries at most.
 */
static void mapcache_evict_unread_locked(MapCache *mc, size_t size)
{
    size_t looks = QTAILQ_EMPTY(&mc->lru) ? 0 : mc->live_bytes;
    MapCacheEntry *entry, *next;

    /* Each look passes an entry of at least one page: one pass at most. */
    for (entry = QTAILQ_FIRST(&mc->lru);
         entry && looks && mapcache_held_bytes(mc) + size > mc->max_size;
         entry = next) {
        next = QTAILQ_NEXT(entry, lru);
        looks -= MIN(looks, entry->size);
        if (mapcache_entry_unread_locked(mc, entry) &&
            !mapcache_second_chance_locked(mc, entry)) {
            mapcache_evict_locked(mc, entry);
        }
    }
}

/*
 * Evict unpinned entries, least recently used first (CLOCK), until @size
 * more bytes fit under the limit, live bytes only: what a reader may
 * still point into stays mapped until its grace period ends, so counting
 * it here would only empty the cache.
 */
static void mapcache_evict_lru_locked(MapCache *mc, size_t size)
{
    size_t chances = mc->live_bytes;
    MapCacheEntry *entry;

    while (mc->live_bytes + size > mc->max_size &&
           (entry = QTAILQ_FIRST(&mc->lru))) {
        if (chances && mapcache_second_chance_locked(mc, entry)) {
            chances -= MIN(chances, entry->size);
            continue;
        }
        mapcache_evict_locked(mc, entry);
    }
}

/*
 * Make room for @size more bytes: evict what no reader can point into,
 * then what readers may, into call_rcu(), until the live bytes fit.
 * False if live plus pending bytes still exceed the limit with @size:
 * everything left is pinned, handed out within the current grace period,
 * or pending.  The limit never fails a request.
 */
static bool mapcache_make_room_locked(MapCache *mc, size_t size)
{
    mapcache_evict_unread_locked(mc, size);
    mapcache_evict_lru_locked(mc, size);
    return mapcache_held_bytes(mc) + size <= mc->max_size;
}

/*
 * Out of address space: evict every unread entry, hot or not.  Returns
 * how many were.
 */
static uint64_t mapcache_evict_all_unread_locked(MapCache *mc)
{
    MapCacheEntry *entry, *next;
    uint64_t count = 0;

    QTAILQ_FOREACH_SAFE(entry, &mc->lru, lru, next) {
        if (mapcache_entry_unread_locked(mc, entry)) {
            mapcache_evict_locked(mc, entry);
            count++;
        }
    }
    return count;
}

/*
 * The kernel refused to map @size bytes at guest address @addr with
 * ENOMEM.  Evict every entry that may be unmapped now.  If a finite
 * RLIMIT_AS bounds QEMU, the rest of QEMU needed more than it was left:
 * lower the limit below what the cache held, by a sixteenth of it and at
 * least a bucket, so that misses make room before the kernel refuses
 * them, with room to spare for what readers hold past the limit.
 */
static void mapcache_out_of_address_space_locked(MapCache *mc, hwaddr addr,
                                                 size_t size)
{
    size_t held = mapcache_held_bytes(mc);
    size_t bucket = mapcache_bucket_size(mc);
    size_t margin = MAX(held / 16, bucket);
    uint64_t freed = mapcache_evict_all_unread_locked(mc);

    if (mc->rlimit_bound) {
        mc->max_size = MAX(MIN(mc->max_size, held - MIN(held, margin)),
                           bucket);
    }
    /*
     * In an IOThread, what was evicted may wait for the main loop to be
     * unmapped: wait for its bottom half (not in the main loop's own
     * thread, a coroutine there, which would wait for itself).  Waiting
     * for a bottom half, not a grace period, is fine inside a read
     * section; the wait is bounded in case the main loop waits for this
     * thread.
     */
    if (!QTAILQ_EMPTY(&mc->to_unmap) && !qemu_in_main_thread()) {
        qemu_cond_timedwait(&mc->main_loop_ran, &mc->lock,
                            MAPCACHE_MAIN_LOOP_WAIT_MS);
    }
    trace_xen_map_cache_enomem_retry(mc->name, addr, size, freed,
                                     mc->max_size);
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
        if (!entry->pin_count &&
            entry->start + entry->size <= req->map_size) {
            mc->stats.recycled++;
            mapcache_release_locked(mc, entry);
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

static void *mapcache_map_foreign_once(hwaddr addr, size_t size,
                                       void *fixed, int *err)
{
    unsigned long i, nr_pages = mapcache_pages(size);
    g_autofree xen_pfn_t *pfns = g_new(xen_pfn_t, nr_pages);
    hwaddr first_pfn = addr >> XC_PAGE_SHIFT;

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
 * Map @size bytes of guest frames from guest address @addr, at @fixed if
 * not NULL; @err gets one status per page.  When the kernel is out of address
 * space, unmap every entry that may be unmapped now and retry once, even
 * if there was none (the failure may be transient); exit if the retry
 * fails too.
 */
static void *mapcache_map_foreign_locked(MapCache *mc, hwaddr addr,
                                         size_t size, void *fixed, int *err)
{
    void *vaddr = mapcache_map_foreign_once(addr, size, fixed, err);

    if (!vaddr && errno == ENOMEM) {
        mapcache_out_of_address_space_locked(mc, addr, size);
        vaddr = mapcache_map_foreign_once(addr, size, fixed, err);
    }
    if (!vaddr) {
        mapcache_fatal(mc, "mapping guest frames", addr, size, errno);
    }
    return vaddr;
}

/*
 * Let @entry map only the pages @req touches, rather than whole buckets;
 * see "The limit" at the top.
 */
static void mapcache_entry_map_pages_only(MapCache *mc, MapCacheEntry *entry,
                                          const MapCacheRequest *req)
{
    size_t start = mapcache_pages(req->offset) << XC_PAGE_SHIFT;

    if (!entry->pages_only) {
        entry->start = start;
        entry->size = req->end - start;
        entry->pages_only = true;
        mc->stats.partial_mappings++;
    }
}

/*
 * As mapcache_map_foreign_locked(), but out of address space the retry
 * maps only the pages @req touches.
 */
static void mapcache_map_ram(MapCache *mc, MapCacheEntry *entry,
                             const MapCacheRequest *req)
{
    g_autofree int *err = g_new0(int, mapcache_pages(entry->size));

    entry->vaddr_base = mapcache_map_foreign_once(mapcache_entry_addr(mc,
                                                                      entry),
                                                  entry->size, NULL, err);
    if (!entry->vaddr_base && errno == ENOMEM) {
        mapcache_out_of_address_space_locked(mc, mapcache_entry_addr(mc,
                                                                     entry),
                                             entry->size);
        if (req->map_size <= mc->max_size) {
            mapcache_entry_map_pages_only(mc, entry, req);
        }
        entry->vaddr_base = mapcache_map_foreign_once(
            mapcache_entry_addr(mc, entry), entry->size, NULL, err);
    }
    if (!entry->vaddr_base) {
        mapcache_fatal(mc, "mapping guest frames",
                       mapcache_entry_addr(mc, entry), entry->size, errno);
    }
    mapcache_set_valid_pages(entry, err);
}

static void mapcache_map_grants(MapCache *mc, MapCacheEntry *entry,
                                const MapCacheRequest *req)
{
    unsigned long i, nr_pages = mapcache_pages(entry->size);
    g_autofree uint32_t *refs = g_new(uint32_t, nr_pages);
    int prot = PROT_READ | (mc->writable ? PROT_WRITE : 0);
    uint32_t first_ref = 0;

    /* xen_map_cache() refused requests whose references do not fit. */
    assert(mapcache_request_first_ref(mc, req, &first_ref));
    for (i = 0; i < nr_pages; i++) {
        refs[i] = first_ref + i;
    }
    entry->vaddr_base = xengnttab_map_domain_grant_refs(xen_region_gnttabdev,
                                                        nr_pages, xen_domid,
                                                        refs, prot);
    if (!entry->vaddr_base) {
        mapcache_fatal(mc, "mapping grant references", req->phys_addr,
                       entry->size, errno);
    }
}

/*
 * Anonymous memory standing in for frames not known yet (migration).  It
 * may be as large as the largest mapping, which the host need not have:
 * MAP_NORESERVE.
 */
static void mapcache_map_dummy(MapCache *mc, MapCacheEntry *entry,
                               const MapCacheRequest *req)
{
    entry->vaddr_base = mmap(NULL, entry->size, PROT_READ | PROT_WRITE,
                             MAP_ANONYMOUS | MAP_SHARED | MAP_NORESERVE,
                             -1, 0);
    if (entry->vaddr_base == MAP_FAILED) {
        mapcache_fatal(mc, "mapping a dummy range", req->phys_addr,
                       entry->size, errno);
    }
}

/* Put a mapped, unpinned @entry in the cache, at the head of its chain. */
static void mapcache_insert_locked(MapCache *mc, MapCacheEntry *entry)
{
    mapcache_chain_add_locked(mc, entry);
    QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    mc->live_bytes += entry->size;
    mc->peak_bytes = MAX(mc->peak_bytes, mapcache_held_bytes(mc));
    mc->stats.entries++;
}

/*
 * Map a new entry for @req.  The result may still not serve @req, if the
 * hypervisor refused a page it touches.  Guest RAM and grant mappings are
 * announced to the RAM block notifiers; dummies are not (see
 * xen_replace_cache_entry()).
 */
static MapCacheEntry *mapcache_new_entry_locked(MapCache *mc,
                                                const MapCacheRequest *req)
{
    MapCacheEntry *entry = g_new0(MapCacheEntry, 1);

    entry->mc = mc;
    entry->index = req->index;
    entry->size = req->map_size;
    entry->dummy = req->dummy;

    mapcache_recycle_covered_locked(mc, req);
    if (!mapcache_make_room_locked(mc, entry->size)) {
        if (!req->dummy && !mc->grants && req->map_size <= mc->max_size) {
            mapcache_entry_map_pages_only(mc, entry, req);
        }
        if (!mapcache_make_room_locked(mc, entry->size)) {
            mc->stats.over_limit++;
            trace_xen_map_cache_over_limit(mc->name, req->phys_addr,
                                           entry->size, mc->live_bytes,
                                           qatomic_read(&mc->pending_bytes));
        }
    }
    if (req->dummy) {
        mapcache_map_dummy(mc, entry, req);
    } else if (mc->grants) {
        mapcache_map_grants(mc, entry, req);
    } else {
        mapcache_map_ram(mc, entry, req);
    }
    if (!entry->dummy) {
        mapcache_announce_locked(mc, entry);
    }
    mapcache_insert_locked(mc, entry);

    mc->stats.new_mappings++;
    mc->stats.pages_mapped += mapcache_pages(entry->size);
    trace_xen_map_cache_new_entry(mc->name, entry->index, entry->size,
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

    if (entry && mapcache_entry_serves_now(entry, req)) {
        mc->stats.recent_hits++;
        return entry;
    }
    entry = mapcache_find_locked(mc, req, mapcache_entry_serves_now);
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

/* Add one to @entry's pin count: it leaves the unpinned entries. */
static void mapcache_add_pin_locked(MapCache *mc, MapCacheEntry *entry)
{
    if (entry->pin_count == UINT32_MAX) {
        error_report("mapcache: pin count overflow on the entry at guest "
                     "address 0x%" HWADDR_PRIx " (size 0x%zx, host %p): %s",
                     mapcache_bucket_addr(mc, entry->index),
                     entry->size, entry->vaddr_base, strerror(EOVERFLOW));
        abort();
    }
    if (!entry->pin_count) {
        QTAILQ_REMOVE(&mc->lru, entry, lru);
        mc->stats.pinned_entries++;
        mc->pinned_bytes += entry->size;
    }
    qatomic_set(&entry->pin_count, entry->pin_count + 1);
}

static void mapcache_pin_locked(MapCache *mc, MapCacheEntry *entry,
                                uint8_t *ptr, const MapCacheRequest *req)
{
    MapCachePin *pin = g_hash_table_lookup(mc->pins, ptr);

    mapcache_add_pin_locked(mc, entry);
    if (!pin) {
        pin = g_new0(MapCachePin, 1);
        pin->ptr = ptr;
        pin->entry = entry;
        pin->ram_addr = req->phys_addr;
        g_hash_table_insert(mc->pins, ptr, pin);
    }
    assert(pin->entry == entry);
    pin->count++;
    pin->dma_count += req->dma;
}

/*
 * Drop @count pins of @entry; at the last one it goes back among the
 * unpinned entries.  Returns true then.
 */
static bool mapcache_drop_pins_locked(MapCache *mc, MapCacheEntry *entry,
                                      uint32_t count)
{
    qatomic_set(&entry->pin_count, entry->pin_count - count);
    if (entry->pin_count) {
        return false;
    }
    mc->stats.pinned_entries--;
    mc->pinned_bytes -= entry->size;
    QTAILQ_INSERT_TAIL(&mc->lru, entry, lru);
    return true;
}

/*
 * Drop one pin taken through @ptr; false if @ptr pins nothing here.  At
 * the last unpin a grant mapping is released, and so unmapped before
 * this returns: the granting domain ends foreign access as soon as the
 * request completes, and fails while the grant is still mapped.  So is a
 * dummy once incoming migration has ended: it will never serve again.
 */
static bool mapcache_unpin_locked(MapCache *mc, uint8_t *ptr)
{
    MapCachePin *pin = g_hash_table_lookup(mc->pins, ptr);
    MapCacheEntry *entry;

    if (!pin) {
        return false;
    }
    entry = pin->entry;
    pin->count--;
    pin->dma_count = MIN(pin->dma_count, pin->count);
    if (!pin->count) {
        g_hash_table_remove(mc->pins, ptr);
    }
    if (mapcache_drop_pins_locked(mc, entry, 1)) {
        if (mc->grants ||
            (entry->dummy && !runstate_check(RUN_STATE_INMIGRATE))) {
            mapcache_release_locked(mc, entry);
        } else {
            mapcache_make_room_locked(mc, 0);
        }
    }
    return true;
}

/*
 * @entry serves @req now: it goes to the recent slot and the LRU tail.
 * Handed out unpinned, it is stamped, and lent to the lock-free path
 * unless it is a dummy (xen_replace_cache_entry() changes those in place).
 */
static void mapcache_touch_locked(MapCache *mc, MapCacheEntry *entry,
                                  const MapCacheRequest *req)
{
    MapCacheEntry **slot = mapcache_recent_slot(mc, entry->index);

    if (*slot != entry) {
        if (*slot) {
            mapcache_leave_recent_slot_locked(mc, *slot);
        }
        qatomic_rcu_set(slot, entry);
    }
    if (!entry->pin_count) {
        mapcache_lru_move_to_tail_locked(mc, entry);
    }
    if (!req->pin) {
        mapcache_stamp_locked(mc, entry);
        if (!entry->dummy && !entry->lent) {
            /* Release: the lock-free path reads the entry after this. */
            qatomic_store_release(&entry->lent, true);
        }
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

static void mapcache_count_lookup_locked(MapCache *mc,
                                         const MapCacheRequest *req)
{
    if (req->pin) {
        mc->stats.lookups_lock1++;
    } else {
        mc->stats.lookups_lock0++;
    }
}

/*
 * Serve @req: an entry that serves it, or a new mapping; if a page it
 * touches is invalid, retry with the translated address (Xen < 4.10), then
 * in incoming migration with a dummy.
 */
static uint8_t *mapcache_map_locked(MapCache *mc, MapCacheRequest *req)
{
    MapCacheEntry *entry;

    mapcache_count_lookup_locked(mc, req);
    entry = mapcache_get_entry_locked(mc, req);
#ifdef XEN_COMPAT_PHYSMAP
    if (!entry && mc->phys_offset_to_gaddr &&
        mapcache_request_init(mc, req,
                              mc->phys_offset_to_gaddr(req->phys_addr,
                                                       req->size),
                              req->size)) {
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

    if (req->map_size > mc->max_size) {
        mc->stats.oversize++;
        trace_xen_map_cache_oversize(mc->name, req->phys_addr, req->size,
                                     mc->max_size);
    }
    mapcache_count_pinned_reuse_locked(mc, entry);
    mapcache_touch_locked(mc, entry, req);
    if (req->pin) {
        mapcache_pin_locked(mc, entry, mapcache_entry_ptr(entry, req), req);
    }
    return mapcache_entry_ptr(entry, req);
}

/* Count and trace a request that no mapping can serve. */
static uint8_t *mapcache_refuse(MapCache *mc, const MapCacheRequest *req)
{
    QEMU_LOCK_GUARD(&mc->lock);
    mapcache_count_lookup_locked(mc, req);
    mc->stats.null_returns++;
    return NULL;
}

static void mapcache_count_lockfree_hit(MapCache *mc)
{
    if (!mapcache_thread_stripe) {
        mapcache_thread_stripe = qatomic_fetch_inc(&mapcache_stripes_taken) %
                                 MAPCACHE_HIT_STRIPES + 1;
    }
    qatomic_inc(&mc->hit_stripes[mapcache_thread_stripe - 1].hits);
}

static size_t mapcache_lockfree_hits(MapCache *mc)
{
    size_t i, hits = 0;

    for (i = 0; i < MAPCACHE_HIT_STRIPES; i++) {
        hits += qatomic_read(&mc->hit_stripes[i].hits);
    }
    return hits;
}

/*
 * The lock0 hit path, without the lock: a pointer into the entry in the
 * recent slot of @req's index, if it was lent, serves @req and is not
 * pinned (pinned entries take the locked path, which counts pinned
 * reuses).  See "Locking and concurrency" at the top for why this is safe.
 */
static uint8_t *mapcache_hit_lockfree(MapCache *mc, const MapCacheRequest *req)
{
    MapCacheEntry *entry;

    RCU_READ_LOCK_GUARD();
    entry = qatomic_rcu_read(mapcache_recent_slot(mc, req->index));
    if (!entry || !qatomic_load_acquire(&entry->lent) ||
        qatomic_read(&entry->pin_count) ||
        !mapcache_entry_serves(entry, req)) {
        return NULL;
    }
    if (!qatomic_read(&entry->referenced)) {
        qatomic_set(&entry->referenced, true);
    }
    mapcache_count_lockfree_hit(mc);
    return mapcache_entry_ptr(entry, req);
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
    qemu_cond_init(&mc->main_loop_ran);
    QTAILQ_INIT(&mc->to_announce);
    QTAILQ_INIT(&mc->to_unmap);
    mc->pins = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                     NULL, g_free);
    QTAILQ_INIT(&mc->lru);
    mc->hit_stripes = qemu_memalign(MAPCACHE_CACHE_LINE,
                                    sizeof(MapCacheHitStripe) *
                                    MAPCACHE_HIT_STRIPES);
    memset(mc->hit_stripes, 0,
           sizeof(MapCacheHitStripe) * MAPCACHE_HIT_STRIPES);
    return mc;
}

/*
 * The grant cache for @is_write, created at its first request: most
 * guests never make one.  Its buckets are pages, since a grant covers
 * exactly one page and the pages around it may not be granted at all.
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

/*
 * The address space RLIMIT_AS leaves the cache, after raising the soft
 * limit to the hard one: mappings count against the soft limit, and a
 * device model that a toolstack started with a low one would otherwise
 * fail its first large mapping.  Root may lift both.  Exits if the hard
 * limit leaves less than one bucket beside what the rest of QEMU needs.
 */
static size_t mapcache_room_in_rlimit_as(void)
{
    struct rlimit limit;

    if (geteuid() == 0) {
        limit.rlim_cur = RLIM_INFINITY;
        limit.rlim_max = RLIM_INFINITY;
        setrlimit(RLIMIT_AS, &limit);
        return MCACHE_MAX_SIZE;
    }
    getrlimit(RLIMIT_AS, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_AS, &limit);
    if (limit.rlim_max == RLIM_INFINITY) {
        return MCACHE_MAX_SIZE;
    }
    warn_report("QEMU's maximum size of virtual memory is not infinity");
    if (limit.rlim_max < NON_MCACHE_MEMORY_SIZE + MCACHE_BUCKET_SIZE) {
        error_report("mapcache: a hard RLIMIT_AS of %" PRIu64 " bytes"
                     " is too small: at least %" PRIu64 " are needed,"
                     " one bucket of the mapcache above the %" PRIu64
                     " bytes left to the rest of QEMU",
                     (uint64_t)limit.rlim_max,
                     (uint64_t)(NON_MCACHE_MEMORY_SIZE + MCACHE_BUCKET_SIZE),
                     (uint64_t)NON_MCACHE_MEMORY_SIZE);
        exit(EXIT_FAILURE);
    }
    return MIN(limit.rlim_max - NON_MCACHE_MEMORY_SIZE, MCACHE_MAX_SIZE);
}

bool xen_map_cache_init_limit(phys_offset_to_gaddr_t f, void *opaque,
                              size_t max_size, Error **errp)
{
    size_t limit = MCACHE_MAX_SIZE, room;

    assert(!mapcache);
    if (max_size && !xen_map_cache_check_max_size(max_size, &limit, errp)) {
        return false;
    }
    room = mapcache_room_in_rlimit_as();
    limit = MIN(limit, room);
    xen_region_gnttabdev = xengnttab_open(NULL, 0);
    if (xen_region_gnttabdev == NULL) {
        error_report("mapcache: Failed to open gnttab device");
        exit(EXIT_FAILURE);
    }
    qemu_mutex_init(&mapcache_grants_lock);
    mapcache = mapcache_create("ram", MCACHE_BUCKET_SHIFT, limit);
    mapcache->phys_offset_to_gaddr = f;
    mapcache->rlimit_bound = room < MCACHE_MAX_SIZE;
    trace_xen_map_cache_init(limit, mapcache_bucket_size(mapcache));
    return true;
}

void xen_map_cache_init(phys_offset_to_gaddr_t f, void *opaque)
{
    xen_map_cache_init_limit(f, opaque, 0, &error_fatal);
}

uint8_t *xen_map_cache(MemoryRegion *mr,
                       hwaddr phys_addr, hwaddr size,
                       ram_addr_t ram_addr_offset,
                       uint8_t lock, bool dma,
                       bool is_write)
{
    bool grant = xen_mr_is_grants(mr);
    MapCacheRequest req = {
        .ram_offset = ram_addr_offset,
        .pin = lock != 0,
        .dma = dma,
    };
    MapCache *mc;
    uint8_t *p = NULL;
    uint32_t first_ref;

    if (grant && !lock) {
        /* Only address_space_map() may map grants: the caller is buggy. */
        error_report("mapcache: lock0 request for grant memory at "
                     "0x%" HWADDR_PRIx " (size 0x%" HWADDR_PRIx "): grants "
                     "are only mapped pinned", phys_addr, size);
        abort();
    }

    trace_xen_map_cache(phys_addr);
    mc = grant ? mapcache_grants_get(is_write) : mapcache;
    if (!mapcache_request_init(mc, &req, phys_addr, size)) {
        trace_xen_map_cache_too_large(mc->name, phys_addr, size);
        return mapcache_refuse(mc, &req);
    }
    if (grant && !mapcache_request_first_ref(mc, &req, &first_ref)) {
        trace_xen_map_cache_bad_grant_ref(mc->name, phys_addr, size,
                                          ram_addr_offset);
        return mapcache_refuse(mc, &req);
    }
    /* The locked path counts what it serves past the limit. */
    if (!req.pin && req.map_size <= mc->max_size) {
        p = mapcache_hit_lockfree(mc, &req);
    }
    if (!p) {
        QEMU_LOCK_GUARD(&mc->lock);
        p = mapcache_map_locked(mc, &req);
    }
    trace_xen_map_cache_return(p);
    return p;
}

static ram_addr_t mapcache_ram_addr_from_ptr(MapCache *mc, uint8_t *ptr)
{
    MapCachePin *pin;

    QEMU_LOCK_GUARD(&mc->lock);
    pin = g_hash_table_lookup(mc->pins, ptr);
    return pin ? pin->ram_addr : RAM_ADDR_INVALID;
}

/*
 * Only pointers that a lock1 request returned are known; each answers
 * with the address it was mapped as, even after xen_replace_cache_entry()
 * gave its entry other frames.
 */
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
 * The last unpin may release a mapping, and so run
 * ram_block_notify_remove(), which must run with the BQL held and outside
 * coroutines.  In a coroutine, the work is done in a bottom half of the
 * main loop while the coroutine yields, so that a grant is unmapped, and
 * its notifiers told, before this returns, wherever the coroutine runs.
 */
void coroutine_mixed_fn xen_invalidate_map_cache_entry(uint8_t *buffer)
{
    if (qemu_in_coroutine()) {
        XenMapCacheData data = {
            .co = qemu_coroutine_self(),
            .buffer = buffer,
        };
        aio_bh_schedule_oneshot(qemu_get_aio_context(),
                                xen_invalidate_map_cache_entry_bh, &data);
        qemu_coroutine_yield();
    } else {
        xen_invalidate_map_cache_entry_all(buffer);
    }
}

static void mapcache_trace_stats_locked(MapCache *mc)
{
    XenMapCacheStats *s = &mc->stats;
    size_t hits = mapcache_lockfree_hits(mc);

    trace_xen_map_cache_stats(mc->name,
                              s->lookups_lock0 + s->lookups_lock1 + hits,
                              s->recent_hits + s->chain_hits + hits,
                              s->pinned_reuses, s->new_mappings, s->recycled,
                              s->evictions, s->releases_queued,
                              qatomic_read(&mc->releases_done));
}

/* One trace event per pin taken for DMA: they outlive the flush. */
static void mapcache_trace_pinned_dma_locked(MapCache *mc)
{
    GHashTableIter iter;
    MapCachePin *pin;
    uint32_t i;

    g_hash_table_iter_init(&iter, mc->pins);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pin)) {
        for (i = 0; i < pin->dma_count; i++) {
            trace_xen_invalidate_map_cache(pin->entry->index, pin->ptr);
        }
    }
}

static void mapcache_flush_locked(MapCache *mc)
{
    MapCacheEntry *entry;

    while ((entry = QTAILQ_FIRST(&mc->lru))) {
        mc->stats.flushed++;
        mapcache_release_locked(mc, entry);
    }
}

/*
 * Release every unpinned entry of the RAM cache, wherever it is in its
 * chain.  Pinned entries stay; grant caches are left alone (they hold
 * pinned entries only).
 */
void xen_invalidate_map_cache(void)
{
    /* In-flight block I/O may still pin mappings: let it finish. */
    bdrv_drain_all();

    QEMU_LOCK_GUARD(&mapcache->lock);
    mapcache_trace_pinned_dma_locked(mapcache);
    mapcache_flush_locked(mapcache);
    mapcache_trace_stats_locked(mapcache);
}

/*
 * Map the frames that @req's bucket index would give @dummy into a range
 * of their own, to learn (into @err) which are valid, and unmap them:
 * replacing must change nothing when it fails.  True if every page @req
 * touches is valid.
 */
static bool mapcache_probe_frames_locked(MapCache *mc, MapCacheEntry *dummy,
                                         const MapCacheRequest *req,
                                         int *err)
{
    MapCacheEntry probe = { .size = dummy->size };
    hwaddr addr = mapcache_bucket_addr(mc, req->index);
    bool valid;

    probe.vaddr_base = mapcache_map_foreign_locked(mc, addr, probe.size,
                                                   NULL, err);
    if (xenforeignmemory_unmap(xen_fmem, probe.vaddr_base,
                               mapcache_pages(probe.size))) {
        mapcache_fatal(mc, "unmapping the probe of new frames", addr,
                       probe.size, errno);
    }
    mapcache_set_valid_pages(&probe, err);
    valid = mapcache_pages_valid(&probe, req->first_page, req->nr_pages);
    g_free(probe.valid_mapping);
    return valid;
}

static uint8_t *mapcache_replace_locked(MapCache *mc, hwaddr old_phys_addr,
                                        hwaddr new_phys_addr, hwaddr size)
{
    MapCacheRequest old_req = { 0 }, new_req = { 0 };
    MapCacheEntry *entry = NULL;
    g_autofree int *err = NULL;

    if (size && mapcache_request_init(mc, &old_req, old_phys_addr, size)) {
        entry = mapcache_find_locked(mc, &old_req,
                                     mapcache_entry_is_dummy_for);
    }
    if (!entry) {
        trace_xen_replace_cache_entry_no_dummy(old_phys_addr);
        return NULL;
    }
    err = g_new0(int, mapcache_pages(entry->size));
    if (!mapcache_request_init(mc, &new_req, new_phys_addr, size) ||
        new_req.map_size > entry->size) {
        trace_xen_replace_cache_entry_could_not_update_entry(old_phys_addr);
        return NULL;
    }
    /*
     * The mappings below may run out of address space and then evict
     * what they can: a pin keeps the dummy out of their reach.
     */
    mapcache_add_pin_locked(mc, entry);
    if (!mapcache_probe_frames_locked(mc, entry, &new_req, err)) {
        mapcache_drop_pins_locked(mc, entry, 1);
        trace_xen_replace_cache_entry_could_not_update_entry(old_phys_addr);
        return NULL;
    }
    trace_xen_replace_cache_entry_dummy(old_phys_addr, new_phys_addr);

    /* The one in-place replacement: see the top of the file. */
    mapcache_map_foreign_locked(mc, mapcache_bucket_addr(mc, new_req.index),
                                entry->size, entry->vaddr_base, err);
    mapcache_set_valid_pages(entry, err);

    /* The entry moves to the chain of the frames it now maps. */
    mapcache_forget_recent_locked(mc, entry);
    mapcache_chain_remove_locked(mc, entry);
    entry->index = new_req.index;
    mapcache_chain_add_locked(mc, entry);

    /* Never lent, so the lock-free path did not see any of this. */
    entry->dummy = false;
    mapcache_announce_locked(mc, entry);
    mapcache_drop_pins_locked(mc, entry, 1);
    return entry->vaddr_base + new_req.offset;
}

uint8_t *xen_replace_cache_entry(hwaddr old_phys_addr,
                                 hwaddr new_phys_addr,
                                 hwaddr size)
{
    QEMU_LOCK_GUARD(&mapcache->lock);
    return mapcache_replace_locked(mapcache, old_phys_addr, new_phys_addr,
                                   size);
}

/* Ranges the main loop has yet to unmap. */
static uint64_t mapcache_handed_to_main_loop_locked(MapCache *mc)
{
    MapCacheEntry *entry;
    uint64_t count = 0;

    QTAILQ_FOREACH(entry, &mc->to_unmap, lru) {
        count += !entry->unmapped;
    }
    return count;
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
    hits = mapcache_lockfree_hits(mc);
    *stats = mc->stats;
    stats->lookups_lock0 += hits;
    stats->recent_hits += hits;
    stats->releases_done = qatomic_read(&mc->releases_done);
    stats->pending_ranges = stats->releases_queued - stats->releases_done +
                            mapcache_handed_to_main_loop_locked(mc);
    stats->limit_bytes = mc->max_size;
    stats->live_bytes = mc->live_bytes;
    stats->pinned_bytes = mc->pinned_bytes;
    stats->pending_bytes = qatomic_read(&mc->pending_bytes);
    stats->peak_bytes = mc->peak_bytes;
    stats->grace_periods = qatomic_load_acquire(&mc->gp_done);
    stats->mapped_bytes = stats->live_bytes + stats->pending_bytes;
    return true;
}

/*
 * Teardown: unpin everything, release every entry and do what the main
 * loop was handed.  Grace periods are counted no more: what a reader may
 * point into waits for its RCU callback.
 */
static void mapcache_drop_all_locked(MapCache *mc)
{
    GHashTableIter iter;
    MapCachePin *pin;

    g_hash_table_iter_init(&iter, mc->pins);
    while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&pin)) {
        mapcache_drop_pins_locked(mc, pin->entry, pin->count);
        g_hash_table_iter_remove(&iter);
    }
    mapcache_trace_stats_locked(mc);
    qatomic_set(&mc->gp_stopped, true);
    mapcache_flush_locked(mc);
    mapcache_run_main_loop_work_locked(mc);
}

static void mapcache_free(MapCache *mc)
{
    assert(!g_hash_table_size(mc->buckets));
    assert(!qatomic_read(&mc->pending_bytes));
    assert(!qatomic_read(&mc->gp_in_flight));
    g_hash_table_destroy(mc->buckets);
    g_hash_table_destroy(mc->pins);
    qemu_vfree(mc->hit_stripes);
    qemu_cond_destroy(&mc->main_loop_ran);
    qemu_mutex_destroy(&mc->lock);
    g_free(mc);
}

static bool mapcache_any_grace_period_in_flight(MapCache **caches)
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        if (caches[kind] && qatomic_read(&caches[kind]->gp_in_flight)) {
            return true;
        }
    }
    return false;
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

    /*
     * Every release queued above runs before the caches go away, and so
     * do the grace-period callback (a run of it that had not yet seen
     * gp_stopped may have queued itself once more after the first drain)
     * and any bottom half scheduled for the main loop.
     */
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        while (caches[kind] && qatomic_read(&caches[kind]->bh_scheduled)) {
            aio_poll(qemu_get_aio_context(), true);
        }
    }
    do {
        drain_call_rcu();
    } while (mapcache_any_grace_period_in_flight(caches));

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
 * The limit a user asked for (-machine mapcache-max-size=SIZE), checked
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
