/* Kernel feature probe. Every check builds the real thing and tears it down; nothing here is cached,
 * so callers run it once per worker at start (and `uringasgi --kernel-info` runs it on demand). */
#define _GNU_SOURCE
#include "loop/probe.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

#define PROBE_BGID 7
#define PROBE_NBUF 4
#define PROBE_BUFSZ 64

/* A listening socket on 127.0.0.1 with a kernel-chosen port; returns its fd and fills addr. */
static int loopback_listener(struct sockaddr_in *addr)
{
    socklen_t len = sizeof(*addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int loopback_connect(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

static int wait_one(struct io_uring *ring, int *res, unsigned *flags)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    int ret = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
    if (ret < 0)
        return ret;
    *res = cqe->res;
    *flags = cqe->flags;
    io_uring_cqe_seen(ring, cqe);
    return 0;
}

static int setup_flag_ok(unsigned flags)
{
    struct io_uring r;
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flags;
    if (io_uring_queue_init_params(4, &r, &p) < 0)
        return 0;
    io_uring_queue_exit(&r);
    return 1;
}

static int probe_multishot_accept(struct io_uring *ring)
{
    struct sockaddr_in addr;
    int ok = 0, res, cfd;
    unsigned flags;
    int lfd = loopback_listener(&addr);
    if (lfd < 0)
        return 0;
    io_uring_prep_multishot_accept(io_uring_get_sqe(ring), lfd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_submit(ring);
    cfd = loopback_connect(&addr);
    if (cfd >= 0 && wait_one(ring, &res, &flags) == 0 && res >= 0) {
        ok = (flags & IORING_CQE_F_MORE) != 0;
        close(res);
    }
    /* Closing the listener ends the multishot request; reap its final CQE so the ring is clean. */
    io_uring_prep_cancel_fd(io_uring_get_sqe(ring), lfd, 0);
    io_uring_submit(ring);
    while (wait_one(ring, &res, &flags) == 0)
        ;
    if (cfd >= 0)
        close(cfd);
    close(lfd);
    return ok;
}

static int probe_buf_ring_and_recv(struct io_uring *ring, int *buf_ring_ok)
{
    struct io_uring_buf_reg reg;
    struct io_uring_buf_ring *br;
    size_t ring_bytes = PROBE_NBUF * sizeof(struct io_uring_buf);
    static char bufs[PROBE_NBUF][PROBE_BUFSZ];
    int sv[2], ok = 0, res;
    unsigned flags;

    *buf_ring_ok = 0;
    br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED)
        return 0;
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)br;
    reg.ring_entries = PROBE_NBUF;
    reg.bgid = PROBE_BGID;
    if (io_uring_register_buf_ring(ring, &reg, 0) < 0) {
        munmap(br, ring_bytes);
        return 0;
    }
    *buf_ring_ok = 1;
    io_uring_buf_ring_init(br);
    for (int i = 0; i < PROBE_NBUF; i++)
        io_uring_buf_ring_add(br, bufs[i], PROBE_BUFSZ, i, io_uring_buf_ring_mask(PROBE_NBUF), i);
    io_uring_buf_ring_advance(br, PROBE_NBUF);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = PROBE_BGID;
        io_uring_submit(ring);
        if (write(sv[1], "x", 1) == 1 && wait_one(ring, &res, &flags) == 0)
            ok = res == 1 && (flags & IORING_CQE_F_MORE) && (flags & IORING_CQE_F_BUFFER);
        close(sv[1]);
        close(sv[0]);
        while (wait_one(ring, &res, &flags) == 0 && (flags & IORING_CQE_F_MORE))
            ;
    }
    io_uring_unregister_buf_ring(ring, PROBE_BGID);
    munmap(br, ring_bytes);
    return ok;
}

static int probe_ktls(void)
{
    struct sockaddr_in addr;
    int ok = 0;
    int lfd = loopback_listener(&addr);
    if (lfd < 0)
        return 0;
    int cfd = loopback_connect(&addr);
    if (cfd >= 0) {
        /* ENOENT: no tls module; anything else but success means it exists and refused us. */
        ok = setsockopt(cfd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0;
        close(cfd);
    }
    close(lfd);
    return ok;
}

int ua_probe(struct ua_probe_result *out)
{
    struct utsname u;
    struct io_uring ring;
    struct io_uring_probe *p;

    memset(out, 0, sizeof(*out));
    if (uname(&u) == 0)
        snprintf(out->kernel, sizeof(out->kernel), "%s", u.release);
    out->ktls = probe_ktls();

    if (io_uring_queue_init(8, &ring, 0) < 0)
        return 0;
    out->io_uring = 1;
    out->single_issuer = setup_flag_ok(IORING_SETUP_SINGLE_ISSUER);
    out->defer_taskrun = setup_flag_ok(IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);

    p = io_uring_get_probe_ring(&ring);
    if (p) {
        out->send_zc = io_uring_opcode_supported(p, IORING_OP_SEND_ZC);
        io_uring_free_probe(p);
    }
    out->multishot_accept = probe_multishot_accept(&ring);
    out->multishot_recv = probe_buf_ring_and_recv(&ring, &out->buf_ring);
    io_uring_queue_exit(&ring);
    return 0;
}
