/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: the bound of a trace, and the LRU cache
 * simulated on it.
 */

#include "qemu/osdep.h"
#include "xen-mapcache-bench.h"

/*
 * The bound: mappings that the trace makes necessary, from the trace
 * alone.
 *
 * A mapping is named by its cache and the bucket index of its first byte
 * (its key) and covers whole buckets from there: a request of @size bytes
 * at offset @off in its first bucket needs QEMU_ALIGN_UP(off + size,
 * bucket) bytes at its key (one bucket for size 0), as upstream and the
 * rewrite both map.  A request crossing into the next bucket therefore
 * needs a two-bucket mapping at its first bucket's key; it does not touch
 * the next bucket's key, which names another mapping, the one requests
 * starting there need.
 *
 * Compulsory mappings: a cache that maps on demand what a request needs
 * must map at a key the first time the key is requested, and again each
 * time a request there needs more than the largest mapping made so far at
 * that key (a mapping cannot grow in place; the larger one serves all the
 * smaller one did, and keeping it costs nothing while the working set
 * fits).  So the compulsory count is, per key, the number of sizes that
 * beat every earlier size there: the number of distinct keys when every
 * request at a key needs the same size, one more per growth.  Nothing
 * else is compulsory; upstream's layout adds collisions of different
 * indexes in one bucket and remaps between lock0 and lock1 sizes.
 *
 * When the working set does not fit the limit, the bound is the number
 * of misses of an LRU cache of the same limit simulated on the trace:
 * same keys and sizes, pinned entries never evicted, unpinned ones kept
 * on an LRU list (a hit or the last unpin makes an entry the most recent)
 * and evicted least recent first before a miss maps more than the limit
 * allows, or when an unpin leaves the cache above it; a new mapping
 * replaces the unpinned ones at its key that it covers; grant mappings go
 * at their last unpin.  Releases are instantaneous in the simulation; the
 * real cache counts ranges waiting for a grace period against its limit
 * and may exceed it when nothing is freeable (see BENCH_LIMIT).
 * The working set fits when this simulation never evicts; its misses then
 * equal the compulsory mappings of the RAM cache.
 */

typedef struct SimEntry SimEntry;

typedef struct SimChain {
    uint64_t id;            /* (cache << 56) | key: the hash table key */
    GPtrArray *entries;     /* SimEntry, in creation order */
} SimChain;

struct SimEntry {
    SimChain *chain;
    uint64_t size;
    uint32_t pins;
    GList lru_link;         /* in BenchSim.lru while unpinned (RAM only) */
    bool in_lru;
};

typedef struct BenchSim {
    uint64_t limit;
    uint64_t used;          /* bytes of the entries in the cache */
    uint64_t peak;
    uint64_t misses;
    uint64_t evictions;
    GHashTable *chains;     /* &SimChain.id -> SimChain */
    GQueue lru;             /* least recently used first */
    SimEntry **slots;       /* the entry each slot's pin went to */
} BenchSim;

static unsigned op_bucket_shift(const BenchOp *op)
{
    return op->cache == XEN_MAPCACHE_RAM ?
           RAM_BUCKET_SHIFT : GRANT_BUCKET_SHIFT;
}

static uint64_t op_key(const BenchOp *op)
{
    return op->addr >> op_bucket_shift(op);
}

static uint64_t op_chain_id(const BenchOp *op)
{
    return ((uint64_t)op->cache << 56) | op_key(op);
}

/* Bytes the mapping serving @op needs at its key. */
static uint64_t op_need(const BenchOp *op)
{
    uint64_t bucket = 1ULL << op_bucket_shift(op);
    uint64_t offset = op->addr & (bucket - 1);

    return op->size ? QEMU_ALIGN_UP(offset + op->size, bucket) : bucket;
}

static bool op_is_request(const BenchOp *op)
{
    return op->kind != BENCH_UNPIN;
}

static void sim_chain_free(gpointer data)
{
    SimChain *chain = data;

    g_ptr_array_free(chain->entries, true);
    g_free(chain);
}

static void sim_init(BenchSim *sim, uint64_t limit, uint32_t nslots)
{
    *sim = (BenchSim) { .limit = limit };
    sim->chains = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                        sim_chain_free);
    g_queue_init(&sim->lru);
    sim->slots = g_new0(SimEntry *, nslots);
}

static void sim_destroy(BenchSim *sim)
{
    g_hash_table_destroy(sim->chains);
    g_free(sim->slots);
}

static SimChain *sim_chain(BenchSim *sim, const BenchOp *op)
{
    uint64_t id = op_chain_id(op);
    SimChain *chain = g_hash_table_lookup(sim->chains, &id);

    if (!chain) {
        chain = g_new0(SimChain, 1);
        chain->id = id;
        chain->entries = g_ptr_array_new_with_free_func(g_free);
        g_hash_table_insert(sim->chains, &chain->id, chain);
    }
    return chain;
}

