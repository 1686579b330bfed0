/* Connections: accept, receive, parse, hand requests to Python, close.
 *
 * Life of a connection (flags in conn.h):
 *
 *   event                      what happens
 *   accept completion          a slot from the FIFO free list (reused as late as possible), TCP_NODELAY,
 *                              multishot recv armed, idle timer
 *   recv completion            the bytes are parsed by h1 where they landed, in the provided buffer. Only
 *                              what must wait is copied into c->in: a head split across two buffers, bytes
 *                              after a request while Python holds it (pipelining), body Python paused.
 *                              Parsing resumes from c->in. A body event points into the provided buffer,
 *                              which goes back to the kernel at the next ua_ring_run.
 *   head parsed                dispatch_head(): the one place a head leaves C (a router hooks in there).
 *                              C_HELD until Python's final send.
 *   h1 error (400..505)        a short error response written in C, then close; Python never sees it
 *                              (if Python held the request, it gets DISCONNECT)
 *   final send queued          conn_response_done(): h1 says keep-alive or close; pipelined input is parsed
 *                              only now, so responses leave in request order (RFC 9112 9.3.2)
 *   c->in over in_limit()      recv is cancelled (C_READ_PAUSED): TCP pushes back on the client; re-armed
 *                              once the input is parsed
 *   recv ENOBUFS               the buffer ring is empty: back-pressure, not an error. The conn waits on
 *                              starved_q and is re-armed when buffers come back, oldest first; one that
 *                              found none again, or whose held request's body ran dry, keeps the front
 *   recv ends without F_MORE   re-armed (unless closing, paused, starved or at EOF)
 *   recv EOF (res 0)           C_PEER_EOF, no re-arm. Requests already received are still answered, in
 *                              turn; a request Python still holds at the next run is given up (DISCONNECT,
 *                              abort: eof_q). With nothing left to answer, close
 *   graceful close             after the output is sent: shut the write side, read and drop input until EOF
 *                              or keepalive_ms (C_LINGER), so the client reads the response instead of a
 *                              RST for input it sent that we never read (RFC 9112 9.6)
 *   abort                      C_CLOSING now
 *   C_CLOSING                  one cancel for every op on the fd; the fd is closed and the slot, input and
 *                              output buffers are freed at the last completion (c->ops == 0), never before.
 *                              With no op in flight that is at once, inside the call that closes (conn_abort,
 *                              or a sendfile that fails inside send_kick): after a call that may close, c->in
 *                              and the output queue are touched only if C_CLOSING is not set
 *
 * Python hears of a close it did not ask for only while it holds a request (DISCONNECT). A slot whose
 * DISCONNECT is not delivered yet is kept until it is, so the event always names the right id.
 */
#define _GNU_SOURCE
#include "loop/conn.h"
#include "routes/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#define ROOM_FEED 3 /* a feed step may emit REQUEST or BODY, then BODY_END */

static uint32_t in_limit(const struct ua_ring *r)
{
    uint32_t lim = r->cfg.max_head + r->cfg.buf_size;
    return lim > 65536 ? lim : 65536;
}

/* ---- table ---- */

int ua_conns_init(struct ua_ring *r)
{
    uint32_t n = r->cfg.max_conns, bits = 1;
    while ((1u << bits) < n)
        bits++;
    if (bits > 24) /* at least 8 bits of generation in a 32-bit conn id */
        return -EINVAL;
    r->slot_bits = bits;
    r->max_conns = n;
    r->conns = calloc(n, sizeof(*r->conns));
    r->free_slots = malloc(n * sizeof(*r->free_slots));
    if (!r->conns || !r->free_slots)
        return -ENOMEM;
    /* Slots are initialised the first time they are needed (slot_alloc), so a worker's memory follows its
     * peak of open connections, not the table size: calloc's untouched pages cost nothing. */
    r->fresh = 0;
    r->free_head = 0;
    r->free_n = 0;
    ua_list_init(&r->parse_q);
    ua_list_init(&r->notify_q);
    ua_list_init(&r->starved_q);
    ua_list_init(&r->starved_front);
    ua_list_init(&r->eof_q);
    ua_list_init(&r->t_idle);
    ua_list_init(&r->t_head);
    ua_list_init(&r->t_write);
    ua_h1_settings_init(&r->h1set, r->cfg.max_head, r->cfg.max_headers, r->cfg.max_target, r->cfg.max_body,
                        (r->cfg.server_header ? UA_H1_SERVER_HEADER : 0) |
                            (r->cfg.date_header ? UA_H1_DATE_HEADER : 0));
    return send_zc_init(r);
}

/* A freed slot waits behind this many others before it is reused (while untouched slots remain), so a
 * conn id Python still holds for a closed connection stays unmatched for that long at least. */
