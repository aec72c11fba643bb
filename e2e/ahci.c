/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The guest's AHCI driver: port 0 of QEMU's ICH9 AHCI (libxl's
 * hdtype=ahci), its registers reached by MMIO ioreqs (IOREQ_TYPE_COPY)
 * on the ABAR, commands issued with NCQ (READ/WRITE FPDMA QUEUED, up to
 * 32 tags in flight), completions taken on the INTx the host records.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>

#include "e2e.h"

#define IRQ_TIMEOUT_MS      10000

/* HBA registers */
#define HBA_CAP             0x00
#define HBA_GHC             0x04
#define HBA_IS              0x08
#define HBA_PI              0x0c
#define GHC_AE              (1u << 31)
#define GHC_IE              (1u << 1)
#define CAP_SNCQ            (1u << 30)

/* Port 0's registers */
#define PORT0               0x100
#define PX_CLB              0x00
#define PX_CLBU             0x04
#define PX_FB               0x08
#define PX_FBU              0x0c
#define PX_IS               0x10
#define PX_IE               0x14
#define PX_CMD              0x18
#define PX_TFD              0x20
#define PX_SSTS             0x28
#define PX_SERR             0x30
#define PX_SACT             0x34
#define PX_CI               0x38
#define CMD_ST              (1u << 0)
#define CMD_FRE             (1u << 4)
#define CMD_FR              (1u << 14)
#define CMD_CR              (1u << 15)

#define FIS_H2D             0x27
#define ATA_READ_FPDMA      0x60
#define ATA_WRITE_FPDMA     0x61

/* Where the driver keeps its structures in guest RAM */
#define AHCI_CLB_GPA        (2 * MiB)
#define AHCI_FB_GPA         (AHCI_CLB_GPA + 0x400)
#define AHCI_CT_GPA         (AHCI_CLB_GPA + 0x1000)
#define AHCI_CT_SIZE        0x100

typedef struct CmdHeader {
    uint32_t flags;         /* CFL, W, PRDTL */
    uint32_t prdbc;
    uint64_t ctba;
    uint32_t reserved[4];
} CmdHeader;

typedef struct Prd {
    uint64_t dba;
    uint32_t reserved;
    uint32_t dbc;           /* byte count - 1, bit 31: interrupt */
} Prd;

static int abar_read(Ahci *a, uint32_t off, uint32_t *val)
{
    return mmio_read(a->q, a->abar + off, 4, val);
}

static int abar_write(Ahci *a, uint32_t off, uint32_t val)
{
    return mmio_write(a->q, a->abar + off, 4, val);
}

/* Stop port 0, give it its lists, start it. */
static int ahci_port_start(Ahci *a)
{
    uint8_t zero[0x1000 + 32 * AHCI_CT_SIZE] = { 0 };
    uint32_t cmd;
    int ret;

    guest_write(a->q, AHCI_CLB_GPA, zero, sizeof(zero));
    ret = abar_read(a, PORT0 + PX_CMD, &cmd);
    ret = ret ? ret : abar_write(a, PORT0 + PX_CMD,
                                 cmd & ~(CMD_ST | CMD_FRE));
    ret = ret ? ret : abar_write(a, PORT0 + PX_CLB, AHCI_CLB_GPA);
    ret = ret ? ret : abar_write(a, PORT0 + PX_CLBU, 0);
    ret = ret ? ret : abar_write(a, PORT0 + PX_FB, AHCI_FB_GPA);
    ret = ret ? ret : abar_write(a, PORT0 + PX_FBU, 0);
    ret = ret ? ret : abar_write(a, PORT0 + PX_SERR, 0xffffffff);
    ret = ret ? ret : abar_write(a, PORT0 + PX_IS, 0xffffffff);
    ret = ret ? ret : abar_write(a, PORT0 + PX_IE, 0xffffffff);
    ret = ret ? ret : abar_write(a, PORT0 + PX_CMD, CMD_FRE);
    ret = ret ? ret : abar_write(a, PORT0 + PX_CMD, CMD_FRE | CMD_ST);
    return ret;
}

int ahci_init(Ahci *a, DeviceModel *q, const PciDev *dev)
{
    uint32_t cap, ssts, pi;
    FxhMsg m = { .op = FXH_OP_WAIT_IRQ };
    int ret;

    memset(a, 0, sizeof(*a));
    a->q = q;
    a->abar = dev->bar[5];
    ret = pci_cfg_write(q, dev->slot, 0x04, 2, 0x6);   /* MEM, master */
    ret = ret ? ret : abar_write(a, HBA_GHC, GHC_AE);
    ret = ret ? ret : abar_read(a, HBA_CAP, &cap);
    ret = ret ? ret : abar_read(a, HBA_PI, &pi);
    ret = ret ? ret : abar_read(a, PORT0 + PX_SSTS, &ssts);
    if (ret) {
        return ret;
    }
    a->slots = ((cap >> 8) & 0x1f) + 1;
    if (!(cap & CAP_SNCQ) || !(pi & 1) || (ssts & 0xf) != 3) {
        fprintf(stderr, "# ahci: cap 0x%x pi 0x%x ssts 0x%x\n", cap, pi,
                ssts);
        return -ENODEV;
    }
    ret = ahci_port_start(a);
    ret = ret ? ret : abar_write(a, HBA_IS, 0xffffffff);
    ret = ret ? ret : abar_write(a, HBA_GHC, GHC_AE | GHC_IE);
    m.a[7] = 1;
    if (!ret) {
        ret = host_call(q, &m) < 0 ? -EPIPE : 0;
        a->irq_seen = m.a[0];
    }
    return ret;
}

