/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The simulated Xen host: one HVM domain, loaded into QEMU's process by
 * the seven fake Xen libraries, which all call in here.
 *
 * Guest RAM is a memfd.  The p2m, a second memfd of one uint32_t per gfn,
 * names the page of the RAM memfd that backs each gfn, or
 * FXH_P2M_INVALID for a hole or a ballooned frame.  A foreign mapping is
 * an mmap() of the backing pages over a PROT_NONE reservation: pages
 * whose gfn is invalid stay PROT_NONE and are answered in err[].  The
 * host itself never maps guest RAM in this process: only QEMU's foreign
 * mappings do, so that QEMU's address space is QEMU's alone.
 *
 * The host tracks the ranges it mapped and counts them from its own
 * side.  Upstream QEMU unmaps its cache with plain munmap(), so munmap()
 * is defined here with glibc's symbol version; the library is
 * LD_PRELOADed so that QEMU's references bind to it.
 *
 * A control thread serves the guest side (fxh-protocol.h) over a unix
 * socket: it plays vCPU 0..N, writing ioreqs into the shared page and
 * waiting for QEMU's answer.  Events QEMU waits on are real pipes.
 *
 * Locking: host.lock protects everything below it in FxhHost; host.cond
 * is broadcast when an ioreq is answered or an interrupt is raised.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fxh-core.h"
#include "fxh-protocol.h"

#define FXH_MAX_PORTS           1024
#define FXH_REMOTE_BUFIOREQ     8       /* the host's end of each port */
#define FXH_REMOTE_VCPU0        16
#define FXH_EXTRA_GFNS_MB       512     /* room for QEMU's own RAM blocks */
#define FXH_MIN_GFNS            (1u << 20)  /* 4 GiB of gfns */
#define FXH_IOREQ_FRAMES        2       /* 0: buffered, 1: shared */
#define FXH_CONTROL_STACK       (256 * 1024)

typedef struct FxhRange {
    uintptr_t start;
    uintptr_t end;
} FxhRange;

typedef struct FxhPort {
    FxhEvtchn *owner;           /* NULL: free */
    uint32_t remote;
    bool masked;
    bool pending;
} FxhPort;

struct FxhEvtchn {
    int rfd;
    int wfd;
    uint32_t queue[FXH_MAX_PORTS];
    unsigned int head;
    unsigned int count;
};

typedef struct FxhHost {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool ready;

    int ram_fd;
    int p2m_fd;
    uint32_t *p2m;
    uint64_t nr_gfns;
    uint64_t ram_gfns;
    uint8_t *backing_used;      /* per page of the RAM memfd */
    uint64_t nr_backing;
    uint64_t next_backing;

    FxhRange *ranges;
    size_t nr_ranges;
    size_t ranges_cap;

    uint64_t stats[FXH_STAT__MAX];

    FxhPort ports[FXH_MAX_PORTS];

    bool server;
    int ioreq_fd;
    void *ioreq_pages;          /* the host's view of the server's pages */
    unsigned int nr_vcpus;

    FILE *log;
} FxhHost;

static FxhHost host = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .ram_fd = -1,
    .p2m_fd = -1,
    .ioreq_fd = -1,
};

void fxh_log(const char *fmt, ...)
{
    va_list ap;

    if (!host.log) {
        return;
    }
    va_start(ap, fmt);
    vfprintf(host.log, fmt, ap);
    va_end(ap);
    fputc('\n', host.log);
    fflush(host.log);
}

static void fxh_fatal(const char *what)
{
    fprintf(stderr, "fake-xen-host: %s: %s\n", what, strerror(errno));
    abort();
}

void *fxh_dummy_handle(void)
{
    static int dummy;

    return &dummy;
}

/* Foreign ranges: the host's own bookkeeping of what QEMU holds */

static void range_push_locked(uintptr_t start, uintptr_t end)
{
    if (host.nr_ranges == host.ranges_cap) {
        host.ranges_cap = host.ranges_cap ? host.ranges_cap * 2 : 256;
        host.ranges = realloc(host.ranges,
                              host.ranges_cap * sizeof(*host.ranges));
        if (!host.ranges) {
            fxh_fatal("realloc");
        }
    }
    host.ranges[host.nr_ranges++] = (FxhRange) { start, end };
}

