/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's own tests, without QEMU: what its libraries
 * answer is what the end-to-end tests rely on.  Per-page errors for
 * holes, MAP_FIXED honoured, a failed page failing a map without err[],
 * plain munmap() counted only on the host's ranges, relocation keeping
 * mappings coherent, xenstore's watch fd readable exactly while events
 * wait, and the symbol versions QEMU binds to.
 *
 * Linked with libfakexenhost before libc, so that munmap() comes here
 * as it does under LD_PRELOAD.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <xenctrl.h>
#include <xendevicemodel.h>
#include <xenforeignmemory.h>
#include <xenstore.h>

#include "fxh-core.h"
#include "fxh-protocol.h"

#define PAGE        FXH_PAGE_SIZE
#define RAM_MB      128
#define RAM_GFNS    ((uint64_t)RAM_MB << 8)

static xenforeignmemory_handle *fmem;

static uint64_t host_stat(FxhStat which)
{
    uint64_t s[FXH_STAT__MAX];

    fxh_stats_get(s);
    return s[which];
}

static void *map(const xen_pfn_t *gfns, size_t n, int *err)
{
    return xenforeignmemory_map2(fmem, 1, NULL, PROT_READ | PROT_WRITE, 0,
                                 n, gfns, err);
}

static bool readable(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };

    return poll(&pfd, 1, 0) == 1;
}

static void test_map_err_per_page(void)
{
    xen_pfn_t gfns[3] = { 16, RAM_GFNS + 7, 17 };   /* the middle: a hole */
    uint64_t errors = host_stat(FXH_STAT_PAGE_ERRORS);
    int err[3] = { 1, 1, 1 };
    uint8_t *p = map(gfns, 3, err);

    g_assert_nonnull(p);
    g_assert_cmpint(err[0], ==, 0);
    g_assert_cmpint(err[1], ==, -EINVAL);
    g_assert_cmpint(err[2], ==, 0);
    g_assert_cmpuint(host_stat(FXH_STAT_PAGE_ERRORS), ==, errors + 1);
    p[0] = 0x5a;
    p[2 * PAGE] = 0xa5;
    g_assert_cmpint(munmap(p, 3 * PAGE), ==, 0);
}

static void test_map_without_err_fails_whole(void)
{
    xen_pfn_t gfns[2] = { 16, RAM_GFNS + 9 };

    g_assert_null(xenforeignmemory_map(fmem, 1, PROT_READ, 2, gfns, NULL));
    g_assert_cmpint(errno, ==, EFAULT);
}

