/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxenctrl.so.4.17: what QEMU calls of it.
 * Populating the physmap is real (fxh-core.c); the rest is accepted.
 */

#include <errno.h>
#include <xenctrl.h>
#include <xen/hvm/params.h>

#include "fxh-core.h"

/* Xen's public headers dropped it; QEMU defines it the same way. */
#ifndef HVM_PARAM_VMPORT_REGS_PFN
#define HVM_PARAM_VMPORT_REGS_PFN 35
#endif

xc_interface *xc_interface_open(xentoollog_logger *logger,
                                xentoollog_logger *dombuild_logger,
                                unsigned open_flags)
{
    fxh_init();
    return fxh_dummy_handle();
}

int xc_interface_close(xc_interface *xch)
{
    return 0;
}

/* Populate runs of contiguous extents at once (and log them once). */
int xc_domain_populate_physmap_exact(xc_interface *xch, uint32_t domid,
                                     unsigned long nr_extents,
                                     unsigned int extent_order,
                                     unsigned int mem_flags,
                                     xen_pfn_t *extent_start)
{
    uint64_t frames = 1ull << extent_order;
    uint64_t start = 0, len = 0;

    for (unsigned long i = 0; i <= nr_extents; i++) {
        uint64_t gfn = i < nr_extents ?
                       (extent_start[i] & ~(frames - 1)) : UINT64_MAX;
        int ret;

        if (len && gfn == start + len) {
            len += frames;
            continue;
        }
        ret = len ? fxh_populate(start, len, true) : 0;
        if (ret) {
            errno = -ret;
            return -1;
        }
        start = gfn;
        len = frames;
    }
    return 0;
}

int xc_get_hvm_param(xc_interface *handle, uint32_t dom, int param,
                     unsigned long *value)
{
    /* Xen's toolstack gives the vmport registers a special page. */
    *value = param == HVM_PARAM_VMPORT_REGS_PFN ? fxh_special_gfn() : 0;
    return 0;
}

int xc_set_hvm_param(xc_interface *handle, uint32_t dom, int param,
                     unsigned long value)
{
    fxh_log("xc_set_hvm_param %d = 0x%lx", param, value);
    return 0;
}

int xc_domain_shutdown(xc_interface *xch, uint32_t domid, int reason)
{
    fxh_log("xc_domain_shutdown reason %d", reason);
    return 0;
}

int xc_domain_iomem_permission(xc_interface *xch, uint32_t domid,
                               unsigned long first_mfn,
                               unsigned long nr_mfns, uint8_t allow_access)
{
    return 0;
}

int xc_domain_ioport_mapping(xc_interface *xch, uint32_t domid,
                             uint32_t first_gport, uint32_t first_mport,
                             uint32_t nr_ports, uint32_t add_mapping)
{
    return 0;
}

int xc_domain_memory_mapping(xc_interface *xch, uint32_t domid,
                             unsigned long first_gfn,
                             unsigned long first_mfn,
                             unsigned long nr_mfns, uint32_t add_mapping)
{
    return 0;
}

int xc_domain_update_msi_irq(xc_interface *xch, uint32_t domid,
                             uint32_t gvec, uint32_t pirq, uint32_t gflags,
                             uint64_t gtable)
{
    return 0;
}

int xc_domain_unbind_msi_irq(xc_interface *xch, uint32_t domid,
                             uint32_t gvec, uint32_t pirq, uint32_t gflags)
{
    return 0;
}

int xc_domain_bind_pt_pci_irq(xc_interface *xch, uint32_t domid,
                              uint8_t machine_irq, uint8_t bus,
                              uint8_t device, uint8_t intx)
{
    return 0;
}

int xc_domain_unbind_pt_irq(xc_interface *xch, uint32_t domid,
                            uint8_t machine_irq, uint8_t irq_type,
                            uint8_t bus, uint8_t device, uint8_t intx,
                            uint8_t isa_irq)
{
    return 0;
}

int xc_physdev_map_pirq(xc_interface *xch, uint32_t domid, int index,
                        int *pirq)
{
    errno = ENOSYS;
    return -1;
}

int xc_physdev_map_pirq_msi(xc_interface *xch, uint32_t domid, int index,
                            int *pirq, int devfn, int bus, int entry_nr,
                            uint64_t table_base)
{
    errno = ENOSYS;
    return -1;
}

int xc_physdev_unmap_pirq(xc_interface *xch, uint32_t domid, int pirq)
{
    return 0;
}
