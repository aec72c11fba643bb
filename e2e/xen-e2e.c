/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * End-to-end tests of a real QEMU's mapcache: QEMU runs as the device
 * model of a simulated Xen HVM guest (fake-xen-host/), and this process
 * plays the guest's drivers.  Every test reads or writes guest RAM
 * through QEMU's mapcache (virtio-blk DMA) and checks every byte against
 * the disk image, which this program makes.  Speaks TAP.
 *
 *   xen-e2e --qemu BIN --host-dir DIR --run-dir DIR [--scenario NAME]
 *
 * Scenarios: main (I/O, invalidate, balloon, quit), iothread, rlimit,
 * replace.
 * The last two record what the binary did; an outcome listed in
 * known_failures[] is upstream's and does not fail, any other does.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "xen-e2e.h"


#define DEFAULT_QEMU    "/usr/libexec/xen-qemu-system-i386"

/* Known upstream failures, by name: what the log and the exit show. */
typedef struct KnownFailure {
    const char *name;
    const char *scenario;
    DmOutcome outcome;
    const char *needle;     /* in QEMU's log */
} KnownFailure;

static const KnownFailure known_failures[] = {
    { "iothread-blk-register-buf", "iothread", QEMU_SIGNALED,
      "blk_register_buf: Assertion `qemu_in_main_thread()' failed" },
    /* the cache takes the address space; then QEMU cannot go on */
    { "rlimit-as-thread-create", "rlimit", QEMU_SIGNALED,
      "qemu_thread_create: Resource temporarily unavailable" },
    { "rlimit-as-map2-exit", "rlimit", QEMU_EXITED,
      "xenforeignmemory_map2: Cannot allocate memory" },
    /*
     * qmp_xen_load_devices_state() ends with
     * migration_incoming_state_destroy(), which unregisters a yank
     * instance that only migrate-incoming registers (7.2 and 9.2)
     */
    { "xen-load-devices-state-yank", "replace", QEMU_SIGNALED,
      "yank_unregister_instance: Assertion `entry' failed" },
    /*
     * 9.2: the replace, run from the incoming migration coroutine,
     * maps the real frames and calls ram_block_notify_add(), whose
     * block-layer registrar takes the graph lock "in the main loop",
     * asserting it is not in a coroutine
     */
    { "replace-incoming-graph-rdlock", "replace", QEMU_SIGNALED,
      "bdrv_graph_rdlock_main_loop: Assertion `!qemu_in_coroutine()' "
      "failed" },
};

static int tap_n;
static int tap_failed;

void tap(bool ok, const char *fmt, ...)
{
    va_list ap;

    printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    tap_failed += !ok;
}

void tap_skip(const char *why)
{
    printf("ok %d # SKIP %s\n", ++tap_n, why);
    fflush(stdout);
}

int tap_count(void)
{
    return tap_n;
}

void diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* Random numbers: splitmix64, seeded, so that a failure reproduces. */
static uint64_t rnd_state = 0x5eed;

void rnd_seed(uint64_t seed)
{
    rnd_state = seed;
}

uint64_t rnd(void)
{
    uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The image: every 8 bytes hold a function of their offset. */
int image_make(const char *path, uint64_t bytes)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    uint64_t buf[8192];

    if (fd < 0) {
        return -errno;
    }
    fchmod(fd, 0666);
    for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
        for (size_t i = 0; i < 8192; i++) {
            uint64_t z = off + 8 * i + 0x1234567;

            z = (z ^ (z >> 31)) * 0x7fb5d329728ea185ull;
            buf[i] = z ^ (z >> 27);
        }
        if (pwrite(fd, buf, sizeof(buf), off) != sizeof(buf)) {
            close(fd);
            return -EIO;
        }
    }
    return fd;
}

