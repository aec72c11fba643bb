/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * A fake Xen hypervisor: libxenforeignmemory and libxengnttab entry points
 * backed by memfds, with counters and failure injection.  It also plays
 * the granting domain (ending foreign access fails while a grant is
 * mapped).  See test-xen-mapcache-fake-xen.h.  The standalone tests add a
 * registry of ranges in use by readers and the kernel's budget through
 * fake_xen_hooks (tests/standalone/fake-xen-extra.c).
 *
 * Memory
 * ------
 * Guest RAM is a sparse memfd: frame pfn at offset pfn * 4096.  Granted
 * pages are a second memfd: grant reference r at offset r * 4096.  A frame
 * is written with its pattern (fake_xen_ram_byte(), fake_xen_grant_byte())
 * the first time it is mapped, so a large guest costs only what is used.
 * A bitmap per memfd says which frames are filled.
 *
 * Mappings
 * --------
 * A foreign mapping first reserves its whole range (PROT_NONE anonymous
 * memory, at the caller's address with MAP_FIXED), then maps each run of
 * valid frames over it, MAP_SHARED | MAP_FIXED from the memfd: hole frames
 * stay PROT_NONE.  Every range handed out is recorded (start, pages, kind,
 * and for grants the references) in a tree ordered by address; an unmap
 * that does not match one exactly is a bad unmap (it is still done).
 *
 * A map call is checked against the budget hook with what is live plus
 * what map calls in progress have reserved (FakeXenMapping), so that two
 * threads mapping at once cannot both pass it.
 *
 * Locking
 * -------
 * fake.lock protects everything; the hooks are called with it held.
 * mmap() and munmap() run without it (see FakeXenMapping): a range leaves
 * the tree before it is unmapped and enters it once mapped, which keeps
 * the tree right because the kernel reuses no address before its
 * munmap().  QemuMutex has no static initializer: the lock is set up on
 * first use (fake_lock()).
 */

#include "qemu/osdep.h"
/* xen_native.h must come before any other Xen header. */
#include "hw/xen/xen_native.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"

#include <xengnttab.h>

#include "test-xen-mapcache-fake-xen.h"

#define FAKE_XEN_RAM_SALT   0x5851F42D4C957F2DULL
#define FAKE_XEN_GRANT_SALT 0x2545F4914F6CDD1DULL

/* Pages filled with one pwrite() at most. */
#define FAKE_XEN_FILL_CHUNK 256

struct xenforeignmemory_handle {
    int unused;
};

struct xengntdev_handle {
    int unused;
};

typedef enum FakeXenKind {
    FAKE_XEN_KIND_FOREIGN,
    FAKE_XEN_KIND_GRANT,
} FakeXenKind;

/* A range handed out by a map call and not unmapped since. */
typedef struct FakeXenRange {
    uintptr_t start;
    size_t pages;
    FakeXenKind kind;
    uint64_t *refs;             /* grants: the reference of each page */
} FakeXenRange;

/* One memfd of pages with its salt and its bitmap of filled pages. */
typedef struct FakeXenMemory {
    const char *name;
    int fd;
    uint64_t pages;
    uint64_t salt;
    unsigned long *filled;
} FakeXenMemory;

typedef struct FakeXenInjection {
    unsigned remaining;
    int err;
} FakeXenInjection;

/* The granting domain's view of one grant reference. */
typedef enum FakeXenGrantState {
    FAKE_XEN_GRANT_GRANTED,     /* the backend may map it */
    FAKE_XEN_GRANT_ENDED,       /* access ended: maps of it fail */
    FAKE_XEN_GRANT_DISABLED,    /* ending failed: never used again */
} FakeXenGrantState;

static struct {
    QemuMutex lock;
    bool initialized;
    FakeXenMemory ram;
    FakeXenMemory grants;
    unsigned long *holes;
    uint8_t *grant_state;       /* FakeXenGrantState, per reference */
    uint32_t *grant_maps;       /* live backend mappings, per reference */
    GTree *live;                /* FakeXenRange, by start address */
    FakeXenInjection inject[FAKE_XEN_GRANT_MAP + 1];
    uint64_t reserved_pages;    /* by map calls in progress */
    uint64_t reserved_ranges;
    FakeXenStats stats;         /* live_ranges, live_pages kept here too */
} fake = {
    .ram.fd = -1,
    .grants.fd = -1,
};

FakeXenHooks fake_xen_hooks;

/* Set up once, by whichever entry point runs first. */
static QemuMutex *fake_lock(void)
{
    static gsize done;

    if (g_once_init_enter(&done)) {
        qemu_mutex_init(&fake.lock);
        g_once_init_leave(&done, 1);
    }
    return &fake.lock;
}

/* A live range is about to be unmapped or mapped over. */
static void range_changes_locked(const char *what, uintptr_t start,
                                 size_t len)
{
    if (fake_xen_hooks.range_changes) {
        fake_xen_hooks.range_changes(what, start, len);
    }
}

/* Pattern */

static uint8_t pattern_byte(uint64_t addr, uint64_t salt)
{
    uint64_t word = (addr & ~(uint64_t)7) ^ salt;

    return word >> (8 * (addr & 7));
}

uint8_t fake_xen_ram_byte(uint64_t gaddr)
{
    return pattern_byte(gaddr, FAKE_XEN_RAM_SALT);
}

uint8_t fake_xen_grant_byte(uint64_t grant_ref, size_t offset)
{
    return pattern_byte(grant_ref * FAKE_XEN_PAGE_SIZE + offset,
                        FAKE_XEN_GRANT_SALT);
}

/* Write the pattern of [@addr, @addr + @len) to @buf; both 8-aligned. */
static void fill_pattern(uint8_t *buf, uint64_t addr, size_t len,
                         uint64_t salt)
{
    size_t i;

    for (i = 0; i < len; i += 8) {
        uint64_t word = GUINT64_TO_LE((addr + i) ^ salt);

        memcpy(buf + i, &word, sizeof(word));
    }
}

/* Memory files */

static void memory_open(FakeXenMemory *mem, const char *name,
                        uint64_t pages, uint64_t salt)
{
    mem->name = name;
    mem->pages = pages;
    mem->salt = salt;
    /* Zeroed: the part never touched stays uncommitted. */
    mem->filled = bitmap_new(pages + 1);
    mem->fd = memfd_create(name, MFD_CLOEXEC);
    if (mem->fd < 0 ||
        ftruncate(mem->fd, (off_t)(pages * FAKE_XEN_PAGE_SIZE)) < 0) {
        error_report("fake-xen: cannot create %s (%" PRIu64 " pages): %s",
                     name, pages, strerror(errno));
        abort();
    }
}

static void memory_close(FakeXenMemory *mem)
{
    if (mem->fd >= 0) {
        close(mem->fd);
    }
    g_free(mem->filled);
    mem->fd = -1;
    mem->filled = NULL;
    mem->pages = 0;
}

/* Write the pattern into pages [@first, @first + @count) of @mem. */
static void memory_fill_run(FakeXenMemory *mem, uint64_t first,
                            uint64_t count)
{
    size_t len = count * FAKE_XEN_PAGE_SIZE;
    off_t offset = first * FAKE_XEN_PAGE_SIZE;
    g_autofree uint8_t *buf = g_malloc(len);

    fill_pattern(buf, offset, len, mem->salt);
    if (pwrite(mem->fd, buf, len, offset) != (ssize_t)len) {
        error_report("fake-xen: cannot fill %s at 0x%" PRIx64 ": %s",
                     mem->name, (uint64_t)offset, strerror(errno));
        abort();
    }
}

/* Fill pages [@first, @first + @count) of @mem where not yet filled. */
static void memory_fill_locked(FakeXenMemory *mem, uint64_t first,
                               uint64_t count)
{
    uint64_t page = first, end = first + count;

    while (page < end) {
        uint64_t run = 0;

        while (page + run < end && run < FAKE_XEN_FILL_CHUNK &&
               !test_bit(page + run, mem->filled)) {
            set_bit(page + run, mem->filled);
            run++;
        }
        if (run) {
            memory_fill_run(mem, page, run);
        }
        page += run ? run : 1;
    }
}

/*
 * Copy to @buf the @len bytes @mem holds at @offset, within one page: its
 * contents where filled, the pattern elsewhere (never filled yet, or
 * beyond its end).
 */
static void memory_read_locked(FakeXenMemory *mem, uint8_t *buf,
                               uint64_t offset, size_t len)
{
    uint64_t page = offset / FAKE_XEN_PAGE_SIZE;
    size_t i;

    if (page < mem->pages && test_bit(page, mem->filled)) {
        if (pread(mem->fd, buf, len, offset) != (ssize_t)len) {
            abort();
        }
        return;
    }
    for (i = 0; i < len; i++) {
        buf[i] = pattern_byte(offset + i, mem->salt);
    }
}

static size_t count_differences(const uint8_t *a, const uint8_t *b,
                                 size_t len)
{
    size_t i, wrong = 0;

    for (i = 0; i < len; i++) {
        wrong += a[i] != b[i];
    }
    return wrong;
}

/*
 * Does [@p, @p + @len) show the pattern of @offset?  Only the frame at
 * @offset holds it, so a match means @p shows that frame, unless a test
 * wrote one address's pattern at another.  Compares whole words.
 */
static bool shows_pattern(const uint8_t *p, uint64_t offset, size_t len,
                          uint64_t salt)
{
    size_t i = 0, head = MIN(len, (size_t)(-offset & 7));

    for (; i < head; i++) {
        if (p[i] != pattern_byte(offset + i, salt)) {
            return false;
        }
    }
    for (; i + 8 <= len; i += 8) {
        uint64_t word;

        memcpy(&word, p + i, sizeof(word));
        if (word != GUINT64_TO_LE((offset + i) ^ salt)) {
            return false;
        }
    }
    for (; i < len; i++) {
        if (p[i] != pattern_byte(offset + i, salt)) {
            return false;
        }
    }
    return true;
}

/*
 * Count the bytes of [@p, @p + @len) that differ from @mem at @offset.
 * Takes fake.lock only to copy what @mem holds, never while reading @p:
 * a caller may leave with siglongjmp() when a read of @p faults.
 */
static size_t memory_check(FakeXenMemory *mem, uint64_t salt,
                           const uint8_t *p, uint64_t offset, size_t len)
{
    uint8_t buf[FAKE_XEN_PAGE_SIZE];
    size_t wrong = 0;

    while (len) {
        size_t in_page = offset % FAKE_XEN_PAGE_SIZE;
        size_t n = MIN(len, (size_t)FAKE_XEN_PAGE_SIZE - in_page);

        if (!shows_pattern(p, offset, n, salt)) {
            WITH_QEMU_LOCK_GUARD(fake_lock()) {
                memory_read_locked(mem, buf, offset, n);
            }
            wrong += count_differences(p, buf, n);
        }
        p += n;
        offset += n;
        len -= n;
    }
    return wrong;
}

/* Live ranges */

/*
 * The tree's keys are the ranges themselves, ordered by start; ranges never
 * overlap.  Only GLib 2.66 API is used, as QEMU allows no newer.
 */
static gint compare_range(gconstpointer a, gconstpointer b, gpointer unused)
{
    const FakeXenRange *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

static void range_free(gpointer data)
{
    FakeXenRange *r = data;

    g_free(r->refs);
    g_free(r);
}

static uintptr_t range_end(const FakeXenRange *r)
{
    return r->start + r->pages * FAKE_XEN_PAGE_SIZE;
}

/* g_tree_search() direction towards the range holding *@addr_ptr. */
static gint search_holding(gconstpointer key, gconstpointer addr_ptr)
{
    const FakeXenRange *r = key;
    uintptr_t addr = *(const uintptr_t *)addr_ptr;

    if (addr < r->start) {
        return -1;
    }
    return addr >= range_end(r) ? 1 : 0;
}

/* The live range holding @addr, or NULL. */
static FakeXenRange *live_holding_locked(uintptr_t addr)
{
    return g_tree_search(fake.live, search_holding, &addr);
}

static void live_insert_locked(uintptr_t start, size_t pages,
                               FakeXenKind kind, const uint64_t *refs)
{
    FakeXenRange *r = g_new0(FakeXenRange, 1);
    size_t i;

    *r = (FakeXenRange) { .start = start, .pages = pages, .kind = kind };
    if (kind == FAKE_XEN_KIND_GRANT) {
        r->refs = g_new(uint64_t, pages);
        memcpy(r->refs, refs, pages * sizeof(*refs));
        for (i = 0; i < pages; i++) {
            fake.grant_maps[refs[i]]++;
        }
    }
    g_tree_insert(fake.live, r, r);
    fake.stats.live_ranges++;
    fake.stats.live_pages += pages;
    fake.stats.peak_live_ranges = MAX(fake.stats.peak_live_ranges,
                                      fake.stats.live_ranges);
    fake.stats.peak_live_pages = MAX(fake.stats.peak_live_pages,
                                     fake.stats.live_pages);
}

static void live_remove_locked(FakeXenRange *r)
{
    size_t i;

    for (i = 0; r->refs && i < r->pages; i++) {
        fake.grant_maps[r->refs[i]]--;
    }
    fake.stats.live_ranges--;
    fake.stats.live_pages -= r->pages;
    g_tree_remove(fake.live, r);   /* frees r */
}

typedef struct OverlapSearch {
    uintptr_t start, end;
    GPtrArray *found;
} OverlapSearch;

static gboolean collect_overlap(gpointer key, gpointer value, gpointer opaque)
{
    FakeXenRange *r = value;
    OverlapSearch *search = opaque;

    if (r->start >= search->end) {
        return TRUE;                /* stop: the rest start later */
    }
    if (range_end(r) > search->start) {
        g_ptr_array_add(search->found, r);
    }
    return FALSE;
}

/* The live ranges overlapping [@start, @end); free with g_ptr_array_free. */
static GPtrArray *live_overlapping_locked(uintptr_t start, uintptr_t end)
{
    OverlapSearch search = {
        .start = start, .end = end, .found = g_ptr_array_new(),
    };

    g_tree_foreach(fake.live, collect_overlap, &search);
    return search.found;
}

/*
 * Forget every live range overlapping [@start, @end), which the kernel is
 * about to unmap or map over.  Returns true if exactly one range was
 * there, of @kind, and it matched exactly: the common case, found in
 * O(log n); anything else walks the tree.
 */
static bool live_forget_overlap_locked(uintptr_t start, uintptr_t end,
                                       FakeXenKind kind)
{
    FakeXenRange *r = live_holding_locked(start);
    GPtrArray *found;
    guint i;

    if (r && r->start == start && range_end(r) == end) {
        bool exact = r->kind == kind;

        live_remove_locked(r);
        return exact;
    }
    found = live_overlapping_locked(start, end);
    for (i = 0; i < found->len; i++) {
        live_remove_locked(g_ptr_array_index(found, i));
    }
    g_ptr_array_free(found, TRUE);
    return false;
}

/* Setup and control */

static void fake_xen_clear_locked(void)
{
    memory_close(&fake.ram);
    memory_close(&fake.grants);
    g_free(fake.holes);
    g_free(fake.grant_state);
    g_free(fake.grant_maps);
    fake.holes = NULL;
    fake.grant_state = NULL;
    fake.grant_maps = NULL;
    if (fake.live) {
        g_tree_destroy(fake.live);
        fake.live = NULL;
    }
    fake.reserved_pages = fake.reserved_ranges = 0;
    fake.initialized = false;
}

void fake_xen_init(uint64_t ram_bytes, uint64_t grant_pages)
{
    uint64_t ram_pages = DIV_ROUND_UP(ram_bytes, FAKE_XEN_PAGE_SIZE);

    WITH_QEMU_LOCK_GUARD(fake_lock()) {
        fake_xen_clear_locked();
        memory_open(&fake.ram, "fake-xen-ram", ram_pages, FAKE_XEN_RAM_SALT);
        memory_open(&fake.grants, "fake-xen-grants", grant_pages,
                    FAKE_XEN_GRANT_SALT);
        fake.holes = bitmap_new(ram_pages + 1);
        fake.grant_state = g_new0(uint8_t, grant_pages + 1);
        fake.grant_maps = g_new0(uint32_t, grant_pages + 1);
        fake.live = g_tree_new_full(compare_range, NULL, NULL, range_free);
        memset(&fake.stats, 0, sizeof(fake.stats));
        memset(fake.inject, 0, sizeof(fake.inject));
        fake.initialized = true;
    }
    if (fake_xen_hooks.reset) {
        fake_xen_hooks.reset();
    }
}

void fake_xen_fini(void)
{
    WITH_QEMU_LOCK_GUARD(fake_lock()) {
        fake_xen_clear_locked();
    }
    if (fake_xen_hooks.reset) {
        fake_xen_hooks.reset();
    }
}

void fake_xen_set_hole(uint64_t pfn, uint64_t count, bool hole)
{
    uint64_t i;

    QEMU_LOCK_GUARD(fake_lock());
    for (i = pfn; i < pfn + count && i < fake.ram.pages; i++) {
        if (hole) {
            set_bit(i, fake.holes);
        } else {
            clear_bit(i, fake.holes);
        }
    }
}

void fake_xen_fail_next(FakeXenCall call, unsigned n, int err)
{
    g_assert(call <= FAKE_XEN_GRANT_MAP);
    QEMU_LOCK_GUARD(fake_lock());
    fake.inject[call] = (FakeXenInjection) { .remaining = n, .err = err };
}

void fake_xen_get_stats(FakeXenStats *stats)
{
    WITH_QEMU_LOCK_GUARD(fake_lock()) {
        *stats = fake.stats;
    }
    if (fake_xen_hooks.violations) {
        stats->violations = fake_xen_hooks.violations();
    }
}

bool fake_xen_is_live(const void *p, size_t len)
{
    uintptr_t addr = (uintptr_t)p;
    FakeXenRange *r;

    QEMU_LOCK_GUARD(fake_lock());
    r = fake.live ? live_holding_locked(addr) : NULL;
    return r && addr + len <= range_end(r);
}

size_t fake_xen_check_ram(const void *p, uint64_t gaddr, size_t len)
{
    return memory_check(&fake.ram, FAKE_XEN_RAM_SALT, p, gaddr, len);
}

size_t fake_xen_check_grant(const void *p, uint64_t grant_ref, size_t len)
{
    return memory_check(&fake.grants, FAKE_XEN_GRANT_SALT, p,
                        grant_ref * FAKE_XEN_PAGE_SIZE, len);
}

/* The granting domain */

/* Is @ref a reference of the granted memory?  Locked. */
static bool grant_ref_valid_locked(uint64_t ref)
{
    return fake.initialized && ref < fake.grants.pages;
}

bool fake_xen_end_foreign_access(uint32_t ref)
{
    QEMU_LOCK_GUARD(fake_lock());
    fake.stats.end_access_calls++;
    if (!grant_ref_valid_locked(ref) ||
        fake.grant_state[ref] != FAKE_XEN_GRANT_GRANTED) {
        fake.stats.bad_end_access++;
        return false;
    }
    if (fake.grant_maps[ref]) {
        /* Linux: "still in use by backend domain, disabled". */
        fake.stats.end_access_failures++;
        fake.grant_state[ref] = FAKE_XEN_GRANT_DISABLED;
        return false;
    }
    fake.grant_state[ref] = FAKE_XEN_GRANT_ENDED;
    return true;
}

bool fake_xen_grant_foreign_access(uint32_t ref)
{
    QEMU_LOCK_GUARD(fake_lock());
    if (!grant_ref_valid_locked(ref) ||
        fake.grant_state[ref] == FAKE_XEN_GRANT_DISABLED) {
        return false;
    }
    fake.grant_state[ref] = FAKE_XEN_GRANT_GRANTED;
    return true;
}

bool fake_xen_grant_is_disabled(uint32_t ref)
{
    QEMU_LOCK_GUARD(fake_lock());
    return grant_ref_valid_locked(ref) &&
           fake.grant_state[ref] == FAKE_XEN_GRANT_DISABLED;
}

unsigned fake_xen_grant_mappings(uint32_t ref)
{
    QEMU_LOCK_GUARD(fake_lock());
    return grant_ref_valid_locked(ref) ? fake.grant_maps[ref] : 0;
}

/* Mapping */

#define FAKE_XEN_NO_FRAME UINT64_MAX

/*
 * A map call: checked, charged to the budget and its frames filled under
 * fake.lock, then mapped without it (mmap() and munmap() are slow under
 * sanitizers, and the threads releasing mappings must not queue behind
 * those making them).  The kernel hands out no address before it is
 * unmapped, so the tree stays right if a range leaves it before its
 * munmap() and enters it after its mmap().
 */
typedef struct FakeXenMapping {
    const char *what;           /* for violation reports */
    FakeXenKind kind;
    FakeXenMemory *mem;
    int fd;
    void *addr;                 /* hint, or exact address if fixed */
    bool fixed;
    int prot;
    size_t pages;
    uint64_t *frames;           /* FAKE_XEN_NO_FRAME for holes */
} FakeXenMapping;

/* Take one injected failure of @call, if any is due; returns its errno. */
static int take_injected_failure_locked(FakeXenCall call)
{
    FakeXenInjection *inj = &fake.inject[call];

    if (!inj->remaining) {
        return 0;
    }
    inj->remaining--;
    fake.stats.failures_injected++;
    return inj->err;
}

/*
 * Charge @m to the budget, as the kernel does when it creates a mapping:
 * -ENOMEM if the live and reserved pages or ranges would not fit it.  A
 * MAP_FIXED mapping replaces what it overlaps.
 */
static int budget_reserve_locked(const FakeXenMapping *m)
{
    uint64_t pages = fake.stats.live_pages + fake.reserved_pages + m->pages;
    uint64_t ranges = fake.stats.live_ranges + fake.reserved_ranges + 1;

    if (m->fixed) {
        uintptr_t start = (uintptr_t)m->addr;
        GPtrArray *found = live_overlapping_locked(
            start, start + m->pages * FAKE_XEN_PAGE_SIZE);
        guint i;

        for (i = 0; i < found->len; i++) {
            pages -= ((FakeXenRange *)g_ptr_array_index(found, i))->pages;
            ranges--;
        }
        g_ptr_array_free(found, TRUE);
    }
    if (fake_xen_hooks.fits && !fake_xen_hooks.fits(pages, ranges)) {
        fake.stats.budget_failures++;
        return -ENOMEM;
    }
    fake.reserved_pages += m->pages;
    fake.reserved_ranges++;
    return 0;
}

static void budget_release_locked(const FakeXenMapping *m)
{
    fake.reserved_pages -= m->pages;
    fake.reserved_ranges--;
}

/* Pages from @i on that map consecutive frames (0 on a hole). */
static size_t frame_run(const uint64_t *frames, size_t pages, size_t i)
{
    size_t run = 1;

    if (frames[i] == FAKE_XEN_NO_FRAME) {
        return 0;
    }
    while (i + run < pages && frames[i + run] == frames[i] + run) {
        run++;
    }
    return run;
}

/* Charge @m to the budget and fill the frames it maps; -errno if over. */
static int mapping_prepare_locked(FakeXenMapping *m)
{
    size_t i = 0;
    int e = budget_reserve_locked(m);

    if (e) {
        return e;
    }
    while (i < m->pages) {
        size_t run = frame_run(m->frames, m->pages, i);

        if (run) {
            memory_fill_locked(m->mem, m->frames[i], run);
        }
        i += run ? run : 1;
    }
    m->fd = m->mem->fd;
    if (m->fixed) {
        range_changes_locked(m->what, (uintptr_t)m->addr,
                             m->pages * FAKE_XEN_PAGE_SIZE);
    }
    return 0;
}

/* Map each run of @m's frames over its reserved range at @base. */
static void mapping_map_frames(FakeXenMapping *m, uint8_t *base)
{
    size_t i = 0;

    while (i < m->pages) {
        size_t run = frame_run(m->frames, m->pages, i);
        void *p;

        if (!run) {
            i++;
            continue;
        }
        p = mmap(base + i * FAKE_XEN_PAGE_SIZE, run * FAKE_XEN_PAGE_SIZE,
                 m->prot, MAP_SHARED | MAP_FIXED, m->fd,
                 (off_t)(m->frames[i] * FAKE_XEN_PAGE_SIZE));
        if (p == MAP_FAILED) {
            error_report("fake-xen: cannot map %s frame 0x%" PRIx64 ": %s",
                         m->mem->name, m->frames[i], strerror(errno));
            abort();
        }
        i += run;
    }
}

/*
 * Reserve @m's range (PROT_NONE), map its frames there and record it as
 * live.  Called without fake.lock, after mapping_prepare_locked().
 * Returns NULL with errno set if the range cannot be reserved.
 */
static void *mapping_establish(FakeXenMapping *m)
{
    size_t len = m->pages * FAKE_XEN_PAGE_SIZE;
    uint8_t *base;
    int err;

    base = mmap(m->addr, len, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                (m->fixed ? MAP_FIXED : 0), -1, 0);
    err = errno;
    if (base != MAP_FAILED) {
        mapping_map_frames(m, base);
    }

    QEMU_LOCK_GUARD(fake_lock());
    budget_release_locked(m);
    if (base == MAP_FAILED) {
        errno = err;
        return NULL;
    }
    if (!m->fixed) {
        range_changes_locked(m->what, (uintptr_t)base, len);
    }
    if (fake.live) {
        live_forget_overlap_locked((uintptr_t)base, (uintptr_t)base + len,
                                   m->kind);
        live_insert_locked((uintptr_t)base, m->pages, m->kind, m->frames);
    }
    return base;
}

/* Check and charge @m, then map it; NULL with errno set on failure. */
static void *mapping_run(FakeXenMapping *m,
                         int (*check_locked)(FakeXenMapping *m,
                                             const void *arg, int *err),
                         const void *arg, int *err)
{
    int e;

    WITH_QEMU_LOCK_GUARD(fake_lock()) {
        e = check_locked(m, arg, err);
        if (!e) {
            e = mapping_prepare_locked(m);
        }
    }
    if (e) {
        errno = -e;
        return NULL;
    }
    return mapping_establish(m);
}

/*
 * The frames of a foreign mapping, FAKE_XEN_NO_FRAME for holes, with
 * @err filled.  Returns 0, or -errno for the first hole if @err is NULL.
 */
static int foreign_frames_locked(const xen_pfn_t arr[], int err[],
                                 uint64_t *frames, size_t pages)
{
    size_t i;

    for (i = 0; i < pages; i++) {
        bool valid = arr[i] < fake.ram.pages && !test_bit(arr[i], fake.holes);

        frames[i] = valid ? arr[i] : FAKE_XEN_NO_FRAME;
        if (err) {
            err[i] = valid ? 0 : -EINVAL;
        } else if (!valid) {
            return -EINVAL;
        }
    }
    return 0;
}

/* Count and check a foreign map call of @pfns; 0 or -errno to fail. */
static int foreign_check_locked(FakeXenMapping *m, const void *pfns,
                                int *err)
{
    int e;

    fake.stats.map_calls++;
    fake.stats.pages_mapped += m->pages;
    fake.stats.fixed_maps += m->fixed;
    if (!fake.initialized) {
        return -ENXIO;
    }
    e = take_injected_failure_locked(FAKE_XEN_FOREIGN_MAP);
    if (e || m->pages == 0) {
        return e ? -e : -EINVAL;
    }
    m->mem = &fake.ram;
    return foreign_frames_locked(pfns, err, m->frames, m->pages);
}

/*
 * Count and check a grant map call of @refs; 0 or -errno to fail.  Only
 * references the granting domain grants can be mapped.
 */
static int grant_check_locked(FakeXenMapping *m, const void *refs_arg,
                              int *unused)
{
    const uint32_t *refs = refs_arg;
    size_t i;
    int e;

    fake.stats.grant_map_calls++;
    fake.stats.grant_pages_mapped += m->pages;
    if (!fake.initialized) {
        return -ENXIO;
    }
    e = take_injected_failure_locked(FAKE_XEN_GRANT_MAP);
    if (e || m->pages == 0) {
        return e ? -e : -EINVAL;
    }
    for (i = 0; i < m->pages; i++) {
        if (!grant_ref_valid_locked(refs[i]) ||
            fake.grant_state[refs[i]] == FAKE_XEN_GRANT_ENDED) {
            fake.stats.grant_maps_refused++;
            return -EINVAL;
        }
        m->frames[i] = refs[i];
    }
    m->mem = &fake.grants;
    return 0;
}

/*
 * Unmap [@addr, @addr + @pages pages), expected to be a live range of
 * @kind: anything else is a bad unmap (done all the same).
 */
static int unmap_range(const char *what, FakeXenKind kind, void *addr,
                       size_t pages)
{
    uintptr_t start = (uintptr_t)addr;
    size_t len = pages * FAKE_XEN_PAGE_SIZE;

    WITH_QEMU_LOCK_GUARD(fake_lock()) {
        if (kind == FAKE_XEN_KIND_FOREIGN) {
            fake.stats.unmap_calls++;
            fake.stats.pages_unmapped += pages;
        } else {
            fake.stats.grant_unmap_calls++;
        }
        range_changes_locked(what, start, len);
        if (!fake.live ||
            !live_forget_overlap_locked(start, start + len, kind)) {
            fake.stats.bad_unmaps++;
        }
    }
    return munmap(addr, len);
}

/* libxenforeignmemory */

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *l,
                                               unsigned open_flags)
{
    return g_new0(xenforeignmemory_handle, 1);
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem)
{
    g_free(fmem);
    return 0;
}

void *xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom,
                            void *addr, int prot, int flags, size_t pages,
                            const xen_pfn_t arr[/*pages*/],
                            int err[/*pages*/])
{
    g_autofree uint64_t *frames = g_new(uint64_t, pages);
    bool fixed = flags & MAP_FIXED;
    FakeXenMapping m = {
        .what = fixed ? "MAP_FIXED xenforeignmemory_map2" :
                        "new mapping from xenforeignmemory_map2",
        .kind = FAKE_XEN_KIND_FOREIGN, .addr = addr, .fixed = fixed,
        .prot = prot, .pages = pages, .frames = frames,
    };

    return mapping_run(&m, foreign_check_locked, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem,
                           void *addr, size_t pages)
{
    return unmap_range("xenforeignmemory_unmap", FAKE_XEN_KIND_FOREIGN,
                       addr, pages);
}

/* libxengnttab */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
                                 unsigned open_flags)
{
    return g_new0(xengnttab_handle, 1);
}

int xengnttab_close(xengnttab_handle *xgt)
{
    g_free(xgt);
    return 0;
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt,
                                      uint32_t count,
                                      uint32_t domid,
                                      uint32_t *refs,
                                      int prot)
{
    g_autofree uint64_t *frames = g_new(uint64_t, count);
    FakeXenMapping m = {
        .what = "new mapping from xengnttab_map_domain_grant_refs",
        .kind = FAKE_XEN_KIND_GRANT, .prot = prot, .pages = count,
        .frames = frames,
    };

    return mapping_run(&m, grant_check_locked, refs, NULL);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                    uint32_t count)
{
    return unmap_range("xengnttab_unmap", FAKE_XEN_KIND_GRANT,
                       start_address, count);
}