#define SLOT_REUSE_AFTER 64

static struct ua_conn *slot_alloc(struct ua_ring *r)
{
    if (r->free_n <= SLOT_REUSE_AFTER && r->fresh < r->max_conns) {
        struct ua_conn *c = &r->conns[r->fresh++];
        c->fd = -1;
        return c;
    }
    if (!r->free_n)
        return NULL;
    uint32_t s = r->free_slots[r->free_head];
    r->free_head = (r->free_head + 1) % r->max_conns;
    r->free_n--;
    return &r->conns[s];
}

static void slot_free(struct ua_ring *r, struct ua_conn *c)
{
    uint32_t gen_mask = (1u << (32 - r->slot_bits)) - 1;
    c->fd = -1;
    c->gen = (c->gen + 1) & gen_mask;
    r->free_slots[(r->free_head + r->free_n) % r->max_conns] = (uint32_t)(c - r->conns);
    r->free_n++;
}

static void in_free(struct ua_ring *r, struct ua_conn *c)
{
    r->st.in_bytes -= c->in_len;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

static void finalize(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & C_NOTIFY_DISC)
        return; /* ua_conns_work delivers it, then comes back here */
    close(c->fd);
    ua_list_del(&c->tlink);
    ua_list_del(&c->qlink);
    ua_list_del(&c->nlink);
    ua_list_del(&c->slink);
    ua_list_del(&c->elink);
    send_free_all(r, c);
    in_free(r, c);
    slot_free(r, c);
    r->st.conns_open--;
}

void ua_conns_fini(struct ua_ring *r)
{
    if (r->conns) {
        for (uint32_t i = 0; i < r->fresh; i++) {
            struct ua_conn *c = &r->conns[i];
            if (c->fd < 0)
                continue;
            c->flags &= ~(uint32_t)C_NOTIFY_DISC;
            finalize(r, c);
        }
    }
    free(r->conns);
    free(r->free_slots);
    r->conns = NULL;
    r->free_slots = NULL;
    send_zc_fini(r);
    out_cache_drain();
}

/* ---- recv ---- */

static void recv_arm(struct ua_ring *r, struct ua_conn *c)
{
    if (r->stopping || (c->flags & (C_RECV_ARMED | C_CLOSING | C_PEER_EOF | C_READ_PAUSED | C_STARVED)))
        return;
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = UA_BGID;
    sqe->user_data = UD(OP_RECV, 0, conn_id(r, c));
    c->ops++;
    c->flags |= C_RECV_ARMED;
}

/* A starved connection reads nothing until a buffer is free, so it would not see its client's reset, and
 * under a flood of clients that send part of a body and reset, thousands of them (and their apps, holding
 * what they read) waited for buffers only to find the client gone. A poll needs no buffer: POLLERR and
 * POLLHUP (a reset, both directions gone) end the connection at once. A FIN alone (POLLRDHUP) is a
 * half-close whose request may still be answered, so it is not watched. One poll at a time; it stays
 * armed after the recv is again (the completion is then ignored), and a close cancels it with the rest. */
static void hup_watch(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & (C_HUP_WATCH | C_CLOSING))
        return;
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_poll_add(sqe, c->fd, POLLERR | POLLHUP);
    sqe->user_data = UD(OP_HUP, 0, conn_id(r, c));
    c->ops++;
    c->flags |= C_HUP_WATCH;
}

void ua_on_hup(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)flags;
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    if (!c) {
        r->st.dropped_stale++;
        return;
    }
    c->flags &= ~(uint32_t)C_HUP_WATCH;
    c->ops--;
    if (res > 0 && (res & (POLLERR | POLLHUP)) && (c->flags & C_STARVED))
        conn_abort(r, c, -ECONNRESET);
    conn_finish(r, c);
}

static void recv_cancel(struct ua_ring *r, struct ua_conn *c)
{
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_cancel64(sqe, UD(OP_RECV, 0, conn_id(r, c)), 0);
    sqe->user_data = UD(OP_CANCEL, 0, conn_id(r, c));
    c->ops++;
}

/* Pause reading while too much input waits; resume once it is parsed. */
static void input_flow(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & C_CLOSING)
        return;
    if (c->in_len >= in_limit(r)) {
        if (!(c->flags & C_READ_PAUSED)) {
            c->flags |= C_READ_PAUSED;
            if (c->flags & C_RECV_ARMED)
                recv_cancel(r, c);
        }
    } else if ((c->flags & C_READ_PAUSED) && c->in_len < in_limit(r) / 2) {
        c->flags &= ~(uint32_t)C_READ_PAUSED;
        recv_arm(r, c);
    }
}

