/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Start a QEMU under the simulated Xen host, as libxl would start a
 * device model, talk to the host's control socket, and tell afterwards
 * what the binary did: still running, exited (with which message),
 * killed by a signal (with which assertion).  Every wait has a timeout,
 * and a QEMU that dies closes the host's socket: a crash is seen as a
 * crash at once, never as a hang.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"

#define START_TIMEOUT_MS    20000
#define CALL_SLACK_MS       5000
#define DEFAULT_CALL_MS     10000

uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static char *xstrdup_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *xstrdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        abort();
    }
    va_end(ap);
    return s;
}

/* The command line libxl gives an HVM device model, plus our disk. */
static const char **qemu_argv(const DmOpts *o, const char *qmp)
{
    const char **argv = calloc(64, sizeof(char *));
    int n = 0;

    if (o->rlimit_as) {
        argv[n++] = "prlimit";
        argv[n++] = xstrdup_printf("--as=%llu",
                                   (unsigned long long)o->rlimit_as);
    }
    if (o->unprivileged) {
        argv[n++] = "setpriv";
        argv[n++] = "--reuid=65534";
        argv[n++] = "--regid=65534";
        argv[n++] = "--clear-groups";
    }
    argv[n++] = o->qemu;
    argv[n++] = "-machine";
    argv[n++] = xstrdup_printf("%s,suppress-vmdesc=on%s%s",
                               o->machine ? o->machine : "xenfv",
                               o->machine_extra ? "," : "",
                               o->machine_extra ? o->machine_extra : "");
    if (o->accel) {
        argv[n++] = "-accel";
        argv[n++] = xstrdup_printf("xen%s%s", o->accel[0] ? "," : "",
                                   o->accel);
    }
    argv[n++] = "-xen-domid";
    argv[n++] = "1";
    argv[n++] = "-no-shutdown";
    argv[n++] = "-nodefaults";
    argv[n++] = "-no-user-config";
    argv[n++] = "-display";
    argv[n++] = "none";
    if (o->smp) {
        argv[n++] = "-smp";
        argv[n++] = xstrdup_printf("%u", o->smp);
    }
    argv[n++] = "-m";
    argv[n++] = xstrdup_printf("%llu", (unsigned long long)o->ram_mb);
    argv[n++] = "-qmp";
    argv[n++] = xstrdup_printf("unix:%s,server=on,wait=off", qmp);
    argv[n++] = "-drive";
    argv[n++] = xstrdup_printf("file=%s,if=none,id=d0,format=raw,"
                               "cache=writeback", o->image);
    if (o->iothread) {
        argv[n++] = "-object";
        argv[n++] = "iothread,id=io0";
    }
    if (o->image_ahci) {
        /* as libxl gives hdtype=ahci */
        argv[n++] = "-device";
        argv[n++] = "ahci,id=ahci0,addr=0x5";
        argv[n++] = "-drive";
        argv[n++] = xstrdup_printf("file=%s,if=none,id=ahcidisk-0,"
                                   "format=raw,cache=writeback",
                                   o->image_ahci);
        argv[n++] = "-device";
        argv[n++] = "ide-hd,bus=ahci0.0,unit=0,drive=ahcidisk-0";
    }
    if (o->vga) {
        argv[n++] = "-device";
        argv[n++] = "VGA,vgamem_mb=8,romfile=";
    }
    if (o->incoming) {
        argv[n++] = "-incoming";
        argv[n++] = o->incoming;
    }
    argv[n++] = "-device";
    argv[n++] = xstrdup_printf("virtio-blk-pci,drive=d0,addr=0x4,"
                               "queue-size=%u%s", o->queue_size,
                               o->iothread ? ",iothread=io0" : "");
    argv[n] = NULL;
    return argv;
}

