/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Tests of the fake Xen hypervisor: what the mapcache's tests rely on
 * (pattern, holes, address hints, failure injection, grants, live ranges,
 * the reader registry) must itself be right.
 */

#include "qemu/osdep.h"
/* xen_native.h must come before any other Xen header. */
#include "hw/xen/xen_native.h"
#include "qemu/thread.h"

#include <xengnttab.h>

#include "test-xen-mapcache-fake-xen.h"

#define PAGE FAKE_XEN_PAGE_SIZE
#define RAM_BYTES (64 << 20)
#define GRANT_PAGES 16

static xenforeignmemory_handle *fmem;
static xengnttab_handle *xgt;

/* Helpers */

static void setup(void)
{
    fake_xen_init(RAM_BYTES, GRANT_PAGES);
}

static FakeXenStats stats(void)
{
    FakeXenStats s;

    fake_xen_get_stats(&s);
    return s;
}

/* Map @n consecutive frames from @pfn, with per-page errors in @err. */
static uint8_t *map_frames(xen_pfn_t pfn, size_t n, int *err)
{
    g_autofree xen_pfn_t *pfns = g_new(xen_pfn_t, n);
    size_t i;

    for (i = 0; i < n; i++) {
        pfns[i] = pfn + i;
    }
    return xenforeignmemory_map2(fmem, 1, NULL, PROT_READ | PROT_WRITE, 0,
                                 n, pfns, err);
}

/*
 * Can the process read the byte at @p?  Asks the kernel (write() fails
 * with EFAULT on an inaccessible page), so no fault is taken and no
 * sanitizer's signal handler is in the way.
 */
static bool readable(const void *p)
{
    int fds[2];
    ssize_t n;

    g_assert_cmpint(pipe(fds), ==, 0);
    n = write(fds[1], p, 1);
    g_assert(n == 1 || errno == EFAULT);
    close(fds[0]);
    close(fds[1]);
    return n == 1;
}

/* Tests */

static void test_pattern_by_value(void)
{
    int err[4];
    xen_pfn_t pfns[4] = { 10, 11, 12, 100 };
    uint8_t *p;
    size_t i;

    setup();
    p = xenforeignmemory_map2(fmem, 1, NULL, PROT_READ | PROT_WRITE, 0,
                              4, pfns, err);
    g_assert_nonnull(p);
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(err[i], ==, 0);
    }
    for (i = 0; i < 4 * PAGE; i += 997) {
        uint64_t gaddr = pfns[i / PAGE] * PAGE + i % PAGE;

        g_assert_cmphex(p[i], ==, fake_xen_ram_byte(gaddr));
    }
    g_assert_cmpuint(fake_xen_check_ram(p, 10 * PAGE, 3 * PAGE), ==, 0);
    g_assert_cmpuint(fake_xen_check_ram(p + 3 * PAGE, 100 * PAGE, PAGE),
                     ==, 0);
    /* A wrong frame differs on every word. */
    g_assert_cmpuint(fake_xen_check_ram(p, 11 * PAGE, PAGE), >=, PAGE / 8);

    /* Writes through a mapping are guest RAM from then on. */
    p[5] ^= 0xff;
    g_assert_cmpuint(fake_xen_check_ram(p, 10 * PAGE, PAGE), ==, 0);
    g_assert_cmphex(p[5], !=, fake_xen_ram_byte(10 * PAGE + 5));

    g_assert_cmpint(xenforeignmemory_unmap(fmem, p, 4), ==, 0);
    g_assert_cmpuint(stats().map_calls, ==, 1);
    g_assert_cmpuint(stats().pages_mapped, ==, 4);
    g_assert_cmpuint(stats().unmap_calls, ==, 1);
    g_assert_cmpuint(stats().pages_unmapped, ==, 4);
}

static void test_shared_frames(void)
{
    uint8_t *a, *b;

    setup();
    a = map_frames(20, 1, NULL);
    b = map_frames(20, 1, NULL);
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert(a != b);
    a[100] = 0x5a;
    g_assert_cmphex(b[100], ==, 0x5a);
    xenforeignmemory_unmap(fmem, a, 1);
    xenforeignmemory_unmap(fmem, b, 1);
}

