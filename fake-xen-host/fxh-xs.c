/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's xenstore: a tree in memory, watches, no
 * permissions.  Relative paths live under /local/domain/0, as for a
 * device model in dom0.  Each handle has a pipe that holds one byte per
 * queued watch event, so its fd is readable exactly while events wait
 * (QEMU 7.2 calls the blocking xs_read_watch() from an fd handler).
 * A new watch fires once at once, as xenstored's do.
 *
 * Locking: xs_lock protects the tree, the watch list and every handle's
 * event queue.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xenstore.h>

#include "fxh-core.h"

struct FxhXs {
    int rfd;
    int wfd;
    GQueue events;              /* of XsEvent */
};

typedef struct XsEvent {
    char *path;
    char *token;
} XsEvent;

typedef struct XsWatch {
    FxhXs *owner;
    char *path;
    char *token;
} XsWatch;

static pthread_mutex_t xs_lock = PTHREAD_MUTEX_INITIALIZER;
static GHashTable *xs_tree;     /* absolute path -> value (GBytes) */
static GList *xs_watches;

static char *xs_abs(const char *path)
{
    if (path[0] == '/') {
        return g_strdup(path);
    }
    return g_strdup_printf("/local/domain/0/%s", path);
}

static bool path_under(const char *path, const char *top)
{
    size_t n = strlen(top);

    return !strncmp(path, top, n) && (path[n] == 0 || path[n] == '/' ||
                                       !strcmp(top, "/"));
}

static void xs_tree_init_locked(void)
{
    if (!xs_tree) {
        xs_tree = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_bytes_unref);
    }
}

static void event_queue_locked(FxhXs *h, const char *path,
                               const char *token)
{
    XsEvent *ev = g_new(XsEvent, 1);
    char byte = 0;

    ev->path = g_strdup(path);
    ev->token = g_strdup(token);
    g_queue_push_tail(&h->events, ev);
    if (write(h->wfd, &byte, 1) != 1) {
        abort();
    }
}

/* Fire the watches on @path, its parents included. */
static void watches_fire_locked(const char *path)
{
    for (GList *l = xs_watches; l; l = l->next) {
        XsWatch *w = l->data;

        if (path_under(path, w->path)) {
            event_queue_locked(w->owner, path, w->token);
        }
    }
}

/* Give @path and its parents a node, as xenstored does. */
static void node_set_locked(const char *path, GBytes *value)
{
    g_autofree char *parent = g_path_get_dirname(path);

    if (strcmp(parent, path) && strcmp(parent, "/") &&
        !g_hash_table_contains(xs_tree, parent)) {
        node_set_locked(parent, g_bytes_new("", 0));
    }
    g_hash_table_replace(xs_tree, g_strdup(path), value);
}

FxhXs *fxh_xs_open(void)
{
    FxhXs *h = g_new0(FxhXs, 1);
    int fds[2];

    if (pipe2(fds, O_CLOEXEC)) {
        g_free(h);
        return NULL;
    }
    h->rfd = fds[0];
    h->wfd = fds[1];
    g_queue_init(&h->events);
    return h;
}

void fxh_xs_close(FxhXs *h)
{
    GList *l, *next;
    XsEvent *ev;

    if (!h) {
        return;
    }
    pthread_mutex_lock(&xs_lock);
    for (l = xs_watches; l; l = next) {
        XsWatch *w = l->data;

        next = l->next;
        if (w->owner == h) {
            xs_watches = g_list_delete_link(xs_watches, l);
            g_free(w->path);
            g_free(w->token);
            g_free(w);
        }
    }
    while ((ev = g_queue_pop_head(&h->events))) {
        g_free(ev->path);
        g_free(ev->token);
        g_free(ev);
    }
    pthread_mutex_unlock(&xs_lock);
    close(h->rfd);
    close(h->wfd);
    g_free(h);
}

int fxh_xs_fileno(FxhXs *h)
{
    return h->rfd;
}

char *fxh_xs_read(FxhXs *h, const char *path, unsigned int *len)
{
    g_autofree char *abs = xs_abs(path);
    GBytes *v;
    char *ret = NULL;
    gsize n;

    pthread_mutex_lock(&xs_lock);
    xs_tree_init_locked();
    v = g_hash_table_lookup(xs_tree, abs);
    if (v) {
        const void *data = g_bytes_get_data(v, &n);

        ret = malloc(n + 1);
        memcpy(ret, data, n);
        ret[n] = 0;
        if (len) {
            *len = n;
        }
    }
    pthread_mutex_unlock(&xs_lock);
    if (!ret) {
        errno = ENOENT;
    }
    return ret;
}

bool fxh_xs_write(FxhXs *h, const char *path, const void *data,
                  unsigned int len)
{
    g_autofree char *abs = xs_abs(path);

    pthread_mutex_lock(&xs_lock);
    xs_tree_init_locked();
    node_set_locked(abs, g_bytes_new(data, len));
    watches_fire_locked(abs);
    pthread_mutex_unlock(&xs_lock);
    fxh_log("xs write %s = %.*s", abs, (int)len, (const char *)data);
    return true;
}

