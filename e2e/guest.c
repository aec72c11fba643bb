/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The guest's drivers, played from this process: port I/O and PCI
 * configuration cycles as ioreqs of vCPU 0, PCI enumeration and BAR
 * assignment, and a virtio-blk driver on the legacy interface (which
 * QEMU 7.2 and 9.2 both offer) whose completions are taken on the
 * INTx interrupt the host records.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#include "e2e.h"

#define IRQ_TIMEOUT_MS      10000

/* ioreqs */

static int ioreq(DeviceModel *q, uint8_t type, uint8_t dir, uint64_t addr,
                 unsigned int size, uint64_t *data)
{
    FxhMsg m = { .op = FXH_OP_IOREQ };
    int ret;

    m.a[0] = type;
    m.a[1] = dir;
    m.a[2] = addr;
    m.a[3] = *data;
    m.a[4] = size;
    m.a[5] = 1;
    ret = host_call(q, &m);
    *data = m.a[3];
    return ret;
}

/* MMIO as the vCPU emulates it: IOREQ_TYPE_COPY, data in the request */
int mmio_read(DeviceModel *q, uint64_t addr, unsigned int size, uint32_t *val)
{
    uint64_t data = 0;
    int ret = ioreq(q, IOREQ_TYPE_COPY, IOREQ_READ, addr, size, &data);

    *val = size == 4 ? (uint32_t)data : data & ((1u << (8 * size)) - 1);
    return ret;
}

int mmio_write(DeviceModel *q, uint64_t addr, unsigned int size, uint32_t val)
{
    uint64_t data = val;

    return ioreq(q, IOREQ_TYPE_COPY, IOREQ_WRITE, addr, size, &data);
}

int pio_read(DeviceModel *q, uint16_t port, unsigned int size, uint32_t *val)
{
    uint64_t data = 0;
    int ret = ioreq(q, IOREQ_TYPE_PIO, IOREQ_READ, port, size, &data);

    *val = size == 4 ? (uint32_t)data : data & ((1u << (8 * size)) - 1);
    return ret;
}

int pio_write(DeviceModel *q, uint16_t port, unsigned int size, uint32_t val)
{
    uint64_t data = val;

    return ioreq(q, IOREQ_TYPE_PIO, IOREQ_WRITE, port, size, &data);
}

int pio_write_buffered(DeviceModel *q, uint16_t port, unsigned int size,
                       uint32_t val)
{
    FxhMsg m = { .op = FXH_OP_BUFIOREQ };

    m.a[0] = IOREQ_TYPE_PIO;
    m.a[2] = port;
    m.a[3] = val;
    m.a[4] = size;
    return host_call(q, &m);
}

int pci_cfg_read_xen(DeviceModel *q, unsigned int vcpu, unsigned int dev,
                     unsigned int reg, unsigned int size, uint32_t *val)
{
    FxhMsg m = { .op = FXH_OP_IOREQ, .vcpu = vcpu };
    int ret;

    m.a[0] = IOREQ_TYPE_PCI_CONFIG;
    m.a[1] = IOREQ_READ;
    m.a[2] = ((uint64_t)(dev << 3) << 32) | reg;
    m.a[4] = size;
    m.a[5] = 1;
    ret = host_call(q, &m);
    *val = m.a[3];
    return ret;
}

/* Configuration cycles through 0xcf8/0xcfc, as a guest OS makes them. */
static int pci_cfg_addr(DeviceModel *q, unsigned int dev, unsigned int reg)
{
    return pio_write(q, 0xcf8, 4, 0x80000000u | (dev << 11) | (reg & 0xfc));
}

int pci_cfg_read(DeviceModel *q, unsigned int dev, unsigned int reg,
                 unsigned int size, uint32_t *val)
{
    int ret = pci_cfg_addr(q, dev, reg);

    return ret ? ret : pio_read(q, 0xcfc + (reg & 3), size, val);
}

