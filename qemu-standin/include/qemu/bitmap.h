/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/bitmap.h: bitmaps of any length as
 * arrays of unsigned long; bits past the end of the last word are kept
 * clear by the operations that could set them.
 */

#ifndef BITMAP_H
#define BITMAP_H

#include "qemu/bitops.h"

#define BITMAP_FIRST_WORD_MASK(start) (~0UL << ((start) & (BITS_PER_LONG - 1)))
#define BITMAP_LAST_WORD_MASK(nbits) (~0UL >> (-(nbits) & (BITS_PER_LONG - 1)))

#define DECLARE_BITMAP(name, bits)                  \
        unsigned long name[BITS_TO_LONGS(bits)]

static inline unsigned long *bitmap_try_new(long nbits)
{
    return g_try_new0(unsigned long, BITS_TO_LONGS(nbits));
}

static inline unsigned long *bitmap_new(long nbits)
{
    return g_new0(unsigned long, BITS_TO_LONGS(nbits));
}

static inline void bitmap_zero(unsigned long *dst, long nbits)
{
    memset(dst, 0, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

static inline void bitmap_fill(unsigned long *dst, long nbits)
{
    long nlongs = BITS_TO_LONGS(nbits);

    if (nlongs > 1) {
        memset(dst, 0xff, (nlongs - 1) * sizeof(unsigned long));
    }
    if (nlongs > 0) {
        dst[nlongs - 1] = BITMAP_LAST_WORD_MASK(nbits);
    }
}

static inline void bitmap_copy(unsigned long *dst, const unsigned long *src,
                               long nbits)
{
    memcpy(dst, src, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

static inline int bitmap_empty(const unsigned long *src, long nbits)
{
    return find_first_bit(src, nbits) == (unsigned long)nbits;
}

static inline int bitmap_full(const unsigned long *src, long nbits)
{
    return find_first_zero_bit(src, nbits) == (unsigned long)nbits;
}

static inline long bitmap_count_one(const unsigned long *bitmap, long nbits)
{
    long i, count = 0;

    for (i = 0; i < nbits / (long)BITS_PER_LONG; i++) {
        count += __builtin_popcountl(bitmap[i]);
    }
    if (nbits % BITS_PER_LONG) {
        count += __builtin_popcountl(bitmap[i] &
                                     BITMAP_LAST_WORD_MASK(nbits));
    }
    return count;
}

/* Set or clear the @len bits starting at bit @i. */
void bitmap_set(unsigned long *map, long i, long len);
void bitmap_clear(unsigned long *map, long start, long nr);

#endif /* BITMAP_H */
