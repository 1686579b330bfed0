/* Output: responses from Python, the send queue, partial sends, SEND_ZC, back-pressure.
 *
 * Each connection has a FIFO of struct ua_out pieces and at most one send in the kernel, so bytes leave in
 * the order they were queued. A send takes up to 16 pieces in one sendmsg (a pipelined batch of responses
 * is one syscall's worth of work); a short send continues from the byte where it stopped. Sends are only
 * queued as SQEs here: ua_ring_run submits everything one loop iteration queued in one io_uring_enter.
 *
 * A piece of at least the SEND_ZC threshold goes alone with SEND_ZC. Its first completion says how much
 * was sent; the kernel may still read the memory until a second completion with IORING_CQE_F_NOTIF (6.0),
 * so the piece keeps a reference per owed notification and is freed only when it is both sent and
 * unreferenced.
 *
 * The threshold, measured (6.18, this 2-core VM, loopback TCP, one sender thread and one reader, a buffer
 * sent over and over, notification awaited per send; CPU of both threads per byte):
 *
 *     size     send      SEND_ZC
 *     4 KiB    0.90 ns   5.43 ns
 *     16 KiB   0.52 ns   1.78 ns
 *     64 KiB   0.32 ns   0.71 ns
 *     256 KiB  0.33 ns   0.46 ns
 *     1 MiB    0.41 ns   0.53 ns
 *
 * Toward a loopback peer the kernel copies zero-copy pages anyway (they would otherwise be handed to a local
 * receiver), so SEND_ZC only adds its notification: it never wins. So by default (zc_threshold 0) SEND_ZC
 * is never used toward 127.0.0.0/8 or ::1, and toward other peers from DEFAULT_ZC_THRESHOLD up, a value
 * this machine (no NIC) cannot measure: it is where the copy cost per send above starts to dominate. An
 * explicit zc_threshold applies to every peer.
 *
 * Back-pressure: ua_conn_respond/ua_conn_body return the bytes still queued. At out_high_water or above,
 * the connection owes Python a WRITABLE once the queue drains to out_low_water.
 *
 * Framing follows h1: content-length bodies are checked against the announced length (more is -EMSGSIZE and
 * aborts, fewer is -ENODATA from the last call and closes the connection after the response, since the
 * client cannot tell where it ends);
 * chunked bodies get "<hex>\r\n...\r\n" per piece and "0\r\n\r\n" at the end; HEAD, 204 and 304 drop the
 * body.
 */
#define _GNU_SOURCE
#include "loop/conn.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_FRAME 32 /* hex size line + CRLF after the data + last-chunk "0\r\n\r\n" */
#define DEFAULT_ZC_THRESHOLD (64 * 1024)

/* The size from which a piece goes out with SEND_ZC on this connection; UINT32_MAX: never. */
static uint32_t zc_threshold(const struct ua_ring *r, const struct ua_conn *c)
{
    if (!r->zc_ok)
        return UINT32_MAX;
    if (r->cfg.zc_threshold)
        return r->cfg.zc_threshold;
    return (c->flags & C_LOOPBACK) ? UINT32_MAX : DEFAULT_ZC_THRESHOLD;
}

/* Large pieces are kept for reuse, a few per thread. A response body is copied into a piece that lives
 * until its send completes. Freed at once, a piece of 256 KiB left the top of the heap free past glibc's
 * trim threshold, so free() gave the pages back (brk) and the next response faulted fresh zeroed pages in:
 * under 800 clients posting 256 KiB to an echo app, about 60 page faults and one brk per request, with
 * page-fault work near a fifth of the worker's CPU in perf. Pieces from OUT_CACHE_MIN to OUT_CACHE_MAX are
 * sized in whole pages, so responses whose heads differ by a few bytes share them, and at most
 * OUT_CACHE_SLOTS pieces and OUT_CACHE_BYTES are kept (memory the worker used at its peak anyway). The cache
 * must hold the pieces in flight at once to help: with 16 slots, 64 clients posting 64 KiB still faulted
 * 6 pages per request, and ran slower than with no cache at all. */
