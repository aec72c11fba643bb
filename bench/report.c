/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Benchmark of the Xen mapcache: the report, a table or --json.  Targets
 * are printed, never asserted.  README.md, "Reading make bench",
 * explains the columns.
 */

#include "qemu/osdep.h"
#include "xen-mapcache-bench.h"

static double target_ratio(BenchTarget target)
{
    return target == TARGET_COMPULSORY ? 1.02 :
           target == TARGET_LRU ? 1.10 : 0;
}

static double result_ratio(const BenchResult *res)
{
    return res->bound.bound ?
           (double)counts_map_calls(&res->counts) / res->bound.bound : 0;
}

static const char *pass_miss(bool pass)
{
    return pass ? "PASS" : "MISS";
}

/* Whether @res has a target and meets it. */
static bool result_met(const BenchResult *res)
{
    double target = target_ratio(res->w->target);

    if (res->w->target == TARGET_COMPULSORY && !res->bound.fits) {
        return false;   /* the working set was meant to fit */
    }
    return target && result_ratio(res) <= target;
}

/* Targets of the micro-measurements. */
#define TARGET_HIT_PAIRS        2.0
#define TARGET_REVERSE_RATIO    1.5
/* Per-entry flush cost at 2N within this factor of the cost at N. */
#define TARGET_FLUSH_SPREAD     1.5

static double flush_per_entry(const BenchMicro *m, unsigned i)
{
    return m->flush_ns[i] / micro_flush_entries[i];
}

static bool flush_proportional(const BenchMicro *m)
{
    return m->flush_ratio <= TARGET_FLUSH_SPREAD &&
           m->flush_ratio >= 1 / TARGET_FLUSH_SPREAD;
}

/*
 * Two tables of one row per workload, so that each stays narrow: the map
 * calls against the bound, then the cache's work and the bytes it held.
 */

static void print_bound_header(void)
{
    printf("%-12s %7s %6s %8s %6s %8s %6s %-4s %7s %s\n",
           "workload", "ops", "maps", "pages", "unmaps", "ns/op", "bound",
           "by", "ratio", "target");
}

static void print_target(const BenchResult *res)
{
    double target = target_ratio(res->w->target);

    if (target) {
        printf("<=%.2f %s", target, pass_miss(result_met(res)));
    } else {
        printf("-");
    }
}

static void print_bound_row(const BenchResult *res)
{
    const BenchCounts *c = &res->counts;

    printf("%-12s %7" PRIu64 " %6" PRIu64 " %8" PRIu64 " %6" PRIu64
           " %8.1f %6" PRIu64 " %-4s %7.3f ",
           res->w->name, res->ops, counts_map_calls(c), counts_pages(c),
           counts_unmaps(c), res->ns_per_op, res->bound.bound,
           res->bound.fits ? "cmp" : "lru", result_ratio(res));
    print_target(res);
    printf("\n");
}

static void print_work_header(void)
{
    printf("%-12s %17s %15s %6s %6s %13s %5s %20s\n",
           "workload", "steps(fruitless)", "reuses(beyond)", "evict",
           "freed", "rcu(done)", "over", "fake MiB peak(limit)");
}

static void print_pair(int width, uint64_t a, uint64_t b)
{
    char buf[48];

    snprintf(buf, sizeof(buf), "%" PRIu64 "(%" PRIu64 ")", a, b);
    printf(" %*s", width, buf);
}

/*
 * The fake hypervisor's peak of live plus pending bytes (the most it had
 * mapped at once), the maximum over the runs, and the cache limit;
 * flagged when over it.
 */
static void print_peak(int width, const BenchResult *res)
{
    char buf[48];

    snprintf(buf, sizeof(buf), "%.1f(%" PRIu64 ")",
             (double)res->fake_peak_bytes / MiB, (uint64_t)BENCH_LIMIT / MiB);
    printf(" %*s%s", width, buf,
           res->fake_peak_bytes > BENCH_LIMIT ? " OVER" : "");
}

static void print_work_row(const BenchResult *res)
{
    const XenMapCacheStats *total = &res->counts.total;

    printf("%-12s", res->w->name);
    print_pair(17, total->chain_steps, total->fruitless_chain_steps);
    print_pair(15, total->pinned_reuses, total->pinned_reuses_beyond_head);
    printf(" %6" PRIu64 " %6" PRIu64, total->evictions,
           total->freed_at_once);
    print_pair(13, total->releases_queued, total->releases_done);
    printf(" %5" PRIu64, total->over_limit);
    print_peak(20, res);
    printf("\n");
}

/*
 * A lock0 hit: its time with the read section around it, then net of an
 * empty read section (the caller's cost, not the mapcache's: QEMU's
 * callers are inside one anyway, and the stand-in's is an out-of-line
 * liburcu call where QEMU's is inline); the target compares the net time
 * with two mutex pairs.
 */
