/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * make e2e-bench: the real binaries side by side, under the simulated
 * host.  Each workload runs in a fresh QEMU (so that no cache is warm),
 * RUNS times per binary, at the cache's default limit and at a small
 * one (mapcache-max-size=64M, on binaries that take it), by virtio-blk
 * and by AHCI with NCQ.
 *
 * Per workload and binary: requests per second and latency (median,
 * p99), pooled over the runs; map calls and pages per request, and
 * unmaps per run, as the host counted them; the peak of foreign bytes
 * mapped, the maximum over the runs.  Run i of a workload makes the
 * same requests on every binary and at every limit (its own seed).  The
 * counts carry over to real Xen (each map call is a privcmd ioctl and a
 * hypercall there); the times are the simulated host's (an mmap() of a
 * memfd, an ioreq through a pipe and a thread) and do not.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xen-e2e.h"

#define BENCH_RAM_MB        1024
#define BENCH_REQUESTS      2000
#define SMALL_LIMIT         "mapcache-max-size=64M"

/*
 * How a binary is given the small limit: the series' option is an
 * accelerator property, which QEMU refuses beside -machine xenfv (whose
 * defaults set accel=xen); so first as a machine option, then on the
 * pc machine with -accel xen (as libxl runs guests without the Xen
 * platform device).  A binary that refuses both has no small-limit rows.
 */
typedef struct LimitWay {
    const char *machine;
    const char *machine_extra;
    const char *accel;
    const char *label;
} LimitWay;

static const LimitWay limit_ways[] = {
    { NULL, SMALL_LIMIT, NULL, "64M" },
    { "pc", NULL, SMALL_LIMIT, "64M(pc)" },
};

typedef struct Workload {
    const char *name;
    ReqPattern p;
    int depth;
    bool ahci;
} Workload;

#define WS_SMALL    (32 * MiB)
#define WS_LARGE    (900 * MiB)

static const Workload workloads[] = {
    { "rand4k-qd1-32M", { 4096, GUEST_DATA_BASE, WS_SMALL, 0, 0, false }, 1 },
    { "rand4k-qd1-900M", { 4096, GUEST_DATA_BASE, WS_LARGE, 0, 0, false },
      1 },
    { "rand4k-qd32-32M", { 4096, GUEST_DATA_BASE, WS_SMALL, 0, 0, false },
      32 },
    { "rand4k-qd32-900M", { 4096, GUEST_DATA_BASE, WS_LARGE, 0, 0, false },
      32 },
    { "seq128k-qd8-900M", { 128 * 1024, GUEST_DATA_BASE, WS_LARGE, 0, 0,
                            true }, 8 },
    { "cross1M-4k-qd32", { 4096, GUEST_DATA_BASE, WS_LARGE, 2048, 0,
                           false }, 32 },
    { "mixed16k-qd16", { 16384, GUEST_DATA_BASE, WS_LARGE, 0, 50, false },
      16 },
    { "ahci-rand4k-qd1", { 4096, GUEST_DATA_BASE, WS_LARGE, 0, 0, false },
      1, true },
    { "ahci-rand4k-qd32", { 4096, GUEST_DATA_BASE, WS_LARGE, 0, 0, false },
      32, true },
    { "ahci-seq128k-qd8", { 128 * 1024, GUEST_DATA_BASE, WS_LARGE, 0, 0,
                            true }, 8, true },
    { "ahci-cross1M-qd32", { 4096, GUEST_DATA_BASE, WS_LARGE, 2048, 0,
                             false }, 32, true },
    { "ahci-mixed16k-qd32", { 16384, GUEST_DATA_BASE, WS_LARGE, 0, 50,
                              false }, 32, true },
};