int pci_cfg_write(DeviceModel *q, unsigned int dev, unsigned int reg,
                  unsigned int size, uint32_t val)
{
    int ret = pci_cfg_addr(q, dev, reg);

    return ret ? ret : pio_write(q, 0xcfc + (reg & 3), size, val);
}

/* PCI: bus 0, function 0 of each slot; BARs from two simple pools. */

#define PCI_IO_BASE     0xc000
#define PCI_MMIO_BASE   0xf0000000u

/* Size and place BAR @i; return 1 for a 64-bit BAR, 0, or -errno. */
static int bar_assign(DeviceModel *q, PciDev *d, int i, uint32_t *io_next,
                      uint32_t *mmio_next)
{
    unsigned int reg = 0x10 + 4 * i;
    uint32_t orig, mask, size, *next;
    bool is64;
    int ret;

    ret = pci_cfg_read(q, d->slot, reg, 4, &orig);
    ret = ret ? ret : pci_cfg_write(q, d->slot, reg, 4, 0xffffffff);
    ret = ret ? ret : pci_cfg_read(q, d->slot, reg, 4, &mask);
    if (ret || !mask) {
        return ret;
    }
    d->bar_io[i] = orig & 1;
    is64 = !d->bar_io[i] && (orig & 6) == 4;
    size = ~(mask & (d->bar_io[i] ? ~3u : ~15u)) + 1;
    if (d->bar_io[i]) {
        size &= 0xffff;
    }
    next = d->bar_io[i] ? io_next : mmio_next;
    *next = (*next + size - 1) & ~(size - 1);
    d->bar[i] = *next;
    *next += size;
    ret = pci_cfg_write(q, d->slot, reg, 4, d->bar[i]);
    if (!ret && is64) {
        ret = pci_cfg_write(q, d->slot, reg + 4, 4, 0);
    }
    return ret ? ret : is64;
}

int pci_enumerate(DeviceModel *q, PciDev *devs, int max)
{
    uint32_t io_next = PCI_IO_BASE, mmio_next = PCI_MMIO_BASE;
    int n = 0;

    for (unsigned int slot = 0; slot < 32 && n < max; slot++) {
        PciDev *d = &devs[n];
        uint32_t id, type;

        if (pci_cfg_read(q, slot, 0, 4, &id)) {
            return -EIO;
        }
        if ((id & 0xffff) == 0xffff) {
            continue;
        }
        memset(d, 0, sizeof(*d));
        d->slot = slot;
        d->vendor = id & 0xffff;
        d->device = id >> 16;
        if (pci_cfg_read(q, slot, 0x0e, 1, &type)) {
            return -EIO;
        }
        for (int i = 0; i < 6 && (type & 0x7f) == 0; i++) {
            int ret = bar_assign(q, d, i, &io_next, &mmio_next);

            if (ret < 0) {
                return -EIO;
            }
            i += ret;       /* a 64-bit BAR takes the next one too */
        }
        n++;
    }
    return n;
}

/* virtio-blk, legacy interface */

#define VIRTIO_PCI_HOST_FEATURES    0x00
#define VIRTIO_PCI_GUEST_FEATURES   0x04
#define VIRTIO_PCI_QUEUE_PFN        0x08
#define VIRTIO_PCI_QUEUE_NUM        0x0c
#define VIRTIO_PCI_QUEUE_SEL        0x0e
#define VIRTIO_PCI_QUEUE_NOTIFY     0x10
#define VIRTIO_PCI_STATUS           0x12
#define VIRTIO_PCI_ISR              0x13
#define VIRTIO_PCI_CONFIG           0x14    /* MSI-X left disabled */

#define VIRTIO_STATUS_ACK           1
#define VIRTIO_STATUS_DRIVER        2
#define VIRTIO_STATUS_DRIVER_OK     4

#define VRING_DESC_F_NEXT           1
#define VRING_DESC_F_WRITE          2

#define VIRTIO_BLK_T_IN             0
#define VIRTIO_BLK_T_OUT            1

