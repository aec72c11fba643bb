/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Probe: the mapcache linked to Debian's real Xen libraries.
 *
 * Building this program proves that hw/xen/xen-mapcache.c links against
 * the real libxenforeignmemory, libxengnttab and libxenctrl, not only
 * against the fake hypervisor.  Run on a machine without Xen it says so
 * and succeeds; in a dom0 it sets up the mapcache and prints the guest
 * RAM cache's counters.
 */

#include "qemu/osdep.h"
#include "hw/xen/xen_native.h"
#include <xengnttab.h>
#include "sysemu/xen-mapcache.h"

#define PROBE_NAME "xen-mapcache-probe"

/* The last message of the Xen libraries, kept instead of printed. */
static char last_message[256];

static void G_GNUC_PRINTF(5, 0)
probe_log(struct xentoollog_logger *logger, xentoollog_level level,
          int errnoval, const char *context, const char *format,
          va_list args)
{
    vsnprintf(last_message, sizeof(last_message), format, args);
}

static xentoollog_logger quiet_logger = {
    .vmessage = probe_log,
};

/* Report that @what failed, as it does on any host without Xen. */
static int no_hypervisor(const char *what, int err)
{
    printf(PROBE_NAME ": no Xen hypervisor here (%s: %s%s%s); "
           "real-library build OK\n", what, strerror(err),
           last_message[0] ? ": " : "", last_message);
    return EXIT_SUCCESS;
}

static void print_ram_stats(void)
{
    XenMapCacheStats stats;

    if (!xen_map_cache_get_stats(XEN_MAPCACHE_RAM, &stats)) {
        printf(PROBE_NAME ": no guest RAM cache\n");
        return;
    }
    printf(PROBE_NAME ": guest RAM cache: %" PRIu64 " entries, "
           "%" PRIu64 " mappings, %" PRIu64 " bytes mapped\n",
           stats.entries, stats.new_mappings, stats.mapped_bytes);
}

int main(void)
{
    xc_interface *xc;
    xengnttab_handle *xgt;

    xc = xc_interface_open(&quiet_logger, &quiet_logger, 0);
    if (!xc) {
        return no_hypervisor("xc_interface_open", errno);
    }
    xen_fmem = xenforeignmemory_open(&quiet_logger, 0);
    if (!xen_fmem) {
        int err = errno;

        xc_interface_close(xc);
        return no_hypervisor("xenforeignmemory_open", err);
    }
    /* xen_map_cache_init() opens its own handle, and exits without one. */
    xgt = xengnttab_open(&quiet_logger, 0);
    if (!xgt) {
        int err = errno;

        xenforeignmemory_close(xen_fmem);
        xc_interface_close(xc);
        return no_hypervisor("xengnttab_open", err);
    }
    xengnttab_close(xgt);

    xen_map_cache_init(NULL, NULL);
    print_ram_stats();
    xen_map_cache_fini();

    xenforeignmemory_close(xen_fmem);
    xc_interface_close(xc);
    printf(PROBE_NAME ": Xen hypervisor found; real-library build OK\n");
    return EXIT_SUCCESS;
}
