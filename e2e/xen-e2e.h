/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * What the tests and the benchmark of xen-e2e share.
 */

#ifndef XEN_E2E_H
#define XEN_E2E_H

#include "e2e.h"

#define IMAGE_BYTES     (64 * MiB)
#define SECTOR          512

typedef struct E2eConfig {
    const char *qemu;
#define MAX_BASELINES 3
    const char *baseline[MAX_BASELINES];    /* bench: binaries beside */
    int nbaselines;
    const char *host_dir;
    const char *run_dir;
    const char *scenario;
    const char *machine;    /* NULL: xenfv; else with -accel xen */
    const char *accel;      /* -accel xen,ACCEL (implies -machine pc) */
    const char *machine_extra;  /* appended to -machine's options */
    uint64_t rlimit_as;
    int runs;
    bool bench;
} E2eConfig;

typedef struct ReqPattern {
    uint32_t len;
    uint64_t ram_base;
    uint64_t ram_span;
    uint32_t straddle;      /* bytes before a 1 MiB boundary, or 0 */
    int write_pct;
    bool sequential;
} ReqPattern;

#define GUEST_DATA_BASE     (4 * MiB)   /* below: the driver's rings */

typedef struct Run {
    const char *scenario;
    DmOpts opts;
    DeviceModel q;
    VirtioBlk blk;
    PciDev devs[32];
    int ndevs;
    int img;
    int img_shared;         /* an image made already, or -1 */
    char dir[512];
    char image[600];
    bool with_ahci;         /* an AHCI disk too, its own image */
    Ahci ahci;
    int img_ahci;
    char image_ahci[600];
    bool on_ahci;           /* batches go to the AHCI disk */
} Run;

int wait_running(DeviceModel *q);
int run_start(Run *r, const E2eConfig *cfg, uint64_t ram_mb);
void run_stop(Run *r);
void image_drop(const char *path);
const PciDev *find_dev(Run *r, uint16_t vendor, uint16_t device);
bool batch(Run *r, const ReqPattern *p, int n, int depth,
           void (*mid)(void *), void *opaque);

void tap(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int tap_count(void);
void tap_skip(const char *why);
uint64_t rnd(void);
void rnd_seed(uint64_t seed);
int image_make(const char *path, uint64_t bytes);
bool check_against_image(DeviceModel *q, int img, uint64_t gpa, uint64_t off,
                         uint32_t len);
void prepare_buffers(DeviceModel *q, BlkReq *reqs, int n);
int verify_requests(DeviceModel *q, int img, BlkReq *reqs, int n);
void make_requests(BlkReq *reqs, int n, const ReqPattern *p);
const char *known_failure(const char *scenario, DeviceModel *q);

int tests_main(const E2eConfig *cfg);
int bench_main(const E2eConfig *cfg);

#endif /* XEN_E2E_H */