/* Compare guest RAM at @gpa with the image at @off; true if equal. */
bool check_against_image(DeviceModel *q, int img, uint64_t gpa, uint64_t off,
                         uint32_t len)
{
    static uint8_t a[1 * MiB], b[1 * MiB];

    guest_read(q, gpa, a, len);
    if (pread(img, b, len, off) != len) {
        return false;
    }
    if (memcmp(a, b, len)) {
        uint32_t i = 0;

        while (a[i] == b[i]) {
            i++;
        }
        diag("mismatch at gpa 0x%llx disk 0x%llx + %u: 0x%02x != 0x%02x",
             (unsigned long long)gpa, (unsigned long long)off, i, a[i],
             b[i]);
        return false;
    }
    return true;
}

/* Poison read buffers and fill write buffers before they go out. */
void prepare_buffers(DeviceModel *q, BlkReq *reqs, int n)
{
    static uint8_t buf[1 * MiB];

    for (int i = 0; i < n; i++) {
        if (reqs[i].write) {
            for (uint32_t j = 0; j < reqs[i].len; j += 8) {
                uint64_t v = rnd();

                memcpy(buf + j, &v, 8);
            }
        } else {
            memset(buf, 0xa5, reqs[i].len);
        }
        guest_write(q, reqs[i].gpa, buf, reqs[i].len);
        reqs[i].done = false;
        reqs[i].status = 0xff;
    }
}

/*
 * Check @reqs once done: status 0, and guest RAM equal to the image
 * (after a read: what was read; after a write: what was written).
 * Requests must not overlap on disk or in RAM within one batch.
 */
int verify_requests(DeviceModel *q, int img, BlkReq *reqs, int n)
{
    int bad = 0;

    for (int i = 0; i < n; i++) {
        if (!reqs[i].done || reqs[i].status != 0 ||
            !check_against_image(q, img, reqs[i].gpa,
                                 reqs[i].sector * SECTOR, reqs[i].len)) {
            if (bad++ < 3) {
                diag("request %d (%s sector %llu len %u gpa 0x%llx): "
                     "done %d status %u", i, reqs[i].write ? "write" : "read",
                     (unsigned long long)reqs[i].sector, reqs[i].len,
                     (unsigned long long)reqs[i].gpa, reqs[i].done,
                     reqs[i].status);
            }
        }
    }
    return bad;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;

        a = b;
        b = t;
    }
    return a;
}

/* A step through @slots that visits each slot once per round. */
static uint64_t coprime_step(uint64_t slots)
{
    uint64_t step;

    if (slots < 3) {
        return 1;
    }
    do {
        step = 1 + rnd() % (slots - 1);
    } while (gcd(step, slots) != 1);
    return step;
}

/*
 * Fill @reqs after @p: disk offsets and guest buffers all distinct
 * (at most as many requests as either has slots), at random or in
 * sequence.  With p->straddle, every buffer crosses a 1 MiB boundary,
 * p->straddle bytes before it.
 */
void make_requests(BlkReq *reqs, int n, const ReqPattern *p)
{
    uint64_t unit = p->straddle ? MiB : (p->len + 4095) & ~4095ull;
    uint64_t disk_slots = IMAGE_BYTES / p->len;
    uint64_t ram_slots = p->ram_span / unit - (p->straddle ? 1 : 0);
    uint64_t disk0 = rnd() % disk_slots, ram0 = rnd() % ram_slots;
    uint64_t disk_step = p->sequential ? 1 : coprime_step(disk_slots);
    uint64_t ram_step = p->sequential ? 1 : coprime_step(ram_slots);

    if ((uint64_t)n > disk_slots || (uint64_t)n > ram_slots) {
        fprintf(stderr, "make_requests: %d requests, %llu/%llu slots\n", n,
                (unsigned long long)disk_slots,
                (unsigned long long)ram_slots);
        abort();
    }
    for (int i = 0; i < n; i++) {
        uint64_t d = (disk0 + i * disk_step) % disk_slots;
        uint64_t r = (ram0 + i * ram_step) % ram_slots;

        reqs[i] = (BlkReq) {
            .write = (int)(rnd() % 100) < p->write_pct,
            .sector = d * p->len / SECTOR,
            .len = p->len,
            .gpa = p->ram_base + r * unit +
                   (p->straddle ? MiB - p->straddle : 0),
        };
    }
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s --qemu BIN --host-dir DIR --run-dir DIR "
            "[--scenario main|iothread|rlimit|replace|all] "
            "[--rlimit-as BYTES]\n"
            "       [--machine pc (instead of xenfv, with -accel xen)]\n"
            "       [--accel OPTS (-accel xen,OPTS; -machine pc)]\n"
            "       [--machine-opts OPTS (-machine xenfv,...,OPTS)]\n"
            "       %s --bench ... (see make e2e-bench)\n", argv0, argv0);
    exit(2);
}

