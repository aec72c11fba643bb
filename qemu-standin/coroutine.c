/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/qemu-coroutine.c and
 * util/coroutine-ucontext.c: coroutines on ucontext stacks.
 *
 * A coroutine runs in the thread that enters it and returns to its
 * enterer (its "caller") when it yields or ends; an ended coroutine is
 * freed by qemu_coroutine_enter().  The stack switches are announced to
 * AddressSanitizer and ThreadSanitizer, which otherwise lose track of
 * the stack (ASan) or of the thread's state (TSan).
 */

#include "qemu/osdep.h"
#include <ucontext.h>
#include "qemu/coroutine.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "block/aio.h"

#ifdef QEMU_SANITIZE_ADDRESS
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef QEMU_SANITIZE_THREAD
#include <sanitizer/tsan_interface.h>
#endif

#define COROUTINE_STACK_SIZE (1 * MiB)

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    Coroutine *caller;          /* who entered it, NULL for a thread */
    bool entered;               /* running, or entered another one */
    AioContext *ctx;            /* where aio_co_wake() resumes it */
    bool ended;
    ucontext_t uc;
    ucontext_t caller_uc;
    void *stack;
    size_t stack_size;
    /* Sanitizer state (see the file comment). */
    void *asan_fake_stack;
    const void *caller_stack_bottom;
    size_t caller_stack_size;
    void *tsan_fiber;
    void *tsan_caller_fiber;
};

static __thread Coroutine *current;

/* Announce a switch from the current stack to [bottom, bottom + size). */
static void start_switch(void **fake_stack_save, const void *bottom,
                         size_t size)
{
#ifdef QEMU_SANITIZE_ADDRESS
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}

/* Announce the switch is over; learn the stack switched from. */
static void finish_switch(void *fake_stack_save, const void **old_bottom,
                          size_t *old_size)
{
#ifdef QEMU_SANITIZE_ADDRESS
    __sanitizer_finish_switch_fiber(fake_stack_save, old_bottom, old_size);
#endif
}

static void tsan_switch_to(void *fiber)
{
#ifdef QEMU_SANITIZE_THREAD
    __tsan_switch_to_fiber(fiber, 0);
#endif
}

/* Switch from the running coroutine @co back to its caller. */
static void switch_to_caller(Coroutine *co)
{
    start_switch(co->ended ? NULL : &co->asan_fake_stack,
                 co->caller_stack_bottom, co->caller_stack_size);
    tsan_switch_to(co->tsan_caller_fiber);
    swapcontext(&co->uc, &co->caller_uc);
    finish_switch(co->asan_fake_stack, &co->caller_stack_bottom,
                  &co->caller_stack_size);
}

static void coroutine_trampoline(void)
{
    Coroutine *co = current;

    finish_switch(NULL, &co->caller_stack_bottom, &co->caller_stack_size);
    co->entry(co->entry_arg);
    co->ended = true;
    switch_to_caller(co);
    g_assert_not_reached();
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    Coroutine *co = g_new0(Coroutine, 1);

    co->entry = entry;
    co->entry_arg = opaque;
    co->stack_size = COROUTINE_STACK_SIZE;
    co->stack = mmap(NULL, co->stack_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (co->stack == MAP_FAILED) {
        error_report("coroutine: cannot allocate a stack: %s",
                     strerror(errno));
        abort();
    }
    if (getcontext(&co->uc) < 0) {
        abort();
    }
    co->uc.uc_link = NULL;
    co->uc.uc_stack.ss_sp = co->stack;
    co->uc.uc_stack.ss_size = co->stack_size;
    makecontext(&co->uc, coroutine_trampoline, 0);
#ifdef QEMU_SANITIZE_THREAD
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    return co;
}

static void coroutine_delete(Coroutine *co)
{
#ifdef QEMU_SANITIZE_THREAD
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    munmap(co->stack, co->stack_size);
    g_free(co);
}

void qemu_coroutine_enter(Coroutine *co)
{
    void *fake_stack = NULL;

    if (co->entered) {
        error_report("Co-routine re-entered recursively");
        abort();
    }
    assert(!co->ended);
    co->entered = true;
    co->caller = current;
    co->ctx = qemu_get_current_aio_context();
    current = co;
#ifdef QEMU_SANITIZE_THREAD
    co->tsan_caller_fiber = __tsan_get_current_fiber();
#endif
    start_switch(&fake_stack, co->stack, co->stack_size);
    tsan_switch_to(co->tsan_fiber);
    swapcontext(&co->caller_uc, &co->uc);
    finish_switch(fake_stack, NULL, NULL);

    current = co->caller;
    co->caller = NULL;
    co->entered = false;
    if (co->ended) {
        coroutine_delete(co);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *co = current;

    if (!co) {
        error_report("Co-routine is yielding to no one");
        abort();
    }
    switch_to_caller(co);
}

Coroutine *qemu_coroutine_self(void)
{
    return current;
}

bool qemu_in_coroutine(void)
{
    return current != NULL;
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->entered;
}

static void co_wake_bh(void *opaque)
{
    qemu_coroutine_enter(opaque);
}

void aio_co_wake(Coroutine *co)
{
    if (qemu_in_coroutine() || co->ctx != qemu_get_current_aio_context()) {
        aio_bh_schedule_oneshot(co->ctx, co_wake_bh, co);
    } else {
        qemu_coroutine_enter(co);
    }
}