/* ---- closing ---- */

void conn_notify(struct ua_ring *r, struct ua_conn *c, uint32_t flag)
{
    c->flags |= flag;
    if (!ua_linked(&c->nlink))
        ua_list_add_tail(&r->notify_q, &c->nlink);
}

static void start_closing(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & C_CLOSING)
        return;
    c->flags |= C_CLOSING;
    c->flags &= ~(uint32_t)(C_HELD | C_LINGER);
    timer_set(r, c, T_NONE, 0);
    ua_list_del(&c->qlink);
    ua_list_del(&c->slink);
    ua_list_del(&c->elink);
    if (c->ops) {
        struct io_uring_sqe *sqe = ua_sqe(r);
        io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
        sqe->user_data = UD(OP_CANCEL, 0, conn_id(r, c));
        c->ops++;
    } else {
        finalize(r, c);
    }
}

void conn_abort(struct ua_ring *r, struct ua_conn *c, int res)
{
    if (c->flags & C_CLOSING)
        return;
    if (c->flags & C_HELD) {
        c->disc_res = res;
        conn_notify(r, c, C_NOTIFY_DISC);
    }
    if (c->zc_pending) {
        /* SEND_ZC notifications come when the kernel frees the data, which for unsent data on a dead
         * connection could be minutes. connect(AF_UNSPEC) disconnects the TCP socket (a RST) and purges
         * its write queue, so they come now and the slot can be released. */
        struct sockaddr sa = {.sa_family = AF_UNSPEC};
        (void)connect(c->fd, &sa, sizeof(sa));
    }
    start_closing(r, c);
}

void conn_close_graceful(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & (C_CLOSING | C_LINGER))
        return;
    c->flags |= C_CLOSE_AFTER;
    if (!c->out_head && !(c->flags & C_SENDING))
        conn_output_drained(r, c);
}

void conn_output_drained(struct ua_ring *r, struct ua_conn *c)
{
    if (c->flags & C_CLOSING)
        return;
    if (c->flags & C_CLOSE_AFTER) {
        if (c->flags & C_PEER_EOF) {
            start_closing(r, c);
            return;
        }
        shutdown(c->fd, SHUT_WR);
        c->flags |= C_LINGER;
        c->flags &= ~(uint32_t)(C_HELD | C_READ_PAUSED);
        in_free(r, c);
        ua_list_del(&c->qlink);
        recv_arm(r, c);
    }
    timer_update(r, c);
}

void conn_op_done(struct ua_ring *r, struct ua_conn *c)
{
    c->ops--;
    conn_finish(r, c);
}

/* A handler that counted its final completion off early (so that a close it starts need not cancel the
 * op that just ended) ends here. The slot may already be free: finalize then set fd to -1. */
void conn_finish(struct ua_ring *r, struct ua_conn *c)
{
    if (c->fd >= 0 && (c->flags & C_CLOSING) && c->ops == 0)
        finalize(r, c);
}

void ua_conns_abort_all(struct ua_ring *r)
{
    for (uint32_t i = 0; i < r->fresh; i++) {
        struct ua_conn *c = &r->conns[i];
        if (c->fd < 0)
            continue;
        c->flags &= ~(uint32_t)(C_HELD | C_NOTIFY_DISC);
        conn_abort(r, c, 0);
    }
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++) {
        if (r->lis[i].fd >= 0)
            r->lis[i].removing = 1;
    }
}

/* ---- input ---- */