/* Where the driver keeps its own structures in guest RAM */
#define VBLK_RING_GPA               (1 * MiB)
#define VBLK_HDR_GPA                (VBLK_RING_GPA + 64 * 1024)
#define VBLK_STATUS_GPA             (VBLK_HDR_GPA + 16 * 1024)

typedef struct VringDesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} VringDesc;

typedef struct BlkHdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
} BlkHdr;

static uint64_t avail_gpa(VirtioBlk *d)
{
    return d->ring_gpa + 16ull * d->qsize;
}

int vblk_init(VirtioBlk *d, DeviceModel *q, const PciDev *dev)
{
    uint32_t v, lo, hi;
    uint8_t zero[64 * 1024] = { 0 };
    int ret;

    memset(d, 0, sizeof(*d));
    d->q = q;
    d->io = dev->bar[0];
    d->ring_gpa = VBLK_RING_GPA;
    ret = pci_cfg_write(q, dev->slot, 0x04, 2, 0x7);   /* IO, MEM, master */
    ret = ret ? ret : pio_write(q, d->io + VIRTIO_PCI_STATUS, 1, 0);
    ret = ret ? ret : pio_write(q, d->io + VIRTIO_PCI_STATUS, 1,
                                VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
    ret = ret ? ret : pio_read(q, d->io + VIRTIO_PCI_HOST_FEATURES, 4, &v);
    ret = ret ? ret : pio_write(q, d->io + VIRTIO_PCI_GUEST_FEATURES, 4, 0);
    ret = ret ? ret : pio_read(q, d->io + VIRTIO_PCI_CONFIG, 4, &lo);
    ret = ret ? ret : pio_read(q, d->io + VIRTIO_PCI_CONFIG + 4, 4, &hi);
    ret = ret ? ret : pio_write(q, d->io + VIRTIO_PCI_QUEUE_SEL, 2, 0);
    ret = ret ? ret : pio_read(q, d->io + VIRTIO_PCI_QUEUE_NUM, 2, &v);
    if (ret) {
        return ret;
    }
    d->capacity = ((uint64_t)hi << 32) | lo;
    d->qsize = v;
    if (!v || v > 1024) {
        return -EINVAL;
    }
    d->used_off = (16ull * d->qsize + 6 + 2 * d->qsize + 4095) & ~4095ull;
    guest_write(q, d->ring_gpa, zero, sizeof(zero));
    ret = pio_write(q, d->io + VIRTIO_PCI_QUEUE_PFN, 4,
                    d->ring_gpa >> 12);
    ret = ret ? ret : pio_write(q, d->io + VIRTIO_PCI_STATUS, 1,
                                VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
                                VIRTIO_STATUS_DRIVER_OK);
    if (!ret) {
        FxhMsg m = { .op = FXH_OP_WAIT_IRQ };

        m.a[7] = 1;
        ret = host_call(q, &m) < 0 ? -EPIPE : 0;
        d->irq_seen = m.a[0];
    }
    return ret;
}

/* The modern interface: capabilities, common configuration */

#define VIRTIO_PCI_CAP_COMMON       1
#define VIRTIO_PCI_CAP_NOTIFY       2
#define VIRTIO_PCI_CAP_ISR          3
#define VIRTIO_F_VERSION_1_WORD1    (1u << 0)   /* bit 32 */
#define VIRTIO_STATUS_FEATURES_OK   8

#define VCOMMON_DFSELECT            0x00
#define VCOMMON_GFSELECT            0x08
#define VCOMMON_GF                  0x0c
#define VCOMMON_STATUS              0x14
#define VCOMMON_Q_SELECT            0x16
#define VCOMMON_Q_SIZE              0x18
#define VCOMMON_Q_ENABLE            0x1c
#define VCOMMON_Q_NOFF              0x1e
#define VCOMMON_Q_DESC              0x20
#define VCOMMON_Q_AVAIL             0x28
#define VCOMMON_Q_USED              0x30

/* Find the vendor capabilities: where common, notify and ISR live. */
static int vblk_find_caps(VirtioBlk *d, const PciDev *dev,
                          uint32_t *notify_mult)
{
    uint32_t ptr, id, type, bar, off;
    int guard = 0;

    if (pci_cfg_read(d->q, dev->slot, 0x34, 1, &ptr)) {
        return -EIO;
    }
    for (; ptr && guard < 32; guard++) {
        pci_cfg_read(d->q, dev->slot, ptr, 1, &id);
        pci_cfg_read(d->q, dev->slot, ptr + 3, 1, &type);
        pci_cfg_read(d->q, dev->slot, ptr + 4, 1, &bar);
        pci_cfg_read(d->q, dev->slot, ptr + 8, 4, &off);
        if (id == 0x09 && bar < 6) {
            uint64_t addr = dev->bar[bar] + off;

            if (type == VIRTIO_PCI_CAP_COMMON) {
                d->common = addr;
            } else if (type == VIRTIO_PCI_CAP_NOTIFY) {
                d->notify = addr;
                pci_cfg_read(d->q, dev->slot, ptr + 16, 4, notify_mult);
            } else if (type == VIRTIO_PCI_CAP_ISR) {
                d->isr = addr;
            }
        }
        pci_cfg_read(d->q, dev->slot, ptr + 1, 1, &ptr);
    }
    return d->common && d->notify && d->isr ? 0 : -ENODEV;
}

static int vcommon_write64(VirtioBlk *d, uint32_t off, uint64_t val)
{
    int ret = mmio_write(d->q, d->common + off, 4, (uint32_t)val);

    return ret ? ret : mmio_write(d->q, d->common + off + 4, 4, val >> 32);
}

int vblk_init_modern(VirtioBlk *d, DeviceModel *q, const PciDev *dev)
{
    uint8_t zero[64 * 1024] = { 0 };
    uint32_t mult = 0, noff, qsize, status;
    FxhMsg m = { .op = FXH_OP_WAIT_IRQ };
    int ret;

    memset(d, 0, sizeof(*d));
    d->q = q;
    d->modern = true;
    d->ring_gpa = VBLK_RING_GPA;
    ret = pci_cfg_write(q, dev->slot, 0x04, 2, 0x7);
    ret = ret ? ret : vblk_find_caps(d, dev, &mult);
    if (ret) {
        return ret;
    }
    ret = mmio_write(q, d->common + VCOMMON_STATUS, 1, 0);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_STATUS, 1,
                                 VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_GFSELECT, 4, 1);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_GF, 4,
                                 VIRTIO_F_VERSION_1_WORD1);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_STATUS, 1,
                                 VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
                                 VIRTIO_STATUS_FEATURES_OK);
    ret = ret ? ret : mmio_read(q, d->common + VCOMMON_STATUS, 1, &status);
    if (!ret && !(status & VIRTIO_STATUS_FEATURES_OK)) {
        return -EPROTO;
    }
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_Q_SELECT, 2, 0);
    ret = ret ? ret : mmio_read(q, d->common + VCOMMON_Q_SIZE, 2, &qsize);
    ret = ret ? ret : mmio_read(q, d->common + VCOMMON_Q_NOFF, 2, &noff);
    if (ret || !qsize || qsize > 1024) {
        return ret ? ret : -EINVAL;
    }
    d->qsize = qsize;
    d->notify += noff * mult;
    d->used_off = (16ull * d->qsize + 6 + 2 * d->qsize + 4095) & ~4095ull;
    guest_write(q, d->ring_gpa, zero, sizeof(zero));
    ret = vcommon_write64(d, VCOMMON_Q_DESC, d->ring_gpa);
    ret = ret ? ret : vcommon_write64(d, VCOMMON_Q_AVAIL, avail_gpa(d));
    ret = ret ? ret : vcommon_write64(d, VCOMMON_Q_USED,
                                      d->ring_gpa + d->used_off);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_Q_ENABLE, 2, 1);
    ret = ret ? ret : mmio_write(q, d->common + VCOMMON_STATUS, 1,
                                 VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
                                 VIRTIO_STATUS_FEATURES_OK |
                                 VIRTIO_STATUS_DRIVER_OK);
    m.a[7] = 1;
    if (!ret) {
        ret = host_call(q, &m) < 0 ? -EPIPE : 0;
        d->irq_seen = m.a[0];
    }
    d->capacity = 0;
    return ret;
}