static void range_add_locked(uintptr_t start, uintptr_t end)
{
    range_push_locked(start, end);
    host.stats[FXH_STAT_LIVE_BYTES] += end - start;
    if (host.stats[FXH_STAT_LIVE_BYTES] > host.stats[FXH_STAT_PEAK_BYTES]) {
        host.stats[FXH_STAT_PEAK_BYTES] = host.stats[FXH_STAT_LIVE_BYTES];
    }
}

/* Drop [start, end) from the tracked ranges; return the bytes dropped. */
static uint64_t range_remove_locked(uintptr_t start, uintptr_t end)
{
    uint64_t dropped = 0;
    size_t i = 0;

    while (i < host.nr_ranges) {
        FxhRange r = host.ranges[i];
        uintptr_t lo = r.start > start ? r.start : start;
        uintptr_t hi = r.end < end ? r.end : end;

        if (lo >= hi) {
            i++;
            continue;
        }
        dropped += hi - lo;
        host.ranges[i] = host.ranges[--host.nr_ranges];
        if (r.start < lo) {
            range_push_locked(r.start, lo);
        }
        if (hi < r.end) {
            range_push_locked(hi, r.end);
        }
    }
    host.stats[FXH_STAT_LIVE_BYTES] -= dropped;
    return dropped;
}

/*
 * QEMU's munmap(): upstream's mapcache unmaps with it.  Versioned as
 * glibc's, so that references to munmap@GLIBC_2.2.5 bind here.
 */
int munmap(void *addr, size_t len)
{
    if (__atomic_load_n(&host.ready, __ATOMIC_ACQUIRE) && len) {
        uintptr_t start = (uintptr_t)addr;
        uintptr_t end = start + ((len + FXH_PAGE_SIZE - 1) &
                                 ~(uintptr_t)(FXH_PAGE_SIZE - 1));

        pthread_mutex_lock(&host.lock);
        if (range_remove_locked(start, end)) {
            host.stats[FXH_STAT_UNMAPS]++;
            fxh_log("munmap %p +0x%zx", addr, len);
        }
        pthread_mutex_unlock(&host.lock);
    }
    return syscall(SYS_munmap, addr, len);
}

/* The p2m */

static uint32_t backing_alloc_locked(uint64_t gfn)
{
    uint64_t b = gfn;

    if (gfn >= host.nr_gfns || host.backing_used[gfn]) {
        while (host.next_backing < host.nr_backing &&
               host.backing_used[host.next_backing]) {
            host.next_backing++;
        }
        if (host.next_backing == host.nr_backing) {
            return FXH_P2M_INVALID;
        }
        b = host.next_backing;
    }
    host.backing_used[b] = 1;
    return b;
}

static void backing_free_locked(uint32_t b)
{
    if (b == FXH_P2M_INVALID) {
        return;
    }
    host.backing_used[b] = 0;
    if (fallocate(host.ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)b << FXH_PAGE_SHIFT, FXH_PAGE_SIZE)) {
        fxh_fatal("fallocate(PUNCH_HOLE) on guest RAM");
    }
}

int fxh_populate(uint64_t gfn, uint64_t count, bool by_qemu)
{
    int ret = 0;

    pthread_mutex_lock(&host.lock);
    for (uint64_t i = 0; i < count; i++) {
        uint32_t b;

        if (gfn + i >= host.nr_gfns) {
            ret = -ENOMEM;
            break;
        }
        if (host.p2m[gfn + i] != FXH_P2M_INVALID) {
            continue;
        }
        b = backing_alloc_locked(gfn + i);
        if (b == FXH_P2M_INVALID) {
            ret = -ENOMEM;
            break;
        }
        host.p2m[gfn + i] = b;
        if (by_qemu) {
            host.stats[FXH_STAT_POPULATED]++;
        }
    }
    pthread_mutex_unlock(&host.lock);
    fxh_log("populate gfn 0x%" PRIx64 " +%" PRIu64 " -> %d", gfn, count, ret);
    return ret;
}