static int in_append(struct ua_ring *r, struct ua_conn *c, const uint8_t *p, uint32_t n)
{
    if (c->in_len + n > c->in_cap) {
        uint32_t cap = c->in_cap ? c->in_cap * 2 : 4096;
        while (cap < c->in_len + n)
            cap *= 2;
        uint8_t *in = realloc(c->in, cap);
        if (!in)
            return -ENOMEM;
        c->in = in;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += n;
    r->st.in_bytes += n;
    return 0;
}

static void in_consume(struct ua_ring *r, struct ua_conn *c, uint32_t n)
{
    if (n == c->in_len) {
        in_free(r, c); /* reassembly is rare: an idle connection holds no input memory */
        return;
    }
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    r->st.in_bytes -= n;
}

static void fail_request(struct ua_ring *r, struct ua_conn *c, int status)
{
    if (c->flags & C_HELD) {
        c->disc_res = -EBADMSG;
        conn_notify(r, c, C_NOTIFY_DISC);
        c->flags &= ~(uint32_t)C_HELD;
    }
    struct ua_out *o = out_new(512);
    int n = o ? ua_h1_respond_error(&c->h1, status, (char *)o->data, 512) : -ENOMEM;
    if (n < 0) { /* a response already started: nothing sensible can follow it */
        free(o);
        conn_abort(r, c, -EBADMSG);
        return;
    }
    o->len = (uint32_t)n;
    send_queue(r, c, o);
    send_kick(r, c);
    conn_close_graceful(r, c);
}

size_t ua_req_size(const struct ua_head *h, uint32_t head_len)
{
    return sizeof(struct ua_req) + (size_t)h->n_headers * 8 + head_len;
}

void ua_req_fill(struct ua_req *q, const struct ua_head *h, const uint8_t *buf, uint32_t head_len)
{
    uint32_t n = h->n_headers;
    uint8_t *spans = (uint8_t *)(q + 1);
    _Static_assert(sizeof(struct ua_header) == 8, "a header span is four uint16, as struct ua_req says");
    memcpy(spans, h->headers, (size_t)n * 8);
    memcpy(spans + (size_t)n * 8, buf, head_len);
    q->head_len = head_len;
    q->n_headers = (uint16_t)n;
    q->http_minor = h->minor;
    q->flags = (uint8_t)(((h->flags & UA_F_KEEP_ALIVE) ? UA_REQ_KEEP_ALIVE : 0) |
                         ((h->flags & UA_F_CHUNKED) ? UA_REQ_CHUNKED : 0) |
                         ((h->flags & UA_F_EXPECT_CONTINUE) ? UA_REQ_EXPECT_CONTINUE : 0) |
                         ((h->flags & UA_F_UPGRADE) ? UA_REQ_UPGRADE : 0) |
                         ((h->flags & UA_F_HAS_BODY) ? UA_REQ_HAS_BODY : 0));
    q->content_length = h->content_length;
    q->method_off = h->method.off;
    q->method_len = h->method.len;
    q->path_off = h->path.off;
    q->path_len = h->path.len;
    q->query_off = h->query.off;
    q->query_len = h->query.len;
    q->client_port = 0;
    q->client_family = 0;
    q->listener = 0;
    memset(q->client_addr, 0, sizeof(q->client_addr));
}

/* The one place a parsed request head leaves C. The block layout is struct ua_req's (ring.h): the fixed
 * part, the header spans, then the head bytes the spans point into. A router that answers some requests
 * in C (static files, proxy) decides here, before the block is built. */
static void dispatch_head(struct ua_ring *r, struct ua_conn *c, const uint8_t *buf, uint32_t head_len)
{
    if (r->routes && ua_routes_dispatch(r, c, buf))
        return;
    const struct ua_head *h = &c->h1.head;
    size_t size = ua_req_size(h, head_len);
    struct ua_req *q = ua_arena_alloc(r, size);
    if (!q) {
        fail_request(r, c, 503);
        return;
    }
    ua_req_fill(q, h, buf, head_len);
    q->client_port = c->port;
    q->client_family = c->family;
    q->listener = c->listener;
    memcpy(q->client_addr, c->addr, sizeof(q->client_addr));

    struct ua_event *ev = ua_emit(r, UA_EV_REQUEST, conn_id(r, c), 0);
    ev->data = (const uint8_t *)q;
    ev->len = (uint32_t)size;
    c->flags |= C_HELD;
    c->flags &= ~(uint32_t)(C_BODY_PAUSED | C_RESP | C_HAS_BODY);
    if (h->flags & UA_F_HAS_BODY)
        c->flags |= C_HAS_BODY;
    c->body_sent = 0;
    c->req_run = r->run_seq;
    r->st.requests++;
    timer_set(r, c, T_NONE, 0);
    if (c->flags & C_PEER_EOF) /* a request that came before the client's EOF: see ua_on_recv */
        ua_list_add_tail(&r->eof_q, &c->elink);
}

static int can_parse(const struct ua_conn *c)
{
    if (c->flags & (C_CLOSING | C_LINGER | C_UPGRADED))
        return 0;
    return !((c->flags & C_HELD) && (c->flags & C_BODY_PAUSED));
}

/* Between requests, the next head is parsed only while the output queued for the client is under the
 * high-water mark. A client that pipelines requests and reads nothing would otherwise have every response
 * queued at once: those answered in C (static files) are made at parse time, each holding its memory and
 * a file descriptor. send_progress() resumes parsing at the low-water mark. */
static int output_gated(struct ua_ring *r, struct ua_conn *c)
{
    if ((c->flags & C_HELD) || c->out_bytes < r->cfg.out_high_water)
        return 0;
    c->flags |= C_OUT_GATED;
    return 1;
}

/* Feed h1 from buf until it wants more bytes, waits for a response, fails, or the batch is full. Returns
 * the bytes consumed; *ref is set when an event points into buf (in_place: buf outlives the batch). */
static uint32_t feed(struct ua_ring *r, struct ua_conn *c, uint8_t *buf, uint32_t len, int in_place, int *ref)
{
    uint32_t pos = 0;
    while (can_parse(c) && !output_gated(r, c)) {
        if (ua_room(r) < ROOM_FEED) {
            if (!ua_linked(&c->qlink))
                ua_list_add_tail(&r->parse_q, &c->qlink);
            break;
        }
        struct ua_h1_event ev;
        int t = ua_h1_feed(&c->h1, buf + pos, len - pos, &ev);
        if (t == UA_H1_HEAD) {
            if (r->draining)
                c->h1.must_close = 1; /* ua_ring_drain: this response says close and ends the connection */
            dispatch_head(r, c, buf + pos, (uint32_t)ev.consumed);
        } else if (t == UA_H1_BODY) {
            if ((c->flags & C_HELD) && ev.len) {
                const uint8_t *data = buf + pos + ev.off;
                if (!in_place) { /* c->in moves when consumed: the event gets its own copy */
                    uint8_t *copy = ua_arena_alloc(r, ev.len);
                    if (!copy) {
                        conn_abort(r, c, -ENOMEM);
                        return len;
                    }
                    memcpy(copy, data, ev.len);
                    data = copy;
                } else {
                    *ref = 1;
                }
                struct ua_event *e = ua_emit(r, UA_EV_BODY, conn_id(r, c), 0);
                e->data = data;
                e->len = (uint32_t)ev.len;
            }
        } else if (t == UA_H1_END) {
            if ((c->flags & (C_HELD | C_HAS_BODY)) == (C_HELD | C_HAS_BODY))
                ua_emit(r, UA_EV_BODY_END, conn_id(r, c), 0);
            c->flags &= ~(uint32_t)C_HAS_BODY;
        } else if (t == UA_H1_MORE || t == UA_H1_PAUSED) {
            pos += (uint32_t)ev.consumed;
            break;
        } else if (t == UA_H1_ERROR) {
            fail_request(r, c, (int)ev.status);
            return len;
        } else if (t == UA_H1_UPGRADED) {
            c->flags |= C_UPGRADED;
            break;
        } else {
            conn_abort(r, c, t < 0 ? t : -EPROTO);
            return len;
        }
        pos += (uint32_t)ev.consumed;
    }
    return pos;
}

/* Parse what waits in c->in. */
static void feed_in(struct ua_ring *r, struct ua_conn *c)
{
    int ref = 0;
    if (c->in_len && can_parse(c)) {
        uint32_t used = feed(r, c, c->in, c->in_len, 0, &ref);
        if (!(c->flags & C_CLOSING)) /* closed in feed: c->in may be freed already (see C_CLOSING above) */
            in_consume(r, c, used);
    }
    /* After the client's EOF, what is left unparsed with no request made of it never will be one. */
    if ((c->flags & C_PEER_EOF) && !(c->flags & (C_HELD | C_CLOSING | C_LINGER | C_UPGRADED | C_OUT_GATED)) &&
        !ua_linked(&c->qlink)) {
        conn_close_graceful(r, c);
        return;
    }
    input_flow(r, c);
    timer_update(r, c);
}

/* Bytes from a recv, in provided buffer bid. The buffer goes back to the kernel now, or at the next run if
 * an event points into it. */
static void input(struct ua_ring *r, struct ua_conn *c, uint8_t *data, uint32_t len, uint32_t bid)
{
    if (c->flags & C_LINGER) {
        ua_bufring_put(&r->bufs, bid);
        return;
    }
    if (c->in_len || !can_parse(c)) {
        int err = in_append(r, c, data, len);
        ua_bufring_put(&r->bufs, bid);
        if (err < 0) {
            conn_abort(r, c, err);
            return;
        }
        feed_in(r, c);
        return;
    }
    int ref = 0;
    uint32_t used = feed(r, c, data, len, 1, &ref);
    if (used < len && !(c->flags & C_CLOSING) && in_append(r, c, data + used, len - used) < 0)
        conn_abort(r, c, -ENOMEM);
    if (ref)
        ua_bufring_defer(&r->bufs, bid);
    else
        ua_bufring_put(&r->bufs, bid);
    input_flow(r, c);
    timer_update(r, c);
}

void conn_input_resume(struct ua_ring *r, struct ua_conn *c)
{
    if (c->in_len && !ua_linked(&c->qlink))
        ua_list_add_tail(&r->parse_q, &c->qlink);
}

void ua_on_recv(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    int has_buf = (flags & IORING_CQE_F_BUFFER) != 0;
    uint32_t bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (has_buf)
        r->bufs.n_out++;
    if (!c) {
        r->st.dropped_stale++;
        if (has_buf)
            ua_bufring_put(&r->bufs, bid);
        return;
    }
    int final = !(flags & IORING_CQE_F_MORE);
    if (final) {
        c->flags &= ~(uint32_t)C_RECV_ARMED;
        c->ops--;
    }
    /* Only the first completion after a re-arm off starved_q tells whether that re-arm found a buffer. */
    int retry = (c->flags & C_STARVE_RETRY) != 0;
    c->flags &= ~(uint32_t)C_STARVE_RETRY;
    if (res > 0 && has_buf && !(c->flags & C_CLOSING)) {
        r->trim.moved += (uint32_t)res;
        input(r, c, ua_bufring_addr(&r->bufs, bid), (uint32_t)res, bid);
    } else {
        if (has_buf)
            ua_bufring_put(&r->bufs, bid);
        if (res == 0) {
            /* The client shut its side: it sends no more, but it may well read (a half-close, RFC 9112
             * 9.6). A request handed to Python in this same batch is answered if its app answers in the
             * step the batch gives it, as uvicorn answers one when its app runs before the EOF is seen; if
             * it is still held at the next run, or was handed over in an earlier batch, the client counts
             * as gone (DISCONNECT, abort). Requests already received are parsed and answered in turn
             * (feed_in, conn_response_done); output queued is still sent. */
            c->flags |= C_PEER_EOF;
            if ((c->flags & C_HELD) && c->req_run == r->run_seq)
                ua_list_add_tail(&r->eof_q, &c->elink);
            else if (c->flags & C_HELD)
                conn_abort(r, c, 0); /* its app has had its step and still works: the client is gone */
            else if (ua_linked(&c->qlink) || (c->flags & C_OUT_GATED)) {
                /* requests wait to be parsed: feed_in closes once none is left */
            } else if (c->out_head || (c->flags & C_SENDING))
                conn_close_graceful(r, c);
            else
                start_closing(r, c);
        } else if (res == -ENOBUFS) {
            r->st.enobufs++;
            if (!(c->flags & C_CLOSING)) {
                /* Its place in line: a recv re-armed off starved_q that found the buffers already taken
                 * (others' multishot recvs drain every free buffer a socket has bytes for, so most of a
                 * round of re-arms can fail this way) keeps the place it had; so does a request whose body
                 * ran dry while Python holds it, which needs only the rest of its body to be answered and
                 * its buffers let go. Anyone else queues at the back. */
                c->flags |= C_STARVED;
                if (retry || (c->flags & C_HELD))
                    ua_list_add_tail(&r->starved_front, &c->slink);
                else
                    ua_list_add_tail(&r->starved_q, &c->slink);
                timer_update(r, c);
                hup_watch(r, c);
            }
        } else if (res < 0 && res != -ECANCELED) {
            conn_abort(r, c, res);
        }
    }
    if (final) {
        recv_arm(r, c);
        conn_finish(r, c);
    }
}

void ua_on_cancel(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)res, (void)flags;
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    if (!c) {
        r->st.dropped_stale++;
        return;
    }
    conn_op_done(r, c);
}

