/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The entry points of a libFuzzer target, which libFuzzer's main() or
 * the replay main() of fuzz/xen-mapcache-fuzz-replay.c call.
 */

#ifndef XEN_MAPCACHE_FUZZ_H
#define XEN_MAPCACHE_FUZZ_H

/* Once, before the first input; may change the arguments.  Returns 0. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* One input; returns 0, and aborts on a failure. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* XEN_MAPCACHE_FUZZ_H */
