/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's block/block-global-state.h.  The stand-in
 * has no block layer: the definition of bdrv_drain_all() is the test's
 * (tests/unit/test-xen-mapcache-stubs.c), as it would be in a QEMU test
 * that does not link the block layer.
 */

#ifndef BLOCK_GLOBAL_STATE_H
#define BLOCK_GLOBAL_STATE_H

/* Wait for every in-flight block request to complete. */
void bdrv_drain_all(void);

#endif /* BLOCK_GLOBAL_STATE_H */
