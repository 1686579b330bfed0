/* The engine's inside: what ring.c, conn.c, bufring.c, send.c, timer.c, trim.c and sendfile.c share.
 * Nothing here is seen by cffi (no cdef markers): Python knows only ring.h.
 *
 * user_data layout, for every SQE the engine submits:
 *
 *     63      56 55                32 31                              0
 *     |   op    |        aux         |        id (conn id, fd, ...)   |
 *
 * A conn id is (generation << slot_bits) | slot. A completion whose id no longer names a live slot with
 * that generation belongs to a connection that was closed, and it is dropped (its slot may already serve
 * someone else). aux carries what an op needs besides the id (a listener index, a poll sequence number).
 */
#ifndef UA_ENGINE_H
#define UA_ENGINE_H

#include <liburing.h>
#include <stdint.h>

#include "loop/ring.h"
#include "protocol/h1.h"

enum ua_op {
    OP_WAKE = 1,    /* multishot poll on the wake eventfd */
    OP_ACCEPT,      /* multishot accept; aux = listener index */
    OP_RECV,        /* multishot recv into the provided-buffer ring */
    OP_SEND,        /* sendmsg of the head of a connection's output queue */
    OP_SEND_ZC,     /* SEND_ZC of one large chunk; a second CQE (F_NOTIF) releases the buffer */
    OP_CANCEL,      /* async cancel of a connection's operations */
    OP_POLL,        /* one-shot poll for a third-party fd; id = fd, aux = sequence */
    OP_POLL_REMOVE, /* removal of a poll that Python no longer wants */
    OP_FILE,        /* sendfile.c: POLLOUT for a file range's socket, or a NOP to yield the loop */
    OP_NOP,         /* ua_ring_debug_stale: a NOP that completes as a late recv of a closed conn */
    OP_QUIET,       /* a completion with nothing left to do (cancel-all at teardown) */
    OP_HUP,         /* one-shot poll for a starved connection's reset (conn.c) */
};

#define UD(op, aux, id) (((uint64_t)(op) << 56) | ((uint64_t)((aux) & 0xffffffu) << 32) | (uint32_t)(id))
#define UD_OP(ud) ((unsigned)((ud) >> 56))
#define UD_AUX(ud) ((uint32_t)(((ud) >> 32) & 0xffffffu))
#define UD_ID(ud) ((uint32_t)(ud))

#define UA_MAX_LISTENERS 64
#define UA_BGID 1 /* the one provided-buffer group */

/* ---- provided-buffer ring (bufring.c) ---- */
struct ua_bufring {
    struct io_uring_buf_ring *br;
    uint8_t *mem;      /* count * size bytes */
    uint32_t count;    /* power of two */
    uint32_t size;
    uint32_t mask;
    uint16_t *deferred; /* bids whose bytes an event still points at: returned at the next run */
    uint32_t n_deferred;
    uint32_t to_advance; /* adds since the last io_uring_buf_ring_advance */
    uint32_t n_out;      /* buffers the kernel filled that are not back in the ring yet */
};

int ua_bufring_init(struct ua_bufring *b, struct io_uring *ring, uint32_t count, uint32_t size);
void ua_bufring_fini(struct ua_bufring *b); /* after the ring is gone: nothing can write into it */
static inline uint8_t *ua_bufring_addr(struct ua_bufring *b, uint32_t bid)
{
    return b->mem + (size_t)bid * b->size;
}
void ua_bufring_put(struct ua_bufring *b, uint32_t bid);   /* back to the kernel (published by flush) */
void ua_bufring_defer(struct ua_bufring *b, uint32_t bid); /* back at the next ua_bufring_release */
void ua_bufring_release(struct ua_bufring *b);             /* deferred ones go back */
void ua_bufring_flush(struct ua_bufring *b);               /* publish puts to the kernel */

/* ---- intrusive doubly linked list, for timer and work queues ---- */
struct ua_link {
    struct ua_link *prev, *next;
};
static inline void ua_list_init(struct ua_link *h)
{
    h->prev = h->next = h;
}
static inline int ua_list_empty(const struct ua_link *h)
{
    return h->next == h;
}
static inline int ua_linked(const struct ua_link *l)
{
    return l->next != 0;
}
static inline void ua_list_del(struct ua_link *l)
{
    if (!l->next)
        return;
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = 0;
}
static inline void ua_list_add_tail(struct ua_link *h, struct ua_link *l)
{
    ua_list_del(l);
    l->prev = h->prev;
    l->next = h;
    h->prev->next = l;
    h->prev = l;
}
/* Every link of list f moves, in its order, to the front of list h; f is left empty. */
static inline void ua_list_splice_front(struct ua_link *h, struct ua_link *f)
{
    if (ua_list_empty(f))
        return;
    struct ua_link *first = f->next, *last = f->prev;
    last->next = h->next;
    h->next->prev = last;
    h->next = first;
    first->prev = h;
    ua_list_init(f);
}
#define UA_CONTAINER(ptr, type, member) ((type *)((char *)(ptr) - __builtin_offsetof(type, member)))

/* ---- listeners ---- */
struct ua_listener {
    int fd;            /* -1: unused slot. Python owns the fd; the engine never closes it */
    uint8_t armed;     /* an accept is in the kernel */
    uint8_t shared;    /* UA_LISTEN_SHARED: one-shot accepts */
    uint8_t removing;  /* unlisten asked; the slot is free once the accept's last CQE came */
    uint64_t retry_ms; /* EMFILE/ENFILE: re-arm not before this (monotonic ms) */
};

/* ---- third-party fd polls ---- */
struct ua_pollent {
    uint32_t want;   /* POLLIN|POLLOUT Python asked for; 0 = none */
    uint32_t armed;  /* mask of the poll in the kernel; 0 = none */
    uint32_t seq;    /* sequence of the armed poll (24 bits), so a stale completion is recognised */
    uint8_t queued;  /* on the re-arm list */
};