static void test_holes(void)
{
    int err[4];
    xen_pfn_t pfns[4] = { 4, 5, 6, RAM_BYTES / PAGE };
    uint8_t *p;

    setup();
    fake_xen_set_hole(5, 1, true);
    p = xenforeignmemory_map2(fmem, 1, NULL, PROT_READ, 0, 4, pfns, err);
    g_assert_nonnull(p);
    g_assert_cmpint(err[0], ==, 0);
    g_assert_cmpint(err[1], ==, -EINVAL);
    g_assert_cmpint(err[2], ==, 0);
    g_assert_cmpint(err[3], ==, -EINVAL);
    g_assert_true(readable(p));
    g_assert_false(readable(p + PAGE));
    g_assert_true(readable(p + 2 * PAGE));
    g_assert_false(readable(p + 3 * PAGE));
    g_assert_cmpuint(fake_xen_check_ram(p + 2 * PAGE, 6 * PAGE, PAGE), ==, 0);
    xenforeignmemory_unmap(fmem, p, 4);

    /* Without @err, a hole fails the whole call. */
    g_assert_null(xenforeignmemory_map2(fmem, 1, NULL, PROT_READ, 0, 4,
                                        pfns, NULL));
    g_assert_cmpint(errno, ==, EINVAL);
    g_assert_cmpuint(stats().live_ranges, ==, 0);

    /* Holes can be filled again. */
    fake_xen_set_hole(5, 1, false);
    p = map_frames(5, 1, err);
    g_assert_cmpint(err[0], ==, 0);
    g_assert_true(readable(p));
    xenforeignmemory_unmap(fmem, p, 1);
}

static void test_fixed_hint(void)
{
    uint8_t *area, *p;
    xen_pfn_t pfn = 7;
    int err;

    setup();
    area = mmap(NULL, 8 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                -1, 0);
    g_assert(area != MAP_FAILED);
    p = xenforeignmemory_map2(fmem, 1, area + 4 * PAGE, PROT_READ,
                              MAP_FIXED, 1, &pfn, &err);
    g_assert_true(p == area + 4 * PAGE);
    g_assert_cmpint(err, ==, 0);
    g_assert_cmpuint(fake_xen_check_ram(p, 7 * PAGE, PAGE), ==, 0);
    g_assert_cmpuint(stats().fixed_maps, ==, 1);
    g_assert_true(fake_xen_is_live(p, PAGE));

    /* MAP_FIXED over a live range replaces it. */
    pfn = 8;
    g_assert_true(xenforeignmemory_map2(fmem, 1, p, PROT_READ, MAP_FIXED,
                                        1, &pfn, &err) == p);
    g_assert_cmpuint(fake_xen_check_ram(p, 8 * PAGE, PAGE), ==, 0);
    g_assert_cmpuint(stats().live_ranges, ==, 1);
    g_assert_cmpint(xenforeignmemory_unmap(fmem, p, 1), ==, 0);
    g_assert_cmpuint(stats().bad_unmaps, ==, 0);
    munmap(area, 8 * PAGE);
}

static void test_fail_next(void)
{
    uint32_t ref = 0;
    uint8_t *p;

    setup();
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 2, ENOMEM);
    errno = 0;
    g_assert_null(map_frames(0, 1, NULL));
    g_assert_cmpint(errno, ==, ENOMEM);
    errno = 0;
    g_assert_null(map_frames(0, 1, NULL));
    g_assert_cmpint(errno, ==, ENOMEM);
    p = map_frames(0, 1, NULL);
    g_assert_nonnull(p);
    g_assert_cmpuint(stats().failures_injected, ==, 2);
    g_assert_cmpuint(stats().map_calls, ==, 3);
    g_assert_cmpuint(stats().live_ranges, ==, 1);
    xenforeignmemory_unmap(fmem, p, 1);

    fake_xen_fail_next(FAKE_XEN_GRANT_MAP, 1, EBUSY);
    g_assert_null(xengnttab_map_domain_grant_refs(xgt, 1, 1, &ref,
                                                  PROT_READ));
    g_assert_cmpint(errno, ==, EBUSY);
    p = xengnttab_map_domain_grant_refs(xgt, 1, 1, &ref, PROT_READ);
    g_assert_nonnull(p);
    g_assert_cmpuint(stats().failures_injected, ==, 3);
    xengnttab_unmap(xgt, p, 1);
}