static int fxh_decrease(uint64_t gfn, uint64_t count)
{
    if (gfn + count > host.nr_gfns) {
        return -EINVAL;
    }
    pthread_mutex_lock(&host.lock);
    for (uint64_t i = 0; i < count; i++) {
        backing_free_locked(host.p2m[gfn + i]);
        host.p2m[gfn + i] = FXH_P2M_INVALID;
    }
    pthread_mutex_unlock(&host.lock);
    fxh_log("decrease gfn 0x%" PRIx64 " +%" PRIu64, gfn, count);
    return 0;
}

/* Move frames, as Xen's p2m does: mappings already made stay coherent. */
int fxh_relocate(uint64_t src_gfn, uint64_t dst_gfn, uint64_t count)
{
    if (src_gfn + count > host.nr_gfns || dst_gfn + count > host.nr_gfns) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&host.lock);
    for (uint64_t i = 0; i < count; i++) {
        if (host.p2m[dst_gfn + i] != FXH_P2M_INVALID) {
            backing_free_locked(host.p2m[dst_gfn + i]);
        }
        host.p2m[dst_gfn + i] = host.p2m[src_gfn + i];
        host.p2m[src_gfn + i] = FXH_P2M_INVALID;
    }
    host.stats[FXH_STAT_RELOCATED] += count;
    pthread_mutex_unlock(&host.lock);
    fxh_log("relocate 0x%" PRIx64 " -> 0x%" PRIx64 " +%" PRIu64,
            src_gfn, dst_gfn, count);
    return 0;
}

/* The special page Xen's toolstack gives the vmport registers. */
uint64_t fxh_special_gfn(void)
{
    return host.nr_gfns - 1;
}

/* Foreign mappings */

static uint32_t backing_of_locked(xen_pfn_t gfn)
{
    return gfn < host.nr_gfns ? host.p2m[gfn] : FXH_P2M_INVALID;
}

/* Map the valid runs of gfns[] over base; fill err[]; return errors. */
static size_t map_runs_locked(uint8_t *base, int prot, size_t num,
                              const xen_pfn_t gfns[], int err[])
{
    size_t errors = 0;
    size_t i = 0;

    while (i < num) {
        uint32_t b = backing_of_locked(gfns[i]);
        size_t run = 1;

        if (b == FXH_P2M_INVALID) {
            err[i++] = -EINVAL;
            errors++;
            continue;
        }
        while (i + run < num &&
               backing_of_locked(gfns[i + run]) == b + run) {
            run++;
        }
        if (mmap(base + (i << FXH_PAGE_SHIFT), run << FXH_PAGE_SHIFT, prot,
                 MAP_SHARED | MAP_FIXED, host.ram_fd,
                 (off_t)b << FXH_PAGE_SHIFT) == MAP_FAILED) {
            fxh_fatal("mmap of guest RAM over a reservation");
        }
        for (size_t j = 0; j < run; j++) {
            err[i + j] = 0;
        }
        i += run;
    }
    return errors;
}

void *fxh_foreign_map(void *addr, int prot, int flags, size_t num,
                      const xen_pfn_t gfns[], int err[])
{
    size_t len = num << FXH_PAGE_SHIFT;
    int *errs = err ? err : calloc(num, sizeof(int));
    uint8_t *base;
    size_t errors;

    if (!num || !errs) {
        free(err ? NULL : errs);
        errno = EINVAL;
        return NULL;
    }
    base = mmap(addr, len, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                (flags & MAP_FIXED), -1, 0);
    if (base == MAP_FAILED) {
        int saved = errno;

        fxh_log("map2 %p +%zu pages: %s", addr, num, strerror(saved));
        if (!err) {
            free(errs);
        }
        errno = saved;
        return NULL;
    }
    pthread_mutex_lock(&host.lock);
    if (range_remove_locked((uintptr_t)base, (uintptr_t)base + len)) {
        host.stats[FXH_STAT_MAPPED_OVER]++;
    }
    errors = map_runs_locked(base, prot, num, gfns, errs);
    host.stats[FXH_STAT_MAP_CALLS]++;
    host.stats[FXH_STAT_FIXED_MAPS] += !!(flags & MAP_FIXED);
    host.stats[FXH_STAT_PAGES_MAPPED] += num;
    host.stats[FXH_STAT_PAGE_ERRORS] += errors;
    range_add_locked((uintptr_t)base, (uintptr_t)base + len);
    pthread_mutex_unlock(&host.lock);
    fxh_log("map2 %p gfn 0x%" PRIx64 " +%zu pages -> %p, %zu errors",
            addr, (uint64_t)gfns[0], num, base, errors);

    if (!err) {
        free(errs);
        if (errors) {
            munmap(base, len);
            errno = EFAULT;
            return NULL;
        }
    }
    return base;
}