#define OUT_CACHE_MIN (64u * 1024)
#define OUT_CACHE_MAX (1u << 20)
#define OUT_CACHE_STEP 4096u
#define OUT_CACHE_SLOTS 64
#define OUT_CACHE_BYTES (8u << 20)

static __thread struct {
    struct ua_out *piece[OUT_CACHE_SLOTS];
    uint32_t n;
    uint32_t bytes;
} out_cache;

/* The smallest kept piece with room for cap bytes, out of the cache; NULL if none. */
static struct ua_out *out_cached(uint32_t cap)
{
    uint32_t best = UINT32_MAX;
    for (uint32_t i = 0; i < out_cache.n; i++) {
        uint32_t have = out_cache.piece[i]->cap;
        if (have >= cap && (best == UINT32_MAX || have < out_cache.piece[best]->cap))
            best = i;
    }
    if (best == UINT32_MAX)
        return NULL;
    struct ua_out *o = out_cache.piece[best];
    out_cache.piece[best] = out_cache.piece[--out_cache.n];
    out_cache.bytes -= o->cap;
    return o;
}

/* A piece's memory goes back: into the cache if it is of a size kept and there is room, else to malloc. */
static void out_free(struct ua_out *o)
{
    if (o->cap >= OUT_CACHE_MIN && o->cap <= OUT_CACHE_MAX && out_cache.n < OUT_CACHE_SLOTS &&
        out_cache.bytes + o->cap <= OUT_CACHE_BYTES) {
        out_cache.piece[out_cache.n++] = o;
        out_cache.bytes += o->cap;
        return;
    }
    free(o);
}

/* Called when the worker is quiet after a burst (trim.c), and at teardown (conn.c). The cache is the
 * calling thread's: the ring's, which is the thread that queues its responses. */
void out_cache_drain(void)
{
    while (out_cache.n)
        free(out_cache.piece[--out_cache.n]);
    out_cache.bytes = 0;
}

uint32_t ua_out_cached(void)
{
    return out_cache.bytes;
}

struct ua_out *out_new(uint32_t len)
{
    struct ua_out *o = NULL;
    uint32_t cap = len;
    if (len >= OUT_CACHE_MIN && len <= OUT_CACHE_MAX) {
        cap = (len + OUT_CACHE_STEP - 1) & ~(OUT_CACHE_STEP - 1);
        o = out_cached(cap);
        cap = o ? o->cap : cap;
    }
    if (!o)
        o = malloc(sizeof(*o) + cap);
    if (!o)
        return NULL;
    o->cap = cap;
    o->next = NULL;
    o->len = 0;
    o->off = 0;
    o->refs = 0;
    o->retired = 0;
    o->file_fd = -1;
    o->file_off = o->file_len = 0;
    o->release = NULL;
    return o;
}

static uint64_t out_left(const struct ua_out *o)
{
    return o->file_fd >= 0 ? o->file_len - o->off : o->len - o->off;
}

/* A piece leaves the queue; its memory goes once no SEND_ZC notification is owed for it. */
static void out_retire(struct ua_out *o)
{
    if (o->refs) {
        o->retired = 1;
        return;
    }
    file_release(o);
    out_free(o);
}

void send_queue(struct ua_ring *r, struct ua_conn *c, struct ua_out *o)
{
    r->trim.moved += o->len; /* memory bytes only: a file range never touches the heap */
    o->next = NULL;
    if (c->out_tail)
        c->out_tail->next = o;
    else
        c->out_head = o;
    c->out_tail = o;
    c->out_bytes += out_left(o);
}

void send_free_all(struct ua_ring *r, struct ua_conn *c)
{
    (void)r;
    struct ua_out *o = c->out_head;
    while (o) {
        struct ua_out *n = o->next;
        out_retire(o);
        o = n;
    }
    c->out_head = c->out_tail = NULL;
    c->out_bytes = 0;
}

/* ---- SEND_ZC notification records ---- */

int send_zc_init(struct ua_ring *r)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(&r->ring);
    r->zc_ok = p && io_uring_opcode_supported(p, IORING_OP_SEND_ZC) && r->cfg.zc_threshold != UINT32_MAX;
    if (p)
        io_uring_free_probe(p);
    r->zc = NULL;
    r->n_zc = 0;
    r->zc_free = UINT32_MAX;
    return 0;
}

