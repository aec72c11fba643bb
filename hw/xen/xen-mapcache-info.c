/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: the text the monitor shows of it, the text of
 * x-query-xen-mapcache and of "info xen-mapcache".
 *
 * One table names every field of XenMapCacheStats, with its unit and the
 * line of a cache's block it goes on: renaming a counter is one edit here.
 * A cache's block is a title line and MAPCACHE_INFO_LINES lines of fields.
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "hw/xen/xen-mapcache-info.h"

typedef enum {
    MAPCACHE_INFO_BYTES,    /* "label 3 MiB" */
    MAPCACHE_INFO_RANGES,   /* " in 2 ranges", after the bytes before it */
    MAPCACHE_INFO_COUNT,    /* "7 label": the label says what is counted */
} MapCacheInfoUnit;

typedef struct MapCacheInfoField {
    unsigned int line;
    MapCacheInfoUnit unit;
    const char *label;          /* NULL for MAPCACHE_INFO_RANGES */
    size_t offset;              /* of a uint64_t in XenMapCacheStats */
} MapCacheInfoField;

#define MAPCACHE_INFO_FIELD(line_, unit_, label_, field_)                   \
    { line_, MAPCACHE_INFO_##unit_, label_,                                 \
      offsetof(XenMapCacheStats, field_) }

static const MapCacheInfoField mapcache_info_fields[] = {
    MAPCACHE_INFO_FIELD(0, BYTES, "limit", limit_bytes),
    MAPCACHE_INFO_FIELD(0, BYTES, "mapped", mapped_bytes),
    MAPCACHE_INFO_FIELD(0, BYTES, "peak", peak_bytes),
    MAPCACHE_INFO_FIELD(1, BYTES, "live", live_bytes),
    MAPCACHE_INFO_FIELD(1, RANGES, NULL, entries),
    MAPCACHE_INFO_FIELD(1, BYTES, "pinned", pinned_bytes),
    MAPCACHE_INFO_FIELD(1, RANGES, NULL, pinned_entries),
    MAPCACHE_INFO_FIELD(2, BYTES, "pending release", pending_bytes),
    MAPCACHE_INFO_FIELD(2, RANGES, NULL, pending_ranges),
    MAPCACHE_INFO_FIELD(3, COUNT, "lock0 lookups", lookups_lock0),
    MAPCACHE_INFO_FIELD(3, COUNT, "lock1 lookups", lookups_lock1),
    MAPCACHE_INFO_FIELD(3, COUNT, "NULL returns", null_returns),
    MAPCACHE_INFO_FIELD(4, COUNT, "recent-slot hits", recent_hits),
    MAPCACHE_INFO_FIELD(4, COUNT, "chain hits", chain_hits),
    MAPCACHE_INFO_FIELD(5, COUNT, "reuses of pinned entries", pinned_reuses),
    MAPCACHE_INFO_FIELD(5, COUNT, "of them beyond the chain head",
                        pinned_reuses_beyond_head),
    MAPCACHE_INFO_FIELD(6, COUNT, "chain steps", chain_steps),
    MAPCACHE_INFO_FIELD(6, COUNT, "of them fruitless", fruitless_chain_steps),
    MAPCACHE_INFO_FIELD(7, COUNT, "new mappings", new_mappings),
    MAPCACHE_INFO_FIELD(7, COUNT, "pages mapped", pages_mapped),
    MAPCACHE_INFO_FIELD(7, COUNT, "recycled", recycled),
    MAPCACHE_INFO_FIELD(8, COUNT, "oversize requests served", oversize),
    MAPCACHE_INFO_FIELD(8, COUNT, "mappings past the limit", over_limit),
    MAPCACHE_INFO_FIELD(8, COUNT, "of pages only", partial_mappings),
    MAPCACHE_INFO_FIELD(9, COUNT, "evictions", evictions),
    MAPCACHE_INFO_FIELD(9, COUNT, "entries flushed", flushed),
    MAPCACHE_INFO_FIELD(10, COUNT, "releases queued", releases_queued),
    MAPCACHE_INFO_FIELD(10, COUNT, "of them done", releases_done),
    MAPCACHE_INFO_FIELD(10, COUNT, "freed at once", freed_at_once),
    MAPCACHE_INFO_FIELD(10, COUNT, "by the main loop", freed_by_main_loop),
    MAPCACHE_INFO_FIELD(10, COUNT, "grace periods", grace_periods),
};
#define MAPCACHE_INFO_LINES 11

