/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxenstore.so.4: the tree of fxh-xs.c.
 * Transactions always commit; permissions are not kept.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "fxh-core.h"

#define H(xsh) ((FxhXs *)(xsh))

struct xs_handle *xs_open(unsigned long flags)
{
    fxh_init();
    return (struct xs_handle *)fxh_xs_open();
}

void xs_close(struct xs_handle *xsh)
{
    fxh_xs_close(H(xsh));
}

struct xs_handle *xs_daemon_open(void)
{
    return xs_open(0);
}

void xs_daemon_close(struct xs_handle *xsh)
{
    fxh_xs_close(H(xsh));
}

int xs_fileno(struct xs_handle *h)
{
    return fxh_xs_fileno(H(h));
}

char **xs_directory(struct xs_handle *h, xs_transaction_t t,
                    const char *path, unsigned int *num)
{
    return fxh_xs_directory(H(h), path, num);
}

void *xs_read(struct xs_handle *h, xs_transaction_t t, const char *path,
              unsigned int *len)
{
    return fxh_xs_read(H(h), path, len);
}

bool xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
              const void *data, unsigned int len)
{
    return fxh_xs_write(H(h), path, data, len);
}

bool xs_mkdir(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    return fxh_xs_mkdir(H(h), path);
}

bool xs_rm(struct xs_handle *h, xs_transaction_t t, const char *path)
{
    return fxh_xs_rm(H(h), path);
}

bool xs_set_permissions(struct xs_handle *h, xs_transaction_t t,
                        const char *path, struct xs_permissions *perms,
                        unsigned int num_perms)
{
    return true;
}

bool xs_watch(struct xs_handle *h, const char *path, const char *token)
{
    return fxh_xs_watch(H(h), path, token);
}

bool xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
    return fxh_xs_unwatch(H(h), path, token);
}

char **xs_check_watch(struct xs_handle *h)
{
    return fxh_xs_read_watch(H(h), NULL, false);
}

char **xs_read_watch(struct xs_handle *h, unsigned int *num)
{
    return fxh_xs_read_watch(H(h), num, true);
}

xs_transaction_t xs_transaction_start(struct xs_handle *h)
{
    return 1;
}

bool xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort)
{
    return true;
}

char *xs_get_domain_path(struct xs_handle *h, unsigned int domid)
{
    char *p;

    if (asprintf(&p, "/local/domain/%u", domid) < 0) {
        return NULL;
    }
    return p;
}
