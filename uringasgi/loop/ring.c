/* The ring: setup, the one call per loop iteration, wake-ups, third-party fd polls, the event batch.
 *
 * Rules of ua_ring_run (one per event-loop iteration):
 *   1. Start a batch: forget the last batch's events and arena, give back the provided buffers its events
 *      pointed into, re-arm the polls the last batch reported (see "polls" below).
 *   2. Give up the requests Python still holds whose client sent its EOF in the last batch (conn.c), and
 *      deliver work left over from it (input that did not fit, WRITABLE/DISCONNECT).
 *   3. Submit everything queued (Python's sends included) and wait in the same io_uring_enter, unless the
 *      batch already has events: then only reap. The wait ends at the caller's timeout or at the engine's
 *      next timer deadline, whichever is first.
 *   4. Handle every completion in C. A completion is taken from the CQ only while the batch has room for
 *      what it may produce (UA_EV_RESERVE); the rest stay in the CQ for the next run.
 *   5. Fire expired timers, deliver work, and loop to 3 until there is an event for Python, the caller's
 *      timeout has passed, or a wake-up came. SQEs the engine queued for itself are submitted before
 *      returning, so a loop that waits on ua_ring_fd() elsewhere never strands them.
 *
 * Setup flags: SINGLE_ISSUER|DEFER_TASKRUN (6.1) keeps completion work in this thread until we ask for
 * it; COOP_TASKRUN (5.19) is the next best; plain otherwise. DEFER_TASKRUN is used only if the ring fd
 * still polls readable when completions are pending, because ua_ring_fd() relies on it under a stock
 * asyncio loop (it does on 6.x; the check is real, not assumed).
 *
 * Polls for third-party fds are one-shot and re-armed at the start of the next run, while Python still
 * wants them. That makes them level-triggered, as selectors (and so asyncio transports) expect: a
 * multishot poll fires only on new wake-ups, and would stall a reader that left bytes unread.
 */
#define _GNU_SOURCE
#include "loop/engine.h"
#include "routes/serve.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A completion may produce this many events at once; the CQ is reaped only while they fit. */
#define UA_EV_RESERVE 4
#define ARENA_BLOCK (64 * 1024)

static void config_defaults(struct ua_ring_config *c)
{
    if (!c->entries)
        c->entries = 2048;
    if (!c->buf_count)
        c->buf_count = 1024;
    if (!c->buf_size)
        c->buf_size = 16384;
    if (!c->max_conns)
        c->max_conns = 16384;
    if (!c->keepalive_ms)
        c->keepalive_ms = 5000; /* uvicorn's --timeout-keep-alive */
    if (!c->header_timeout_ms)
        c->header_timeout_ms = 10000;
    if (!c->write_timeout_ms)
        c->write_timeout_ms = 30000;
    if (!c->max_head)
        c->max_head = 16384;
    if (!c->max_headers)
        c->max_headers = 64;
    if (!c->max_target)
        c->max_target = 8000; /* RFC 9112 section 3: support at least 8000 octets */
    if (!c->out_high_water)
        c->out_high_water = 256 * 1024;
    if (!c->out_low_water || c->out_low_water > c->out_high_water)
        c->out_low_water = c->out_high_water / 4;
    /* zc_threshold 0 stays 0: send.c reads it as "the default", which depends on the peer */
}

/* The date header is formatted at most once a second (h1.c caches it), from the wall clock. */
static void tick_date(struct ua_ring *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    ua_h1_tick(&r->h1set, (int64_t)ts.tv_sec);
}

uint64_t ua_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- SQEs, events, arena ---- */

struct io_uring_sqe *ua_sqe(struct ua_ring *r)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&r->ring))) {
        /* SQ full: submit what is there. EBUSY (an old kernel with a full CQ backlog) clears once the
         * backlog is flushed, which io_uring_get_events does. */
        if (io_uring_submit(&r->ring) == -EBUSY)
            io_uring_get_events(&r->ring);
    }
    r->st.ops_inflight++;
    return sqe;
}

uint32_t ua_room(const struct ua_ring *r)
{
    return r->ev_cap - r->ev_n;
}

struct ua_event *ua_emit(struct ua_ring *r, uint32_t type, uint32_t conn, int32_t res)
{
    struct ua_event *e = &r->ev[r->ev_n++];
    e->type = type;
    e->conn = conn;
    e->res = res;
    e->len = 0;
    e->data = NULL;
    return e;
}

