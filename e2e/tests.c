/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The end-to-end tests, one QEMU per scenario:
 *
 * - main: 1 GiB of guest RAM; PCI enumeration; virtio-blk reads and
 *   writes at queue depth 1 and 32, across 1 MiB boundaries, spread over
 *   the whole of guest RAM, each byte checked against the image; an
 *   invalidate ioreq while requests are in flight; a frame ballooned out
 *   (answered per page in err[]) and back; a kick by buffered ioreq;
 *   the host's counts; QEMU quits cleanly.
 * - iothread: the virtio-blk on an IOThread.
 * - rlimit: as nobody, under a finite RLIMIT_AS.
 * - replace: the only caller of xen_replace_cache_entry().  A source
 *   QEMU with a VGA relocates the framebuffer's frames to its BAR; the
 *   guest draws; the device state is saved; a new QEMU on the same
 *   domain restores it (-incoming), finds the frames gone from their old
 *   place, maps a dummy, and must replace it in place when the BAR
 *   comes back; then the same with -incoming defer and
 *   xen-load-devices-state.
 *
 * iothread, rlimit and the xen-load-devices-state run record what the
 * binary did.  A run that cannot start
 * counts as one failure with QEMU's last words.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xen-e2e.h"

#define QUIT_TIMEOUT_MS     10000
#define DEATH_TIMEOUT_MS    5000

/* QEMU's part in a run is over: did it quit, exit or die? */
static bool quit_cleanly(Run *r, char *why, size_t len)
{
    int ret = qemu_quit(&r->q, QUIT_TIMEOUT_MS);

    qemu_describe(&r->q, why, len);
    return !ret && r->q.outcome == QEMU_EXITED && r->q.status == 0;
}

static void test_pci(Run *r)
{
    bool xenfv = !r->opts.machine || !strcmp(r->opts.machine, "xenfv");
    bool ok = find_dev(r, 0x8086, 0x1237) && find_dev(r, 0x8086, 0x7000) &&
              (find_dev(r, 0x5853, 0x0001) || !xenfv);
    const PciDev *vd = find_dev(r, 0x1af4, 0x1001);

    for (int i = 0; i < r->ndevs; i++) {
        diag("00:%02x.0 %04x:%04x bar0 0x%x%s", r->devs[i].slot,
             r->devs[i].vendor, r->devs[i].device, r->devs[i].bar[0],
             r->devs[i].bar_io[0] ? " (io)" : "");
    }
    tap(ok && vd && vd->bar_io[0] && vd->bar[0],
        "pci: i440FX, PIIX3, %svirtio-blk found, BARs assigned",
        xenfv ? "xen-platform, " : "");
    tap(r->blk.capacity == IMAGE_BYTES / SECTOR,
        "virtio-blk: capacity %llu sectors, queue size %u",
        (unsigned long long)r->blk.capacity, r->blk.qsize);
}

/* Config cycles as Xen sends them, from each vCPU in turn. */
static void test_vcpus(Run *r)
{
    const PciDev *vd = find_dev(r, 0x1af4, 0x1001);
    bool ok = vd != NULL;

    for (unsigned int vcpu = 0; ok && vcpu < r->opts.smp; vcpu++) {
        uint32_t id = 0;

        ok = !pci_cfg_read_xen(&r->q, vcpu, vd->slot, 0, 4, &id) &&
             id == 0x10011af4;
        if (!ok) {
            diag("vCPU %u: id 0x%08x", vcpu, id);
        }
    }
    tap(ok, "IOREQ_TYPE_PCI_CONFIG from each of %u vCPUs", r->opts.smp);
}

