/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * libFuzzer target of the Xen mapcache (standalone only).
 *
 * Each input is a sequence of calls of the public functions of
 * include/sysemu/xen-mapcache.h against the fake hypervisor, with hostile
 * arguments.  A small model (the pins, the dummies, the holes, the
 * runstate, the limit) says what each answer must be, and an oracle
 * checks it against the contract (the top comment of
 * hw/xen/xen-mapcache.c and docs/devel/xen-mapcache.rst): the pointer or
 * NULL, the bytes behind every pin (the fake's guest RAM and grants), the
 * counters (xen_map_cache_get_stats()), the trace events (through the
 * stand-in's trace hook, as data), and after every call the fake's
 * reader registry and the RAM block notifier calls.  A failure prints
 * what differed and the operation, and aborts: libFuzzer keeps the input.
 *
 * The input shape.  The first bytes are the arguments of "init"; then
 * each operation is one opcode byte (modulo the number of operations)
 * followed by the arguments that operation reads, little-endian, each
 * as wide as its range needs; the input ends where the bytes do
 * (arguments past the end read as zero), or after OPS_MAX operations, and
 * every input ends with the teardown checks (every pin dropped,
 * xen_map_cache_fini(), nothing left mapped or announced).  Most
 * arguments are a class byte and a value, the classes being where the
 * contract has its edges: "an address near 2^64", "a size around one
 * bucket", "a pinned pointer, its middle, one past its end"; the decoders
 * (gen_*()) know them.  One class of each takes a raw 64-bit value, so
 * that any argument can be written and libFuzzer's comparison feedback
 * reaches exact values.  See fuzz/README.md for why this shape.
 *
 * Deterministic: the target links the manual RCU (qemu-standin/
 * rcu-manual.c), so no thread runs but the caller's, and grace periods
 * end only at the operations that end them ("grace", and the ones that
 * drain); the main loop's bottom halves run at "mainloop"; whether the
 * calls hold the BQL, as QEMU's main loop does, or not, as an IOThread,
 * is an operation too.  Calls that end the process by contract (a lock0
 * grant, an ungranted reference, a mapping refused twice) are left to
 * the unit tests, and two threads to the stress test.
 *
 * Built twice: with clang and libFuzzer, ASan and UBSan in build-fuzz/
 * (make fuzz), and in the ordinary builds with
 * fuzz/xen-mapcache-fuzz-replay.c, whose main() replays the kept corpus
 * (fuzz/corpus/) as a test of the default suite.
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "block/aio.h"
#include "qemu/rcu.h"
#include "qemu/rcu-manual.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "exec/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-fake-xen.h"
#include "test-xen-mapcache-stubs.h"
#include "trace.h"
#include "xen-mapcache-fuzz.h"

#define BUCKET_SHIFT XEN_MAPCACHE_BUCKET_SHIFT
#define BUCKET_SIZE ((uint64_t)XEN_MAPCACHE_BUCKET_SIZE)
#define PAGE_SIZE_4K ((uint64_t)FAKE_XEN_PAGE_SIZE)
/* No cache is larger, whatever its limit. */
#define CACHE_CAP ((uint64_t)XEN_MAPCACHE_MAX_SIZE)

/* Guest RAM: small, so that large requests mostly run past its end. */
#define RAM_BYTES ((uint64_t)256 * MiB)
#define RAM_PAGES (RAM_BYTES / PAGE_SIZE_4K)
/* Holes only in the lower half; "held" and "freeable" use the upper. */
#define HOLE_PAGES (RAM_PAGES / 2)
#define UPPER_HALF (RAM_BYTES / 2)
/* A hole whenever there are holes: where dummies are made. */
#define DUMMY_BUCKET 5
#define HOLE_RUNS_MAX 4
#define HOLE_RUN_PAGES_MAX 512
#define GRANT_PAGES 64
/* The grant region's RAM block comes after guest RAM, as in QEMU. */
#define GRANT_RAM_OFFSET RAM_BYTES

/* Bytes compared at each end of a returned range. */
#define CHECK_WINDOW 4096
/* Operations per input at most: keeps one input fast. */
#define OPS_MAX 200
#define STALE_POINTERS 16
#define OP_ARGS 8

/* Set (to anything) to print each operation as it runs. */
#define ENV_VERBOSE "XEN_MAPCACHE_FUZZ_VERBOSE"

/*
 * Trace events: the ones the oracle counts, per operation.
 */

typedef enum TraceEvent {
    EV_TOO_LARGE,
    EV_OVERSIZE,
    EV_BAD_GRANT_REF,
    EV_REVERSE_NOT_FOUND,
    EV_INVALIDATE_NOT_FOUND,
    EV_FLUSH_PIN,
    EV_REPLACE_DUMMY,
    EV_REPLACE_NO_DUMMY,
    EV_REPLACE_NOT_UPDATED,
    EV_ENOMEM_RETRY,
    EV__MAX,
} TraceEvent;

static const char *const trace_names[EV__MAX] = {
    [EV_TOO_LARGE] = "xen_map_cache_too_large",
    [EV_OVERSIZE] = "xen_map_cache_oversize",
    [EV_BAD_GRANT_REF] = "xen_map_cache_bad_grant_ref",
    [EV_REVERSE_NOT_FOUND] = "xen_ram_addr_from_mapcache_not_found",
    [EV_INVALIDATE_NOT_FOUND] = "xen_invalidate_map_cache_entry_not_found",
    [EV_FLUSH_PIN] = "xen_invalidate_map_cache",
    [EV_REPLACE_DUMMY] = "xen_replace_cache_entry_dummy",
    [EV_REPLACE_NO_DUMMY] = "xen_replace_cache_entry_no_dummy",
    [EV_REPLACE_NOT_UPDATED] =
        "xen_replace_cache_entry_could_not_update_entry",
    [EV_ENOMEM_RETRY] = "xen_map_cache_enomem_retry",
};

/*
 * The model: what the answers depend on.
 */

typedef struct Pin {
    uint8_t *ptr;
    uint64_t ram_addr;      /* what the reverse lookup must answer */
    uint64_t gaddr;         /* the guest address, or grant ref, shown */
    uint64_t len;           /* bytes valid at ptr */
    uint64_t entry_index;   /* the bucket index of its entry (RAM) */
    uint8_t *entry_base;    /* where its entry's mapping starts (RAM) */
    XenMapCacheKind kind;
    bool dma;
    uint8_t *dummy_base;    /* non-NULL: a pointer into this dummy */
} Pin;

/* An entry of the guest RAM cache, as its trace events describe it. */
typedef struct Entry {
    uint64_t index;         /* bucket index it was made for */
    uint8_t *base;
    uint64_t start;         /* offset in its bucket of what it maps */
    uint64_t size;
    bool dummy;
    bool lock0;             /* ever handed out without a pin */
    bool queued;            /* left through call_rcu() (in reg.gone) */
} Entry;

typedef struct Model {
    bool up;
    uint64_t limit;         /* the effective one */
    bool inmigrate;
    bool iothread;          /* calls without the BQL */
    /*
     * A grant was unpinned off the main loop: its notifier removal was
     * deferred, and the registrar's pairing is unreliable from then on
     * (notify_reuse_before_grant_removal_tolerated()).  Set for the rest
     * of the input.
     */
    bool grant_removal_deferred;
    unsigned long *holes;   /* RAM_PAGES bits */
    GArray *pins;           /* Pin; a pointer pinned twice is there twice */
    /*
     * RAM pointers pinned now -> the pins taken through each since it was
     * last unpinned for good: DMA ones in the low 32 bits, others above.
     */
    GHashTable *taken;
    /* Set by a "freeable" operation for the next operation only. */
    uint8_t *freeable;      /* an entry that ENOMEM may free, or NULL */
    uint64_t freeable_index;
    uint8_t *stale[STALE_POINTERS];
    unsigned nr_stale;
    XenMapCacheTestCounts notify_at_init;
} Model;

/*
 * The entries of the guest RAM cache, followed through its trace events:
 * an entry enters at xen_map_cache_new_entry and leaves at
 * xen_map_cache_free or xen_map_cache_release_queued of its address.
 * Which unpinned entry the limit evicts, recycles or frees at once is the
 * cache's choice, made by its LRU and its recent slots; what it did is
 * here.  The per-operation arrays are cleared as each operation starts;
 * counts[] counts the events of trace_names[] there.
 */
static struct {
    GArray *live;           /* Entry: the entries in the cache, oldest first */
    GArray *gone;           /* Entry: entries that left during this op */
    GArray *made;           /* Entry: RAM entries mapped during this op */
    GArray *at_replace;     /* Entry: live when this op's replace answered */
    bool replace_seen;
    guint call_gone;        /* gone[] from here: during the last call */
    guint call_made;        /* made[] from here: the same */
    unsigned counts[EV__MAX];   /* during the last call */
} reg;

static bool model_entry_pinned(Model *m, const uint8_t *base);

static Entry *entry_at(GArray *a, guint i)
{
    return &g_array_index(a, Entry, i);
}

static uint64_t trace_int(const QemuStandinTraceArg *args, size_t i)
{
    return args[i].value;
}

static uint8_t *trace_ptr(const QemuStandinTraceArg *args, size_t i)
{
    return (uint8_t *)args[i].ptr;
}

/* Is the event's first argument, the cache's name, the guest RAM one? */
static bool trace_is_ram(size_t nargs, const QemuStandinTraceArg *args)
{
    return nargs && args[0].kind == QEMU_STANDIN_TRACE_ARG_STR &&
           !strcmp(args[0].str, "ram");
}

static void reg_entry_left(uint8_t *base, bool queued)
{
    guint i;

    for (i = 0; i < reg.live->len; i++) {
        if (entry_at(reg.live, i)->base == base) {
            entry_at(reg.live, i)->queued = queued;
            g_array_append_val(reg.gone, *entry_at(reg.live, i));
            g_array_remove_index(reg.live, i);
            return;
        }
    }
}

/* qemu_standin_trace_hook: every event of the cache, as it happens. */
static void fuzz_trace_hook(const char *event, size_t nargs,
                            const QemuStandinTraceArg *args)
{
    int ev;

    for (ev = 0; ev < EV__MAX; ev++) {
        if (!strcmp(event, trace_names[ev])) {
            reg.counts[ev]++;
        }
    }
    if (!strcmp(event, "xen_map_cache_new_entry") &&
        trace_is_ram(nargs, args)) {
        Entry e = {
            .index = trace_int(args, 1), .size = trace_int(args, 2),
            .base = trace_ptr(args, 3), .dummy = trace_int(args, 4),
        };

        g_array_append_val(reg.made, e);
        g_array_append_val(reg.live, e);
    } else if ((!strcmp(event, "xen_map_cache_free") ||
                !strcmp(event, "xen_map_cache_evict")) &&
               trace_is_ram(nargs, args)) {
        /* An eviction handed to the main loop traces nothing more. */
        reg_entry_left(trace_ptr(args, 1), false);
    } else if (!strcmp(event, "xen_map_cache_release_queued") &&
               trace_is_ram(nargs, args)) {
        reg_entry_left(trace_ptr(args, 1), true);
    } else if (g_str_has_prefix(event, "xen_replace_cache_entry_") &&
               !reg.replace_seen) {
        g_array_set_size(reg.at_replace, 0);
        g_array_append_vals(reg.at_replace, reg.live->data, reg.live->len);
        reg.replace_seen = true;
    }
}

static void reg_init(void)
{
    reg.live = g_array_new(FALSE, FALSE, sizeof(Entry));
    reg.gone = g_array_new(FALSE, FALSE, sizeof(Entry));
    reg.made = g_array_new(FALSE, FALSE, sizeof(Entry));
    reg.at_replace = g_array_new(FALSE, FALSE, sizeof(Entry));
}

static void reg_free(void)
{
    g_array_free(reg.live, TRUE);
    g_array_free(reg.gone, TRUE);
    g_array_free(reg.made, TRUE);
    g_array_free(reg.at_replace, TRUE);
}

/* A new operation: forget what happened during the last one. */
static void reg_op_start(void)
{
    g_array_set_size(reg.gone, 0);
    g_array_set_size(reg.made, 0);
    g_array_set_size(reg.at_replace, 0);
    reg.replace_seen = false;
    reg.call_gone = 0;
    reg.call_made = 0;
    memset(reg.counts, 0, sizeof(reg.counts));
}

/* Before each call: count only its events, and see what it takes out. */
static void reg_counts_clear(void)
{
    memset(reg.counts, 0, sizeof(reg.counts));
    reg.call_gone = reg.gone->len;
    reg.call_made = reg.made->len;
}

/* After teardown: no entry is left. */
static void reg_reset(void)
{
    reg_op_start();
    g_array_set_size(reg.live, 0);
}

static Entry *entries_find(GArray *a, uint64_t index, uint8_t *base,
                           uint64_t min_size, bool dummy)
{
    guint i;

    for (i = 0; i < a->len; i++) {
        Entry *e = entry_at(a, i);

        if (e->index == index && (!base || e->base == base) &&
            e->size >= min_size && (!dummy || e->dummy)) {
            return e;
        }
    }
    return NULL;
}

/* The entry in the cache that starts at @base, or NULL. */
static Entry *reg_entry(uint8_t *base)
{
    guint i;

    for (i = 0; i < reg.live->len; i++) {
        if (entry_at(reg.live, i)->base == base) {
            return entry_at(reg.live, i);
        }
    }
    return NULL;
}

/*
 * Is there a dummy at @index of at least @min_size bytes (based at @base
 * unless NULL)?  In the cache now, or (@gone_too) since the operation
 * began.
 */
static bool reg_dummy(uint64_t index, uint8_t *base, uint64_t min_size,
                      bool gone_too)
{
    return entries_find(reg.live, index, base, min_size, true) ||
           (gone_too && entries_find(reg.gone, index, base, min_size, true));
}

/* Was an entry at @index mapped at @base during this operation? */
static bool reg_made(uint64_t index, uint8_t *base, bool dummy)
{
    const Entry *e = entries_find(reg.made, index, base, 0, false);

    return e && e->dummy == dummy;
}

/* Did the entry at @base leave the cache during this operation? */
static bool reg_left(uint8_t *base)
{
    guint i;

    for (i = 0; i < reg.gone->len; i++) {
        if (entry_at(reg.gone, i)->base == base) {
            return true;
        }
    }
    return false;
}

/* During the last call? */
static bool reg_left_in_call(uint8_t *base)
{
    guint i;

    for (i = reg.call_gone; i < reg.gone->len; i++) {
        if (entry_at(reg.gone, i)->base == base) {
            return true;
        }
    }
    return false;
}

/* The dummies in the cache now (or when this op's replace looked). */
static GArray *reg_dummies(bool at_replace)
{
    GArray *from = at_replace ? reg.at_replace : reg.live;
    GArray *copy = g_array_new(FALSE, FALSE, sizeof(Entry));
    guint i;

    for (i = 0; i < from->len; i++) {
        if (entry_at(from, i)->dummy) {
            g_array_append_val(copy, *entry_at(from, i));
        }
    }
    return copy;
}

/*
 * A replace gave the dummy at @base the frames of bucket @index: it is no
 * dummy now, and in the chain of @index.
 */
static void reg_replaced(uint8_t *base, uint64_t index)
{
    Entry *e = reg_entry(base);

    if (e) {
        e->dummy = false;
        e->index = index;
    }
}

/* The entry in the cache whose range holds @p, or NULL. */
static Entry *reg_entry_holding(const uint8_t *p)
{
    guint i;

    for (i = 0; i < reg.live->len; i++) {
        Entry *e = entry_at(reg.live, i);

        if (p >= e->base && p < e->base + e->size) {
            return e;
        }
    }
    return NULL;
}

/* A lock0 request got @p, a pointer into an entry. */
static void reg_handed_out_unpinned(const uint8_t *p)
{
    Entry *e = reg_entry_holding(p);

    if (e) {
        e->lock0 = true;
    }
}

/*
 * After a guest RAM request at @addr whose whole buckets are @map_size
 * bytes.  An entry it made maps those buckets, or under pressure only
 * the pages the request touches, from the first one's: then its size
 * differs.  A new mapping recycles the unpinned entries of its bucket
 * that it covers; those it handed to the main loop traced nothing (the
 * others did, and are gone already).
 */
static void reg_after_map(Model *m, uint64_t addr, uint64_t map_size)
{
    uint64_t index = addr >> BUCKET_SHIFT;
    uint64_t first_page = addr & (BUCKET_SIZE - 1) & ~(PAGE_SIZE_4K - 1);
    guint i;

    if (reg.made->len == reg.call_made) {
        return;     /* no new mapping */
    }
    for (i = 0; i < reg.live->len; i++) {
        Entry *e = entry_at(reg.live, i);

        if (e->index == index && !e->dummy && e->size != map_size &&
            entries_find(reg.made, index, e->base, 0, false)) {
            e->start = first_page;
        }
    }
    for (i = 0; i < reg.live->len; i++) {
        Entry *e = entry_at(reg.live, i);

        if (e->index == index && e->start + e->size <= map_size &&
            !model_entry_pinned(m, e->base) &&
            !entries_find(reg.made, index, e->base, 0, false)) {
            reg_entry_left(e->base, false);
            i--;
        }
    }
}

/*
 * The input, and the state of one run.
 */

typedef struct Op Op;

typedef struct Fuzz {
    Model m;
    const uint8_t *data;    /* the input */
    size_t size, pos;
    uint64_t ops;
    const Op *op;           /* the operation running, for messages */
    bool verbose;
    uint64_t notify_errors; /* of the registrar, before the operation */
} Fuzz;

static char *op_format(const Op *op);

/* The oracle found a difference: say what and where, and abort. */
static void G_GNUC_PRINTF(3, 4) G_NORETURN fail(Fuzz *f, const char *id,
                                                const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s: %s\n", id, msg);
    if (f->op) {
        g_autofree char *line = op_format(f->op);

        fprintf(stderr, "  at operation %" PRIu64 ": %s\n", f->ops, line);
    }
    abort();
}

/* "op-what": a failure id; valid until the next call. */
static const char *op_id(const char *op, const char *what)
{
    static char id[128];

    snprintf(id, sizeof(id), "%s-%s", op, what);
    return id;
}

/*
 * Decoding: the next @n bytes of the input, little-endian; zero past its
 * end.
 */
static uint64_t in_bytes(Fuzz *f, unsigned n)
{
    uint64_t v = 0;
    unsigned i;

    for (i = 0; i < n && f->pos < f->size; i++) {
        v |= (uint64_t)f->data[f->pos++] << (8 * i);
    }
    return v;
}

static bool in_done(const Fuzz *f)
{
    return f->pos >= f->size;
}

static uint64_t rnd64(Fuzz *f)
{
    return in_bytes(f, 8);
}

/* A number below @n (> 0), from as few bytes as hold it. */
static uint64_t rnd(Fuzz *f, uint64_t n)
{
    unsigned width = n <= 1u << 8 ? 1 : n <= 1u << 16 ? 2 :
                     n <= (uint64_t)1 << 32 ? 4 : 8;

    return in_bytes(f, width) % n;
}

/* One byte: true for @percent in 100 of its values. */
static bool chance(Fuzz *f, unsigned percent)
{
    return in_bytes(f, 1) * 100 / 256 < percent;
}

/* One byte: its low bit. */
static bool in_bool(Fuzz *f)
{
    return in_bytes(f, 1) & 1;
}

/*
 * Call what follows as QEMU's main loop, which holds the BQL (and so
 * qemu_in_main_thread() is true), or as an IOThread, which does not.
 */
static void play_main_loop(bool main_loop)
{
    if (main_loop && !bql_locked()) {
        bql_lock();
    } else if (!main_loop && bql_locked()) {
        bql_unlock();
    }
}
static Pin *pin_at(Model *m, guint i)
{
    return &g_array_index(m->pins, Pin, i);
}

/* The pins taken through @ptr. */
static unsigned model_pins_of(Model *m, const uint8_t *ptr)
{
    unsigned n = 0;
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        n += pin_at(m, i)->ptr == ptr;
    }
    return n;
}

static unsigned model_pins_of_kind(Model *m, XenMapCacheKind kind)
{
    unsigned n = 0;
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        n += pin_at(m, i)->kind == kind;
    }
    return n;
}

