/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's util/qemu-error.c and util/error.c:
 * messages on stderr, prefixed with the program name, and the minimal
 * Error object.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"

struct Error {
    char *msg;
    const char *src;
    const char *func;
    int line;
};

Error *error_abort;
Error *error_fatal;

int error_vprintf(const char *fmt, va_list ap)
{
    return vfprintf(stderr, fmt, ap);
}

int error_printf(const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = error_vprintf(fmt, ap);
    va_end(ap);
    return ret;
}

static void report(const char *prefix, const char *fmt, va_list ap)
{
    const char *prgname = g_get_prgname();
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);

    /* One write, so that messages from several threads do not mix. */
    fprintf(stderr, "%s%s%s%s\n", prgname ? prgname : "",
            prgname ? ": " : "", prefix, msg);
}

void error_vreport(const char *fmt, va_list ap)
{
    report("", fmt, ap);
}

void warn_vreport(const char *fmt, va_list ap)
{
    report("warning: ", fmt, ap);
}

void info_vreport(const char *fmt, va_list ap)
{
    report("info: ", fmt, ap);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    warn_vreport(fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    info_vreport(fmt, ap);
    va_end(ap);
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

void error_free(Error *err)
{
    if (err) {
        g_free(err->msg);
        g_free(err);
    }
}

void error_report_err(Error *err)
{
    error_report("%s", error_get_pretty(err));
    error_free(err);
}

/* &error_abort and &error_fatal make an error fatal where it is set. */
static void error_handle(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        error_report("unexpected error at %s:%d (%s): %s",
                     err->src, err->line, err->func, err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
    if (errp) {
        assert(*errp == NULL);
        *errp = err;
    } else {
        error_free(err);
    }
}

void error_setg_internal(Error **errp,
                         const char *src, int line, const char *func,
                         const char *fmt, ...)
{
    Error *err = g_new0(Error, 1);
    va_list ap;

    va_start(ap, fmt);
    err->msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    err->src = src;
    err->line = line;
    err->func = func;
    error_handle(errp, err);
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (local_err) {
        error_handle(dst_errp, local_err);
    }
}