void send_zc_fini(struct ua_ring *r)
{
    /* At teardown the ring is gone: pieces that still had a notification owed are freed now. */
    for (uint32_t i = 0; i < r->n_zc; i++) {
        struct ua_out *o = r->zc[i].out;
        if (o && --o->refs == 0 && o->retired)
            out_retire(o);
    }
    free(r->zc);
    r->zc = NULL;
    r->n_zc = 0;
}

static int zc_rec_new(struct ua_ring *r, struct ua_out *o)
{
    uint32_t i = r->zc_free;
    if (i == UINT32_MAX) {
        uint32_t n = r->n_zc ? r->n_zc * 2 : 64;
        if (n > 0xffffff)
            return -ENOSPC; /* the record index travels in 24 bits of user_data */
        struct ua_zc_rec *z = realloc(r->zc, n * sizeof(*z));
        if (!z)
            return -ENOMEM;
        for (uint32_t k = r->n_zc; k < n; k++) {
            z[k].out = NULL;
            z[k].next_free = k + 1 < n ? k + 1 : UINT32_MAX;
        }
        r->zc = z;
        r->zc_free = r->n_zc;
        r->n_zc = n;
        i = r->zc_free;
    }
    r->zc_free = r->zc[i].next_free;
    r->zc[i].out = o;
    o->refs++;
    return (int)i;
}

static void zc_rec_done(struct ua_ring *r, uint32_t i)
{
    struct ua_out *o = r->zc[i].out;
    r->zc[i].out = NULL;
    r->zc[i].next_free = r->zc_free;
    r->zc_free = i;
    if (--o->refs == 0 && o->retired)
        out_retire(o);
}

/* ---- sending ---- */