static void test_io(Run *r, uint64_t ram_bytes)
{
    uint64_t span = ram_bytes - GUEST_DATA_BASE - MiB;
    ReqPattern rd4k = { 4096, GUEST_DATA_BASE, span, 0, 0, false };
    ReqPattern wr4k = { 4096, GUEST_DATA_BASE, span, 0, 100, false };
    ReqPattern mixed = { 65536, GUEST_DATA_BASE, span, 0, 50, false };
    ReqPattern cross4k = { 4096, GUEST_DATA_BASE, span, 2048, 50, false };
    ReqPattern cross128k = { 128 * 1024, GUEST_DATA_BASE, span, 4096, 50,
                             false };

    tap(batch(r, &rd4k, 200, 1, NULL, NULL),
        "4 KiB reads at queue depth 1, over %llu MiB of guest RAM",
        (unsigned long long)(span / MiB));
    tap(batch(r, &rd4k, 1000, 32, NULL, NULL),
        "4 KiB reads at queue depth 32");
    tap(batch(r, &wr4k, 200, 1, NULL, NULL),
        "4 KiB writes at queue depth 1, the image holds them");
    tap(batch(r, &wr4k, 1000, 32, NULL, NULL),
        "4 KiB writes at queue depth 32");
    tap(batch(r, &mixed, 500, 128, NULL, NULL),
        "64 KiB reads and writes at queue depth 128");
    tap(batch(r, &cross4k, 500, 32, NULL, NULL),
        "4 KiB across 1 MiB boundaries, queue depth 32");
    tap(batch(r, &cross128k, 300, 8, NULL, NULL),
        "128 KiB across 1 MiB boundaries, queue depth 8");
}

static void test_ahci(Run *r, uint64_t ram_bytes)
{
    uint64_t span = ram_bytes - GUEST_DATA_BASE - MiB;
    ReqPattern rd4k = { 4096, GUEST_DATA_BASE, span, 0, 0, false };
    ReqPattern mixed = { 32768, GUEST_DATA_BASE, span, 0, 50, false };
    ReqPattern cross = { 16384, GUEST_DATA_BASE, span, 8192, 50, false };

    r->on_ahci = true;
    tap(batch(r, &rd4k, 200, 1, NULL, NULL),
        "ahci: 4 KiB NCQ reads, one tag");
    tap(batch(r, &mixed, 1000, 32, NULL, NULL),
        "ahci: 32 KiB NCQ reads and writes, 32 tags, over %llu MiB",
        (unsigned long long)(span / MiB));
    tap(batch(r, &cross, 500, 32, NULL, NULL),
        "ahci: 16 KiB across 1 MiB boundaries, 32 tags");
    r->on_ahci = false;
}

static void test_modern(Run *r, uint64_t ram_bytes)
{
    const PciDev *vd = find_dev(r, 0x1af4, 0x1001);
    ReqPattern p = { 8192, GUEST_DATA_BASE,
                     ram_bytes - GUEST_DATA_BASE - MiB, 0, 50, false };
    VirtioBlk legacy = r->blk;
    int ret = vd ? vblk_init_modern(&r->blk, &r->q, vd) : -ENODEV;
    uint64_t before[FXH_STAT__MAX], after[FXH_STAT__MAX];
    bool ok;

    if (ret) {
        diag("virtio-blk modern: %s", strerror(-ret));
    }
    tap(!ret && batch(r, &p, 1000, 64, NULL, NULL),
        "virtio-blk, modern interface: 8 KiB reads and writes, queue "
        "depth 64");
    host_stats(&r->q, before);
    ret = ret ? ret : vblk_msix(&r->blk, vd, true);
    ok = !ret && batch(r, &p, 200, 16, NULL, NULL);
    host_stats(&r->q, after);
    tap(ok && after[FXH_STAT_MSIS] > before[FXH_STAT_MSIS],
        "virtio-blk, modern, on MSI-X: completions by inject_msi (%llu)",
        (unsigned long long)(after[FXH_STAT_MSIS] - before[FXH_STAT_MSIS]));
    if (vd) {
        vblk_msix(&r->blk, vd, false);  /* legacy's config moves with it */
    }
    /* back to legacy, where the rest of the tests kick */
    ret = vblk_init(&r->blk, &r->q, vd);
    tap(!ret && r->blk.capacity == legacy.capacity &&
        batch(r, &p, 100, 8, NULL, NULL),
        "virtio-blk: reset to the legacy interface, still serving");
}

