/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Fuzz driver of the Xen mapcache (standalone only).
 *
 * Runs random sequences of every public function of
 * include/sysemu/xen-mapcache.h against the fake hypervisor, with hostile
 * arguments, and checks every answer against the agreed table of answers
 * to bad input (the round's contract, and docs/devel/xen-mapcache.rst
 * where it is silent), the bytes behind every pointer against the fake's
 * guest RAM and grants, the trace events the mapcache emits and its
 * counters.  A small model (the pins, the dummies, the holes, the
 * runstate) says what each answer must be; the dummies the cache holds
 * are followed through its trace events, as which unpinned one it drops
 * and when is its own choice.  ENOMEM is injected only where an entry is
 * known to be freeable (after a "freeable" operation), as the cache exits
 * otherwise, rightly.
 *
 * An operation is one line of text, "name key=value ...": a random case
 * is recorded as such lines before each runs, so that a failing case can
 * be replayed (--replay FILE) and shrunk (--shrink FILE).  Operations
 * that must end the process (fatal errors of the hypervisor, a lock0
 * grant request) run in a child: this program, executed again on a
 * replay file, since liburcu's threads do not survive a bare fork().
 *
 * Each finding of issue 13 is a named regression case (--regressions).
 * With --tap the program runs the regressions, then random cases with one
 * and with two threads for $XEN_MAPCACHE_FUZZ_SECONDS (default 60), each
 * case in a child process, and speaks TAP.  Cases that show bugs of the
 * core not fixed yet are in fuzz/corpus/.  See fuzz/README.md.
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/bitmap.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "exec/memory.h"
#include "sysemu/runstate.h"
#include "sysemu/xen-mapcache.h"
#include "test-xen-mapcache-fake-xen.h"
#include "test-xen-mapcache-stubs.h"

/* The mapcache's own bucket size and cap (sysemu/xen-mapcache.h). */
#define BUCKET_SHIFT XEN_MAPCACHE_BUCKET_SHIFT
#define BUCKET_SIZE ((uint64_t)1 << BUCKET_SHIFT)
#define PAGE_SIZE_4K ((uint64_t)FAKE_XEN_PAGE_SIZE)
/* No cache is larger, whatever its limit. */
#define CACHE_CAP ((uint64_t)XEN_MAPCACHE_MAX_SIZE)

/* Guest RAM: small, so that large requests mostly run past its end. */
#define RAM_BYTES ((uint64_t)256 * MiB)
#define RAM_PAGES (RAM_BYTES / PAGE_SIZE_4K)
/* Holes only in the lower half; the second thread uses the upper one. */
#define HOLE_PAGES (RAM_PAGES / 2)
#define THREAD2_BASE (RAM_BYTES / 2)
/* Always a hole: where dummies are made during incoming migration. */
#define DUMMY_BUCKET 5
#define GRANT_PAGES 64
/* The grant region's RAM block comes after guest RAM, as in QEMU. */
#define GRANT_RAM_OFFSET RAM_BYTES

/* Bytes compared at each end of a returned range. */
#define CHECK_WINDOW 4096
#define CASE_OPS_MAX 400
#define STALE_POINTERS 16
#define OP_ARGS 8
#define THREAD2_PINS 8

#define ENV_SECONDS "XEN_MAPCACHE_FUZZ_SECONDS"
#define ENV_IGNORE "XEN_MAPCACHE_FUZZ_IGNORE"
#define ENV_WEIGHTS "XEN_MAPCACHE_FUZZ_WEIGHTS"
#define ENV_TRACE_SET "XEN_MAPCACHE_FUZZ_TRACE_SET"

/*
 * Trace events: the ones the oracle counts, captured from stderr.
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
 * Events the oracle does not count but reads, as they come, to follow the
 * entries of the guest RAM cache in and out of it (see "The dummies the
 * cache holds" below).
 */
static const char *const followed_traces[] = {
    "xen_map_cache_new_entry",
    "xen_map_cache_free",
    "xen_map_cache_release_queued",
};

/* The one event a child copies to the real stderr: fatal kinds read it. */
#define ECHOED_TRACE "xen_map_cache_enomem_retry"

/*
 * stderr is replaced by a stream that appends to capture.buf (and, in a
 * child, copies to the real stderr, so that the parent sees fatal
 * messages).  Each complete line also goes to follow_line_locked().
 * capture.buf, capture.line and what follow_line_locked() updates are
 * protected by capture.lock.
 */
static struct {
    QemuMutex lock;
    GString *buf;
    GString *line;          /* the start of a line not complete yet */
    bool echo;
    bool echo_retry;        /* ECHOED_TRACE too: a fatal kind runs */
    int real_fd;
} capture;

static void follow_line_locked(const char *line);

static ssize_t capture_write(void *cookie, const char *data, size_t len)
{
    size_t i;

    qemu_mutex_lock(&capture.lock);
    g_string_append_len(capture.buf, data, len);
    for (i = 0; i < len; i++) {
        if (data[i] != '\n') {
            g_string_append_c(capture.line, data[i]);
            continue;
        }
        follow_line_locked(capture.line->str);
        g_string_truncate(capture.line, 0);
    }
    qemu_mutex_unlock(&capture.lock);
    /* Copy messages, not the (many) trace events, to the real stderr. */
    if (capture.echo &&
        (strncmp(data, "xen_", MIN(len, (size_t)4)) ||
         (capture.echo_retry &&
          !strncmp(data, ECHOED_TRACE, MIN(len, strlen(ECHOED_TRACE))))) &&
        write(capture.real_fd, data, len) < 0) {
        /* Nothing better to do: the parent will miss a line. */
    }
    return len;
}

static void capture_start(bool echo)
{
    cookie_io_functions_t io = { .write = capture_write };
    FILE *stream;

    qemu_mutex_init(&capture.lock);
    capture.buf = g_string_new(NULL);
    capture.line = g_string_new(NULL);
    capture.echo = echo;
    capture.real_fd = dup(STDERR_FILENO);
    stream = fopencookie(NULL, "w", io);
    g_assert(stream);
    setvbuf(stream, NULL, _IONBF, 0);
    fflush(stderr);
    stderr = stream;
}

static void capture_clear(void)
{
    qemu_mutex_lock(&capture.lock);
    g_string_truncate(capture.buf, 0);
    qemu_mutex_unlock(&capture.lock);
}

/* Count the captured lines of each event (a line is "name args..."). */
static void capture_count(unsigned counts[EV__MAX])
{
    g_auto(GStrv) lines = NULL;
    int i, ev;

    qemu_mutex_lock(&capture.lock);
    lines = g_strsplit(capture.buf->str, "\n", -1);
    qemu_mutex_unlock(&capture.lock);
    memset(counts, 0, sizeof(unsigned) * EV__MAX);
    for (i = 0; lines[i]; i++) {
        size_t n = strcspn(lines[i], " ");

        for (ev = 0; ev < EV__MAX; ev++) {
            if (strlen(trace_names[ev]) == n &&
                !strncmp(lines[i], trace_names[ev], n)) {
                counts[ev]++;
            }
        }
    }
}

/* Make sure the events are enabled: they are read at start-up. */
static void enable_traces_or_reexec(char **argv)
{
    GString *spec;
    int ev;

    if (getenv(ENV_TRACE_SET)) {
        return;
    }
    spec = g_string_new(getenv("XEN_MAPCACHE_TRACE"));
    for (ev = 0; ev < EV__MAX; ev++) {
        g_string_append_printf(spec, "%s%s", spec->len ? "," : "",
                               trace_names[ev]);
    }
    for (ev = 0; ev < (int)ARRAY_SIZE(followed_traces); ev++) {
        g_string_append_printf(spec, ",%s", followed_traces[ev]);
    }
    g_setenv("XEN_MAPCACHE_TRACE", spec->str, TRUE);
    g_setenv(ENV_TRACE_SET, "1", TRUE);
    execv("/proc/self/exe", argv);
    perror("xen-mapcache-fuzz: re-executing itself");
    exit(2);
}

/*
 * The model: what the answers depend on.
 */

typedef struct Pin {
    uint8_t *ptr;
    uint64_t ram_addr;      /* what the reverse lookup must answer */
    uint64_t gaddr;         /* the guest address, or grant ref, shown */
    uint64_t len;           /* bytes valid at ptr */
    uint64_t entry_index;   /* the bucket index of its entry (RAM) */
    XenMapCacheKind kind;
    bool dma;
    uint8_t *dummy_base;    /* non-NULL: a pointer into this dummy */
} Pin;

/* An entry of the guest RAM cache, as its trace events describe it. */
typedef struct Entry {
    uint64_t index;         /* bucket index it was made for */
    uint8_t *base;
    uint64_t size;
    bool dummy;
} Entry;

