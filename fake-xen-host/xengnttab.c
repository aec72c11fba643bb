/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxengnttab.so.1.  Grants are out of scope: the
 * handle opens (the mapcache exits otherwise), a copy of no segment
 * succeeds (QEMU's capability probe), every mapping fails.
 */

#include <errno.h>
#include <xengnttab.h>

#include "fxh-core.h"

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
                                 unsigned int open_flags)
{
    fxh_init();
    return fxh_dummy_handle();
}

int xengnttab_close(xengnttab_handle *xgt)
{
    return 0;
}

int xengnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr_grants)
{
    return 0;
}

int xengnttab_grant_copy(xengnttab_handle *xgt, uint32_t count,
                         xengnttab_grant_copy_segment_t *segs)
{
    if (count) {
        errno = ENOSYS;
        return -1;
    }
    return 0;
}

void *xengnttab_map_grant_ref(xengnttab_handle *xgt, uint32_t domid,
                              uint32_t ref, int prot)
{
    errno = ENOSYS;
    return NULL;
}

void *xengnttab_map_grant_refs(xengnttab_handle *xgt, uint32_t count,
                               uint32_t *domids, uint32_t *refs, int prot)
{
    errno = ENOSYS;
    return NULL;
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
                                      uint32_t domid, uint32_t *refs,
                                      int prot)
{
    errno = ENOSYS;
    return NULL;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
                    uint32_t count)
{
    errno = EINVAL;
    return -1;
}