void *ua_arena_alloc(struct ua_ring *r, size_t n)
{
    struct ua_arena_block *b = r->arena;
    n = (n + 7) & ~(size_t)7;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        struct ua_arena_block *nb = malloc(sizeof(*nb) + cap);
        if (!nb)
            return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        r->arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

/* Keep one block for the next batch, free the rest. */
static void arena_reset(struct ua_ring *r)
{
    struct ua_arena_block *b = r->arena;
    if (!b)
        return;
    while (b->next) {
        struct ua_arena_block *n = b->next;
        b->next = n->next;
        free(n);
    }
    if (b->cap > ARENA_BLOCK) {
        free(b);
        r->arena = NULL;
        return;
    }
    b->used = 0;
}

/* ---- setup ---- */

/* Is a registered eventfd signalled once a completion is pending? A recv on a socket pair, one byte, one
 * poll. ua_ring_fd() depends on it under a stock asyncio loop. The ring fd itself is not enough: under
 * DEFER_TASKRUN a completion is task work until the submitter enters the ring, and adding that work wakes
 * the submitter task and the eventfd but not an epoll watching the ring fd (seen on 6.18: poll() and
 * select() notice, because they re-poll when the task wakes; epoll, which asyncio uses, does not). */
static int notify_works(struct io_uring *ring)
{
    int sv[2], ok = 0;
    char byte;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return 0;
    if (io_uring_register_eventfd(ring, efd) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        close(efd);
        return 0;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    io_uring_prep_recv(sqe, sv[0], &byte, 1, 0);
    sqe->user_data = 0;
    if (io_uring_submit(ring) == 1 && write(sv[1], "x", 1) == 1) {
        struct pollfd p = {.fd = efd, .events = POLLIN};
        ok = poll(&p, 1, 1000) == 1 && (p.revents & POLLIN);
    }
    close(sv[1]);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
    if (io_uring_wait_cqe_timeout(ring, &cqe, &ts) == 0)
        io_uring_cqe_seen(ring, cqe);
    close(sv[0]);
    io_uring_unregister_eventfd(ring);
    close(efd);
    return ok;
}

static int ring_setup(struct ua_ring *r)
{
    static const uint32_t tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
        0,
    };
    uint32_t cq = r->cfg.entries * 4;
    if (cq < r->cfg.max_conns * 2)
        cq = r->cfg.max_conns * 2;
    if (cq > 65536)
        cq = 65536; /* IORING_MAX_CQ_ENTRIES */
    int ret = -EINVAL;
    for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
        if (tries[i] & r->cfg.setup_flags_mask)
            continue;
        struct io_uring_params p;
        memset(&p, 0, sizeof(p));
        p.flags = tries[i] | IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
        p.cq_entries = cq;
        ret = io_uring_queue_init_params(r->cfg.entries, &r->ring, &p);
        if (ret < 0)
            continue;
        if ((tries[i] & IORING_SETUP_DEFER_TASKRUN) && !notify_works(&r->ring)) {
            io_uring_queue_exit(&r->ring);
            ret = -EOPNOTSUPP;
            continue;
        }
        r->setup_flags = p.flags;
        r->ring_ok = 1;
        return 0;
    }
    return ret;
}

static void wake_arm(struct ua_ring *r)
{
    if (r->stopping)
        return;
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_poll_multishot(sqe, r->wake_fd, POLLIN);
    sqe->user_data = UD(OP_WAKE, 0, 0);
    r->wake_armed = 1;
}

int ua_ring_new(const struct ua_ring_config *cfg, struct ua_ring **out)
{
    struct ua_ring *r = calloc(1, sizeof(*r));
    int ret;
    if (!r)
        return -ENOMEM;
    if (cfg)
        r->cfg = *cfg;
    config_defaults(&r->cfg);
    r->wake_fd = -1;
    r->notify_fd = -1;
    if (r->cfg.buf_count & (r->cfg.buf_count - 1) || r->cfg.buf_count > 32768 || r->cfg.buf_size < 64 ||
        r->cfg.out_low_water > r->cfg.out_high_water) {
        free(r);
        return -EINVAL;
    }
    if (r->cfg.extra_headers_len) {
        uint8_t *copy = malloc(r->cfg.extra_headers_len);
        if (!copy) {
            free(r);
            return -ENOMEM;
        }
        memcpy(copy, r->cfg.extra_headers, r->cfg.extra_headers_len);
        r->cfg.extra_headers = copy;
    } else {
        r->cfg.extra_headers = NULL;
    }
    ret = ring_setup(r);
    if (ret < 0) {
        free((void *)r->cfg.extra_headers);
        free(r);
        return ret;
    }
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++)
        r->lis[i].fd = -1;
    r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (r->wake_fd < 0) {
        ret = -errno;
        goto fail;
    }
    ret = ua_bufring_init(&r->bufs, &r->ring, r->cfg.buf_count, r->cfg.buf_size);
    if (ret < 0)
        goto fail;
    ret = ua_conns_init(r);
    if (ret < 0)
        goto fail;
    wake_arm(r);
    r->st.setup_flags = r->setup_flags;
    *out = r;
    return 0;