static void print_hit(const BenchMicro *m, unsigned b)
{
    unsigned nbuckets = micro_hit_buckets[b];
    g_autofree char *what = g_strdup_printf("lock0 hit, 1 thread, "
                                            "%u bucket%s", nbuckets,
                                            nbuckets > 1 ? "s" : "");

    printf("%-44s %10.1f\n", what, m->hit_ns[b]);
    printf("%-44s %10.1f  %.2f mutex pairs, <= %.0f %s\n",
           "  net of the empty read section",
           m->hit_ns[b] - m->rcu_section_ns, m->hit_net_pairs[b],
           TARGET_HIT_PAIRS,
           pass_miss(m->hit_net_pairs[b] <= TARGET_HIT_PAIRS));
}

static void print_micro(const BenchMicro *m)
{
    printf("\n%-44s %10s  %s\n", "micro-measurement", "ns", "ratio, target");
    printf("%-44s %10.1f\n", "QemuMutex lock/unlock pair, uncontended",
           m->mutex_pair_ns);
    printf("%-44s %10.1f\n", "rcu_read_lock/unlock, empty section",
           m->rcu_section_ns);
    print_hit(m, 0);
    print_hit(m, 1);
    printf("%-44s %10.1f  %.2fx 1 thread\n",
           "lock0 hit, 2 threads, 16 buckets (each)", m->hit_2threads_ns,
           m->hit_2threads_ratio);
    printf("%-44s %10.1f\n", "reverse lookup, 1 pinned", m->reverse_ns[0]);
    printf("%-44s %10.1f  %.2fx 1 pinned, <= %.1f %s\n",
           "reverse lookup, 1024 pinned", m->reverse_ns[1],
           m->reverse_ratio, TARGET_REVERSE_RATIO,
           pass_miss(m->reverse_ratio <= TARGET_REVERSE_RATIO));
    printf("%-44s %10.0f\n", "flush, 0 entries", m->flush_ns[0]);
    printf("%-44s %10.0f  %.1f ns/entry\n", "flush, 256 entries",
           m->flush_ns[1], flush_per_entry(m, 1));
    printf("%-44s %10.0f  %.1f ns/entry, %.2fx per entry at 256, %s\n",
           "flush, 512 entries", m->flush_ns[2], flush_per_entry(m, 2),
           m->flush_ratio, pass_miss(flush_proportional(m)));
}

void print_table(const BenchResult *results, unsigned n,
                 const BenchMicro *m)
{
    unsigned i;

    printf("xen-mapcache-bench: cache limit %" PRIu64 " MiB, %d run%s, "
           "median ns/op%s\n\n", (uint64_t)BENCH_LIMIT / MiB,
           bench_config.runs, bench_config.runs > 1 ? "s" : "",
           bench_config.quick ? " (quick mode)" : "");
    print_bound_header();
    for (i = 0; i < n; i++) {
        print_bound_row(&results[i]);
    }
    printf("\n");
    print_work_header();
    for (i = 0; i < n; i++) {
        print_work_row(&results[i]);
    }
    if (m) {
        print_micro(m);
    }
}

/*
 * The fields of XenMapCacheStats, in order, and whether their sum over
 * the caches means something (a limit or a peak does not add up).
 */
typedef struct StatsField {
    const char *name;
    size_t offset;
    bool adds_up;
} StatsField;

#define STATS_SUM(f)    { #f, offsetof(XenMapCacheStats, f), true }
#define STATS_OWN(f)    { #f, offsetof(XenMapCacheStats, f), false }

static const StatsField stats_fields[] = {
    STATS_SUM(lookups_lock0), STATS_SUM(lookups_lock1),
    STATS_SUM(recent_hits), STATS_SUM(chain_hits),
    STATS_SUM(pinned_reuses), STATS_SUM(pinned_reuses_beyond_head),
    STATS_SUM(new_mappings), STATS_SUM(pages_mapped), STATS_SUM(recycled),
    STATS_SUM(chain_steps), STATS_SUM(fruitless_chain_steps),
    STATS_SUM(evictions), STATS_SUM(flushed), STATS_SUM(releases_queued),
    STATS_SUM(releases_done), STATS_SUM(null_returns), STATS_SUM(oversize),
    STATS_SUM(over_limit), STATS_SUM(freed_at_once),
    STATS_SUM(freed_by_main_loop), STATS_SUM(partial_mappings),
    STATS_SUM(grace_periods), STATS_SUM(entries),
    STATS_SUM(pinned_entries), STATS_SUM(pending_ranges),
    STATS_OWN(limit_bytes), STATS_SUM(live_bytes), STATS_SUM(pinned_bytes),
    STATS_SUM(pending_bytes), STATS_OWN(peak_bytes),
    STATS_SUM(mapped_bytes),
};

/* Every counter; a sum over caches (@sum) leaves out those that do not add. */
static void json_stats(const char *name, const XenMapCacheStats *s,
                       bool sum)
{
    const char *sep = "";
    size_t i;

    QEMU_BUILD_BUG_ON(ARRAY_SIZE(stats_fields) * sizeof(uint64_t) !=
                      sizeof(XenMapCacheStats));
    printf("\"%s\": {", name);
    for (i = 0; i < ARRAY_SIZE(stats_fields); i++) {
        const StatsField *f = &stats_fields[i];

        if (sum && !f->adds_up) {
            continue;
        }
        printf("%s\"%s\": %" PRIu64, sep, f->name,
               *(const uint64_t *)((const char *)s + f->offset));
        sep = ", ";
    }
    printf("}");
}