int fxh_foreign_unmap(void *addr, size_t num)
{
    return munmap(addr, num << FXH_PAGE_SHIFT);
}

/* Interrupts */

void fxh_irq_level(const char *what, unsigned int line, unsigned int level)
{
    pthread_mutex_lock(&host.lock);
    if (level) {
        host.stats[FXH_STAT_INTX_RAISED]++;
        pthread_cond_broadcast(&host.cond);
    }
    pthread_mutex_unlock(&host.lock);
    fxh_log("%s %u level %u", what, line, level);
}

void fxh_msi(uint64_t addr, uint32_t data)
{
    pthread_mutex_lock(&host.lock);
    host.stats[FXH_STAT_MSIS]++;
    pthread_cond_broadcast(&host.cond);
    pthread_mutex_unlock(&host.lock);
    fxh_log("msi 0x%" PRIx64 " 0x%x", addr, data);
}

static uint64_t irq_events_locked(void)
{
    return host.stats[FXH_STAT_INTX_RAISED] + host.stats[FXH_STAT_MSIS];
}

/* Event channels: a pipe per handle, one byte per queued port */

static void port_deliver_locked(uint32_t port)
{
    FxhPort *p = &host.ports[port];
    FxhEvtchn *h = p->owner;
    char byte = 0;

    if (p->masked) {
        p->pending = true;
        return;
    }
    p->masked = true;
    h->queue[(h->head + h->count++) % FXH_MAX_PORTS] = port;
    if (write(h->wfd, &byte, 1) != 1) {
        fxh_fatal("write to an event channel's pipe");
    }
}

static void remote_fire_locked(uint32_t remote)
{
    for (uint32_t port = 1; port < FXH_MAX_PORTS; port++) {
        if (host.ports[port].owner && host.ports[port].remote == remote) {
            port_deliver_locked(port);
        }
    }
}

FxhEvtchn *fxh_evtchn_open(void)
{
    FxhEvtchn *h = calloc(1, sizeof(*h));
    int fds[2];

    if (!h || pipe2(fds, O_CLOEXEC | O_NONBLOCK)) {
        free(h);
        return NULL;
    }
    h->rfd = fds[0];
    h->wfd = fds[1];
    return h;
}

void fxh_evtchn_close(FxhEvtchn *h)
{
    if (!h) {
        return;
    }
    pthread_mutex_lock(&host.lock);
    for (uint32_t port = 1; port < FXH_MAX_PORTS; port++) {
        if (host.ports[port].owner == h) {
            host.ports[port] = (FxhPort) { 0 };
        }
    }
    pthread_mutex_unlock(&host.lock);
    close(h->rfd);
    close(h->wfd);
    free(h);
}

int fxh_evtchn_fd(FxhEvtchn *h)
{
    return h->rfd;
}

int fxh_evtchn_bind(FxhEvtchn *h, uint32_t remote_port)
{
    int ret = -1;

    pthread_mutex_lock(&host.lock);
    for (uint32_t port = 1; port < FXH_MAX_PORTS; port++) {
        if (!host.ports[port].owner) {
            host.ports[port] = (FxhPort) { .owner = h,
                                           .remote = remote_port };
            ret = port;
            break;
        }
    }
    pthread_mutex_unlock(&host.lock);
    fxh_log("evtchn bind remote %u -> local %d", remote_port, ret);
    if (ret < 0) {
        errno = ENOSPC;
    }
    return ret;
}