/* Pins taken through a RAM pointer pinned now: DMA ones, and others. */
static void model_taken(Model *m, const uint8_t *ptr, unsigned *dma,
                        unsigned *other)
{
    uint64_t t = (uintptr_t)g_hash_table_lookup(m->taken, ptr);

    *dma = (uint32_t)t;
    *other = t >> 32;
}

static void model_add_pin(Model *m, const Pin *pin)
{
    g_array_append_val(m->pins, *pin);
    if (pin->kind == XEN_MAPCACHE_RAM) {
        uint64_t t = (uintptr_t)g_hash_table_lookup(m->taken, pin->ptr);

        t += pin->dma ? 1 : (uint64_t)1 << 32;
        g_hash_table_insert(m->taken, pin->ptr, (gpointer)(uintptr_t)t);
    }
}

static void model_forget_pin(Model *m, const uint8_t *ptr)
{
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        if (pin_at(m, i)->ptr == ptr) {
            g_array_remove_index(m->pins, i);
            break;
        }
    }
    if (!model_pins_of(m, ptr)) {
        g_hash_table_remove(m->taken, ptr);
        m->stale[m->nr_stale++ % STALE_POINTERS] = (uint8_t *)ptr;
    }
}

/* Does any page of [@addr, @addr + @len) fail to map (hole, past RAM)? */
static bool model_invalid(Model *m, uint64_t addr, uint64_t len)
{
    uint64_t pfn, first = addr / PAGE_SIZE_4K;
    uint64_t last = (addr + (len - 1)) / PAGE_SIZE_4K;

    if (last >= RAM_PAGES) {
        return true;
    }
    for (pfn = first; pfn <= last; pfn++) {
        if (test_bit(pfn, m->holes)) {
            return true;
        }
    }
    return false;
}

static void model_reset(Model *m)
{
    g_array_set_size(m->pins, 0);
    g_hash_table_remove_all(m->taken);
    reg_reset();
    m->freeable = NULL;
    m->nr_stale = 0;
    m->inmigrate = false;
    m->iothread = false;
}

/*
 * Arithmetic of the contract, overflow safe: a request touches
 * [addr, addr + max(size, 1)).
 */

/* false if the request reaches the last byte of the 64-bit space */
static bool request_len(uint64_t addr, uint64_t size, uint64_t *len)
{
    *len = MAX(size, 1);
    return *len <= UINT64_MAX - addr;
}

/* Bytes of the whole @gran units that [@addr, @addr + @len) spans. */
static unsigned __int128 span_bytes(uint64_t addr, uint64_t len,
                                    uint64_t gran)
{
    unsigned __int128 end = (unsigned __int128)(addr & (gran - 1)) + len;

    return (end + gran - 1) / gran * gran;
}

/*
 * What an answer may be.  Events: each between ev_min and ev_max, and
 * if one_of is set, exactly one of the events in it.
 */
typedef struct Expect {
    bool may_null, may_real, may_dummy;
    bool nothing_mapped;    /* refused before any mapping is made */
    bool over_limit;
    unsigned ev_min[EV__MAX], ev_max[EV__MAX];
    unsigned one_of;
    const char *why;
} Expect;

static void expect_event(Expect *e, TraceEvent ev, unsigned min, unsigned max)
{
    e->ev_min[ev] = min;
    e->ev_max[ev] = max;
}

static void expect_one_of(Expect *e, TraceEvent a, TraceEvent b)
{
    expect_event(e, a, 0, 1);
    expect_event(e, b, 0, 1);
    e->one_of = 1u << a | 1u << b;
}