fail:
    ua_ring_free(r);
    return ret;
}

static void reap(struct ua_ring *r);

/* Teardown: every connection starts closing, everything else in the kernel is cancelled, and completions
 * are reaped until none is in flight (bounded, in case the kernel holds one back), so that nothing the
 * kernel may still write into is freed. */
static void drain(struct ua_ring *r)
{
    struct ua_event scratch[64];
    r->stopping = 1;
    ua_conns_abort_all(r);
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    sqe->user_data = UD(OP_QUIET, 0, 0);
    for (int i = 0; i < 50 && r->st.ops_inflight; i++) {
        struct io_uring_cqe *cqe;
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
        r->ev = scratch;
        r->ev_cap = 64;
        r->ev_n = 0;
        io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, &ts, NULL);
        reap(r);
        r->now_ms = ua_now_ms();
        ua_conns_work(r);
        ua_bufring_flush(&r->bufs);
    }
    r->ev = NULL;
}

void ua_ring_free(struct ua_ring *r)
{
    if (!r)
        return;
    if (r->ring_ok) {
        drain(r);
        io_uring_queue_exit(&r->ring);
    }
    ua_conns_fini(r);
    ua_bufring_fini(&r->bufs);
    ua_routes_free(r);
    if (r->wake_fd >= 0)
        close(r->wake_fd);
    if (r->notify_fd >= 0)
        close(r->notify_fd);
    arena_reset(r);
    free(r->arena);
    free(r->polls);
    free(r->poll_rearm);
    free((void *)r->cfg.extra_headers);
    free(r);
}

int ua_ring_fd(struct ua_ring *r)
{
    if (r->notify_fd < 0) {
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0)
            return -errno;
        int ret = io_uring_register_eventfd(&r->ring, efd);
        if (ret < 0) {
            close(efd);
            return ret;
        }
        r->notify_fd = efd;
    }
    return r->notify_fd;
}