/* ---- accept ---- */

void ua_listener_arm(struct ua_ring *r, uint32_t idx)
{
    struct ua_listener *l = &r->lis[idx];
    struct io_uring_sqe *sqe = ua_sqe(r);
    if (l->shared)
        io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    sqe->user_data = UD(OP_ACCEPT, idx, 0);
    l->armed = 1;
}

static void conn_new(struct ua_ring *r, int fd, uint32_t listener)
{
    struct ua_conn *c = slot_alloc(r);
    if (!c) {
        close(fd); /* table full: refusing is all we can do; the client sees a reset */
        r->st.accept_errors++;
        return;
    }
    uint32_t gen = c->gen;
    memset(c, 0, offsetof(struct ua_conn, h1));
    c->gen = gen;
    c->fd = fd;
    c->listener = (uint8_t)listener;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    c->family = AF_UNIX;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        c->family = (uint8_t)ss.ss_family;
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            memcpy(c->addr, &a->sin_addr, 4);
            c->port = ntohs(a->sin_port);
            if (c->addr[0] == 127)
                c->flags |= C_LOOPBACK;
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            memcpy(c->addr, &a->sin6_addr, 16);
            c->port = ntohs(a->sin6_port);
            if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr) || (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) && c->addr[12] == 127))
                c->flags |= C_LOOPBACK;
        }
    }
    if (c->family == AF_INET || c->family == AF_INET6) {
        int one = 1; /* a response leaves as soon as it is queued; we batch ourselves */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    ua_h1_init(&c->h1, &r->h1set);
    r->st.conns_open++;
    r->st.accepted++;
    recv_arm(r, c);
    timer_set(r, c, T_IDLE, 1);
}

