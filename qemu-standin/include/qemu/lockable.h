/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/lockable.h: scoped lock guards on a
 * QemuMutex (QEMU also accepts its other lock types), built here on the
 * compiler's cleanup attribute.
 *
 *   QEMU_LOCK_GUARD(&m);           held until the end of the scope
 *   WITH_QEMU_LOCK_GUARD(&m) {     held for the block
 *       ...
 *   }
 */

#ifndef QEMU_LOCKABLE_H
#define QEMU_LOCKABLE_H

#include "qemu/thread.h"

static inline QemuMutex *qemu_standin_guard_lock(QemuMutex *m)
{
    qemu_mutex_lock(m);
    return m;
}

/* Cleanup of a guard variable: unlock unless the block already did. */
static inline void qemu_standin_guard_unlock(QemuMutex **m)
{
    if (*m) {
        qemu_mutex_unlock(*m);
    }
}

#define QEMU_STANDIN_GUARD_VAR_(var, x)                                 \
    QemuMutex *var                                                      \
        __attribute__((cleanup(qemu_standin_guard_unlock), unused))     \
        = qemu_standin_guard_lock(x)

#define QEMU_LOCK_GUARD(x)                                              \
    QEMU_STANDIN_GUARD_VAR_(glue(qemu_standin_guard, __COUNTER__), (x))

#define WITH_QEMU_LOCK_GUARD_(x, var)                                   \
    for (QEMU_STANDIN_GUARD_VAR_(var, x); var;                          \
         qemu_mutex_unlock(var), var = NULL)

#define WITH_QEMU_LOCK_GUARD(x) \
    WITH_QEMU_LOCK_GUARD_((x), glue(qemu_standin_guard, __COUNTER__))

#endif /* QEMU_LOCKABLE_H */
