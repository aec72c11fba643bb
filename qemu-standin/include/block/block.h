/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's block/block.h.
 */

#ifndef BLOCK_H
#define BLOCK_H

#include "block/block-global-state.h"

#endif /* BLOCK_H */
