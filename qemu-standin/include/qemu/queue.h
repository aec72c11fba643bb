/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Standalone stand-in for QEMU's qemu/queue.h: intrusive lists, with
 * QEMU's names and semantics.
 *
 * QLIST: doubly linked list, O(1) removal without the head.
 * QSLIST: singly linked list.
 * QSIMPLEQ: singly linked tail queue (O(1) insertion at the tail).
 * QTAILQ: doubly linked tail queue, walkable in both directions.
 *
 * Removal (QLIST_REMOVE, QTAILQ_REMOVE) clears the element's links, so
 * that QLIST_IS_INSERTED() and QTAILQ_IN_USE() tell whether an element
 * is on a list.
 */

#ifndef QEMU_SYS_QUEUE_H
#define QEMU_SYS_QUEUE_H

/*
 * QLIST
 */
#define QLIST_HEAD(name, type)                                          \
struct name {                                                           \
    struct type *lh_first;                                              \
}

#define QLIST_HEAD_INITIALIZER(head) { NULL }

#define QLIST_ENTRY(type)                                               \
struct {                                                                \
    struct type *le_next;   /* next element */                          \
    struct type **le_prev;  /* the pointer that points to this one */   \
}

#define QLIST_INIT(head) do {                                           \
    (head)->lh_first = NULL;                                            \
} while (0)

#define QLIST_FIRST(head)       ((head)->lh_first)
#define QLIST_EMPTY(head)       ((head)->lh_first == NULL)
#define QLIST_NEXT(elm, field)  ((elm)->field.le_next)
#define QLIST_IS_INSERTED(elm, field) ((elm)->field.le_prev != NULL)

#define QLIST_INSERT_HEAD(head, elm, field) do {                        \
    (elm)->field.le_next = (head)->lh_first;                            \
    if ((elm)->field.le_next != NULL) {                                 \
        (head)->lh_first->field.le_prev = &(elm)->field.le_next;        \
    }                                                                   \
    (head)->lh_first = (elm);                                           \
    (elm)->field.le_prev = &(head)->lh_first;                           \
} while (0)

#define QLIST_INSERT_AFTER(listelm, elm, field) do {                    \
    (elm)->field.le_next = (listelm)->field.le_next;                    \
    if ((elm)->field.le_next != NULL) {                                 \
        (listelm)->field.le_next->field.le_prev =                       \
            &(elm)->field.le_next;                                      \
    }                                                                   \
    (listelm)->field.le_next = (elm);                                   \
    (elm)->field.le_prev = &(listelm)->field.le_next;                   \
} while (0)

#define QLIST_INSERT_BEFORE(listelm, elm, field) do {                   \
    (elm)->field.le_prev = (listelm)->field.le_prev;                    \
    (elm)->field.le_next = (listelm);                                   \
    *(listelm)->field.le_prev = (elm);                                  \
    (listelm)->field.le_prev = &(elm)->field.le_next;                   \
} while (0)

#define QLIST_REMOVE(elm, field) do {                                   \
    if ((elm)->field.le_next != NULL) {                                 \
        (elm)->field.le_next->field.le_prev = (elm)->field.le_prev;     \
    }                                                                   \
    *(elm)->field.le_prev = (elm)->field.le_next;                       \
    (elm)->field.le_next = NULL;                                        \
    (elm)->field.le_prev = NULL;                                        \
} while (0)

/* Like QLIST_REMOVE, but a no-op when @elm is on no list. */
#define QLIST_SAFE_REMOVE(elm, field) do {                              \
    if ((elm)->field.le_prev != NULL) {                                 \
        QLIST_REMOVE(elm, field);                                       \
    }                                                                   \
} while (0)

