/* The io_uring engine: its face to Python.
 *
 * One ring per worker. Python calls ua_ring_run() once per event-loop iteration: it submits everything
 * queued since the last call, waits (at most timeout_ns), handles every completion in C (accept, recv,
 * parse, send, close, timers) and fills the caller's event array with only what Python must act on.
 *
 * Ownership: bytes an event points at (ev->data) stay valid until the next ua_ring_run() on that ring.
 * Bytes Python passes in (headers, bodies) are copied or otherwise owned by C before the call returns,
 * so Python may drop them at once.
 *
 * Every function returns >= 0 on success or -errno; none sets errno.
 *
 * Changes to the agreed contract (all additions; no name or meaning of the contract changed):
 *   - ua_ring_fd() returns an eventfd registered with the ring, not the ring fd itself (same use: poll it
 *     for readability; see the comment at the function).
 *   - ua_ring_poll() reports level-triggered, like a selector: an fd that is still ready is reported again
 *     on the next ua_ring_run().
 *   - ua_ring_submit(), ua_conn_sendfile(), ua_ring_debug_stale(); struct ua_ring_config: zc_threshold,
 *     setup_flags_mask; struct ua_ring_stats: the fields after `requests`.
 *   - Spelled out what the contract left open: body events flow without a call (want_body(0) pauses
 *     them), ua_conn_close on a connection already gone is 0, a run cut short by a signal may return 0.
 */
#ifndef UA_RING_H
#define UA_RING_H

#include <stddef.h>
#include <stdint.h>

/* ua:cdef-begin */
/* Event types handed to Python. */
#define UA_EV_REQUEST 1    /* a request head: data = struct ua_req block, len = its size; conn = id */
#define UA_EV_BODY 2       /* request body bytes (de-chunked): data, len */
#define UA_EV_BODY_END 3   /* the request body is complete */
#define UA_EV_DISCONNECT 4 /* the client went away while Python holds a request on conn; res = -errno or 0 */
#define UA_EV_WRITABLE 5   /* conn's queued output fell below the low-water mark after a send said "full" */
#define UA_EV_POLL 6       /* third-party fd ready: conn = fd, res = revents (POLLIN/POLLOUT/POLLERR/POLLHUP) */
#define UA_EV_WAKE 7       /* ua_ring_wake() was called (from any thread) */

/* struct ua_req flags */
#define UA_REQ_KEEP_ALIVE 1
#define UA_REQ_CHUNKED 2
#define UA_REQ_EXPECT_CONTINUE 4
#define UA_REQ_UPGRADE 8
#define UA_REQ_HAS_BODY 16

/* ua_conn_* flags */
#define UA_SEND_MORE 1     /* more body follows (ASGI more_body) */

struct ua_event {
    uint32_t type;
    uint32_t conn;          /* connection id: slot plus generation; never reused while Python may hold it */
    int32_t res;
    uint32_t len;
    const uint8_t *data;
};

/* The block an UA_EV_REQUEST points at. Fixed part, then n_headers * 4 uint16 spans
 * (name off, name len, value off, value len), then head_len bytes of the request head.
 * Every span is an offset into those head bytes. Header names are already lowercased. */
struct ua_req {
    uint32_t head_len;
    uint16_t n_headers;
    uint8_t http_minor;       /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
    uint8_t flags;            /* UA_REQ_* */
    int64_t content_length;   /* -1 when absent */
    uint16_t method_off, method_len;
    uint16_t path_off, path_len;    /* the target up to '?' (still percent-encoded) */
    uint16_t query_off, query_len;  /* after '?', without it */
    uint16_t client_port;
    uint8_t client_family;    /* AF_INET, AF_INET6 or AF_UNIX */
    uint8_t listener;         /* index of the listener, in ua_ring_listen() order */
    uint8_t client_addr[16];  /* network order; 4 bytes used for AF_INET */
};

