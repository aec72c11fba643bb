/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/bitops.c and util/bitmap.c: the
 * searches and range operations on bitmaps.
 */

#include "qemu/osdep.h"
#include "qemu/bitmap.h"

/*
 * Index of the first bit at or after @offset, below @size, that is set in
 * addr[] ^ @invert (invert is 0 to find a set bit, ~0UL to find a clear
 * one); @size if there is none.
 */
static unsigned long find_next(const unsigned long *addr, unsigned long size,
                               unsigned long offset, unsigned long invert)
{
    unsigned long word;

    if (offset >= size) {
        return size;
    }
    word = (addr[BIT_WORD(offset)] ^ invert) & BITMAP_FIRST_WORD_MASK(offset);
    offset = QEMU_ALIGN_DOWN(offset, BITS_PER_LONG);
    while (!word) {
        offset += BITS_PER_LONG;
        if (offset >= size) {
            return size;
        }
        word = addr[BIT_WORD(offset)] ^ invert;
    }
    return MIN(size, offset + __builtin_ctzl(word));
}

unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset)
{
    return find_next(addr, size, offset, 0);
}

unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size,
                                 unsigned long offset)
{
    return find_next(addr, size, offset, ~0UL);
}

unsigned long find_last_bit(const unsigned long *addr, unsigned long size)
{
    unsigned long words = BITS_TO_LONGS(size);
    unsigned long word;

    while (words > 0) {
        words--;
        word = addr[words];
        if (words == BITS_TO_LONGS(size) - 1) {
            word &= BITMAP_LAST_WORD_MASK(size);
        }
        if (word) {
            return words * BITS_PER_LONG + BITS_PER_LONG - 1 -
                   __builtin_clzl(word);
        }
    }
    return size;
}

/* Apply @set (or clear) to the @len bits from @start. */
static void bitmap_update(unsigned long *map, long start, long len, bool set)
{
    long end = start + len;

    while (start < end) {
        long word_end = MIN(end, QEMU_ALIGN_DOWN(start, (long)BITS_PER_LONG) +
                                 (long)BITS_PER_LONG);
        unsigned long mask = BITMAP_FIRST_WORD_MASK(start);

        if (word_end % BITS_PER_LONG) {
            mask &= BITMAP_LAST_WORD_MASK(word_end);
        }
        if (set) {
            map[BIT_WORD(start)] |= mask;
        } else {
            map[BIT_WORD(start)] &= ~mask;
        }
        start = word_end;
    }
}

void bitmap_set(unsigned long *map, long start, long nr)
{
    bitmap_update(map, start, nr, true);
}

void bitmap_clear(unsigned long *map, long start, long nr)
{
    bitmap_update(map, start, nr, false);
}
