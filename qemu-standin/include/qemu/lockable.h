/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Standalone stand-in for QEMU's qemu/lockable.h: scoped lock guards.
 * Only QemuMutex is a lockable here (QEMU also accepts its other lock
 * types).
 *
 *   QEMU_LOCK_GUARD(&m);           held until the end of the scope
 *   WITH_QEMU_LOCK_GUARD(&m) {     held for the block
 *       ...
 *   }
 */

#ifndef QEMU_LOCKABLE_H
#define QEMU_LOCKABLE_H

#include "qemu/thread.h"

typedef void QemuLockUnlockFunc(void *);

typedef struct QemuLockable {
    void *object;
    QemuLockUnlockFunc *lock;
    QemuLockUnlockFunc *unlock;
} QemuLockable;

static inline void qemu_lockable_mutex_lock(void *x)
{
    qemu_mutex_lock(x);
}

static inline void qemu_lockable_mutex_unlock(void *x)
{
    qemu_mutex_unlock(x);
}

/* A NULL lock makes a NULL lockable, and the guards then do nothing. */
static inline QEMU_ALWAYS_INLINE QemuLockable *
qemu_make_lockable(void *x, QemuLockable *lockable)
{
    return x ? lockable : NULL;
}

#define QML_OBJ_(x, name) (&(QemuLockable) {            \
        .object = (x),                                  \
        .lock = qemu_lockable_ ## name ## _lock,        \
        .unlock = qemu_lockable_ ## name ## _unlock     \
    })

#define QEMU_MAKE_LOCKABLE(x)                                           \
    _Generic((x), QemuLockable *: (x),                                  \
             QemuMutex *: qemu_make_lockable(x, QML_OBJ_(x, mutex)))

#define QEMU_MAKE_LOCKABLE_NONNULL(x)                                   \
    _Generic((x), QemuLockable *: (x),                                  \
             QemuMutex *: QML_OBJ_(x, mutex))

static inline void qemu_lockable_lock(QemuLockable *x)
{
    x->lock(x->object);
}

static inline void qemu_lockable_unlock(QemuLockable *x)
{
    x->unlock(x->object);
}

static inline QemuLockable *qemu_lockable_auto_lock(QemuLockable *x)
{
    if (x) {
        qemu_lockable_lock(x);
    }
    return x;
}

static inline void qemu_lockable_auto_unlock(QemuLockable *x)
{
    if (x) {
        qemu_lockable_unlock(x);
    }
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(QemuLockable, qemu_lockable_auto_unlock)

#define WITH_QEMU_LOCK_GUARD_(x, var)                                   \
    for (g_autoptr(QemuLockable) var =                                  \
             qemu_lockable_auto_lock(QEMU_MAKE_LOCKABLE_NONNULL((x)));  \
         var;                                                           \
         qemu_lockable_auto_unlock(var), var = NULL)

#define WITH_QEMU_LOCK_GUARD(x) \
    WITH_QEMU_LOCK_GUARD_((x), glue(qemu_lockable_auto, __COUNTER__))

#define QEMU_LOCK_GUARD(x)                                      \
    g_autoptr(QemuLockable)                                     \
    glue(qemu_lockable_auto, __COUNTER__) G_GNUC_UNUSED =       \
        qemu_lockable_auto_lock(QEMU_MAKE_LOCKABLE((x)))

#endif /* QEMU_LOCKABLE_H */
