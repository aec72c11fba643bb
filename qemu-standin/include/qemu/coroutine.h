/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/coroutine.h.  Only the core API
 * (qemu/coroutine-core.h) is provided.
 */

#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include "qemu/coroutine-core.h"

#endif /* QEMU_COROUTINE_H */
