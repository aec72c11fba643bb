/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's exec/memory.h: RAM_ADDR_INVALID and a
 * MemoryRegion that is only a name (the mapcache only passes regions to
 * xen_mr_is_memory() and xen_mr_is_grants()).
 */

#ifndef MEMORY_H
#define MEMORY_H

#include "exec/cpu-common.h"
#include "exec/hwaddr.h"

#define RAM_ADDR_INVALID (~(ram_addr_t)0)

struct MemoryRegion {
    const char *name;
};

#endif /* MEMORY_H */
