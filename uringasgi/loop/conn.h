/* A connection slot, shared by conn.c (lifecycle, input), send.c (output), timer.c and sendfile.c.
 * Not seen by cffi. The rules of a connection's life are at the top of conn.c. */
#ifndef UA_CONN_H
#define UA_CONN_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "loop/engine.h"
#include "protocol/h1.h"

/* c->flags */
#define C_RECV_ARMED 0x0001    /* a multishot recv is in the kernel */
#define C_STARVED 0x0002       /* its recv ended on ENOBUFS: on starved_q until buffers return */
#define C_READ_PAUSED 0x0004   /* enough input is buffered: no recv until it is parsed */
#define C_HELD 0x0008          /* Python holds the current request (REQUEST given, final send not yet) */
#define C_BODY_PAUSED 0x0010   /* Python asked for no body for now (ua_conn_want_body 0) */
#define C_SENDING 0x0020       /* a send of the output queue is in the kernel */
#define C_CLOSE_AFTER 0x0040   /* close once the output queue is sent */
#define C_LINGER 0x0080        /* output sent, write side shut: reading to EOF before close (RFC 9112 9.6) */
#define C_CLOSING 0x0100       /* cancelling; the slot is freed at the last completion */
#define C_PEER_EOF 0x0200      /* the client shut its write side */
#define C_NOTIFY_DISC 0x0400   /* a DISCONNECT is owed to Python */
#define C_NOTIFY_WR 0x0800     /* a WRITABLE is owed to Python */
#define C_WANT_WR 0x1000       /* a send reported "full": WRITABLE at low water */
#define C_UPGRADED 0x2000      /* no longer HTTP/1: input is held, nothing parses */
#define C_RESP 0x4000          /* Python started the response (ua_conn_respond with a final status) */
#define C_HAS_BODY 0x8000      /* the held request has a body: BODY_END is owed */
#define C_LOOPBACK 0x10000     /* the peer is 127.0.0.0/8 or ::1 (send.c: no SEND_ZC by default) */
#define C_NONBLOCK 0x20000     /* the socket is O_NONBLOCK (sendfile.c) */
#define C_OUT_GATED 0x40000    /* the next request head waits until the output queue drains (conn.c feed) */
#define C_HUP_WATCH 0x80000    /* a poll for the client's reset is in the kernel (a starved recv: conn.c) */
#define C_STARVE_RETRY 0x100000 /* re-armed off starved_q, no buffer yet: an ENOBUFS now keeps its place */

/* timer kinds (timer.c) */
#define T_NONE 0
#define T_IDLE 1  /* keep-alive: no request in progress */
#define T_HEAD 2  /* a request head has started and not ended */
#define T_WRITE 3 /* output queued: no send progress for write_timeout_ms */

/* One piece of output: response head and body bytes, a chunk frame, or a file range (sendfile.c). */
struct ua_out {
    struct ua_out *next;
    uint64_t off;     /* bytes already sent */
    uint32_t len;     /* bytes in data (0 for a file range) */
    uint32_t cap;     /* bytes data has room for (send.c: a large piece is kept for reuse) */
    uint32_t refs;    /* SEND_ZC notifications still owed for this memory */
    uint8_t retired;  /* out of the queue, freed when refs reaches 0 */
    int file_fd;      /* >= 0: a file range sent by sendfile (sendfile.c); the engine owns the fd... */
    uint64_t file_off, file_len;
    void (*release)(void *owner, void *ref); /* ...unless set: the fd is borrowed, and this gives it back */
    void *owner, *ref;
    uint8_t data[];
};

struct ua_conn {
    int fd;
    uint32_t gen;
    uint32_t flags;
    uint16_t ops;       /* SQEs of this connection whose final completion has not come */
    uint8_t listener;
    uint8_t family;
    uint16_t port;
    uint8_t tkind;
    uint8_t addr[16];
    int32_t disc_res;   /* res of the DISCONNECT owed */
    uint32_t req_run;   /* r->run_seq of the run that handed the held request to Python */

