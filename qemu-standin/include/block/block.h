/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Standalone stand-in for QEMU's block/block.h.
 */

#ifndef BLOCK_H
#define BLOCK_H

#include "block/block-global-state.h"

#endif /* BLOCK_H */
