/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The guest side of the end-to-end tests: a QEMU under the simulated
 * Xen host (fake-xen-host/), and the guest's drivers played from this
 * process through the host's control socket (fxh-protocol.h).
 */

#ifndef E2E_H
#define E2E_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fxh-protocol.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

/* One QEMU under the simulated host, and what it did */

typedef enum DmOutcome {
    QEMU_RUNNING,
    QEMU_EXITED,            /* status: exit code */
    QEMU_SIGNALED,          /* status: signal number */
} DmOutcome;

typedef struct DmOpts {
    const char *qemu;       /* the binary */
    const char *host_dir;   /* where the fake libraries are */
    const char *run_dir;    /* sockets, logs, the image */
    const char *image;
    const char *image_ahci; /* a disk on AHCI port 0 too, or NULL */
    uint64_t ram_mb;
    const char *machine;    /* NULL: xenfv, as libxl starts HVM guests */
    const char *machine_extra;  /* appended to -machine, or NULL */
    const char *accel;      /* -accel xen,ACCEL if not NULL */
    bool iothread;
    bool unprivileged;      /* setpriv to nobody */
    uint64_t rlimit_as;     /* prlimit --as, 0: none */
    unsigned int queue_size;
    unsigned int smp;       /* vCPUs, 0: QEMU's default */
    bool vga;               /* -device VGA, as libxl's stdvga */
    const char *incoming;   /* -incoming URI: a domain being restored */
    /* take over the domain an earlier QEMU left: its two memfds */
    bool restore;
    int domain_fds[2];
} DmOpts;

typedef struct DeviceModel {
    DmOpts opts;
    pid_t pid;
    int sock;               /* the host's control socket */
    char log_path[512];
    char sock_path[512];
    char qmp_path[512];
    int ram_fd;             /* kept: a new QEMU can take the domain over */
    int p2m_fd;
    uint8_t *ram;
    uint64_t ram_bytes;
    const uint32_t *p2m;
    uint64_t nr_gfns;
    DmOutcome outcome;
    int status;
} DeviceModel;

int qemu_start(DeviceModel *q, const DmOpts *opts);
/* On SIGTERM, SIGINT, SIGHUP: kill the running QEMU, then die. */
void qemu_reap_on_signals(void);
/* Poll the child without blocking: true once it has gone. */
bool qemu_gone(DeviceModel *q);
/* Wait up to @ms for it to go: true if it has. */
bool qemu_wait_gone(DeviceModel *q, int ms);
/* The outcome in words, e.g. "aborted: <assertion>". */
void qemu_describe(DeviceModel *q, char *buf, size_t len);
/* The first line of the log that matches @needle, or "". */
void qemu_log_find(DeviceModel *q, const char *needle, char *buf, size_t len);
/* One QMP command (JSON); its answer in @reply; 0 if it returned. */
int qemu_qmp(DeviceModel *q, const char *cmd, char *reply, size_t len,
             int timeout_ms);
int qemu_quit(DeviceModel *q, int timeout_ms);
void qemu_kill(DeviceModel *q);

/* The control protocol */

int host_call(DeviceModel *q, FxhMsg *m);
int host_stats(DeviceModel *q, uint64_t stats[FXH_STAT__MAX]);
int host_xs_read(DeviceModel *q, const char *path, char *buf, size_t len);

/* Guest RAM, as the guest sees it */

void *gpa_ptr(DeviceModel *q, uint64_t gpa);
void guest_write(DeviceModel *q, uint64_t gpa, const void *buf, size_t len);
void guest_read(DeviceModel *q, uint64_t gpa, void *buf, size_t len);

/* The vCPU's accesses: ioreqs */

int mmio_read(DeviceModel *q, uint64_t addr, unsigned int size, uint32_t *val);
int mmio_write(DeviceModel *q, uint64_t addr, unsigned int size, uint32_t val);
int pio_read(DeviceModel *q, uint16_t port, unsigned int size, uint32_t *val);
int pio_write(DeviceModel *q, uint16_t port, unsigned int size, uint32_t val);
int pio_write_buffered(DeviceModel *q, uint16_t port, unsigned int size,
                       uint32_t val);
/* A config cycle as Xen sends it: IOREQ_TYPE_PCI_CONFIG, on @vcpu. */
int pci_cfg_read_xen(DeviceModel *q, unsigned int vcpu, unsigned int dev,
                     unsigned int reg, unsigned int size, uint32_t *val);
int pci_cfg_read(DeviceModel *q, unsigned int dev, unsigned int reg,
                 unsigned int size, uint32_t *val);
int pci_cfg_write(DeviceModel *q, unsigned int dev, unsigned int reg,
                  unsigned int size, uint32_t val);

/* PCI */

typedef struct PciDev {
    unsigned int slot;
    uint16_t vendor;
    uint16_t device;
    uint32_t bar[6];        /* assigned addresses, 0 if none */
    bool bar_io[6];
} PciDev;

/* Enumerate bus 0, assign BARs; return the number of devices found. */
int pci_enumerate(DeviceModel *q, PciDev *devs, int max);

/* virtio-blk, legacy interface */

typedef struct BlkReq {
    bool write;
    uint64_t sector;
    uint32_t len;
    uint64_t gpa;           /* of the data buffer */
    uint64_t t_submit;      /* ns */
    uint64_t t_done;
    uint8_t status;
    bool done;
} BlkReq;

typedef struct VirtioBlk {
    DeviceModel *q;
    uint16_t io;            /* legacy I/O BAR */
    uint16_t qsize;
    uint64_t ring_gpa;
    uint64_t used_off;
    uint16_t avail_idx;
    uint16_t used_seen;
    uint64_t irq_seen;
    uint64_t capacity;      /* sectors */
    BlkReq *inflight[1024];
    bool buffered_kick;     /* kick with a buffered ioreq */
    bool modern;            /* the virtio 1.0 interface, on BAR 4 */
    uint64_t common;        /* modern: the capabilities' addresses */
    uint64_t notify;
    uint64_t isr;
} VirtioBlk;

#define VBLK_MAX_DEPTH 128

/* AHCI, port 0, NCQ */

typedef struct Ahci {
    DeviceModel *q;
    uint64_t abar;
    unsigned int slots;
    uint64_t irq_seen;
    BlkReq *inflight[32];
} Ahci;

int ahci_init(Ahci *a, DeviceModel *q, const PciDev *dev);
/* Run @n requests with up to @depth NCQ tags in flight; 0 or -errno. */
int ahci_run(Ahci *a, BlkReq *reqs, int n, int depth,
             void (*mid)(void *), void *opaque);

int vblk_init(VirtioBlk *d, DeviceModel *q, const PciDev *dev);
/* The same device, reset and brought up on its modern interface. */
int vblk_init_modern(VirtioBlk *d, DeviceModel *q, const PciDev *dev);
/* Modern only: queue 0 on MSI-X vector 0 (@on), or back on INTx. */
int vblk_msix(VirtioBlk *d, const PciDev *dev, bool on);
/* Run @n requests keeping up to @depth in flight; 0 or -errno. */
int vblk_run(VirtioBlk *d, BlkReq *reqs, int n, int depth,
             void (*mid)(void *), void *opaque);

uint64_t now_ns(void);

#endif /* E2E_H */