static void json_bound(const BenchBound *b)
{
    printf("\"bound\": %" PRIu64 ", \"bound_kind\": \"%s\""
           ", \"distinct_keys\": %" PRIu64 ", \"compulsory\": %" PRIu64
           ", \"lru_misses\": %" PRIu64 ", \"lru_evictions\": %" PRIu64
           ", \"lru_peak_bytes\": %" PRIu64,
           b->bound, b->fits ? "compulsory" : "lru", b->distinct_keys,
           b->compulsory, b->lru_misses, b->lru_evictions, b->peak_bytes);
}

/*
 * What the table's second half shows, under the same names as the stats,
 * and the fake hypervisor's peak (fake_peak_bytes).
 */
static void json_memory(const BenchResult *res)
{
    const BenchCounts *c = &res->counts;
    const XenMapCacheStats *ram = &c->cache[XEN_MAPCACHE_RAM];

    printf("\"peak_bytes\": %" PRIu64 ", \"limit_bytes\": %" PRIu64
           ", \"over_limit\": %" PRIu64 ", \"freed_at_once\": %" PRIu64
           ", \"releases_queued\": %" PRIu64,
           ram->peak_bytes, ram->limit_bytes, c->total.over_limit,
           c->total.freed_at_once, c->total.releases_queued);
    printf(", \"fake_peak_bytes\": %" PRIu64, res->fake_peak_bytes);
}

static void json_result(const BenchResult *res)
{
    const BenchCounts *c = &res->counts;
    double target = target_ratio(res->w->target);

    printf("    {\"name\": \"%s\", \"operations\": %" PRIu64
           ", \"map_calls\": %" PRIu64 ", \"pages_mapped\": %" PRIu64
           ", \"unmaps\": %" PRIu64 ", \"ns_per_op\": %.1f, ",
           res->w->name, res->ops, counts_map_calls(c), counts_pages(c),
           counts_unmaps(c), res->ns_per_op);
    json_bound(&res->bound);
    printf(", \"ratio\": %.4f", result_ratio(res));
    if (target) {
        printf(", \"target\": %.2f, \"target_met\": %s", target,
               result_met(res) ? "true" : "false");
    } else {
        printf(", \"target\": null, \"target_met\": null");
    }
    printf(", \"counters_agree\": %s, \"failures\": %" PRIu64 ",\n     ",
           res->disagreements ? "false" : "true", res->failures);
    json_memory(res);
    printf(",\n     ");
    json_stats("total", &c->total, true);
    printf(",\n     ");
    json_stats("ram", &c->cache[XEN_MAPCACHE_RAM], false);
    printf("}");
}

static void json_micro(const BenchMicro *m)
{
    printf("  \"micro\": {\"mutex_pair_ns\": %.2f, \"rcu_section_ns\": %.2f"
           ",\n    \"lock0_hit_1bucket_ns\": %.2f"
           ", \"lock0_hit_1bucket_net_mutex_pairs\": %.3f"
           ",\n    \"lock0_hit_16buckets_ns\": %.2f"
           ", \"lock0_hit_16buckets_net_mutex_pairs\": %.3f"
           ",\n    \"lock0_hit_2threads_ns\": %.2f"
           ", \"lock0_hit_2threads_ratio\": %.3f"
           ",\n    \"reverse_lookup_1_ns\": %.2f"
           ", \"reverse_lookup_1024_ns\": %.2f"
           ", \"reverse_lookup_ratio\": %.3f"
           ",\n    \"flush_0_ns\": %.0f, \"flush_256_ns\": %.0f"
           ", \"flush_512_ns\": %.0f, \"flush_per_entry_ratio\": %.3f}\n",
           m->mutex_pair_ns, m->rcu_section_ns, m->hit_ns[0],
           m->hit_net_pairs[0], m->hit_ns[1], m->hit_net_pairs[1],
           m->hit_2threads_ns, m->hit_2threads_ratio, m->reverse_ns[0],
           m->reverse_ns[1], m->reverse_ratio, m->flush_ns[0],
           m->flush_ns[1], m->flush_ns[2], m->flush_ratio);
}

void print_json(const BenchResult *results, unsigned n,
                const BenchMicro *m)
{
    unsigned i;

    printf("{\n  \"limit_bytes\": %" PRIu64 ", \"runs\": %d, "
           "\"quick\": %s,\n  \"workloads\": [\n",
           (uint64_t)BENCH_LIMIT, bench_config.runs,
           bench_config.quick ? "true" : "false");
    for (i = 0; i < n; i++) {
        json_result(&results[i]);
        printf("%s\n", i + 1 < n ? "," : "");
    }
    printf("  ]%s\n", m ? "," : "");
    if (m) {
        json_micro(m);
    }
    printf("}\n");
}
