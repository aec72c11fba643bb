/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/coroutine-core.h: cooperative
 * coroutines.  A coroutine runs on its own stack in the thread that
 * enters it, until it yields or returns; it is freed when it returns.
 */

#ifndef QEMU_COROUTINE_CORE_H
#define QEMU_COROUTINE_CORE_H

typedef struct Coroutine Coroutine;

/* The body of a coroutine; the coroutine ends when it returns. */
typedef void coroutine_fn CoroutineEntry(void *opaque);

/* Create a coroutine; it does not run until qemu_coroutine_enter(). */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/*
 * Run @coroutine until it yields or returns.  It remembers the current
 * AioContext as its home, where aio_co_wake() resumes it.
 */
void qemu_coroutine_enter(Coroutine *coroutine);

/* Go back to whoever entered the current coroutine. */
void coroutine_fn qemu_coroutine_yield(void);

/* The current coroutine, or NULL outside coroutine context. */
Coroutine *qemu_coroutine_self(void);

/* Whether the caller runs in coroutine context. */
bool qemu_in_coroutine(void);

/*
 * Whether @co is entered: it was entered and has not yielded or returned
 * since (it may itself have entered another coroutine).
 */
bool qemu_coroutine_entered(Coroutine *co);

#endif /* QEMU_COROUTINE_CORE_H */
