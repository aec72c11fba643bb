/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Standalone stand-in for QEMU's qemu/main-loop.h: just the main loop's
 * AioContext, for code that schedules bottom halves.
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
 * As QEMU's stub for programs without the BQL: true when the current
 * AioContext is the main loop's (a thread that set no context of its own,
 * see qemu_standin_set_current_aio_context()).
 */
bool qemu_in_main_thread(void);

#endif /* QEMU_MAIN_LOOP_H */