/* An entry of @chain at least @need bytes large, a pinned one first. */
static SimEntry *sim_find(SimChain *chain, uint64_t need)
{
    SimEntry *found = NULL;
    guint i;

    for (i = 0; i < chain->entries->len; i++) {
        SimEntry *e = g_ptr_array_index(chain->entries, i);

        if (e->size >= need && (e->pins || !found)) {
            found = e;
        }
    }
    return found;
}

static void sim_lru_remove(BenchSim *sim, SimEntry *e)
{
    if (e->in_lru) {
        g_queue_unlink(&sim->lru, &e->lru_link);
        e->in_lru = false;
    }
}

static void sim_lru_push(BenchSim *sim, SimEntry *e)
{
    sim_lru_remove(sim, e);
    e->lru_link.data = e;
    g_queue_push_tail_link(&sim->lru, &e->lru_link);
    e->in_lru = true;
}

static void sim_drop(BenchSim *sim, SimEntry *e)
{
    sim_lru_remove(sim, e);
    sim->used -= e->size;
    g_ptr_array_remove_fast(e->chain->entries, e);
}

static void sim_make_room(BenchSim *sim, uint64_t need)
{
    while (sim->used + need > sim->limit && sim->lru.head) {
        sim_drop(sim, sim->lru.head->data);
        sim->evictions++;
    }
}

/* A miss: replace the unpinned entries that the new one covers. */
static SimEntry *sim_map(BenchSim *sim, SimChain *chain, uint64_t need,
                         bool is_ram)
{
    SimEntry *e;
    guint i = 0;

    sim->misses++;
    while (i < chain->entries->len) {
        e = g_ptr_array_index(chain->entries, i);
        if (!e->pins && e->size <= need) {
            sim_drop(sim, e);
        } else {
            i++;
        }
    }
    if (is_ram) {
        sim_make_room(sim, need);
    }
    e = g_new0(SimEntry, 1);
    e->chain = chain;
    e->size = need;
    g_ptr_array_add(chain->entries, e);
    sim->used += need;
    sim->peak = MAX(sim->peak, sim->used);
    return e;
}

static void sim_request(BenchSim *sim, const BenchOp *op)
{
    SimChain *chain = sim_chain(sim, op);
    uint64_t need = op_need(op);
    SimEntry *e = sim_find(chain, need);
    bool is_ram = op->cache == XEN_MAPCACHE_RAM;

    if (!e) {
        e = sim_map(sim, chain, need, is_ram);
    }
    if (op->kind == BENCH_PIN) {
        sim_lru_remove(sim, e);
        e->pins++;
        sim->slots[op->slot] = e;
    } else if (!e->pins) {
        sim_lru_push(sim, e);
    }
}

static void sim_unpin(BenchSim *sim, const BenchOp *op)
{
    SimEntry *e = sim->slots[op->slot];

    if (--e->pins) {
        return;
    }
    if (op->cache != XEN_MAPCACHE_RAM) {
        sim_drop(sim, e);
        return;
    }
    sim_lru_push(sim, e);
    sim_make_room(sim, 0);
}

static void sim_run(BenchSim *sim, const BenchTrace *t)
{
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        const BenchOp *op = trace_op(t, i);

        if (op_is_request(op)) {
            sim_request(sim, op);
        } else {
            sim_unpin(sim, op);
        }
    }
}

/* Distinct keys and compulsory mappings (sizes beating the key's record). */
static void bound_compulsory(BenchBound *b, const BenchTrace *t)
{
    g_autoptr(GHashTable) record = g_hash_table_new_full(g_int64_hash,
                                                         g_int64_equal,
                                                         g_free, g_free);
    size_t i;

    for (i = 0; i < t->ops->len; i++) {
        const BenchOp *op = trace_op(t, i);
        uint64_t id = op_chain_id(op), need = op_need(op);
        uint64_t *max;

        if (!op_is_request(op)) {
            continue;
        }
        max = g_hash_table_lookup(record, &id);
        if (!max) {
            uint64_t *key = g_new(uint64_t, 1);

            *key = id;
            max = g_new0(uint64_t, 1);
            g_hash_table_insert(record, key, max);
            b->distinct_keys++;
        }
        if (need > *max) {
            *max = need;
            b->compulsory++;
        }
    }
}

void bound_compute(BenchBound *b, const BenchTrace *t, uint64_t limit)
{
    BenchSim sim;

    *b = (BenchBound) { 0 };
    bound_compulsory(b, t);
    sim_init(&sim, limit, trace_slots(t));
    sim_run(&sim, t);
    b->lru_misses = sim.misses;
    b->lru_evictions = sim.evictions;
    b->peak_bytes = sim.peak;
    b->fits = sim.evictions == 0;
    b->bound = b->fits ? b->compulsory : b->lru_misses;
    sim_destroy(&sim);
}
