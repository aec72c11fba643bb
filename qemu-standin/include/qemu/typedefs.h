/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/typedefs.h: forward declarations of
 * the QEMU types the stand-in knows about, so that headers can name them
 * without including each other.
 */

#ifndef QEMU_TYPEDEFS_H
#define QEMU_TYPEDEFS_H

typedef struct AioContext AioContext;
typedef struct Error Error;
typedef struct MemoryRegion MemoryRegion;
typedef struct QEMUBH QEMUBH;
typedef struct QemuMutex QemuMutex;

#endif /* QEMU_TYPEDEFS_H */
