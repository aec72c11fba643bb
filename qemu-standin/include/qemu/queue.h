/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/queue.h: the intrusive lists the
 * mapcache and the stand-in use, with QEMU's names and semantics, written
 * for this project (each list below keeps its own simple representation).
 *
 * QLIST: doubly linked list; an element is removed without the head.
 * QSIMPLEQ: singly linked queue with O(1) insertion at the tail.
 * QTAILQ: doubly linked queue with first and last pointers.
 */

#ifndef QEMU_SYS_QUEUE_H
#define QEMU_SYS_QUEUE_H

/*
 * QLIST: each element points at the next one and at the pointer that
 * points at it (the head's or the previous element's), so it can unlink
 * itself.
 */
#define QLIST_HEAD(name, type)                                          \
    struct name {                                                       \
        struct type *lh_first;                                          \
    }

#define QLIST_HEAD_INITIALIZER(head) { NULL }

#define QLIST_ENTRY(type)                                               \
    struct {                                                            \
        struct type *le_next;                                           \
        struct type **le_prev;                                          \
    }

#define QLIST_INIT(head) ((head)->lh_first = NULL)
#define QLIST_EMPTY(head) ((head)->lh_first == NULL)
#define QLIST_FIRST(head) ((head)->lh_first)
#define QLIST_NEXT(elm, field) ((elm)->field.le_next)
#define QLIST_IS_INSERTED(elm, field) ((elm)->field.le_prev != NULL)

#define QLIST_INSERT_HEAD(head, elm, field) do {                        \
        (elm)->field.le_next = (head)->lh_first;                        \
        if ((elm)->field.le_next) {                                     \
            (elm)->field.le_next->field.le_prev = &(elm)->field.le_next; \
        }                                                               \
        (head)->lh_first = (elm);                                       \
        (elm)->field.le_prev = &(head)->lh_first;                       \
    } while (0)

#define QLIST_REMOVE(elm, field) do {                                   \
        if ((elm)->field.le_next) {                                     \
            (elm)->field.le_next->field.le_prev = (elm)->field.le_prev; \
        }                                                               \
        *(elm)->field.le_prev = (elm)->field.le_next;                   \
        (elm)->field.le_next = NULL;                                    \
        (elm)->field.le_prev = NULL;                                    \
    } while (0)

#define QLIST_FOREACH(var, head, field)                                 \
    for ((var) = (head)->lh_first; (var); (var) = (var)->field.le_next)

#define QLIST_FOREACH_SAFE(var, head, field, next_var)                  \
    for ((var) = (head)->lh_first;                                      \
         (var) && ((next_var) = (var)->field.le_next, 1);               \
         (var) = (next_var))

/*
 * QSIMPLEQ: the head also points at the link field to fill next (the
 * head's own first pointer when the queue is empty).
 */
#define QSIMPLEQ_HEAD(name, type)                                       \
    struct name {                                                       \
        struct type *sqh_first;                                         \
        struct type **sqh_last;                                         \
    }

#define QSIMPLEQ_HEAD_INITIALIZER(head) { NULL, &(head).sqh_first }

#define QSIMPLEQ_ENTRY(type)                                            \
    struct {                                                            \
        struct type *sqe_next;                                          \
    }

#define QSIMPLEQ_INIT(head) do {                                        \
        (head)->sqh_first = NULL;                                       \
        (head)->sqh_last = &(head)->sqh_first;                          \
    } while (0)

#define QSIMPLEQ_EMPTY(head) ((head)->sqh_first == NULL)
#define QSIMPLEQ_FIRST(head) ((head)->sqh_first)
#define QSIMPLEQ_NEXT(elm, field) ((elm)->field.sqe_next)

#define QSIMPLEQ_INSERT_TAIL(head, elm, field) do {                     \
        (elm)->field.sqe_next = NULL;                                   \
        *(head)->sqh_last = (elm);                                      \
        (head)->sqh_last = &(elm)->field.sqe_next;                      \
    } while (0)

