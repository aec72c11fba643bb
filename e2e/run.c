/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One run: a QEMU started for a scenario or a workload, the guest's
 * devices brought up, batches of checked requests.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xen-e2e.h"

#define RUNNING_TIMEOUT_MS  20000

int wait_running(DeviceModel *q)
{
    uint64_t deadline = now_ns() + RUNNING_TIMEOUT_MS * 1000000ull;
    char state[64];

    while (now_ns() < deadline) {
        if (host_xs_read(q, "/local/domain/0/device-model/1/state", state,
                         sizeof(state)) == -EPIPE) {
            return -EPIPE;
        }
        if (!strcmp(state, "running")) {
            return 0;
        }
        usleep(20000);
    }
    return -ETIMEDOUT;
}

const PciDev *find_dev(Run *r, uint16_t vendor, uint16_t device)
{
    for (int i = 0; i < r->ndevs; i++) {
        if (r->devs[i].vendor == vendor && r->devs[i].device == device) {
            return &r->devs[i];
        }
    }
    return NULL;
}

/* Start QEMU for @r and bring the guest's virtio-blk up. */
int run_start(Run *r, const E2eConfig *cfg, uint64_t ram_mb)
{
    const PciDev *vd;
    char why[1200];
    int ret;

    snprintf(r->dir, sizeof(r->dir), "%s/%s", cfg->run_dir, r->scenario);
    mkdir(r->dir, 0777);
    chmod(r->dir, 0777);
    if (r->img_shared < 0 || !r->image[0]) {
        snprintf(r->image, sizeof(r->image), "%s/disk.img", r->dir);
    }
    r->img = r->img_shared >= 0 ? dup(r->img_shared) :
             image_make(r->image, IMAGE_BYTES);
    if (r->img < 0) {
        tap(false, "%s: make the image: %s", r->scenario,
            strerror(-r->img));
        return r->img;
    }
    r->opts.qemu = cfg->qemu;
    if (cfg->machine_extra && !r->opts.machine_extra) {
        r->opts.machine_extra = cfg->machine_extra;
    }
    if ((cfg->machine || cfg->accel) && !r->opts.machine) {
        r->opts.machine = cfg->machine ? cfg->machine : "pc";
        r->opts.accel = cfg->accel ? cfg->accel : "";
    }
    r->opts.host_dir = cfg->host_dir;
    r->opts.run_dir = r->dir;
    r->opts.image = r->image;
    r->opts.ram_mb = ram_mb;
    r->opts.queue_size = r->opts.queue_size ? r->opts.queue_size : 512;
    r->img_ahci = -1;
    if (r->with_ahci) {
        snprintf(r->image_ahci, sizeof(r->image_ahci), "%s/ahci.img",
                 r->dir);
        r->img_ahci = image_make(r->image_ahci, IMAGE_BYTES);
        if (r->img_ahci < 0) {
            return r->img_ahci;
        }
        r->opts.image_ahci = r->image_ahci;
    }
    ret = qemu_start(&r->q, &r->opts);
    ret = ret ? ret : wait_running(&r->q);
    if (!ret) {
        r->ndevs = pci_enumerate(&r->q, r->devs, 32);
        vd = r->ndevs > 0 ? find_dev(r, 0x1af4, 0x1001) : NULL;
        ret = vd ? vblk_init(&r->blk, &r->q, vd) : -ENODEV;
    }
    if (!ret && r->with_ahci) {
        const PciDev *ad = find_dev(r, 0x8086, 0x2922);

        ret = ad ? ahci_init(&r->ahci, &r->q, ad) : -ENODEV;
    }
    if (ret) {
        qemu_describe(&r->q, why, sizeof(why));
        diag("%s: QEMU did not come up (%s): %s", r->scenario,
             strerror(-ret), why);
    }
    return ret;
}

/* Images take 64 MiB each: keep them only if XEN_E2E_KEEP is set. */
void image_drop(const char *path)
{
    if (!getenv("XEN_E2E_KEEP") && path[0]) {
        unlink(path);
    }
}

void run_stop(Run *r)
{
    qemu_kill(&r->q);
    if (r->img >= 0) {
        close(r->img);
        r->img = -1;
        if (r->img_shared < 0) {
            image_drop(r->image);
        }
    }
    if (r->with_ahci && r->img_ahci >= 0) {
        close(r->img_ahci);
        r->img_ahci = -1;
        image_drop(r->image_ahci);
    }
}

/* Run and check one batch; true if every request came back right. */
bool batch(Run *r, const ReqPattern *p, int n, int depth,
           void (*mid)(void *), void *opaque)
{
    BlkReq *reqs = calloc(n, sizeof(*reqs));
    int ret, bad;

    make_requests(reqs, n, p);
    prepare_buffers(&r->q, reqs, n);
    ret = r->on_ahci ? ahci_run(&r->ahci, reqs, n, depth, mid, opaque) :
                       vblk_run(&r->blk, reqs, n, depth, mid, opaque);
    if (ret) {
        diag("%s: %s", r->on_ahci ? "ahci" : "virtio-blk", strerror(-ret));
        free(reqs);
        return false;
    }
    bad = verify_requests(&r->q, r->on_ahci ? r->img_ahci : r->img, reqs,
                          n);
    free(reqs);
    return !bad;
}

