/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's hw/xen/xen_native.h: the real Xen
 * library headers (Debian's libxen-dev), the foreign memory handle and
 * the compatibility switches QEMU derives from the Xen version.
 */

#ifndef QEMU_HW_XEN_NATIVE_H
#define QEMU_HW_XEN_NATIVE_H

#ifdef __XEN_INTERFACE_VERSION__
#error In Xen native files, include xen_native.h before other Xen headers
#endif

#undef XC_WANT_COMPAT_EVTCHN_API
#undef XC_WANT_COMPAT_GNTTAB_API
#undef XC_WANT_COMPAT_MAP_FOREIGN_API

#include <xenctrl.h>

#include "hw/xen/xen.h"

#include <xenforeignmemory.h>

/* Defined by the test's stubs (by hw/xen/xen-hvm-common.c in QEMU). */
extern xenforeignmemory_handle *xen_fmem;

#if CONFIG_XEN_CTRL_INTERFACE_VERSION < 41000
/*
 * Before Xen 4.10 there is no xenforeignmemory_map2(), and the mapcache
 * translates addresses itself (phys_offset_to_gaddr).  Only the switch
 * is provided here: the standalone build needs Xen >= 4.10.
 */
#define XEN_COMPAT_PHYSMAP
#error The standalone build needs Xen 4.10 or newer
#endif

#endif /* QEMU_HW_XEN_NATIVE_H */