/* What a run did, with the known failure that explains it, if any. */
const char *known_failure(const char *scenario, DeviceModel *q)
{
    char line[1024];

    for (size_t i = 0; i < sizeof(known_failures) /
                           sizeof(known_failures[0]); i++) {
        const KnownFailure *k = &known_failures[i];

        if (strcmp(k->scenario, scenario) || k->outcome != q->outcome) {
            continue;
        }
        qemu_log_find(q, k->needle, line, sizeof(line));
        if (line[0]) {
            return k->name;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "qemu", required_argument, NULL, 'q' },
        { "host-dir", required_argument, NULL, 'H' },
        { "run-dir", required_argument, NULL, 'r' },
        { "scenario", required_argument, NULL, 's' },
        { "rlimit-as", required_argument, NULL, 'l' },
        { "machine", required_argument, NULL, 'm' },
        { "accel", required_argument, NULL, 'a' },
        { "machine-opts", required_argument, NULL, 'o' },
        { "bench", no_argument, NULL, 'b' },
        { "baseline", required_argument, NULL, 'B' },
        { "runs", required_argument, NULL, 'n' },
        { NULL, 0, NULL, 0 },
    };
    /*
     * RLIMIT_AS 2 GiB: QEMU itself fits (thread stacks, its own RAM
     * blocks), a cache that keeps all 1 GiB of guest RAM mapped does not
     */
    E2eConfig cfg = { .scenario = "all", .rlimit_as = 2 * GiB, .runs = 3 };
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            cfg.qemu = optarg;
            break;
        case 'H':
            cfg.host_dir = optarg;
            break;
        case 'r':
            cfg.run_dir = optarg;
            break;
        case 's':
            cfg.scenario = optarg;
            break;
        case 'l':
            cfg.rlimit_as = strtoull(optarg, NULL, 0);
            break;
        case 'm':
            cfg.machine = optarg;
            break;
        case 'a':
            cfg.accel = optarg;
            break;
        case 'o':
            cfg.machine_extra = optarg;
            break;
        case 'b':
            cfg.bench = true;
            break;
        case 'B':
            if (cfg.nbaselines == MAX_BASELINES) {
                usage(argv[0]);
            }
            cfg.baseline[cfg.nbaselines++] = optarg;
            break;
        case 'n':
            cfg.runs = atoi(optarg);
            break;
        default:
            usage(argv[0]);
        }
    }
    if (!cfg.qemu) {
        cfg.qemu = getenv("XEN_E2E_QEMU");
    }
    if (!cfg.qemu || !*cfg.qemu) {
        cfg.qemu = DEFAULT_QEMU;
    }
    if (!cfg.accel && getenv("XEN_E2E_ACCEL") && *getenv("XEN_E2E_ACCEL")) {
        cfg.accel = getenv("XEN_E2E_ACCEL");
    }
    if (!cfg.machine_extra && getenv("XEN_E2E_MACHINE_OPTS") &&
        *getenv("XEN_E2E_MACHINE_OPTS")) {
        cfg.machine_extra = getenv("XEN_E2E_MACHINE_OPTS");
    }
    if (!cfg.host_dir || !cfg.run_dir) {
        usage(argv[0]);
    }
    signal(SIGPIPE, SIG_IGN);
    qemu_reap_on_signals();
    mkdir(cfg.run_dir, 0777);
    chmod(cfg.run_dir, 0777);
    if (access(cfg.qemu, X_OK)) {
        printf("1..0 # SKIP %s: not an executable\n", cfg.qemu);
        return 0;
    }
    if (cfg.bench) {
        return bench_main(&cfg);
    }
    return tests_main(&cfg) || tap_failed ? 1 : 0;
}