typedef struct Result {
    bool skipped;
    char why[256];
    uint64_t requests;
    uint64_t ns;            /* in vblk_run, summed */
    uint64_t *lat;          /* ns, every request of every run */
    uint64_t nlat;
    uint64_t maps;
    uint64_t pages;
    uint64_t unmaps;
    uint64_t peak;          /* max over runs */
    int runs;
    int bad;                /* requests that came back wrong */
} Result;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Run @w's requests in batches the pattern has room for. */
static int bench_requests(Run *r, const Workload *w, Result *res)
{
    uint64_t unit = w->p.straddle ? MiB : (w->p.len + 4095) & ~4095ull;
    int room = IMAGE_BYTES / w->p.len;
    int ram_room = w->p.ram_span / unit - (w->p.straddle ? 1 : 0);
    BlkReq *reqs = calloc(BENCH_REQUESTS, sizeof(*reqs));

    room = room < ram_room ? room : ram_room;
    for (int done = 0; done < BENCH_REQUESTS;) {
        int n = BENCH_REQUESTS - done < room ? BENCH_REQUESTS - done : room;
        uint64_t t0;
        int ret;

        make_requests(reqs, n, &w->p);
        prepare_buffers(&r->q, reqs, n);
        t0 = now_ns();
        ret = vblk_run(&r->blk, reqs, n, w->depth, NULL, NULL);
        res->ns += now_ns() - t0;
        if (ret) {
            free(reqs);
            return ret;
        }
        res->bad += verify_requests(&r->q, r->img, reqs, n);
        for (int i = 0; i < n; i++) {
            res->lat[res->nlat++] = reqs[i].t_done - reqs[i].t_submit;
        }
        res->requests += n;
        done += n;
    }
    free(reqs);
    return 0;
}

/* One run of @w on @cfg->qemu in a fresh QEMU. */
static int bench_run(const E2eConfig *cfg, const Workload *w,
                     const LimitWay *way, int img, const char *image,
                     Result *res)
{
    Run r = { .scenario = "bench", .img_shared = img, .with_ahci = w->ahci,
              .on_ahci = w->ahci };
    uint64_t before[FXH_STAT__MAX], after[FXH_STAT__MAX];
    FxhMsg m = { .op = FXH_OP_RESET_PEAK };
    int ret;

    if (way) {
        r.opts.machine = way->machine;
        r.opts.machine_extra = way->machine_extra;
        r.opts.accel = way->accel;
    }
    snprintf(r.image, sizeof(r.image), "%s", image);
    ret = run_start(&r, cfg, BENCH_RAM_MB);
    if (ret) {
        qemu_describe(&r.q, res->why, sizeof(res->why));
        run_stop(&r);
        return ret;
    }
    host_call(&r.q, &m);
    host_stats(&r.q, before);
    ret = bench_requests(&r, w, res);
    host_stats(&r.q, after);
    if (!ret) {
        res->maps += after[FXH_STAT_MAP_CALLS] - before[FXH_STAT_MAP_CALLS];
        res->pages += after[FXH_STAT_PAGES_MAPPED] -
                      before[FXH_STAT_PAGES_MAPPED];
        res->unmaps += after[FXH_STAT_UNMAPS] - before[FXH_STAT_UNMAPS];
        if (after[FXH_STAT_PEAK_BYTES] > res->peak) {
            res->peak = after[FXH_STAT_PEAK_BYTES];
        }
        res->runs++;
        qemu_quit(&r.q, 10000);
    } else {
        qemu_describe(&r.q, res->why, sizeof(res->why));
    }
    run_stop(&r);
    return ret;
}

static void print_row(const char *wname, const char *bin, const char *limit,
                      Result *res)
{
    double per;

    if (res->skipped || !res->runs) {
        printf("| %-18s | %-8s | %-7s | %s |\n", wname, bin, limit,
               res->why[0] ? res->why : "no run completed");
        return;
    }
    qsort(res->lat, res->nlat, sizeof(uint64_t), cmp_u64);
    per = res->requests;
    printf("| %-18s | %-8s | %-7s | %8.0f | %7.1f | %8.1f | %6.3f | %8.1f "
           "| %7.1f | %7.1f |%s\n", wname, bin, limit,
           res->requests * 1e9 / res->ns,
           res->lat[res->nlat / 2] / 1e3,
           res->lat[res->nlat * 99 / 100] / 1e3,
           res->maps / per, res->pages / per,
           (double)res->unmaps / res->runs,
           res->peak / (double)MiB,
           res->bad ? " WRONG DATA" : "");
}

static void binary_version(const char *bin, char *buf, size_t len)
{
    char *cmd;
    FILE *f;

    buf[0] = 0;
    if (asprintf(&cmd, "'%s' --version 2>/dev/null", bin) < 0) {
        return;
    }
    f = popen(cmd, "r");
    if (f) {
        if (fgets(buf, len, f)) {
            buf[strcspn(buf, "\n")] = 0;
        }
        pclose(f);
    }
    free(cmd);
}

