/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/qemu-thread-posix.c: QEMU's thread
 * primitives over POSIX threads.  As in QEMU, a failing pthread call, or
 * the use of an uninitialised object, is fatal.
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/thread.h"

static G_NORETURN void thread_fail(int err, const char *what)
{
    error_report("qemu-thread: %s: %s", what, strerror(err));
    abort();
}

static void thread_check(int err, const char *what)
{
    if (err) {
        thread_fail(err, what);
    }
}

void qemu_mutex_init(QemuMutex *mutex)
{
    thread_check(pthread_mutex_init(&mutex->lock, NULL),
                 "pthread_mutex_init");
    mutex->initialized = true;
}

void qemu_mutex_destroy(QemuMutex *mutex)
{
    assert(mutex->initialized);
    mutex->initialized = false;
    thread_check(pthread_mutex_destroy(&mutex->lock),
                 "pthread_mutex_destroy");
}

void qemu_mutex_lock_impl(QemuMutex *mutex, const char *file, const int line)
{
    assert(mutex->initialized);
    thread_check(pthread_mutex_lock(&mutex->lock), "pthread_mutex_lock");
}

int qemu_mutex_trylock_impl(QemuMutex *mutex, const char *file,
                            const int line)
{
    int err;

    assert(mutex->initialized);
    err = pthread_mutex_trylock(&mutex->lock);
    if (err == EBUSY) {
        return -EBUSY;
    }
    thread_check(err, "pthread_mutex_trylock");
    return 0;
}

void qemu_mutex_unlock_impl(QemuMutex *mutex, const char *file,
                            const int line)
{
    assert(mutex->initialized);
    thread_check(pthread_mutex_unlock(&mutex->lock), "pthread_mutex_unlock");
}

void qemu_cond_init(QemuCond *cond)
{
    pthread_condattr_t attr;

    thread_check(pthread_condattr_init(&attr), "pthread_condattr_init");
    thread_check(pthread_condattr_setclock(&attr, CLOCK_MONOTONIC),
                 "pthread_condattr_setclock");
    thread_check(pthread_cond_init(&cond->cond, &attr), "pthread_cond_init");
    pthread_condattr_destroy(&attr);
    cond->initialized = true;
}

void qemu_cond_destroy(QemuCond *cond)
{
    assert(cond->initialized);
    cond->initialized = false;
    thread_check(pthread_cond_destroy(&cond->cond), "pthread_cond_destroy");
}

void qemu_cond_signal(QemuCond *cond)
{
    assert(cond->initialized);
    thread_check(pthread_cond_signal(&cond->cond), "pthread_cond_signal");
}

void qemu_cond_broadcast(QemuCond *cond)
{
    assert(cond->initialized);
    thread_check(pthread_cond_broadcast(&cond->cond),
                 "pthread_cond_broadcast");
}

void qemu_cond_wait_impl(QemuCond *cond, QemuMutex *mutex,
                         const char *file, const int line)
{
    assert(cond->initialized);
    thread_check(pthread_cond_wait(&cond->cond, &mutex->lock),
                 "pthread_cond_wait");
}

bool qemu_cond_timedwait_impl(QemuCond *cond, QemuMutex *mutex, int ms,
                              const char *file, const int line)
{
    struct timespec ts;
    int err;

    assert(cond->initialized);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    err = pthread_cond_timedwait(&cond->cond, &mutex->lock, &ts);
    if (err != ETIMEDOUT) {
        thread_check(err, "pthread_cond_timedwait");
    }
    return err != ETIMEDOUT;
}

void qemu_sem_init(QemuSemaphore *sem, int init)
{
    assert(init >= 0);
    thread_check(pthread_mutex_init(&sem->lock, NULL), "pthread_mutex_init");
    thread_check(pthread_cond_init(&sem->cond, NULL), "pthread_cond_init");
    sem->count = init;
    sem->initialized = true;
}

void qemu_sem_destroy(QemuSemaphore *sem)
{
    assert(sem->initialized);
    sem->initialized = false;
    pthread_cond_destroy(&sem->cond);
    pthread_mutex_destroy(&sem->lock);
}

void qemu_sem_post(QemuSemaphore *sem)
{
    assert(sem->initialized);
    pthread_mutex_lock(&sem->lock);
    sem->count++;
    pthread_cond_signal(&sem->cond);
    pthread_mutex_unlock(&sem->lock);
}

void qemu_sem_wait(QemuSemaphore *sem)
{
    assert(sem->initialized);
    pthread_mutex_lock(&sem->lock);
    while (sem->count == 0) {
        pthread_cond_wait(&sem->cond, &sem->lock);
    }
    sem->count--;
    pthread_mutex_unlock(&sem->lock);
}

void qemu_event_init(QemuEvent *ev, bool init)
{
    thread_check(pthread_mutex_init(&ev->lock, NULL), "pthread_mutex_init");
    thread_check(pthread_cond_init(&ev->cond, NULL), "pthread_cond_init");
    ev->set = init;
    ev->initialized = true;
}

void qemu_event_destroy(QemuEvent *ev)
{
    assert(ev->initialized);
    ev->initialized = false;
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
}

void qemu_event_set(QemuEvent *ev)
{
    assert(ev->initialized);
    pthread_mutex_lock(&ev->lock);
    ev->set = true;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

void qemu_event_reset(QemuEvent *ev)
{
    assert(ev->initialized);
    pthread_mutex_lock(&ev->lock);
    ev->set = false;
    pthread_mutex_unlock(&ev->lock);
}

void qemu_event_wait(QemuEvent *ev)
{
    assert(ev->initialized);
    pthread_mutex_lock(&ev->lock);
    while (!ev->set) {
        pthread_cond_wait(&ev->cond, &ev->lock);
    }
    pthread_mutex_unlock(&ev->lock);
}

void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *),
                        void *arg, int mode)
{
    char short_name[16];

    thread_check(pthread_create(&thread->thread, NULL, start_routine, arg),
                 "pthread_create");
    if (name) {
        g_strlcpy(short_name, name, sizeof(short_name));
        pthread_setname_np(thread->thread, short_name);
    }
    if (mode == QEMU_THREAD_DETACHED) {
        thread_check(pthread_detach(thread->thread), "pthread_detach");
    }
}

void *qemu_thread_join(QemuThread *thread)
{
    void *ret;

    thread_check(pthread_join(thread->thread, &ret), "pthread_join");
    return ret;
}

void qemu_thread_get_self(QemuThread *thread)
{
    thread->thread = pthread_self();
}

bool qemu_thread_is_self(QemuThread *thread)
{
    return pthread_equal(pthread_self(), thread->thread);
}

void qemu_thread_exit(void *retval)
{
    pthread_exit(retval);
}