struct ua_ring_config {
    uint32_t entries;           /* SQ entries; 0 = default */
    uint32_t buf_count;         /* provided recv buffers; power of two; 0 = default */
    uint32_t buf_size;          /* bytes each; 0 = default */
    uint32_t max_conns;         /* connection table size; 0 = default */
    uint32_t keepalive_ms;      /* idle between requests */
    uint32_t header_timeout_ms; /* from the first byte of a head to its end (slowloris) */
    uint32_t write_timeout_ms;  /* no send progress for this long closes the connection */
    uint32_t max_head;          /* bytes in a request head -> 431 */
    uint32_t max_headers;       /* count -> 431 */
    uint32_t max_target;        /* bytes in the request target -> 414 */
    uint64_t max_body;          /* request body bytes -> 413; 0 = unlimited */
    uint32_t out_high_water;    /* queued output bytes per conn at which sends report "full" */
    uint32_t out_low_water;     /* ...and at which UA_EV_WRITABLE fires */
    int server_header;          /* 1: add `server: uringasgi` unless the app sent one */
    int date_header;            /* 1: add `date:` unless the app sent one */
    const uint8_t *extra_headers; /* pre-rendered "name: value\r\n" lines added to every response */
    uint32_t extra_headers_len;
    /* Added to the contract (appended, so code that sets fields by name is unaffected): */
    uint32_t zc_threshold;      /* a send piece this large goes out with SEND_ZC, to any peer; 0 = default
                                 * (64 KiB, never to a loopback peer: see send.c); 0xffffffff = never */
    uint32_t setup_flags_mask;  /* tests only: IORING_SETUP_* flags the ring may NOT use; 0 = use the best */
};

struct ua_ring;

int ua_ring_new(const struct ua_ring_config *cfg, struct ua_ring **out);
void ua_ring_free(struct ua_ring *r);
/* Accept on listen_fd (made non-blocking). UA_LISTEN_SHARED: other processes accept on the same socket
 * (--fd, --uds with workers), so take one connection per wakeup: each accept then waits at the back of
 * the socket's queue of waiters and the kernel's wakeups rotate among the processes. A multishot accept
 * would keep its place at the front and take every connection while its process lives. */
#define UA_LISTEN_SHARED 1
int ua_ring_listen(struct ua_ring *r, int listen_fd, int flags);
int ua_ring_unlisten(struct ua_ring *r, int listen_fd);
/* timeout_ns: < 0 waits until there is an event, 0 does not wait. Returns the number of events filled
 * (0 on timeout). A wait cut short by a signal returns early, possibly with 0 events, so the caller can run
 * its handlers; a signal that lands before the wait starts cannot cut it short, so a loop that needs
 * signals polls its wakeup fd (signal.set_wakeup_fd) with ua_ring_poll, as asyncio does. cap >= 4. */
int ua_ring_run(struct ua_ring *r, struct ua_event *events, uint32_t cap, int64_t timeout_ns);
/* ns until the engine's next timer is due (the keep-alive, header-read and write timeouts, a listener's retry,
 * the idle trim), 0 when one is, -1 when none is set. ua_ring_run() fires the timers that are due; a loop that
 * runs the ring only when ua_ring_fd() polls readable must also run it by then, or they never fire. */
int64_t ua_ring_next_timer(struct ua_ring *r);
int ua_ring_wake(struct ua_ring *r);
/* An fd that polls readable while the ring has completions for ua_ring_run(), for running the ring under
 * a stock asyncio loop (add_reader). It is an eventfd registered with the ring (created on the first call),
 * not the ring fd: under DEFER_TASKRUN an epoll on the ring fd is not woken (see ring.c). ua_ring_run()
 * resets it. Returns the fd or -errno. */
int ua_ring_fd(struct ua_ring *r);
/* Added to the contract: submit what ua_conn_* and ua_ring_poll queued, without waiting. A loop that runs
 * the ring under a stock asyncio loop (waiting on ua_ring_fd() there) calls it at the end of an iteration
 * in which it queued something, or just calls ua_ring_run(..., 0). */
int ua_ring_submit(struct ua_ring *r);

/* Third-party fds (asyncio add_reader/add_writer): events is POLLIN|POLLOUT; 0 removes. */
int ua_ring_poll(struct ua_ring *r, int fd, uint32_t events);