int ua_ring_wake(struct ua_ring *r)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is saturated: a wake-up is pending anyway. */
    if (write(r->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        return -errno;
    return 0;
}

int ua_ring_stats(struct ua_ring *r, struct ua_ring_stats *out)
{
    *out = r->st;
    out->bufs_out = r->bufs.n_out;
    out->out_cached = ua_out_cached();
    out->ops_inflight -= r->wake_armed; /* the engine's own standing wake-up poll is not a leak */
    return 0;
}

int ua_ring_submit(struct ua_ring *r)
{
    int ret = io_uring_submit(&r->ring);
    return ret < 0 ? ret : 0;
}

/* ---- third-party fd polls ---- */

static void poll_arm(struct ua_ring *r, int fd)
{
    struct ua_pollent *e = &r->polls[fd];
    if (r->stopping)
        return;
    struct io_uring_sqe *sqe = ua_sqe(r);
    e->seq = (e->seq + 1) & 0xffffff;
    e->armed = e->want;
    io_uring_prep_poll_add(sqe, fd, e->want);
    sqe->user_data = UD(OP_POLL, e->seq, fd);
    r->st.polls_armed++;
}

static void poll_disarm(struct ua_ring *r, int fd)
{
    struct ua_pollent *e = &r->polls[fd];
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_poll_remove(sqe, UD(OP_POLL, e->seq, fd));
    sqe->user_data = UD(OP_POLL_REMOVE, 0, fd);
    e->armed = 0; /* its completion (-ECANCELED, or a race-won result) is now stale */
}

int ua_ring_poll(struct ua_ring *r, int fd, uint32_t events)
{
    if (fd < 0 || (events & ~(uint32_t)(POLLIN | POLLOUT)))
        return -EINVAL;
    if ((uint32_t)fd >= r->n_polls) {
        if (!events)
            return 0;
        uint32_t n = r->n_polls ? r->n_polls : 64;
        while (n <= (uint32_t)fd)
            n *= 2;
        struct ua_pollent *p = realloc(r->polls, n * sizeof(*p));
        if (!p)
            return -ENOMEM;
        memset(p + r->n_polls, 0, (n - r->n_polls) * sizeof(*p));
        r->polls = p;
        r->n_polls = n;
    }
    struct ua_pollent *e = &r->polls[fd];
    e->want = events;
    if (e->armed && e->armed != events)
        poll_disarm(r, fd);
    if (events && !e->armed && !e->queued)
        poll_arm(r, fd);
    return 0;
}

static void on_poll(struct ua_ring *r, uint64_t ud, int res)
{
    uint32_t fd = UD_ID(ud);
    r->st.polls_armed--;
    if (fd >= r->n_polls)
        return;
    struct ua_pollent *e = &r->polls[fd];
    if (!e->armed || e->seq != UD_AUX(ud))
        return; /* removed or replaced since it was armed */
    e->armed = 0;
    if (res == -ECANCELED)
        return;
    ua_emit(r, UA_EV_POLL, fd, res < 0 ? POLLERR : res);
    if (e->want && !e->queued) {
        if (r->n_rearm == r->cap_rearm) {
            uint32_t n = r->cap_rearm ? r->cap_rearm * 2 : 64;
            int *p = realloc(r->poll_rearm, n * sizeof(*p));
            if (!p) { /* cannot queue it: re-arm now, which is merely edge-like for this one */
                poll_arm(r, fd);
                return;
            }
            r->poll_rearm = p;
            r->cap_rearm = n;
        }
        r->poll_rearm[r->n_rearm++] = fd;
        e->queued = 1;
    }
}

static void polls_rearm(struct ua_ring *r)
{
    for (uint32_t i = 0; i < r->n_rearm; i++) {
        int fd = r->poll_rearm[i];
        struct ua_pollent *e = &r->polls[fd];
        e->queued = 0;
        if (e->want && !e->armed)
            poll_arm(r, fd);
    }
    r->n_rearm = 0;
}

/* ---- completions ---- */

static void on_wake(struct ua_ring *r, int res, uint32_t flags)
{
    uint64_t v;
    if (!(flags & IORING_CQE_F_MORE))
        r->wake_armed = 0;
    if (res < 0)
        return;
    /* Reset the counter so the next ua_ring_wake() is a new edge for the multishot poll. Several wakes
     * can post several completions; only one that finds the counter set is a wake-up. */
    if (read(r->wake_fd, &v, sizeof(v)) != sizeof(v))
        return;
    if (!r->woken) {
        r->woken = 1;
        ua_emit(r, UA_EV_WAKE, 0, 0);
    }
}

static void dispatch(struct ua_ring *r, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    int res = cqe->res;
    uint32_t flags = cqe->flags;

    if (ud == LIBURING_UDATA_TIMEOUT)
        return; /* liburing's own wait timeout on kernels without EXT_ARG */
    if (!(flags & IORING_CQE_F_MORE))
        r->st.ops_inflight--;
    switch (UD_OP(ud)) {
    case OP_WAKE:
        on_wake(r, res, flags);
        break;
    case OP_ACCEPT:
        ua_on_accept(r, ud, res, flags);
        break;
    case OP_RECV:
        ua_on_recv(r, ud, res, flags);
        break;
    case OP_NOP: /* what a late recv completion for a closed connection looks like: end of stream */
        ua_on_recv(r, ud, 0, 0);
        break;
    case OP_SEND:
    case OP_SEND_ZC:
        ua_on_send(r, ud, res, flags);
        break;
    case OP_CANCEL:
        ua_on_cancel(r, ud, res, flags);
        break;
    case OP_HUP:
        ua_on_hup(r, ud, res, flags);
        break;
    case OP_POLL:
        on_poll(r, ud, res);
        break;
    case OP_POLL_REMOVE:
    case OP_QUIET:
        break;
    case OP_FILE:
        ua_on_file(r, ud, res, flags);
        break;
    default:
        break;
    }
}

static void reap(struct ua_ring *r)
{
    struct io_uring_cqe *cqe;
    while (ua_room(r) >= UA_EV_RESERVE) {
        if (!io_uring_cq_ready(&r->ring)) {
            /* With IORING_FEAT_NODROP (5.5) an overflowing CQ parks completions in a kernel backlog and
             * sets IORING_SQ_CQ_OVERFLOW; entering with GETEVENTS moves them back once there is room. */
            if (!(IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW))
                return;
            r->st.cq_overflow++;
            io_uring_get_events(&r->ring);
            if (!io_uring_cq_ready(&r->ring))
                return;
        }
        if (io_uring_peek_cqe(&r->ring, &cqe) != 0)
            return;
        dispatch(r, cqe);
        io_uring_cqe_seen(&r->ring, cqe);
    }
}

/* Submit what is queued and wait for one completion, in one io_uring_enter, like liburing's
 * io_uring_submit_and_wait_timeout but without its retry loop: liburing enters again when a signal cut the
 * wait short after submitting, which would keep a signal handler waiting out the whole timeout. */
static int submit_and_wait(struct ua_ring *r, struct __kernel_timespec *ts)
{
    struct io_uring_sq *sq = &r->ring.sq;
    if (sq->sqe_head != sq->sqe_tail) {
        sq->sqe_head = sq->sqe_tail;
        io_uring_smp_store_release(sq->ktail, sq->sqe_tail); /* the SQEs before the tail that shows them */
    }
    unsigned to_submit = sq->sqe_tail - *sq->khead;
    struct io_uring_getevents_arg arg = {
        .sigmask = 0,
        .sigmask_sz = _NSIG / 8,
        .ts = (uint64_t)(uintptr_t)ts,
    };
    return io_uring_enter2(r->ring.ring_fd, to_submit, 1, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *)&arg,
                           sizeof(arg));
}