static void test_map_fixed(void)
{
    xen_pfn_t gfns[2] = { 32, 33 };
    int err[2];
    void *want = mmap(NULL, 4 * PAGE, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint64_t fixed = host_stat(FXH_STAT_FIXED_MAPS);
    void *p;

    g_assert(want != MAP_FAILED);
    p = xenforeignmemory_map2(fmem, 1, (uint8_t *)want + PAGE,
                              PROT_READ | PROT_WRITE, MAP_FIXED, 2, gfns,
                              err);
    g_assert(p == (uint8_t *)want + PAGE);
    g_assert_cmpuint(host_stat(FXH_STAT_FIXED_MAPS), ==, fixed + 1);
    munmap(want, 4 * PAGE);
}

/* Plain munmap() counts on the host's ranges only, partly or whole. */
static void test_munmap_counted(void)
{
    xen_pfn_t gfns[4] = { 40, 41, 42, 43 };
    uint64_t live = host_stat(FXH_STAT_LIVE_BYTES);
    uint64_t unmaps = host_stat(FXH_STAT_UNMAPS);
    void *other = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    int err[4];
    uint8_t *p = map(gfns, 4, err);

    g_assert_cmpuint(host_stat(FXH_STAT_LIVE_BYTES), ==, live + 4 * PAGE);
    munmap(other, PAGE);
    g_assert_cmpuint(host_stat(FXH_STAT_UNMAPS), ==, unmaps);
    munmap(p + PAGE, PAGE);
    g_assert_cmpuint(host_stat(FXH_STAT_UNMAPS), ==, unmaps + 1);
    g_assert_cmpuint(host_stat(FXH_STAT_LIVE_BYTES), ==, live + 3 * PAGE);
    munmap(p, 4 * PAGE);
    g_assert_cmpuint(host_stat(FXH_STAT_UNMAPS), ==, unmaps + 2);
    g_assert_cmpuint(host_stat(FXH_STAT_LIVE_BYTES), ==, live);
    g_assert_cmpuint(host_stat(FXH_STAT_PEAK_BYTES), >=, live + 4 * PAGE);
}

/* Relocated frames keep their contents, and old mappings see new writes. */
static void test_relocate_coherent(void)
{
    xendevicemodel_handle *dmod = xendevicemodel_open(NULL, 0);
    xen_pfn_t src = 100, dst = 0xf0000;
    uint8_t *old, *moved;
    int err;

    old = map(&src, 1, &err);
    g_assert_cmpint(err, ==, 0);
    strcpy((char *)old, "framebuffer");
    g_assert_cmpint(xendevicemodel_relocate_memory(dmod, 1, 1, src, dst),
                    ==, 0);
    moved = map(&dst, 1, &err);
    g_assert_cmpint(err, ==, 0);
    g_assert_cmpstr((char *)moved, ==, "framebuffer");
    moved[0] = 'F';
    g_assert_cmpint(old[0], ==, 'F');
    munmap(map(&src, 1, &err), PAGE);
    g_assert_cmpint(err, ==, -EINVAL);      /* gone from its old place */
    munmap(old, PAGE);
    munmap(moved, PAGE);
}

static void test_populate(void)
{
    xc_interface *xc = xc_interface_open(NULL, NULL, 0);
    xen_pfn_t gfn = RAM_GFNS + 100;
    uint8_t *p;
    int err;

    p = map(&gfn, 1, &err);
    g_assert_cmpint(err, ==, -EINVAL);
    munmap(p, PAGE);
    g_assert_cmpint(xc_domain_populate_physmap_exact(xc, 1, 1, 0, 0, &gfn),
                    ==, 0);
    p = map(&gfn, 1, &err);
    g_assert_cmpint(err, ==, 0);
    g_assert_cmpint(p[0], ==, 0);
    munmap(p, PAGE);
}

static void test_xenstore_watch_fd(void)
{
    struct xs_handle *xs = xs_open(0);
    unsigned int n;
    char **ev, **dir, *v;

    g_assert_true(xs_watch(xs, "device-model/1", "tok"));
    g_assert_true(readable(xs_fileno(xs)));         /* fires once at once */
    ev = xs_read_watch(xs, &n);
    g_assert_cmpstr(ev[XS_WATCH_TOKEN], ==, "tok");
    free(ev);
    g_assert_false(readable(xs_fileno(xs)));
    g_assert_true(xs_write(xs, XBT_NULL, "device-model/1/state", "running",
                           7));
    g_assert_true(readable(xs_fileno(xs)));
    ev = xs_check_watch(xs);
    g_assert_cmpstr(ev[XS_WATCH_PATH], ==,
                    "/local/domain/0/device-model/1/state");
    free(ev);
    g_assert_null(xs_check_watch(xs));
    v = xs_read(xs, XBT_NULL, "/local/domain/0/device-model/1/state", &n);
    g_assert_cmpstr(v, ==, "running");
    free(v);
    dir = xs_directory(xs, XBT_NULL, "device-model/1", &n);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpstr(dir[0], ==, "state");
    free(dir);
    xs_close(xs);
}

/* The versions QEMU 7.2 and 9.2 bind to, e.g. set_irq_level@VERS_1.4. */
static void test_symbol_versions(void)
{
    static const char *const syms[][3] = {
        { "libxendevicemodel.so.1", "xendevicemodel_set_irq_level",
          "VERS_1.4" },
        { "libxendevicemodel.so.1", "xendevicemodel_relocate_memory",
          "VERS_1.2" },
        { "libxenforeignmemory.so.1", "xenforeignmemory_map_resource",
          "VERS_1.3" },
        { "libxenforeignmemory.so.1", "xenforeignmemory_map2", "VERS_1.2" },
        { "libxenctrl.so.4.17", "xc_interface_open", "VERS_4.17.0" },
        { "libxenstore.so.4", "xs_read_watch", "VERS_4.0" },
        { "libxengnttab.so.1", "xengnttab_grant_copy", "VERS_1.1" },
        { "libfakexenhost.so.0", "munmap", "GLIBC_2.2.5" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(syms); i++) {
        void *h = dlopen(syms[i][0], RTLD_NOW);
        void *sym;
        Dl_info info;

        g_assert_nonnull(h);
        sym = dlvsym(h, syms[i][1], syms[i][2]);
        if (!sym) {
            g_error("%s: no %s@%s", syms[i][0], syms[i][1], syms[i][2]);
        }
        /* ours, not Debian's: found through the build's run path */
        g_assert_true(dladdr(sym, &info));
        g_assert_nonnull(strstr(info.dli_fname, "fake-xen-host/"));
        dlclose(h);
    }
}

int main(int argc, char **argv)
{
    g_setenv("FAKE_XEN_HOST_RAM_MB", G_STRINGIFY(RAM_MB), TRUE);
    g_unsetenv("FAKE_XEN_HOST_SOCKET");
    g_test_init(&argc, &argv, NULL);
    fmem = xenforeignmemory_open(NULL, 0);
    g_test_add_func("/fake-xen-host/map/err-per-page",
                    test_map_err_per_page);
    g_test_add_func("/fake-xen-host/map/without-err-fails-whole",
                    test_map_without_err_fails_whole);
    g_test_add_func("/fake-xen-host/map/fixed", test_map_fixed);
    g_test_add_func("/fake-xen-host/munmap/counted", test_munmap_counted);
    g_test_add_func("/fake-xen-host/p2m/relocate-coherent",
                    test_relocate_coherent);
    g_test_add_func("/fake-xen-host/p2m/populate", test_populate);
    g_test_add_func("/fake-xen-host/xenstore/watch-fd",
                    test_xenstore_watch_fd);
    g_test_add_func("/fake-xen-host/abi/symbol-versions",
                    test_symbol_versions);
    return g_test_run();
}
