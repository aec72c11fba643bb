/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated host's libxenevtchn.so.1: event channels on real file
 * descriptors (fxh-core.c).
 */

#include <errno.h>
#include <xenevtchn.h>

#include "fxh-core.h"

#define H(xce) ((FxhEvtchn *)(xce))

xenevtchn_handle *xenevtchn_open(struct xentoollog_logger *logger,
                                 unsigned int open_flags)
{
    fxh_init();
    return (xenevtchn_handle *)fxh_evtchn_open();
}

int xenevtchn_close(xenevtchn_handle *xce)
{
    fxh_evtchn_close(H(xce));
    return 0;
}

int xenevtchn_fd(xenevtchn_handle *xce)
{
    return fxh_evtchn_fd(H(xce));
}

int xenevtchn_notify(xenevtchn_handle *xce, evtchn_port_t port)
{
    return fxh_evtchn_notify(H(xce), port);
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle *xce,
                                                     uint32_t domid,
                                                     evtchn_port_t remote)
{
    return fxh_evtchn_bind(H(xce), remote);
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle *xce,
                                                      uint32_t domid)
{
    errno = ENOSYS;
    return -1;
}

int xenevtchn_unbind(xenevtchn_handle *xce, evtchn_port_t port)
{
    return fxh_evtchn_unbind(H(xce), port);
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle *xce)
{
    return fxh_evtchn_pending(H(xce));
}

int xenevtchn_unmask(xenevtchn_handle *xce, evtchn_port_t port)
{
    return fxh_evtchn_unmask(H(xce), port);
}

int xenevtchn_restrict(xenevtchn_handle *xce, domid_t domid)
{
    return 0;
}
