/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Stand-in only, not in QEMU: the controls of the manual RCU
 * (qemu-standin/rcu-manual.c), which a program links instead of the
 * liburcu-backed qemu-standin/rcu.c when it wants grace periods to end
 * at points it chooses, in its one thread: the fuzz target.
 */

#ifndef QEMU_RCU_MANUAL_H
#define QEMU_RCU_MANUAL_H

/**
 * qemu_standin_rcu_grace_period: end a grace period now
 *
 * Runs, in order, every call_rcu() callback queued before the call;
 * those they queue wait for the next grace period.  Must not be called
 * inside a read section nor from a callback (it aborts).
 *
 * Returns: the number of callbacks run.
 */
unsigned qemu_standin_rcu_grace_period(void);

/**
 * qemu_standin_rcu_pending: callbacks queued and not run yet
 */
unsigned qemu_standin_rcu_pending(void);

#endif /* QEMU_RCU_MANUAL_H */
