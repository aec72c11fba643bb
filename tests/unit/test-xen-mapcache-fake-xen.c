/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A fake Xen hypervisor: libxenforeignmemory and libxengnttab entry points
 * backed by memfds, with counters, failure injection and a registry of
 * ranges in use by readers.  See test-xen-mapcache-fake-xen.h.
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
 * stay PROT_NONE.  Every range handed out is recorded (start, pages, kind)
 * in a tree ordered by address; an unmap that does not match one exactly
 * is a bad unmap (it is still done).
 *
 * Locking
 * -------
 * fake.lock protects everything but the reader registry.  mmap() and
 * munmap() run without it (see FakeXenMapping): a range leaves the tree
 * before it is unmapped and enters it once mapped, which keeps the tree
 * right because the kernel reuses no address before its munmap().
 * registry.lock protects the registry; it nests inside fake.lock, never
 * the other way round.  Readers take only registry.lock, so entering and
 * leaving the registry stays cheap.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib.h>

#include <xenforeignmemory.h>
#include <xengnttab.h>

#include "test-xen-mapcache-fake-xen.h"

#define FAKE_XEN_RAM_SALT   0x5851F42D4C957F2DULL
#define FAKE_XEN_GRANT_SALT 0x2545F4914F6CDD1DULL

#define FAKE_XEN_LONG_BITS (sizeof(unsigned long) * 8)

/* Pages filled with one pwrite() at most. */
#define FAKE_XEN_FILL_CHUNK 256

/* Readers registered at once, over all threads. */
#define FAKE_XEN_MAX_READERS 4096

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

static struct {
    pthread_mutex_t lock;
    bool initialized;
    FakeXenMemory ram;
    FakeXenMemory grants;
    unsigned long *holes;
    GTree *live;                /* FakeXenRange, by start address */
    FakeXenInjection inject[FAKE_XEN_GRANT_MAP + 1];
    FakeXenStats stats;         /* live_ranges, live_pages kept here too */
} fake = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .ram.fd = -1,
    .grants.fd = -1,
};

typedef struct FakeXenReader {
    uintptr_t start;
    size_t len;
    bool active;
} FakeXenReader;

static struct {
    pthread_mutex_t lock;
    FakeXenReader slots[FAKE_XEN_MAX_READERS];
    int free_slots[FAKE_XEN_MAX_READERS];
    int nr_free;
    int high_water;             /* slots[high_water...] never used */
    uint64_t violations;
} registry = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

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

static void fill_pattern(uint8_t *buf, uint64_t addr, size_t len,
                         uint64_t salt)
{
    size_t i;

    for (i = 0; i < len; i += 8) {
        uint64_t word = GUINT64_TO_LE((addr + i) ^ salt);

        memcpy(buf + i, &word, sizeof(word));
    }
}

/* Bitmaps */

static bool bit_test(const unsigned long *map, uint64_t nr)
{
    return map[nr / FAKE_XEN_LONG_BITS] >> (nr % FAKE_XEN_LONG_BITS) & 1;
}

static void bit_assign(unsigned long *map, uint64_t nr, bool value)
{
    unsigned long mask = 1UL << (nr % FAKE_XEN_LONG_BITS);

    if (value) {
        map[nr / FAKE_XEN_LONG_BITS] |= mask;
    } else {
        map[nr / FAKE_XEN_LONG_BITS] &= ~mask;
    }
}

static unsigned long *bitmap_new(uint64_t bits)
{
    /* Large and zeroed: calloc() leaves the untouched part uncommitted. */
    return g_new0(unsigned long, bits / FAKE_XEN_LONG_BITS + 1);
}

/* Memory files */

static void memory_open(FakeXenMemory *mem, const char *name,
                        uint64_t pages, uint64_t salt)
{
    mem->name = name;
    mem->pages = pages;
    mem->salt = salt;
    mem->filled = bitmap_new(pages);
    mem->fd = memfd_create(name, MFD_CLOEXEC);
    if (mem->fd < 0 ||
        ftruncate(mem->fd, (off_t)(pages * FAKE_XEN_PAGE_SIZE)) < 0) {
        fprintf(stderr, "fake-xen: cannot create %s (%" PRIu64 " pages): "
                "%s\n", name, pages, strerror(errno));
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
        fprintf(stderr, "fake-xen: cannot fill %s at 0x%" PRIx64 ": %s\n",
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
               !bit_test(mem->filled, page + run)) {
            bit_assign(mem->filled, page + run, true);
            run++;
        }
        if (run) {
            memory_fill_run(mem, page, run);
        }
        page += run ? run : 1;
    }
}