static void test_grants(void)
{
    uint32_t refs[3] = { 3, 4, 9 };
    uint32_t bad_ref = GRANT_PAGES;
    uint8_t *p;
    size_t i;

    setup();
    p = xengnttab_map_domain_grant_refs(xgt, 3, 1, refs,
                                        PROT_READ | PROT_WRITE);
    g_assert_nonnull(p);
    for (i = 0; i < 3 * PAGE; i += 61) {
        g_assert_cmphex(p[i], ==,
                        fake_xen_grant_byte(refs[i / PAGE], i % PAGE));
    }
    g_assert_cmpuint(fake_xen_check_grant(p, 3, 2 * PAGE), ==, 0);
    g_assert_cmpuint(fake_xen_check_grant(p + 2 * PAGE, 9, PAGE), ==, 0);
    g_assert_cmpuint(fake_xen_check_grant(p, 9, PAGE), >=, PAGE / 8);
    /* Not guest RAM. */
    g_assert_cmpuint(fake_xen_check_ram(p, 3 * PAGE, PAGE), >=, PAGE / 8);
    p[1] ^= 0xff;
    g_assert_cmpuint(fake_xen_check_grant(p, 3, PAGE), ==, 0);

    g_assert_null(xengnttab_map_domain_grant_refs(xgt, 1, 1, &bad_ref,
                                                  PROT_READ));
    g_assert_cmpint(errno, ==, EINVAL);

    g_assert_cmpuint(stats().grant_map_calls, ==, 2);
    g_assert_cmpuint(stats().grant_pages_mapped, ==, 4);
    g_assert_cmpuint(stats().live_pages, ==, 3);
    g_assert_cmpint(xengnttab_unmap(xgt, p, 3), ==, 0);
    g_assert_cmpuint(stats().grant_unmap_calls, ==, 1);
    g_assert_cmpuint(stats().live_ranges, ==, 0);
    g_assert_cmpuint(stats().bad_unmaps, ==, 0);
}

static void test_live_ranges(void)
{
    uint8_t *p;

    setup();
    p = map_frames(0, 4, NULL);
    g_assert_true(fake_xen_is_live(p, 4 * PAGE));
    g_assert_true(fake_xen_is_live(p + PAGE, 10));
    g_assert_false(fake_xen_is_live(p, 4 * PAGE + 1));
    g_assert_false(fake_xen_is_live(p - 1, 1));
    g_assert_cmpuint(stats().live_ranges, ==, 1);
    g_assert_cmpuint(stats().live_pages, ==, 4);

    /* Half a range: bad, and the range is gone. */
    xenforeignmemory_unmap(fmem, p, 2);
    g_assert_cmpuint(stats().bad_unmaps, ==, 1);
    g_assert_cmpuint(stats().live_ranges, ==, 0);
    g_assert_false(fake_xen_is_live(p + 2 * PAGE, 1));
    munmap(p + 2 * PAGE, 2 * PAGE);

    /* The wrong kind of unmap is bad too. */
    p = map_frames(0, 1, NULL);
    xengnttab_unmap(xgt, p, 1);
    g_assert_cmpuint(stats().bad_unmaps, ==, 2);

    /* The exact range is fine. */
    p = map_frames(0, 3, NULL);
    xenforeignmemory_unmap(fmem, p, 3);
    g_assert_cmpuint(stats().bad_unmaps, ==, 2);
    g_assert_cmpuint(stats().live_pages, ==, 0);
}

static void test_reader_violation(void)
{
    uint8_t *p;
    int token;

    setup();
    p = map_frames(0, 2, NULL);
    token = fake_xen_reader_enter(p + PAGE + 100, 8);
    g_test_message("a violation report on stderr is expected");
    xenforeignmemory_unmap(fmem, p, 2);
    g_assert_cmpuint(stats().violations, ==, 1);
    fake_xen_reader_exit(token);
}

static void test_reader_fixed_violation(void)
{
    xen_pfn_t pfn = 3;
    uint8_t *p;
    int token, err;

    setup();
    p = map_frames(0, 1, NULL);
    token = fake_xen_reader_enter(p, PAGE);
    g_test_message("a violation report on stderr is expected");
    g_assert_true(xenforeignmemory_map2(fmem, 1, p, PROT_READ, MAP_FIXED,
                                        1, &pfn, &err) == p);
    g_assert_cmpuint(stats().violations, ==, 1);
    fake_xen_reader_exit(token);
    xenforeignmemory_unmap(fmem, p, 1);
    g_assert_cmpuint(stats().violations, ==, 1);
}

