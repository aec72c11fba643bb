/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's hw/xen/xen.h: the domain QEMU serves.
 */

#ifndef QEMU_HW_XEN_H
#define QEMU_HW_XEN_H

/*
 * As QEMU does: the Xen interface version for code that includes Xen's
 * public headers without hw/xen/xen_native.h first.
 */
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#endif

#include "exec/cpu-common.h"

/* Defined by the test's stubs (by hw/xen/xen-common.c in QEMU). */
extern uint32_t xen_domid;

#endif /* QEMU_HW_XEN_H */