static void check_events(Fuzz *f, const char *op, const Expect *e)
{
    const unsigned *counts = reg.counts;
    unsigned one_of = 0;
    int ev;

    for (ev = 0; ev < EV__MAX; ev++) {
        if (counts[ev] < e->ev_min[ev] || counts[ev] > e->ev_max[ev]) {
            fail(f, op_id(op, trace_names[ev]),
                 "%s: %u trace events %s, expected %u..%u (%s)", op,
                 counts[ev], trace_names[ev], e->ev_min[ev], e->ev_max[ev],
                 e->why ? e->why : "");
        }
        if (e->one_of & 1u << ev) {
            one_of += counts[ev];
        }
    }
    if (e->one_of && one_of != 1) {
        fail(f, op_id(op, "trace-reason"),
             "%s: %u trace events give the reason, expected 1 (%s)", op,
             one_of, e->why ? e->why : "");
    }
}

/*
 * Reading the mapcache's and the fake's numbers
 */

static XenMapCacheStats cache_stats(XenMapCacheKind kind)
{
    XenMapCacheStats s;

    xen_map_cache_get_stats(kind, &s);
    return s;
}

/*
 * The counters of every cache, summed: which cache answers bad input is
 * not part of the contract.
 */
static XenMapCacheStats all_stats(void)
{
    XenMapCacheStats sum = { 0 };
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        XenMapCacheStats s = cache_stats(kind);

        sum.lookups_lock0 += s.lookups_lock0;
        sum.lookups_lock1 += s.lookups_lock1;
        sum.null_returns += s.null_returns;
        sum.oversize += s.oversize;
    }
    return sum;
}

static FakeXenStats fake_stats(void)
{
    FakeXenStats s;

    fake_xen_get_stats(&s);
    return s;
}

static XenMapCacheKind grant_kind(bool is_write)
{
    return is_write ? XEN_MAPCACHE_GRANTS_RW : XEN_MAPCACHE_GRANTS_RO;
}

/* Read a byte the compiler cannot drop: a dummy must be readable. */
static void touch(const uint8_t *p)
{
    /* volatile: the read must happen, its value is not used */
    (void)*(const volatile uint8_t *)p;
}

/* Compare both ends of [p, p + len) with guest RAM from @gaddr. */
static size_t wrong_ram_bytes(const uint8_t *p, uint64_t gaddr, uint64_t len)
{
    uint64_t n = MIN(len, (uint64_t)CHECK_WINDOW);
    size_t wrong = fake_xen_check_ram(p, gaddr, n);

    if (len > n) {
        wrong += fake_xen_check_ram(p + len - n, gaddr + len - n, n);
    }
    return wrong;
}

/* [p, p + len) against guest RAM from @gaddr, but for its hole pages. */
static size_t wrong_valid_window(Model *m, const uint8_t *p, uint64_t gaddr,
                                 uint64_t len)
{
    size_t wrong = 0;

    while (len) {
        uint64_t chunk = MIN(len, PAGE_SIZE_4K - gaddr % PAGE_SIZE_4K);

        if (!model_invalid(m, gaddr, chunk)) {
            wrong += fake_xen_check_ram(p, gaddr, chunk);
        }
        p += chunk;
        gaddr += chunk;
        len -= chunk;
    }
    return wrong;
}

/*
 * wrong_ram_bytes() of a pin, whose pages may be holes: a replace maps
 * the new bucket's frames over the whole dummy and checks only the range
 * it was asked for, so the other pins into the dummy may show holes now,
 * inaccessible as Linux leaves a frame that privcmd refused.
 */
static size_t wrong_pin_bytes(Model *m, const uint8_t *p, uint64_t gaddr,
                              uint64_t len)
{
    uint64_t n = MIN(len, (uint64_t)CHECK_WINDOW);
    size_t wrong;

    if (!model_invalid(m, gaddr, len)) {
        return wrong_ram_bytes(p, gaddr, len);
    }
    wrong = wrong_valid_window(m, p, gaddr, n);
    if (len > n) {
        wrong += wrong_valid_window(m, p + len - n, gaddr + len - n, n);
    }
    return wrong;
}

/* The same for grants: @p is at @in_page of grant @ref. */
static size_t wrong_grant_bytes(const uint8_t *p, uint64_t ref,
                                uint64_t in_page, uint64_t len)
{
    uint64_t n = MIN(in_page + len, (uint64_t)CHECK_WINDOW);

    return fake_xen_check_grant(p - in_page, ref, n);
}

/*
 * The byte the driver writes at a pinned pointer into a dummy: a refused
 * replace must leave the dummy's bytes as they were.  A function of the
 * address, so that pins through one pointer agree.
 */
static uint8_t dummy_mark(const uint8_t *p)
{
    return ((uintptr_t)p * 0x9e3779b1u) >> 24;
}

/* A pinned pointer still shows what it showed: bytes, liveness. */
static void check_pin(Fuzz *f, const Pin *pin)
{
    if (pin->dummy_base) {
        if (!reg_dummy(pin->entry_index, pin->dummy_base, 0, false)) {
            fail(f, "dummy-pin-released", "pin %p for 0x%" PRIx64 " is in "
                 "a dummy that left the cache", pin->ptr, pin->ram_addr);
            return;
        }
        if (fake_xen_is_live(pin->ptr, 1)) {
            fail(f, "dummy-became-live", "pin %p for 0x%" PRIx64 " was a "
                 "dummy and now maps foreign frames", pin->ptr,
                 pin->ram_addr);
            return;
        }
        if (*pin->ptr != dummy_mark(pin->ptr)) {
            fail(f, "dummy-bytes-changed", "pin %p for 0x%" PRIx64 " is in "
                 "a dummy whose bytes changed", pin->ptr, pin->ram_addr);
        }
        touch(pin->ptr + pin->len - 1);
        return;
    }
    if (!fake_xen_is_live(pin->ptr, pin->len)) {
        fail(f, "pin-not-live", "pin %p (0x%" PRIx64 " bytes for 0x%"
             PRIx64 ") is not mapped any more", pin->ptr, pin->len,
             pin->ram_addr);
        return;
    }
    if (pin->kind == XEN_MAPCACHE_RAM ?
        wrong_pin_bytes(&f->m, pin->ptr, pin->gaddr, pin->len) :
        wrong_grant_bytes(pin->ptr, pin->gaddr,
                          pin->ram_addr % PAGE_SIZE_4K, pin->len)) {
        fail(f, "pin-wrong-bytes", "pin %p for 0x%" PRIx64 " shows the "
             "wrong bytes", pin->ptr, pin->ram_addr);
    }
}

static void check_all_pins(Fuzz *f)
{
    guint i;

    for (i = 0; i < f->m.pins->len; i++) {
        check_pin(f, pin_at(&f->m, i));
    }
}

/* After every operation: nothing unmapped under a reader, nothing wrong. */
static void check_fake(Fuzz *f)
{
    FakeXenStats s = fake_stats();

    if (s.violations) {
        fail(f, "fake-violation", "%" PRIu64 " reader-registry violations",
             s.violations);
    }
    if (s.bad_unmaps) {
        fail(f, "fake-bad-unmap", "%" PRIu64 " unmaps of ranges never "
             "mapped", s.bad_unmaps);
    }
}

/* Before an operation: what check_notify() compares with. */
static void notify_op_start(Fuzz *f)
{
    XenMapCacheTestNotifyCheck c;

    xen_mapcache_test_notify_check(&c);
    f->notify_errors = c.errors;
}

/*
 * A grant mapping released off the main loop is unmapped at once and
 * withdrawn from the notifiers later, by the main loop (the one ordering
 * the core's top comment says it cannot keep).  The core keeps its
 * addresses with a placeholder until then, so no new mapping is
 * announced there first (fuzz/corpus/finding-grant-removal-after-reuse*
 * found it did): nothing is tolerated.
 */
static bool notify_reuse_before_grant_removal_tolerated(const Model *m)
{
    (void)m;
    return false;
}

/*
 * After every operation: the RAM block notifiers were called in pairs,
 * and only where the block RAM registrar may run (the main thread).
 */
static void check_notify(Fuzz *f)
{
    XenMapCacheTestNotifyCheck c;

    xen_mapcache_test_notify_check(&c);
    if (c.errors != f->notify_errors &&
        !notify_reuse_before_grant_removal_tolerated(&f->m)) {
        g_autofree char *report = xen_mapcache_test_notify_report();

        fail(f, "notify-errors", "%" PRIu64 " RAM block notifier calls "
             "unpaired or outside the main thread:\n%s",
             c.errors - f->notify_errors, report);
    }
}

static void check_stats_consistent(Fuzz *f)
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        XenMapCacheStats s;

        if (!xen_map_cache_get_stats(kind, &s)) {
            continue;
        }
        if (s.mapped_bytes != s.live_bytes + s.pending_bytes ||
            s.pinned_entries > s.entries || s.pinned_bytes > s.live_bytes ||
            s.limit_bytes != f->m.limit) {
            fail(f, "stats-inconsistent", "cache %d: mapped %" PRIu64
                 " live %" PRIu64 " pending %" PRIu64 " pinned %" PRIu64
                 "/%" PRIu64 " entries, limit %" PRIu64 " (want %" PRIu64
                 ")", kind, s.mapped_bytes, s.live_bytes, s.pending_bytes,
                 s.pinned_entries, s.entries, s.limit_bytes, f->m.limit);
        }
        if (model_pins_of_kind(&f->m, kind) && !s.pinned_entries) {
            fail(f, "stats-pins", "cache %d has no pinned entry, the model "
                 "%u pins", kind, model_pins_of_kind(&f->m, kind));
        }
    }
}

/*
 * The second thread: lock0 reads in read sections (declared to the
 * fake's reader registry) and DMA pins of its own, in the upper half of
 * guest RAM, which has no holes.  Its requests never get NULL, are never
 * oversize, take no DMA pin and emit none of the events counted.  They
 * may get a dummy, during or after incoming migration, when the main
 * thread made one for a request that ran past the end of guest RAM.
 */

/*
 * When entries leave the cache.  One small function per rule of the
 * contract (the top comment of hw/xen/xen-mapcache.c), so that the model
 * follows the core when a rule changes; the checks below apply them.
 */

/* How a rule answers whether an entry is released at some point. */
typedef enum Release {
    RELEASE_NEVER,
    RELEASE_MAY,
    RELEASE_MUST,
} Release;

/*
 * The last unpin of a guest RAM entry: a dummy goes once incoming
 * migration has ended; any other entry goes back among the unpinned ones
 * and stays cached, unless the cache is over its limit, where making room
 * may take it (or others) out.
 */
static Release release_at_last_unpin(const Model *m, const Entry *e,
                                     bool over_limit)
{
    if (e && e->dummy && !m->inmigrate) {
        return RELEASE_MUST;
    }
    return over_limit ? RELEASE_MAY : RELEASE_NEVER;
}

/* A dummy serves requests during incoming migration only. */
static bool dummy_serves(const Model *m)
{
    return m->inmigrate;
}

/*
 * Unmapping an entry that left the cache waits for a grace period only
 * if a reader may point into it: it was handed out unpinned.
 */
static Release release_waits_for_grace_period(const Entry *e)
{
    return e->lock0 ? RELEASE_MAY : RELEASE_NEVER;
}

/*
 * A mapping refused with ENOMEM: the cache evicts what it may unmap now
 * and retries once, even if it evicted nothing; a second refusal exits.
 * One injected ENOMEM is then always answered.
 */
static bool enomem_retry_needs_freeable(void)
{
    return false;
}

/*
 * Out of address space in an IOThread, the cache evicts what no reader
 * holds, hands what the notifiers know to the main loop, and then waits
 * (a second at most) for the main loop to unmap it before it retries.
 * The target runs no main loop meanwhile, so the wait would only time
 * out: no ENOMEM is injected in an IOThread.
 */
static bool enomem_waits_for_main_loop(Fuzz *f)
{
    return f->m.iothread;
}

/* xen_map_cache_init_limit(): 0 (no limit of the user's), or a bucket. */
static bool init_limit_accepted(uint64_t limit)
{
    return !limit || limit >= BUCKET_SIZE;
}

/*
 * The limit the cache takes: the cap bounds it, and so would a finite
 * RLIMIT_AS (lifted as root; the target assumes none).
 */
