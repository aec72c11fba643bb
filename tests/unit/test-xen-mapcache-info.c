/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of what the monitor shows of the Xen mapcache
 * (xen_map_cache_format_info(), the text of "info xen-mapcache").  The
 * tests know the fields of XenMapCacheStats but none of the labels: those
 * live in one table of hw/xen/xen-mapcache-info.c, and renaming one must
 * not touch this file.
 */

#include "qemu/osdep.h"
#include "hw/xen/xen-mapcache-info.h"
#include "test-xen-mapcache.h"

/* The limit the tests set: its text is "64 MiB". */
#define LIMIT ((size_t)64 * MiB)

/* A cache's block: its title line and at most 11 lines of fields. */
#define MAX_LINES_PER_CACHE 12

#define STATS_FIELDS (sizeof(XenMapCacheStats) / sizeof(uint64_t))

/*
 * Verbs
 */

static char *format_stats(XenMapCacheKind kind, const XenMapCacheStats *stats)
{
    GString *buf = g_string_new("");

    xen_map_cache_format_stats(buf, kind, stats);
    return g_string_free(buf, false);
}

/* What the monitor would show now. */
static char *info(void)
{
    return g_string_free(xen_map_cache_format_info(), false);
}

/* The block of one cache, as xen_map_cache_get_stats() reads it now. */
static char *block(XenMapCacheKind kind)
{
    XenMapCacheStats stats;

    g_assert_true(xen_map_cache_get_stats(kind, &stats));
    return format_stats(kind, &stats);
}

/* How many times @needle occurs in @text, as whole words. */
static unsigned count_words(const char *text, const char *needle)
{
    size_t len = strlen(needle);
    unsigned n = 0;
    const char *p;

    for (p = strstr(text, needle); p; p = strstr(p + 1, needle)) {
        if ((p == text || !g_ascii_isalnum(p[-1])) &&
            !g_ascii_isalnum(p[len])) {
            n++;
        }
    }
    return n;
}

static unsigned count_lines(const char *text)
{
    unsigned n = 0;

    for (; *text; text++) {
        n += *text == '\n';
    }
    return n;
}

/* A title line is any line that does not start with a blank. */
static unsigned count_titles(const char *text)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    unsigned n = 0;
    size_t i;

    for (i = 0; lines[i]; i++) {
        n += lines[i][0] && lines[i][0] != ' ';
    }
    return n;
}

/*
 * Field @i of XenMapCacheStats gets an odd number of pages, 2001 + 2i: a
 * size shows as "(8004 + 8i) KiB" (never a whole MiB), a count as the
 * plain number.  No two fields can be taken for one another.
 */
static uint64_t distinct_value(size_t i)
{
    return (2001 + 2 * i) * 4 * KiB;
}

static void fill_distinct(XenMapCacheStats *stats)
{
    uint64_t *field = (uint64_t *)stats;
    size_t i;

    for (i = 0; i < STATS_FIELDS; i++) {
        field[i] = distinct_value(i);
    }
}

/*
 * The label of one item of a line: the item without its numbers, units
 * and " in N ranges" tail.  "limit 4000 KiB" -> "limit",
 * "4012 chain steps" -> "chain steps".
 */
static char *item_label(const char *item)
{
    g_auto(GStrv) words = g_strsplit(item, " ", -1);
    GString *label = g_string_new("");
    size_t i;

    for (i = 0; words[i]; i++) {
        const char *w = words[i];

        if (g_ascii_isdigit(w[0])) {
            continue;
        }
        if (!strcmp(w, "in")) {
            break;              /* " in N ranges" belongs to the bytes */
        }
        if (i > 0 && g_ascii_isdigit(words[i - 1][0]) &&
            (!strcmp(w, "bytes") || !strcmp(w, "KiB") || !strcmp(w, "MiB") ||
             !strcmp(w, "GiB"))) {
            continue;
        }
        g_string_append_printf(label, "%s%s", label->len ? " " : "", w);
    }
    return g_string_free(label, false);
}

/*
 * Tests of the text of one cache
 */

/* Every field shows once with its value; every item has its own label. */
static void test_format_every_field_once(void)
{
    XenMapCacheStats stats;
    g_autofree char *text = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GHashTable) labels = g_hash_table_new_full(g_str_hash,
                                                         g_str_equal,
                                                         g_free, NULL);
    size_t i, j, items = 0;

    fill_distinct(&stats);
    text = format_stats(XEN_MAPCACHE_RAM, &stats);
    if (g_test_verbose()) {
        g_printerr("%s", text);
    }

    for (i = 0; i < STATS_FIELDS; i++) {
        g_autofree char *count = g_strdup_printf("%" PRIu64,
                                                 distinct_value(i));
        g_autofree char *size = g_strdup_printf("%" PRIu64 " KiB",
                                                distinct_value(i) / KiB);

        g_assert_cmpuint(count_words(text, count) + count_words(text, size),
                         ==, 1);
    }

    lines = g_strsplit(text, "\n", -1);
    for (i = 1; lines[i] && lines[i][0]; i++) {
        g_auto(GStrv) line_items = NULL;

        g_assert_true(g_str_has_prefix(lines[i], "  "));
        line_items = g_strsplit(lines[i] + 2, ", ", -1);
        for (j = 0; line_items[j]; j++) {
            char *label = item_label(line_items[j]);

            g_assert_cmpstr(label, !=, "");
            g_assert_false(g_hash_table_contains(labels, label));
            g_hash_table_add(labels, label);
            items++;
        }
    }
    /* Each "in N ranges" shares its item with the bytes before it. */
    g_assert_cmpuint(items + count_words(text, "in"), ==, STATS_FIELDS);
    g_assert_cmpuint(count_lines(text), <=, MAX_LINES_PER_CACHE);
    g_assert_cmpuint(count_titles(text), ==, 1);
}

