/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/async.c and the AioContext part of
 * util/main-loop.c: AioContexts that only run one-shot bottom halves,
 * and the main loop's context.
 */

#include "qemu/osdep.h"
#include "block/aio.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/queue.h"
#include "qemu/thread.h"

typedef struct AioBH {
    QEMUBHFunc *cb;
    void *opaque;
    const char *name;
    QSIMPLEQ_ENTRY(AioBH) next;
} AioBH;

struct AioContext {
    QemuMutex lock;
    QemuCond scheduled;         /* signalled when a BH is added */
    QSIMPLEQ_HEAD(, AioBH) bhs; /* protected by lock */
};

static AioContext *main_ctx;
static __thread AioContext *thread_ctx;

AioContext *aio_context_new(Error **errp)
{
    AioContext *ctx = g_new0(AioContext, 1);

    qemu_mutex_init(&ctx->lock);
    qemu_cond_init(&ctx->scheduled);
    QSIMPLEQ_INIT(&ctx->bhs);
    return ctx;
}

void aio_context_unref(AioContext *ctx)
{
    AioBH *bh, *tmp;

    QSIMPLEQ_FOREACH_SAFE(bh, &ctx->bhs, next, tmp) {
        g_free(bh);
    }
    qemu_cond_destroy(&ctx->scheduled);
    qemu_mutex_destroy(&ctx->lock);
    g_free(ctx);
}

void aio_bh_schedule_oneshot_full(AioContext *ctx, QEMUBHFunc *cb,
                                  void *opaque, const char *name)
{
    AioBH *bh = g_new0(AioBH, 1);

    if (!ctx) {
        error_report("aio: bottom half %s scheduled without an AioContext "
                     "(qemu_init_main_loop() not called?)", name);
        abort();
    }
    bh->cb = cb;
    bh->opaque = opaque;
    bh->name = name;
    qemu_mutex_lock(&ctx->lock);
    QSIMPLEQ_INSERT_TAIL(&ctx->bhs, bh, next);
    qemu_cond_broadcast(&ctx->scheduled);
    qemu_mutex_unlock(&ctx->lock);
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    QSIMPLEQ_HEAD(, AioBH) ready = QSIMPLEQ_HEAD_INITIALIZER(ready);
    AioBH *bh;
    bool progress = false;

    assert(!qemu_in_coroutine());
    qemu_mutex_lock(&ctx->lock);
    while (blocking && QSIMPLEQ_EMPTY(&ctx->bhs)) {
        qemu_cond_wait(&ctx->scheduled, &ctx->lock);
    }
    /* BHs scheduled by these ones wait for the next aio_poll(). */
    QSIMPLEQ_CONCAT(&ready, &ctx->bhs);
    qemu_mutex_unlock(&ctx->lock);

    while ((bh = QSIMPLEQ_FIRST(&ready))) {
        QSIMPLEQ_REMOVE_HEAD(&ready, next);
        bh->cb(bh->opaque);
        g_free(bh);
        progress = true;
    }
    return progress;
}

AioContext *qemu_get_current_aio_context(void)
{
    return thread_ctx ? thread_ctx : main_ctx;
}

void qemu_standin_set_current_aio_context(AioContext *ctx)
{
    thread_ctx = ctx;
}

int qemu_init_main_loop(Error **errp)
{
    if (!main_ctx) {
        main_ctx = aio_context_new(errp);
    }
    return 0;
}

AioContext *qemu_get_aio_context(void)
{
    return main_ctx;
}
