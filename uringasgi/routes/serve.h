/* Routed requests answered in C, inside the engine: the router picks a static mount and the mount's plan
 * goes straight into the connection's output queue. Python never sees these requests.
 *
 * Every function returns >= 0 on success or -errno; none sets errno.
 */
#ifndef UA_ROUTES_SERVE_H
#define UA_ROUTES_SERVE_H

#include <stdint.h>

#include "loop/ring.h"
#include "routes/router.h"
#include "static/static.h"

/* ua:cdef-begin */
struct ua_routes_stats {
    uint64_t static_hits;   /* requests answered by a static mount */
    uint64_t passed;        /* matched a static route, handed to the app (fallthrough) */
};

/* Route r's requests through router; a UA_ROUTE_STATIC target i is mounts[i]. The router and mounts must
 * outlive the ring or a later call (router NULL detaches). */
int ua_routes_attach(struct ua_ring *r, struct ua_router *router, struct ua_static *const *mounts,
                     uint32_t n_mounts);
int ua_routes_stats(struct ua_ring *r, struct ua_routes_stats *out);
/* Access log of the requests answered here, in uvicorn's default line
 * (INFO:     127.0.0.1:54321 - "GET /static/app.css HTTP/1.1" 200 OK), written to fd (-1: none).
 * Lines are buffered; ua_routes_log_flush() writes them, once per loop iteration, as the Python access
 * log does (a full buffer is written at once). fd stays the caller's. */
int ua_routes_log(struct ua_ring *r, int fd);
int ua_routes_log_flush(struct ua_ring *r);
/* ua:cdef-end */

struct ua_conn;
/* The engine's hook, for a request head just parsed on c (its spans point into buf): 1 when the request
 * was answered here (its whole response is queued, or the connection aborted), 0 when it goes to Python. */
int ua_routes_dispatch(struct ua_ring *r, struct ua_conn *c, const uint8_t *buf);
/* At ring teardown. */
void ua_routes_free(struct ua_ring *r);

#endif