static uint64_t init_limit_effective(uint64_t limit)
{
    return limit ? MIN(limit, CACHE_CAP) : CACHE_CAP;
}

/* Any other unpinned entry, at an unpin: only to make room. */
static Release release_others_at_unpin(bool over_limit)
{
    return over_limit ? RELEASE_MAY : RELEASE_NEVER;
}

/* A grant mapping: unmapped at its last unpin, before the call returns. */
static bool grant_released_at_last_unpin(void)
{
    return true;
}

/*
 * Incoming migration ends: the cache is not told, so its unpinned
 * dummies stay (serving nothing) until they are evicted, recycled or
 * flushed; a pinned one goes at its last unpin.
 */
static Release release_dummies_at_migration_end(void)
{
    return RELEASE_NEVER;
}

/* A flush: every unpinned guest RAM entry leaves, dummies too. */
static bool flush_releases_every_unpinned(void)
{
    return true;
}

/* A grace period: every release queued before it has run at its end. */
static bool grace_period_runs_every_release(void)
{
    return true;
}

/*
 * The main loop's bottom half: every announcement and every release
 * handed to it (from an IOThread) is done.
 */
static bool main_loop_runs_every_handed_release(void)
{
    return true;
}

/*
 * Grace periods after an entry leaves its recent slot before it is
 * freeable for sure: its stamp asks for the first grace-period callback
 * queued from then on, and one may already be in flight, queued before
 * (it then queues the next one as it runs).
 */
#define FREEABLE_GRACE_PERIODS 2

/* Does the model hold a pin into the RAM entry at @base? */
static bool model_entry_pinned(Model *m, const uint8_t *base)
{
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        if (pin_at(m, i)->kind == XEN_MAPCACHE_RAM &&
            pin_at(m, i)->entry_base == base) {
            return true;
        }
    }
    return false;
}

static const Pin *model_pin_of(Model *m, const uint8_t *ptr)
{
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        if (pin_at(m, i)->ptr == ptr) {
            return pin_at(m, i);
        }
    }
    return NULL;
}

/* Did @rule allow the entry at @base to leave (@left) or stay? */
static void check_release(Fuzz *f, const char *id, Release rule,
                          const uint8_t *base, bool left, const char *when)
{
    if ((rule == RELEASE_NEVER && left) || (rule == RELEASE_MUST && !left)) {
        fail(f, id, "the entry at %p %s %s", base,
             left ? "left the cache" : "stayed in the cache", when);
    }
}

/* After an unpin of @pin (the model's pin, already forgotten). */
static void check_unpin_releases(Fuzz *f, const Pin *pin, bool over_limit)
{
    bool last = !model_entry_pinned(&f->m, pin->entry_base);
    guint i;

    if (pin->kind != XEN_MAPCACHE_RAM) {
        return;
    }
    for (i = reg.call_gone; i < reg.gone->len; i++) {
        const Entry *e = entry_at(reg.gone, i);

        if (e->base != pin->entry_base) {
            check_release(f, "unpin-released-other",
                          release_others_at_unpin(over_limit), e->base, true,
                          "at an unpin of another entry");
        }
    }
    if (last) {
        Entry *e = reg_entry(pin->entry_base);
        bool left = reg_left_in_call(pin->entry_base);

        check_release(f, "unpin-release", release_at_last_unpin(
                          &f->m, e ? e : entries_find(reg.gone,
                                                      pin->entry_index,
                                                      pin->entry_base, 0,
                                                      false),
                          over_limit),
                      pin->entry_base, left, "at its last unpin");
    }
}

/* After a flush: which entries are left. */
static void check_flush_released(Fuzz *f)
{
    XenMapCacheStats s = cache_stats(XEN_MAPCACHE_RAM);
    guint i;

    if (!flush_releases_every_unpinned()) {
        return;
    }
    if (s.entries != s.pinned_entries) {
        fail(f, "flush-kept", "after a flush, %" PRIu64 " entries, %"
             PRIu64 " of them pinned", s.entries, s.pinned_entries);
    }
    for (i = 0; i < reg.live->len; i++) {
        const Entry *e = entry_at(reg.live, i);

        if (!model_entry_pinned(&f->m, e->base)) {
            fail(f, "flush-kept-unpinned", "after a flush, the entry at %p "
                 "(index 0x%" PRIx64 "), pinned by no one, is still traced "
                 "as in the cache", e->base, e->index);
        }
    }
}

/* After a grace period ended outside any read section. */
static void check_grace_period_released(Fuzz *f)
{
    XenMapCacheKind kind;

    if (!grace_period_runs_every_release()) {
        return;
    }
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        XenMapCacheStats s;

        if (xen_map_cache_get_stats(kind, &s) &&
            s.releases_done != s.releases_queued) {
            fail(f, "grace-pending", "cache %d: after a grace period, %"
                 PRIu64 " of %" PRIu64 " releases done", kind,
                 s.releases_done, s.releases_queued);
        }
    }
}

/* After the main loop ran what it was handed. */
static void check_main_loop_released(Fuzz *f)
{
    XenMapCacheKind kind;

    if (!main_loop_runs_every_handed_release()) {
        return;
    }
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        XenMapCacheStats s;

        if (xen_map_cache_get_stats(kind, &s) &&
            s.pending_ranges != s.releases_queued - s.releases_done) {
            fail(f, "main-loop-pending", "cache %d: after the main loop "
                 "ran, %" PRIu64 " ranges pending, %" PRIu64 " of them "
                 "waiting for a grace period", kind, s.pending_ranges,
                 s.releases_queued - s.releases_done);
        }
    }
}

/* After every operation: how the entries that left were unmapped. */
static void check_release_kinds(Fuzz *f)
{
    guint i;

    for (i = 0; i < reg.gone->len; i++) {
        const Entry *e = entry_at(reg.gone, i);

        if (e->queued) {
            check_release(f, "release-waited",
                          release_waits_for_grace_period(e), e->base, true,
                          "through call_rcu(), never handed out unpinned");
        }
    }
}

/* After every operation: the entries followed are the cache's. */
static void check_registry(Fuzz *f)
{
    XenMapCacheStats s;

    if (xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &s) &&
        s.entries != reg.live->len) {
        fail(f, "registry", "the cache has %" PRIu64 " entries, its trace "
             "events say %u", s.entries, reg.live->len);
    }
}

/* After a change of runstate (@ended: incoming migration ended). */
static void check_migration_end_releases(Fuzz *f, bool ended)
{
    Release rule = ended ? release_dummies_at_migration_end() :
                           RELEASE_NEVER;
    g_autoptr(GArray) dummies = reg_dummies(false);
    guint i;

    for (i = 0; i < reg.gone->len; i++) {
        const Entry *e = entry_at(reg.gone, i);

        check_release(f, "runstate-released",
                      e->dummy && !model_entry_pinned(&f->m, e->base) ?
                      rule : RELEASE_NEVER, e->base, true,
                      "at a change of runstate");
    }
    for (i = 0; i < dummies->len; i++) {
        const Entry *e = entry_at(dummies, i);

        check_release(f, "runstate-kept",
                      model_entry_pinned(&f->m, e->base) ? RELEASE_NEVER :
                      rule, e->base, false, "at the end of incoming "
                      "migration");
    }
}

/*
 * Operations: each has a decoder (its arguments, from the input, knowing
 * the model) and a runner (the call, then its oracle).
 */

typedef struct OpType {
    const char *name;
    const char *args[OP_ARGS + 1];  /* NULL-terminated */
    void (*gen)(Fuzz *f, Op *op);
    void (*run)(Fuzz *f, const Op *op);
} OpType;

struct Op {
    const OpType *type;
    uint64_t a[OP_ARGS];
};

/* Pointers passed to xen_invalidate_map_cache_entry() and the lookup. */
typedef enum PtrClass {
    PTR_PINNED,     /* exactly as returned by a lock1 request */
    PTR_MIDDLE,     /* inside a pinned range */
    PTR_END,        /* one past a pinned range */
    PTR_NULL,
    PTR_STACK,
    PTR_FREED,      /* heap memory freed before the call */
    PTR_STALE,      /* pinned once, unpinned since */
    PTR__MAX,
} PtrClass;

/* --- init: teardown (if up) and set up again --- */

static void limit_pick(Fuzz *f, uint64_t *limit, uint64_t *bad)
{
    static const uint64_t limits[] = {
        BUCKET_SIZE, BUCKET_SIZE + 1, 3 * BUCKET_SIZE, 8 * MiB, 64 * MiB,
        256 * MiB, CACHE_CAP, CACHE_CAP + 1, SIZE_MAX,
    };
    static const uint64_t bad_limits[] = {
        0, 1, 4096, BUCKET_SIZE - 1,
    };

    *limit = limits[rnd(f, ARRAY_SIZE(limits))];
    *bad = chance(f, 30) ? bad_limits[rnd(f, ARRAY_SIZE(bad_limits))] :
                           UINT64_MAX;
}

enum { INIT_LIMIT, INIT_BAD_LIMIT, INIT_HOLES };

static void gen_init(Fuzz *f, Op *op)
{
    limit_pick(f, &op->a[INIT_LIMIT], &op->a[INIT_BAD_LIMIT]);
    op->a[INIT_HOLES] = chance(f, 80) ? in_bytes(f, 4) | 1 : 0;
}

/* splitmix64: the hole layout of a seed, the same on every host. */
static uint64_t holes_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Holes from @seed (0: none): the dummy bucket, and a few runs. */
static void model_set_holes(Model *m, uint64_t seed)
{
    uint64_t state = seed;
    int i, runs;

    bitmap_zero(m->holes, RAM_PAGES);
    if (!seed) {
        return;
    }
    bitmap_set(m->holes, DUMMY_BUCKET * BUCKET_SIZE / PAGE_SIZE_4K,
               BUCKET_SIZE / PAGE_SIZE_4K);
    runs = 1 + holes_next(&state) % HOLE_RUNS_MAX;
    for (i = 0; i < runs; i++) {
        uint64_t pfn = holes_next(&state) %
                       (HOLE_PAGES - HOLE_RUN_PAGES_MAX);

        bitmap_set(m->holes, pfn,
                   1 + holes_next(&state) % (HOLE_RUN_PAGES_MAX - 1));
    }
}

/*
 * Give the fake the holes of @seed, unless it has them already: it
 * outlives inputs (LLVMFuzzerInitialize()), and setting them walks every
 * page of guest RAM.
 */
static void fake_set_holes(Model *m, uint64_t seed)
{
    static bool set;
    static uint64_t set_seed;
    uint64_t pfn = 0, end;

    if (set && set_seed == seed) {
        return;
    }
    set = true;
    set_seed = seed;
    fake_xen_set_hole(0, RAM_PAGES, false);
    while ((pfn = find_next_bit(m->holes, RAM_PAGES, pfn)) < RAM_PAGES) {
        end = find_next_zero_bit(m->holes, RAM_PAGES, pfn);
        fake_xen_set_hole(pfn, end - pfn, true);
        pfn = end;
    }
}

/* After xen_map_cache_fini(): nothing left mapped, announced or known. */
static void oracle_fini(Fuzz *f)
{
    XenMapCacheTestCounts c;
    FakeXenStats s = fake_stats();
    XenMapCacheStats stats;
    XenMapCacheKind kind;

    if (s.live_ranges || s.live_pages) {
        fail(f, "fini-live", "after fini, %" PRIu64 " ranges (%" PRIu64
             " pages) still mapped", s.live_ranges, s.live_pages);
    }
    xen_mapcache_test_get_counts(&c);
    if (c.notify_adds - f->m.notify_at_init.notify_adds !=
        c.notify_removes - f->m.notify_at_init.notify_removes ||
        c.notified_bytes != f->m.notify_at_init.notified_bytes) {
        fail(f, "fini-notify", "after fini, %" PRIu64 " notify_add and %"
             PRIu64 " notify_remove, %" PRId64 " bytes still announced",
             c.notify_adds - f->m.notify_at_init.notify_adds,
             c.notify_removes - f->m.notify_at_init.notify_removes,
             c.notified_bytes - f->m.notify_at_init.notified_bytes);
    }
    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        if (xen_map_cache_get_stats(kind, &stats)) {
            fail(f, "fini-stats", "after fini, cache %d still exists", kind);
        }
    }
}

