/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qapi/error.h: the Error ** convention,
 * with &error_abort and &error_fatal, reduced to what the stand-in and
 * the tests use.
 */

#ifndef ERROR_H
#define ERROR_H

/* Human-readable message of @err, without a trailing newline. */
const char *error_get_pretty(const Error *err);

/*
 * Set *@errp to a new error with a printf-style message.  With
 * &error_abort the message is printed and the program aborts; with
 * &error_fatal it is printed and the program exits with status 1.
 */
#define error_setg(errp, fmt, ...)                              \
    error_setg_internal((errp), __FILE__, __LINE__, __func__,   \
                        (fmt), ## __VA_ARGS__)
void error_setg_internal(Error **errp,
                         const char *src, int line, const char *func,
                         const char *fmt, ...)
    G_GNUC_PRINTF(5, 6);

void error_propagate(Error **dst_errp, Error *local_err);
void error_free(Error *err);
void error_report_err(Error *err);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Error, error_free)

extern Error *error_abort;
extern Error *error_fatal;

#endif /* ERROR_H */