/* MSI-X: vector 0 to the local APIC, as a guest OS programs it. */

#define PCI_CAP_MSIX                0x11
#define MSIX_ENABLE                 (1u << 15)
#define VCOMMON_Q_MSIX              0x1a
#define VIRTIO_NO_VECTOR            0xffff

int vblk_msix(VirtioBlk *d, const PciDev *dev, bool on)
{
    uint32_t ptr, id, ctrl, table, vec;
    int guard = 0, ret;

    if (pci_cfg_read(d->q, dev->slot, 0x34, 1, &ptr)) {
        return -EIO;
    }
    for (; ptr && guard < 32; guard++) {
        pci_cfg_read(d->q, dev->slot, ptr, 1, &id);
        if (id == PCI_CAP_MSIX) {
            break;
        }
        pci_cfg_read(d->q, dev->slot, ptr + 1, 1, &ptr);
    }
    if (!ptr || !d->modern) {
        return -ENODEV;
    }
    ret = pci_cfg_read(d->q, dev->slot, ptr + 2, 2, &ctrl);
    ret = ret ? ret : pci_cfg_read(d->q, dev->slot, ptr + 4, 4, &table);
    if (ret) {
        return ret;
    }
    if (on) {
        uint64_t entry = dev->bar[table & 7] + (table & ~7u);

        ret = mmio_write(d->q, entry, 4, 0xfee00000);      /* address */
        ret = ret ? ret : mmio_write(d->q, entry + 4, 4, 0);
        ret = ret ? ret : mmio_write(d->q, entry + 8, 4, 0x41);    /* data */
        ret = ret ? ret : mmio_write(d->q, entry + 12, 4, 0);  /* unmask */
    }
    ret = ret ? ret : pci_cfg_write(d->q, dev->slot, ptr + 2, 2,
                                    on ? ctrl | MSIX_ENABLE :
                                         ctrl & ~MSIX_ENABLE);
    ret = ret ? ret : mmio_write(d->q, d->common + VCOMMON_Q_SELECT, 2, 0);
    ret = ret ? ret : mmio_write(d->q, d->common + VCOMMON_Q_MSIX, 2,
                                 on ? 0 : VIRTIO_NO_VECTOR);
    ret = ret ? ret : mmio_read(d->q, d->common + VCOMMON_Q_MSIX, 2, &vec);
    if (!ret && vec != (on ? 0 : VIRTIO_NO_VECTOR)) {
        return -EPROTO;     /* the device refused the vector */
    }
    return ret;
}