static void run_fini(Fuzz *f, const Op *op)
{
    if (!f->m.up) {
        return;
    }
    play_main_loop(true);
    xen_map_cache_fini();
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    f->m.up = false;
    model_reset(&f->m);
    oracle_fini(f);
}

/* xen_map_cache_init_limit(): false below one bucket, else the cap. */
static bool oracle_init_limit(Fuzz *f, uint64_t limit)
{
    Error *err = NULL;
    bool ok = xen_map_cache_init_limit(NULL, NULL, limit, &err);
    bool want = init_limit_accepted(limit);

    if (ok != want || !ok != !!err) {
        fail(f, "init-limit", "init_limit(0x%" PRIx64 ") returned %d "
             "(error %s), expected %d", limit, ok,
             err ? error_get_pretty(err) : "not set", want);
    }
    if (err) {
        error_free(err);
    }
    if (ok && cache_stats(XEN_MAPCACHE_RAM).limit_bytes !=
              init_limit_effective(limit)) {
        fail(f, "init-limit-cap", "limit 0x%" PRIx64 " became 0x%" PRIx64
             ", expected 0x%" PRIx64, limit,
             cache_stats(XEN_MAPCACHE_RAM).limit_bytes,
             init_limit_effective(limit));
    }
    if (!ok && xen_map_cache_get_stats(XEN_MAPCACHE_RAM,
                                       &(XenMapCacheStats) {})) {
        fail(f, "init-limit-half", "a refused init_limit left a cache");
    }
    return ok;
}

static void run_init(Fuzz *f, const Op *op)
{
    uint64_t limit = op->a[INIT_LIMIT], bad = op->a[INIT_BAD_LIMIT];

    run_fini(f, op);
    model_set_holes(&f->m, op->a[INIT_HOLES]);
    fake_set_holes(&f->m, op->a[INIT_HOLES]);
    if (bad != UINT64_MAX && oracle_init_limit(f, bad)) {
        xen_map_cache_fini();
    }
    xen_mapcache_test_get_counts(&f->m.notify_at_init);
    f->m.up = oracle_init_limit(f, limit);
    f->m.limit = init_limit_effective(limit);
}

/* --- map: xen_map_cache() on guest RAM or another RAM block --- */

enum { MAP_REGION, MAP_ADDR, MAP_SIZE, MAP_LOCK, MAP_DMA, MAP_WRITE,
       MAP_ENOMEM };

static uint64_t gen_addr(Fuzz *f)
{
    Model *m = &f->m;

    switch (rnd(f, 12)) {
    case 0:
        return rnd(f, 4 * BUCKET_SIZE);
    case 1:
        return UINT64_MAX - rnd(f, 3 * BUCKET_SIZE);
    case 2:
        return RAM_BYTES - 2 * BUCKET_SIZE + rnd(f, 4 * BUCKET_SIZE);
    case 3:
        return ((uint64_t)1 << (32 + rnd(f, 32))) - rnd(f, 2 * BUCKET_SIZE);
    case 4:
        return DUMMY_BUCKET * BUCKET_SIZE + rnd(f, BUCKET_SIZE);
    case 5:
        return rnd(f, HOLE_PAGES) * PAGE_SIZE_4K + rnd(f, 64) * 64;
    case 6:
        return rnd(f, RAM_BYTES / BUCKET_SIZE) * BUCKET_SIZE -
               rnd(f, PAGE_SIZE_4K);
    case 7:
        if (m->pins->len) {
            return pin_at(m, rnd(f, m->pins->len))->ram_addr;
        }
        /* fall through */
    case 8:
        return rnd64(f);
    default:
        return rnd(f, RAM_BYTES);
    }
}

static uint64_t gen_size(Fuzz *f)
{
    uint64_t limit = f->m.limit;

    switch (rnd(f, 200)) {
    case 0:
        return UINT64_MAX - rnd(f, 5 * BUCKET_SIZE);
    case 1:
        /* Not where it may make a dummy: that many GiB may not exist. */
        if (!f->m.inmigrate) {
            return CACHE_CAP - BUCKET_SIZE + rnd(f, 3 * BUCKET_SIZE);
        }
        return BUCKET_SIZE;
    case 2:
        return (uint64_t)1 << (32 + rnd(f, 32));
    case 110 ... 119:
        return rnd64(f);
    case 3 ... 19:
        return 0;
    case 20 ... 34:
        return 1;
    case 35 ... 54:
        return BUCKET_SIZE - rnd(f, 2 * PAGE_SIZE_4K) +
               rnd(f, 3 * PAGE_SIZE_4K);
    case 55 ... 69:
        return rnd(f, 4 * BUCKET_SIZE) + 1;
    case 70 ... 79:
        return MIN(limit, (uint64_t)64 * MiB) - BUCKET_SIZE +
               rnd(f, 2 * BUCKET_SIZE);
    case 80 ... 109:
        return PAGE_SIZE_4K * (1 + rnd(f, 16));
    default:
        return 1 + rnd(f, 64 * KiB);
    }
}

static uint64_t gen_lock(Fuzz *f)
{
    static const uint64_t locks[] = { 0, 0, 0, 1, 1, 1, 255, 2, 128 };

    return locks[rnd(f, ARRAY_SIZE(locks))];
}

/*
 * One ENOMEM is injected only where the answer is known: the retry
 * succeeds.  If the retry needs something freed first
 * (enomem_retry_needs_freeable()), only right after a "freeable"
 * operation made such an entry, in the main thread (elsewhere the cache
 * frees nothing at once), at another bucket, if the request cannot make
 * the cache free that entry to stay within its limit first.
 */
static bool may_inject_enomem(Fuzz *f, uint64_t addr, uint64_t size)
{
    XenMapCacheStats s = cache_stats(XEN_MAPCACHE_RAM);
    uint64_t len;

    if (enomem_waits_for_main_loop(f)) {
        return false;
    }
    if (!enomem_retry_needs_freeable()) {
        return true;
    }
    return f->m.freeable && !f->m.iothread &&
           addr >> BUCKET_SHIFT != f->m.freeable_index &&
           request_len(addr, size, &len) &&
           span_bytes(addr, len, BUCKET_SIZE) <= f->m.limit &&
           s.mapped_bytes + span_bytes(addr, len, BUCKET_SIZE) <= f->m.limit;
}

static void gen_map(Fuzz *f, Op *op)
{
    op->a[MAP_REGION] = chance(f, 10);
    op->a[MAP_ADDR] = gen_addr(f);
    op->a[MAP_SIZE] = gen_size(f);
    op->a[MAP_LOCK] = gen_lock(f);
    op->a[MAP_DMA] = chance(f, 70);
    op->a[MAP_WRITE] = chance(f, 50);
    op->a[MAP_ENOMEM] = in_bool(f) &&
                        may_inject_enomem(f, op->a[MAP_ADDR],
                                          op->a[MAP_SIZE]);
}

/*
 * What a guest RAM request may get.  A dummy serves any request at its
 * index that it is large enough for (its pages are all valid), so one
 * may answer wherever the cache holds one; a request touching a hole
 * gets it for sure then.
 */
static Expect expect_ram(Fuzz *f, uint64_t addr, uint64_t size)
{
    Model *m = &f->m;
    Expect e = { .why = "served" };
    uint64_t len, span;
    bool dummy;

    if (!request_len(addr, size, &len) ||
        span_bytes(addr, len, BUCKET_SIZE) > CACHE_CAP) {
        e.may_null = e.nothing_mapped = true;
        e.why = "too large";
        expect_event(&e, EV_TOO_LARGE, 1, 1);
        return e;
    }
    span = span_bytes(addr, len, BUCKET_SIZE);
    e.over_limit = span > m->limit;
    dummy = dummy_serves(m) &&
            reg_dummy(addr >> BUCKET_SHIFT, NULL, span, false);
    if (model_invalid(m, addr, len)) {
        e.why = m->inmigrate ? "hole: a dummy" :
                dummy ? "hole: the dummy there" : "hole";
        e.may_dummy = m->inmigrate || dummy;
        e.may_null = !m->inmigrate && !dummy;
    } else {
        e.may_real = true;
        e.may_dummy = dummy;
    }
    return e;
}

/* Check a non-NULL answer @p for @len bytes; returns the dummy's base. */
static uint8_t *check_ram_answer(Fuzz *f, const Expect *e, uint64_t addr,
                                 uint64_t len, uint8_t *p)
{
    uint8_t *base = p - (addr & (BUCKET_SIZE - 1));

    if (fake_xen_is_live(p, 1)) {
        if (!e->may_real) {
            fail(f, "map-not-null", "map 0x%" PRIx64 "+0x%" PRIx64 ": got "
                 "foreign frames at %p, expected %s", addr, len, p, e->why);
        } else if (!fake_xen_is_live(p, len)) {
            fail(f, "map-short", "map 0x%" PRIx64 "+0x%" PRIx64 ": %p is "
                 "not mapped for the whole length", addr, len, p);
        } else if (wrong_ram_bytes(p, addr, len)) {
            fail(f, "map-wrong-bytes", "map 0x%" PRIx64 "+0x%" PRIx64
                 ": %p shows the wrong guest bytes", addr, len, p);
        }
        return NULL;
    }
    if (!e->may_dummy) {
        fail(f, "map-unexpected-dummy", "map 0x%" PRIx64 "+0x%" PRIx64
             ": %p is not a foreign mapping (a dummy?), expected %s", addr,
             len, p, e->why);
        return NULL;
    }
    if (!reg_dummy(addr >> BUCKET_SHIFT, base, span_bytes(addr, len,
                                                          BUCKET_SIZE),
                   true)) {
        fail(f, "map-unknown-dummy", "map 0x%" PRIx64 "+0x%" PRIx64
             ": %p is in no dummy of that index and size that the cache "
             "traced", addr, len, p);
        return NULL;
    }
    touch(p);
    touch(p + len - 1);
    return base;
}

static void check_map_counters(Fuzz *f, const char *op, const Expect *e,
                               bool pin, XenMapCacheStats *before,
                               XenMapCacheStats *after,
                               const FakeXenStats *fake_before, uint8_t *p)
{
    uint64_t oversize = after->oversize - before->oversize;
    uint64_t nulls = after->null_returns - before->null_returns;
    FakeXenStats fake_after = fake_stats();

    if (e->nothing_mapped &&
        (fake_after.map_calls != fake_before->map_calls ||
         fake_after.grant_map_calls != fake_before->grant_map_calls)) {
        fail(f, op_id(op, "mapped"), "%s: refused (%s), yet the hypervisor "
             "was asked for a mapping", op, e->why);
    }

    if (nulls != !p) {
        fail(f, op_id(op, "null-returns"), "%s: null_returns "
             "+%" PRIu64 " for a %s answer", op, nulls, p ? "non-NULL" :
             "NULL");
    }
    if (oversize != (p && e->over_limit)) {
        fail(f, op_id(op, "oversize"), "%s: oversize +%"
             PRIu64 ", expected %d", op, oversize, p && e->over_limit);
    }
    if ((pin ? after->lookups_lock1 - before->lookups_lock1 :
         after->lookups_lock0 - before->lookups_lock0) != 1) {
        fail(f, op_id(op, "lookups"), "%s: lookups of lock%d "
             "not counted once", op, pin);
    }
}

/* Served over the limit: counted and traced; NULL: neither. */
static void oracle_map_answer(Fuzz *f, const char *op, Expect *e,
                              uint64_t addr, uint64_t size, uint8_t *p)
{
    if (!p && !e->may_null) {
        fail(f, op_id(op, e->over_limit ? "null-oversize" : "null"),
             "%s 0x%" PRIx64 "+0x%"
             PRIx64 ": NULL, expected %s", op, addr, size, e->why);
    }
    if (p && !e->may_real && !e->may_dummy) {
        fail(f, op_id(op, "not-null"), "%s 0x%" PRIx64 "+0x%" PRIx64
             ": got %p, expected NULL (%s)", op, addr, size, p, e->why);
    }
    if (e->over_limit) {
        expect_event(e, EV_OVERSIZE, !!p, !!p);
    }
    check_events(f, op, e);
}