/* Which of limit_ways[] @bin takes (-1: none), asked once. */
static int limit_way(const E2eConfig *cfg, const char *bin, int img,
                     const char *image)
{
    static const Workload probe = { "probe", { 4096, GUEST_DATA_BASE,
                                               WS_SMALL, 0, 0, false }, 1 };

    for (size_t i = 0; i < sizeof(limit_ways) / sizeof(limit_ways[0]);
         i++) {
        E2eConfig c = *cfg;
        Result res = { 0 };
        uint64_t lat[BENCH_REQUESTS];
        int ret;

        c.qemu = bin;
        res.lat = lat;
        ret = bench_run(&c, &probe, &limit_ways[i], img, image, &res);
        if (!ret) {
            return i;
        }
        printf("# %s refuses %s%s%s: %s\n", bin,
               limit_ways[i].machine ? limit_ways[i].machine : "xenfv",
               limit_ways[i].accel ? " -accel xen," : ",", SMALL_LIMIT,
               res.why);
    }
    return -1;
}

int bench_main(const E2eConfig *cfg)
{
    const char *bins[1 + MAX_BASELINES] = { cfg->qemu };
    const char *names[1 + MAX_BASELINES] = { "QEMU", "BASE1", "BASE2",
                                              "BASE3" };
    int way[1 + MAX_BASELINES];
    char image[600], ver[256];
    int nbins = 1 + cfg->nbaselines;
    bool bad = false;
    int img;

    for (int b = 0; b < cfg->nbaselines; b++) {
        bins[1 + b] = cfg->baseline[b];
    }
    snprintf(image, sizeof(image), "%s/disk.img", cfg->run_dir);
    img = image_make(image, IMAGE_BYTES);
    if (img < 0) {
        fprintf(stderr, "cannot make %s\n", image);
        return 1;
    }
    for (int b = 0; b < nbins; b++) {
        binary_version(bins[b], ver, sizeof(ver));
        printf("%-8s = %s (%s)\n", names[b], bins[b], ver);
        way[b] = limit_way(cfg, bins[b], img, image);
    }
    printf("%d runs of %d requests per row, %d MiB of guest RAM; "
           "a fresh QEMU per run\n\n", cfg->runs, BENCH_REQUESTS,
           BENCH_RAM_MB);
    printf("| workload           | binary   | limit   |    req/s | p50 us  "
           "|  p99 us  | maps/r | pages/r  | unmaps  | peak MiB |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: "
           "| ---: |\n");
    fflush(stdout);
    for (size_t w = 0; w < sizeof(workloads) / sizeof(workloads[0]); w++) {
        for (int l = 0; l < 2; l++) {
            for (int b = 0; b < nbins; b++) {
                const LimitWay *lw = l ? &limit_ways[way[b] < 0 ? 0 : way[b]]
                                       : NULL;
                E2eConfig c = *cfg;
                Result res = { 0 };

                if (l && way[b] < 0) {
                    print_row(workloads[w].name, names[b], "64M",
                              &(Result) { .skipped = true,
                                          .why = "skipped: the binary "
                                                 "refuses the limit" });
                    continue;
                }
                c.qemu = bins[b];
                res.lat = calloc(cfg->runs * BENCH_REQUESTS,
                                 sizeof(uint64_t));
                for (int i = 0; i < cfg->runs; i++) {
                    /* every binary gets the same requests, run by run */
                    rnd_seed(0xbe7c4000 + w * 64 + i);
                    if (bench_run(&c, &workloads[w], lw, img, image,
                                  &res)) {
                        res.skipped = true;
                        break;
                    }
                }
                bad |= res.skipped || res.bad != 0;
                print_row(workloads[w].name, names[b],
                          lw ? lw->label : "default", &res);
                fflush(stdout);
                free(res.lat);
            }
        }
    }
    close(img);
    image_drop(image);
    printf("\nCounts (maps/r, pages/r, unmaps, peak) carry over to real Xen;"
           "\ntimes are the simulated host's and do not.\n");
    return bad;
}
