/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/atomic.h.
 *
 * Like QEMU's, everything is built on GCC's __atomic builtins, so that
 * ThreadSanitizer understands the ordering: qatomic_rcu_read() is a
 * consume (acquire) load, qatomic_rcu_set() a release store, and the
 * read-modify-write operations are sequentially consistent.
 */

#ifndef QEMU_ATOMIC_H
#define QEMU_ATOMIC_H

#include "qemu/compiler.h"

/* Compiler barrier */
#define barrier()   ({ asm volatile("" ::: "memory"); (void)0; })

/*
 * Memory barriers.  Under ThreadSanitizer, GCC warns that fences are not
 * supported (-Wtsan); build with -Wno-tsan, as QEMU does.
 */
#define smp_mb() \
    ({ barrier(); __atomic_thread_fence(__ATOMIC_SEQ_CST); })
#define smp_mb_release() \
    ({ barrier(); __atomic_thread_fence(__ATOMIC_RELEASE); })
#define smp_mb_acquire() \
    ({ barrier(); __atomic_thread_fence(__ATOMIC_ACQUIRE); })
#define smp_wmb()   smp_mb_release()
#define smp_rmb()   smp_mb_acquire()
#define smp_read_barrier_depends()   barrier()
#define signal_barrier()    __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Accesses wider than a register cannot be atomic. */
#define ATOMIC_REG_SIZE  sizeof(void *)
#define qatomic_size_check(ptr) \
    QEMU_BUILD_BUG_ON(sizeof(*(ptr)) > ATOMIC_REG_SIZE)

#define qatomic_read__nocheck(ptr) \
    __atomic_load_n(ptr, __ATOMIC_RELAXED)

#define qatomic_read(ptr) ({                            \
        qatomic_size_check(ptr);                        \
        qatomic_read__nocheck(ptr);                     \
    })

#define qatomic_set__nocheck(ptr, i) \
    __atomic_store_n(ptr, i, __ATOMIC_RELAXED)

#define qatomic_set(ptr, i) do {                        \
        qatomic_size_check(ptr);                        \
        qatomic_set__nocheck(ptr, i);                   \
    } while (0)

/* Read a pointer published with qatomic_rcu_set(). */
#define qatomic_rcu_read(ptr) ({                        \
        qatomic_size_check(ptr);                        \
        typeof_strip_qual(*(ptr)) _val;                 \
        __atomic_load(ptr, &_val, __ATOMIC_CONSUME);    \
        _val;                                           \
    })

/* Publish a pointer: everything written before is visible to readers. */
#define qatomic_rcu_set(ptr, i) do {                    \
        qatomic_size_check(ptr);                        \
        __atomic_store_n(ptr, i, __ATOMIC_RELEASE);     \
    } while (0)

#define qatomic_load_acquire(ptr) ({                    \
        qatomic_size_check(ptr);                        \
        typeof_strip_qual(*(ptr)) _val;                 \
        __atomic_load(ptr, &_val, __ATOMIC_ACQUIRE);    \
        _val;                                           \
    })

#define qatomic_store_release(ptr, i) do {              \
        qatomic_size_check(ptr);                        \
        __atomic_store_n(ptr, i, __ATOMIC_RELEASE);     \
    } while (0)

#define qatomic_xchg__nocheck(ptr, i) \
    __atomic_exchange_n(ptr, (i), __ATOMIC_SEQ_CST)

#define qatomic_xchg(ptr, i) ({                         \
        qatomic_size_check(ptr);                        \
        qatomic_xchg__nocheck(ptr, i);                  \
    })

/* Returns the value *ptr had before; stores new only if that was old. */
#define qatomic_cmpxchg__nocheck(ptr, old, new) ({                      \
        typeof_strip_qual(*(ptr)) _old = (old);                         \
        (void)__atomic_compare_exchange_n(ptr, &_old, new, false,       \
                                          __ATOMIC_SEQ_CST,             \
                                          __ATOMIC_SEQ_CST);            \
        _old;                                                           \
    })

#define qatomic_cmpxchg(ptr, old, new) ({               \
        qatomic_size_check(ptr);                        \
        qatomic_cmpxchg__nocheck(ptr, old, new);        \
    })

#define qatomic_fetch_inc(ptr)  __atomic_fetch_add(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_fetch_dec(ptr)  __atomic_fetch_sub(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_fetch_add(ptr, n) __atomic_fetch_add(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_sub(ptr, n) __atomic_fetch_sub(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_and(ptr, n) __atomic_fetch_and(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_or(ptr, n)  __atomic_fetch_or(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_xor(ptr, n) __atomic_fetch_xor(ptr, n, __ATOMIC_SEQ_CST)

#define qatomic_inc_fetch(ptr)    __atomic_add_fetch(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_dec_fetch(ptr)    __atomic_sub_fetch(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_add_fetch(ptr, n) __atomic_add_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_sub_fetch(ptr, n) __atomic_sub_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_and_fetch(ptr, n) __atomic_and_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_or_fetch(ptr, n)  __atomic_or_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_xor_fetch(ptr, n) __atomic_xor_fetch(ptr, n, __ATOMIC_SEQ_CST)

#define qatomic_inc(ptr)    ((void)qatomic_fetch_inc(ptr))
#define qatomic_dec(ptr)    ((void)qatomic_fetch_dec(ptr))
#define qatomic_add(ptr, n) ((void)qatomic_fetch_add(ptr, n))
#define qatomic_sub(ptr, n) ((void)qatomic_fetch_sub(ptr, n))
#define qatomic_and(ptr, n) ((void)qatomic_fetch_and(ptr, n))
#define qatomic_or(ptr, n)  ((void)qatomic_fetch_or(ptr, n))
#define qatomic_xor(ptr, n) ((void)qatomic_fetch_xor(ptr, n))

/* The read-modify-write operations above are already full barriers. */
#define smp_mb__before_rmw() smp_mb()
#define smp_mb__after_rmw() smp_mb()

#define qatomic_set_mb(ptr, i) \
    ((void)qatomic_xchg(ptr, i))

/* 64-bit accesses are atomic on every host the stand-in builds for. */
#define qatomic_read_u64(P) qatomic_read__nocheck(P)
#define qatomic_set_u64(P, V) qatomic_set__nocheck(P, V)
#define qatomic_read_i64(P) qatomic_read__nocheck(P)
#define qatomic_set_i64(P, V) qatomic_set__nocheck(P, V)

#endif /* QEMU_ATOMIC_H */