bool fxh_xs_mkdir(FxhXs *h, const char *path)
{
    g_autofree char *abs = xs_abs(path);

    pthread_mutex_lock(&xs_lock);
    xs_tree_init_locked();
    if (!g_hash_table_contains(xs_tree, abs)) {
        node_set_locked(abs, g_bytes_new("", 0));
        watches_fire_locked(abs);
    }
    pthread_mutex_unlock(&xs_lock);
    return true;
}

bool fxh_xs_rm(FxhXs *h, const char *path)
{
    g_autofree char *abs = xs_abs(path);
    GHashTableIter it;
    gpointer key;

    pthread_mutex_lock(&xs_lock);
    xs_tree_init_locked();
    g_hash_table_iter_init(&it, xs_tree);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (path_under(key, abs)) {
            g_hash_table_iter_remove(&it);
        }
    }
    watches_fire_locked(abs);
    pthread_mutex_unlock(&xs_lock);
    return true;
}

/* The children of @path, as one malloc()ed block the caller frees. */
char **fxh_xs_directory(FxhXs *h, const char *path, unsigned int *num)
{
    g_autofree char *abs = xs_abs(path);
    g_autoptr(GHashTable) names = g_hash_table_new(g_str_hash, g_str_equal);
    size_t n = strlen(abs), bytes = 0;
    GHashTableIter it;
    gpointer key;
    char **ret, *p;
    unsigned int i = 0;
    bool found;

    pthread_mutex_lock(&xs_lock);
    xs_tree_init_locked();
    found = g_hash_table_contains(xs_tree, abs);
    g_hash_table_iter_init(&it, xs_tree);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        const char *k = key;

        if (!strncmp(k, abs, n) && k[n] == '/' && !strchr(k + n + 1, '/')) {
            g_hash_table_add(names, (char *)k + n + 1);
            bytes += strlen(k + n + 1) + 1;
        }
    }
    ret = malloc((g_hash_table_size(names) + 1) * sizeof(char *) + bytes);
    p = (char *)(ret + g_hash_table_size(names) + 1);
    g_hash_table_iter_init(&it, names);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        ret[i++] = strcpy(p, key);
        p += strlen(key) + 1;
    }
    ret[i] = NULL;
    pthread_mutex_unlock(&xs_lock);
    *num = i;
    if (!found && !i) {
        free(ret);
        errno = ENOENT;
        return NULL;
    }
    return ret;
}

bool fxh_xs_watch(FxhXs *h, const char *path, const char *token)
{
    XsWatch *w = g_new(XsWatch, 1);

    w->owner = h;
    w->path = path[0] == '@' ? g_strdup(path) : xs_abs(path);
    w->token = g_strdup(token);
    pthread_mutex_lock(&xs_lock);
    xs_watches = g_list_append(xs_watches, w);
    event_queue_locked(h, path, token);
    pthread_mutex_unlock(&xs_lock);
    fxh_log("xs watch %s token %s", w->path, token);
    return true;
}

bool fxh_xs_unwatch(FxhXs *h, const char *path, const char *token)
{
    g_autofree char *abs = path[0] == '@' ? g_strdup(path) : xs_abs(path);
    bool found = false;

    pthread_mutex_lock(&xs_lock);
    for (GList *l = xs_watches; l; l = l->next) {
        XsWatch *w = l->data;

        if (w->owner == h && !strcmp(w->path, abs) &&
            !strcmp(w->token, token)) {
            xs_watches = g_list_delete_link(xs_watches, l);
            g_free(w->path);
            g_free(w->token);
            g_free(w);
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&xs_lock);
    return found;
}

/* One event as { path, token } in one malloc()ed block, or NULL. */
char **fxh_xs_read_watch(FxhXs *h, unsigned int *num, bool block)
{
    struct pollfd pfd = { .fd = h->rfd, .events = POLLIN };
    XsEvent *ev;
    char **ret, byte;
    size_t lp, lt;

    if (!block && poll(&pfd, 1, 0) != 1) {
        errno = EAGAIN;
        return NULL;
    }
    if (read(h->rfd, &byte, 1) != 1) {
        return NULL;
    }
    pthread_mutex_lock(&xs_lock);
    ev = g_queue_pop_head(&h->events);
    pthread_mutex_unlock(&xs_lock);
    if (!ev) {
        errno = EAGAIN;
        return NULL;
    }
    lp = strlen(ev->path) + 1;
    lt = strlen(ev->token) + 1;
    ret = malloc(2 * sizeof(char *) + lp + lt);
    ret[XS_WATCH_PATH] = memcpy((char *)(ret + 2), ev->path, lp);
    ret[XS_WATCH_TOKEN] = memcpy((char *)(ret + 2) + lp, ev->token, lt);
    if (num) {
        *num = 2;
    }
    g_free(ev->path);
    g_free(ev->token);
    g_free(ev);
    return ret;
}