static void qemu_exec(DeviceModel *q, const char **argv, int log_fd)
{
    const DmOpts *o = &q->opts;
    char *host_log = getenv("E2E_HOST_LOG");

    setenv("LD_LIBRARY_PATH", o->host_dir, 1);
    setenv("LD_PRELOAD", xstrdup_printf("%s/libfakexenhost.so",
                                        o->host_dir), 1);
    setenv("FAKE_XEN_HOST_SOCKET", q->sock_path, 1);
    setenv("FAKE_XEN_HOST_RAM_MB",
           xstrdup_printf("%llu", (unsigned long long)o->ram_mb), 1);
    if (host_log) {
        setenv("FAKE_XEN_HOST_LOG", host_log, 1);
    }
    if (o->restore) {
        fcntl(o->domain_fds[0], F_SETFD, 0);
        fcntl(o->domain_fds[1], F_SETFD, 0);
        setenv("FAKE_XEN_HOST_RAM_FD",
               xstrdup_printf("%d", o->domain_fds[0]), 1);
        setenv("FAKE_XEN_HOST_P2M_FD",
               xstrdup_printf("%d", o->domain_fds[1]), 1);
    }
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    setpgid(0, 0);
    /* no QEMU outlives the test (setpriv's change of uid clears this) */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp(argv[0], (char **)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* The QEMU running now, for the signal handler */
static volatile pid_t live_pid;

static void on_fatal_signal(int sig)
{
    if (live_pid > 0) {
        kill(live_pid, SIGKILL);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Killed (a meson timeout, ^C): take the running QEMU along. */
void qemu_reap_on_signals(void)
{
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
}

/* Unix socket paths are short: say so rather than cut one. */
static int sun_set(struct sockaddr_un *sa, const char *path)
{
    size_t len = strlen(path);

    if (len >= sizeof(sa->sun_path)) {
        fprintf(stderr, "# socket path too long: %s\n", path);
        return -ENAMETOOLONG;
    }
    memcpy(sa->sun_path, path, len + 1);
    return 0;
}

static int recv_fds(int sock, FxhMsg *m, int fds[2])
{
    char cbuf[CMSG_SPACE(2 * sizeof(int))];
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *c;

    if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != sizeof(*m)) {
        return -EPIPE;
    }
    c = CMSG_FIRSTHDR(&mh);
    if (!c || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(2 * sizeof(int))) {
        return -EPROTO;
    }
    memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
    return 0;
}

static int host_connect(DeviceModel *q)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint64_t deadline = now_ns() + START_TIMEOUT_MS * 1000000ull;

    if (sun_set(&sa, q->sock_path)) {
        return -ENAMETOOLONG;
    }
    while (now_ns() < deadline) {
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            return fd;
        }
        close(fd);
        if (qemu_gone(q)) {
            return -ECHILD;
        }
        sleep_ms(20);
    }
    return -ETIMEDOUT;
}

/* Say hello: receive guest RAM and the p2m, and map both here. */
static int host_hello(DeviceModel *q)
{
    FxhMsg m = { .op = FXH_OP_HELLO };
    int fds[2];
    int ret;

    if (send(q->sock, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m)) {
        return -EPIPE;
    }
    ret = recv_fds(q->sock, &m, fds);
    if (ret) {
        return ret;
    }
    q->ram_bytes = m.a[0];
    q->nr_gfns = m.a[1];
    q->ram = mmap(NULL, q->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                  fds[0], 0);
    q->p2m = mmap(NULL, q->nr_gfns * sizeof(uint32_t), PROT_READ,
                  MAP_SHARED, fds[1], 0);
    q->ram_fd = fds[0];
    q->p2m_fd = fds[1];
    if (q->ram == MAP_FAILED || q->p2m == MAP_FAILED) {
        return -errno;
    }
    return 0;
}

int qemu_start(DeviceModel *q, const DmOpts *opts)
{
    const char **argv;
    int log_fd;
    int ret;

    memset(q, 0, sizeof(*q));
    q->opts = *opts;
    q->sock = -1;
    q->ram_fd = -1;
    q->p2m_fd = -1;
    snprintf(q->log_path, sizeof(q->log_path), "%s/qemu.log", opts->run_dir);
    snprintf(q->sock_path, sizeof(q->sock_path), "%s/host.sock",
             opts->run_dir);
    snprintf(q->qmp_path, sizeof(q->qmp_path), "%s/qmp.sock", opts->run_dir);
    unlink(q->sock_path);
    unlink(q->qmp_path);
    log_fd = open(q->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
    if (log_fd < 0) {
        return -errno;
    }
    argv = qemu_argv(opts, q->qmp_path);
    q->pid = fork();
    if (q->pid == 0) {
        qemu_exec(q, argv, log_fd);
    }
    live_pid = q->pid;
    close(log_fd);
    if (q->pid < 0) {
        return -errno;
    }
    q->outcome = QEMU_RUNNING;
    q->sock = host_connect(q);
    if (q->sock < 0) {
        ret = q->sock;
        q->sock = -1;
        return ret;
    }
    return host_hello(q);
}

bool qemu_gone(DeviceModel *q)
{
    int wstatus;

    if (q->outcome != QEMU_RUNNING) {
        return true;
    }
    if (waitpid(q->pid, &wstatus, WNOHANG) != q->pid) {
        return false;
    }
    if (WIFSIGNALED(wstatus)) {
        q->outcome = QEMU_SIGNALED;
        q->status = WTERMSIG(wstatus);
    } else {
        q->outcome = QEMU_EXITED;
        q->status = WEXITSTATUS(wstatus);
    }
    return true;
}

/* Wait up to @ms for the child to go. */
bool qemu_wait_gone(DeviceModel *q, int ms)
{
    uint64_t deadline = now_ns() + ms * 1000000ull;

    while (!qemu_gone(q)) {
        if (now_ns() > deadline) {
            return false;
        }
        sleep_ms(10);
    }
    return true;
}

void qemu_log_find(DeviceModel *q, const char *needle, char *buf, size_t len)
{
    FILE *f = fopen(q->log_path, "r");
    char line[1024];

    buf[0] = 0;
    if (!f) {
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, needle)) {
            line[strcspn(line, "\n")] = 0;
            snprintf(buf, len, "%s", line);
            break;
        }
    }
    fclose(f);
}

