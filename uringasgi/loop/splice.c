/* File ranges sent by splice: file -> pipe -> socket, the bytes never enter user space.
 *
 * A file range is a piece of a connection's output queue like any other (send.c keeps the order). Each
 * step is two linked SQEs, IORING_OP_SPLICE file -> pipe then pipe -> socket, for at most one pipe's worth.
 * A short splice breaks the link (the kernel fails a link on a short result), so the second SQE then
 * completes -ECANCELED and the bytes already in the pipe go out alone in the next step. in_pipe counts
 * them, so the file offset of the next read is always file_off + sent + in_pipe.
 *
 * Pipes come from a per-ring pool that grows to the most transfers in flight at once; a transfer holds one
 * until its piece is done. A pipe that still holds bytes when its transfer is abandoned is replaced by a
 * fresh one, since its contents belong to nobody.
 * The engine owns the file descriptor from ua_conn_sendfile on, and closes it when the piece is retired.
 */
#define _GNU_SOURCE
#include "loop/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_SIZE (256 * 1024)

static int pipe_get(struct ua_ring *r)
{
    int fds[2];
    for (uint32_t i = 0; i < r->n_pipes; i++) {
        if (r->pipes[i].free) {
            r->pipes[i].free = 0;
            return (int)i;
        }
    }
    if (r->n_pipes == r->cap_pipes) {
        uint32_t n = r->cap_pipes ? r->cap_pipes * 2 : 8;
        struct ua_pipe *p = realloc(r->pipes, n * sizeof(*p));
        if (!p)
            return -ENOMEM;
        r->pipes = p;
        r->cap_pipes = n;
    }
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    /* A bigger pipe is fewer steps per file; if the limit refuses, the default (64 KiB) works too. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE);
    int size = fcntl(fds[1], F_GETPIPE_SZ);
    struct ua_pipe *p = &r->pipes[r->n_pipes];
    p->rd = fds[0];
    p->wr = fds[1];
    p->size = size > 0 ? (uint32_t)size : 65536;
    p->free = 0;
    return (int)r->n_pipes++;
}

void splice_release(struct ua_ring *r, struct ua_out *o)
{
    if (o->pipe >= 0) {
        struct ua_pipe *p = &r->pipes[o->pipe];
        if (o->in_pipe) {
            close(p->rd);
            close(p->wr);
            p->rd = p->wr = -1;
            /* the slot is reused by pipe_get only through `free`: make a fresh pipe for it */
            int fds[2];
            if (pipe2(fds, O_CLOEXEC) == 0) {
                (void)fcntl(fds[1], F_SETPIPE_SZ, PIPE_SIZE);
                p->rd = fds[0];
                p->wr = fds[1];
                p->free = 1;
            }
        } else {
            p->free = 1;
        }
        o->pipe = -1;
    }
    if (o->file_fd >= 0)
        close(o->file_fd);
    o->file_fd = -1;
}

void ua_pipes_fini(struct ua_ring *r)
{
    for (uint32_t i = 0; i < r->n_pipes; i++) {
        if (r->pipes[i].rd >= 0)
            close(r->pipes[i].rd);
        if (r->pipes[i].wr >= 0)
            close(r->pipes[i].wr);
    }
    free(r->pipes);
    r->pipes = NULL;
    r->n_pipes = r->cap_pipes = 0;
}

void splice_start(struct ua_ring *r, struct ua_conn *c, struct ua_out *o)
{
    uint32_t id = conn_id(r, c);
    if (o->pipe < 0) {
        int p = pipe_get(r);
        if (p < 0) {
            conn_abort(r, c, p);
            return;
        }
        o->pipe = p;
    }
    const struct ua_pipe *p = &r->pipes[o->pipe];
    c->splice_err = 0;
    if (!o->in_pipe) {
        uint64_t left = o->file_len - o->off;
        uint32_t n = left < p->size ? (uint32_t)left : p->size;
        struct io_uring_sqe *sqe = ua_sqe(r);
        io_uring_prep_splice(sqe, o->file_fd, (int64_t)(o->file_off + o->off), p->wr, -1, n, 0);
        sqe->flags |= IOSQE_IO_LINK;
        sqe->user_data = UD(OP_SPLICE_IN, 0, id);
        sqe = ua_sqe(r);
        io_uring_prep_splice(sqe, p->rd, -1, c->fd, -1, n, 0);
        sqe->user_data = UD(OP_SPLICE_OUT, 0, id);
        c->splice_n = 2;
    } else {
        struct io_uring_sqe *sqe = ua_sqe(r);
        io_uring_prep_splice(sqe, p->rd, -1, c->fd, -1, (uint32_t)o->in_pipe, 0);
        sqe->user_data = UD(OP_SPLICE_OUT, 0, id);
        c->splice_n = 1;
    }
    c->ops += c->splice_n;
    c->flags |= C_SENDING;
    if (c->tkind != T_WRITE)
        timer_set(r, c, T_WRITE, 1);
}

void ua_on_splice(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)flags;
    struct ua_conn *c = conn_get(r, UD_ID(ud));
    if (!c) {
        r->st.dropped_stale++;
        return;
    }
    c->ops--;
    c->splice_n--;
    struct ua_out *o = c->out_head;
    if (UD_OP(ud) == OP_SPLICE_IN) {
        if (res > 0 && o && o->file_fd >= 0)
            o->in_pipe += (uint64_t)res;
        else if (res == 0 && !c->splice_err)
            c->splice_err = -EIO; /* the file ended before the length promised: the response cannot end */
        else if (res < 0 && res != -ECANCELED && !c->splice_err)
            c->splice_err = res;
    } else {
        if (res > 0 && o && o->file_fd >= 0) {
            o->in_pipe -= (uint64_t)res;
            send_progress(r, c, (uint64_t)res);
        } else if (res < 0 && res != -ECANCELED && !c->splice_err) {
            c->splice_err = res;
        }
    }
    if (c->splice_n == 0 && !(c->flags & C_CLOSING)) {
        if (c->splice_err)
            conn_abort(r, c, c->splice_err);
        send_next(r, c);
    }
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
    if (!more) {
        if (chunked) {
            struct ua_out *last = out_new(8);
            if (!last) {
                conn_abort(r, c, -ENOMEM);
                return -ENOMEM;
            }
            memcpy(last->data, "0\r\n\r\n", 5);
            last->len = 5;
            send_queue(r, c, last);
        }
        conn_response_done(r, c);
    }
    send_kick(r, c);
    return send_queued(r, c);
}