/* Build tag @tag's command for @r: header, H2D FIS, one PRD. */
static void ahci_post(Ahci *a, BlkReq *r, unsigned int tag)
{
    uint64_t ct = AHCI_CT_GPA + AHCI_CT_SIZE * tag;
    uint32_t sectors = r->len / 512;
    CmdHeader h = {
        .flags = 5 | (r->write ? 1u << 6 : 0) | (1u << 16),
        .ctba = ct,
    };
    uint8_t fis[20] = {
        FIS_H2D, 0x80, r->write ? ATA_WRITE_FPDMA : ATA_READ_FPDMA,
        sectors & 0xff,
        r->sector & 0xff, (r->sector >> 8) & 0xff, (r->sector >> 16) & 0xff,
        0x40,
        (r->sector >> 24) & 0xff, (r->sector >> 32) & 0xff,
        (r->sector >> 40) & 0xff, (sectors >> 8) & 0xff,
        (tag << 3) & 0xff, 0,
    };
    Prd prd = { .dba = r->gpa, .dbc = (r->len - 1) | (1u << 31) };

    guest_write(a->q, ct, fis, sizeof(fis));
    guest_write(a->q, ct + 0x80, &prd, sizeof(prd));
    guest_write(a->q, AHCI_CLB_GPA + sizeof(h) * tag, &h, sizeof(h));
    a->inflight[tag] = r;
    r->t_submit = now_ns();
}

/* Issue the tags in @mask: SACT first, then CI, as NCQ wants. */
static int ahci_issue(Ahci *a, uint32_t mask)
{
    int ret = abar_write(a, PORT0 + PX_SACT, mask);

    return ret ? ret : abar_write(a, PORT0 + PX_CI, mask);
}

/* Complete the tags no longer active; return how many, or -errno. */
static int ahci_reap(Ahci *a, uint32_t *busy)
{
    uint32_t sact, tfd, done;
    int n = 0, ret;

    ret = abar_read(a, PORT0 + PX_SACT, &sact);
    ret = ret ? ret : abar_read(a, PORT0 + PX_TFD, &tfd);
    if (ret) {
        return ret;
    }
    done = *busy & ~sact;
    for (unsigned int tag = 0; tag < 32; tag++) {
        BlkReq *r = a->inflight[tag];

        if (!(done & (1u << tag)) || !r) {
            continue;
        }
        r->t_done = now_ns();
        r->status = (tfd & 1) ? 1 : 0;      /* ERR in the task file */
        r->done = true;
        a->inflight[tag] = NULL;
        n++;
    }
    *busy &= sact;
    return n;
}

static int ahci_wait_irq(Ahci *a)
{
    FxhMsg m = { .op = FXH_OP_WAIT_IRQ };
    int ret;

    m.a[0] = a->irq_seen;
    m.a[7] = IRQ_TIMEOUT_MS;
    ret = host_call(a->q, &m);
    if (ret) {
        return ret;
    }
    if (m.a[0] == a->irq_seen) {
        return -ETIMEDOUT;
    }
    a->irq_seen = m.a[0];
    /* acknowledge: the port's status, then the HBA's, lowers INTx */
    ret = abar_write(a, PORT0 + PX_IS, 0xffffffff);
    return ret ? ret : abar_write(a, HBA_IS, 0xffffffff);
}

int ahci_run(Ahci *a, BlkReq *reqs, int n, int depth,
             void (*mid)(void *), void *opaque)
{
    uint32_t busy = 0;
    int next = 0, done = 0, ret;

    depth = depth < (int)a->slots ? depth : (int)a->slots;
    while (done < n) {
        uint32_t mask = 0;

        for (unsigned int tag = 0; tag < (unsigned int)depth && next < n;
             tag++) {
            if (!((busy | mask) & (1u << tag))) {
                ahci_post(a, &reqs[next++], tag);
                mask |= 1u << tag;
            }
        }
        ret = mask ? ahci_issue(a, mask) : 0;
        if (ret) {
            return ret;
        }
        busy |= mask;
        if (mid && next >= n / 2 + 1) {
            mid(opaque);
            mid = NULL;
        }
        ret = ahci_reap(a, &busy);
        if (ret < 0) {
            return ret;
        }
        done += ret;
        ret = ret ? 0 : ahci_wait_irq(a);   /* nothing done: wait */
        if (ret) {
            return ret;
        }
    }
    return 0;
}