static void send_invalidate(void *opaque)
{
    Run *r = opaque;
    FxhMsg m = { .op = FXH_OP_INVALIDATE };
    int ret = host_call(&r->q, &m);

    if (ret) {
        diag("invalidate: %s", strerror(-ret));
    }
}

static void test_invalidate(Run *r, uint64_t ram_bytes)
{
    ReqPattern p = { 16384, GUEST_DATA_BASE,
                     ram_bytes - GUEST_DATA_BASE - MiB, 0, 50, false };
    uint64_t before[FXH_STAT__MAX], after[FXH_STAT__MAX];
    bool ok;

    host_stats(&r->q, before);
    ok = batch(r, &p, 600, 32, send_invalidate, r);
    host_stats(&r->q, after);
    tap(ok && after[FXH_STAT_IOREQS] > before[FXH_STAT_IOREQS],
        "an invalidate ioreq while 32 requests are in flight");
}

/* One request into @gpa from @sector; true if it came back right. */
static bool one_read(Run *r, uint64_t gpa, uint64_t sector, uint32_t len)
{
    BlkReq req = { .sector = sector, .len = len, .gpa = gpa };

    prepare_buffers(&r->q, &req, 1);
    return !vblk_run(&r->blk, &req, 1, 1, NULL, NULL) &&
           !verify_requests(&r->q, r->img, &req, 1);
}

static void test_balloon(Run *r)
{
    const uint64_t gfn = (300 * MiB >> 12) + 5;
    uint64_t before[FXH_STAT__MAX], after[FXH_STAT__MAX];
    FxhMsg m = { .op = FXH_OP_DECREASE, .a = { gfn, 1 } };
    bool ok;

    ok = one_read(r, gfn << 12, 8, 4096);
    tap(ok, "balloon: a read into gfn 0x%llx before",
        (unsigned long long)gfn);
    host_stats(&r->q, before);
    ok = !host_call(&r->q, &m);
    /* its neighbour in the same 1 MiB bucket still works */
    ok = ok && one_read(r, (gfn + 1) << 12, 16, 4096);
    host_stats(&r->q, after);
    tap(ok, "balloon: gfn 0x%llx out (and the invalidate ioreq), a read "
        "into its neighbour", (unsigned long long)gfn);
    tap(after[FXH_STAT_PAGE_ERRORS] > before[FXH_STAT_PAGE_ERRORS],
        "balloon: the bucket's new mapping met the hole (%llu page errors)",
        (unsigned long long)(after[FXH_STAT_PAGE_ERRORS] -
                             before[FXH_STAT_PAGE_ERRORS]));
    m = (FxhMsg) { .op = FXH_OP_POPULATE, .a = { gfn, 1 } };
    ok = !host_call(&r->q, &m) && one_read(r, gfn << 12, 24, 4096);
    tap(ok, "balloon: gfn 0x%llx back, a read into it",
        (unsigned long long)gfn);
}

static void test_buffered(Run *r)
{
    ReqPattern p = { 4096, GUEST_DATA_BASE, 64 * MiB, 0, 50, false };
    bool ok;

    r->blk.buffered_kick = true;
    ok = batch(r, &p, 16, 1, NULL, NULL);
    r->blk.buffered_kick = false;
    tap(ok, "kicks by buffered ioreq");
}