#define QLIST_SWAP(dstlist, srclist, field) do {                        \
    void *tmplist = (srclist)->lh_first;                                \
    (srclist)->lh_first = (dstlist)->lh_first;                          \
    if ((srclist)->lh_first != NULL) {                                  \
        (srclist)->lh_first->field.le_prev = &(srclist)->lh_first;      \
    }                                                                   \
    (dstlist)->lh_first = tmplist;                                      \
    if ((dstlist)->lh_first != NULL) {                                  \
        (dstlist)->lh_first->field.le_prev = &(dstlist)->lh_first;      \
    }                                                                   \
} while (0)

#define QLIST_FOREACH(var, head, field)                                 \
    for ((var) = (head)->lh_first;                                      \
         (var);                                                         \
         (var) = (var)->field.le_next)

/* @var may be removed (and freed) inside the loop. */
#define QLIST_FOREACH_SAFE(var, head, field, next_var)                  \
    for ((var) = (head)->lh_first;                                      \
         (var) && ((next_var) = (var)->field.le_next, 1);               \
         (var) = (next_var))

/*
 * QSLIST
 */
#define QSLIST_HEAD(name, type)                                         \
struct name {                                                           \
    struct type *slh_first;                                             \
}

#define QSLIST_HEAD_INITIALIZER(head) { NULL }

#define QSLIST_ENTRY(type)                                              \
struct {                                                                \
    struct type *sle_next;                                              \
}

#define QSLIST_INIT(head) do {                                          \
    (head)->slh_first = NULL;                                           \
} while (0)

#define QSLIST_FIRST(head)      ((head)->slh_first)
#define QSLIST_EMPTY(head)      ((head)->slh_first == NULL)
#define QSLIST_NEXT(elm, field) ((elm)->field.sle_next)

#define QSLIST_INSERT_HEAD(head, elm, field) do {                       \
    (elm)->field.sle_next = (head)->slh_first;                          \
    (head)->slh_first = (elm);                                          \
} while (0)

#define QSLIST_INSERT_AFTER(slistelm, elm, field) do {                  \
    (elm)->field.sle_next = (slistelm)->field.sle_next;                 \
    (slistelm)->field.sle_next = (elm);                                 \
} while (0)

#define QSLIST_REMOVE_HEAD(head, field) do {                            \
    typeof((head)->slh_first) elm = (head)->slh_first;                  \
    (head)->slh_first = elm->field.sle_next;                            \
    elm->field.sle_next = NULL;                                         \
} while (0)

#define QSLIST_REMOVE_AFTER(slistelm, field) do {                       \
    typeof(slistelm) next = (slistelm)->field.sle_next;                 \
    (slistelm)->field.sle_next = next->field.sle_next;                  \
    next->field.sle_next = NULL;                                        \
} while (0)

#define QSLIST_REMOVE(head, elm, type, field) do {                      \
    if ((head)->slh_first == (elm)) {                                   \
        QSLIST_REMOVE_HEAD((head), field);                              \
    } else {                                                            \
        struct type *curelm = (head)->slh_first;                        \
        while (curelm->field.sle_next != (elm)) {                       \
            curelm = curelm->field.sle_next;                            \
        }                                                               \
        QSLIST_REMOVE_AFTER(curelm, field);                             \
    }                                                                   \
} while (0)

#define QSLIST_FOREACH(var, head, field)                                \
    for ((var) = (head)->slh_first; (var); (var) = (var)->field.sle_next)

#define QSLIST_FOREACH_SAFE(var, head, field, tvar)                     \
    for ((var) = (head)->slh_first;                                     \
         (var) && ((tvar) = (var)->field.sle_next, 1);                  \
         (var) = (tvar))

/*
 * QSIMPLEQ
 */
#define QSIMPLEQ_HEAD(name, type)                                       \
struct name {                                                           \
    struct type *sqh_first;     /* first element */                     \
    struct type **sqh_last;     /* the last element's next pointer */   \
}

#define QSIMPLEQ_HEAD_INITIALIZER(head) { NULL, &(head).sqh_first }

