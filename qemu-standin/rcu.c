/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/rcu.c: QEMU's RCU API, with read
 * sections and grace periods from liburcu's urcu-memb flavour, and
 * call_rcu() callbacks run by a call_rcu thread of our own that paces
 * them as QEMU's does.
 *
 * This is the only file that includes liburcu.  Its headers declare a
 * "struct rcu_head" of their own, so they are included with that tag
 * renamed to struct urcu_head; they are included without URCU_API_MAP,
 * so no generic name (rcu_read_lock, call_rcu, synchronize_rcu...) is
 * left defined as a macro, and only the urcu_memb_* entry points are
 * called.
 *
 * Callbacks: QEMU's pacing
 * ------------------------
 * liburcu's own call_rcu thread runs callbacks as soon as a grace period
 * allows, without any lock: kinder than QEMU, whose callers must live
 * with a slower and coarser thread.  So call_rcu1() queues callbacks
 * here, and call_rcu_thread() runs them exactly as util/rcu.c does:
 *
 * - while fewer than RCU_CALL_MIN_SIZE (30) callbacks are queued, it
 *   sleeps in steps of 10 ms, at most 5 times (and, with none queued,
 *   waits until one is);
 * - then it takes the number queued so far, runs synchronize_rcu(), and
 *   with the BQL held runs that many callbacks, in queueing order.
 *
 * While another thread holds the BQL, no callback runs (a main loop that
 * keeps it stalls every release).  drain_call_rcu() queues a callback of
 * its own and waits for it, dropping the BQL meanwhile if the caller held
 * it, as QEMU's does; so a caller of drain_call_rcu() may hold the BQL,
 * but nobody may hold it while it waits for a callback some other way.
 * qemu_standin_rcu_set_pacing() shortens the sleeps for a test that needs
 * it; the default is QEMU's.
 *
 * ThreadSanitizer
 * ---------------
 * liburcu 0.13 orders readers and writers with inline assembly that TSan
 * cannot see, so a TSan build would report false races between a reader
 * and whoever frees what it read after a grace period.  The stand-in
 * tells TSan about the ordering liburcu provides:
 * - every read section ends with a release of rcu_tsan_token, and every
 *   synchronize_rcu() (the call_rcu thread's too, before its callbacks)
 *   ends with an acquire of it: what a reader did happens before what
 *   follows a later grace period;
 * - call_rcu1() releases the rcu_head and the call_rcu thread acquires it
 *   before the callback: what the caller did before queueing happens
 *   before the callback (the queue's lock orders it too);
 * - every callback ends with a release of rcu_tsan_drain_token, which
 *   drain_call_rcu() acquires once the callbacks have run.
 * The token is coarser than liburcu's real ordering (it also orders
 * readers with grace periods that began before their section ended), so
 * TSan may miss a real race of that kind, but it reports no false one.
 */

#include "qemu/osdep.h"

#define rcu_head urcu_head
#include <urcu/urcu-memb.h>
#undef rcu_head

#include "qemu/error-report.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"

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
/* Set in the call_rcu thread while it runs a callback. */
static __thread bool rcu_in_callback;

static void rcu_fail(const char *what)
{
    error_report("rcu: %s", what);
    abort();
}

/*
 * Read sections and grace periods: liburcu.
 */

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

/*
 * Callbacks: util/rcu.c's pacing.
 */

/* Fewer queued callbacks than this make the call_rcu thread wait. */
#define RCU_CALL_MIN_SIZE 30
/* How many times it waits, and for how long each time (QEMU's: 10 ms). */
#define RCU_CALL_MAX_TRIES 5
#define RCU_CALL_SLEEP_US_DEFAULT 10000

/*
 * The queue: call_rcu1() appends under rcu_call_lock, the call_rcu thread
 * takes from the head.  rcu_call_count counts the callbacks queued and
 * not yet claimed by a batch; it is incremented after the append, so a
 * batch of n always finds n callbacks in the queue.
 */
static QemuMutex rcu_call_lock = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .initialized = true,
};
static struct rcu_head *rcu_call_head;      /* protected by rcu_call_lock */
static struct rcu_head **rcu_call_tail = &rcu_call_head;   /* likewise */
static int rcu_call_count;                  /* atomic */
/* Set by call_rcu1(); the idle call_rcu thread waits for it. */
static QemuEvent rcu_call_ready_event;
static unsigned rcu_call_sleep_us = RCU_CALL_SLEEP_US_DEFAULT;  /* atomic */