/* Responses. headers is n_headers NUL-terminated name and value pairs, "name\0value\0...": a count that
 * does not match the NULs, or a CR/LF in a value, or a bad token in a name, is -EINVAL (header injection),
 * as is framing h1 refuses (content-length beside transfer-encoding, chunked not once and last).
 * More body than the content-length the response announced is -EMSGSIZE, and the connection is aborted.
 * Less: the call that ends the response queues it all and returns -ENODATA, and the connection closes
 * once it is sent (the client can tell where the body ends by nothing else).
 * Return: bytes still queued for conn (compare with out_high_water), or -EPIPE once the client has gone.
 *
 * How a request goes (details at the top of conn.c):
 *   - UA_EV_REQUEST hands Python the request; Python "holds" conn until it queues the last byte of the
 *     response (ua_conn_respond or ua_conn_body without UA_SEND_MORE, or ua_conn_sendfile/trailers).
 *     Only then is the next pipelined request parsed, so responses leave in request order.
 *   - Body: UA_EV_BODY events follow the request by themselves (no call needed), then UA_EV_BODY_END;
 *     a request without UA_REQ_HAS_BODY gets neither. ua_conn_want_body(0) pauses them (the engine stops
 *     reading once a little is buffered: TCP pushes back), (1) resumes; for Expect: 100-continue the
 *     client waits for the 100, which want_body(1) sends. Body left unread when the response ends is read
 *     and dropped by the engine.
 *   - UA_EV_DISCONNECT comes only while Python holds conn (res 0: the client closed; -errno otherwise;
 *     -EBADMSG: the body was malformed, and the engine already answered 400). After it, or once the
 *     response ended, calls on conn return -EPIPE (gone) or -EINVAL (nothing held); ids are not reused
 *     while Python may still hold one (a generation is part of the id).
 *   - UA_EV_WRITABLE follows a call that returned >= out_high_water, once the queue is at out_low_water.
 *   - A status < 200 (103 Early Hints) is sent at once and the final response is still owed.
 *   - Errors h1 finds in a request head (400, 413, 414, 431, 501, 505) are answered in C and never reach
 *     Python. Large bodies, file ranges and SEND_ZC are the engine's business (send.c, sendfile.c). */
int ua_conn_respond(struct ua_ring *r, uint32_t conn, int status, const uint8_t *headers, uint32_t headers_len,
                    uint32_t n_headers, const uint8_t *body, uint32_t body_len, uint32_t flags);
int ua_conn_body(struct ua_ring *r, uint32_t conn, const uint8_t *body, uint32_t body_len, uint32_t flags);
int ua_conn_want_body(struct ua_ring *r, uint32_t conn, int want); /* 1: send 100-continue if owed, read on */
int ua_conn_close(struct ua_ring *r, uint32_t conn); /* abort: no more is sent; 0 also when already gone */
/* Added to the contract: send length bytes of the file fd from offset as (part of) the body, by sendfile
 * (sendfile.c: the bytes never enter user space). Like ua_conn_body: after ua_conn_respond
 * with UA_SEND_MORE; flags UA_SEND_MORE if more body follows. The engine owns fd from this call on, even
 * when it fails, and closes it once sent. Returns bytes still queued (the file range counts in full). */
int ua_conn_sendfile(struct ua_ring *r, uint32_t conn, int fd, uint64_t offset, uint64_t length, uint32_t flags);

/* Debug counters: return to zero once every connection is closed. */
struct ua_ring_stats {
    uint64_t conns_open;
    uint64_t bufs_out;       /* provided buffers held by C (not back in the ring) */
    uint64_t ops_inflight;   /* SQEs submitted whose final CQE has not come */
    uint64_t accepted;
    uint64_t requests;
    /* Added to the contract: */
    uint64_t polls_armed;    /* third-party fd polls in the kernel */
    uint64_t enobufs;        /* recvs that found the buffer ring empty (back-pressure, not an error) */
    uint64_t cq_overflow;    /* times the CQ overflowed into the kernel's backlog */
    uint64_t dropped_stale;  /* completions whose generation no longer matched their slot */
    uint64_t timeouts;       /* connections closed by a timer (idle, header read, write) */
    uint64_t accept_errors;  /* accept completions with an error (EMFILE, ENFILE, ...) */
    uint64_t zc_sends;       /* sends that went out with SEND_ZC */
    uint32_t setup_flags;    /* the IORING_SETUP_* flags the ring was created with */
    uint32_t in_bytes;       /* bytes held in per-connection reassembly buffers */
    uint64_t trims;          /* times memory was given back, the worker being quiet after a burst (trim.c) */
    uint64_t out_cached;     /* bytes of output pieces kept for reuse by the calling thread (send.c) */
};
int ua_ring_stats(struct ua_ring *r, struct ua_ring_stats *out);
/* Added to the contract, for tests of the generation check: submit a NOP whose completion names `conn`
 * as a recv completion with res 0 (end of stream), as a late completion for a closed connection would.
 * -EINVAL if `conn` is a live connection. */
int ua_ring_debug_stale(struct ua_ring *r, uint32_t conn);
/* ua:cdef-end */

/* C only. The request block (struct ua_req, above) of a parsed head: its size, and filling it from the
 * head and the head's bytes. The client fields are left zero (no address): the caller that has a
 * connection sets them. conn.c hands every request to Python this way; protocol/asgi.c's head() does it
 * for a head given as bytes. */
struct ua_head;
size_t ua_req_size(const struct ua_head *h, uint32_t head_len);
void ua_req_fill(struct ua_req *q, const struct ua_head *h, const uint8_t *buf, uint32_t head_len);

#endif