static void test_reader_no_violation(void)
{
    uint8_t *p, *q;
    int token, other;

    setup();
    p = map_frames(0, 2, NULL);
    q = map_frames(8, 1, NULL);
    token = fake_xen_reader_enter(p, 2 * PAGE);
    other = fake_xen_reader_enter(q, PAGE);
    fake_xen_reader_exit(token);
    xenforeignmemory_unmap(fmem, p, 2);
    fake_xen_reader_exit(other);
    xenforeignmemory_unmap(fmem, q, 1);
    g_assert_cmpuint(stats().violations, ==, 0);
}

static void test_reset(void)
{
    uint8_t *p;

    setup();
    p = map_frames(0, 1, NULL);
    fake_xen_set_hole(1, 1, true);
    fake_xen_fail_next(FAKE_XEN_FOREIGN_MAP, 5, EIO);
    setup();
    g_assert_cmpuint(stats().map_calls, ==, 0);
    g_assert_cmpuint(stats().live_ranges, ==, 0);
    g_assert_false(fake_xen_is_live(p, 1));
    munmap(p, PAGE);
    p = map_frames(1, 1, NULL);
    g_assert_nonnull(p);
    xenforeignmemory_unmap(fmem, p, 1);
}

/*
 * The registry and the counters work before fake_xen_init(): QemuMutex
 * has no static initializer, so the fake sets its locks up on first use.
 * Registered first, so that it runs before any other test sets up.
 */
static void test_registry_before_init(void)
{
    static uint8_t buf[64];
    int token = fake_xen_reader_enter(buf, sizeof(buf));

    fake_xen_reader_exit(token);
    g_assert_cmpuint(stats().violations, ==, 0);
    g_assert_false(fake_xen_is_live(buf, 1));
}

/* Map grant references @refs (@n of them) read-write. */
static uint8_t *map_grants(uint32_t *refs, uint32_t n)
{
    return xengnttab_map_domain_grant_refs(xgt, n, 1, refs,
                                           PROT_READ | PROT_WRITE);
}

/*
 * Ending foreign access fails while the backend maps the grant, and the
 * reference is disabled for good, as Linux's frontend does.
 */
static void test_end_access_while_mapped(void)
{
    uint32_t refs[2] = { 3, 4 };
    uint8_t *p, *q;

    setup();
    p = map_grants(refs, 2);
    q = map_grants(&refs[1], 1);
    g_assert_nonnull(p);
    g_assert_cmpuint(fake_xen_grant_mappings(3), ==, 1);
    g_assert_cmpuint(fake_xen_grant_mappings(4), ==, 2);

    g_assert_false(fake_xen_end_foreign_access(3));
    g_assert_cmpuint(stats().end_access_failures, ==, 1);
    g_assert_true(fake_xen_grant_is_disabled(3));

    /* Still mapped by q after p goes: still fails. */
    xengnttab_unmap(xgt, p, 2);
    g_assert_cmpuint(fake_xen_grant_mappings(4), ==, 1);
    g_assert_false(fake_xen_end_foreign_access(4));
    g_assert_cmpuint(stats().end_access_failures, ==, 2);
    xengnttab_unmap(xgt, q, 1);
    g_assert_cmpuint(fake_xen_grant_mappings(4), ==, 0);

    /* Disabled references are never ended nor granted again. */
    g_assert_false(fake_xen_end_foreign_access(3));
    g_assert_cmpuint(stats().bad_end_access, ==, 1);
    g_assert_false(fake_xen_grant_foreign_access(3));
    g_assert_true(fake_xen_grant_is_disabled(3));
    g_assert_cmpuint(stats().end_access_calls, ==, 3);
}