/* Put request @r in slot @slot: header, data, status descriptors. */
static void vblk_post(VirtioBlk *d, BlkReq *r, unsigned int slot)
{
    uint16_t head = slot * 3;
    BlkHdr hdr = { .type = r->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
                   .sector = r->sector };
    VringDesc desc[3] = {
        { VBLK_HDR_GPA + 16 * slot, sizeof(hdr), VRING_DESC_F_NEXT,
          head + 1 },
        { r->gpa, r->len,
          VRING_DESC_F_NEXT | (r->write ? 0 : VRING_DESC_F_WRITE),
          head + 2 },
        { VBLK_STATUS_GPA + slot, 1, VRING_DESC_F_WRITE, 0 },
    };
    uint8_t status = 0xff;
    uint16_t idx = d->avail_idx;

    guest_write(d->q, VBLK_HDR_GPA + 16 * slot, &hdr, sizeof(hdr));
    guest_write(d->q, VBLK_STATUS_GPA + slot, &status, 1);
    guest_write(d->q, d->ring_gpa + 16ull * head, desc, sizeof(desc));
    guest_write(d->q, avail_gpa(d) + 4 + 2 * (idx % d->qsize), &head, 2);
    d->avail_idx = idx + 1;
    guest_write(d->q, avail_gpa(d) + 2, &d->avail_idx, 2);
    d->inflight[slot] = r;
    r->t_submit = now_ns();
}

