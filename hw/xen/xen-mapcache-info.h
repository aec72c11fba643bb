/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: the text the monitor shows of it (x-query-xen-mapcache,
 * "info xen-mapcache"), made from xen_map_cache_get_stats().
 */

#ifndef HW_XEN_XEN_MAPCACHE_INFO_H
#define HW_XEN_XEN_MAPCACHE_INFO_H

#include "sysemu/xen-mapcache.h"

/**
 * xen_map_cache_format_stats: describe one cache's counters for a human
 * @buf: where the text is appended
 * @kind: the cache @stats were read from (names the block)
 * @stats: the counters, as xen_map_cache_get_stats() fills them
 *
 * Appends a title line and at most 11 indented lines that give every
 * field of @stats, each with its unit: sizes in the largest binary unit
 * that shows them exactly ("limit 32 GiB", "live 1028 KiB in 257
 * ranges"), counts followed by what they count ("12 new mappings").
 *
 * See also: xen_map_cache_format_info().
 */
void xen_map_cache_format_stats(GString *buf, XenMapCacheKind kind,
                                const XenMapCacheStats *stats);

/**
 * xen_map_cache_format_info: describe the mapcache for a human
 *
 * The text of ``x-query-xen-mapcache`` and ``info xen-mapcache``: the
 * block of xen_map_cache_format_stats() for each cache that exists
 * (guest RAM; the grant caches once a grant request created them), or one
 * line saying that the mapcache is not set up.  Thread-safe.
 *
 * Returns: a new string; free it with g_string_free().
 */
GString *xen_map_cache_format_info(void);

#endif /* HW_XEN_XEN_MAPCACHE_INFO_H */