static void log_last_line(DeviceModel *q, char *buf, size_t len)
{
    FILE *f = fopen(q->log_path, "r");
    char line[1024];

    buf[0] = 0;
    if (!f) {
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = 0;
        if (line[0]) {
            snprintf(buf, len, "%s", line);
        }
    }
    fclose(f);
}

void qemu_describe(DeviceModel *q, char *buf, size_t len)
{
    char line[1024];

    /* A QEMU that aborts may take a moment to be reaped. */
    qemu_wait_gone(q, q->outcome == QEMU_RUNNING && q->sock < 0 ? 2000 : 0);
    switch (q->outcome) {
    case QEMU_RUNNING:
        snprintf(buf, len, "running");
        break;
    case QEMU_SIGNALED:
        qemu_log_find(q, "Assertion", line, sizeof(line));
        if (!line[0]) {
            log_last_line(q, line, sizeof(line));
        }
        snprintf(buf, len, "killed by signal %d (%s): %s", q->status,
                 strsignal(q->status), line);
        break;
    case QEMU_EXITED:
        line[0] = 0;
        if (q->status) {
            log_last_line(q, line, sizeof(line));
        }
        snprintf(buf, len, "exited with status %d%s%s", q->status,
                 line[0] ? ": " : "", line);
        break;
    }
}

static bool starts_with(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/*
 * A minimal QMP client.  Read until a line holds "return" or "error"
 * (or the greeting, for @cmd NULL); events are skipped.  For "quit",
 * the connection closing counts as the answer.
 */
static int qmp_exchange(int fd, const char *cmd, char *reply, size_t len,
                        int timeout_ms)
{
    static char buf[65536];
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    size_t used = 0;

    if (cmd && write(fd, cmd, strlen(cmd)) != (ssize_t)strlen(cmd)) {
        return -EPIPE;
    }
    for (;;) {
        char *line;
        ssize_t n;

        if (poll(&pfd, 1, timeout_ms) != 1) {
            return -ETIMEDOUT;
        }
        n = read(fd, buf + used, sizeof(buf) - 1 - used);
        if (n <= 0) {
            return cmd && strstr(cmd, "\"quit\"") ? 0 : -EPIPE;
        }
        used += n;
        buf[used] = 0;
        for (line = buf; strchr(line, '\n'); line = strchr(line, '\n') + 1) {
            bool ret = starts_with(line, "{\"return\"");
            bool err = starts_with(line, "{\"error\"");
            bool greet = starts_with(line, "{\"QMP\"");

            if ((cmd && (ret || err)) || (!cmd && greet)) {
                if (reply) {
                    snprintf(reply, len, "%.*s",
                             (int)(strchr(line, '\n') - line), line);
                }
                return err ? -EINVAL : 0;
            }
        }
        if (used == sizeof(buf) - 1) {
            used = 0;
        }
    }
}

static int qmp_connect(DeviceModel *q, int timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint64_t deadline = now_ns() + timeout_ms * 1000000ull;
    int fd = -1;

    if (sun_set(&sa, q->qmp_path)) {
        return -ENAMETOOLONG;
    }
    while (now_ns() < deadline && !qemu_gone(q)) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            break;
        }
        close(fd);
        fd = -1;
        sleep_ms(20);
    }
    if (fd < 0) {
        return -ECONNREFUSED;
    }
    if (qmp_exchange(fd, NULL, NULL, 0, timeout_ms) ||
        qmp_exchange(fd, "{\"execute\": \"qmp_capabilities\"}\n", NULL, 0,
                     timeout_ms)) {
        close(fd);
        return -EPROTO;
    }
    return fd;
}

