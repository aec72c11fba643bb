/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxenforeignmemory.so.1: guest RAM mappings and
 * the ioreq server's pages (fxh-core.c).
 */

#include <errno.h>
#include <stdlib.h>
#include <xenforeignmemory.h>
#include <xen/memory.h>

#include "fxh-core.h"

struct xenforeignmemory_resource_handle {
    void *addr;
    unsigned long nr_frames;
};

xenforeignmemory_handle *xenforeignmemory_open(struct xentoollog_logger *l,
                                               unsigned open_flags)
{
    fxh_init();
    return fxh_dummy_handle();
}

int xenforeignmemory_close(xenforeignmemory_handle *fmem)
{
    return 0;
}

void *xenforeignmemory_map2(xenforeignmemory_handle *fmem, uint32_t dom,
                            void *addr, int prot, int flags, size_t pages,
                            const xen_pfn_t arr[], int err[])
{
    return fxh_foreign_map(addr, prot, flags, pages, arr, err);
}

void *xenforeignmemory_map(xenforeignmemory_handle *fmem, uint32_t dom,
                           int prot, size_t pages, const xen_pfn_t arr[],
                           int err[])
{
    return fxh_foreign_map(NULL, prot, 0, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle *fmem, void *addr,
                           size_t pages)
{
    return fxh_foreign_unmap(addr, pages);
}

int xenforeignmemory_restrict(xenforeignmemory_handle *fmem, domid_t domid)
{
    return 0;
}

xenforeignmemory_resource_handle *xenforeignmemory_map_resource(
    xenforeignmemory_handle *fmem, domid_t domid, unsigned int type,
    unsigned int id, unsigned long frame, unsigned long nr_frames,
    void **paddr, int prot, int flags)
{
    xenforeignmemory_resource_handle *fres;
    void *p;

    if (type != XENMEM_resource_ioreq_server) {
        errno = EOPNOTSUPP;
        return NULL;
    }
    p = fxh_ioreq_pages_map(*paddr, frame, nr_frames, prot, flags);
    if (!p) {
        return NULL;
    }
    fres = calloc(1, sizeof(*fres));
    fres->addr = p;
    fres->nr_frames = nr_frames;
    *paddr = p;
    return fres;
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle *fmem,
                                    xenforeignmemory_resource_handle *fres)
{
    int ret = 0;

    if (fres) {
        ret = fxh_ioreq_pages_unmap(fres->addr, fres->nr_frames);
        free(fres);
    }
    return ret;
}

int xenforeignmemory_resource_size(xenforeignmemory_handle *fmem,
                                   domid_t domid, unsigned int type,
                                   unsigned int id, size_t *size)
{
    *size = 2 * 4096;
    return 0;
}
