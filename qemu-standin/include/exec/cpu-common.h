/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's exec/cpu-common.h: only ram_addr_t, an
 * offset in QEMU's RAM address space.
 */

#ifndef CPU_COMMON_H
#define CPU_COMMON_H

#include "exec/hwaddr.h"

#if defined(CONFIG_XEN_BACKEND)
typedef uint64_t ram_addr_t;
#  define RAM_ADDR_MAX UINT64_MAX
#  define RAM_ADDR_FMT "%" PRIx64
#else
typedef uintptr_t ram_addr_t;
#  define RAM_ADDR_MAX UINTPTR_MAX
#  define RAM_ADDR_FMT "%" PRIxPTR
#endif

#endif /* CPU_COMMON_H */
