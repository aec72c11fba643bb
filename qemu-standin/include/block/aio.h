/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's block/aio.h: an AioContext that runs
 * bottom halves and wakes coroutines (no file descriptors, no timers).
 */

#ifndef QEMU_AIO_H
#define QEMU_AIO_H

#include "qemu/coroutine-core.h"

typedef void QEMUBHFunc(void *opaque);

/* A new, empty AioContext; never fails here. */
AioContext *aio_context_new(Error **errp);
void aio_context_unref(AioContext *ctx);

/*
 * Run @cb(@opaque) once, from the next aio_poll() of @ctx.  Thread-safe.
 * @name is for debugging.
 */
void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb,
                                  void *opaque, const char *name);

#define aio_bh_schedule_oneshot(ctx, cb, opaque) \
    aio_bh_schedule_oneshot_full((ctx), (cb), (opaque), (stringify(cb)))

/*
 * Run the bottom halves scheduled so far.  With @blocking, wait for one
 * when there is none.  Returns true if any ran.  Must not be called in
 * coroutine context.
 */
bool no_coroutine_fn aio_poll(AioContext *ctx, bool blocking);

/*
 * Resume @co, which has yielded, in its home AioContext: at once when
 * called from that context's thread outside coroutine context, else from
 * the next aio_poll() of that context.
 */
void aio_co_wake(Coroutine *co);

/*
 * The AioContext of the calling thread: the one it set with
 * qemu_standin_set_current_aio_context(), else the main loop's.
 */
AioContext *qemu_get_current_aio_context(void);

/* Stand-in only: make @ctx the calling thread's AioContext (or NULL). */
void qemu_standin_set_current_aio_context(AioContext *ctx);

#endif /* QEMU_AIO_H */