    /* input not yet parsed (a partial head, or bytes that wait while Python holds a request) */
    uint8_t *in;
    uint32_t in_len, in_cap;

    /* output */
    struct ua_out *out_head, *out_tail;
    uint64_t out_bytes;  /* unsent bytes queued */
    uint64_t body_sent;  /* body bytes of the current response, for content-length framing */
    uint32_t zc_pending; /* SEND_ZC notifications owed */
    struct msghdr msg;   /* the in-flight sendmsg: the kernel reads these until it completes */
    struct iovec iov[16];

    uint64_t deadline_ms;
    struct ua_link tlink; /* on one of r->t_idle, t_head, t_write */
    struct ua_link qlink; /* on r->parse_q */
    struct ua_link nlink; /* on r->notify_q */
    struct ua_link slink; /* on r->starved_q */
    struct ua_link elink; /* on r->eof_q */

    struct ua_h1_conn h1;
};

static inline uint32_t conn_id(const struct ua_ring *r, const struct ua_conn *c)
{
    return (c->gen << r->slot_bits) | (uint32_t)(c - r->conns);
}

/* The live connection a conn id names, or NULL if it was closed (its slot may serve someone else now). */
static inline struct ua_conn *conn_get(struct ua_ring *r, uint32_t id)
{
    uint32_t slot = id & ((1u << r->slot_bits) - 1);
    if (slot >= r->fresh)
        return NULL;
    struct ua_conn *c = &r->conns[slot];
    if (c->fd < 0 || c->gen != id >> r->slot_bits)
        return NULL;
    return c;
}

/* conn.c */
void conn_input_resume(struct ua_ring *r, struct ua_conn *c); /* queue for parsing at the next chance */
void conn_close_graceful(struct ua_ring *r, struct ua_conn *c); /* after the output queue is sent */
void conn_abort(struct ua_ring *r, struct ua_conn *c, int res);  /* now; res for a DISCONNECT owed */
void conn_notify(struct ua_ring *r, struct ua_conn *c, uint32_t flag);
void conn_op_done(struct ua_ring *r, struct ua_conn *c);         /* a final completion came */
void conn_finish(struct ua_ring *r, struct ua_conn *c);          /* after one: free the slot if closing */
int conn_response_done(struct ua_ring *r, struct ua_conn *c);    /* the last byte Python sends is queued */
void conn_output_drained(struct ua_ring *r, struct ua_conn *c);

/* send.c */
void send_queue(struct ua_ring *r, struct ua_conn *c, struct ua_out *o);
void send_kick(struct ua_ring *r, struct ua_conn *c); /* start a send if none is in flight */
int send_end(struct ua_ring *r, struct ua_conn *c, int more); /* how a call from Python that queued ends */
void send_free_all(struct ua_ring *r, struct ua_conn *c);
void send_progress(struct ua_ring *r, struct ua_conn *c, uint64_t n); /* n bytes left; sent pieces freed */
void send_next(struct ua_ring *r, struct ua_conn *c);                 /* the send in flight ended */
int send_held_conn(struct ua_ring *r, uint32_t conn, struct ua_conn **out); /* -EPIPE/-EINVAL or 0 */
struct ua_out *out_new(uint32_t len);
void out_cache_drain(void); /* send.c: the large pieces kept for reuse by this thread are freed */
int send_zc_init(struct ua_ring *r);
void send_zc_fini(struct ua_ring *r);

/* timer.c */
void timer_set(struct ua_ring *r, struct ua_conn *c, uint8_t kind, int refresh);
void timer_update(struct ua_ring *r, struct ua_conn *c); /* pick the kind from the connection's state */

/* sendfile.c */
int file_next(const struct ua_out *o);           /* o is a file range, or the piece just before one */
void file_send(struct ua_ring *r, struct ua_conn *c); /* instead of a send SQE; counts its own op */
void file_release(struct ua_out *o);             /* closes the range's fd, or gives it back */

#endif