#define QSIMPLEQ_ENTRY(type)                                            \
struct {                                                                \
    struct type *sqe_next;                                              \
}

#define QSIMPLEQ_INIT(head) do {                                        \
    (head)->sqh_first = NULL;                                           \
    (head)->sqh_last = &(head)->sqh_first;                              \
} while (0)

#define QSIMPLEQ_FIRST(head)        ((head)->sqh_first)
#define QSIMPLEQ_EMPTY(head)        ((head)->sqh_first == NULL)
#define QSIMPLEQ_EMPTY_ATOMIC(head) \
    (qatomic_read(&((head)->sqh_first)) == NULL)
#define QSIMPLEQ_NEXT(elm, field)   ((elm)->field.sqe_next)

#define QSIMPLEQ_INSERT_HEAD(head, elm, field) do {                     \
    (elm)->field.sqe_next = (head)->sqh_first;                          \
    if ((elm)->field.sqe_next == NULL) {                                \
        (head)->sqh_last = &(elm)->field.sqe_next;                      \
    }                                                                   \
    (head)->sqh_first = (elm);                                          \
} while (0)

#define QSIMPLEQ_INSERT_TAIL(head, elm, field) do {                     \
    (elm)->field.sqe_next = NULL;                                       \
    *(head)->sqh_last = (elm);                                          \
    (head)->sqh_last = &(elm)->field.sqe_next;                          \
} while (0)

#define QSIMPLEQ_INSERT_AFTER(head, listelm, elm, field) do {           \
    (elm)->field.sqe_next = (listelm)->field.sqe_next;                  \
    if ((elm)->field.sqe_next == NULL) {                                \
        (head)->sqh_last = &(elm)->field.sqe_next;                      \
    }                                                                   \
    (listelm)->field.sqe_next = (elm);                                  \
} while (0)

#define QSIMPLEQ_REMOVE_HEAD(head, field) do {                          \
    typeof((head)->sqh_first) elm = (head)->sqh_first;                  \
    (head)->sqh_first = elm->field.sqe_next;                            \
    if ((head)->sqh_first == NULL) {                                    \
        (head)->sqh_last = &(head)->sqh_first;                          \
    }                                                                   \
    elm->field.sqe_next = NULL;                                         \
} while (0)

#define QSIMPLEQ_REMOVE(head, elm, type, field) do {                    \
    if ((head)->sqh_first == (elm)) {                                   \
        QSIMPLEQ_REMOVE_HEAD((head), field);                            \
    } else {                                                            \
        struct type *curelm = (head)->sqh_first;                        \
        while (curelm->field.sqe_next != (elm)) {                       \
            curelm = curelm->field.sqe_next;                            \
        }                                                               \
        curelm->field.sqe_next = (elm)->field.sqe_next;                 \
        if (curelm->field.sqe_next == NULL) {                           \
            (head)->sqh_last = &curelm->field.sqe_next;                 \
        }                                                               \
        (elm)->field.sqe_next = NULL;                                   \
    }                                                                   \
} while (0)

/* Move every element of @head up to and including @elm to @removed. */
#define QSIMPLEQ_SPLIT_AFTER(head, elm, field, removed) do {            \
    QSIMPLEQ_INIT(removed);                                             \
    (removed)->sqh_first = (head)->sqh_first;                           \
    (removed)->sqh_last = &(elm)->field.sqe_next;                       \
    (head)->sqh_first = (elm)->field.sqe_next;                          \
    if ((head)->sqh_first == NULL) {                                    \
        (head)->sqh_last = &(head)->sqh_first;                          \
    }                                                                   \
    (elm)->field.sqe_next = NULL;                                       \
} while (0)

/* Append @head2 to @head1; @head2 is left empty. */
#define QSIMPLEQ_CONCAT(head1, head2) do {                              \
    if (!QSIMPLEQ_EMPTY((head2))) {                                     \
        *(head1)->sqh_last = (head2)->sqh_first;                        \
        (head1)->sqh_last = (head2)->sqh_last;                          \
        QSIMPLEQ_INIT((head2));                                         \
    }                                                                   \
} while (0)