static void test_counts(Run *r)
{
    uint64_t s[FXH_STAT__MAX];

    host_stats(&r->q, s);
    diag("host: %llu map calls, %llu pages, %llu unmaps, %llu MiB live, "
         "%llu MiB peak, %llu page errors, %llu ioreqs, %llu interrupts",
         (unsigned long long)s[FXH_STAT_MAP_CALLS],
         (unsigned long long)s[FXH_STAT_PAGES_MAPPED],
         (unsigned long long)s[FXH_STAT_UNMAPS],
         (unsigned long long)(s[FXH_STAT_LIVE_BYTES] / MiB),
         (unsigned long long)(s[FXH_STAT_PEAK_BYTES] / MiB),
         (unsigned long long)s[FXH_STAT_PAGE_ERRORS],
         (unsigned long long)s[FXH_STAT_IOREQS],
         (unsigned long long)s[FXH_STAT_INTX_RAISED]);
    tap(s[FXH_STAT_MAP_CALLS] > 0 && s[FXH_STAT_PAGES_MAPPED] > 0 &&
        s[FXH_STAT_LIVE_BYTES] <= s[FXH_STAT_PEAK_BYTES] &&
        s[FXH_STAT_INTX_RAISED] > 0,
        "the host saw the guest's RAM mapped through it, and interrupts");
}

/* "N label" in @text (the first cache's), N; false if absent. */
static bool info_count(const char *text, const char *label, uint64_t *val)
{
    const char *p = strstr(text, label);

    if (!p || p < text + 2) {
        return false;
    }
    p -= 2;                         /* the last digit before " label" */
    while (p > text && p[-1] >= '0' && p[-1] <= '9') {
        p--;
    }
    *val = strtoull(p, NULL, 10);
    return true;
}

/* "label N unit" in @text, in bytes; false if absent. */
static bool info_bytes(const char *text, const char *label, uint64_t *val)
{
    static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
                                         "TiB" };
    const char *p = strstr(text, label);
    char *end;

    if (!p) {
        return false;
    }
    *val = strtoull(p + strlen(label), &end, 10);
    while (*end == ' ') {
        end++;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (!strncmp(end, units[i], strlen(units[i]))) {
            *val <<= 10 * i;
            return true;
        }
    }
    return false;
}

/*
 * A cache that counts (the series' x-query-xen-mapcache) must agree with
 * what the host saw: every map call, page, byte and unmap.
 */
static void test_cache_agrees(Run *r)
{
    static char text[65536];
    uint64_t s[FXH_STAT__MAX];
    uint64_t maps, pages, mapped, peak, freed, done, queued;
    bool ok;
    int ret;

    ret = qemu_qmp(&r->q, "{\"execute\": \"x-query-xen-mapcache\"}\n",
                   text, sizeof(text), QUIT_TIMEOUT_MS);
    if (ret == -EINVAL && strstr(text, "CommandNotFound")) {
        tap_skip("the cache's counters agree with the host's: the binary "
                 "has no x-query-xen-mapcache");
        return;
    }
    host_stats(&r->q, s);
    ok = !ret && info_count(text, " new mappings", &maps) &&
         info_count(text, " pages mapped", &pages) &&
         info_bytes(text, "mapped ", &mapped) &&
         info_bytes(text, "peak ", &peak) &&
         info_count(text, " freed at once", &freed) &&
         info_count(text, " of them done", &done) &&
         info_count(text, " releases queued", &queued);
    if (!ok) {
        diag("x-query-xen-mapcache: %.300s", text);
    }
    diag("cache: %llu new mappings, %llu pages, %llu bytes mapped, %llu "
         "peak, %llu freed at once, %llu of %llu releases done",
         (unsigned long long)maps, (unsigned long long)pages,
         (unsigned long long)mapped, (unsigned long long)peak,
         (unsigned long long)freed, (unsigned long long)done,
         (unsigned long long)queued);
    tap(ok && maps == s[FXH_STAT_MAP_CALLS] &&
        pages == s[FXH_STAT_PAGES_MAPPED] &&
        mapped == s[FXH_STAT_LIVE_BYTES] && peak == s[FXH_STAT_PEAK_BYTES] &&
        freed + done <= s[FXH_STAT_UNMAPS] &&
        s[FXH_STAT_UNMAPS] <= freed + queued,
        "the cache's counters (x-query-xen-mapcache) agree with the host's");
}