/* Once unmapped, access ends; mapping it then fails until granted again. */
static void test_end_access_after_unmap(void)
{
    uint32_t ref = 5;
    uint8_t *p;

    setup();
    p = map_grants(&ref, 1);
    g_assert_nonnull(p);
    g_assert_cmpint(xengnttab_unmap(xgt, p, 1), ==, 0);
    g_assert_true(fake_xen_end_foreign_access(ref));
    g_assert_false(fake_xen_grant_is_disabled(ref));
    g_assert_cmpuint(stats().end_access_failures, ==, 0);

    errno = 0;
    g_assert_null(map_grants(&ref, 1));
    g_assert_cmpint(errno, ==, EINVAL);
    g_assert_cmpuint(stats().grant_maps_refused, ==, 1);
    g_assert_false(fake_xen_end_foreign_access(ref));
    g_assert_cmpuint(stats().bad_end_access, ==, 1);

    g_assert_true(fake_xen_grant_foreign_access(ref));
    p = map_grants(&ref, 1);
    g_assert_nonnull(p);
    g_assert_cmpuint(fake_xen_check_grant(p, ref, PAGE), ==, 0);
    xengnttab_unmap(xgt, p, 1);
    g_assert_false(fake_xen_end_foreign_access(GRANT_PAGES));
}

/* A map past the budget in bytes fails with ENOMEM; the peak is kept. */
static void test_budget_bytes(void)
{
    uint32_t ref = 0;
    uint8_t *a, *b, *g;

    setup();
    fake_xen_set_budget(4 * PAGE, 0);
    a = map_frames(0, 3, NULL);
    g_assert_nonnull(a);
    errno = 0;
    g_assert_null(map_frames(8, 2, NULL));
    g_assert_cmpint(errno, ==, ENOMEM);
    /* Grants take the same address space. */
    g_assert_nonnull(g = map_grants(&ref, 1));
    g_assert_null(map_frames(8, 1, NULL));
    g_assert_cmpint(errno, ==, ENOMEM);
    xengnttab_unmap(xgt, g, 1);
    b = map_frames(8, 1, NULL);
    g_assert_nonnull(b);
    g_assert_cmpuint(stats().budget_failures, ==, 2);
    g_assert_cmpuint(stats().live_pages, ==, 4);

    xenforeignmemory_unmap(fmem, a, 3);
    xenforeignmemory_unmap(fmem, b, 1);
    g_assert_cmpuint(stats().live_pages, ==, 0);
    g_assert_cmpuint(stats().peak_live_pages, ==, 4);
    g_assert_cmpuint(stats().peak_live_ranges, ==, 2);

    /* Unlimited again. */
    fake_xen_set_budget(0, 0);
    a = map_frames(0, 16, NULL);
    g_assert_nonnull(a);
    xenforeignmemory_unmap(fmem, a, 16);
}

/* A map past the budget in ranges fails; MAP_FIXED over one is net 0. */
static void test_budget_ranges(void)
{
    xen_pfn_t pfns[2] = { 20, 21 };
    uint8_t *a, *b;
    int err[2];

    setup();
    fake_xen_set_budget(0, 2);
    a = map_frames(0, 2, NULL);
    b = map_frames(4, 1, NULL);
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    errno = 0;
    g_assert_null(map_frames(6, 1, NULL));
    g_assert_cmpint(errno, ==, ENOMEM);

    g_assert_true(xenforeignmemory_map2(fmem, 1, a, PROT_READ, MAP_FIXED,
                                        2, pfns, err) == a);
    g_assert_cmpuint(fake_xen_check_ram(a, 20 * PAGE, 2 * PAGE), ==, 0);
    g_assert_cmpuint(stats().live_ranges, ==, 2);
    g_assert_cmpuint(stats().budget_failures, ==, 1);
    g_assert_cmpuint(stats().peak_live_ranges, ==, 2);
    xenforeignmemory_unmap(fmem, a, 2);
    xenforeignmemory_unmap(fmem, b, 1);
}

static __thread sigjmp_buf *fault_resume;

static void fault_handler(int sig)
{
    siglongjmp(*fault_resume, 1);
}

/*
 * fake_xen_check_ram() reads the caller's pointer without a lock held,
 * so a reader may leave it with siglongjmp() when the read faults: the
 * fake still works afterwards (a lock left held would hang here).
 */