/* Prepend @head2 to @head1; @head2 is left empty. */
#define QSIMPLEQ_PREPEND(head1, head2) do {                             \
    if (!QSIMPLEQ_EMPTY((head2))) {                                     \
        *(head2)->sqh_last = (head1)->sqh_first;                        \
        if (QSIMPLEQ_EMPTY((head1))) {                                  \
            (head1)->sqh_last = (head2)->sqh_last;                      \
        }                                                               \
        (head1)->sqh_first = (head2)->sqh_first;                        \
        QSIMPLEQ_INIT((head2));                                         \
    }                                                                   \
} while (0)

#define QSIMPLEQ_LAST(head, type, field)                                \
    (QSIMPLEQ_EMPTY((head)) ? NULL :                                    \
        container_of((head)->sqh_last, struct type, field.sqe_next))

#define QSIMPLEQ_FOREACH(var, head, field)                              \
    for ((var) = ((head)->sqh_first);                                   \
         (var);                                                         \
         (var) = ((var)->field.sqe_next))

#define QSIMPLEQ_FOREACH_SAFE(var, head, field, next)                   \
    for ((var) = ((head)->sqh_first);                                   \
         (var) && ((next) = ((var)->field.sqe_next), 1);                \
         (var) = (next))

/*
 * QTAILQ
 *
 * Every head and entry holds a QTailQLink.  tql_prev of an element points
 * at the link of the element before it (the head's link for the first
 * one); tql_prev of the head points at the link of the last element (at
 * itself when empty).  Following tql_prev twice and then tql_next gets
 * from a link to the element before it, whatever the element type, which
 * is how QTAILQ_LAST() and QTAILQ_PREV() need no type name.
 */
typedef struct QTailQLink {
    void *tql_next;
    struct QTailQLink *tql_prev;
} QTailQLink;

#define QTAILQ_HEAD(name, type)                                         \
union name {                                                            \
    struct type *tqh_first;                                             \
    QTailQLink tqh_circ;                                                \
}

#define QTAILQ_HEAD_INITIALIZER(head)                                   \
    { .tqh_circ = { NULL, &(head).tqh_circ } }

#define QTAILQ_ENTRY(type)                                              \
union {                                                                 \
    struct type *tqe_next;                                              \
    QTailQLink tqe_circ;                                                \
}

#define QTAILQ_INIT(head) do {                                          \
    (head)->tqh_first = NULL;                                           \
    (head)->tqh_circ.tql_prev = &(head)->tqh_circ;                      \
} while (0)

#define QTAILQ_EMPTY(head)          ((head)->tqh_first == NULL)
#define QTAILQ_FIRST(head)          ((head)->tqh_first)
#define QTAILQ_NEXT(elm, field)     ((elm)->field.tqe_next)
#define QTAILQ_IN_USE(elm, field)   ((elm)->field.tqe_circ.tql_prev != NULL)

#define QTAILQ_LINK_PREV(link)      ((link).tql_prev->tql_prev->tql_next)
#define QTAILQ_LAST(head)                                               \
    ((typeof((head)->tqh_first)) QTAILQ_LINK_PREV((head)->tqh_circ))
#define QTAILQ_PREV(elm, field)                                         \
    ((typeof((elm)->field.tqe_next)) QTAILQ_LINK_PREV((elm)->field.tqe_circ))

#define QTAILQ_INSERT_HEAD(head, elm, field) do {                       \
    (elm)->field.tqe_next = (head)->tqh_first;                          \
    if ((elm)->field.tqe_next != NULL) {                                \
        (head)->tqh_first->field.tqe_circ.tql_prev =                    \
            &(elm)->field.tqe_circ;                                     \
    } else {                                                            \
        (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;             \
    }                                                                   \
    (head)->tqh_first = (elm);                                          \
    (elm)->field.tqe_circ.tql_prev = &(head)->tqh_circ;                 \
} while (0)

