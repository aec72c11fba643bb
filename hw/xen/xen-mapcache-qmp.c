/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen mapcache: x-query-xen-mapcache, and "info xen-mapcache" on top of
 * it.  The text is xen_map_cache_format_info()'s (xen-mapcache-info.c).
 * Built only with Xen; where Xen is not built, a stub answers instead.
 */

#include "qemu/osdep.h"
#include "qapi/qapi-commands-machine.h"
#include "qapi/type-helpers.h"
#include "hw/xen/xen-mapcache-info.h"

HumanReadableText *qmp_x_query_xen_mapcache(Error **errp)
{
    g_autoptr(GString) buf = xen_map_cache_format_info();

    return human_readable_text_from_str(buf);
}