int64_t ua_ring_next_timer(struct ua_ring *r)
{
    int64_t next = ua_conns_next_deadline(r);
    if (next < 0)
        return -1;
    int64_t in_ns = (next - (int64_t)ua_now_ms()) * 1000000;
    return in_ns > 0 ? in_ns : 0;
}

int ua_ring_run(struct ua_ring *r, struct ua_event *events, uint32_t cap, int64_t timeout_ns)
{
    int64_t deadline = timeout_ns > 0 ? now_ns() + timeout_ns : 0;
    int ret;

    if (cap < UA_EV_RESERVE)
        return -EINVAL;
    r->ev = events;
    r->ev_cap = cap;
    r->ev_n = 0;
    r->woken = 0;
    arena_reset(r);
    ua_bufring_release(&r->bufs);
    polls_rearm(r);
    if (!r->wake_armed)
        wake_arm(r);
    r->now_ms = ua_now_ms();
    tick_date(r);
    if (r->notify_fd >= 0) {
        /* Reset before reaping: a completion from here on signals it again. */
        uint64_t v;
        if (read(r->notify_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            return -errno;
    }
    ua_conns_eof(r);
    r->run_seq++;
    ua_conns_work(r);

    for (;;) {
        int wait = r->ev_n == 0 && timeout_ns != 0;
        if (!wait) {
            ret = io_uring_submit_and_get_events(&r->ring);
        } else {
            struct __kernel_timespec ts, *tsp = NULL;
            int64_t left = -1;
            int64_t in_ns = ua_ring_next_timer(r);
            if (timeout_ns > 0) {
                left = deadline - now_ns();
                if (left < 0)
                    left = 0; /* passed already (a short timeout, a slow iteration): poll, never wait forever */
            }
            if (in_ns >= 0 && (left < 0 || in_ns < left))
                left = in_ns;
            if (left >= 0) {
                ts.tv_sec = left / 1000000000;
                ts.tv_nsec = left % 1000000000;
                tsp = &ts;
            }
            /* Static hits answered in this loop have their access lines written before it sleeps: traffic
             * that only C answers never ends a run, and its lines would wait for the next app request. */
            ua_routes_log_flush(r);
            ret = submit_and_wait(r, tsp);
        }
        if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
            return ret;
        /* A wait that ends with nothing to reap and no timeout was cut short, by a signal most likely:
         * return so the caller can run its handlers. (When the same enter also submitted, the kernel
         * reports the submit count, not EINTR.) */
        if (wait && ret != -ETIME && !io_uring_cq_ready(&r->ring))
            ret = -EINTR;
        r->now_ms = ua_now_ms(); /* before reaping: deadlines set while reaping start from now */
        tick_date(r);            /* and a response written while reaping carries this second's date */
        reap(r);
        ua_conns_timers(r);
        ua_conns_work(r);
        ua_bufring_flush(&r->bufs);
        if (r->ev_n || r->woken || ret == -EINTR || timeout_ns == 0)
            break;
        if (timeout_ns > 0 && now_ns() >= deadline)
            break;
    }
    if (io_uring_sq_ready(&r->ring)) {
        ret = io_uring_submit(&r->ring);
        if (ret < 0 && ret != -EBUSY && ret != -EINTR)
            return ret;
    }
    if (r->notify_fd >= 0 && (io_uring_cq_ready(&r->ring) || ua_conns_pending(r))) {
        /* Work left for the next run (the batch was full, or a request whose client left waits to be given
         * up): a loop waiting on the notify fd must come back. */
        uint64_t one = 1;
        if (write(r->notify_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            return -errno;
    }
    ua_routes_log_flush(r); /* static hits of this run: one write, as Python's lines are */
    return (int)r->ev_n;
}