#define QSIMPLEQ_REMOVE_HEAD(head, field) do {                          \
        (head)->sqh_first = (head)->sqh_first->field.sqe_next;          \
        if (!(head)->sqh_first) {                                       \
            (head)->sqh_last = &(head)->sqh_first;                      \
        }                                                               \
    } while (0)

/* Move every element of @src to the tail of @dst; @src ends empty. */
#define QSIMPLEQ_CONCAT(dst, src) do {                                  \
        if (!QSIMPLEQ_EMPTY(src)) {                                     \
            *(dst)->sqh_last = (src)->sqh_first;                        \
            (dst)->sqh_last = (src)->sqh_last;                          \
            QSIMPLEQ_INIT(src);                                         \
        }                                                               \
    } while (0)

#define QSIMPLEQ_FOREACH_SAFE(var, head, field, next_var)               \
    for ((var) = (head)->sqh_first;                                     \
         (var) && ((next_var) = (var)->field.sqe_next, 1);              \
         (var) = (next_var))

/*
 * QTAILQ: the head points at the first and the last element; each
 * element at its neighbours (NULL at the ends).  An element is on a
 * queue when it is the first or has a previous one.
 */
#define QTAILQ_HEAD(name, type)                                         \
    struct name {                                                       \
        struct type *tqh_first;                                         \
        struct type *tqh_last;                                          \
    }

#define QTAILQ_HEAD_INITIALIZER(head) { NULL, NULL }

#define QTAILQ_ENTRY(type)                                              \
    struct {                                                            \
        struct type *tqe_next;                                          \
        struct type *tqe_prev;                                          \
    }

#define QTAILQ_INIT(head) do {                                          \
        (head)->tqh_first = NULL;                                       \
        (head)->tqh_last = NULL;                                        \
    } while (0)

#define QTAILQ_EMPTY(head) ((head)->tqh_first == NULL)
#define QTAILQ_FIRST(head) ((head)->tqh_first)
#define QTAILQ_LAST(head) ((head)->tqh_last)
#define QTAILQ_NEXT(elm, field) ((elm)->field.tqe_next)
#define QTAILQ_PREV(elm, field) ((elm)->field.tqe_prev)

#define QTAILQ_INSERT_TAIL(head, elm, field) do {                       \
        (elm)->field.tqe_next = NULL;                                   \
        (elm)->field.tqe_prev = (head)->tqh_last;                       \
        if ((head)->tqh_last) {                                         \
            (head)->tqh_last->field.tqe_next = (elm);                   \
        } else {                                                        \
            (head)->tqh_first = (elm);                                  \
        }                                                               \
        (head)->tqh_last = (elm);                                       \
    } while (0)

#define QTAILQ_REMOVE(head, elm, field) do {                            \
        if ((elm)->field.tqe_next) {                                    \
            (elm)->field.tqe_next->field.tqe_prev = (elm)->field.tqe_prev; \
        } else {                                                        \
            (head)->tqh_last = (elm)->field.tqe_prev;                   \
        }                                                               \
        if ((elm)->field.tqe_prev) {                                    \
            (elm)->field.tqe_prev->field.tqe_next = (elm)->field.tqe_next; \
        } else {                                                        \
            (head)->tqh_first = (elm)->field.tqe_next;                  \
        }                                                               \
        (elm)->field.tqe_next = NULL;                                   \
        (elm)->field.tqe_prev = NULL;                                   \
    } while (0)

#define QTAILQ_FOREACH(var, head, field)                                \
    for ((var) = (head)->tqh_first; (var); (var) = (var)->field.tqe_next)

#define QTAILQ_FOREACH_SAFE(var, head, field, next_var)                 \
    for ((var) = (head)->tqh_first;                                     \
         (var) && ((next_var) = (var)->field.tqe_next, 1);              \
         (var) = (next_var))

#endif /* QEMU_SYS_QUEUE_H */
