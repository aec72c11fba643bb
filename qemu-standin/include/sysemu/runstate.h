/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's sysemu/runstate.h.  runstate_check() is
 * defined by the test's stubs.
 */

#ifndef SYSEMU_RUNSTATE_H
#define SYSEMU_RUNSTATE_H

#include "qapi/qapi-types-run-state.h"

/* Whether the VM is in @state. */
bool runstate_check(RunState state);

#endif /* SYSEMU_RUNSTATE_H */