/* ---- the ring ---- */
struct ua_conn;
struct ua_out;

struct ua_zc_rec {
    struct ua_out *out;
    uint32_t next_free;
};

/* trim.c: memory given back once the worker is quiet after a burst */
struct ua_trim {
    uint64_t moved;       /* bytes received and queued for sending, ever: all the hot path does */
    uint64_t seen;        /* moved at the last check */
    uint64_t trimmed;     /* moved at the last trim */
    uint64_t quiet_since; /* now_ms when moved was last seen to change */
};

struct ua_arena_block {
    struct ua_arena_block *next;
    size_t used, cap;
    uint8_t data[];
};

struct ua_ring {
    struct io_uring ring;
    struct ua_ring_config cfg; /* defaults resolved; extra_headers points at our own copy */
    uint32_t setup_flags;
    int wake_fd;
    int notify_fd; /* eventfd registered with the ring on the first ua_ring_fd(); -1 until then */
    uint8_t wake_armed;
    uint8_t woken;
    uint8_t ring_ok;  /* io_uring_queue_init succeeded */
    uint8_t stopping; /* ua_ring_free is draining: arm nothing new */
    uint8_t draining; /* ua_ring_drain: every further response closes its connection */
    uint64_t now_ms; /* CLOCK_MONOTONIC, refreshed once per wait */
    uint32_t run_seq; /* ua_ring_run calls so far: which batch a request went out in (conn.c, EOF) */

    /* the batch being filled by ua_ring_run */
    struct ua_event *ev;
    uint32_t ev_n, ev_cap;
    struct ua_arena_block *arena; /* bytes events point at; reset at the start of each run */

    struct ua_bufring bufs;

    struct ua_listener lis[UA_MAX_LISTENERS];
    uint32_t n_lis;

    struct ua_pollent *polls; /* indexed by fd */
    uint32_t n_polls;
    int *poll_rearm;          /* fds to re-arm at the next run (level-triggered, see ring.c) */
    uint32_t n_rearm, cap_rearm;

    /* connections (conn.c) */
    struct ua_conn *conns;
    uint32_t max_conns;
    uint32_t slot_bits;
    uint32_t *free_slots; /* FIFO ring of free slots: a slot is reused as late as possible */
    uint32_t free_head, free_n;
    uint32_t fresh;       /* slots [0, fresh) have been used; the rest are untouched calloc memory */
    struct ua_link parse_q;   /* conns with buffered input to (re)parse when the batch has room */
    struct ua_link notify_q;  /* conns with a WRITABLE or DISCONNECT event to deliver */
    struct ua_link starved_q; /* conns whose recv ended on ENOBUFS: re-armed when buffers return */
    struct ua_link starved_front; /* starved conns that go before all of starved_q at the next ua_conns_work */
    struct ua_link eof_q;     /* conns whose client shut its side while Python held a request (conn.c) */
    struct ua_link t_idle, t_head, t_write; /* timer lists; each is sorted because its delay is fixed */

    /* SEND_ZC (send.c): a record per send whose F_NOTIF completion is owed; aux of its user_data */
    int zc_ok;
    struct ua_zc_rec *zc;
    uint32_t n_zc, zc_free; /* zc_free: head of the free list through ua_zc_rec.next_free, or UINT32_MAX */

    struct ua_h1_settings h1set; /* limits and the cached date, shared by every connection */

    struct ua_routes *routes; /* routes/serve.c: requests answered in C; NULL: every request is Python's */

    struct ua_trim trim;

    struct ua_ring_stats st;
};

/* ring.c */
uint64_t ua_now_ms(void);
struct io_uring_sqe *ua_sqe(struct ua_ring *r);     /* never NULL: submits to make room if it must */
struct ua_event *ua_emit(struct ua_ring *r, uint32_t type, uint32_t conn, int32_t res);
uint32_t ua_room(const struct ua_ring *r);           /* events that still fit in the batch */
void *ua_arena_alloc(struct ua_ring *r, size_t n);   /* valid until the next run; NULL on ENOMEM */

/* conn.c */
int ua_conns_init(struct ua_ring *r);
void ua_conns_abort_all(struct ua_ring *r); /* teardown: every connection and listener starts closing */
void ua_conns_fini(struct ua_ring *r);      /* after the ring is gone: close fds, free memory */
void ua_listener_arm(struct ua_ring *r, uint32_t idx);
void ua_on_accept(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);
void ua_on_recv(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);
void ua_on_cancel(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);
void ua_on_hup(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);
void ua_conns_work(struct ua_ring *r); /* parse queue, notify queue, starved recvs */
void ua_conns_eof(struct ua_ring *r);  /* at the start of a run: a request the client left is given up */
/* Work for the next run: what ua_conns_work could not finish for lack of room, and eof_q */
int ua_conns_pending(struct ua_ring *r);
int ua_conns_busy(struct ua_ring *r); /* a request is held by Python or its response is still being sent */

/* send.c */
void ua_on_send(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);
uint32_t ua_out_cached(void); /* bytes of large output pieces this thread keeps for reuse */

/* sendfile.c */
void ua_on_file(struct ua_ring *r, uint64_t ud, int res, uint32_t flags);

/* timer.c */
void ua_conns_timers(struct ua_ring *r);
int64_t ua_conns_next_deadline(struct ua_ring *r); /* ms, or -1 */

/* trim.c */
void ua_trim_timer(struct ua_ring *r);                /* in the timer step: trim if quiet after a burst */
int64_t ua_trim_deadline(const struct ua_ring *r);    /* ms when the trim is due, or -1 */

#endif