int fxh_evtchn_unbind(FxhEvtchn *h, uint32_t port)
{
    pthread_mutex_lock(&host.lock);
    if (port < FXH_MAX_PORTS && host.ports[port].owner == h) {
        host.ports[port] = (FxhPort) { 0 };
    }
    pthread_mutex_unlock(&host.lock);
    return 0;
}

int fxh_evtchn_pending(FxhEvtchn *h)
{
    char byte;
    int port = -1;

    pthread_mutex_lock(&host.lock);
    if (h->count && read(h->rfd, &byte, 1) == 1) {
        port = h->queue[h->head];
        h->head = (h->head + 1) % FXH_MAX_PORTS;
        h->count--;
    }
    pthread_mutex_unlock(&host.lock);
    if (port < 0) {
        errno = EAGAIN;
    }
    return port;
}

int fxh_evtchn_unmask(FxhEvtchn *h, uint32_t port)
{
    pthread_mutex_lock(&host.lock);
    if (port < FXH_MAX_PORTS && host.ports[port].owner == h) {
        FxhPort *p = &host.ports[port];

        p->masked = false;
        if (p->pending) {
            p->pending = false;
            port_deliver_locked(port);
        }
    }
    pthread_mutex_unlock(&host.lock);
    return 0;
}

/* QEMU notifies a vCPU's port when it has answered that vCPU's ioreq. */
int fxh_evtchn_notify(FxhEvtchn *h, uint32_t port)
{
    pthread_mutex_lock(&host.lock);
    pthread_cond_broadcast(&host.cond);
    pthread_mutex_unlock(&host.lock);
    return 0;
}

/* The ioreq server: one, with a shared and a buffered page */

static shared_iopage_t *shared_page_locked(void)
{
    return (shared_iopage_t *)((uint8_t *)host.ioreq_pages + FXH_PAGE_SIZE);
}

static buffered_iopage_t *buffered_page_locked(void)
{
    return host.ioreq_pages;
}

int fxh_ioreq_server_create(uint16_t *id)
{
    size_t len = FXH_IOREQ_FRAMES * FXH_PAGE_SIZE;
    int ret = 0;

    pthread_mutex_lock(&host.lock);
    if (host.server) {
        errno = EEXIST;
        ret = -1;
        goto out;
    }
    host.ioreq_fd = memfd_create("fake-xen-host-ioreq", MFD_CLOEXEC);
    if (host.ioreq_fd < 0 || ftruncate(host.ioreq_fd, len)) {
        fxh_fatal("memfd for the ioreq server's pages");
    }
    host.ioreq_pages = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
                            host.ioreq_fd, 0);
    if (host.ioreq_pages == MAP_FAILED) {
        fxh_fatal("mmap of the ioreq server's pages");
    }
    for (unsigned int i = 0; i < FXH_MAX_VCPUS; i++) {
        shared_page_locked()->vcpu_ioreq[i].vp_eport = FXH_REMOTE_VCPU0 + i;
    }
    host.server = true;
    *id = 1;
out:
    pthread_mutex_unlock(&host.lock);
    return ret;
}

int fxh_ioreq_server_info(uint32_t *bufioreq_port)
{
    if (bufioreq_port) {
        *bufioreq_port = FXH_REMOTE_BUFIOREQ;
    }
    return host.server ? 0 : -1;
}

void *fxh_ioreq_pages_map(void *addr, unsigned long frame,
                          unsigned long nr_frames, int prot, int flags)
{
    void *p;

    if (!host.server || frame + nr_frames > FXH_IOREQ_FRAMES) {
        errno = EINVAL;
        return NULL;
    }
    p = mmap(addr, nr_frames * FXH_PAGE_SIZE, prot, MAP_SHARED | flags,
             host.ioreq_fd, frame * FXH_PAGE_SIZE);
    return p == MAP_FAILED ? NULL : p;
}

int fxh_ioreq_pages_unmap(void *addr, unsigned long nr_frames)
{
    return syscall(SYS_munmap, addr, nr_frames * FXH_PAGE_SIZE);
}