/* The listener's accept has ended for good (unlisten): take what waits in its queue. Accept waits are
 * exclusive, so the kernel wakes one waiter per arriving connection; when that one was ours and we cancelled
 * instead of accepting, no other worker was woken and the connection would wait in the queue until the next
 * one arrived. This worker is draining, so it answers them with `connection: close`. The listener is
 * non-blocking (ua_ring_listen), so this stops at an empty queue; whatever arrives after the cancel wakes
 * the workers still listening. */
static void take_queued(struct ua_ring *r, uint32_t idx)
{
    int fd;
    while ((fd = accept4(r->lis[idx].fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        conn_new(r, fd, idx);
}

void ua_on_accept(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    uint32_t idx = UD_AUX(ud);
    struct ua_listener *l = &r->lis[idx];
    if (!(flags & IORING_CQE_F_MORE))
        l->armed = 0;
    if (res >= 0) {
        if (r->stopping)
            close(res);
        else
            conn_new(r, res, idx);
    } else if (res != -ECANCELED) {
        /* EMFILE, ENFILE, ENOMEM...: the multishot accept ends. Re-arming at once would fail again at
         * once, so wait; connections meanwhile wait in the listen backlog. */
        r->st.accept_errors++;
        l->retry_ms = r->now_ms + 100;
    }
    if (l->armed)
        return;
    if (l->removing) {
        if (!r->stopping)
            take_queued(r, idx);
        l->fd = -1;
        l->removing = 0;
    } else if (!r->stopping && l->retry_ms <= r->now_ms) {
        ua_listener_arm(r, idx);
    }
}

int ua_ring_listen(struct ua_ring *r, int listen_fd, int flags)
{
    int slot = -1;
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++) {
        if (r->lis[i].fd == listen_fd && !r->lis[i].removing)
            return -EEXIST;
        if (slot < 0 && r->lis[i].fd < 0)
            slot = (int)i;
    }
    if (listen_fd < 0)
        return -EBADF;
    if (slot < 0)
        return -ENOSPC;
    /* take_queued must find an empty queue, not block in accept(); asyncio servers (uvicorn's) set
     * their listeners non-blocking too. io_uring's accept waits by poll either way. */
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    r->lis[slot].fd = listen_fd;
    r->lis[slot].shared = (flags & UA_LISTEN_SHARED) != 0;
    r->lis[slot].retry_ms = 0;
    ua_listener_arm(r, (uint32_t)slot);
    return slot;
}

int ua_ring_unlisten(struct ua_ring *r, int listen_fd)
{
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++) {
        struct ua_listener *l = &r->lis[i];
        if (l->fd != listen_fd || l->removing)
            continue;
        if (!l->armed) {
            l->fd = -1;
            return 0;
        }
        l->removing = 1;
        struct io_uring_sqe *sqe = ua_sqe(r);
        io_uring_prep_cancel64(sqe, UD(OP_ACCEPT, i, 0), 0);
        sqe->user_data = UD(OP_QUIET, 0, 0);
        return 0;
    }
    return -ENOENT;
}

/* ---- work left between completions ---- */

void ua_conns_eof(struct ua_ring *r)
{
    while (!ua_list_empty(&r->eof_q)) {
        struct ua_conn *c = UA_CONTAINER(r->eof_q.next, struct ua_conn, elink);
        ua_list_del(&c->elink);
        if (c->flags & C_HELD) /* its app did not answer in its first step: the client is taken as gone */
            conn_abort(r, c, 0);
    }
}

void ua_conns_work(struct ua_ring *r)
{
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++) {
        struct ua_listener *l = &r->lis[i];
        if (l->fd >= 0 && !l->armed && !l->removing && !r->stopping && l->retry_ms <= r->now_ms)
            ua_listener_arm(r, i);
    }
    while (!ua_list_empty(&r->parse_q) && ua_room(r) >= ROOM_FEED) {
        struct ua_conn *c = UA_CONTAINER(r->parse_q.next, struct ua_conn, qlink);
        ua_list_del(&c->qlink);
        feed_in(r, c);
    }
    while (!ua_list_empty(&r->notify_q) && ua_room(r) >= 1) {
        struct ua_conn *c = UA_CONTAINER(r->notify_q.next, struct ua_conn, nlink);
        uint32_t id = conn_id(r, c);
        if (c->flags & C_NOTIFY_DISC) {
            c->flags &= ~(uint32_t)(C_NOTIFY_DISC | C_NOTIFY_WR);
            ua_emit(r, UA_EV_DISCONNECT, id, c->disc_res);
        } else if (c->flags & C_NOTIFY_WR) {
            c->flags &= ~(uint32_t)C_NOTIFY_WR;
            ua_emit(r, UA_EV_WRITABLE, id, 0);
        }
        ua_list_del(&c->nlink);
        if ((c->flags & C_CLOSING) && c->ops == 0)
            finalize(r, c);
    }
    /* As many starved recvs as there are free buffers, oldest first: re-arming them all for one free
     * buffer had thousands fail on ENOBUFS again at once, and the connections still armed took every
     * buffer first, round after round. A multishot recv takes a buffer for every buf_size bytes waiting in
     * its socket as soon as it is armed, so the first few of a round can still take them all (a 256 KiB
     * upload: 16 of 16 KiB); the rest fail at once and keep their place (starved_front, ua_on_recv). Sent
     * to the back instead, under 800 clients uploading 256 KiB with 256 buffers, 94% of re-arms failed so
     * and a connection could wait 8 s for a buffer. */
    ua_list_splice_front(&r->starved_q, &r->starved_front);
    for (uint32_t room = r->bufs.count - r->bufs.n_out; room && !ua_list_empty(&r->starved_q); room--) {
        struct ua_conn *c = UA_CONTAINER(r->starved_q.next, struct ua_conn, slink);
        ua_list_del(&c->slink);
        c->flags &= ~(uint32_t)C_STARVED;
        recv_arm(r, c);
        if (c->flags & C_RECV_ARMED)
            c->flags |= C_STARVE_RETRY;
        timer_update(r, c);
    }
}