/*
 * Count the bytes of [@p, @p + @len) that differ from @mem at byte
 * @offset: its contents where filled, the pattern elsewhere (never filled
 * yet, or beyond its end).  fake.lock held.
 */
static size_t memory_check_locked(FakeXenMemory *mem, const uint8_t *p,
                                  uint64_t offset, size_t len)
{
    uint8_t buf[FAKE_XEN_PAGE_SIZE];
    size_t wrong = 0;

    while (len) {
        uint64_t page = offset / FAKE_XEN_PAGE_SIZE;
        size_t in_page = offset % FAKE_XEN_PAGE_SIZE;
        size_t n = MIN(len, (size_t)FAKE_XEN_PAGE_SIZE - in_page);
        size_t i;

        if (page < mem->pages && bit_test(mem->filled, page)) {
            if (pread(mem->fd, buf, n, offset) != (ssize_t)n) {
                abort();
            }
        } else {
            for (i = 0; i < n; i++) {
                buf[i] = pattern_byte(offset + i, mem->salt);
            }
        }
        for (i = 0; i < n; i++) {
            wrong += p[i] != buf[i];
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

/* The live range holding @addr, or NULL.  Locked. */
static FakeXenRange *live_holding_locked(uintptr_t addr)
{
    return g_tree_search(fake.live, search_holding, &addr);
}

static void live_insert_locked(uintptr_t start, size_t pages,
                               FakeXenKind kind)
{
    FakeXenRange *r = g_new(FakeXenRange, 1);

    *r = (FakeXenRange) { .start = start, .pages = pages, .kind = kind };
    g_tree_insert(fake.live, r, r);
    fake.stats.live_ranges++;
    fake.stats.live_pages += pages;
}

static void live_remove_locked(FakeXenRange *r)
{
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
    OverlapSearch search = { .start = start, .end = end };
    guint i;

    if (r && r->start == start && range_end(r) == end) {
        bool exact = r->kind == kind;

        live_remove_locked(r);
        return exact;
    }
    search.found = g_ptr_array_new();
    g_tree_foreach(fake.live, collect_overlap, &search);
    for (i = 0; i < search.found->len; i++) {
        live_remove_locked(g_ptr_array_index(search.found, i));
    }
    g_ptr_array_free(search.found, TRUE);
    return false;
}

/* Reader registry */

static bool overlaps(uintptr_t a, size_t alen, uintptr_t b, size_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Count (and report) the readers overlapping [@start, @start + @len). */
static void registry_check(const char *what, uintptr_t start, size_t len)
{
    int i;

    pthread_mutex_lock(&registry.lock);
    for (i = 0; i < registry.high_water; i++) {
        FakeXenReader *r = &registry.slots[i];

        if (r->active && overlaps(start, len, r->start, r->len)) {
            registry.violations++;
            fprintf(stderr, "fake-xen: violation: %s [0x%" PRIxPTR
                    ", +0x%zx) overlaps reader %d at [0x%" PRIxPTR
                    ", +0x%zx)\n", what, start, len, i, r->start, r->len);
        }
    }
    pthread_mutex_unlock(&registry.lock);
}

int fake_xen_reader_enter(const void *p, size_t len)
{
    int token;

    pthread_mutex_lock(&registry.lock);
    if (registry.nr_free) {
        token = registry.free_slots[--registry.nr_free];
    } else if (registry.high_water < FAKE_XEN_MAX_READERS) {
        token = registry.high_water++;
    } else {
        fprintf(stderr, "fake-xen: more than %d readers\n",
                FAKE_XEN_MAX_READERS);
        abort();
    }
    registry.slots[token] = (FakeXenReader) {
        .start = (uintptr_t)p, .len = len, .active = true,
    };
    pthread_mutex_unlock(&registry.lock);
    return token;
}

void fake_xen_reader_exit(int token)
{
    pthread_mutex_lock(&registry.lock);
    if (token < 0 || token >= registry.high_water ||
        !registry.slots[token].active) {
        fprintf(stderr, "fake-xen: bad reader token %d\n", token);
        abort();
    }
    registry.slots[token].active = false;
    registry.free_slots[registry.nr_free++] = token;
    pthread_mutex_unlock(&registry.lock);
}

static void registry_reset(void)
{
    pthread_mutex_lock(&registry.lock);
    registry.nr_free = 0;
    registry.high_water = 0;
    registry.violations = 0;
    pthread_mutex_unlock(&registry.lock);
}

/* Setup and control */

void fake_xen_init(uint64_t ram_bytes, uint64_t grant_pages)
{
    uint64_t ram_pages = (ram_bytes + FAKE_XEN_PAGE_SIZE - 1) /
                         FAKE_XEN_PAGE_SIZE;

    fake_xen_fini();
    pthread_mutex_lock(&fake.lock);
    memory_open(&fake.ram, "fake-xen-ram", ram_pages, FAKE_XEN_RAM_SALT);
    memory_open(&fake.grants, "fake-xen-grants", grant_pages,
                FAKE_XEN_GRANT_SALT);
    fake.holes = bitmap_new(ram_pages);
    fake.live = g_tree_new_full(compare_range, NULL, NULL, g_free);
    memset(&fake.stats, 0, sizeof(fake.stats));
    memset(fake.inject, 0, sizeof(fake.inject));
    fake.initialized = true;
    pthread_mutex_unlock(&fake.lock);
    registry_reset();
}

void fake_xen_fini(void)
{
    pthread_mutex_lock(&fake.lock);
    memory_close(&fake.ram);
    memory_close(&fake.grants);
    g_free(fake.holes);
    fake.holes = NULL;
    if (fake.live) {
        g_tree_destroy(fake.live);
        fake.live = NULL;
    }
    fake.initialized = false;
    pthread_mutex_unlock(&fake.lock);
    registry_reset();
}

void fake_xen_set_hole(uint64_t pfn, uint64_t count, bool hole)
{
    uint64_t i;

    pthread_mutex_lock(&fake.lock);
    for (i = pfn; i < pfn + count && i < fake.ram.pages; i++) {
        bit_assign(fake.holes, i, hole);
    }
    pthread_mutex_unlock(&fake.lock);
}

void fake_xen_fail_next(FakeXenCall call, unsigned n, int err)
{
    g_assert(call <= FAKE_XEN_GRANT_MAP);
    pthread_mutex_lock(&fake.lock);
    fake.inject[call] = (FakeXenInjection) { .remaining = n, .err = err };
    pthread_mutex_unlock(&fake.lock);
}

void fake_xen_get_stats(FakeXenStats *stats)
{
    pthread_mutex_lock(&fake.lock);
    *stats = fake.stats;
    pthread_mutex_unlock(&fake.lock);
    pthread_mutex_lock(&registry.lock);
    stats->violations = registry.violations;
    pthread_mutex_unlock(&registry.lock);
}

bool fake_xen_is_live(const void *p, size_t len)
{
    uintptr_t addr = (uintptr_t)p;
    FakeXenRange *r;
    bool live;

    pthread_mutex_lock(&fake.lock);
    r = fake.live ? live_holding_locked(addr) : NULL;
    live = r && addr + len <= range_end(r);
    pthread_mutex_unlock(&fake.lock);
    return live;
}

size_t fake_xen_check_ram(const void *p, uint64_t gaddr, size_t len)
{
    size_t wrong;

    pthread_mutex_lock(&fake.lock);
    wrong = memory_check_locked(&fake.ram, p, gaddr, len);
    pthread_mutex_unlock(&fake.lock);
    return wrong;
}

size_t fake_xen_check_grant(const void *p, uint64_t grant_ref, size_t len)
{
    size_t wrong;

    pthread_mutex_lock(&fake.lock);
    wrong = memory_check_locked(&fake.grants, p,
                                grant_ref * FAKE_XEN_PAGE_SIZE, len);
    pthread_mutex_unlock(&fake.lock);
    return wrong;
}

/* Mapping */

#define FAKE_XEN_NO_FRAME UINT64_MAX

/*
 * A map call: checked and its frames filled under fake.lock, then mapped
 * without it (mmap() and munmap() are slow under sanitizers, and the
 * threads releasing mappings must not queue behind those making them).
 * The kernel hands out no address before it is unmapped, so the tree
 * stays right if a range leaves it before its munmap() and enters it
 * after its mmap().
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

/* Fill the frames @m maps where not yet filled; fake.lock held. */
static void mapping_fill_locked(FakeXenMapping *m)
{
    size_t i = 0;

    while (i < m->pages) {
        size_t run = frame_run(m->frames, m->pages, i);

        if (run) {
            memory_fill_locked(m->mem, m->frames[i], run);
        }
        i += run ? run : 1;
    }
    m->fd = m->mem->fd;
    if (m->fixed) {
        registry_check(m->what, (uintptr_t)m->addr,
                       m->pages * FAKE_XEN_PAGE_SIZE);
    }
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
            fprintf(stderr, "fake-xen: cannot map %s frame 0x%" PRIx64
                    ": %s\n", m->mem->name, m->frames[i], strerror(errno));
            abort();
        }
        i += run;
    }
}

/*
 * Reserve @m's range (PROT_NONE), map its frames there and record it as
 * live.  Called without fake.lock.  Returns NULL with errno set if the
 * range cannot be reserved.
 */
static void *mapping_establish(FakeXenMapping *m)
{
    size_t len = m->pages * FAKE_XEN_PAGE_SIZE;
    uint8_t *base;

    base = mmap(m->addr, len, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                (m->fixed ? MAP_FIXED : 0), -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    mapping_map_frames(m, base);

    pthread_mutex_lock(&fake.lock);
    if (!m->fixed) {
        registry_check(m->what, (uintptr_t)base, len);
    }
    if (fake.live) {
        live_forget_overlap_locked((uintptr_t)base, (uintptr_t)base + len,
                                   m->kind);
        live_insert_locked((uintptr_t)base, m->pages, m->kind);
    }
    pthread_mutex_unlock(&fake.lock);
    return base;
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
        bool valid = arr[i] < fake.ram.pages && !bit_test(fake.holes, arr[i]);

        frames[i] = valid ? arr[i] : FAKE_XEN_NO_FRAME;
        if (err) {
            err[i] = valid ? 0 : -EINVAL;
        } else if (!valid) {
            return -EINVAL;
        }
    }
    return 0;
}

/* Count and check a foreign map call; returns 0 or -errno to fail. */
static int foreign_prepare_locked(FakeXenMapping *m, const xen_pfn_t arr[],
                                  int err[])
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
    e = foreign_frames_locked(arr, err, m->frames, m->pages);
    if (!e) {
        mapping_fill_locked(m);
    }
    return e;
}

/* Count and check a grant map call; returns 0 or -errno to fail. */
static int grant_prepare_locked(FakeXenMapping *m, const uint32_t *refs)
{
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
        if (refs[i] >= fake.grants.pages) {
            return -EINVAL;
        }
        m->frames[i] = refs[i];
    }
    m->mem = &fake.grants;
    mapping_fill_locked(m);
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

    pthread_mutex_lock(&fake.lock);
    if (kind == FAKE_XEN_KIND_FOREIGN) {
        fake.stats.unmap_calls++;
        fake.stats.pages_unmapped += pages;
    } else {
        fake.stats.grant_unmap_calls++;
    }
    registry_check(what, start, len);
    if (!fake.live || !live_forget_overlap_locked(start, start + len, kind)) {
        fake.stats.bad_unmaps++;
    }
    pthread_mutex_unlock(&fake.lock);
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
    int e;

    pthread_mutex_lock(&fake.lock);
    e = foreign_prepare_locked(&m, arr, err);
    pthread_mutex_unlock(&fake.lock);
    if (e) {
        errno = -e;
        return NULL;
    }
    return mapping_establish(&m);
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom,
                           int prot, size_t pages,
                           const xen_pfn_t arr[/*pages*/], int err[/*pages*/])
{
    return xenforeignmemory_map2(fmem, dom, NULL, prot, 0, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem,
                           void *addr, size_t pages)
{
    return unmap_range("xenforeignmemory_unmap", FAKE_XEN_KIND_FOREIGN,
                       addr, pages);
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid)
{
    return 0;
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
    int e;

    pthread_mutex_lock(&fake.lock);
    e = grant_prepare_locked(&m, refs);
    pthread_mutex_unlock(&fake.lock);
    if (e) {
        errno = -e;
        return NULL;
    }
    return mapping_establish(&m);
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt,
                               uint32_t count,
                               uint32_t *domids,
                               uint32_t *refs,
                               int prot)
{
    return xengnttab_map_domain_grant_refs(xgt, count, count ? domids[0] : 0,
                                           refs, prot);
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt,
                              uint32_t domid,
                              uint32_t ref,
                              int prot)
{
    return xengnttab_map_domain_grant_refs(xgt, 1, domid, &ref, prot);
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                    uint32_t count)
{
    return unmap_range("xengnttab_unmap", FAKE_XEN_KIND_GRANT,
                       start_address, count);
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
    return 0;
}
