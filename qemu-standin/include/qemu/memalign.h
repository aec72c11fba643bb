/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/memalign.h: aligned allocations.
 */

#ifndef QEMU_MEMALIGN_H
#define QEMU_MEMALIGN_H

/*
 * @size bytes aligned to @alignment, a power of two; aborts when out of
 * memory.  Freed with qemu_vfree().
 */
void *qemu_memalign(size_t alignment, size_t size);
void qemu_vfree(void *ptr);

#endif /* QEMU_MEMALIGN_H */