void send_kick(struct ua_ring *r, struct ua_conn *c)
{
    if ((c->flags & (C_SENDING | C_CLOSING)) || !c->out_head)
        return;
    struct ua_out *o = c->out_head;
    uint32_t id = conn_id(r, c);
    if (file_next(o)) {
        file_send(r, c);
        return;
    }
    if (o->len - o->off >= zc_threshold(r, c)) {
        int rec = zc_rec_new(r, o);
        if (rec < 0)
            goto plain;
        struct io_uring_sqe *sqe = ua_sqe(r);
        io_uring_prep_send_zc(sqe, c->fd, o->data + o->off, (size_t)(o->len - o->off), MSG_NOSIGNAL, 0);
        sqe->user_data = UD(OP_SEND_ZC, (uint32_t)rec, id);
        r->st.zc_sends++;
    } else {
    plain:;
        uint32_t n = 0;
        for (struct ua_out *p = o; p && n < 16 && p->file_fd < 0; p = p->next) {
            if (n && p->len - p->off >= zc_threshold(r, c))
                break; /* it goes alone, zero-copy */
            c->iov[n].iov_base = p->data + p->off;
            c->iov[n].iov_len = (size_t)(p->len - p->off);
            n++;
        }
        struct io_uring_sqe *sqe = ua_sqe(r);
        if (n == 1) {
            /* One piece (a whole ordinary response): a plain send skips the msghdr the kernel copies in
             * and checks for a sendmsg (io_sendmsg_setup: 2% of a hello-world worker's CPU in perf). */
            io_uring_prep_send(sqe, c->fd, c->iov[0].iov_base, c->iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            memset(&c->msg, 0, sizeof(c->msg));
            c->msg.msg_iov = c->iov;
            c->msg.msg_iovlen = n;
            io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
        }
        sqe->user_data = UD(OP_SEND, 0, id);
    }
    c->ops++;
    c->flags |= C_SENDING;
    if (c->tkind != T_WRITE)
        timer_set(r, c, T_WRITE, 1);
}

/* n bytes of the queue were sent. Each piece they end is retired: freed now, unless a SEND_ZC notification
 * is owed for it, so a caller holding a piece of the queue must not read it after this. */
void send_progress(struct ua_ring *r, struct ua_conn *c, uint64_t n)
{
    c->out_bytes -= n;
    while (n) {
        struct ua_out *o = c->out_head;
        uint64_t left = out_left(o);
        if (n < left) {
            o->off += n;
            break;
        }
        n -= left;
        c->out_head = o->next;
        if (!c->out_head)
            c->out_tail = NULL;
        out_retire(o);
    }
    timer_set(r, c, T_WRITE, 1);
    if (c->out_bytes > r->cfg.out_low_water)
        return;
    if (c->flags & C_WANT_WR) {
        c->flags &= ~(uint32_t)C_WANT_WR;
        if (c->flags & C_HELD)
            conn_notify(r, c, C_NOTIFY_WR);
    }
    if (c->flags & C_OUT_GATED) { /* the next pipelined head may be parsed now (conn.c feed) */
        c->flags &= ~(uint32_t)C_OUT_GATED;
        conn_input_resume(r, c);
    }
}

/* The send in flight ended (its result handled): send more, or the queue is empty. */
void send_next(struct ua_ring *r, struct ua_conn *c)
{
    c->flags &= ~(uint32_t)C_SENDING;
    if (c->flags & C_CLOSING)
        return;
    if (c->out_head)
        send_kick(r, c);
    else
        conn_output_drained(r, c);
}

void ua_on_send(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    int final = !(flags & IORING_CQE_F_MORE);
    if (UD_OP(ud) == OP_SEND_ZC) {
        if (flags & IORING_CQE_F_NOTIF) {
            zc_rec_done(r, UD_AUX(ud));
            if (c) {
                c->zc_pending--;
                conn_op_done(r, c);
            } else {
                r->st.dropped_stale++;
            }
            return;
        }
        if (final)
            zc_rec_done(r, UD_AUX(ud));
        else if (c)
            c->zc_pending++;
    }
    if (!c) {
        r->st.dropped_stale++;
        return;
    }
    if (final)
        c->ops--;
    if (res > 0) {
        send_progress(r, c, (uint64_t)res);
    } else if (res == -EOPNOTSUPP && UD_OP(ud) == OP_SEND_ZC) {
        r->zc_ok = 0; /* this kind of socket takes no SEND_ZC: send the same bytes the plain way */
    } else if (res < 0 && res != -ECANCELED && res != -EAGAIN && res != -EINTR) {
        conn_abort(r, c, res); /* EPIPE, ECONNRESET: the client is gone */
    }
    send_next(r, c);
    conn_finish(r, c);
}

/* ---- calls from Python ---- */

int send_held_conn(struct ua_ring *r, uint32_t conn, struct ua_conn **out)
{
    struct ua_conn *c = conn_get(r, conn);
    if (!c || (c->flags & (C_CLOSING | C_LINGER)))
        return -EPIPE;
    if (!(c->flags & C_HELD))
        return -EINVAL; /* no request of Python's on it: its response was already finished */
    *out = c;
    return 0;
}

/* Append body bytes to o as the response's framing wants them. */
static int frame_body(struct ua_conn *c, struct ua_out *o, const uint8_t *body, uint32_t len, int more)
{
    switch (c->h1.resp_framing) {
    case UA_H1_FRAME_NONE:
        return 0;
    case UA_H1_FRAME_LENGTH:
        if (c->body_sent + len > (uint64_t)c->h1.resp_length)
            return -EMSGSIZE; /* more than the content-length the response announced */
        break;
    case UA_H1_FRAME_CHUNKED:
        if (len) {
            int n = ua_h1_chunk_prefix((char *)o->data + o->len, 24, len);
            if (n < 0)
                return n;
            o->len += (uint32_t)n;
            memcpy(o->data + o->len, body, len);
            o->len += len;
            memcpy(o->data + o->len, "\r\n", 2);
            o->len += 2;
        }
        if (!more) {
            memcpy(o->data + o->len, "0\r\n\r\n", 5);
            o->len += 5;
        }
        c->body_sent += len;
        return 0;
    default: /* UA_H1_FRAME_CLOSE: the bytes as they are, the close ends them */
        break;
    }
    memcpy(o->data + o->len, body, len);
    o->len += len;
    c->body_sent += len;
    return 0;
}

/* The bytes queued; at the high-water mark or above, the connection owes Python a WRITABLE. */
static int send_queued(struct ua_ring *r, struct ua_conn *c)
{
    if (c->out_bytes >= r->cfg.out_high_water)
        c->flags |= C_WANT_WR;
    return c->out_bytes > INT_MAX ? INT_MAX : (int)c->out_bytes;
}

/* The end of a call from Python that queued output: the last piece ends the response, and the send starts.
 * The bytes still queued (send_queued), or -ENODATA when the response ended short of the content-length it
 * announced: everything was queued and the connection closes after it, but the app is told, as uvicorn tells
 * it ("Response content shorter than Content-Length"). */
int send_end(struct ua_ring *r, struct ua_conn *c, int more)
{
    int cut = more ? 0 : conn_response_done(r, c);
    send_kick(r, c);
    return cut < 0 ? cut : send_queued(r, c);
}

int ua_conn_respond(struct ua_ring *r, uint32_t conn, int status, const uint8_t *headers, uint32_t headers_len,
                    uint32_t n_headers, const uint8_t *body, uint32_t body_len, uint32_t flags)
{
    struct ua_conn *c;
    int err = send_held_conn(r, conn, &c);
    if (err < 0)
        return err;
    if (c->flags & C_RESP)
        return -EINVAL; /* the response already started: body goes through ua_conn_body */
    int more = (flags & UA_SEND_MORE) != 0;
    /* Room for the head: each "name\0value\0" becomes "name: value\r\n" (2 more bytes), plus the status
     * line, server, date, content-length or transfer-encoding, connection, the extra headers, CRLF. */
    size_t head_cap = 256 + (size_t)headers_len + 2 * (size_t)n_headers + r->cfg.extra_headers_len;
    /* A large body goes in a piece of its own, so SEND_ZC can take it without the head. */
    int split = body_len >= zc_threshold(r, c);
    size_t cap = head_cap + (split ? 0 : (size_t)body_len + CHUNK_FRAME);
    if (cap > UINT32_MAX)
        return -E2BIG;
    struct ua_out *o = out_new((uint32_t)cap);
    if (!o)
        return -ENOMEM;
    int n = ua_h1_respond(&c->h1, status, (const char *)headers, headers_len, n_headers, more ? -1 : (int64_t)body_len,
                          (const char *)r->cfg.extra_headers, r->cfg.extra_headers_len, (char *)o->data, head_cap);
    if (n < 0) {
        free(o);
        return n;
    }
    o->len = (uint32_t)n;
    if (status < 200) { /* informational (103 Early Hints): the final response is still to come */
        send_queue(r, c, o);
        return send_end(r, c, 1);
    }
    c->flags |= C_RESP;
    struct ua_out *b = o;
    if (split) {
        send_queue(r, c, o);
        b = out_new(body_len + CHUNK_FRAME);
        if (!b) {
            conn_abort(r, c, -ENOMEM);
            return -ENOMEM;
        }
    }
    err = frame_body(c, b, body, body_len, more);
    if (err < 0) {
        free(b);
        conn_abort(r, c, err);
        return err;
    }
    if (b->len || b == o)
        send_queue(r, c, b);
    else
        free(b); /* a split body the framing dropped (HEAD, 204, 304) */
    return send_end(r, c, more);
}

int ua_conn_body(struct ua_ring *r, uint32_t conn, const uint8_t *body, uint32_t body_len, uint32_t flags)
{
    struct ua_conn *c;
    int err = send_held_conn(r, conn, &c);
    if (err < 0)
        return err;
    if (!(c->flags & C_RESP))
        return -EINVAL; /* ua_conn_respond first */
    int more = (flags & UA_SEND_MORE) != 0;
    if (body_len || !more) {
        struct ua_out *o = out_new(body_len + CHUNK_FRAME);
        if (!o)
            return -ENOMEM;
        err = frame_body(c, o, body, body_len, more);
        if (err < 0) {
            free(o);
            conn_abort(r, c, err);
            return err;
        }
        if (o->len)
            send_queue(r, c, o);
        else
            free(o);
    }
    return send_end(r, c, more);
}