/* Every field of XenMapCacheStats is a uint64_t, and has a row. */
QEMU_BUILD_BUG_ON(ARRAY_SIZE(mapcache_info_fields) * sizeof(uint64_t) !=
                  sizeof(XenMapCacheStats));

static const char *const mapcache_kind_names[XEN_MAPCACHE_KIND__MAX] = {
    [XEN_MAPCACHE_RAM] = "guest RAM cache",
    [XEN_MAPCACHE_GRANTS_RO] = "read-only grant cache",
    [XEN_MAPCACHE_GRANTS_RW] = "read-write grant cache",
};

/* @bytes in the largest binary unit that shows it exactly: "1028 KiB". */
static void mapcache_format_bytes(GString *buf, uint64_t bytes)
{
    static const char *const units[] = {
        "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
    };
    unsigned int i = 0;

    while (bytes && QEMU_IS_ALIGNED(bytes, KiB) && i + 1 < ARRAY_SIZE(units)) {
        bytes /= KiB;
        i++;
    }
    g_string_append_printf(buf, "%" PRIu64 " %s", bytes, units[i]);
}

static void mapcache_format_field(GString *buf, const MapCacheInfoField *field,
                                  uint64_t value)
{
    switch (field->unit) {
    case MAPCACHE_INFO_BYTES:
        g_string_append_printf(buf, "%s ", field->label);
        mapcache_format_bytes(buf, value);
        break;
    case MAPCACHE_INFO_RANGES:
        g_string_append_printf(buf, " in %" PRIu64 " %s", value,
                               value == 1 ? "range" : "ranges");
        break;
    case MAPCACHE_INFO_COUNT:
        g_string_append_printf(buf, "%" PRIu64 " %s", value, field->label);
        break;
    }
}

void xen_map_cache_format_stats(GString *buf, XenMapCacheKind kind,
                                const XenMapCacheStats *stats)
{
    const MapCacheInfoField *field;
    unsigned int line = UINT_MAX;

    assert(kind < XEN_MAPCACHE_KIND__MAX);
    g_string_append_printf(buf, "%s:", mapcache_kind_names[kind]);
    for (field = mapcache_info_fields;
         field < mapcache_info_fields + ARRAY_SIZE(mapcache_info_fields);
         field++) {
        uint64_t value = *(const uint64_t *)((const char *)stats +
                                             field->offset);

        assert(field->line < MAPCACHE_INFO_LINES);
        if (field->line != line) {
            g_string_append(buf, "\n  ");
            line = field->line;
        } else if (field->unit != MAPCACHE_INFO_RANGES) {
            g_string_append(buf, ", ");
        }
        mapcache_format_field(buf, field, value);
    }
    g_string_append_c(buf, '\n');
}

GString *xen_map_cache_format_info(void)
{
    GString *buf = g_string_new("");
    XenMapCacheStats stats;
    XenMapCacheKind kind;

    if (!xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &stats)) {
        g_string_append(buf, "The Xen mapcache is not set up: QEMU is not "
                        "(yet) the device model of a Xen guest.\n");
        return buf;
    }
    xen_map_cache_format_stats(buf, XEN_MAPCACHE_RAM, &stats);
    for (kind = XEN_MAPCACHE_RAM + 1; kind < XEN_MAPCACHE_KIND__MAX; kind++) {
        if (xen_map_cache_get_stats(kind, &stats)) {
            xen_map_cache_format_stats(buf, kind, &stats);
        }
    }
    return buf;
}