int ua_conns_pending(struct ua_ring *r)
{
    return !ua_list_empty(&r->parse_q) || !ua_list_empty(&r->notify_q) || !ua_list_empty(&r->eof_q);
}

/* A scan, not a count kept at each of the places a request stops being held: it runs once per quiet period
 * (trim.c), over the slots used so far. */
int ua_conns_busy(struct ua_ring *r)
{
    for (uint32_t i = 0; i < r->fresh; i++) {
        const struct ua_conn *c = &r->conns[i];
        if (c->fd >= 0 && ((c->flags & (C_HELD | C_SENDING)) || c->out_head))
            return 1;
    }
    return 0;
}

/* ---- calls from Python ---- */

int conn_response_done(struct ua_ring *r, struct ua_conn *c)
{
    c->flags &= ~(uint32_t)(C_HELD | C_RESP | C_WANT_WR);
    /* Fewer bytes than the content-length announced: the client cannot tell where the response ends but by
     * the close. (More never gets here: the send that would overrun it is refused.) */
    int cut = c->h1.resp_framing == UA_H1_FRAME_LENGTH && (int64_t)c->body_sent != c->h1.resp_length;
    if (ua_h1_response_done(&c->h1) == 1 || cut || ((c->flags & C_PEER_EOF) && !c->in_len)) {
        conn_close_graceful(r, c);
        return cut ? -ENODATA : 0;
    }
    conn_input_resume(r, c);
    timer_update(r, c);
    return 0;
}