/*
 * Inject ENOMEM into the next foreign mapping; @enomem_done then says
 * whether it was made (the request missed), and with it one retry event.
 */
static uint64_t enomem_arm(bool enomem)
{
    if (enomem) {
        fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 1, ENOMEM);
    }
    return fake_stats().failures_injected;
}

static void enomem_done(Expect *e, bool enomem, uint64_t injected)
{
    unsigned retries = fake_stats().failures_injected - injected;

    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 0, 0);
    if (enomem) {
        expect_event(e, EV_ENOMEM_RETRY, retries, retries);
    }
}

/*
 * The request and its checks run in a read section, as QEMU's callers
 * make them: a lock0 pointer is only valid there.
 */
static void run_map(Fuzz *f, const Op *op)
{
    MemoryRegion *mr = op->a[MAP_REGION] ? &xen_mapcache_test_other_mr :
                                           &xen_mapcache_test_ram_mr;
    uint64_t addr = op->a[MAP_ADDR], size = op->a[MAP_SIZE], len;
    uint64_t injected;
    uint8_t lock = op->a[MAP_LOCK];
    Expect e = expect_ram(f, addr, size);
    XenMapCacheStats before = all_stats(), after;
    FakeXenStats fake_before = fake_stats();
    uint8_t *p, *dummy_base = NULL;

    request_len(addr, size, &len);
    reg_counts_clear();
    injected = enomem_arm(op->a[MAP_ENOMEM]);
    RCU_READ_LOCK_GUARD();
    p = xen_map_cache(mr, addr, size, 0, lock, op->a[MAP_DMA],
                      op->a[MAP_WRITE]);
    enomem_done(&e, op->a[MAP_ENOMEM], injected);
    after = all_stats();
    if (!e.nothing_mapped) {
        reg_after_map(&f->m, addr, span_bytes(addr, len, BUCKET_SIZE));
    }
    oracle_map_answer(f, "map", &e, addr, size, p);
    check_map_counters(f, "map", &e, lock, &before, &after, &fake_before, p);
    if (!p || (!e.may_real && !e.may_dummy)) {
        return;
    }
    dummy_base = check_ram_answer(f, &e, addr, len, p);
    if (lock && dummy_base) {
        *p = dummy_mark(p);
    }
    if (!lock) {
        reg_handed_out_unpinned(p);
    } else {
        const Entry *entry = reg_entry_holding(p);
        Pin pin = {
            .ptr = p, .ram_addr = addr, .gaddr = addr, .len = len,
            .entry_index = addr >> BUCKET_SHIFT,
            .entry_base = entry ? entry->base :
                                  p - (addr & (BUCKET_SIZE - 1)),
            .kind = XEN_MAPCACHE_RAM, .dma = op->a[MAP_DMA],
            .dummy_base = dummy_base,
        };

        model_add_pin(&f->m, &pin);
    }
}

/* --- grant: xen_map_cache() on the grant region (lock != 0) --- */

enum { GRANT_ADDR, GRANT_SIZE, GRANT_LOCK, GRANT_DMA, GRANT_WRITE };

static void gen_grant(Fuzz *f, Op *op)
{
    unsigned class = rnd(f, 11);
    uint64_t in_page, ref, pages, size;

    if (class == 10) {  /* raw */
        op->a[GRANT_ADDR] = rnd64(f);
        size = rnd64(f);
        goto args;
    }
    in_page = chance(f, 50) ? 0 : rnd(f, PAGE_SIZE_4K);
    ref = rnd(f, GRANT_PAGES);
    pages = 1 + rnd(f, MIN((uint64_t)4, GRANT_PAGES - ref));
    size = chance(f, 20) ? 0 : 1 + rnd(f, pages * PAGE_SIZE_4K - in_page);
    switch (class) {
    case 0:     /* beyond grant_ref_t: must not map ref & 0xffffffff */
        ref = ((uint64_t)1 << 32) + rnd(f, GRANT_PAGES) +
              (chance(f, 20) ? rnd64(f) % ((uint64_t)1 << 40) : 0);
        break;
    case 1:     /* the last grant_ref_t and past it */
        ref = UINT32_MAX;
        size = PAGE_SIZE_4K + 1 + rnd(f, 4 * PAGE_SIZE_4K);
        break;
    case 2:     /* below the region's RAM block */
        op->a[GRANT_ADDR] = GRANT_RAM_OFFSET - 1 - rnd(f, 4 * BUCKET_SIZE);
        goto args;
    case 3:     /* near 2^64 */
        op->a[GRANT_ADDR] = UINT64_MAX - rnd(f, 4 * PAGE_SIZE_4K);
        goto args;
    case 4:     /* too large, or past grant_ref_t */
        if (chance(f, 50)) {
            size = UINT64_MAX - rnd(f, 8 * PAGE_SIZE_4K);
        } else {
            size = CACHE_CAP - PAGE_SIZE_4K + rnd(f, 2 * PAGE_SIZE_4K);
            ref = ((uint64_t)1 << 32) + ref;
        }
        break;
    }
    op->a[GRANT_ADDR] = GRANT_RAM_OFFSET + ref * PAGE_SIZE_4K + in_page;
args:
    op->a[GRANT_SIZE] = size;
    op->a[GRANT_LOCK] = 1 + rnd(f, 255);
    op->a[GRANT_DMA] = chance(f, 50);
    op->a[GRANT_WRITE] = chance(f, 50);
}

/*
 * What a grant request may get; *@fatal is set for a reference within
 * grant_ref_t that the granting domain did not grant (mapping fails:
 * exit).
 */
static Expect expect_grant(Model *m, uint64_t addr, uint64_t size,
                           bool *fatal)
{
    Expect e = { .why = "served", .may_real = true };
    uint64_t len, last_ref;
    bool too_large;

    *fatal = false;
    too_large = !request_len(addr, size, &len) ||
                span_bytes(addr, len, PAGE_SIZE_4K) > CACHE_CAP;
    if (addr < GRANT_RAM_OFFSET ||
        (addr - GRANT_RAM_OFFSET) / PAGE_SIZE_4K > UINT32_MAX ||
        (!too_large &&
         (addr - GRANT_RAM_OFFSET + len - 1) / PAGE_SIZE_4K > UINT32_MAX)) {
        e = (Expect) {
            .may_null = true, .nothing_mapped = true,
            .why = "bad grant reference",
        };
        if (too_large) {
            expect_one_of(&e, EV_TOO_LARGE, EV_BAD_GRANT_REF);
        } else {
            expect_event(&e, EV_BAD_GRANT_REF, 1, 1);
        }
        return e;
    }
    if (too_large) {
        e = (Expect) {
            .may_null = true, .nothing_mapped = true, .why = "too large",
        };
        expect_event(&e, EV_TOO_LARGE, 1, 1);
        return e;
    }
    last_ref = (addr - GRANT_RAM_OFFSET + len - 1) / PAGE_SIZE_4K;
    *fatal = last_ref >= GRANT_PAGES;
    e.over_limit = span_bytes(addr, len, PAGE_SIZE_4K) > m->limit;
    return e;
}

static void model_grant_pin(Fuzz *f, const Op *op, uint8_t *p, uint64_t len)
{
    uint64_t addr = op->a[GRANT_ADDR];
    Pin pin = {
        .ptr = p, .ram_addr = addr, .len = len,
        .gaddr = (addr - GRANT_RAM_OFFSET) / PAGE_SIZE_4K,
        .kind = grant_kind(op->a[GRANT_WRITE]), .dma = op->a[GRANT_DMA],
    };

    model_add_pin(&f->m, &pin);
    check_pin(f, &pin);
}

static void run_grant(Fuzz *f, const Op *op)
{
    uint64_t addr = op->a[GRANT_ADDR], size = op->a[GRANT_SIZE], len;
    bool fatal;
    Expect e = expect_grant(&f->m, addr, size, &fatal);
    XenMapCacheStats before = all_stats(), after;
    FakeXenStats fake_before = fake_stats();
    uint8_t *p;

    request_len(addr, size, &len);
    if (fatal) {
        return;     /* ends the process by contract: the unit tests' */
    }
    reg_counts_clear();
    p = xen_map_cache(&xen_mapcache_test_grants_mr, addr, size,
                      GRANT_RAM_OFFSET, op->a[GRANT_LOCK], op->a[GRANT_DMA],
                      op->a[GRANT_WRITE]);
    after = all_stats();
    if (p && !e.may_real) {
        uint64_t ref = (addr - GRANT_RAM_OFFSET) / PAGE_SIZE_4K;

        if (addr >= GRANT_RAM_OFFSET &&
            !wrong_grant_bytes(p, ref & UINT32_MAX, addr % PAGE_SIZE_4K, 1)) {
            fail(f, "grant-truncated", "grant reference 0x%" PRIx64 " mapped "
                 "grant 0x%" PRIx64 " instead of NULL", ref,
                 ref & UINT32_MAX);
        }
    }
    oracle_map_answer(f, "grant", &e, addr, size, p);
    check_map_counters(f, "grant", &e, true, &before, &after, &fake_before,
                       p);
    if (p && e.may_real) {
        model_grant_pin(f, op, p, len);
    }
}

/* --- unmap and reverse: pointers, known and unknown --- */

enum { PTR_CLASS, PTR_SELECT, PTR_OFFSET };

static void gen_ptr(Fuzz *f, Op *op)
{
    op->a[PTR_CLASS] = chance(f, 50) ? PTR_PINNED : rnd(f, PTR__MAX);
    op->a[PTR_SELECT] = rnd(f, 1024);
    op->a[PTR_OFFSET] = rnd(f, 1 << 20);
}

/* The pointer an unmap or reverse operation passes. */
static uint8_t *resolve_ptr(Fuzz *f, const Op *op, void *stack)
{
    Model *m = &f->m;
    const Pin *pin = m->pins->len ?
                     pin_at(m, op->a[PTR_SELECT] % m->pins->len) : NULL;
    void *freed;

    switch (op->a[PTR_CLASS]) {
    case PTR_PINNED:
        return pin ? pin->ptr : NULL;
    case PTR_MIDDLE:
        return pin && pin->len > 1 ?
               pin->ptr + 1 + op->a[PTR_OFFSET] % (pin->len - 1) : stack;
    case PTR_END:
        return pin ? pin->ptr + pin->len : stack;
    case PTR_STACK:
        return stack;
    case PTR_FREED:
        freed = g_malloc(64);
        g_free(freed);
        return freed;
    case PTR_STALE:
        return m->nr_stale ?
               m->stale[op->a[PTR_SELECT] % MIN(m->nr_stale,
                                                STALE_POINTERS)] : NULL;
    default:
        return NULL;
    }
}

static void pinned_per_kind(unsigned pinned[XEN_MAPCACHE_KIND__MAX])
{
    XenMapCacheKind kind;

    for (kind = 0; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        pinned[kind] = cache_stats(kind).pinned_entries;
    }
}

/* Grant mappings go back at their last unpin, before the call returns. */
static void check_grants_released(Fuzz *f)
{
    XenMapCacheKind kind;

    if (!grant_released_at_last_unpin()) {
        return;
    }
    for (kind = XEN_MAPCACHE_GRANTS_RO; kind <= XEN_MAPCACHE_GRANTS_RW;
         kind++) {
        XenMapCacheStats s = cache_stats(kind);

        if (!model_pins_of_kind(&f->m, kind) && s.entries) {
            fail(f, "grant-kept", "cache %d keeps %" PRIu64 " grant entries "
                 "after their last unpin", kind, s.entries);
        }
    }
}

