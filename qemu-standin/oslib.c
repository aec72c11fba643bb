/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Stand-in for the part of QEMU's util/memalign.c that the mapcache
 * uses: aligned allocations.
 */

#include "qemu/osdep.h"
#include "qemu/memalign.h"

void *qemu_memalign(size_t alignment, size_t size)
{
    void *ptr;
    int err = posix_memalign(&ptr, MAX(alignment, sizeof(void *)), size);

    if (err) {
        fprintf(stderr, "qemu_memalign: %zu bytes aligned to %zu: %s\n",
                size, alignment, strerror(err));
        abort();
    }
    return ptr;
}

void qemu_vfree(void *ptr)
{
    free(ptr);
}
