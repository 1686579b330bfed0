/* ua_ring_drain: see drain.h. The flag is read where a request head is handed on (conn.c, feed()). */
#define _GNU_SOURCE
#include "loop/drain.h"

#include "loop/conn.h"

#include <limits.h>

/* How long a kept-alive connection with nothing in progress is still waited for once the stop begins. A
 * request it sends meanwhile is answered (with `connection: close`); closing it at once instead would race
 * with a client sending its next request on it, and that request would get no answer. Waiting out its
 * keep-alive timer held a stop for up to --timeout-keep-alive (65 s behind a load balancer that keeps
 * connections that long). */
#define DRAIN_IDLE_MS 1000

int ua_ring_drain(struct ua_ring *r)
{
    r->draining = 1;
    /* t_idle stays sorted by deadline: its head part is unchanged, the rest all get the same one. */
    uint64_t cap = r->now_ms + DRAIN_IDLE_MS;
    for (struct ua_link *l = r->t_idle.next; l != &r->t_idle; l = l->next) {
        struct ua_conn *c = UA_CONTAINER(l, struct ua_conn, tlink);
        if (c->deadline_ms > cap)
            c->deadline_ms = cap;
    }
    /* An accept still in the kernel is not over: until its cancel completes, the kernel may hand it a
     * connection's wakeup, and a ring freed before that (or not turned any more) would lose it while the
     * connection waits in the queue. Its last completion takes what is queued (conn.c, take_queued). */
    uint64_t open = r->st.conns_open;
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++)
        open += r->lis[i].fd >= 0 && r->lis[i].removing;
    return open > INT_MAX ? INT_MAX : (int)open;
}
