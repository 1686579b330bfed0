/* File ranges sent by sendfile(2), inline from the engine, the way nginx sends them.
 *
 * A file range is a piece of a connection's output queue like any other (send.c keeps the order). When
 * the piece at the head of the queue is a file range, or the memory pieces before one (a response head, a
 * chunk size line), send_kick comes here instead of queueing an SQE:
 *
 *   memory piece before the file   send(MSG_DONTWAIT | MSG_MORE), so the head is corked and leaves in the
 *                                  same segment as the first body bytes (what nginx's tcp_nopush does)
 *   file piece                     sendfile() on the non-blocking socket, as much as the send buffer takes
 *   the socket is full (EAGAIN     a one-shot IORING_OP_POLL_ADD for POLLOUT; its completion sends on
 *   or a short count)
 *   the budget is used up, or the  an IORING_OP_NOP: the completion continues (or ends) the output as a
 *   file range is done            send completion would, so other connections get their turn
 *   sendfile returns 0             the file is shorter than the length promised (truncated while being
 *                                  sent): the response cannot end, the connection is aborted
 *
 * Either way exactly one op of the connection is in the kernel while C_SENDING is set, and the close path
 * cancels it with the rest (cancel by fd).
 *
 * Why not io_uring splice (file -> pipe -> socket, the first version): the kernel always runs
 * IORING_OP_SPLICE from an io-wq worker thread (REQ_F_FORCE_ASYNC, io_uring/splice.c), so every step
 * cost two thread hand-offs; measured here on 6.18 it served 1 MiB files at 0.7x nginx. sendfile on a
 * non-blocking socket does the same page-reference transfer in the engine's own thread.
 *
 * The socket is made O_NONBLOCK the first time (C_NONBLOCK): sendfile has no per-call flag. io_uring's
 * own send and recv on it are unaffected (they poll for readiness either way).
 *
 * At the same time it gets TCP_NOTSENT_LOWAT (Linux 3.12): sendfile stops queueing once FILE_LOWAT bytes
 * wait unsent, and the rest is sent from here when POLLOUT says the queue drained. Without it one
 * sendfile parks up to the whole send buffer (MiBs) unsent behind pacing (BBR) and the receive window,
 * and the kernel transmits that backlog later from the ACK path, that is in the context of whichever
 * task processes the client's ACKs: on loopback the client's own. Measured here (6.18, bbr, 1 MiB file,
 * wrk -c64 on the other core): packets transmitted in wrk's context per response 13 -> 3.4-5 (nginx:
 * 9-11), wrk CPU per response about 15% lower, server CPU per response unchanged. A response that fits
 * under the mark (100 KiB) leaves in one call as before. 128 KiB: 32 and 64 KiB measured no better.
 * The engine owns the file descriptor from ua_conn_sendfile on, and closes it when the piece is retired. A
 * static file's piece borrows the fd of the open-file cache's entry instead, and gives the entry back then.
 */
#define _GNU_SOURCE
#include "loop/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* Bytes one kick may send before it lets the other connections' completions run. */
#define FILE_BUDGET (1u << 20)
/* Unsent bytes a connection may have queued in the kernel (TCP_NOTSENT_LOWAT, see above). */
#define FILE_LOWAT (128 << 10)

void file_release(struct ua_out *o)
{
    if (o->release)
        o->release(o->owner, o->ref);
    else if (o->file_fd >= 0)
        close(o->file_fd);
    o->release = NULL;
    o->file_fd = -1;
}

/* One op in the kernel to come back through ua_on_file: a poll for room, or a NOP to yield. */
static void file_wait(struct ua_ring *r, struct ua_conn *c, int for_room)
{
    struct io_uring_sqe *sqe = ua_sqe(r);
    if (for_room)
        io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
    else
        io_uring_prep_nop(sqe);
    sqe->user_data = UD(OP_FILE, 0, conn_id(r, c));
    c->ops++;
    c->flags |= C_SENDING;
    if (c->tkind != T_WRITE)
        timer_set(r, c, T_WRITE, 1);
}

