/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/rcu.h: read-copy-update, with
 * QEMU's API: read sections and grace periods from liburcu's urcu-memb
 * flavour, call_rcu() callbacks paced as QEMU's util/rcu.c paces them.
 *
 * liburcu's own headers use the same generic names (rcu_read_lock, a
 * two-argument call_rcu, struct rcu_head) for different things, so they
 * are kept out of every header here: the functions below are implemented
 * in qemu-standin/rcu.c, the only file that includes liburcu.
 *
 * Rules, as in QEMU:
 * - a thread must call rcu_register_thread() before its first
 *   rcu_read_lock() (the main thread and the call_rcu thread are
 *   registered at start-up);
 * - read sections nest, and must not block for a grace period:
 *   synchronize_rcu() and drain_call_rcu() abort when called inside one;
 * - call_rcu() callbacks run later, in the call_rcu thread, with the BQL
 *   held, in batches: up to 50 ms after they are queued while fewer than
 *   30 are, then after a grace period (see qemu-standin/rcu.c).  While
 *   another thread holds the BQL none runs; drain_call_rcu() drops the
 *   caller's BQL while it waits.
 */

#ifndef QEMU_RCU_H
#define QEMU_RCU_H

#include "qemu/thread.h"
#include "qemu/queue.h"
#include "qemu/atomic.h"

/* Out of line in qemu-standin/rcu.c; use the QEMU names below. */
void qemu_standin_rcu_read_lock(void);
void qemu_standin_rcu_read_unlock(void);

/*
 * Read sections nest; as in QEMU, only the outermost one reaches the RCU
 * implementation, so a nested rcu_read_lock() costs a counter.
 */
extern __thread unsigned qemu_standin_rcu_depth
    __attribute__((tls_model("initial-exec")));

static inline void rcu_read_lock(void)
{
    if (qemu_standin_rcu_depth++ == 0) {
        qemu_standin_rcu_read_lock();
    }
}

static inline void rcu_read_unlock(void)
{
    if (--qemu_standin_rcu_depth == 0) {
        qemu_standin_rcu_read_unlock();
    }
}

/* Wait until every read section begun before the call has ended. */
void synchronize_rcu(void);

void rcu_register_thread(void);
void rcu_unregister_thread(void);

struct rcu_head;
typedef void RCUCBFunc(struct rcu_head *head);

/* As QEMU's: the call_rcu thread's queue link, and the callback. */
struct rcu_head {
    struct rcu_head *next;
    RCUCBFunc *func;
};

/*
 * Run @func(@head) after a grace period, in the call_rcu thread, with the
 * BQL held.
 */
void call_rcu1(struct rcu_head *head, RCUCBFunc *func);

/*
 * Wait until every callback queued by call_rcu1() before the call has
 * run, dropping the BQL meanwhile if the caller holds it.  Must not be
 * called inside a read section nor from a callback.
 */
void drain_call_rcu(void);

/*
 * Not QEMU's: for tests only.  The call_rcu thread sleeps @sleep_us
 * between its looks at the queue (QEMU's 10000, the default), at most 5
 * times while fewer than 30 callbacks are queued.
 */
void qemu_standin_rcu_set_pacing(unsigned sleep_us);

/*
 * call_rcu(head, func, field): @field, the struct rcu_head inside *@head,
 * must be its first member, so that @func can take a pointer to the
 * enclosing type; both are checked at compile time.
 */
#define call_rcu(head, func, field) ({                                  \
        _Static_assert(offsetof(typeof(*(head)), field) == 0,           \
                       "call_rcu: " #field " must be the first member"); \
        _Static_assert(__builtin_types_compatible_p(                    \
                           typeof(&*(func)), void (*)(typeof(head))),   \
                       "call_rcu: " #func " must take " #head "'s type"); \
        call_rcu1(&(head)->field, (RCUCBFunc *)(func));                 \
    })

#define g_free_rcu(obj, field) ({                                       \
        _Static_assert(offsetof(typeof(*(obj)), field) == 0,            \
                       "g_free_rcu: " #field " must be the first member"); \
        call_rcu1(&(obj)->field, (RCUCBFunc *)g_free);                  \
    })

/*
 * Scoped read sections, on the compiler's cleanup attribute: the section
 * ends with the scope, or with the block of WITH_RCU_READ_LOCK_GUARD().
 */
static inline bool qemu_standin_rcu_guard_enter(void)
{
    rcu_read_lock();
    return true;
}

static inline void qemu_standin_rcu_guard_exit(bool *in_section)
{
    if (*in_section) {
        rcu_read_unlock();
    }
}

#define QEMU_STANDIN_RCU_GUARD_VAR_(var)                                \
    bool var                                                            \
        __attribute__((cleanup(qemu_standin_rcu_guard_exit), unused))   \
        = qemu_standin_rcu_guard_enter()

#define RCU_READ_LOCK_GUARD() \
    QEMU_STANDIN_RCU_GUARD_VAR_(glue(qemu_standin_rcu_guard, __COUNTER__))

#define WITH_RCU_READ_LOCK_GUARD_(var)                                  \
    for (QEMU_STANDIN_RCU_GUARD_VAR_(var); var;                         \
         rcu_read_unlock(), var = false)

#define WITH_RCU_READ_LOCK_GUARD() \
    WITH_RCU_READ_LOCK_GUARD_(glue(qemu_standin_rcu_guard, __COUNTER__))

#endif /* QEMU_RCU_H */