static void deadline_after(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Play vCPU @vcpu: hand QEMU @req and wait for its answer. */
static int vcpu_ioreq(unsigned int vcpu, ioreq_t *req, uint64_t timeout_ms)
{
    struct timespec deadline;
    ioreq_t *slot;
    int ret = 0;

    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&host.lock);
    if (!host.server || vcpu >= FXH_MAX_VCPUS) {
        ret = -ENODEV;
        goto out;
    }
    slot = &shared_page_locked()->vcpu_ioreq[vcpu];
    req->vp_eport = slot->vp_eport;
    req->state = STATE_IOREQ_NONE;
    *slot = *req;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    slot->state = STATE_IOREQ_READY;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    remote_fire_locked(FXH_REMOTE_VCPU0 + vcpu);
    for (;;) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (slot->state == STATE_IORESP_READY) {
            break;
        }
        if (pthread_cond_timedwait(&host.cond, &host.lock, &deadline) ==
            ETIMEDOUT) {
            ret = -ETIMEDOUT;
            goto out;
        }
    }
    req->data = slot->data;
    slot->state = STATE_IOREQ_NONE;
    host.stats[FXH_STAT_IOREQS]++;
out:
    pthread_mutex_unlock(&host.lock);
    return ret;
}

/* Append a buffered ioreq (a write) and fire the buffered port. */
static int buffered_ioreq(uint8_t type, uint32_t addr, uint64_t data,
                          uint32_t size)
{
    static const uint8_t log2_size[9] = { 0, 0, 1, 0, 2, 0, 0, 0, 3 };
    buffered_iopage_t *pg;
    unsigned int slots = size == 8 ? 2 : 1;
    int ret = 0;

    if (size > 8 || (size & (size - 1)) || addr >= (1u << 20)) {
        return -EINVAL;
    }
    pthread_mutex_lock(&host.lock);
    if (!host.server) {
        ret = -ENODEV;
        goto out;
    }
    pg = buffered_page_locked();
    if (pg->write_pointer - pg->read_pointer + slots >
        IOREQ_BUFFER_SLOT_NUM) {
        ret = -EBUSY;
        goto out;
    }
    for (unsigned int i = 0; i < slots; i++) {
        buf_ioreq_t *b = &pg->buf_ioreq[(pg->write_pointer + i) %
                                        IOREQ_BUFFER_SLOT_NUM];

        *b = (buf_ioreq_t) { .type = type, .dir = IOREQ_WRITE,
                             .size = log2_size[size], .addr = addr,
                             .data = (uint32_t)(data >> (32 * i)) };
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    pg->write_pointer += slots;
    remote_fire_locked(FXH_REMOTE_BUFIOREQ);
out:
    pthread_mutex_unlock(&host.lock);
    return ret;
}

static uint64_t wait_irq(uint64_t seen, uint64_t timeout_ms)
{
    struct timespec deadline;
    uint64_t now;

    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&host.lock);
    while (irq_events_locked() <= seen &&
           pthread_cond_timedwait(&host.cond, &host.lock, &deadline) !=
           ETIMEDOUT) {
        /* woken: look again */
    }
    now = irq_events_locked();
    pthread_mutex_unlock(&host.lock);
    return now;
}

void fxh_stats_get(uint64_t stats[])
{
    pthread_mutex_lock(&host.lock);
    memcpy(stats, host.stats, sizeof(host.stats));
    pthread_mutex_unlock(&host.lock);
}

/* The control socket */

static int send_answer(int fd, FxhMsg *m, const int *fds, int nr_fds)
{
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    char cbuf[CMSG_SPACE(2 * sizeof(int))];
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (nr_fds) {
        struct cmsghdr *c;

        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nr_fds * sizeof(int));
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == sizeof(*m) ? 0 : -1;
}

static void handle_ioreq_msg(FxhMsg *m)
{
    ioreq_t req = {
        .type = m->a[0], .dir = m->a[1], .addr = m->a[2], .data = m->a[3],
        .size = m->a[4], .count = m->a[5] ? m->a[5] : 1,
        .data_is_ptr = m->a[6],
    };

    m->status = vcpu_ioreq(m->vcpu, &req, m->a[7] ? m->a[7] : 10000);
    m->a[3] = req.data;
}

