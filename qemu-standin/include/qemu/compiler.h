/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 * Copyright (c) 2026 The xen-mapcache authors
 *
 * Standalone stand-in for QEMU's qemu/compiler.h: compiler attributes and
 * the small macros QEMU code expects everywhere.
 */

#ifndef COMPILER_H
#define COMPILER_H

#define HOST_BIG_ENDIAN (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)

/* HOST_LONG_BITS is the size of a native pointer in bits. */
#define HOST_LONG_BITS (__SIZEOF_POINTER__ * 8)

#define QEMU_PACKED __attribute__((packed))
#define QEMU_ALIGNED(X) __attribute__((aligned(X)))

#define xglue(x, y) x ## y
#define glue(x, y) xglue(x, y)
#define stringify(s) tostring(s)
#define tostring(s) #s

#ifndef likely
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#ifndef container_of
#define container_of(ptr, type, member) ({                          \
        const typeof(((type *) 0)->member) *__mptr = (ptr);         \
        (type *) ((char *) __mptr - offsetof(type, member)); })
#endif

#define sizeof_field(type, field) sizeof(((type *)0)->field)
#define typeof_field(type, field) typeof(((type *)0)->field)

/*
 * The type of expr without const/volatile: a cast yields an rvalue, whose
 * type is unqualified.  Only for scalars and pointers, which is what the
 * atomic helpers need.
 */
#define typeof_strip_qual(expr) typeof((typeof(expr))(expr))

#define QEMU_BUILD_BUG_MSG(x, msg) _Static_assert(!(x), msg)
#define QEMU_BUILD_BUG_ON(x) QEMU_BUILD_BUG_MSG(x, "not expecting: " #x)

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define QEMU_SANITIZE_ADDRESS 1
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define QEMU_SANITIZE_THREAD 1
#endif

#define QEMU_ALWAYS_INLINE __attribute__((always_inline))
#define QEMU_FLATTEN __attribute__((flatten))
#define QEMU_FALLTHROUGH __attribute__((fallthrough))
#define QEMU_ANNOTATE(x)

/*
 * In QEMU a call to this fails to link unless the optimiser removed it;
 * here it is a plain runtime check, which is enough for a stand-in.
 */
#define qemu_build_not_reached() g_assert_not_reached()

#endif /* COMPILER_H */
