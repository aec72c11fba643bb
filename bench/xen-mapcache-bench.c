/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache (make bench).
 *
 * Replays named workloads, each modelled on a device's pattern of guest
 * memory accesses, through the mapcache's public API against the fake
 * hypervisor, and prints two rows per workload, one in each of two
 * tables: its map calls and time per operation against "bound", the
 * number of mappings the trace itself makes necessary, computed from the
 * trace alone (see bound.c); then what the mapcache did (its counters and
 * the fake's) and the most bytes it held, live plus pending, beside its
 * limit.  Then micro-measurements: reverse lookups with 1 and 1024
 * pinned mappings, flushes of a few hundred entries, lock0 hits on one
 * and two threads, against one uncontended QemuMutex lock/unlock pair.
 *
 * Every workload is first recorded as an array of operations from a fixed
 * seed, then replayed: the bound and the replay see the same trace.
 * Targets are printed, never asserted: the exit status is non-zero only
 * when the mapcache's counters disagree with the fake hypervisor's, when
 * a request fails, or when a pointer shows the wrong guest memory.
 * README.md, "Reading make bench", explains the columns.
 *
 * This file: the options, the clock and main(); xen-mapcache-bench.h
 * lists the other parts.
 */

#include "qemu/osdep.h"
#include "xen-mapcache-bench.h"

#include <time.h>

BenchConfig bench_config = { .runs = 5 };
uint64_t bench_sink;

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double median(const double *values, unsigned n)
{
    g_autofree double *sorted = g_new(double, n);

    memcpy(sorted, values, n * sizeof(double));
    qsort(sorted, n, sizeof(double), compare_doubles);
    return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static const GOptionEntry bench_options[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &bench_config.quick,
      "Small sizes, one run: check the counters agree, nothing timed", NULL },
    { "json", 'j', 0, G_OPTION_ARG_NONE, &bench_config.json,
      "Print the results as JSON", NULL },
    { "workload", 'w', 0, G_OPTION_ARG_STRING, &bench_config.workload,
      "Run only workload NAME (no micro-measurements)", "NAME" },
    { "runs", 'r', 0, G_OPTION_ARG_INT, &bench_config.runs,
      "Replays per workload; the median ns/op is printed (5)", "N" },
    { NULL }
};

static bool parse_options(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("");
    g_autoptr(GError) err = NULL;

    g_option_context_set_summary(ctx, "Replay device workloads through "
                                 "the Xen mapcache against the fake "
                                 "hypervisor.");
    g_option_context_add_main_entries(ctx, bench_options, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "xen-mapcache-bench: %s\n", err->message);
        return false;
    }
    if (bench_config.quick) {
        bench_config.runs = 1;
    }
    if (bench_config.runs < 1 || bench_config.runs > BENCH_MAX_RUNS) {
        fprintf(stderr, "xen-mapcache-bench: --runs must be 1 to %d\n",
                BENCH_MAX_RUNS);
        return false;
    }
    return true;
}

/* Returns how many results failed (disagreeing counters, failures). */
static unsigned run_workloads(BenchResult *results, unsigned *n)
{
    const char *only = bench_config.workload;
    unsigned i, bad = 0;

    *n = 0;
    for (i = 0; i < bench_nworkloads; i++) {
        const BenchWorkload *w = &bench_workloads[i];
        BenchResult *res = &results[*n];

        if (only && strcmp(only, w->name)) {
            continue;
        }
        workload_run(res, w);
        bad += res->disagreements || res->failures;
        (*n)++;
    }
    return bad;
}

int main(int argc, char **argv)
{
    g_autofree BenchResult *results = g_new0(BenchResult, bench_nworkloads);
    BenchMicro micro;
    unsigned n, bad;
    bool with_micro;

    if (!parse_options(argc, argv)) {
        return EXIT_FAILURE;
    }
    if (bench_config.workload && !workload_find(bench_config.workload)) {
        fprintf(stderr, "xen-mapcache-bench: no workload '%s'\n",
                bench_config.workload);
        return EXIT_FAILURE;
    }
    with_micro = !bench_config.workload;
    bad = run_workloads(results, &n);
    if (with_micro) {
        micro_run(&micro);
        bad += micro.failures != 0;
    }
    if (bench_config.json) {
        print_json(results, n, with_micro ? &micro : NULL);
    } else {
        print_table(results, n, with_micro ? &micro : NULL);
    }
    fake_xen_fini();
    if (bad) {
        fprintf(stderr, "xen-mapcache-bench: %u failure%s (see above)\n",
                bad, bad > 1 ? "s" : "");
        return EXIT_FAILURE;
    }
    return EXIT_SUCCESS;
}