int qemu_qmp(DeviceModel *q, const char *cmd, char *reply, size_t len,
             int timeout_ms)
{
    int fd = qmp_connect(q, timeout_ms);
    int ret;

    if (reply) {
        reply[0] = 0;
    }
    if (fd < 0) {
        return fd;
    }
    ret = qmp_exchange(fd, cmd, reply, len, timeout_ms);
    close(fd);
    return ret;
}

int qemu_quit(DeviceModel *q, int timeout_ms)
{
    int ret = qemu_qmp(q, "{\"execute\": \"quit\"}\n", NULL, 0,
                       timeout_ms);

    if (!ret && !qemu_wait_gone(q, timeout_ms)) {
        ret = -ETIMEDOUT;
    }
    return ret;
}

void qemu_kill(DeviceModel *q)
{
    if (q->sock >= 0) {
        close(q->sock);
        q->sock = -1;
    }
    if (q->pid > 0 && !qemu_gone(q)) {
        kill(-q->pid, SIGKILL);
        kill(q->pid, SIGKILL);
        qemu_wait_gone(q, 5000);
    }
    if (q->ram && q->ram != MAP_FAILED) {
        munmap(q->ram, q->ram_bytes);
        q->ram = NULL;
    }
    if (q->p2m && q->p2m != MAP_FAILED) {
        munmap((void *)q->p2m, q->nr_gfns * sizeof(uint32_t));
        q->p2m = NULL;
    }
    if (q->ram_fd >= 0) {
        close(q->ram_fd);
        close(q->p2m_fd);
        q->ram_fd = q->p2m_fd = -1;
    }
}

/* The control protocol */

int host_call(DeviceModel *q, FxhMsg *m)
{
    struct pollfd pfd = { .fd = q->sock, .events = POLLIN };
    int timeout = (m->a[7] ? m->a[7] : DEFAULT_CALL_MS) + CALL_SLACK_MS;

    if (q->sock < 0) {
        return -EPIPE;
    }
    if (send(q->sock, m, sizeof(*m), MSG_NOSIGNAL) != sizeof(*m) ||
        poll(&pfd, 1, timeout) != 1 ||
        recv(q->sock, m, sizeof(*m), 0) != sizeof(*m)) {
        /* QEMU, and the host with it, has gone, or hangs. */
        close(q->sock);
        q->sock = -1;
        return -EPIPE;
    }
    return m->status;
}

int host_stats(DeviceModel *q, uint64_t stats[FXH_STAT__MAX])
{
    FxhMsg m = { .op = FXH_OP_STATS };
    int ret = host_call(q, &m);

    for (int i = 0; i < FXH_STAT__MAX; i++) {
        stats[i] = ret ? 0 : m.a[i];
    }
    return ret;
}

int host_xs_read(DeviceModel *q, const char *path, char *buf, size_t len)
{
    FxhMsg m = { .op = FXH_OP_XS_READ };
    int ret;

    snprintf(m.text, sizeof(m.text), "%s", path);
    ret = host_call(q, &m);
    snprintf(buf, len, "%s", ret ? "" : m.text);
    return ret;
}

/* Guest RAM */

void *gpa_ptr(DeviceModel *q, uint64_t gpa)
{
    uint64_t gfn = gpa >> FXH_PAGE_SHIFT;
    uint32_t b;

    if (gfn >= q->nr_gfns) {
        return NULL;
    }
    b = __atomic_load_n(&q->p2m[gfn], __ATOMIC_ACQUIRE);
    if (b == FXH_P2M_INVALID) {
        return NULL;
    }
    return q->ram + ((uint64_t)b << FXH_PAGE_SHIFT) +
           (gpa & (FXH_PAGE_SIZE - 1));
}

static void guest_copy(DeviceModel *q, uint64_t gpa, void *buf, size_t len,
                       bool to_guest)
{
    uint8_t *p = buf;

    while (len) {
        size_t chunk = FXH_PAGE_SIZE - (gpa & (FXH_PAGE_SIZE - 1));
        uint8_t *g = gpa_ptr(q, gpa);

        chunk = chunk < len ? chunk : len;
        if (!g) {
            fprintf(stderr, "# guest gpa 0x%llx is not populated\n",
                    (unsigned long long)gpa);
            abort();
        }
        if (to_guest) {
            memcpy(g, p, chunk);
        } else {
            memcpy(p, g, chunk);
        }
        gpa += chunk;
        p += chunk;
        len -= chunk;
    }
}

void guest_write(DeviceModel *q, uint64_t gpa, const void *buf, size_t len)
{
    guest_copy(q, gpa, (void *)buf, len, true);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void guest_read(DeviceModel *q, uint64_t gpa, void *buf, size_t len)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    guest_copy(q, gpa, buf, len, false);
}