int file_next(const struct ua_out *o)
{
    return o->file_fd >= 0 || (o->next && o->next->file_fd >= 0);
}

void file_send(struct ua_ring *r, struct ua_conn *c)
{
    if (!(c->flags & C_NONBLOCK)) {
        int fl = fcntl(c->fd, F_GETFL);
        if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
            conn_abort(r, c, -errno);
            return;
        }
        c->flags |= C_NONBLOCK;
        /* A kernel without it sends as before: the option is a speed-up, not a need. */
        int lowat = FILE_LOWAT;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
    }
    uint64_t budget = FILE_BUDGET;
    struct ua_out *o;
    while ((o = c->out_head) && file_next(o)) {
        ssize_t n;
        uint64_t want;
        int file = o->file_fd >= 0; /* o is freed by send_progress once it is all sent: not read after */
        if (!file) {
            want = o->len - o->off;
            n = send(c->fd, o->data + o->off, (size_t)want, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
        } else {
            want = o->file_len - o->off;
            if (want > budget)
                want = budget;
            off_t pos = (off_t)(o->file_off + o->off);
            n = sendfile(c->fd, o->file_fd, &pos, (size_t)want);
            if (n == 0) {
                conn_abort(r, c, -EIO); /* the file ended before the length promised */
                return;
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                file_wait(r, c, 1);
                return;
            }
            conn_abort(r, c, -errno); /* EPIPE, ECONNRESET: the client is gone */
            return;
        }
        send_progress(r, c, (uint64_t)n);
        if ((uint64_t)n < want) { /* the send buffer is full */
            file_wait(r, c, 1);
            return;
        }
        if (file && (budget -= (uint64_t)n) == 0)
            break;
    }
    file_wait(r, c, 0);
}

void ua_on_file(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)res;
    (void)flags;
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    if (!c) {
        r->st.dropped_stale++;
        return;
    }
    c->ops--;
    send_next(r, c); /* a poll error (POLLERR, POLLHUP) shows in the next send as EPIPE/ECONNRESET */
    conn_finish(r, c);
}

int ua_conn_sendfile(struct ua_ring *r, uint32_t conn, int fd, uint64_t offset, uint64_t length, uint32_t flags)
{
    struct ua_conn *c;
    int err = send_held_conn(r, conn, &c);
    if (!err && !(c->flags & C_RESP))
        err = -EINVAL; /* ua_conn_respond(..., UA_SEND_MORE) first */
    if (!err && c->h1.resp_framing == UA_H1_FRAME_LENGTH && c->body_sent + length > (uint64_t)c->h1.resp_length)
        err = -EINVAL;
    if (err < 0) {
        close(fd);
        return err;
    }
    int more = (flags & UA_SEND_MORE) != 0;
    int chunked = c->h1.resp_framing == UA_H1_FRAME_CHUNKED;
    if (c->h1.resp_framing == UA_H1_FRAME_NONE || length == 0) {
        close(fd);
    } else {
        struct ua_out *o = out_new(0);
        struct ua_out *pre = chunked ? out_new(24) : NULL;
        struct ua_out *post = chunked ? out_new(8) : NULL;
        if (!o || (chunked && (!pre || !post))) {
            free(o);
            free(pre);
            free(post);
            close(fd);
            conn_abort(r, c, -ENOMEM);
            return -ENOMEM;
        }
        o->file_fd = fd;
        o->file_off = offset;
        o->file_len = length;
        if (chunked) {
            pre->len = (uint32_t)ua_h1_chunk_prefix((char *)pre->data, 24, length);
            send_queue(r, c, pre);
        }
        send_queue(r, c, o);
        if (chunked) {
            memcpy(post->data, "\r\n", 2);
            post->len = 2;
            send_queue(r, c, post);
        }
        c->body_sent += length;
    }
    if (!more && chunked) {
        struct ua_out *last = out_new(8);
        if (!last) {
            conn_abort(r, c, -ENOMEM);
            return -ENOMEM;
        }
        memcpy(last->data, "0\r\n\r\n", 5);
        last->len = 5;
        send_queue(r, c, last);
    }
    return send_end(r, c, more);
}