static void scenario_main(const E2eConfig *cfg)
{
    Run r = { .scenario = "main", .img_shared = -1, .with_ahci = true,
              .opts = { .smp = 2 } };
    const uint64_t ram_mb = 1024;
    char why[1200];

    if (run_start(&r, cfg, ram_mb)) {
        tap(false, "main: QEMU runs and the guest's virtio-blk is up");
        run_stop(&r);
        return;
    }
    tap(true, "main: QEMU runs and the guest's virtio-blk is up");
    test_pci(&r);
    test_vcpus(&r);
    test_io(&r, ram_mb * MiB);
    test_ahci(&r, ram_mb * MiB);
    test_modern(&r, ram_mb * MiB);
    test_invalidate(&r, ram_mb * MiB);
    test_balloon(&r);
    test_buffered(&r);
    test_counts(&r);
    test_cache_agrees(&r);
    tap(quit_cleanly(&r, why, sizeof(why)), "main: QEMU quits: %s", why);
    run_stop(&r);
}

/*
 * A run whose outcome is recorded: completed, or a failure known
 * upstream (listed by name), or a new failure.
 */
static void record_outcome(Run *r, bool io_ok, bool started)
{
    char why[1200];
    const char *known;

    if (io_ok && quit_cleanly(r, why, sizeof(why))) {
        tap(true, "%s: completed, every byte checked, QEMU quit",
            r->scenario);
        return;
    }
    /* a QEMU that failed a request may still be dumping its core */
    if (!qemu_wait_gone(&r->q, DEATH_TIMEOUT_MS)) {
        qemu_quit(&r->q, QUIT_TIMEOUT_MS);
    }
    qemu_describe(&r->q, why, sizeof(why));
    known = known_failure(r->scenario, &r->q);
    diag("%s: %s", r->scenario, why);
    tap(known != NULL, "%s: %s%s: %s", r->scenario,
        known ? "known upstream failure " : "new failure",
        known ? known : (started ? "" : " (did not start)"), why);
}

static void scenario_iothread(const E2eConfig *cfg)
{
    Run r = { .scenario = "iothread", .img_shared = -1,
              .opts = { .iothread = true } };
    ReqPattern p = { 4096, GUEST_DATA_BASE, 128 * MiB, 0, 50, false };
    ReqPattern cross = { 16384, GUEST_DATA_BASE, 248 * MiB, 8192, 50,
                         false };
    bool started = !run_start(&r, cfg, 256);
    /* a binary that survives the first requests meets an invalidate */
    bool ok = started && batch(&r, &p, 64, 8, NULL, NULL) &&
              batch(&r, &cross, 200, 32, send_invalidate, &r);

    record_outcome(&r, ok, started);
    run_stop(&r);
}

/*
 * Copy the host's libraries where nobody can read them: the build
 * directory may sit under a home that user 65534 cannot enter.  Return
 * the directory (made with mkdtemp), or NULL.
 */
static char *host_dir_for_nobody(const E2eConfig *cfg)
{
    static const char *libs[] = {
        "libfakexenhost.so.0", "libxenctrl.so.4.17",
        "libxenforeignmemory.so.1", "libxendevicemodel.so.1",
        "libxenevtchn.so.1", "libxengnttab.so.1", "libxenstore.so.4",
        "libxentoolcore.so.1",
    };
    char tmpl[] = "/tmp/xen-e2e-host-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char cmd[2048];

    if (!dir) {
        return NULL;
    }
    chmod(dir, 0755);
    for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
        snprintf(cmd, sizeof(cmd), "cp '%s/%s' '%s/' && chmod 755 '%s/%s'",
                 cfg->host_dir, libs[i], dir, dir, libs[i]);
        if (system(cmd)) {
            return NULL;
        }
    }
    snprintf(cmd, sizeof(cmd), "ln -s libfakexenhost.so.0 "
             "'%s/libfakexenhost.so'", dir);
    return system(cmd) ? NULL : strdup(dir);
}