static void handle_stats(FxhMsg *m)
{
    pthread_mutex_lock(&host.lock);
    for (int i = 0; i < FXH_STAT__MAX; i++) {
        m->a[i] = host.stats[i];
    }
    pthread_mutex_unlock(&host.lock);
}

static void handle_xs(FxhMsg *m)
{
    FxhXs *xs = fxh_xs_open();
    unsigned int len;
    char *v;

    m->text[FXH_TEXT_MAX - 1] = 0;
    if (m->op == FXH_OP_XS_WRITE) {
        const char *value = m->text + strlen(m->text) + 1;

        m->status = fxh_xs_write(xs, m->text, value, strlen(value)) ?
                    0 : -EINVAL;
    } else {
        v = fxh_xs_read(xs, m->text, &len);
        m->status = v ? 0 : -ENOENT;
        snprintf(m->text, sizeof(m->text), "%s", v ? v : "");
        m->text_len = v ? len : 0;
        free(v);
    }
    fxh_xs_close(xs);
}

static void handle_msg(int fd, FxhMsg *m)
{
    int fds[2] = { host.ram_fd, host.p2m_fd };
    ioreq_t inv = { .type = IOREQ_TYPE_INVALIDATE, .size = 4, .count = 1 };

    m->status = 0;
    switch (m->op) {
    case FXH_OP_HELLO:
        m->a[0] = host.nr_backing << FXH_PAGE_SHIFT;
        m->a[1] = host.nr_gfns;
        m->a[2] = host.ram_gfns;
        send_answer(fd, m, fds, 2);
        return;
    case FXH_OP_IOREQ:
        handle_ioreq_msg(m);
        break;
    case FXH_OP_BUFIOREQ:
        m->status = buffered_ioreq(m->a[0], m->a[2], m->a[3], m->a[4]);
        break;
    case FXH_OP_WAIT_IRQ:
        m->a[0] = wait_irq(m->a[0], m->a[7]);
        break;
    case FXH_OP_DECREASE:
        m->status = fxh_decrease(m->a[0], m->a[1]);
        if (m->status) {
            break;
        }
        /* fall through: Xen sends the invalidate after a decrease */
    case FXH_OP_INVALIDATE:
        m->status = vcpu_ioreq(0, &inv, m->a[7] ? m->a[7] : 10000);
        break;
    case FXH_OP_POPULATE:
        m->status = fxh_populate(m->a[0], m->a[1], false);
        break;
    case FXH_OP_STATS:
        handle_stats(m);
        break;
    case FXH_OP_RESET_PEAK:
        pthread_mutex_lock(&host.lock);
        host.stats[FXH_STAT_PEAK_BYTES] = host.stats[FXH_STAT_LIVE_BYTES];
        pthread_mutex_unlock(&host.lock);
        break;
    case FXH_OP_XS_READ:
    case FXH_OP_XS_WRITE:
        handle_xs(m);
        break;
    default:
        m->status = -ENOSYS;
    }
    send_answer(fd, m, NULL, 0);
}

static void *control_main(void *opaque)
{
    int lfd = (intptr_t)opaque;

    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        FxhMsg m;

        if (fd < 0) {
            continue;
        }
        while (recv(fd, &m, sizeof(m), 0) == sizeof(m)) {
            handle_msg(fd, &m);
        }
        close(fd);
    }
    return NULL;
}

static void control_start(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    pthread_attr_t attr;
    pthread_t tid;
    int fd;

    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
        fxh_fatal("control socket");
    }
    strcpy(sa.sun_path, path);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
        fxh_fatal(path);
    }
    /* a small stack: under RLIMIT_AS, QEMU's address space is QEMU's */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FXH_CONTROL_STACK);
    if (pthread_create(&tid, &attr, control_main, (void *)(intptr_t)fd)) {
        fxh_fatal("control thread");
    }
    pthread_attr_destroy(&attr);
    pthread_detach(tid);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);

    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* An inherited descriptor named by @name, made close-on-exec; or -1. */