static void test_check_fault_leaves_no_lock(void)
{
    struct sigaction sa = { .sa_handler = fault_handler };
    struct sigaction old;
    sigjmp_buf resume;
    volatile bool faulted = false;
    uint8_t *p;
    int err[2];

    setup();
    fake_xen_set_hole(31, 1, true);
    p = map_frames(30, 2, err);
    g_assert_cmpint(err[1], ==, -EINVAL);
    p[10] ^= 0xff;              /* the first page takes the locked path */

    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    g_assert_cmpint(sigaction(SIGSEGV, &sa, &old), ==, 0);
    if (!sigsetjmp(resume, 0)) {
        fault_resume = &resume;
        fake_xen_check_ram(p, 30 * PAGE, 2 * PAGE);
    } else {
        faulted = true;
    }
    fault_resume = NULL;
    sigaction(SIGSEGV, &old, NULL);

    g_assert_true(faulted);
    g_assert_cmpuint(stats().live_ranges, ==, 1);
    g_assert_cmpuint(fake_xen_check_ram(p, 30 * PAGE, PAGE), ==, 0);
    xenforeignmemory_unmap(fmem, p, 2);
}

#define THREAD_ITERATIONS 2000

static void *map_unmap_thread(void *opaque)
{
    xen_pfn_t base = GPOINTER_TO_UINT(opaque) * 16;
    int i;

    for (i = 0; i < THREAD_ITERATIONS; i++) {
        xen_pfn_t pfn = base + i % 16;
        uint8_t *p = map_frames(pfn, 1, NULL);
        int token = fake_xen_reader_enter(p, PAGE);

        g_assert_cmpuint(fake_xen_check_ram(p, pfn * PAGE, PAGE), ==, 0);
        fake_xen_reader_exit(token);
        xenforeignmemory_unmap(fmem, p, 1);
    }
    return NULL;
}

static void test_threads(void)
{
    QemuThread threads[4];
    unsigned i;

    setup();
    for (i = 0; i < G_N_ELEMENTS(threads); i++) {
        qemu_thread_create(&threads[i], "fake-xen-test", map_unmap_thread,
                           GUINT_TO_POINTER(i), QEMU_THREAD_JOINABLE);
    }
    for (i = 0; i < G_N_ELEMENTS(threads); i++) {
        qemu_thread_join(&threads[i]);
    }
    g_assert_cmpuint(stats().map_calls, ==, 4 * THREAD_ITERATIONS);
    g_assert_cmpuint(stats().bad_unmaps, ==, 0);
    g_assert_cmpuint(stats().violations, ==, 0);
    g_assert_cmpuint(stats().live_ranges, ==, 0);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    fmem = xenforeignmemory_open(NULL, 0);
    xgt = xengnttab_open(NULL, 0);

    g_test_add_func("/fake-xen/init/registry-before-init",
                    test_registry_before_init);
    g_test_add_func("/fake-xen/foreign/pattern", test_pattern_by_value);
    g_test_add_func("/fake-xen/foreign/shared", test_shared_frames);
    g_test_add_func("/fake-xen/foreign/holes", test_holes);
    g_test_add_func("/fake-xen/foreign/fixed-hint", test_fixed_hint);
    g_test_add_func("/fake-xen/inject/fail-next", test_fail_next);
    g_test_add_func("/fake-xen/grants/map", test_grants);
    g_test_add_func("/fake-xen/live/bad-unmaps", test_live_ranges);
    g_test_add_func("/fake-xen/readers/violation", test_reader_violation);
    g_test_add_func("/fake-xen/readers/fixed-violation",
                    test_reader_fixed_violation);
    g_test_add_func("/fake-xen/readers/no-violation",
                    test_reader_no_violation);
    g_test_add_func("/fake-xen/init/reset", test_reset);
    g_test_add_func("/fake-xen/granting/end-access-while-mapped",
                    test_end_access_while_mapped);
    g_test_add_func("/fake-xen/granting/end-access-after-unmap",
                    test_end_access_after_unmap);
    g_test_add_func("/fake-xen/kernel/budget-bytes", test_budget_bytes);
    g_test_add_func("/fake-xen/kernel/budget-ranges", test_budget_ranges);
    g_test_add_func("/fake-xen/check/fault-leaves-no-lock",
                    test_check_fault_leaves_no_lock);
    g_test_add_func("/fake-xen/threads/map-unmap", test_threads);

    ret = g_test_run();
    xengnttab_close(xgt);
    xenforeignmemory_close(fmem);
    fake_xen_fini();
    return ret;
}