static void scenario_rlimit(const E2eConfig *cfg)
{
    Run r = { .scenario = "rlimit", .img_shared = -1,
              .opts = { .unprivileged = geteuid() == 0,
                        .rlimit_as = cfg->rlimit_as } };
    const uint64_t ram_mb = 1024;
    ReqPattern p = { 4096, GUEST_DATA_BASE,
                     ram_mb * MiB - GUEST_DATA_BASE - MiB, 0, 50, false };
    E2eConfig c = *cfg;
    char *host_dir = NULL, run_dir[64], cmd[128];
    bool started, ok;

    if (r.opts.unprivileged) {
        host_dir = host_dir_for_nobody(cfg);
        if (!host_dir) {
            tap(false, "rlimit: copy the host's libraries to /tmp");
            return;
        }
        c.host_dir = host_dir;
        snprintf(run_dir, sizeof(run_dir), "%s/run", host_dir);
        c.run_dir = run_dir;
        mkdir(run_dir, 0777);
        chmod(run_dir, 0777);
    }
    diag("rlimit: as uid %d, RLIMIT_AS %llu MiB, %llu MiB of guest RAM",
         r.opts.unprivileged ? 65534 : (int)geteuid(),
         (unsigned long long)(cfg->rlimit_as / MiB),
         (unsigned long long)ram_mb);
    started = !run_start(&r, &c, ram_mb);
    ok = started && batch(&r, &p, 1000, 32, NULL, NULL);
    record_outcome(&r, ok, started);
    run_stop(&r);
    if (host_dir) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", host_dir);
        if (system(cmd)) {
            diag("could not remove %s", host_dir);
        }
        free(host_dir);
    }
}

static void record_outcome(Run *r, bool io_ok, bool started);

/* Guest RAM at @gpa as QEMU reads it (HMP xp): @n words, or -errno. */
static int qemu_xp(DeviceModel *q, uint64_t gpa, uint32_t *words, int n)
{
    char cmd[256], reply[4096];
    char *p;
    int ret;

    snprintf(cmd, sizeof(cmd), "{\"execute\": \"human-monitor-command\", "
             "\"arguments\": {\"command-line\": \"xp /%dwx 0x%llx\"}}\n",
             n, (unsigned long long)gpa);
    ret = qemu_qmp(q, cmd, reply, sizeof(reply), QUIT_TIMEOUT_MS);
    if (ret) {
        return ret;
    }
    p = strstr(reply, "\"return\"");
    p = p ? strchr(p + 9, ':') : NULL;     /* after the address */
    for (int i = 0; i < n; i++) {
        if (!p) {
            return -EPROTO;
        }
        words[i] = strtoul(p + 1, &p, 16);
    }
    return 0;
}

static int qmp_simple(DeviceModel *q, const char *cmd, const char *file)
{
    char buf[1024], reply[1024];
    int ret;

    if (file) {
        snprintf(buf, sizeof(buf), "{\"execute\": \"%s\", \"arguments\": "
                 "{\"filename\": \"%s\"}}\n", cmd, file);
    } else {
        snprintf(buf, sizeof(buf), "{\"execute\": \"%s\"}\n", cmd);
    }
    ret = qemu_qmp(q, buf, reply, sizeof(reply), QUIT_TIMEOUT_MS);
    if (ret) {
        diag("%s: %s", cmd, reply[0] ? reply : strerror(-ret));
    }
    return ret;
}

#define VBE_INDEX   0x1ce
#define VBE_DATA    0x1cf
#define VBE_XRES    1
#define VBE_YRES    2
#define VBE_BPP     3
#define VBE_ENABLE  4
#define VBE_ENABLED 0x01
#define VBE_LFB     0x40

