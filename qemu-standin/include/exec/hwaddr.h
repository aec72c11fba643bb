/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's exec/hwaddr.h: the type of a physical
 * (guest) address.
 */

#ifndef HWADDR_H
#define HWADDR_H

#define HWADDR_BITS 64

typedef uint64_t hwaddr;
#define HWADDR_MAX UINT64_MAX
#define HWADDR_FMT_plx "%016" PRIx64
#define HWADDR_PRId PRId64
#define HWADDR_PRIi PRIi64
#define HWADDR_PRIo PRIo64
#define HWADDR_PRIu PRIu64
#define HWADDR_PRIx PRIx64
#define HWADDR_PRIX PRIX64

#endif /* HWADDR_H */
