/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/main-loop.h: just the main loop's
 * AioContext, for code that schedules bottom halves, and
 * qemu_in_main_thread().
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

/*
 * May the calling thread use the block layer's global state?  In QEMU's
 * emulators: does it hold the BQL (system/cpus.c); in tools and unit
 * tests: does it run the main AioContext (stubs/iothread-lock-block.c).
 * Not implemented by the stand-in: whoever links the code provides it
 * (the mapcache's test stubs do, under the tests' control).
 */
bool qemu_in_main_thread(void);

#endif /* QEMU_MAIN_LOOP_H */