static int vbe_write(DeviceModel *q, uint16_t index, uint16_t val)
{
    int ret = pio_write(q, VBE_INDEX, 2, index);

    return ret ? ret : pio_write(q, VBE_DATA, 2, val);
}

static bool framebuffer_seen(DeviceModel *q, uint64_t gpa, const uint32_t *want)
{
    uint32_t got[4] = { 0 };
    int ret = qemu_xp(q, gpa, got, 4);

    if (ret || memcmp(got, want, sizeof(got))) {
        diag("xp 0x%llx: %s 0x%08x 0x%08x, want 0x%08x 0x%08x",
             (unsigned long long)gpa, ret ? strerror(-ret) : "", got[0],
             got[1], want[0], want[1]);
        return false;
    }
    return true;
}

/*
 * The source: a guest whose VGA framebuffer sits at its BAR (QEMU has
 * relocated the frames there), a picture in it, its device state saved.
 * Return the BAR's address, or 0.
 */
static uint64_t replace_source(Run *r, const E2eConfig *cfg,
                               uint64_t ram_mb, const uint32_t *pattern,
                               size_t len, const char *state)
{
    uint64_t s[FXH_STAT__MAX];
    const PciDev *vga;
    bool ok;

    if (run_start(r, cfg, ram_mb)) {
        tap(false, "replace: the source QEMU runs");
        return 0;
    }
    vga = find_dev(r, 0x1234, 0x1111);
    ok = vga && !pci_cfg_write(&r->q, vga->slot, 0x04, 2, 0x3);
    host_stats(&r->q, s);
    tap(ok && s[FXH_STAT_RELOCATED] == 8 * MiB / FXH_PAGE_SIZE,
        "replace: the source relocated the framebuffer's %llu frames to "
        "its BAR at 0x%x", (unsigned long long)s[FXH_STAT_RELOCATED],
        vga ? vga->bar[0] : 0);
    if (!ok) {
        return 0;
    }
    ok = !vbe_write(&r->q, VBE_XRES, 64) && !vbe_write(&r->q, VBE_YRES, 64) &&
         !vbe_write(&r->q, VBE_BPP, 32) &&
         !vbe_write(&r->q, VBE_ENABLE, VBE_ENABLED | VBE_LFB);
    /* after the mode set: enabling VBE clears the framebuffer */
    guest_write(&r->q, vga->bar[0], pattern, len);
    tap(ok && framebuffer_seen(&r->q, vga->bar[0], pattern),
        "replace: the source sees the guest's picture at the BAR");
    tap(!qmp_simple(&r->q, "stop", NULL) &&
        !qmp_simple(&r->q, "xen-save-devices-state", state),
        "replace: xen-save-devices-state");
    return vga->bar[0];
}

/* Start a QEMU on the domain @src left, restoring with -incoming @uri. */
static bool replace_start(Run *src, Run *dst, const char *uri)
{
    char why[1200];

    dst->opts = src->opts;
    dst->opts.incoming = uri;
    dst->opts.restore = true;
    dst->opts.domain_fds[0] = src->q.ram_fd;
    dst->opts.domain_fds[1] = src->q.p2m_fd;
    if (qemu_start(&dst->q, &dst->opts)) {
        qemu_describe(&dst->q, why, sizeof(why));
        tap(false, "replace: a QEMU restores with -incoming %s: %s", uri,
            why);
        return false;
    }
    return true;
}

static void replace_log(Run *dst)
{
    char line[1024];

    qemu_log_find(&dst->q, "Replacing a dummy", line, sizeof(line));
    diag("%s", line[0] ? line : "no replace message in the log");
}

/*
 * -incoming defer, then xen-load-devices-state, as the issue asks and
 * as libxl does for COLO: record what the binary did.
 */