static void run_unmap(Fuzz *f, const Op *op)
{
    uint8_t stack[16];
    uint8_t *p = resolve_ptr(f, op, stack);
    unsigned known = model_pins_of(&f->m, p);
    unsigned before[XEN_MAPCACHE_KIND__MAX], after[XEN_MAPCACHE_KIND__MAX];
    Expect e = { .why = known ? "a pinned pointer" : "an unknown pointer" };

    bool over_limit = cache_stats(XEN_MAPCACHE_RAM).mapped_bytes >
                      f->m.limit;
    Pin pin = known ? *model_pin_of(&f->m, p) : (Pin) { 0 };

    pinned_per_kind(before);
    reg_counts_clear();
    xen_invalidate_map_cache_entry(p);
    pinned_per_kind(after);
    expect_event(&e, EV_INVALIDATE_NOT_FOUND, !known, !known);
    check_events(f, "unmap", &e);
    if (known) {
        model_forget_pin(&f->m, p);
        f->m.grant_removal_deferred |= pin.kind != XEN_MAPCACHE_RAM &&
                                       f->m.iothread;
        check_unpin_releases(f, &pin, over_limit);
        check_grants_released(f);
    } else if (memcmp(before, after, sizeof(before))) {
        fail(f, "unmap-unknown-changed", "unmap of unknown %p changed the "
             "pinned entries", p);
    }
}

static void run_reverse(Fuzz *f, const Op *op)
{
    uint8_t stack[16];
    uint8_t *p = resolve_ptr(f, op, stack);
    Expect e = { .why = "reverse lookup" };
    ram_addr_t got;
    bool match = false;
    guint i;

    reg_counts_clear();
    got = xen_ram_addr_from_mapcache(p);
    for (i = 0; i < f->m.pins->len; i++) {
        match |= pin_at(&f->m, i)->ptr == p &&
                 pin_at(&f->m, i)->ram_addr == got;
    }
    if (model_pins_of(&f->m, p) ? !match : got != RAM_ADDR_INVALID) {
        fail(f, "reverse", "reverse lookup of %p (%u pins) gave 0x%"
             PRIx64, p, model_pins_of(&f->m, p), (uint64_t)got);
    }
    expect_event(&e, EV_REVERSE_NOT_FOUND, !model_pins_of(&f->m, p),
                 !model_pins_of(&f->m, p));
    check_events(f, "reverse", &e);
}

/* --- flush --- */

/*
 * One xen_invalidate_map_cache event per pin taken for DMA that is still
 * held (two DMA pins through one pointer: two).  Pins through one
 * pointer are one record, and an unpin drops one of them without saying
 * which: a pointer pinned now @r times, through @dma DMA pins and @other
 * others since it was last unpinned for good, holds between
 * max(0, r - other) and min(dma, r) DMA pins.
 *
 * The flush runs in the main thread, as its contract asks.
 */
static void run_flush(Fuzz *f, const Op *op)
{
    Expect e = { .why = "one event per DMA pin held" };
    unsigned lo = 0, hi = 0;
    GHashTableIter iter;
    gpointer ptr;

    g_hash_table_iter_init(&iter, f->m.taken);
    while (g_hash_table_iter_next(&iter, &ptr, NULL)) {
        unsigned r = model_pins_of(&f->m, ptr), dma, other;

        model_taken(&f->m, ptr, &dma, &other);
        lo += r > other ? r - other : 0;
        hi += MIN(dma, r);
    }
    expect_event(&e, EV_FLUSH_PIN, lo, hi);
    reg_counts_clear();
    play_main_loop(true);
    xen_invalidate_map_cache();
    play_main_loop(!f->m.iothread);
    check_events(f, "flush", &e);
    check_flush_released(f);
    check_all_pins(f);
}

/* --- a lock0 pointer held in a read section across a flush --- */

static void gen_held(Fuzz *f, Op *op)
{
    op->a[0] = UPPER_HALF + rnd(f, RAM_BYTES / 2 - 64 * KiB);
    op->a[1] = rnd(f, 64 * KiB);
}

static void run_held(Fuzz *f, const Op *op)
{
    uint64_t addr = op->a[0], len = MAX(op->a[1], 1);
    uint8_t *p;
    int token;

    WITH_RCU_READ_LOCK_GUARD() {
        reg_counts_clear();
        p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, op->a[1], 0, 0,
                          false, false);
        reg_after_map(&f->m, addr, span_bytes(addr, len, BUCKET_SIZE));
        reg_handed_out_unpinned(p);
        if (!p) {
            fail(f, span_bytes(addr, len, BUCKET_SIZE) > f->m.limit ?
                 "held-null-oversize" : "held-null",
                 "lock0 read of 0x%" PRIx64 "+0x%" PRIx64 " got NULL",
                 addr, len);
            return;
        }
        if (!fake_xen_is_live(p, 1)) {
            /* A dummy made for a larger request at this index? */
            if (!reg_dummy(addr >> BUCKET_SHIFT,
                           p - (addr & (BUCKET_SIZE - 1)),
                           span_bytes(addr, len, BUCKET_SIZE), true)) {
                fail(f, "held-unexpected-dummy", "lock0 read of 0x%" PRIx64
                     ": %p is not a foreign mapping", addr, p);
            }
            return;
        }
        token = fake_xen_reader_enter(p, len);
        if (wrong_ram_bytes(p, addr, len)) {
            fail(f, "held-wrong-bytes-before", "lock0 pointer %p for 0x%"
                 PRIx64 " shows the wrong bytes", p, addr);
        }
        play_main_loop(true);
        xen_invalidate_map_cache();
        play_main_loop(!f->m.iothread);
        if (wrong_ram_bytes(p, addr, len)) {
            fail(f, "held-wrong-bytes", "lock0 pointer %p for 0x%" PRIx64
                 " changed under its read section", p, addr);
        }
        fake_xen_reader_exit(token);
    }
}

/* --- replace --- */

enum { REPLACE_OLD, REPLACE_NEW, REPLACE_SIZE, REPLACE_ENOMEM };

/*
 * Which bytes are read does not depend on the dummies there are, so that
 * an input written by hand (a class byte, then a raw value) means the
 * same whatever the cache holds.
 */
static void gen_replace(Fuzz *f, Op *op)
{
    g_autoptr(GArray) dummies = reg_dummies(false);
    uint64_t pick = in_bytes(f, 1);
    const Entry *d = dummies->len ?
                     entry_at(dummies, pick % dummies->len) : NULL;
    bool at_dummy = chance(f, 80);
    uint64_t offset = rnd(f, BUCKET_SIZE);

    op->a[REPLACE_OLD] = d && at_dummy ? d->index * BUCKET_SIZE + offset :
                                         gen_addr(f);
    op->a[REPLACE_NEW] = chance(f, 80) ?
                         UPPER_HALF + rnd(f, RAM_BYTES / 2) : gen_addr(f);
    switch (rnd(f, 6)) {
    case 0:
        op->a[REPLACE_SIZE] = gen_size(f);
        break;
    case 1:
        op->a[REPLACE_SIZE] = d ? d->size : BUCKET_SIZE;
        break;
    case 2:
        op->a[REPLACE_SIZE] = d ? d->size + BUCKET_SIZE : 2 * BUCKET_SIZE;
        break;
    default:
        op->a[REPLACE_SIZE] = 1 + rnd(f, d ? d->size : BUCKET_SIZE);
        break;
    }
    /*
     * Right after "freeable", as for map (may_inject_enomem()): the
     * replace makes no room, so the entry is still there when its probe
     * fails.  Every dummy left is pinned then (the operation flushed the
     * others).
     */
    op->a[REPLACE_ENOMEM] = in_bool(f) && !enomem_waits_for_main_loop(f) &&
                            (!enomem_retry_needs_freeable() ||
                             (f->m.freeable && !f->m.iothread));
}

static bool dummy_pinned(Model *m, const Entry *d)
{
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        if (pin_at(m, i)->dummy_base == d->base) {
            return true;
        }
    }
    return false;
}

/*
 * The dummy a replace of (@old, @size) takes among @dummies, if any: one
 * of exactly the whole buckets the request rounds to, at its index; of
 * several, a pinned one, else the newest, as the cache's chain walk
 * picks.
 */
static const Entry *replace_candidate(Model *m, GArray *dummies,
                                      uint64_t old, uint64_t size)
{
    const Entry *found = NULL;
    uint64_t len, want;
    guint i;

    if (!size || !request_len(old, size, &len) ||
        span_bytes(old, len, BUCKET_SIZE) > CACHE_CAP) {
        return NULL;
    }
    want = span_bytes(old, len, BUCKET_SIZE);
    for (i = 0; i < dummies->len; i++) {
        const Entry *d = entry_at(dummies, i);

        if (d->index == old >> BUCKET_SHIFT && d->size == want) {
            if (dummy_pinned(m, d)) {
                return d;
            }
            found = d;
        }
    }
    return found;
}

/* After a successful replace: the dummy's pins show the new frames. */
static void model_dummy_replaced(Model *m, const Entry *d, uint64_t new_addr)
{
    uint64_t new_bucket = new_addr & ~(BUCKET_SIZE - 1);
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        Pin *pin = pin_at(m, i);

        if (pin->dummy_base == d->base) {
            pin->gaddr = new_bucket + (pin->ptr - d->base);
            pin->entry_index = new_addr >> BUCKET_SHIFT;
            pin->dummy_base = NULL;
        }
    }
    reg_replaced(d->base, new_addr >> BUCKET_SHIFT);
}

/* Does the new range fit the dummy, and is every page of it valid? */
static bool replace_new_ok(Model *m, uint64_t new, uint64_t size,
                           uint64_t dummy_size)
{
    uint64_t len;

    return request_len(new, size, &len) &&
           (new & (BUCKET_SIZE - 1)) + (unsigned __int128)len <= dummy_size &&
           !model_invalid(m, new, len);
}

/* @d: the dummy the replace must have replaced, or NULL for NULL. */
static void oracle_replace(Fuzz *f, const Op *op, uint8_t *p, const Entry *d)
{
    uint64_t new = op->a[REPLACE_NEW], size = op->a[REPLACE_SIZE];

    if (!p) {
        if (d) {
            fail(f, "replace-null", "replace 0x%" PRIx64 " -> 0x%" PRIx64
                 " size 0x%" PRIx64 ": NULL, expected the dummy at %p "
                 "replaced", op->a[REPLACE_OLD], new, size, d->base);
        }
        check_all_pins(f);
        return;
    }
    if (!d) {
        fail(f, "replace-not-null", "replace 0x%" PRIx64 " -> 0x%" PRIx64
             " size 0x%" PRIx64 ": got %p, expected NULL (no dummy of that "
             "exact size, a hole, or a new range larger than the dummy)",
             op->a[REPLACE_OLD], new, size, p);
        return;
    }
    if (p != d->base + (new & (BUCKET_SIZE - 1))) {
        fail(f, "replace-moved", "replace returned %p, not in place (%p)",
             p, d->base + (new & (BUCKET_SIZE - 1)));
    } else if (!fake_xen_is_live(p, size) ||
               wrong_ram_bytes(p, new, size)) {
        fail(f, "replace-wrong-bytes", "replace to 0x%" PRIx64 ": %p does "
             "not show the new frames", new, p);
    }
    model_dummy_replaced(&f->m, d, new);
    check_all_pins(f);
}

/* The answer follows from the dummies the cache held before the call. */
static void run_replace(Fuzz *f, const Op *op)
{
    uint64_t old = op->a[REPLACE_OLD], new = op->a[REPLACE_NEW];
    uint64_t size = op->a[REPLACE_SIZE], injected;
    g_autoptr(GArray) looked = reg_dummies(false);
    Expect e = { .why = "replace" };
    const Entry *d;
    uint8_t *p;

    reg_counts_clear();
    injected = enomem_arm(op->a[REPLACE_ENOMEM]);
    p = xen_replace_cache_entry(old, new, size);
    enomem_done(&e, op->a[REPLACE_ENOMEM], injected);
    if (!reg.replace_seen) {
        fail(f, "replace-no-trace", "replace 0x%" PRIx64 " traced no "
             "answer", old);
        return;
    }
    d = replace_candidate(&f->m, looked, old, size);
    if (!d) {
        expect_event(&e, EV_REPLACE_NO_DUMMY, 1, 1);
    } else if (!replace_new_ok(&f->m, new, size, d->size)) {
        expect_event(&e, EV_REPLACE_NOT_UPDATED, 1, 1);
        d = NULL;
    } else {
        expect_event(&e, EV_REPLACE_DUMMY, 1, 1);
    }
    oracle_replace(f, op, p, d);
    check_events(f, "replace", &e);
}

