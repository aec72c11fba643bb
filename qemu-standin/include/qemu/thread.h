/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/thread.h: mutexes, condition
 * variables, semaphores, events and threads over POSIX threads.  Any
 * failure of the underlying call is fatal, as in QEMU.
 */

#ifndef QEMU_THREAD_H
#define QEMU_THREAD_H

#include <pthread.h>
#include "qemu/atomic.h"

typedef struct QemuCond QemuCond;
typedef struct QemuSemaphore QemuSemaphore;
typedef struct QemuEvent QemuEvent;
typedef struct QemuThread QemuThread;

struct QemuMutex {
    pthread_mutex_t lock;
    bool initialized;
};

struct QemuCond {
    pthread_cond_t cond;
    bool initialized;
};

struct QemuSemaphore {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned int count;
    bool initialized;
};

struct QemuEvent {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool set;
    bool initialized;
};

struct QemuThread {
    pthread_t thread;
};

#define QEMU_THREAD_JOINABLE 0
#define QEMU_THREAD_DETACHED 1

void qemu_mutex_init(QemuMutex *mutex);
void qemu_mutex_destroy(QemuMutex *mutex);
int qemu_mutex_trylock_impl(QemuMutex *mutex, const char *file,
                            const int line);
void qemu_mutex_lock_impl(QemuMutex *mutex, const char *file, const int line);
void qemu_mutex_unlock_impl(QemuMutex *mutex, const char *file,
                            const int line);

#define qemu_mutex_lock(m) \
            qemu_mutex_lock_impl(m, __FILE__, __LINE__)
/* Returns 0 when the mutex was taken, -EBUSY when it is held. */
#define qemu_mutex_trylock(m) \
            qemu_mutex_trylock_impl(m, __FILE__, __LINE__)
#define qemu_mutex_unlock(m) \
            qemu_mutex_unlock_impl(m, __FILE__, __LINE__)

/* The same as functions, for taking their address. */
static inline void (qemu_mutex_lock)(QemuMutex *mutex)
{
    qemu_mutex_lock(mutex);
}

static inline int (qemu_mutex_trylock)(QemuMutex *mutex)
{
    return qemu_mutex_trylock(mutex);
}

static inline void (qemu_mutex_unlock)(QemuMutex *mutex)
{
    qemu_mutex_unlock(mutex);
}

void qemu_cond_init(QemuCond *cond);
void qemu_cond_destroy(QemuCond *cond);
void qemu_cond_signal(QemuCond *cond);
void qemu_cond_broadcast(QemuCond *cond);
void qemu_cond_wait_impl(QemuCond *cond, QemuMutex *mutex,
                         const char *file, const int line);
bool qemu_cond_timedwait_impl(QemuCond *cond, QemuMutex *mutex, int ms,
                              const char *file, const int line);

#define qemu_cond_wait(c, m) \
            qemu_cond_wait_impl(c, m, __FILE__, __LINE__)
/* Returns true if the timeout (@ms milliseconds) has not expired. */
#define qemu_cond_timedwait(c, m, ms) \
            qemu_cond_timedwait_impl(c, m, ms, __FILE__, __LINE__)

static inline void (qemu_cond_wait)(QemuCond *cond, QemuMutex *mutex)
{
    qemu_cond_wait(cond, mutex);
}

static inline bool (qemu_cond_timedwait)(QemuCond *cond, QemuMutex *mutex,
                                         int ms)
{
    return qemu_cond_timedwait(cond, mutex, ms);
}

void qemu_sem_init(QemuSemaphore *sem, int init);
void qemu_sem_post(QemuSemaphore *sem);
void qemu_sem_wait(QemuSemaphore *sem);
void qemu_sem_destroy(QemuSemaphore *sem);

void qemu_event_init(QemuEvent *ev, bool init);
void qemu_event_set(QemuEvent *ev);
void qemu_event_reset(QemuEvent *ev);
void qemu_event_wait(QemuEvent *ev);
void qemu_event_destroy(QemuEvent *ev);

/*
 * Start @start_routine(@arg) in a new thread named @name (visible in
 * debuggers, truncated to 15 characters); @mode is QEMU_THREAD_JOINABLE
 * or QEMU_THREAD_DETACHED.  The thread is not registered with RCU: it
 * must call rcu_register_thread() itself before reading under
 * rcu_read_lock().
 */
void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *),
                        void *arg, int mode);
void *qemu_thread_join(QemuThread *thread);
void qemu_thread_get_self(QemuThread *thread);
bool qemu_thread_is_self(QemuThread *thread);
G_NORETURN void qemu_thread_exit(void *retval);

#endif /* QEMU_THREAD_H */
