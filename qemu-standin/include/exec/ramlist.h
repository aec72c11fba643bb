/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's exec/ramlist.h: the RAM block notifiers.
 * Defined by the test's stubs, as QEMU's system emulator is not linked.
 */

#ifndef QEMU_EXEC_RAMLIST_H
#define QEMU_EXEC_RAMLIST_H

void ram_block_notify_add(void *host, size_t size, size_t max_size);
void ram_block_notify_remove(void *host, size_t size, size_t max_size);

#endif /* QEMU_EXEC_RAMLIST_H */
