/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/main-loop.h: the main loop's
 * AioContext, for code that schedules bottom halves, the Big QEMU Lock
 * (BQL) and qemu_in_main_thread(), with QEMU 9.2's names and signatures.
 */

#ifndef QEMU_MAIN_LOOP_H
#define QEMU_MAIN_LOOP_H

#include "block/aio.h"

/*
 * Create the main loop's AioContext.  Returns 0; calling it again does
 * nothing.
 */
int qemu_init_main_loop(Error **errp);

/* The main loop's AioContext, or NULL before qemu_init_main_loop(). */
AioContext *qemu_get_aio_context(void);

/**
 * qemu_in_main_thread: May the calling thread use global state?
 *
 * In QEMU's system emulators (system/cpus.c), as here: bql_locked().
 * (QEMU's tools and unit tests answer whether the thread runs the main
 * AioContext instead: stubs/iothread-lock-block.c.)
 */
bool qemu_in_main_thread(void);

/**
 * bql_locked: Return lock status of the Big QEMU Lock (BQL)
 *
 * Returns true if the calling thread holds the BQL.
 */
bool bql_locked(void);

/**
 * bql_lock: Lock the Big QEMU Lock (BQL).
 *
 * QEMU's main loop holds it but while it waits for events; the RCU
 * thread holds it while it runs call_rcu() callbacks; IOThreads never
 * take it.  Not recursive: taking it twice aborts.
 */
#define bql_lock() bql_lock_impl(__FILE__, __LINE__)
void bql_lock_impl(const char *file, int line);

/**
 * bql_unlock: Unlock the Big QEMU Lock (BQL).
 *
 * The calling thread must hold it.
 */
void bql_unlock(void);

#endif /* QEMU_MAIN_LOOP_H */
