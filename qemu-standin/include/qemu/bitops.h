/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/bitops.h: single-bit operations on
 * arrays of unsigned long, and searches for set and clear bits.
 */

#ifndef BITOPS_H
#define BITOPS_H

#include "qemu/atomic.h"

#define BITS_PER_BYTE           CHAR_BIT
#define BITS_PER_LONG           (sizeof(unsigned long) * BITS_PER_BYTE)
#define BITS_TO_LONGS(nr)       DIV_ROUND_UP(nr, BITS_PER_BYTE * sizeof(long))

#define BIT(nr)                 (1UL << (nr))
#define BIT_ULL(nr)             (1ULL << (nr))
#define BIT_MASK(nr)            (1UL << ((nr) % BITS_PER_LONG))
#define BIT_WORD(nr)            ((nr) / BITS_PER_LONG)

static inline void set_bit(long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void set_bit_atomic(long nr, unsigned long *addr)
{
    qatomic_or(&addr[BIT_WORD(nr)], BIT_MASK(nr));
}

static inline void clear_bit(long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline void clear_bit_atomic(long nr, unsigned long *addr)
{
    qatomic_and(&addr[BIT_WORD(nr)], ~BIT_MASK(nr));
}

static inline void change_bit(long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] ^= BIT_MASK(nr);
}

/* Returns the old value of the bit. */
static inline int test_and_set_bit(long nr, unsigned long *addr)
{
    unsigned long old = addr[BIT_WORD(nr)];

    addr[BIT_WORD(nr)] = old | BIT_MASK(nr);
    return (old & BIT_MASK(nr)) != 0;
}

static inline int test_and_clear_bit(long nr, unsigned long *addr)
{
    unsigned long old = addr[BIT_WORD(nr)];

    addr[BIT_WORD(nr)] = old & ~BIT_MASK(nr);
    return (old & BIT_MASK(nr)) != 0;
}

static inline int test_bit(long nr, const unsigned long *addr)
{
    return 1UL & (addr[BIT_WORD(nr)] >> (nr & (BITS_PER_LONG - 1)));
}

/*
 * The searches return the index of the bit found, or @size when there is
 * none in [@offset, @size).
 */
unsigned long find_last_bit(const unsigned long *addr, unsigned long size);
unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
                            unsigned long offset);
unsigned long find_next_zero_bit(const unsigned long *addr,
                                 unsigned long size,
                                 unsigned long offset);

static inline unsigned long find_first_bit(const unsigned long *addr,
                                           unsigned long size)
{
    return find_next_bit(addr, size, 0);
}

static inline unsigned long find_first_zero_bit(const unsigned long *addr,
                                                unsigned long size)
{
    return find_next_zero_bit(addr, size, 0);
}

#endif /* BITOPS_H */