typedef struct Model {
    bool up;
    uint64_t limit;         /* the effective one */
    bool inmigrate;
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
 * The dummies the cache holds, followed through its trace events: a
 * dummy enters at xen_map_cache_new_entry (dummy 1) and leaves at
 * xen_map_cache_free or xen_map_cache_release_queued of its address, or
 * when a replace gives it real frames (which the model notes).  Which
 * unpinned dummy the limit evicts, recycles or frees at once is the
 * cache's choice, made by its LRU and by grace periods the model cannot
 * time; what it did is here.  The events are written under the cache's
 * lock, so their order is the order of what it did, whichever thread
 * did it: the registry is exact with two threads too.  Protected by
 * capture.lock; reg.live is NULL until the first setup.
 */
static struct {
    GArray *live;           /* Entry: the dummies in the cache, oldest first */
    GArray *gone;           /* Entry: dummies that left during this op */
    GArray *made;           /* Entry: RAM entries mapped during this op */
    GArray *left;           /* uint8_t *: RAM entries taken out this op */
    GArray *at_replace;     /* Entry: live when this op's replace answered */
    bool replace_seen;
} reg;

static Entry *entry_at(GArray *a, guint i)
{
    return &g_array_index(a, Entry, i);
}

static void follow_line_locked(const char *line)
{
    Entry e = { 0 };
    void *vaddr;
    int dummy;
    guint i;

    if (!reg.live) {
        return;
    }
    if (sscanf(line, "xen_map_cache_new_entry ram: index 0x%" SCNx64
               " size 0x%" SCNx64 " at %p dummy %d", &e.index, &e.size,
               &vaddr, &dummy) == 4) {
        e.base = vaddr;
        e.dummy = dummy;
        g_array_append_val(reg.made, e);
        if (e.dummy) {
            g_array_append_val(reg.live, e);
        }
    } else if (sscanf(line, "xen_map_cache_free ram: %p", &vaddr) == 1 ||
               sscanf(line, "xen_map_cache_release_queued ram: %p",
                      &vaddr) == 1) {
        g_array_append_val(reg.left, vaddr);
        for (i = 0; i < reg.live->len; i++) {
            if (entry_at(reg.live, i)->base == vaddr) {
                g_array_append_val(reg.gone, *entry_at(reg.live, i));
                g_array_remove_index(reg.live, i);
                break;
            }
        }
    } else if (g_str_has_prefix(line, "xen_replace_cache_entry_") &&
               !reg.replace_seen) {
        g_array_set_size(reg.at_replace, 0);
        g_array_append_vals(reg.at_replace, reg.live->data, reg.live->len);
        reg.replace_seen = true;
    }
}

static void reg_init(void)
{
    qemu_mutex_lock(&capture.lock);
    if (!reg.live) {
        reg.live = g_array_new(FALSE, FALSE, sizeof(Entry));
        reg.gone = g_array_new(FALSE, FALSE, sizeof(Entry));
        reg.made = g_array_new(FALSE, FALSE, sizeof(Entry));
        reg.left = g_array_new(FALSE, FALSE, sizeof(uint8_t *));
        reg.at_replace = g_array_new(FALSE, FALSE, sizeof(Entry));
    }
    qemu_mutex_unlock(&capture.lock);
}

/* A new operation: forget what happened during the last one. */
static void reg_op_start(void)
{
    qemu_mutex_lock(&capture.lock);
    g_array_set_size(reg.gone, 0);
    g_array_set_size(reg.made, 0);
    g_array_set_size(reg.left, 0);
    g_array_set_size(reg.at_replace, 0);
    reg.replace_seen = false;
    qemu_mutex_unlock(&capture.lock);
}

/* After teardown: no dummy is left. */
static void reg_reset(void)
{
    reg_op_start();
    qemu_mutex_lock(&capture.lock);
    g_array_set_size(reg.live, 0);
    qemu_mutex_unlock(&capture.lock);
}

static const Entry *entries_find(GArray *a, uint64_t index, uint8_t *base,
                                 uint64_t min_size)
{
    guint i;

    for (i = 0; i < a->len; i++) {
        const Entry *e = entry_at(a, i);

        if (e->index == index && (!base || e->base == base) &&
            e->size >= min_size) {
            return e;
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
    bool found;

    qemu_mutex_lock(&capture.lock);
    found = entries_find(reg.live, index, base, min_size) ||
            (gone_too && entries_find(reg.gone, index, base, min_size));
    qemu_mutex_unlock(&capture.lock);
    return found;
}

/* Was an entry at @index mapped at @base during this operation? */
static bool reg_made(uint64_t index, uint8_t *base, bool dummy)
{
    const Entry *e;

    qemu_mutex_lock(&capture.lock);
    e = entries_find(reg.made, index, base, 0);
    qemu_mutex_unlock(&capture.lock);
    return e && e->dummy == dummy;
}

/* Did the entry at @base leave the cache during this operation? */
static bool reg_left(uint8_t *base)
{
    bool found = false;
    guint i;

    qemu_mutex_lock(&capture.lock);
    for (i = 0; i < reg.left->len && !found; i++) {
        found = g_array_index(reg.left, uint8_t *, i) == base;
    }
    qemu_mutex_unlock(&capture.lock);
    return found;
}

/* A copy of the dummies in the cache now. */
static GArray *reg_snapshot(void)
{
    GArray *copy = g_array_new(FALSE, FALSE, sizeof(Entry));

    qemu_mutex_lock(&capture.lock);
    g_array_append_vals(copy, reg.live->data, reg.live->len);
    qemu_mutex_unlock(&capture.lock);
    return copy;
}

/* The dummies the replace of this operation looked at, or NULL. */
static GArray *reg_at_replace(void)
{
    GArray *copy = NULL;

    qemu_mutex_lock(&capture.lock);
    if (reg.replace_seen) {
        copy = g_array_new(FALSE, FALSE, sizeof(Entry));
        g_array_append_vals(copy, reg.at_replace->data,
                            reg.at_replace->len);
    }
    qemu_mutex_unlock(&capture.lock);
    return copy;
}

/* A replace gave the dummy at @base real frames: it is no dummy now. */
static void reg_replaced(uint8_t *base)
{
    guint i;

    qemu_mutex_lock(&capture.lock);
    for (i = 0; i < reg.live->len; i++) {
        if (entry_at(reg.live, i)->base == base) {
            g_array_remove_index(reg.live, i);
            break;
        }
    }
    qemu_mutex_unlock(&capture.lock);
}

typedef struct Thread2 {
    QemuThread thread;
    uint64_t seed;
    bool stop;
    bool running;
    uint64_t ops;
    char *failure;          /* set once, by cmpxchg */
    unsigned replaces;      /* odd while the main thread replaces */
    QemuMutex replace_lock; /* held by a replace, and to read a dummy */
} Thread2;

typedef struct Fuzz {
    Model m;
    GRand *rng;
    bool child;             /* fatal operations run here, for real */
    bool failed;
    char *fail_id;
    FILE *record;           /* operations written here before they run */
    uint64_t ops;
    bool two_threads;
    Thread2 t2;
} Fuzz;

/* Failure ids to count but not stop at (--ignore GLOB,...). */
static char **ignored;
static GHashTable *nr_ignored;  /* id -> times, if any was ignored */

/*
 * Failures that show bugs of the core not fixed yet, each with its case
 * in fuzz/corpus/: make fuzz's random cases count them and go on, so
 * that they do not hide what comes after.  Replaying the case fails.
 * None now: the four found so far are fixed, and their cases pass (make
 * fuzz replays the corpus).  Ends with { NULL }.
 */
static const struct {
    const char *id;
    const char *file;
} known_core_bugs[] = {
    { NULL, NULL },
};

static bool is_ignored(const char *id)
{
    int i;

    for (i = 0; ignored && ignored[i]; i++) {
        if (g_pattern_match_simple(ignored[i], id)) {
            return true;
        }
    }
    return false;
}

static void G_GNUC_PRINTF(3, 4) fail(Fuzz *f, const char *id,
                                     const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (f->failed) {
        return;
    }
    if (is_ignored(id)) {
        if (!nr_ignored) {
            nr_ignored = g_hash_table_new_full(g_str_hash, g_str_equal,
                                               g_free, NULL);
        }
        g_hash_table_insert(nr_ignored, g_strdup(id), GSIZE_TO_POINTER(
            GPOINTER_TO_SIZE(g_hash_table_lookup(nr_ignored, id)) + 1));
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    f->failed = true;
    f->fail_id = g_strdup(id);
    printf("FAIL %s: %s\n", id, msg);
    fflush(stdout);
}

/* "op-what": a failure id; valid until the next call. */
static const char *op_id(const char *op, const char *what)
{
    static char id[128];

    snprintf(id, sizeof(id), "%s-%s", op, what);
    return id;
}

static bool solo(const Fuzz *f)
{
    return !f->t2.running;
}

static uint64_t rnd64(Fuzz *f)
{
    return (uint64_t)g_rand_int(f->rng) << 32 | g_rand_int(f->rng);
}

/* A random number below @n (> 0). */
static uint64_t rnd(Fuzz *f, uint64_t n)
{
    return rnd64(f) % n;
}

static bool chance(Fuzz *f, unsigned percent)
{
    return rnd(f, 100) < percent;
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
    unsigned counts[EV__MAX], one_of = 0;
    int ev;

    capture_count(counts);
    if (!solo(f)) {
        counts[EV_ENOMEM_RETRY] = e->ev_min[EV_ENOMEM_RETRY];
    }
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

/* The counters of every cache, summed: which cache answers bad input is
 * not part of the contract. */
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
 * Bytes wrong at @p, unless @p is a dummy (which only needs to be read).
 * A replace maps over a dummy in place, and its range is inaccessible
 * until the new frames are there (as with privcmd), so a dummy is read
 * under Thread2.replace_lock, which the main thread holds while it
 * replaces; the fake records a foreign range as live once it is mapped.
 */
static size_t thread2_wrong_bytes(Thread2 *t, const uint8_t *p,
                                  uint64_t addr, uint64_t len)
{
    if (!fake_xen_is_live(p, 1)) {
        WITH_QEMU_LOCK_GUARD(&t->replace_lock) {
            if (!fake_xen_is_live(p, 1)) {
                touch(p);
                touch(p + len - 1);
                return 0;
            }
        }
    }
    return wrong_ram_bytes(p, addr, len);
}

static void thread2_fail(Thread2 *t, const char *msg)
{
    char *copy = g_strdup(msg);

    if (qatomic_cmpxchg(&t->failure, NULL, copy) != NULL) {
        g_free(copy);
    }
}

static uint64_t thread2_addr(GRand *r, uint64_t *size)
{
    uint64_t addr = THREAD2_BASE +
                    (uint64_t)g_rand_int_range(r, 0, RAM_BYTES / 2 / 64) * 64;
    uint64_t room = BUCKET_SIZE - (addr & (BUCKET_SIZE - 1));

    *size = MIN((uint64_t)g_rand_int_range(r, 0, 64 * KiB), room);
    return addr;
}

/*
 * A dummy is replaced in place, under whoever holds a pointer into it:
 * that is the contract of xen_replace_cache_entry().  Bytes that were a
 * dummy's when thread 2 got them may show new frames by the time it
 * checks them, so it believes wrong bytes only if no replace ran
 * meanwhile (Thread2.replaces, a sequence count), and it declares only
 * foreign ranges to the fake's reader registry, which counts a MAP_FIXED
 * mapping over a declared range as a violation.
 */
static unsigned thread2_replaces(Thread2 *t)
{
    unsigned replaces;

    smp_mb();
    replaces = qatomic_read(&t->replaces);
    smp_mb();
    return replaces;
}

static bool thread2_replaced_since(Thread2 *t, unsigned replaces)
{
    return (replaces & 1) || thread2_replaces(t) != replaces;
}

static void thread2_read(Thread2 *t, GRand *r)
{
    uint64_t size, addr = thread2_addr(r, &size), len = MAX(size, 1);
    unsigned replaces = thread2_replaces(t);
    uint8_t *p;
    int token;

    WITH_RCU_READ_LOCK_GUARD() {
        p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0, 0,
                          false, false);
        if (!p) {
            thread2_fail(t, "thread 2: lock0 read got NULL");
            return;
        }
        token = fake_xen_is_live(p, 1) ? fake_xen_reader_enter(p, len) : -1;
        if (thread2_wrong_bytes(t, p, addr, len) &&
            !thread2_replaced_since(t, replaces)) {
            thread2_fail(t, "thread 2: lock0 read shows the wrong bytes");
        }
        if (token >= 0) {
            fake_xen_reader_exit(token);
        }
    }
}

static void thread2_pin(Thread2 *t, GRand *r, GArray *pins)
{
    uint64_t size, addr = thread2_addr(r, &size);
    unsigned replaces = thread2_replaces(t);
    uint8_t *p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, size, 0,
                               1, false, g_rand_boolean(r));

    if (!p) {
        thread2_fail(t, "thread 2: lock1 map got NULL");
        return;
    }
    if (thread2_wrong_bytes(t, p, addr, MAX(size, 1)) &&
        !thread2_replaced_since(t, replaces)) {
        thread2_fail(t, "thread 2: pinned pointer shows the wrong bytes");
    }
    if (xen_ram_addr_from_mapcache(p) != addr) {
        thread2_fail(t, "thread 2: reverse lookup is wrong");
    }
    g_array_append_val(pins, p);
}

static void thread2_unpin(GRand *r, GArray *pins)
{
    guint i = g_rand_int_range(r, 0, pins->len);

    xen_invalidate_map_cache_entry(g_array_index(pins, uint8_t *, i));
    g_array_remove_index_fast(pins, i);
}

static void *thread2_run(void *opaque)
{
    Thread2 *t = opaque;
    g_autoptr(GRand) r = g_rand_new_with_seed(t->seed);
    g_autoptr(GArray) pins = g_array_new(FALSE, FALSE, sizeof(uint8_t *));

    rcu_register_thread();
    while (!qatomic_read(&t->stop)) {
        int what = g_rand_int_range(r, 0, 4);

        if (what == 0 && pins->len < THREAD2_PINS) {
            thread2_pin(t, r, pins);
        } else if (what == 1 && pins->len) {
            thread2_unpin(r, pins);
        } else {
            thread2_read(t, r);
        }
        qatomic_inc(&t->ops);
    }
    while (pins->len) {
        thread2_unpin(r, pins);
    }
    rcu_unregister_thread();
    return NULL;
}

static void thread2_start(Fuzz *f)
{
    if (!f->two_threads || f->t2.running) {
        return;
    }
    f->t2.seed++;
    f->t2.stop = false;
    f->t2.running = true;
    qemu_thread_create(&f->t2.thread, "fuzz-thread2", thread2_run, &f->t2,
                       QEMU_THREAD_JOINABLE);
}

static void thread2_stop(Fuzz *f)
{
    if (!f->t2.running) {
        return;
    }
    qatomic_set(&f->t2.stop, true);
    qemu_thread_join(&f->t2.thread);
    f->t2.running = false;
}

static void thread2_check(Fuzz *f)
{
    char *msg = qatomic_read(&f->t2.failure);

    if (msg) {
        fail(f, "thread2", "%s", msg);
    }
}

/*
 * Operations: each has a generator (random arguments, knowing the model)
 * and a runner (the call, then its oracle).
 */

typedef struct Op Op;
typedef struct OpType {
    const char *name;
    const char *args[OP_ARGS + 1];  /* NULL-terminated */
    void (*gen)(Fuzz *f, Op *op);
    void (*run)(Fuzz *f, const Op *op);
    unsigned weight;                /* in random cases, when up */
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

static void gen_init(Fuzz *f, Op *op)
{
    limit_pick(f, &op->a[0], &op->a[1]);
    op->a[2] = chance(f, 80) ? rnd64(f) | 1 : 0;
}

/* Holes from @seed (0: none): the dummy bucket, and a few runs. */
static void model_set_holes(Model *m, uint64_t seed)
{
    g_autoptr(GRand) r = NULL;
    int i, runs;

    bitmap_zero(m->holes, RAM_PAGES);
    if (!seed) {
        return;
    }
    r = g_rand_new_with_seed(seed ^ seed >> 32);
    bitmap_set(m->holes, DUMMY_BUCKET * BUCKET_SIZE / PAGE_SIZE_4K,
               BUCKET_SIZE / PAGE_SIZE_4K);
    runs = g_rand_int_range(r, 1, 5);
    for (i = 0; i < runs; i++) {
        uint64_t pfn = g_rand_int_range(r, 0, HOLE_PAGES - 512);

        bitmap_set(m->holes, pfn, g_rand_int_range(r, 1, 512));
    }
}

static void fake_set_holes(Model *m)
{
    uint64_t pfn = 0, end;

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
    thread2_stop(f);
    thread2_check(f);
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
    bool want = limit >= BUCKET_SIZE;

    if (ok != want || !ok != !!err) {
        fail(f, "init-limit", "init_limit(0x%" PRIx64 ") returned %d "
             "(error %s), expected %d", limit, ok,
             err ? error_get_pretty(err) : "not set", want);
    }
    if (err) {
        error_free(err);
    }
    if (ok && cache_stats(XEN_MAPCACHE_RAM).limit_bytes !=
              MIN(limit, CACHE_CAP)) {
        fail(f, "init-limit-cap", "limit 0x%" PRIx64 " became 0x%" PRIx64
             ", expected 0x%" PRIx64, limit,
             cache_stats(XEN_MAPCACHE_RAM).limit_bytes, MIN(limit, CACHE_CAP));
    }
    if (!ok && xen_map_cache_get_stats(XEN_MAPCACHE_RAM,
                                       &(XenMapCacheStats) {})) {
        fail(f, "init-limit-half", "a refused init_limit left a cache");
    }
    return ok;
}

static void run_init(Fuzz *f, const Op *op)
{
    run_fini(f, op);
    model_set_holes(&f->m, op->a[2]);
    fake_set_holes(&f->m);
    if (op->a[1] != UINT64_MAX && !oracle_init_limit(f, op->a[1])) {
        xen_map_cache_fini();
    }
    if (f->failed) {
        return;
    }
    xen_mapcache_test_get_counts(&f->m.notify_at_init);
    f->m.up = oracle_init_limit(f, op->a[0]);
    f->m.limit = MIN(op->a[0], CACHE_CAP);
    if (f->m.up) {
        thread2_start(f);
    }
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
 * ENOMEM is injected only where the model knows that the cache can free
 * an entry, so that the answer is known: the retry succeeds.  (With
 * nothing freeable the cache exits: the fatal kind
 * foreign-enomem-nothing-freeable.)  Whether an entry is freeable depends
 * on when grace periods end, which the model cannot know, except right
 * after a "freeable" operation made one (one thread only): the next
 * operation may then inject, at another bucket, if the request cannot
 * make the cache free that entry to stay within its limit first.
 */
static bool gen_enomem(Fuzz *f, uint64_t addr, uint64_t size)
{
    XenMapCacheStats s = cache_stats(XEN_MAPCACHE_RAM);
    uint64_t len;

    return f->m.freeable && solo(f) &&
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
    op->a[MAP_ENOMEM] = gen_enomem(f, op->a[MAP_ADDR], op->a[MAP_SIZE]);
}

/*
 * What a guest RAM request may get.  A dummy serves any request at its
 * index that it is large enough for (its pages are all valid), so one
 * may answer wherever the cache holds one; with one thread, a request
 * touching a hole gets it for sure then.
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
    dummy = reg_dummy(addr >> BUCKET_SHIFT, NULL, span, false);
    if (model_invalid(m, addr, len)) {
        e.why = m->inmigrate ? "hole: a dummy" :
                dummy ? "hole: the dummy there" : "hole";
        e.may_dummy = m->inmigrate || dummy;
        /* The second thread may evict an unpinned dummy first. */
        e.may_null = !m->inmigrate && !(dummy && solo(f));
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

    if (e->nothing_mapped && solo(f) &&
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
    if (solo(f) && (pin ? after->lookups_lock1 - before->lookups_lock1 :
                    after->lookups_lock0 - before->lookups_lock0) != 1) {
        fail(f, op_id(op, "lookups"), "%s: lookups of lock%d "
             "not counted once", op, pin);
    }
}

/*
 * The lock-free hit path serves a lock0 request from the entry in its
 * recent slot without counting or tracing it as oversize, where the
 * locked path does both (fuzz/corpus/oversize-lockfree.txt): a bug of the
 * core, given a failure id of its own, after which the request is
 * checked as if within the limit.  Only that path serves uncounted.
 */
static void check_oversize_lockfree(Fuzz *f, Expect *e, bool pin,
                                    const XenMapCacheStats *before,
                                    const XenMapCacheStats *after,
                                    uint8_t *p)
{
    unsigned counts[EV__MAX];

    if (!p || pin || !e->over_limit || after->oversize != before->oversize) {
        return;
    }
    capture_count(counts);
    if (counts[EV_OVERSIZE]) {
        return;
    }
    fail(f, "map-oversize-lockfree", "lock0 request served over the limit "
         "(%s), neither counted in oversize nor traced: a lock-free hit",
         e->why);
    e->over_limit = false;
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
 * make them: a lock0 pointer is only valid there, and the second thread
 * may evict its entry as soon as it is left.
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
    capture_clear();
    injected = enomem_arm(op->a[MAP_ENOMEM]);
    RCU_READ_LOCK_GUARD();
    p = xen_map_cache(mr, addr, size, 0, lock, op->a[MAP_DMA],
                      op->a[MAP_WRITE]);
    enomem_done(&e, op->a[MAP_ENOMEM], injected);
    after = all_stats();
    check_oversize_lockfree(f, &e, lock, &before, &after, p);
    oracle_map_answer(f, "map", &e, addr, size, p);
    check_map_counters(f, "map", &e, lock, &before, &after, &fake_before, p);
    if (!p || (!e.may_real && !e.may_dummy)) {
        return;
    }
    dummy_base = check_ram_answer(f, &e, addr, len, p);
    if (lock && dummy_base) {
        *p = dummy_mark(p);
    }
    if (lock) {
        Pin pin = {
            .ptr = p, .ram_addr = addr, .gaddr = addr, .len = len,
            .entry_index = addr >> BUCKET_SHIFT,
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
    uint64_t in_page = chance(f, 50) ? 0 : rnd(f, PAGE_SIZE_4K);
    uint64_t ref = rnd(f, GRANT_PAGES), pages, size;

    pages = 1 + rnd(f, MIN((uint64_t)4, GRANT_PAGES - ref));
    size = chance(f, 20) ? 0 : 1 + rnd(f, pages * PAGE_SIZE_4K - in_page);
    switch (rnd(f, 10)) {
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
    if (fatal && !f->child) {
        fail(f, "grant-generator", "an ungranted reference in-process");
        return;
    }
    capture_clear();
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

    pinned_per_kind(before);
    capture_clear();
    xen_invalidate_map_cache_entry(p);
    pinned_per_kind(after);
    expect_event(&e, EV_INVALIDATE_NOT_FOUND, !known, !known);
    check_events(f, "unmap", &e);
    if (known) {
        model_forget_pin(&f->m, p);
        check_grants_released(f);
    } else if (solo(f) && memcmp(before, after, sizeof(before))) {
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

    capture_clear();
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
 * max(0, r - other) and min(dma, r) DMA pins.  The second thread takes
 * up to THREAD2_PINS pins without DMA, maybe through the same pointers,
 * and drops them: from 0 to min(dma, r + THREAD2_PINS) then.
 *
 * The cache counts every pin of a pointer once pinned for DMA, whatever
 * the others were taken for (MapCachePin.dma is one bit for the record):
 * a DMA pin and another through one pointer give two events where the
 * doc says one.  That answer gets a failure of its own, flush-dma-sticky
 * (fuzz/corpus/flush-mixed-dma.txt), which make fuzz counts but does not
 * stop at.
 */
static void run_flush(Fuzz *f, const Op *op)
{
    Expect e = { .why = "one event per DMA pin held" };
    unsigned lo = 0, hi = 0, sticky = 0, got[EV__MAX];
    GHashTableIter iter;
    gpointer ptr;

    g_hash_table_iter_init(&iter, f->m.taken);
    while (g_hash_table_iter_next(&iter, &ptr, NULL)) {
        unsigned r = model_pins_of(&f->m, ptr), dma, other;

        model_taken(&f->m, ptr, &dma, &other);
        /* The second thread's pins through this pointer: up to its own. */
        unsigned r2 = solo(f) ? 0 : THREAD2_PINS;

        lo += r > other && solo(f) ? r - other : 0;
        hi += MIN(dma, r + r2);
        sticky += dma ? r + r2 : 0;
    }
    expect_event(&e, EV_FLUSH_PIN, 0, UINT_MAX);
    capture_clear();
    xen_invalidate_map_cache();
    check_events(f, "flush", &e);
    capture_count(got);
    if (got[EV_FLUSH_PIN] < lo || got[EV_FLUSH_PIN] > hi) {
        bool known = got[EV_FLUSH_PIN] > hi && got[EV_FLUSH_PIN] <= sticky;

        fail(f, known ? "flush-dma-sticky" :
             op_id("flush", trace_names[EV_FLUSH_PIN]),
             "flush: %u trace events %s, expected %u..%u (%s)%s",
             got[EV_FLUSH_PIN], trace_names[EV_FLUSH_PIN], lo, hi, e.why,
             known ? "; the cache counts every pin of a pointer once "
             "pinned for DMA" : "");
    }
    check_all_pins(f);
}

/* --- a lock0 pointer held in a read section across a flush --- */

static void gen_held(Fuzz *f, Op *op)
{
    op->a[0] = THREAD2_BASE + rnd(f, RAM_BYTES / 2 - 64 * KiB);
    op->a[1] = rnd(f, 64 * KiB);
}

static void run_held(Fuzz *f, const Op *op)
{
    uint64_t addr = op->a[0], len = MAX(op->a[1], 1);
    uint8_t *p;
    int token;

    WITH_RCU_READ_LOCK_GUARD() {
        p = xen_map_cache(&xen_mapcache_test_ram_mr, addr, op->a[1], 0, 0,
                          false, false);
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
        xen_invalidate_map_cache();
        if (wrong_ram_bytes(p, addr, len)) {
            fail(f, "held-wrong-bytes", "lock0 pointer %p for 0x%" PRIx64
                 " changed under its read section", p, addr);
        }
        fake_xen_reader_exit(token);
    }
}

/* --- replace --- */

enum { REPLACE_OLD, REPLACE_NEW, REPLACE_SIZE, REPLACE_ENOMEM };

static void gen_replace(Fuzz *f, Op *op)
{
    g_autoptr(GArray) dummies = reg_snapshot();
    const Entry *d = dummies->len ?
                     entry_at(dummies, rnd(f, dummies->len)) : NULL;

    op->a[REPLACE_OLD] = d && chance(f, 80) ?
                         d->index * BUCKET_SIZE + rnd(f, BUCKET_SIZE) :
                         gen_addr(f);
    op->a[REPLACE_NEW] = chance(f, 80) ?
                         THREAD2_BASE + rnd(f, RAM_BYTES / 2) : gen_addr(f);
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
     * Right after "freeable", as for map (gen_enomem()): the replace makes
     * no room, so the entry is still there when its probe fails.  Every
     * dummy left is pinned then (the operation flushed the others).
     */
    op->a[REPLACE_ENOMEM] = f->m.freeable && solo(f);
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
    reg_replaced(d->base);
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

/*
 * The answer follows from the dummies the cache held when the replace
 * looked: with one thread, those before the call; with two, those when
 * it traced its answer (under the cache's lock, as every eviction is).
 */
static void run_replace(Fuzz *f, const Op *op)
{
    uint64_t old = op->a[REPLACE_OLD], new = op->a[REPLACE_NEW];
    uint64_t size = op->a[REPLACE_SIZE], injected;
    g_autoptr(GArray) looked = solo(f) ? reg_snapshot() : NULL;
    Expect e = { .why = "replace" };
    const Entry *d;
    uint8_t *p;

    capture_clear();
    injected = enomem_arm(op->a[REPLACE_ENOMEM]);
    qemu_mutex_lock(&f->t2.replace_lock);
    qatomic_inc(&f->t2.replaces);
    smp_mb();
    p = xen_replace_cache_entry(old, new, size);
    smp_mb();
    qatomic_inc(&f->t2.replaces);
    qemu_mutex_unlock(&f->t2.replace_lock);
    enomem_done(&e, op->a[REPLACE_ENOMEM], injected);
    if (!looked) {
        looked = reg_at_replace();
    }
    if (!looked) {
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

/* --- runstate, check, drain --- */

static void gen_runstate(Fuzz *f, Op *op)
{
    op->a[0] = !f->m.inmigrate;
}

static void run_runstate(Fuzz *f, const Op *op)
{
    f->m.inmigrate = op->a[0];
    xen_mapcache_test_set_runstate(op->a[0] ? RUN_STATE_INMIGRATE :
                                              RUN_STATE_RUNNING);
}

static void run_check(Fuzz *f, const Op *op)
{
    check_all_pins(f);
    check_stats_consistent(f);
}

static void run_drain(Fuzz *f, const Op *op)
{
    drain_call_rcu();
    check_all_pins(f);
}

/* --- freeable: an entry that the next operation's ENOMEM can free --- */

/* Buckets that share a recent slot are this many apart. */
#define RECENT_SLOTS 64

enum { FREEABLE_ADDR };

static const OpType *op_type(const char *name);

static void gen_freeable(Fuzz *f, Op *op)
{
    op->a[FREEABLE_ADDR] = THREAD2_BASE + rnd(f, RECENT_SLOTS) * BUCKET_SIZE;
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

/*
 * With one thread, make an unpinned entry of guest RAM that is freeable
 * for sure, in the upper half of guest RAM (no holes there), at a bucket
 * no pinned entry or dummy is at:
 *
 * - flush: only pinned entries stay, so that the next request maps a new
 *   entry, which no lock-free hit has marked referenced (the ENOMEM retry
 *   spares such an entry: fuzz/corpus/enomem-spares-referenced.txt);
 * - pin and unpin it: the entry E, in its recent slot;
 * - pin and unpin the bucket RECENT_SLOTS further on: its entry takes the
 *   slot, and E is stamped as it leaves it;
 * - drain twice: a grace-period callback may have been in flight when E
 *   was stamped, and then only the next one counts, which that one's run
 *   queues after the first drain began.
 *
 * The model then knows E freeable until the next operation
 * (gen_enomem()), if nothing took it out meanwhile.
 */
static void run_freeable(Fuzz *f, const Op *op)
{
    uint64_t first = op->a[FREEABLE_ADDR] >> BUCKET_SHIFT, index = 0;
    uint8_t *p;
    int i;

    f->m.freeable = NULL;
    if (!solo(f)) {
        return;
    }
    for (i = 0; i < RECENT_SLOTS; i++) {
        index = THREAD2_BASE / BUCKET_SIZE + (first + i) % RECENT_SLOTS;
        if (!bucket_taken(&f->m, index)) {
            break;
        }
    }
    if (i == RECENT_SLOTS) {
        return;
    }
    run_flush(f, op);
    /* What left the cache from now on; the flush freed ranges E may get. */
    reg_op_start();
    p = pin_unpin(f, index * BUCKET_SIZE);
    if (!p || f->failed) {
        return;
    }
    if (!reg_made(index, p, false)) {
        fail(f, "freeable-kept", "after a flush, a request at bucket 0x%"
             PRIx64 ", where nothing is pinned, found an entry", index);
        return;
    }
    pin_unpin(f, (index + RECENT_SLOTS) * BUCKET_SIZE);
    run_drain(f, op);
    run_drain(f, op);
    if (!f->failed && !reg_left(p)) {
        f->m.freeable = p;
        f->m.freeable_index = index;
    }
}

/* --- fatal: what must end the process, run in a child --- */

typedef enum FatalKind {
    FATAL_GRANT_LOCK0,
    FATAL_GRANT_UNGRANTED,
    FATAL_FOREIGN_EFAULT,
    FATAL_FOREIGN_EINVAL,
    FATAL_FOREIGN_ENOMEM_TWICE,
    FATAL_GRANT_EFAULT,
    FATAL_FOREIGN_ENOMEM_NOTHING,
    FATAL__MAX,
} FatalKind;

/* The address each fatal kind asks for. */
#define FATAL_RAM_ADDR ((uint64_t)0x5300000)
#define FATAL_GRANT_REF 2
#define FATAL_GRANT_ADDR (GRANT_RAM_OFFSET + FATAL_GRANT_REF * PAGE_SIZE_4K)
#define FATAL_UNGRANTED_ADDR (GRANT_RAM_OFFSET + 1000 * PAGE_SIZE_4K)

/*
 * Operations that leave an entry freeable (see run_freeable()), as the
 * cases of a file: a lock0 entry at bucket 0x90, displaced from its recent
 * slot by bucket 0xd0, and two grace periods.
 */
#define FREEABLE_OPS \
    "map region=0 addr=0x9000000 size=0x1000 lock=0", \
    "map region=0 addr=0xd000000 size=0x1000 lock=0", \
    "drain", \
    "drain"

/*
 * Every exit names the guest address, the size, strerror(errno) and the
 * live, pinned and pending bytes (the doc's table); the abort names the
 * address too.  The ENOMEM kinds also show how many entries the retry
 * freed (its trace event, which a child copies to stderr).
 */
static const struct {
    const char *name;
    bool aborts;            /* else exit(EXIT_FAILURE) */
    int err;                /* errno named in the message, or 0 */
    uint64_t addr;          /* named in the message */
    bool freeable;          /* FREEABLE_OPS first */
    const char *pattern;    /* also in stderr, or NULL */
} fatal_kinds[FATAL__MAX] = {
    [FATAL_GRANT_LOCK0] = { "grant-lock0", true, 0, FATAL_GRANT_ADDR, false,
                            "grant" },
    [FATAL_GRANT_UNGRANTED] = { "grant-ungranted", false, EINVAL,
                                FATAL_UNGRANTED_ADDR },
    [FATAL_FOREIGN_EFAULT] = { "foreign-efault", false, EFAULT,
                               FATAL_RAM_ADDR },
    [FATAL_FOREIGN_EINVAL] = { "foreign-einval", false, EINVAL,
                               FATAL_RAM_ADDR },
    [FATAL_FOREIGN_ENOMEM_TWICE] = { "foreign-enomem-twice", false, ENOMEM,
                                     FATAL_RAM_ADDR, true,
                                     ": out of address space, 1 entries "
                                     "freed" },
    [FATAL_GRANT_EFAULT] = { "grant-efault", false, EFAULT,
                             FATAL_GRANT_ADDR },
    [FATAL_FOREIGN_ENOMEM_NOTHING] = { "foreign-enomem-nothing-freeable",
                                       false, ENOMEM, FATAL_RAM_ADDR, false,
                                       ": out of address space, 0 entries "
                                       "freed" },
};

static void gen_fatal(Fuzz *f, Op *op)
{
    op->a[0] = rnd(f, FATAL__MAX);
}

/* In the child: make the call that must not return. */
static void run_fatal_here(Fuzz *f, FatalKind kind)
{
    capture.echo_retry = true;
    switch (kind) {
    case FATAL_GRANT_LOCK0:
        xen_map_cache(&xen_mapcache_test_grants_mr, FATAL_GRANT_ADDR, 1,
                      GRANT_RAM_OFFSET, 0, false, false);
        break;
    case FATAL_GRANT_UNGRANTED:
        xen_map_cache(&xen_mapcache_test_grants_mr, FATAL_UNGRANTED_ADDR, 1,
                      GRANT_RAM_OFFSET, 1, true, true);
        break;
    case FATAL_GRANT_EFAULT:
        fake_xen_fail_next(FAKE_XEN_GRANT_MAP, 1, EFAULT);
        xen_map_cache(&xen_mapcache_test_grants_mr, FATAL_GRANT_ADDR, 1,
                      GRANT_RAM_OFFSET, 1, true, true);
        break;
    default:
        /* With ENOMEM: the retry frees what it can, then fails again. */
        fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP,
                           kind == FATAL_FOREIGN_ENOMEM_TWICE ? 2 : 1,
                           fatal_kinds[kind].err);
        xen_map_cache(&xen_mapcache_test_ram_mr, FATAL_RAM_ADDR,
                      2 * BUCKET_SIZE, 0, 0, false, false);
        break;
    }
    fail(f, "fatal-returned", "%s: the call returned",
         fatal_kinds[kind].name);
}

typedef struct ChildResult {
    int status;
    char *out;
    char *err;
    char *fail_id;          /* the first FAIL line's id, or NULL */
} ChildResult;

static void child_result_free(ChildResult *r)
{
    g_free(r->out);
    g_free(r->err);
    g_free(r->fail_id);
}

static char *write_ops_file(const char *const *lines, size_t n);
static void child_replay(const char *file, const char *regression,
                         ChildResult *r);

/* What stderr lacks of what a fatal kind's message must say, or NULL. */
static char *fatal_missing(FatalKind kind, const char *err)
{
    g_autofree char *addr = g_strdup_printf("0x%" PRIx64,
                                            fatal_kinds[kind].addr);
    const char *want[] = {
        addr, fatal_kinds[kind].pattern,
        fatal_kinds[kind].err ? strerror(fatal_kinds[kind].err) : NULL,
        fatal_kinds[kind].aborts ? NULL : "live",
        fatal_kinds[kind].aborts ? NULL : "pinned",
        fatal_kinds[kind].aborts ? NULL : "pending",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(want); i++) {
        if (want[i] && !strstr(err, want[i])) {
            return g_strdup(want[i]);
        }
    }
    return NULL;
}

static void run_fatal(Fuzz *f, const Op *op)
{
    static const char *const freeable_ops[] = { FREEABLE_OPS };
    FatalKind kind = op->a[0] % FATAL__MAX;
    g_autofree char *line = NULL, *file = NULL, *missing = NULL;
    g_autoptr(GPtrArray) lines = g_ptr_array_new();
    ChildResult r;
    size_t i;

    if (f->child) {
        run_fatal_here(f, kind);
        return;
    }
    g_ptr_array_add(lines, (char *)"init limit=0x10000000 "
                    "badlimit=0xffffffffffffffff holes=0");
    for (i = 0; fatal_kinds[kind].freeable && i < ARRAY_SIZE(freeable_ops);
         i++) {
        g_ptr_array_add(lines, (char *)freeable_ops[i]);
    }
    line = g_strdup_printf("fatal kind=%d", kind);
    g_ptr_array_add(lines, line);
    file = write_ops_file((const char *const *)lines->pdata, lines->len);
    child_replay(file, NULL, &r);
    unlink(file);
    if (fatal_kinds[kind].aborts ?
        !(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT) :
        !(WIFEXITED(r.status) && WEXITSTATUS(r.status) == EXIT_FAILURE)) {
        fail(f, "fatal-status", "%s: child ended with status 0x%x, expected "
             "%s; its stderr:\n%s", fatal_kinds[kind].name, r.status,
             fatal_kinds[kind].aborts ? "abort()" : "exit(1)", r.err);
    } else if ((missing = fatal_missing(kind, r.err))) {
        fail(f, "fatal-message", "%s: stderr does not say \"%s\":\n%s",
             fatal_kinds[kind].name, missing, r.err);
    }
    child_result_free(&r);
}

/* --- the table --- */

static const OpType op_types[] = {
    /* teardown and set-up, and drain, wait for RCU callbacks: rare */
    { "init", { "limit", "badlimit", "holes" }, gen_init, run_init, 1 },
    { "fini", { NULL }, NULL, run_fini, 0 },
    { "map", { "region", "addr", "size", "lock", "dma", "write", "enomem" },
      gen_map, run_map, 160 },
    { "grant", { "addr", "size", "lock", "dma", "write" },
      gen_grant, run_grant, 32 },
    { "unmap", { "ptr", "select", "offset" }, gen_ptr, run_unmap, 80 },
    { "reverse", { "ptr", "select", "offset" }, gen_ptr, run_reverse, 40 },
    { "flush", { NULL }, NULL, run_flush, 8 },
    { "held", { "addr", "size" }, gen_held, run_held, 4 },
    { "replace", { "old", "new", "size", "enomem" }, gen_replace,
      run_replace, 20 },
    { "runstate", { "inmigrate" }, gen_runstate, run_runstate, 8 },
    { "check", { NULL }, NULL, run_check, 8 },
    { "drain", { NULL }, NULL, run_drain, 1 },
    /* with one thread; then a map or a replace, with ENOMEM if it may */
    { "freeable", { "addr" }, gen_freeable, run_freeable, 3 },
    /* 1 in 3000 operations, whatever its weight (0: never) */
    { "fatal", { "kind" }, gen_fatal, run_fatal, 1 },
};

static const OpType *op_type(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(op_types); i++) {
        if (!strcmp(op_types[i].name, name)) {
            return &op_types[i];
        }
    }
    return NULL;
}

/*
 * Operations as text: "name key=value ..." (values in C notation).
 */

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

static bool op_parse(const char *line, Op *op, char **error)
{
    g_auto(GStrv) words = g_strsplit_set(line, " \t", -1);
    int w, i;

    memset(op, 0, sizeof(*op));
    op->type = words[0] ? op_type(words[0]) : NULL;
    if (!op->type) {
        *error = g_strdup_printf("unknown operation in \"%s\"", line);
        return false;
    }
    for (w = 1; words[w]; w++) {
        char *eq = strchr(words[w], '=');

        if (!*words[w]) {
            continue;
        }
        for (i = 0; eq && op->type->args[i]; i++) {
            if (!strncmp(op->type->args[i], words[w], eq - words[w]) &&
                strlen(op->type->args[i]) == eq - words[w]) {
                break;
            }
        }
        if (!eq || !op->type->args[i]) {
            *error = g_strdup_printf("bad argument \"%s\"", words[w]);
            return false;
        }
        op->a[i] = g_ascii_strtoull(eq + 1, NULL, 0);
    }
    return true;
}

/* Read a file of operations; '#' starts a comment line. */
static GArray *ops_read(const char *file)
{
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) gerr = NULL;
    GArray *ops = g_array_new(FALSE, FALSE, sizeof(Op));
    int i;

    if (!g_file_get_contents(file, &text, NULL, &gerr)) {
        printf("cannot read %s: %s\n", file, gerr->message);
        exit(2);
    }
    lines = g_strsplit(text, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_autofree char *error = NULL;
        char *line = g_strstrip(lines[i]);
        Op op;

        if (!*line || *line == '#') {
            continue;
        }
        if (!op_parse(line, &op, &error)) {
            printf("%s:%d: %s\n", file, i + 1, error);
            exit(2);
        }
        g_array_append_val(ops, op);
    }
    return ops;
}

static void ops_write(const char *file, const char *comment, GArray *ops)
{
    FILE *out = fopen(file, "w");
    guint i;

    g_assert(out);
    fprintf(out, "# %s\n", comment);
    for (i = 0; i < ops->len; i++) {
        g_autofree char *line = op_format(&g_array_index(ops, Op, i));

        fprintf(out, "%s\n", line);
    }
    fclose(out);
}

static char *write_ops_file(const char *const *lines, size_t n)
{
    g_autofree char *text = NULL;
    GString *s = g_string_new(NULL);
    char *file;
    size_t i;
    int fd;

    for (i = 0; i < n; i++) {
        g_string_append_printf(s, "%s\n", lines[i]);
    }
    fd = g_file_open_tmp("xen-mapcache-fuzz-XXXXXX", &file, NULL);
    g_assert(fd >= 0);
    text = g_string_free(s, FALSE);
    g_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return file;
}

/*
 * Running operations
 */

/*
 * The first thread is QEMU's main loop: it holds the BQL from setup to
 * cleanup but in drain_call_rcu(), which drops it while it waits.  The
 * second thread is an IOThread, without it.
 */
static void fuzz_setup(Fuzz *f, uint64_t seed, bool two_threads)
{
    bql_lock();
    memset(f, 0, sizeof(*f));
    f->rng = g_rand_new_with_seed(seed ^ seed >> 32);
    f->m.holes = bitmap_new(RAM_PAGES);
    f->m.pins = g_array_new(FALSE, FALSE, sizeof(Pin));
    f->m.taken = g_hash_table_new(NULL, NULL);
    reg_init();
    f->two_threads = two_threads;
    f->t2.seed = seed;
    qemu_mutex_init(&f->t2.replace_lock);
    fake_xen_init(RAM_BYTES, GRANT_PAGES);
}

static void fuzz_cleanup(Fuzz *f)
{
    thread2_stop(f);
    g_free(f->t2.failure);
    g_free(f->m.holes);
    g_array_free(f->m.pins, TRUE);
    g_hash_table_destroy(f->m.taken);
    g_rand_free(f->rng);
    g_free(f->fail_id);
    if (f->record) {
        fclose(f->record);
    }
    if (!f->m.up) {
        fake_xen_fini();
    }
    bql_unlock();
}

/* Run one operation and the checks every operation gets. */
static void run_op(Fuzz *f, const Op *op)
{
    if (f->record) {
        g_autofree char *line = op_format(op);

        fprintf(f->record, "%s\n", line);
        fflush(f->record);
    }
    if (!f->m.up && op->type->run != run_init) {
        return;
    }
    reg_op_start();
    op->type->run(f, op);
    if (op->type->run != run_freeable) {
        f->m.freeable = NULL;   /* for the next operation only */
    }
    f->ops++;
    if (f->m.up) {
        check_fake(f);
        thread2_check(f);
    }
    if (f->failed) {
        g_autofree char *line = op_format(op);

        printf("  at operation %" PRIu64 ": %s\n", f->ops, line);
        fflush(stdout);
    }
}

/* Unpin what the model holds, then tear down with its checks. */
static void run_teardown(Fuzz *f)
{
    Op fini = { .type = op_type("fini") };

    while (f->m.up && f->m.pins->len && !f->failed) {
        Op unmap = { .type = op_type("unmap"), .a = { PTR_PINNED, 0 } };

        run_op(f, &unmap);
    }
    if (!f->failed) {
        run_op(f, &fini);
    }
}

static int replay(const char *file, bool two_threads)
{
    g_autoptr(GArray) ops = ops_read(file);
    Fuzz f;
    guint i;

    fuzz_setup(&f, 1, two_threads);
    f.child = true;
    for (i = 0; i < ops->len && !f.failed; i++) {
        run_op(&f, &g_array_index(ops, Op, i));
    }
    run_teardown(&f);
    printf("%s: %s after %" PRIu64 " operations\n", file,
           f.failed ? "FAILED" : "passed", f.ops);
    fuzz_cleanup(&f);
    return f.failed;
}

/* Weights of the operations in random cases (--weights name=N,...). */
static unsigned op_weights[ARRAY_SIZE(op_types)];

static bool set_weights(const char *spec)
{
    g_auto(GStrv) items = g_strsplit(spec ? spec : "", ",", -1);
    size_t i;
    int j;

    for (i = 0; i < ARRAY_SIZE(op_types); i++) {
        op_weights[i] = op_types[i].weight;
    }
    for (j = 0; items[j]; j++) {
        char *eq = strchr(items[j], '=');
        const OpType *type;

        if (!*items[j]) {
            continue;
        }
        if (eq) {
            *eq = '\0';
        }
        type = op_type(items[j]);
        if (!eq || !type) {
            printf("bad weight \"%s\"\n", items[j]);
            return false;
        }
        op_weights[type - op_types] = atoi(eq + 1);
    }
    return true;
}

static const OpType *pick_op_type(Fuzz *f)
{
    size_t i, fatal = op_type("fatal") - op_types;
    unsigned total = 0, pick;

    if (!f->m.up) {
        return op_type("init");
    }
    if (!rnd(f, 3000) && op_weights[fatal]) {
        return &op_types[fatal];
    }
    for (i = 0; i < ARRAY_SIZE(op_types); i++) {
        total += i == fatal ? 0 : op_weights[i];
    }
    pick = rnd(f, total);
    for (i = 0; i == fatal || pick >= op_weights[i]; i++) {
        pick -= i == fatal ? 0 : op_weights[i];
    }
    return &op_types[i];
}

/* One random case: set up, up to CASE_OPS_MAX operations, tear down. */
static void random_case(Fuzz *f)
{
    unsigned i, n = 1 + rnd(f, CASE_OPS_MAX);

    if (f->record) {
        g_assert(!ftruncate(fileno(f->record), 0));
        rewind(f->record);
    }
    for (i = 0; i < n && !f->failed; i++) {
        /* After "freeable": the operations that may inject ENOMEM. */
        Op op = {
            .type = f->m.freeable ? op_type(chance(f, 70) ? "map" : "replace")
                                  : pick_op_type(f),
        };

        if (op.type->gen) {
            op.type->gen(f, &op);
        }
        run_op(f, &op);
    }
    run_teardown(f);
}

/* Random cases for @seconds; stops at the first failure. */
static int random_run(uint64_t seed, double seconds, bool two_threads,
                      const char *record)
{
    gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
    gint64 start = g_get_monotonic_time();
    uint64_t cases = 0;
    Fuzz f;

    fuzz_setup(&f, seed, two_threads);
    if (record) {
        f.record = fopen(record, "w");
        g_assert(f.record);
    }
    printf("SEED %" PRIu64 "\n", seed);
    fflush(stdout);
    do {
        random_case(&f);
        cases++;
    } while (!f.failed && g_get_monotonic_time() < end);
    if (nr_ignored) {
        GHashTableIter iter;
        gpointer id, times;

        g_hash_table_iter_init(&iter, nr_ignored);
        while (g_hash_table_iter_next(&iter, &id, &times)) {
            printf("IGNORED %s %zu\n", (char *)id, GPOINTER_TO_SIZE(times));
        }
    }
    printf("OPS %" PRIu64 " THREAD2 %" PRIu64 " CASES %" PRIu64
           " SECONDS %.2f\n", f.ops, qatomic_read(&f.t2.ops), cases,
           (g_get_monotonic_time() - start) / (double)G_USEC_PER_SEC);
    fuzz_cleanup(&f);
    return f.failed;
}

/*
 * Regression cases: each finding of issue 13, and the answers the round
 * agreed, as operations.  Hole layouts: holes=1 makes DUMMY_BUCKET (5) a
 * hole (and a few runs elsewhere in the lower half).
 */

#define INIT_256M "init limit=0x10000000 badlimit=0xffffffffffffffff holes=1"
#define INIT_SIZE_MAX \
    "init limit=0xffffffffffffffff badlimit=0xffffffffffffffff holes=1"
#define DUMMY_ADDR "0x500000"

typedef struct Regression {
    const char *name;
    const char *what;
    const char *const *ops;
} Regression;

static const char *const reg_wrap_size_max[] = {
    INIT_SIZE_MAX,
    "map region=0 addr=0x100000 size=0xffffffffffffffff lock=1 dma=1",
    "map region=0 addr=0x100000 size=0xffffffffffc00000 lock=0",
    "map region=0 addr=0x180000 size=0xfffffffffff80000 lock=1",
    "map region=0 addr=0xffffffffffff0000 size=0x20000 lock=1 dma=1",
    "map region=0 addr=0xfffffffff0000000 size=0x10000000 lock=0",
    "runstate inmigrate=1",
    "replace old=0x100000 new=0x8000000 size=0xffffffffffffffff",
    NULL,
};

static const char *const reg_grant_ref_2_32_3[] = {
    INIT_256M,
    "grant addr=0x100010003000 size=0x1000 lock=1 dma=1 write=1",
    "grant addr=0x100010003000 size=0x1000 lock=1 dma=1 write=0",
    "grant addr=0xffff000 size=0x1000 lock=1 dma=1 write=1",
    "grant addr=0x10000fffff000 size=0x2000 lock=1 dma=1 write=1",
    NULL,
};

static const char *const reg_replace_larger_dummy[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=" DUMMY_ADDR " size=0x200000 lock=1 dma=1",
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x1000",
    "check",
    NULL,
};

static const char *const reg_replace_null_after_remap[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=" DUMMY_ADDR " size=0x1000 lock=1 dma=1",
    "replace old=" DUMMY_ADDR " new=0x80ff800 size=0x1000",
    "check",
    "reverse ptr=0 select=0",
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x1000",
    "reverse ptr=0 select=0",
    NULL,
};

/*
 * ENOMEM is retried once something is freed: FREEABLE_OPS leave an entry
 * freeable (out of its recent slot, a grace period since).  Then the
 * "freeable" operation, which random cases use, before a map.
 */
static const char *const reg_replace_enomem[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=" DUMMY_ADDR " size=0x1000 lock=1 dma=1",
    FREEABLE_OPS,
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x1000 enomem=1",
    "check",
    NULL,
};

static const char *const reg_map_enomem[] = {
    INIT_256M,
    FREEABLE_OPS,
    "map region=0 addr=0xa000000 size=0x1000 lock=1 dma=1 enomem=1",
    "check",
    "freeable addr=0x9000000",
    "map region=0 addr=0xa100000 size=0x200000 lock=0 enomem=1",
    "check",
    NULL,
};

static const char *const reg_flush_trace_per_pin[] = {
    INIT_256M,
    "map region=0 addr=0x8000040 size=0x40 lock=1 dma=1",
    "map region=0 addr=0x8000040 size=0x40 lock=1 dma=1",
    "map region=0 addr=0x8100000 size=0x40 lock=1 dma=1",
    "flush",
    NULL,
};

static const char *const reg_pin_at_2_64_1[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=0xffffffffffffffff size=0 lock=1 dma=1",
    "map region=0 addr=0xffffffffffffffff size=1 lock=1 dma=1",
    "map region=0 addr=0xfffffffffffff000 size=0x1000 lock=1 dma=1",
    "reverse ptr=0 select=0",
    NULL,
};

static const char *const reg_oversize_served[] = {
    "init limit=0x800000 badlimit=0x1000 holes=1",
    "map region=0 addr=0x8000000 size=0x1000000 lock=1 dma=1",
    "map region=0 addr=0x9000000 size=0x1000000 lock=0",
    "map region=0 addr=0x400000000 size=0x800000000 lock=0",
    NULL,
};

/* The dummy's size decides, not the limit it exceeds (1 MiB here). */
static const char *const reg_replace_dummy_over_limit[] = {
    "init limit=0x100000 badlimit=0xffffffffffffffff holes=1",
    "runstate inmigrate=1",
    "map region=0 addr=" DUMMY_ADDR " size=0x200000 lock=1 dma=1",
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x100000",
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x200000",
    "check",
    "reverse ptr=0 select=0",
    NULL,
};

/*
 * A replace checks only the range it is asked for: the 2 MiB dummy at
 * 0x10000000 (past guest RAM) gets buckets 0xff and 0x100, and its pins
 * that reach the second now show frames past guest RAM, inaccessible.
 */
static const char *const reg_replace_pins_over_holes[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=0x10000000 size=0x100001 lock=1 dma=1",
    "map region=0 addr=0x100c0000 size=0x100000 lock=1 dma=1",
    "replace old=0x100fffff new=0xff00000 size=0x2",
    "check",
    NULL,
};

static const char *const reg_reverse_after_replace[] = {
    INIT_256M,
    "runstate inmigrate=1",
    "map region=0 addr=0x500040 size=0x100 lock=1 dma=1",
    "replace old=" DUMMY_ADDR " new=0x8000000 size=0x1000",
    "reverse ptr=0 select=0",
    "check",
    NULL,
};

static const Regression regressions[] = {
    { "wrap-size-max", "issue 13 #1: request arithmetic wraps with a "
      "SIZE_MAX limit", reg_wrap_size_max },
    { "grant-ref-2^32+3", "issue 13 #2: grant 2^32+3 maps grant 3",
      reg_grant_ref_2_32_3 },
    { "replace-larger-dummy", "issue 13 #3a: replace of a larger dummy",
      reg_replace_larger_dummy },
    { "replace-null-after-remap", "issue 13 #3b: replace returns NULL after "
      "remapping", reg_replace_null_after_remap },
    { "replace-enomem", "issue 13 #3c: ENOMEM during replace exits; the "
      "retry frees what is freeable", reg_replace_enomem },
    { "map-enomem", "round: ENOMEM frees what is freeable and retries",
      reg_map_enomem },
    { "flush-trace-per-pin", "issue 13 #4a: one flush trace per pin",
      reg_flush_trace_per_pin },
    { "pin-at-2^64-1", "issue 13 #4b: a pin at 2^64-1 is RAM_ADDR_INVALID",
      reg_pin_at_2_64_1 },
    { "oversize-served", "round: over the limit but not the cap is served",
      reg_oversize_served },
    { "reverse-after-replace", "round: reverse lookup answers the address "
      "mapped, after replace", reg_reverse_after_replace },
    { "replace-dummy-over-limit", "round: a dummy larger than the limit is "
      "replaced like any, if of exactly the size",
      reg_replace_dummy_over_limit },
    { "replace-pins-over-holes", "fuzz: the dummy's other pins may show "
      "holes after a replace", reg_replace_pins_over_holes },
};

static const Regression *regression_find(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(regressions); i++) {
        if (!strcmp(regressions[i].name, name)) {
            return &regressions[i];
        }
    }
    return NULL;
}

static size_t regression_len(const Regression *reg)
{
    size_t n = 0;

    while (reg->ops[n]) {
        n++;
    }
    return n;
}

/*
 * Children: this program run again, on a file of operations.
 */

static char *first_fail_id(const char *out)
{
    const char *p = strstr(out, "FAIL ");
    const char *end;

    if (!p) {
        return NULL;
    }
    p += 5;
    end = strchr(p, ':');
    return end ? g_strndup(p, end - p) : g_strdup(p);
}

/* A short name for how a child that printed no FAIL line ended. */
static char *crash_id(const ChildResult *r)
{
    const char *san = strstr(r->err, "ERROR: AddressSanitizer: ");
    const char *ub = strstr(r->err, "runtime error: ");
    const char *fatal = strstr(r->err, "mapcache: ");

    if (san) {
        san += strlen("ERROR: AddressSanitizer: ");
        return g_strdup_printf("asan-%.*s", (int)strcspn(san, " \n"), san);
    }
    if (ub) {
        return g_strndup(ub, strcspn(ub, "\n"));
    }
    if (WIFSIGNALED(r->status)) {
        return g_strdup_printf("signal %d", WTERMSIG(r->status));
    }
    if (fatal) {
        /* "mapcache: mapping grant references at guest address ..." */
        return g_strdup_printf("exit %d %.*s", WEXITSTATUS(r->status),
                               (int)(strstr(fatal, " at ") ?
                                     strstr(fatal, " at ") - fatal :
                                     strcspn(fatal, "\n")), fatal);
    }
    return g_strdup_printf("exit %d", WEXITSTATUS(r->status));
}

static void child_run(char **argv, ChildResult *r)
{
    g_autoptr(GError) gerr = NULL;
    g_auto(GStrv) env = g_get_environ();

    env = g_environ_setenv(env, "ASAN_OPTIONS",
                           "detect_leaks=0:halt_on_error=1", TRUE);
    memset(r, 0, sizeof(*r));
    if (!g_spawn_sync(NULL, argv, env, G_SPAWN_DEFAULT, NULL, NULL, &r->out,
                      &r->err, &r->status, &gerr)) {
        printf("cannot run a child: %s\n", gerr->message);
        exit(2);
    }
    r->fail_id = first_fail_id(r->out);
    if (!r->fail_id && r->status) {
        r->fail_id = crash_id(r);
    }
}

static void child_replay(const char *file, const char *regression,
                         ChildResult *r)
{
    char *argv[] = {
        (char *)"/proc/self/exe", (char *)(file ? "--replay" : "--regression"),
        (char *)(file ? file : regression), NULL,
    };

    child_run(argv, r);
}

/* Print @text as TAP diagnostics, at most @max lines. */
static void tap_diag(const char *text, int max)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    int i;

    for (i = 0; lines[i] && i < max; i++) {
        if (*lines[i]) {
            printf("# %s\n", lines[i]);
        }
    }
}

static int run_regression_here(const char *name)
{
    const Regression *reg = regression_find(name);
    g_autofree char *file = NULL;
    int ret;

    if (!reg) {
        printf("no regression case %s\n", name);
        return 2;
    }
    file = write_ops_file(reg->ops, regression_len(reg));
    ret = replay(file, false);
    unlink(file);
    return ret;
}

static int tap_regressions(int *test)
{
    int failed = 0;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(regressions); i++) {
        ChildResult r;

        child_replay(NULL, regressions[i].name, &r);
        printf("%s %d - regression/%s\n", r.status ? "not ok" : "ok",
               ++*test, regressions[i].name);
        if (r.status) {
            printf("# %s\n", regressions[i].what);
            tap_diag(r.out, 12);
            tap_diag(r.err, 12);
            failed++;
        }
        fflush(stdout);
        child_result_free(&r);
    }
    return failed;
}

/*
 * Random runs from the TAP driver: workers in children, each until its
 * first failure or the deadline; a failing case is kept, under its
 * failure's name, in the output directory.
 */

typedef struct RandomSummary {
    uint64_t ops, thread2_ops, cases, workers;
    double seconds;
    GHashTable *failures;   /* fail id -> kept file */
    GHashTable *ignored;    /* fail id -> times counted and gone past */
} RandomSummary;

static void parse_worker_output(const char *out, RandomSummary *s)
{
    const char *p = strstr(out, "OPS ");
    uint64_t ops, t2, cases;
    double seconds;
    g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
    int i;

    for (i = 0; lines[i]; i++) {
        char id[128];
        size_t times;

        if (sscanf(lines[i], "IGNORED %127s %zu", id, &times) == 2) {
            g_hash_table_insert(s->ignored, g_strdup(id), GSIZE_TO_POINTER(
                GPOINTER_TO_SIZE(g_hash_table_lookup(s->ignored, id)) +
                times));
        }
    }

    if (p && sscanf(p, "OPS %" SCNu64 " THREAD2 %" SCNu64 " CASES %" SCNu64
                    " SECONDS %lf", &ops, &t2, &cases, &seconds) == 4) {
        s->ops += ops;
        s->thread2_ops += t2;
        s->cases += cases;
        s->seconds += seconds;
    }
}

static void keep_failure(RandomSummary *s, const ChildResult *r,
                         const char *record, const char *outdir,
                         uint64_t seed)
{
    g_autofree char *safe = g_strdup(r->fail_id);
    g_autofree char *text = NULL;
    char *kept;

    if (g_hash_table_contains(s->failures, r->fail_id)) {
        return;
    }
    g_strcanon(safe, "abcdefghijklmnopqrstuvwxyz0123456789-", '_');
    kept = g_strdup_printf("%s/fail-%s-%" PRIu64 ".txt", outdir, safe, seed);
    if (g_file_get_contents(record, &text, NULL, NULL)) {
        g_autofree char *out = g_strdup_printf(
            "# seed %" PRIu64 ", failure %s\n%s", seed, r->fail_id, text);

        g_file_set_contents(kept, out, -1, NULL);
    }
    printf("# seed %" PRIu64 ": %s (case kept in %s)\n", seed, r->fail_id,
           kept);
    tap_diag(r->out, 6);
    tap_diag(r->err, 6);
    fflush(stdout);
    g_hash_table_insert(s->failures, g_strdup(r->fail_id), kept);
}

static void random_workers(double seconds, bool two_threads,
                           const char *outdir, RandomSummary *s)
{
    gint64 end = g_get_monotonic_time() + seconds * G_USEC_PER_SEC;
    g_autofree char *record = g_strdup_printf("%s/case-%s.txt", outdir,
                                              two_threads ? "2" : "1");
    uint64_t seed = (g_get_real_time() ^ getpid()) & INT64_MAX;
    GString *ignore = g_string_new(NULL);
    size_t i;

    for (i = 0; known_core_bugs[i].id; i++) {
        g_string_append_printf(ignore, "%s%s", i ? "," : "",
                               known_core_bugs[i].id);
    }
    for (i = 0; ignored && ignored[i]; i++) {
        g_string_append_printf(ignore, ",%s", ignored[i]);
    }
    do {
        double left = (end - g_get_monotonic_time()) /
                      (double)G_USEC_PER_SEC;
        g_autofree char *seed_s = g_strdup_printf("%" PRIu64, seed);
        g_autofree char *secs = g_strdup_printf("%.3f", MAX(left, 0.1));
        char *argv[] = {
            (char *)"/proc/self/exe", (char *)"--random", (char *)"--seed",
            seed_s, (char *)"--seconds", secs, (char *)"--record", record,
            (char *)(two_threads ? "--threads=2" : "--threads=1"),
            (char *)"--ignore", ignore->str, NULL,
        };
        ChildResult r;

        child_run(argv, &r);
        s->workers++;
        parse_worker_output(r.out, s);
        if (r.status) {
            keep_failure(s, &r, record, outdir, seed);
        }
        child_result_free(&r);
        seed = (seed * 6364136223846793005ULL + 1442695040888963407ULL) &
               INT64_MAX;
    } while (g_get_monotonic_time() < end);
    g_string_free(ignore, TRUE);
}

static int tap_random(int *test, double seconds, bool two_threads,
                      const char *outdir)
{
    RandomSummary s = {
        .failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          g_free),
        .ignored = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         NULL),
    };
    GHashTableIter iter;
    gpointer id, value;
    guint failures;
    size_t i;

    random_workers(seconds, two_threads, outdir, &s);
    failures = g_hash_table_size(s.failures);
    printf("%s %d - random/%s\n", failures ? "not ok" : "ok", ++*test,
           two_threads ? "2-threads" : "1-thread");
    printf("# %" PRIu64 " operations (+%" PRIu64 " by the second thread) "
           "in %" PRIu64 " cases, %" PRIu64 " workers, %.0f operations/s\n",
           s.ops, s.thread2_ops, s.cases, s.workers,
           s.seconds > 0 ? s.ops / s.seconds : 0.0);
    g_hash_table_iter_init(&iter, s.ignored);
    while (g_hash_table_iter_next(&iter, &id, &value)) {
        const char *file = NULL;

        for (i = 0; known_core_bugs[i].id; i++) {
            if (!strcmp(known_core_bugs[i].id, id)) {
                file = known_core_bugs[i].file;
            }
        }
        printf("# gone past %s %zu times (%s%s)\n", (char *)id,
               GPOINTER_TO_SIZE(value),
               file ? "a known core bug: " : "ignored", file ? file : "");
    }
    if (failures) {
        printf("# %u distinct failures:\n", failures);
        g_hash_table_iter_init(&iter, s.failures);
        while (g_hash_table_iter_next(&iter, &id, &value)) {
            printf("#   %s: %s\n", (char *)id, (char *)value);
        }
    }
    fflush(stdout);
    g_hash_table_destroy(s.failures);
    g_hash_table_destroy(s.ignored);
    return failures != 0;
}

static int tap_main(double seconds, const char *outdir)
{
    int test = 0, failed;

    g_mkdir_with_parents(outdir, 0755);
    printf("TAP version 13\n");
    printf("1..%zu\n", ARRAY_SIZE(regressions) + 2);
    printf("# random cases for %.0f s; failing cases kept in %s\n", seconds,
           outdir);
    fflush(stdout);
    failed = tap_regressions(&test);
    failed += tap_random(&test, seconds / 2, false, outdir);
    failed += tap_random(&test, seconds / 2, true, outdir);
    return failed ? 1 : 0;
}

/*
 * Shrinking: drop operations while the failure stays the same
 * (delta debugging, ddmin), each try in a child.
 */

static bool still_fails(GArray *ops, const char *id, const char *tmp)
{
    ChildResult r;
    bool same;

    ops_write(tmp, "shrinking", ops);
    child_replay(tmp, NULL, &r);
    same = r.fail_id && !strcmp(r.fail_id, id);
    child_result_free(&r);
    return same;
}

static GArray *without_chunk(GArray *ops, guint start, guint len)
{
    GArray *rest = g_array_new(FALSE, FALSE, sizeof(Op));

    g_array_append_vals(rest, ops->data, start);
    if (start + len < ops->len) {
        g_array_append_vals(rest, &g_array_index(ops, Op, start + len),
                            ops->len - start - len);
    }
    return rest;
}

static int shrink(const char *file)
{
    GArray *ops = ops_read(file);
    g_autofree char *tmp = g_strdup_printf("%s.try", file);
    g_autofree char *out = g_strdup_printf("%s.min", file);
    g_autofree char *id = NULL;
    guint n = 2, tries = 0;
    ChildResult r;

    child_replay(file, NULL, &r);
    id = g_strdup(r.fail_id);
    child_result_free(&r);
    if (!id) {
        printf("%s does not fail\n", file);
        return 1;
    }
    printf("shrinking %s (%u operations), failure %s\n", file, ops->len, id);
    while (ops->len >= 2) {
        guint chunk = DIV_ROUND_UP(ops->len, n), start;
        bool removed = false;

        for (start = 0; start < ops->len && !removed; start += chunk) {
            GArray *rest = without_chunk(ops, start, chunk);

            tries++;
            if (rest->len && still_fails(rest, id, tmp)) {
                g_array_free(ops, TRUE);
                ops = rest;
                n = MAX(n - 1, 2u);
                removed = true;
            } else {
                g_array_free(rest, TRUE);
            }
        }
        if (!removed) {
            if (n >= ops->len) {
                break;
            }
            n = MIN(n * 2, ops->len);
        }
    }
    unlink(tmp);
    ops_write(out, id, ops);
    printf("%u operations after %u tries: %s\n", ops->len, tries, out);
    g_array_free(ops, TRUE);
    return 0;
}

/*
 * main
 */

static void usage(const char *argv0)
{
    printf("usage: %s --tap [--out DIR]   regressions, then random cases for "
           "$%s s (default 60)\n"
           "       %s --regressions       every regression case\n"
           "       %s --regression NAME\n"
           "       %s --random [--seed N] [--seconds S] [--threads 1|2] "
           "[--record FILE]\n"
           "       %s --replay FILE [--threads 1|2]\n"
           "       %s --shrink FILE       writes FILE.min\n"
           "       %s --list              the regression cases\n",
           argv0, ENV_SECONDS, argv0, argv0, argv0, argv0, argv0, argv0);
}

int main(int argc, char **argv)
{
    g_autofree char *replay_file = NULL, *shrink_file = NULL;
    g_autofree char *regression = NULL, *record = NULL, *out = NULL;
    g_autofree char *ignore = NULL, *weights = NULL;
    gboolean tap = FALSE, random = FALSE, all = FALSE, list = FALSE;
    gint64 seed = 0;
    double seconds = 10;
    int threads = 1;
    const char *env = getenv(ENV_SECONDS);
    GOptionEntry entries[] = {
        { "tap", 0, 0, G_OPTION_ARG_NONE, &tap, NULL, NULL },
        { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, NULL, NULL },
        { "regressions", 0, 0, G_OPTION_ARG_NONE, &all, NULL, NULL },
        { "regression", 0, 0, G_OPTION_ARG_STRING, &regression, NULL, NULL },
        { "random", 0, 0, G_OPTION_ARG_NONE, &random, NULL, NULL },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, NULL, NULL },
        { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, NULL, NULL },
        { "threads", 0, 0, G_OPTION_ARG_INT, &threads, NULL, NULL },
        { "record", 0, 0, G_OPTION_ARG_FILENAME, &record, NULL, NULL },
        { "replay", 0, 0, G_OPTION_ARG_FILENAME, &replay_file, NULL, NULL },
        { "shrink", 0, 0, G_OPTION_ARG_FILENAME, &shrink_file, NULL, NULL },
        { "list", 0, 0, G_OPTION_ARG_NONE, &list, NULL, NULL },
        { "ignore", 0, 0, G_OPTION_ARG_STRING, &ignore, NULL, NULL },
        { "weights", 0, 0, G_OPTION_ARG_STRING, &weights, NULL, NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
    g_autoptr(GError) gerr = NULL;
    int test = 0;
    size_t i;

    enable_traces_or_reexec(argv);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        printf("%s\n", gerr->message);
        usage(argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!ignore && getenv(ENV_IGNORE)) {
        ignore = g_strdup(getenv(ENV_IGNORE));
    }
    if (ignore) {
        ignored = g_strsplit(ignore, ",", -1);
    }
    if (!set_weights(weights ? weights : getenv(ENV_WEIGHTS))) {
        return 2;
    }
    if (list) {
        for (i = 0; i < ARRAY_SIZE(regressions); i++) {
            printf("%-26s %s\n", regressions[i].name, regressions[i].what);
        }
        return 0;
    }
    if (tap) {
        return tap_main(env ? g_ascii_strtod(env, NULL) : 60,
                        out ? out : "fuzz-results");
    }
    if (all) {
        printf("1..%zu\n", ARRAY_SIZE(regressions));
        return tap_regressions(&test) ? 1 : 0;
    }
    if (shrink_file) {
        return shrink(shrink_file);
    }
    capture_start(true);
    if (regression) {
        return run_regression_here(regression);
    }
    if (replay_file) {
        return replay(replay_file, threads == 2);
    }
    if (random) {
        return random_run(seed ? seed : (uint64_t)g_get_real_time(), seconds,
                          threads == 2, record);
    }
    usage(argv[0]);
    return 2;
}
