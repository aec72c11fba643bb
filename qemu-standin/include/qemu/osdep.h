/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/osdep.h: the header every QEMU
 * source file includes first.  It pulls in the build configuration, the
 * usual C and POSIX headers, GLib and the arithmetic helpers QEMU code
 * takes for granted.  Like QEMU's, it does not include qemu/atomic.h.
 */

#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "config-host.h"
#include "qemu/compiler.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <inttypes.h>
#include <limits.h>
#include <unistd.h>
#include <time.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/mman.h>
#include <assert.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <glib.h>

/* GLib older than 2.74 has only the old spelling. */
#ifndef G_NORETURN
#define G_NORETURN G_GNUC_NORETURN
#endif

#include "qemu/typedefs.h"

/*
 * Annotations for QEMU's coroutine static analyser; they mean nothing to
 * the compiler.
 */
#define coroutine_fn
#define coroutine_mixed_fn
#define no_coroutine_fn

/*
 * MIN and MAX evaluate their arguments once; like QEMU's, they name their
 * temporaries uniquely (__COUNTER__) so that they nest without shadowing.
 */
#define MINMAX_PICK_(a, b, op, ta, tb) ({                   \
        typeof(1 ? (a) : (b)) ta = (a), tb = (b);           \
        ta op tb ? ta : tb;                                 \
    })
#define MINMAX_NAME_(stem, n) stem##n
#define MINMAX_(a, b, op, n) \
    MINMAX_PICK_(a, b, op, MINMAX_NAME_(minmax_a_, n), MINMAX_NAME_(minmax_b_, n))
#define MINMAX_N_(a, b, op, n) MINMAX_(a, b, op, n)
#undef MIN
#define MIN(a, b) MINMAX_N_((a), (b), <, __COUNTER__)
#undef MAX
#define MAX(a, b) MINMAX_N_((a), (b), >, __COUNTER__)

/* Round n down/up to a multiple of m (any m, not only powers of two). */
#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define QEMU_ALIGN_PTR_DOWN(p, n) \
    ((typeof(p))QEMU_ALIGN_DOWN((uintptr_t)(p), (n)))
#define QEMU_ALIGN_PTR_UP(p, n) \
    ((typeof(p))QEMU_ALIGN_UP((uintptr_t)(p), (n)))
#define QEMU_PTR_IS_ALIGNED(p, n) QEMU_IS_ALIGNED((uintptr_t)(p), (n))

/* Round n down/up to a multiple of d, which must be a power of two. */
#define ROUND_DOWN(n, d) ((n) & -(0 ? (n) : (d)))
#define ROUND_UP(n, d) ROUND_DOWN((n) + (d) - 1, (d))

#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))

/* Fails to compile when x is a pointer rather than an array. */
/* Elements of the array @x (glib's G_N_ELEMENTS; QEMU also checks @x). */
#define ARRAY_SIZE(x) G_N_ELEMENTS(x)

#define RETRY_ON_EINTR(expr) ({                         \
        typeof(expr) __result;                          \
        do {                                            \
            __result = (expr);                          \
        } while (__result == -1 && errno == EINTR);     \
        __result;                                       \
    })

#endif /* QEMU_OSDEP_H */