/* --- runstate, thread, check, grace --- */

static void gen_runstate(Fuzz *f, Op *op)
{
    op->a[0] = !f->m.inmigrate;
}

static void run_runstate(Fuzz *f, const Op *op)
{
    bool ended = f->m.inmigrate && !op->a[0];

    f->m.inmigrate = op->a[0];
    xen_mapcache_test_set_runstate(op->a[0] ? RUN_STATE_INMIGRATE :
                                              RUN_STATE_RUNNING);
    check_migration_end_releases(f, ended);
}

/*
 * Whether the calls from now on hold the BQL, as the main loop does, or
 * not, as an IOThread (qemu_in_main_thread() answers bql_locked()).
 */
static void gen_thread(Fuzz *f, Op *op)
{
    op->a[0] = in_bool(f);
}

static void run_thread(Fuzz *f, const Op *op)
{
    f->m.iothread = op->a[0];
    play_main_loop(!f->m.iothread);
}

/*
 * The main loop runs the bottom halves scheduled for it (what IOThreads
 * handed it), with the BQL: qemu_in_main_thread() is true there.
 */
static void run_main_loop(Fuzz *f, const Op *op)
{
    play_main_loop(true);
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* bottom halves scheduled by those that ran */
    }
    play_main_loop(!f->m.iothread);
    check_main_loop_released(f);
    check_all_pins(f);
}

static void run_check(Fuzz *f, const Op *op)
{
    check_all_pins(f);
    check_stats_consistent(f);
}

/*
 * A grace period ends: every callback queued so far runs, with the BQL
 * held, as in QEMU's RCU thread.
 */
static void run_grace(Fuzz *f, const Op *op)
{
    qemu_standin_rcu_grace_period();
    check_grace_period_released(f);
    check_all_pins(f);
}

/* --- freeable: an entry that the next operation's ENOMEM can free --- */

/* Buckets that share a recent slot are this many apart. */
#define RECENT_SLOTS 64

enum { FREEABLE_ADDR, FREEABLE_FLUSH, FREEABLE_REFERENCED };

static const OpType *op_type(const char *name);

static void gen_freeable(Fuzz *f, Op *op)
{
    op->a[FREEABLE_ADDR] = UPPER_HALF + rnd(f, RECENT_SLOTS) * BUCKET_SIZE;
    op->a[FREEABLE_FLUSH] = in_bool(f);
    op->a[FREEABLE_REFERENCED] = in_bool(f);
}

/* May a pinned entry or a dummy serve a request at @index? */
static bool bucket_taken(Model *m, uint64_t index)
{
    guint i;

    for (i = 0; i < m->pins->len; i++) {
        if (pin_at(m, i)->kind == XEN_MAPCACHE_RAM &&
            pin_at(m, i)->entry_index == index) {
            return true;
        }
    }
    return reg_dummy(index, NULL, 0, false);
}

/* Pin one byte at @addr and unpin it, with their oracles; the pointer. */
static uint8_t *pin_unpin(Fuzz *f, uint64_t addr)
{
    Op map = {
        .type = op_type("map"),
        .a = { [MAP_ADDR] = addr, [MAP_SIZE] = 1, [MAP_LOCK] = 1 },
    };
    Op unmap = { .type = op_type("unmap"), .a = { [PTR_CLASS] = PTR_PINNED } };
    guint pins = f->m.pins->len;
    uint8_t *p;

    run_map(f, &map);
    if (f->m.pins->len == pins) {
        return NULL;
    }
    p = pin_at(&f->m, pins)->ptr;
    unmap.a[PTR_SELECT] = pins;
    run_unmap(f, &unmap);
    return p;
}

/* A lock0 read of one byte at @addr, with its oracle. */
static void read_unpinned(Fuzz *f, uint64_t addr)
{
    Op map = {
        .type = op_type("map"),
        .a = { [MAP_ADDR] = addr, [MAP_SIZE] = 1, [MAP_LOCK] = 0 },
    };

    run_map(f, &map);
}

/*
 * Make an unpinned entry of guest RAM that is freeable for sure, in the
 * upper half of guest RAM (no holes there), at a bucket no pinned entry
 * or dummy is at:
 *
 * - if asked, flush: only pinned entries stay, so that the next request
 *   maps a new entry (else, if an entry there serves it, give up);
 * - pin and unpin it: the entry E, in its recent slot;
 * - if asked, read it unpinned: a lock-free hit, which sets E's CLOCK
 *   referenced bit (the ENOMEM retry frees referenced entries too);
 * - pin and unpin the bucket RECENT_SLOTS further on: its entry takes the
 *   slot, and E is stamped as it leaves it;
 * - FREEABLE_GRACE_PERIODS grace periods (see there).
 *
 * The model then knows E freeable until the next operation
 * (may_inject_enomem()), if nothing took it out meanwhile.  Other
 * entries may be freeable too: ENOMEM frees them as well.
 */
static void run_freeable(Fuzz *f, const Op *op)
{
    uint64_t first = op->a[FREEABLE_ADDR] >> BUCKET_SHIFT, index = 0;
    uint8_t *p;
    int i;

    f->m.freeable = NULL;
    for (i = 0; i < RECENT_SLOTS; i++) {
        index = UPPER_HALF / BUCKET_SIZE + (first + i) % RECENT_SLOTS;
        if (!bucket_taken(&f->m, index)) {
            break;
        }
    }
    if (i == RECENT_SLOTS) {
        return;
    }
    if (op->a[FREEABLE_FLUSH]) {
        run_flush(f, op);
    }
    /* What left the cache from now on; the flush freed ranges E may get. */
    reg_op_start();
    p = pin_unpin(f, index * BUCKET_SIZE);
    if (!p) {
        return;
    }
    if (!reg_made(index, p, false)) {
        if (op->a[FREEABLE_FLUSH]) {
            fail(f, "freeable-kept", "after a flush, a request at bucket 0x%"
                 PRIx64 ", where nothing is pinned, found an entry", index);
        }
        return;
    }
    if (op->a[FREEABLE_REFERENCED]) {
        read_unpinned(f, index * BUCKET_SIZE);
    }
    pin_unpin(f, (index + RECENT_SLOTS) * BUCKET_SIZE);
    for (i = 0; i < FREEABLE_GRACE_PERIODS; i++) {
        run_grace(f, op);
    }
    if (!reg_left(p)) {
        f->m.freeable = p;
        f->m.freeable_index = index;
    }
}


/*
 * --- the table: opcode = first byte modulo its size ---
 *
 * New operations go last: the opcodes of the kept inputs must not change.
 */

static const OpType op_types[] = {
    { "init", { "limit", "badlimit", "holes" }, gen_init, run_init },
    { "map", { "region", "addr", "size", "lock", "dma", "write", "enomem" },
      gen_map, run_map },
    { "grant", { "addr", "size", "lock", "dma", "write" },
      gen_grant, run_grant },
    { "unmap", { "ptr", "select", "offset" }, gen_ptr, run_unmap },
    { "reverse", { "ptr", "select", "offset" }, gen_ptr, run_reverse },
    { "flush", { NULL }, NULL, run_flush },
    { "held", { "addr", "size" }, gen_held, run_held },
    { "replace", { "old", "new", "size", "enomem" }, gen_replace,
      run_replace },
    { "runstate", { "inmigrate" }, gen_runstate, run_runstate },
    { "thread", { "iothread" }, gen_thread, run_thread },
    { "check", { NULL }, NULL, run_check },
    { "grace", { NULL }, NULL, run_grace },
    { "mainloop", { NULL }, NULL, run_main_loop },
    /* then a map or a replace may inject ENOMEM */
    { "freeable", { "addr", "flush", "referenced" }, gen_freeable,
      run_freeable },
};

/* Not decoded: every input ends with it (fuzz_teardown()). */
static const OpType fini_type = { "fini", { NULL }, NULL, run_fini };

static const OpType *op_type(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(op_types); i++) {
        if (!strcmp(op_types[i].name, name)) {
            return &op_types[i];
        }
    }
    g_assert(!strcmp(name, fini_type.name));
    return &fini_type;
}

/* "name key=value ...": for messages and XEN_MAPCACHE_FUZZ_VERBOSE. */
static char *op_format(const Op *op)
{
    GString *s = g_string_new(op->type->name);
    int i;

    for (i = 0; op->type->args[i]; i++) {
        g_string_append_printf(s, " %s=0x%" PRIx64, op->type->args[i],
                               op->a[i]);
    }
    return g_string_free(s, FALSE);
}

/*
 * Running an input
 */

/* Run one operation and the checks every operation gets. */
static void run_op(Fuzz *f, const Op *op)
{
    f->ops++;
    f->op = op;
    if (f->verbose) {
        g_autofree char *line = op_format(op);

        fprintf(stderr, "%" PRIu64 ": %s\n", f->ops, line);
    }
    reg_op_start();
    notify_op_start(f);
    op->type->run(f, op);
    if (op->type->run != run_freeable) {
        f->m.freeable = NULL;   /* for the next operation only */
    }
    check_fake(f);
    check_notify(f);
    check_registry(f);
    check_release_kinds(f);
    f->op = NULL;
}

/* Decode the next operation; false at the end of the input. */
static bool next_op(Fuzz *f, Op *op)
{
    if (in_done(f) || f->ops >= OPS_MAX) {
        return false;
    }
    memset(op, 0, sizeof(*op));
    op->type = &op_types[in_bytes(f, 1) % ARRAY_SIZE(op_types)];
    if (op->type->gen) {
        op->type->gen(f, op);
    }
    return true;
}

/* Unpin what the model holds, then tear down with its checks. */
static void fuzz_teardown(Fuzz *f)
{
    Op fini = { .type = op_type("fini") };

    while (f->m.up && f->m.pins->len) {
        Op unmap = { .type = op_type("unmap"), .a = { PTR_PINNED, 0 } };

        run_op(f, &unmap);
    }
    run_op(f, &fini);
}

static void fuzz_setup(Fuzz *f, const uint8_t *data, size_t size)
{
    memset(f, 0, sizeof(*f));
    f->data = data;
    f->size = size;
    f->verbose = getenv(ENV_VERBOSE);
    f->m.holes = bitmap_new(RAM_PAGES);
    f->m.pins = g_array_new(FALSE, FALSE, sizeof(Pin));
    f->m.taken = g_hash_table_new(NULL, NULL);
    reg_init();
    xen_mapcache_test_notify_reset();
    xen_mapcache_test_set_runstate(RUN_STATE_RUNNING);
    play_main_loop(true);
}

static void fuzz_cleanup(Fuzz *f)
{
    play_main_loop(false);
    g_free(f->m.holes);
    g_array_free(f->m.pins, TRUE);
    g_hash_table_destroy(f->m.taken);
    reg_free();
}

/*
 * The fake is set up once: filling the frames that each input maps anew
 * would cost more than the input (its frames hold the same pattern every
 * time, so an input sees the same bytes whatever ran before).
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    qemu_standin_trace_hook = fuzz_trace_hook;
    qemu_init_main_loop(&error_abort);
    fake_xen_init(RAM_BYTES, GRANT_PAGES);
    return 0;
}

/* One input: init, its operations, teardown; aborts on a failure. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Fuzz f;
    Op op;

    fuzz_setup(&f, data, size);
    op.type = op_type("init");
    gen_init(&f, &op);
    run_op(&f, &op);
    while (next_op(&f, &op)) {
        if (op.type->run == run_init || f.m.up) {
            run_op(&f, &op);
        }
    }
    fuzz_teardown(&f);
    /* What fini queued has run: nothing is left for the next input. */
    g_assert(!qemu_standin_rcu_pending());
    fuzz_cleanup(&f);
    return 0;
}
