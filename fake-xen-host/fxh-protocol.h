/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The control protocol of the simulated Xen host: what the guest side
 * (a test process of its own) asks of the host that lives inside QEMU's
 * process.  One SOCK_SEQPACKET unix socket, whose path the host takes
 * from FAKE_XEN_HOST_SOCKET; every request is one FxhMsg, every answer
 * one FxhMsg.  The answer to FXH_OP_HELLO carries two file descriptors
 * (SCM_RIGHTS): the guest RAM memfd and the p2m memfd (one uint32_t per
 * gfn: the page of the RAM memfd that backs it, or FXH_P2M_INVALID).
 * The guest side maps both and reads and writes guest RAM itself.
 *
 * The domain outlives its device model, as on Xen: a host started with
 * FAKE_XEN_HOST_RAM_FD and FAKE_XEN_HOST_P2M_FD (inherited descriptors
 * of an earlier host's two memfds) takes its guest RAM and p2m as they
 * are, which is how a test restores a domain into a new QEMU.
 */

#ifndef FXH_PROTOCOL_H
#define FXH_PROTOCOL_H

#include <stdint.h>

#define FXH_P2M_INVALID     UINT32_MAX
#define FXH_PAGE_SHIFT      12
#define FXH_PAGE_SIZE       (1u << FXH_PAGE_SHIFT)

typedef enum FxhOp {
    /* -> a[0] RAM bytes, a[1] p2m entries, a[2] RAM gfns; and 2 fds */
    FXH_OP_HELLO = 1,
    /*
     * a[0] type, a[1] dir, a[2] addr, a[3] data, a[4] size, a[5] count,
     * a[6] data_is_ptr, a[7] timeout ms, vcpu; -> a[3] data
     */
    FXH_OP_IOREQ,
    /* a[0] type, a[2] addr (20 bits), a[3] data, a[4] size: a write */
    FXH_OP_BUFIOREQ,
    /* a[0] events seen, a[7] timeout ms; -> a[0] INTx raised + MSIs */
    FXH_OP_WAIT_IRQ,
    /* an IOREQ_TYPE_INVALIDATE on vCPU 0 */
    FXH_OP_INVALIDATE,
    /* a[0] gfn, a[1] count: balloon out, then invalidate, as Xen does */
    FXH_OP_DECREASE,
    /* a[0] gfn, a[1] count: balloon back in */
    FXH_OP_POPULATE,
    /* -> a[] in FxhStat order */
    FXH_OP_STATS,
    /* peak foreign bytes := live now */
    FXH_OP_RESET_PEAK,
    /* text: path -> text: value (status -ENOENT) */
    FXH_OP_XS_READ,
    /* text: "path\0value" */
    FXH_OP_XS_WRITE,
} FxhOp;

typedef enum FxhStat {
    FXH_STAT_MAP_CALLS,     /* xenforeignmemory_map/map2 calls */
    FXH_STAT_PAGES_MAPPED,  /* pages those calls asked for */
    FXH_STAT_UNMAPS,        /* munmap()/xenforeignmemory_unmap() of ours */
    FXH_STAT_LIVE_BYTES,    /* foreign guest RAM bytes mapped now */
    FXH_STAT_PEAK_BYTES,    /* ... at most, since start or RESET_PEAK */
    FXH_STAT_PAGE_ERRORS,   /* pages answered with an error in err[] */
    FXH_STAT_INTX_RAISED,   /* set_pci_intx_level(1) / isa irq raised */
    FXH_STAT_MSIS,          /* inject_msi calls */
    FXH_STAT_IOREQS,        /* ioreqs answered by QEMU */
    FXH_STAT_RELOCATED,     /* frames moved by relocate_memory */
    FXH_STAT_POPULATED,     /* frames populated by QEMU */
    FXH_STAT_MAPPED_OVER,   /* our ranges replaced by MAP_FIXED maps */
    FXH_STAT_FIXED_MAPS,    /* map calls with MAP_FIXED (a replace) */
    FXH_STAT__MAX,
} FxhStat;

#define FXH_TEXT_MAX        256

typedef struct FxhMsg {
    uint32_t op;
    int32_t status;         /* answer: 0 or -errno */
    uint32_t vcpu;
    uint32_t text_len;
    uint64_t a[16];
    char text[FXH_TEXT_MAX];
} FxhMsg;

#endif /* FXH_PROTOCOL_H */