/* Sizes show in the largest binary unit that is exact. */
static void test_format_bytes(void)
{
    static const struct {
        uint64_t bytes;
        const char *shown;
    } cases[] = {
        { 1000, "1000 bytes" },
        { 4 * KiB, "4 KiB" },
        { 1028 * KiB, "1028 KiB" },
        { 1 * MiB + 1, "1048577 bytes" },
        { 64 * MiB, "64 MiB" },
        { 32 * GiB, "32 GiB" },
        { 3 * TiB, "3 TiB" },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        XenMapCacheStats stats = { .limit_bytes = cases[i].bytes };
        g_autofree char *text = format_stats(XEN_MAPCACHE_RAM, &stats);

        g_assert_cmpuint(count_words(text, cases[i].shown), ==, 1);
    }
}

/* Each kind of cache has its own title. */
static void test_format_titles(void)
{
    XenMapCacheStats stats = { 0 };
    g_autofree char *ram = format_stats(XEN_MAPCACHE_RAM, &stats);
    g_autofree char *ro = format_stats(XEN_MAPCACHE_GRANTS_RO, &stats);
    g_autofree char *rw = format_stats(XEN_MAPCACHE_GRANTS_RW, &stats);

    g_assert_cmpstr(strchr(ram, '\n'), ==, strchr(ro, '\n'));
    g_assert_cmpstr(strchr(ro, '\n'), ==, strchr(rw, '\n'));
    g_assert_cmpstr(ram, !=, ro);
    g_assert_cmpstr(ro, !=, rw);
    g_assert_cmpstr(ram, !=, rw);
}

/*
 * Tests of the whole text
 */

/* No mapcache: one line that says so. */
static void test_info_not_set_up(void)
{
    g_autofree char *text = info();

    g_assert_cmpstr(text, ==, "The Xen mapcache is not set up: QEMU is not "
                    "(yet) the device model of a Xen guest.\n");
}

/* A mapcache without grants: the guest RAM block only, with its numbers. */
static void test_info_ram_only(void)
{
    g_autofree char *text = NULL;
    g_autofree char *ram = NULL;
    uint8_t *p;

    setup_with_limit(LIMIT);
    p = map1(0, 4 * KiB);
    g_assert_nonnull(map0(3 * BUCKET_SIZE, 16));
    drain_call_rcu();

    text = info();
    ram = block(XEN_MAPCACHE_RAM);
    if (g_test_verbose()) {
        g_printerr("%s", text);
    }
    g_assert_cmpstr(text, ==, ram);
    g_assert_cmpuint(count_titles(text), ==, 1);
    g_assert_cmpuint(count_words(text, "64 MiB"), ==, 1);     /* the limit */
    unmap(p);
    teardown();
}

/* Each grant cache shows once it exists, after guest RAM. */
static void test_info_grants(void)
{
    g_autofree char *ram_ro = NULL;
    g_autofree char *all = NULL;
    g_autofree char *expected = NULL;
    g_autofree char *ram = NULL;
    g_autofree char *ro = NULL;
    g_autofree char *rw = NULL;
    uint8_t *p;

    setup_with_limit(LIMIT);
    p = map_grant(3, 0, FRAME_SIZE, false);
    g_assert_nonnull(p);
    unmap(p);
    drain_call_rcu();

    ram_ro = info();
    ram = block(XEN_MAPCACHE_RAM);
    ro = block(XEN_MAPCACHE_GRANTS_RO);
    expected = g_strconcat(ram, ro, NULL);
    g_assert_cmpstr(ram_ro, ==, expected);
    g_assert_cmpuint(count_titles(ram_ro), ==, 2);

    p = map_grant(4, 0, FRAME_SIZE, true);
    g_assert_nonnull(p);
    drain_call_rcu();
    all = info();
    g_free(ram);
    g_free(ro);
    g_free(expected);
    ram = block(XEN_MAPCACHE_RAM);
    ro = block(XEN_MAPCACHE_GRANTS_RO);
    rw = block(XEN_MAPCACHE_GRANTS_RW);
    expected = g_strconcat(ram, ro, rw, NULL);
    if (g_test_verbose()) {
        g_printerr("%s", all);
    }
    g_assert_cmpstr(all, ==, expected);
    g_assert_cmpuint(count_titles(all), ==, 3);
    g_assert_cmpuint(count_lines(all), <=, 3 * MAX_LINES_PER_CACHE);
    unmap(p);
    teardown();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/xen-mapcache/info/format/every-field-once",
                    test_format_every_field_once);
    g_test_add_func("/xen-mapcache/info/format/bytes", test_format_bytes);
    g_test_add_func("/xen-mapcache/info/format/titles", test_format_titles);
    g_test_add_func("/xen-mapcache/info/not-set-up", test_info_not_set_up);
    g_test_add_func("/xen-mapcache/info/ram-only", test_info_ram_only);
    g_test_add_func("/xen-mapcache/info/grants", test_info_grants);
    return g_test_run();
}