#define QTAILQ_INSERT_TAIL(head, elm, field) do {                       \
    (elm)->field.tqe_next = NULL;                                       \
    (elm)->field.tqe_circ.tql_prev = (head)->tqh_circ.tql_prev;         \
    (head)->tqh_circ.tql_prev->tql_next = (elm);                        \
    (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;                 \
} while (0)

#define QTAILQ_INSERT_AFTER(head, listelm, elm, field) do {             \
    (elm)->field.tqe_next = (listelm)->field.tqe_next;                  \
    if ((elm)->field.tqe_next != NULL) {                                \
        (elm)->field.tqe_next->field.tqe_circ.tql_prev =                \
            &(elm)->field.tqe_circ;                                     \
    } else {                                                            \
        (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;             \
    }                                                                   \
    (listelm)->field.tqe_next = (elm);                                  \
    (elm)->field.tqe_circ.tql_prev = &(listelm)->field.tqe_circ;        \
} while (0)

#define QTAILQ_INSERT_BEFORE(listelm, elm, field) do {                  \
    (elm)->field.tqe_circ.tql_prev = (listelm)->field.tqe_circ.tql_prev; \
    (elm)->field.tqe_next = (listelm);                                  \
    (listelm)->field.tqe_circ.tql_prev->tql_next = (elm);               \
    (listelm)->field.tqe_circ.tql_prev = &(elm)->field.tqe_circ;        \
} while (0)

#define QTAILQ_REMOVE(head, elm, field) do {                            \
    if ((elm)->field.tqe_next != NULL) {                                \
        (elm)->field.tqe_next->field.tqe_circ.tql_prev =                \
            (elm)->field.tqe_circ.tql_prev;                             \
    } else {                                                            \
        (head)->tqh_circ.tql_prev = (elm)->field.tqe_circ.tql_prev;     \
    }                                                                   \
    (elm)->field.tqe_circ.tql_prev->tql_next = (elm)->field.tqe_next;   \
    (elm)->field.tqe_circ.tql_prev = NULL;                              \
    (elm)->field.tqe_circ.tql_next = NULL;                              \
} while (0)

/* Remove the elements from @left to @right included (a contiguous run). */
#define QTAILQ_REMOVE_SEVERAL(head, left, right, field) do {            \
    if ((right)->field.tqe_next != NULL) {                              \
        (right)->field.tqe_next->field.tqe_circ.tql_prev =              \
            (left)->field.tqe_circ.tql_prev;                            \
    } else {                                                            \
        (head)->tqh_circ.tql_prev = (left)->field.tqe_circ.tql_prev;    \
    }                                                                   \
    (left)->field.tqe_circ.tql_prev->tql_next = (right)->field.tqe_next; \
} while (0)

#define QTAILQ_FOREACH(var, head, field)                                \
    for ((var) = ((head)->tqh_first);                                   \
         (var);                                                         \
         (var) = ((var)->field.tqe_next))

#define QTAILQ_FOREACH_SAFE(var, head, field, next_var)                 \
    for ((var) = ((head)->tqh_first);                                   \
         (var) && ((next_var) = ((var)->field.tqe_next), 1);            \
         (var) = (next_var))

#define QTAILQ_FOREACH_REVERSE(var, head, field)                        \
    for ((var) = QTAILQ_LAST(head);                                     \
         (var);                                                         \
         (var) = QTAILQ_PREV(var, field))

#define QTAILQ_FOREACH_REVERSE_SAFE(var, head, field, prev_var)         \
    for ((var) = QTAILQ_LAST(head);                                     \
         (var) && ((prev_var) = QTAILQ_PREV(var, field), 1);            \
         (var) = (prev_var))

#endif /* QEMU_SYS_QUEUE_H */
