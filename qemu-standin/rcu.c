/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/rcu.c: QEMU's RCU API on top of
 * liburcu's urcu-memb flavour.
 *
 * This is the only file that includes liburcu.  Its headers declare a
 * "struct rcu_head" of their own, so they are included with that tag
 * renamed to struct urcu_head; they are included without URCU_API_MAP,
 * so no generic name (rcu_read_lock, call_rcu, synchronize_rcu...) is
 * left defined as a macro, and only the urcu_memb_* entry points are
 * called.
 *
 * Callbacks.  QEMU's struct rcu_head keeps liburcu's node in urcu_node;
 * liburcu calls rcu_callback_trampoline(), which calls the QEMU callback.
 *
 * ThreadSanitizer.  liburcu 0.13 orders readers and writers with inline
 * assembly that TSan cannot see, so a TSan build reports false races
 * between a reader and whoever frees what it read after a grace period.
 * The stand-in tells TSan about the ordering liburcu provides:
 * - every read section ends with a release of rcu_tsan_token, and every
 *   synchronize_rcu() and every callback starts with an acquire of it:
 *   what a reader did happens before what follows a later grace period;
 * - call_rcu1() releases the rcu_head and the trampoline acquires it:
 *   what the caller did before queueing happens before the callback;
 * - every callback ends with a release of rcu_tsan_drain_token, which
 *   drain_call_rcu() acquires once the callbacks have run.
 * The token is coarser than liburcu's real ordering (it also orders
 * readers with grace periods that began before their section ended), so
 * TSan may miss a real race of that kind, but it reports no false one.
 * liburcu's own internal races (in urcu_memb_barrier()) are suppressed
 * by qemu-standin/tsan.supp.
 */

#include "qemu/osdep.h"

#define rcu_head urcu_head
#include <urcu/urcu-memb.h>
#undef rcu_head

#include "qemu/error-report.h"
#include "qemu/rcu.h"

#ifdef QEMU_SANITIZE_THREAD
#include <sanitizer/tsan_interface.h>
#define rcu_tsan_acquire(addr) __tsan_acquire(addr)
#define rcu_tsan_release(addr) __tsan_release(addr)
#else
#define rcu_tsan_acquire(addr) ((void)(addr))
#define rcu_tsan_release(addr) ((void)(addr))
#endif

/* Only their addresses matter: they name two happens-before edges. */
static char rcu_tsan_token;
static char rcu_tsan_drain_token;

/* Set once the thread is registered with liburcu. */
static __thread bool rcu_thread_registered;
/* Set in liburcu's call_rcu thread, while it runs callbacks. */
static __thread bool rcu_in_callback;

QEMU_BUILD_BUG_ON(sizeof(((struct rcu_head *)0)->urcu_node) <
                  sizeof(struct urcu_head));

static void rcu_fail(const char *what)
{
    error_report("rcu: %s", what);
    abort();
}

__thread unsigned qemu_standin_rcu_depth
    __attribute__((tls_model("initial-exec")));

void qemu_standin_rcu_read_lock(void)
{
    if (unlikely(!rcu_thread_registered)) {
        rcu_fail("rcu_read_lock() in a thread that did not call "
                 "rcu_register_thread()");
    }
    urcu_memb_read_lock();
}

void qemu_standin_rcu_read_unlock(void)
{
    rcu_tsan_release(&rcu_tsan_token);
    urcu_memb_read_unlock();
}

static void rcu_assert_may_wait(const char *func)
{
    if (urcu_memb_read_ongoing()) {
        error_report("rcu: %s() inside a read-side critical section", func);
        abort();
    }
    if (rcu_in_callback) {
        error_report("rcu: %s() from a call_rcu() callback", func);
        abort();
    }
}

void synchronize_rcu(void)
{
    rcu_assert_may_wait(__func__);
    urcu_memb_synchronize_rcu();
    rcu_tsan_acquire(&rcu_tsan_token);
}

void rcu_register_thread(void)
{
    if (rcu_thread_registered) {
        rcu_fail("rcu_register_thread() called twice");
    }
    urcu_memb_register_thread();
    rcu_thread_registered = true;
}

void rcu_unregister_thread(void)
{
    if (!rcu_thread_registered) {
        rcu_fail("rcu_unregister_thread() in an unregistered thread");
    }
    urcu_memb_unregister_thread();
    rcu_thread_registered = false;
}

static void rcu_callback_trampoline(struct urcu_head *uhead)
{
    struct rcu_head *head = (struct rcu_head *)uhead;

    /* liburcu registered its call_rcu thread itself. */
    rcu_thread_registered = true;
    rcu_in_callback = true;
    rcu_tsan_acquire(head);
    rcu_tsan_acquire(&rcu_tsan_token);
    head->func(head);
    rcu_tsan_release(&rcu_tsan_drain_token);
    rcu_in_callback = false;
}

void call_rcu1(struct rcu_head *head, RCUCBFunc *func)
{
    QEMU_BUILD_BUG_ON(offsetof(struct rcu_head, urcu_node) != 0);

    head->func = func;
    rcu_tsan_release(head);
    urcu_memb_call_rcu((struct urcu_head *)head, rcu_callback_trampoline);
}

void drain_call_rcu(void)
{
    rcu_assert_may_wait(__func__);
    urcu_memb_barrier();
    rcu_tsan_acquire(&rcu_tsan_token);
    rcu_tsan_acquire(&rcu_tsan_drain_token);
}

/* QEMU's main thread is an RCU reader from the start. */
static void __attribute__((constructor)) rcu_register_main_thread(void)
{
    rcu_register_thread();
}