void qemu_standin_rcu_set_pacing(unsigned sleep_us)
{
    qatomic_set(&rcu_call_sleep_us, sleep_us);
}

static struct rcu_head *rcu_call_dequeue(void)
{
    struct rcu_head *node;

    QEMU_LOCK_GUARD(&rcu_call_lock);
    node = rcu_call_head;
    assert(node);
    rcu_call_head = node->next;
    if (!rcu_call_head) {
        rcu_call_tail = &rcu_call_head;
    }
    return node;
}

/*
 * Wait as util/rcu.c's call_rcu_thread() does for callbacks to pile up;
 * returns how many the next batch runs.
 */
static int rcu_call_wait_for_batch(void)
{
    int tries = 0;
    int n = qatomic_read(&rcu_call_count);

    while (n == 0 || (n < RCU_CALL_MIN_SIZE &&
                      ++tries <= RCU_CALL_MAX_TRIES)) {
        g_usleep(qatomic_read(&rcu_call_sleep_us));
        if (n == 0) {
            qemu_event_reset(&rcu_call_ready_event);
            n = qatomic_read(&rcu_call_count);
            if (n == 0) {
                qemu_event_wait(&rcu_call_ready_event);
            }
        }
        n = qatomic_read(&rcu_call_count);
    }
    return n;
}

static void rcu_call_run(struct rcu_head *node)
{
    rcu_in_callback = true;
    rcu_tsan_acquire(node);
    node->func(node);
    rcu_tsan_release(&rcu_tsan_drain_token);
    rcu_in_callback = false;
}

static void *call_rcu_thread(void *opaque)
{
    rcu_register_thread();

    for (;;) {
        int n = rcu_call_wait_for_batch();

        /* Only what was queued before the grace period began. */
        qatomic_sub(&rcu_call_count, n);
        synchronize_rcu();
        bql_lock();
        while (n-- > 0) {
            rcu_call_run(rcu_call_dequeue());
        }
        bql_unlock();
    }
    return NULL;
}

void call_rcu1(struct rcu_head *head, RCUCBFunc *func)
{
    head->func = func;
    head->next = NULL;
    rcu_tsan_release(head);
    WITH_QEMU_LOCK_GUARD(&rcu_call_lock) {
        *rcu_call_tail = head;
        rcu_call_tail = &head->next;
    }
    qatomic_inc(&rcu_call_count);
    qemu_event_set(&rcu_call_ready_event);
}

typedef struct RCUDrain {
    struct rcu_head rcu;
    QemuEvent complete;
} RCUDrain;

static void drain_rcu_callback(struct rcu_head *head)
{
    RCUDrain *drain = container_of(head, RCUDrain, rcu);

    qemu_event_set(&drain->complete);
}

/*
 * Callbacks run in queueing order, so once this one has run, every one
 * queued before it has.  The BQL is dropped while waiting: the call_rcu
 * thread needs it to run them.
 */
void drain_call_rcu(void)
{
    RCUDrain drain = { 0 };
    bool locked = bql_locked();

    rcu_assert_may_wait(__func__);
    qemu_event_init(&drain.complete, false);
    if (locked) {
        bql_unlock();
    }
    call_rcu1(&drain.rcu, drain_rcu_callback);
    qemu_event_wait(&drain.complete);
    if (locked) {
        bql_lock();
    }
    qemu_event_destroy(&drain.complete);
    rcu_tsan_acquire(&rcu_tsan_drain_token);
}

/*
 * QEMU's main thread is an RCU reader from the start, and its call_rcu
 * thread is started then too (util/rcu.c's rcu_init()).
 */
static void __attribute__((constructor)) rcu_init(void)
{
    QemuThread thread;

    qemu_event_init(&rcu_call_ready_event, false);
    qemu_thread_create(&thread, "call_rcu", call_rcu_thread, NULL,
                       QEMU_THREAD_DETACHED);
    rcu_register_thread();
}
