/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * What the fake Xen hypervisor does for the standalone tests only (the
 * stress test, the fuzz driver, the benchmark and tests/standalone/): a
 * registry of ranges readers are using, and the kernel's budget.  It hooks
 * into the fake through fake_xen_hooks; test-xen-mapcache-fake-xen.h
 * includes this header in the standalone build.
 */

#ifndef FAKE_XEN_EXTRA_H
#define FAKE_XEN_EXTRA_H

/*
 * The kernel's side: from now on a xenforeignmemory_map2() or grant map
 * call that would take the live bytes past @bytes, or the live ranges
 * past @ranges, fails with ENOMEM (NULL, errno), counted in
 * budget_failures.  A MAP_FIXED mapping is charged net of the ranges it
 * replaces.  0 means unlimited; fake_xen_init() sets both to 0.  Dummies
 * the mapcache maps with plain mmap() are not the fake's and not counted.
 */
void fake_xen_set_budget(uint64_t bytes, uint64_t ranges);

/*
 * Reader registry: a reader declares [@p, @p + @len) in use; until the
 * matching fake_xen_reader_exit(), any unmap of, MAP_FIXED mapping over,
 * or new mapping returned over an overlapping range is a violation
 * (FakeXenStats.violations).  Returns a token for fake_xen_reader_exit().
 * May be called before fake_xen_init().
 */
int fake_xen_reader_enter(const void *p, size_t len);
void fake_xen_reader_exit(int token);

#endif /* FAKE_XEN_EXTRA_H */
