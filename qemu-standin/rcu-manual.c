/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/rcu.c whose grace periods end only
 * where the program says: the API of qemu/rcu.h for one thread, with no
 * RCU thread, for the fuzz target, so that one input runs the same way
 * every time.  Linked instead of qemu-standin/rcu.c (never with it).
 *
 * - Read sections count their depth (qemu/rcu.h does; the outermost one
 *   reaches qemu_standin_rcu_read_lock()), and nothing else.
 * - call_rcu1() queues the callback, first in first out.
 * - A grace period runs the callbacks queued before it began, with the
 *   BQL held as in QEMU's RCU thread (taken for them if the caller does
 *   not hold it); those they queue wait for the next one.  One ends at
 *   synchronize_rcu(), at drain_call_rcu() and at
 *   qemu_standin_rcu_grace_period() (qemu/rcu-manual.h), never inside a
 *   read section (they abort there, as from a callback).
 * - Every entry point must be called in the thread that first called
 *   one: a second thread aborts, since the point is determinism.
 * - No pacing: qemu_standin_rcu_set_pacing() does nothing.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/rcu-manual.h"

__thread unsigned qemu_standin_rcu_depth
    __attribute__((tls_model("initial-exec")));

/* The queue, linked through struct rcu_head's next. */
static struct rcu_head *rcu_queue_head;
static struct rcu_head **rcu_queue_tail = &rcu_queue_head;
static unsigned rcu_queued;

static bool rcu_in_callback;
static bool rcu_owner_set;
static pthread_t rcu_owner;
static bool rcu_registered;

static void G_NORETURN rcu_fail(const char *what)
{
    error_report("rcu (manual): %s", what);
    abort();
}

/* One thread only: the first to call. */
static void rcu_check_thread(void)
{
    if (!rcu_owner_set) {
        rcu_owner = pthread_self();
        rcu_owner_set = true;
    } else if (!pthread_equal(rcu_owner, pthread_self())) {
        rcu_fail("called from a second thread");
    }
}

void qemu_standin_rcu_read_lock(void)
{
    rcu_check_thread();
    if (unlikely(!rcu_registered)) {
        rcu_fail("rcu_read_lock() in a thread that did not call "
                 "rcu_register_thread()");
    }
}

void qemu_standin_rcu_read_unlock(void)
{
    rcu_check_thread();
}

static void rcu_assert_may_wait(const char *func)
{
    rcu_check_thread();
    if (qemu_standin_rcu_depth) {
        error_report("rcu (manual): %s() inside a read-side critical "
                     "section", func);
        abort();
    }
    if (rcu_in_callback) {
        error_report("rcu (manual): %s() from a call_rcu() callback", func);
        abort();
    }
}

/* Run the callbacks queued so far; returns how many. */
static unsigned rcu_run_queued(void)
{
    struct rcu_head *head = rcu_queue_head;
    bool locked = bql_locked();
    unsigned n = 0;

    rcu_queue_head = NULL;
    rcu_queue_tail = &rcu_queue_head;
    if (!locked) {
        bql_lock();
    }
    rcu_in_callback = true;
    while (head) {
        struct rcu_head *next = head->next;

        rcu_queued--;
        head->func(head);
        head = next;
        n++;
    }
    rcu_in_callback = false;
    if (!locked) {
        bql_unlock();
    }
    return n;
}

unsigned qemu_standin_rcu_grace_period(void)
{
    rcu_assert_may_wait(__func__);
    return rcu_run_queued();
}

unsigned qemu_standin_rcu_pending(void)
{
    rcu_check_thread();
    return rcu_queued;
}

void synchronize_rcu(void)
{
    rcu_assert_may_wait(__func__);
    rcu_run_queued();
}

void drain_call_rcu(void)
{
    rcu_assert_may_wait(__func__);
    rcu_run_queued();
}

void rcu_register_thread(void)
{
    rcu_check_thread();
    if (rcu_registered) {
        rcu_fail("rcu_register_thread() called twice");
    }
    rcu_registered = true;
}

void rcu_unregister_thread(void)
{
    rcu_check_thread();
    if (!rcu_registered) {
        rcu_fail("rcu_unregister_thread() in an unregistered thread");
    }
    rcu_registered = false;
}

void call_rcu1(struct rcu_head *head, RCUCBFunc *func)
{
    rcu_check_thread();
    head->func = func;
    head->next = NULL;
    *rcu_queue_tail = head;
    rcu_queue_tail = &head->next;
    rcu_queued++;
}

void qemu_standin_rcu_set_pacing(unsigned sleep_us)
{
}

/* QEMU's main thread is an RCU reader from the start. */
static void __attribute__((constructor)) rcu_register_main_thread(void)
{
    rcu_register_thread();
}