static int vblk_kick(VirtioBlk *d)
{
    if (d->modern) {
        return mmio_write(d->q, d->notify, 2, 0);
    }
    if (d->buffered_kick) {
        return pio_write_buffered(d->q, d->io + VIRTIO_PCI_QUEUE_NOTIFY, 2,
                                  0);
    }
    return pio_write(d->q, d->io + VIRTIO_PCI_QUEUE_NOTIFY, 2, 0);
}

/* Take what the device has used; return the slots freed. */
static int vblk_reap(VirtioBlk *d, unsigned int *free_slots, int *nfree)
{
    uint64_t used = d->ring_gpa + d->used_off;
    uint16_t idx;
    int n = 0;

    guest_read(d->q, used + 2, &idx, 2);
    while (d->used_seen != idx) {
        uint32_t elem[2];
        unsigned int slot;
        BlkReq *r;

        guest_read(d->q, used + 4 + 8 * (d->used_seen % d->qsize), elem, 8);
        slot = elem[0] / 3;
        r = d->inflight[slot];
        if (elem[0] % 3 || slot >= d->qsize / 3 || !r) {
            fprintf(stderr, "# virtio-blk: bogus used id %u\n", elem[0]);
            return -EPROTO;
        }
        r->t_done = now_ns();
        guest_read(d->q, VBLK_STATUS_GPA + slot, &r->status, 1);
        r->done = true;
        d->inflight[slot] = NULL;
        free_slots[(*nfree)++] = slot;
        d->used_seen++;
        n++;
    }
    return n;
}

/* Wait for the interrupt, then acknowledge it (reading ISR lowers it). */
static int vblk_wait_irq(VirtioBlk *d)
{
    FxhMsg m = { .op = FXH_OP_WAIT_IRQ };
    uint32_t isr;
    int ret;

    m.a[0] = d->irq_seen;
    m.a[7] = IRQ_TIMEOUT_MS;
    ret = host_call(d->q, &m);
    if (ret) {
        return ret;
    }
    if (m.a[0] == d->irq_seen) {
        return -ETIMEDOUT;
    }
    d->irq_seen = m.a[0];
    if (d->modern) {
        return mmio_read(d->q, d->isr, 1, &isr);
    }
    return pio_read(d->q, d->io + VIRTIO_PCI_ISR, 1, &isr);
}

int vblk_run(VirtioBlk *d, BlkReq *reqs, int n, int depth,
             void (*mid)(void *), void *opaque)
{
    unsigned int free_slots[VBLK_MAX_DEPTH];
    int nfree = 0, next = 0, done = 0, ret;

    depth = depth < d->qsize / 3 ? depth : d->qsize / 3;
    depth = depth < VBLK_MAX_DEPTH ? depth : VBLK_MAX_DEPTH;
    for (int i = depth - 1; i >= 0; i--) {
        free_slots[nfree++] = i;
    }
    while (done < n) {
        bool posted = false;

        while (nfree && next < n) {
            vblk_post(d, &reqs[next++], free_slots[--nfree]);
            posted = true;
        }
        ret = posted ? vblk_kick(d) : 0;
        if (ret) {
            return ret;
        }
        if (mid && next == n / 2 + 1) {
            mid(opaque);
            mid = NULL;
        }
        ret = vblk_reap(d, free_slots, &nfree);
        if (ret < 0) {
            return ret;
        }
        done += ret;
        ret = ret ? 0 : vblk_wait_irq(d);   /* nothing done: wait */
        if (ret) {
            return ret;
        }
    }
    return 0;
}