int ua_conn_want_body(struct ua_ring *r, uint32_t conn, int want)
{
    struct ua_conn *c = conn_get(r, conn);
    if (!c || (c->flags & (C_CLOSING | C_LINGER)))
        return -EPIPE;
    if (!(c->flags & C_HELD))
        return -EINVAL;
    if (!want) {
        c->flags |= C_BODY_PAUSED;
        return 0;
    }
    c->flags &= ~(uint32_t)C_BODY_PAUSED;
    if (ua_h1_want_continue(&c->h1)) {
        struct ua_out *o = out_new(UA_H1_CONTINUE_LEN);
        if (!o)
            return -ENOMEM;
        o->len = (uint32_t)ua_h1_continue_line((char *)o->data, UA_H1_CONTINUE_LEN);
        send_queue(r, c, o);
        send_kick(r, c);
    }
    conn_input_resume(r, c);
    return 0;
}

int ua_conn_close(struct ua_ring *r, uint32_t conn)
{
    struct ua_conn *c = conn_get(r, conn);
    if (!c)
        return 0; /* already gone: closing is idempotent */
    c->flags &= ~(uint32_t)C_HELD; /* Python asked: no DISCONNECT */
    conn_abort(r, c, 0);
    return 0;
}

int ua_ring_debug_stale(struct ua_ring *r, uint32_t conn)
{
    if (conn_get(r, conn))
        return -EINVAL; /* only for an id whose connection is gone */
    struct io_uring_sqe *sqe = ua_sqe(r);
    io_uring_prep_nop(sqe);
    sqe->user_data = UD(OP_NOP, 0, conn);
    return 0;
}