static int env_fd(const char *name)
{
    const char *v = getenv(name);
    int fd;

    if (!v || !*v) {
        return -1;
    }
    fd = atoi(v);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC)) {
        fxh_fatal(name);
    }
    return fd;
}

/* Guest RAM, populated as libxl and hvmloader leave it. */
static void ram_populate_boot(void)
{
    memset(host.p2m, 0xff, host.nr_gfns * sizeof(uint32_t));
    for (uint64_t g = 0; g < host.ram_gfns; g++) {
        host.p2m[g] = g;
    }
    host.p2m[fxh_special_gfn()] = fxh_special_gfn();
}

static void ram_init(void)
{
    uint64_t ram_mb = env_u64("FAKE_XEN_HOST_RAM_MB", 128);
    bool restore;

    host.ram_gfns = ram_mb << (20 - FXH_PAGE_SHIFT);
    host.nr_gfns = host.ram_gfns +
                   ((uint64_t)FXH_EXTRA_GFNS_MB << (20 - FXH_PAGE_SHIFT));
    if (host.nr_gfns < FXH_MIN_GFNS) {
        host.nr_gfns = FXH_MIN_GFNS;    /* BARs live below 4 GiB */
    }
    host.nr_backing = host.nr_gfns * 2;
    host.next_backing = host.nr_gfns;
    host.ram_fd = env_fd("FAKE_XEN_HOST_RAM_FD");
    host.p2m_fd = env_fd("FAKE_XEN_HOST_P2M_FD");
    restore = host.ram_fd >= 0 && host.p2m_fd >= 0;
    if (!restore) {
        host.ram_fd = memfd_create("fake-xen-host-ram", MFD_CLOEXEC);
        host.p2m_fd = memfd_create("fake-xen-host-p2m", MFD_CLOEXEC);
    }
    if (host.ram_fd < 0 || host.p2m_fd < 0 ||
        ftruncate(host.ram_fd, host.nr_backing << FXH_PAGE_SHIFT) ||
        ftruncate(host.p2m_fd, host.nr_gfns * sizeof(uint32_t))) {
        fxh_fatal("memfd for guest RAM");
    }
    host.p2m = mmap(NULL, host.nr_gfns * sizeof(uint32_t),
                    PROT_READ | PROT_WRITE, MAP_SHARED, host.p2m_fd, 0);
    host.backing_used = calloc(host.nr_backing, 1);
    if (host.p2m == MAP_FAILED || !host.backing_used) {
        fxh_fatal("p2m");
    }
    if (!restore) {
        ram_populate_boot();
    }
    for (uint64_t g = 0; g < host.nr_gfns; g++) {
        if (host.p2m[g] != FXH_P2M_INVALID) {
            host.backing_used[host.p2m[g]] = 1;
        }
    }
}

/* Is QEMU's munmap() ours?  Only if the core is in LD_PRELOAD. */
static void check_munmap_interposed(void)
{
    void *first = dlsym(RTLD_DEFAULT, "munmap");
    Dl_info info;

    if (!first || !dladdr(first, &info) ||
        !strstr(info.dli_fname, "libfakexenhost")) {
        fprintf(stderr, "fake-xen-host: warning: munmap() is not "
                "interposed (put libfakexenhost.so in LD_PRELOAD): plain "
                "munmap() of foreign mappings will not be counted\n");
    }
}

static void host_init_once(void)
{
    const char *log = getenv("FAKE_XEN_HOST_LOG");
    const char *sock = getenv("FAKE_XEN_HOST_SOCKET");

    if (log && *log) {
        host.log = fopen(log, "a");
    }
    ram_init();
    __atomic_store_n(&host.ready, true, __ATOMIC_RELEASE);
    check_munmap_interposed();
    if (sock && *sock) {
        control_start(sock);
    }
    fxh_log("host ready: %" PRIu64 " gfns of RAM, socket %s",
            host.ram_gfns, sock ? sock : "(none)");
}

/*
 * Called by every library's open function: the host starts in the first
 * process that opens Xen, not in every process that loads the libraries
 * (LD_PRELOAD reaches prlimit, setpriv and timeout too).
 */
void fxh_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    pthread_once(&once, host_init_once);
}