static void replace_defer(Run *src, const uint64_t bar,
                          const uint32_t *pattern, const char *state)
{
    Run dst = { .scenario = "replace", .img_shared = -1 };
    bool ok;

    if (!replace_start(src, &dst, "defer")) {
        return;
    }
    ok = !qmp_simple(&dst.q, "xen-load-devices-state", state);
    replace_log(&dst);
    ok = ok && framebuffer_seen(&dst.q, bar, pattern);
    record_outcome(&dst, ok, true);
    qemu_kill(&dst.q);
}

/*
 * -incoming with the saved state, as libxl restores a domain (it passes
 * the file as fd:N; exec:cat is the same stream): QEMU loads the state
 * while INMIGRATE, meets the framebuffer's frames unpopulated at their
 * old place, maps a dummy and replaces it when the BAR comes back.
 */
static void replace_incoming(Run *src, const uint64_t bar,
                             const uint32_t *pattern, const char *state)
{
    Run dst = { .scenario = "replace", .img_shared = -1 };
    char uri[700], why[1200];
    uint64_t s[FXH_STAT__MAX];
    uint32_t xres = 0;
    bool ok;

    snprintf(uri, sizeof(uri), "exec:cat %s", state);
    if (!replace_start(src, &dst, uri)) {
        return;
    }
    ok = !wait_running(&dst.q);
    replace_log(&dst);
    if (!ok) {
        /* it died loading the state: say how, and whether it is known */
        record_outcome(&dst, false, true);
        qemu_kill(&dst.q);
        return;
    }
    tap(true, "replace: the restored QEMU loads the state and runs");
    host_stats(&dst.q, s);
    diag("restored: %llu map calls, %llu with MAP_FIXED",
         (unsigned long long)s[FXH_STAT_MAP_CALLS],
         (unsigned long long)s[FXH_STAT_FIXED_MAPS]);
    tap(ok && framebuffer_seen(&dst.q, bar, pattern),
        "replace: the dummy was replaced by the BAR's frames, QEMU sees "
        "the guest's picture");
    ok = ok && !pio_write(&dst.q, VBE_INDEX, 2, VBE_XRES) &&
         !pio_read(&dst.q, VBE_DATA, 2, &xres);
    tap(ok && xres == 64, "replace: the VGA's mode came across (xres %u)",
        xres);
    tap(quit_cleanly(&dst, why, sizeof(why)),
        "replace: the restored QEMU quits: %s", why);
    qemu_kill(&dst.q);
}

static void scenario_replace(const E2eConfig *cfg)
{
    Run src = { .scenario = "replace", .img_shared = -1,
                .opts = { .vga = true } };
    uint32_t pattern[1024];
    char state[600], why[1200];
    uint64_t bar;

    for (int i = 0; i < 1024; i++) {
        pattern[i] = 0xfb000000u ^ (i * 2654435761u);
    }
    snprintf(state, sizeof(state), "%s/replace/devices.state",
             cfg->run_dir);
    bar = replace_source(&src, cfg, 256, pattern, sizeof(pattern), state);
    if (bar) {
        tap(quit_cleanly(&src, why, sizeof(why)),
            "replace: the source QEMU quits: %s", why);
        replace_incoming(&src, bar, pattern, state);
        replace_defer(&src, bar, pattern, state);
    }
    run_stop(&src);
}

int tests_main(const E2eConfig *cfg)
{
    bool all = !strcmp(cfg->scenario, "all");

    diag("QEMU: %s", cfg->qemu);
    if (all || !strcmp(cfg->scenario, "main")) {
        scenario_main(cfg);
    }
    if (all || !strcmp(cfg->scenario, "iothread")) {
        scenario_iothread(cfg);
    }
    if (all || !strcmp(cfg->scenario, "rlimit")) {
        scenario_rlimit(cfg);
    }
    if (all || !strcmp(cfg->scenario, "replace")) {
        scenario_replace(cfg);
    }
    printf("1..%d\n", tap_count());
    return 0;
}
