/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * The Big QEMU Lock as QEMU's system/cpus.c implements it: bql_lock(),
 * bql_unlock(), bql_locked(), and qemu_in_main_thread() as QEMU's system
 * emulators answer it, for code linked without system/cpus.c: the
 * standalone stand-in, and the mapcache's unit tests in a QEMU tree,
 * whose libqemuutil stubs the BQL out (stubs/iothread-lock.c: never
 * held; this file's definitions take precedence over the archive's).
 * Only QEMU's own API is used.
 *
 * As in QEMU, the BQL is a plain (non-recursive) mutex plus a per-thread
 * flag saying whether this thread holds it; taking it twice, or
 * releasing it unheld, aborts.  QEMU's main loop holds it except while
 * it waits for events, and the RCU thread takes it to run call_rcu()
 * callbacks (util/rcu.c, and qemu-standin/rcu.c here); IOThreads never
 * hold it.  Tests take it as the main loop does.
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"

/*
 * The lock (ready before any constructor runs: the call_rcu thread may
 * take it early); bql_is_locked says whether this thread holds it.
 */
static QemuMutex bql = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .initialized = true,
};
static __thread bool bql_is_locked;

bool bql_locked(void)
{
    return bql_is_locked;
}

void bql_lock_impl(const char *file, int line)
{
    g_assert(!bql_locked());
    qemu_mutex_lock_impl(&bql, file, line);
    bql_is_locked = true;
}

void bql_unlock(void)
{
    g_assert(bql_locked());
    bql_is_locked = false;
    qemu_mutex_unlock(&bql);
}

/*
 * In QEMU's system emulators (system/cpus.c), the main thread is whoever
 * holds the BQL: the main loop, vCPU threads in device emulation, the RCU
 * thread while it runs callbacks; never an IOThread.
 */
bool qemu_in_main_thread(void)
{
    return bql_locked();
}
