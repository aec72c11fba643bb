/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's sysemu/xen.h.  As in QEMU 9.2, code not
 * compiled per target (all of the standalone build) sees
 * CONFIG_XEN_IS_POSSIBLE.  xen_mr_is_memory() and xen_mr_is_grants() are
 * defined by the test's stubs.
 */

#ifndef SYSEMU_XEN_H
#define SYSEMU_XEN_H

#include "exec/cpu-common.h"

#ifdef COMPILING_PER_TARGET
# ifdef CONFIG_XEN
#  define CONFIG_XEN_IS_POSSIBLE
# endif
#else
# define CONFIG_XEN_IS_POSSIBLE
#endif

bool xen_mr_is_memory(MemoryRegion *mr);
bool xen_mr_is_grants(MemoryRegion *mr);

#endif /* SYSEMU_XEN_H */
