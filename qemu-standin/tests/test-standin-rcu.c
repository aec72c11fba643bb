/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Tests of the stand-in's BQL and RCU against what QEMU's system/cpus.c
 * and util/rcu.c do: call_rcu() callbacks run in queueing order, after
 * a grace period, no sooner than util/rcu.c's wait while few are queued,
 * with the BQL held, and never while another thread holds the BQL;
 * drain_call_rcu() drops the caller's BQL while it waits.  Only what
 * holds whatever the scheduling is asserted: lower bounds on time, and
 * orderings that a lock or a read section enforces.
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"

/* util/rcu.c: 5 sleeps of 10 ms while fewer than 30 are queued. */
#define PACING_MIN_US (5 * 10000)
/* Longer than the pacing: had the callback been free to run, it would. */
#define LONGER_THAN_PACING_US (3 * PACING_MIN_US)
#define HANDSHAKE_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct Probe {
    struct rcu_head rcu;
    int64_t ran_at;             /* g_get_monotonic_time(); 0: not yet */
    bool had_bql;
    bool in_main_thread;
    unsigned order;             /* its place among the probes run */
} Probe;

static unsigned probes_run;

static void probe_rcu(Probe *p)
{
    p->had_bql = bql_locked();
    p->in_main_thread = qemu_in_main_thread();
    p->order = qatomic_fetch_inc(&probes_run);
    qatomic_store_release(&p->ran_at, g_get_monotonic_time());
}

static bool probe_ran(Probe *p)
{
    return qatomic_load_acquire(&p->ran_at) != 0;
}

/* Without the BQL, as QEMU's main loop waits. */
static void probe_wait(Probe *p)
{
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;

    while (!probe_ran(p)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
}

static void test_bql(void)
{
    g_assert_false(bql_locked());
    g_assert_false(qemu_in_main_thread());
    bql_lock();
    g_assert_true(bql_locked());
    g_assert_true(qemu_in_main_thread());
    bql_unlock();
    g_assert_false(bql_locked());
}

/* A lone callback waits util/rcu.c's 50 ms, then runs with the BQL. */
static void test_paced(void)
{
    Probe p = { 0 };
    int64_t queued;

    drain_call_rcu();           /* the call_rcu thread is idle now */
    queued = g_get_monotonic_time();
    call_rcu(&p, probe_rcu, rcu);
    probe_wait(&p);
    g_assert_cmpint(p.ran_at - queued, >=, PACING_MIN_US);
    g_assert_true(p.had_bql);
    g_assert_true(p.in_main_thread);
}

/* While this thread holds the BQL, no callback runs. */
static void test_stalled_by_bql(void)
{
    Probe p = { 0 };

    bql_lock();
    call_rcu(&p, probe_rcu, rcu);
    g_usleep(LONGER_THAN_PACING_US);
    g_assert_false(probe_ran(&p));
    bql_unlock();
    probe_wait(&p);
}

/* drain_call_rcu() drops the BQL while it waits, and takes it again. */
static void test_drain_drops_bql(void)
{
    Probe p = { 0 };

    bql_lock();
    call_rcu(&p, probe_rcu, rcu);
    drain_call_rcu();
    g_assert_true(probe_ran(&p));
    g_assert_true(bql_locked());
    bql_unlock();
}

/* Callbacks run in queueing order, batches of 30 or more included. */
static void test_order(void)
{
    Probe p[64] = { 0 };
    unsigned i, first;

    drain_call_rcu();
    first = qatomic_read(&probes_run);
    for (i = 0; i < ARRAY_SIZE(p); i++) {
        call_rcu(&p[i], probe_rcu, rcu);
    }
    drain_call_rcu();
    for (i = 0; i < ARRAY_SIZE(p); i++) {
        g_assert_true(probe_ran(&p[i]));
        g_assert_cmpuint(p[i].order, ==, first + i);
    }
}

typedef struct Reader {
    QemuThread thread;
    bool inside;
    bool leave;
} Reader;

static void *reader_thread(void *opaque)
{
    Reader *r = opaque;

    rcu_register_thread();
    rcu_read_lock();
    qatomic_store_release(&r->inside, true);
    while (!qatomic_load_acquire(&r->leave)) {
        g_usleep(1000);
    }
    rcu_read_unlock();
    rcu_unregister_thread();
    return NULL;
}

/* A callback waits for the read sections begun before it was queued. */
static void test_grace_period(void)
{
    gint64 deadline = g_get_monotonic_time() + HANDSHAKE_TIMEOUT_US;
    Reader r = { 0 };
    Probe p = { 0 };

    qemu_thread_create(&r.thread, "reader", reader_thread, &r,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_load_acquire(&r.inside)) {
        g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        g_usleep(1000);
    }
    call_rcu(&p, probe_rcu, rcu);
    g_usleep(LONGER_THAN_PACING_US);
    g_assert_false(probe_ran(&p));
    qatomic_store_release(&r.leave, true);
    qemu_thread_join(&r.thread);
    drain_call_rcu();
    g_assert_true(probe_ran(&p));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-standin/bql/locked", test_bql);
    g_test_add_func("/qemu-standin/rcu/paced", test_paced);
    g_test_add_func("/qemu-standin/rcu/stalled-by-bql", test_stalled_by_bql);
    g_test_add_func("/qemu-standin/rcu/drain-drops-bql",
                    test_drain_drops_bql);
    g_test_add_func("/qemu-standin/rcu/order", test_order);
    g_test_add_func("/qemu-standin/rcu/grace-period", test_grace_period);
    return g_test_run();
}
