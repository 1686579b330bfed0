/* Graceful stop: connections finish what they are doing and close, without a race with their clients. */
#ifndef UA_DRAIN_H
#define UA_DRAIN_H

#include <stdint.h>

struct ua_ring;

/* ua:cdef-begin */
/* From now on every response carries `connection: close` and ends its connection, so a client that sends
 * one more request on a kept-alive connection gets an answer and reconnects (to a worker still listening),
 * instead of a reset. A connection with nothing in progress closes within a second (drain.c). Call it once
 * the listeners are removed; it returns how many connections and listeners' accepts are still open (0: the
 * ring may be freed). */
int ua_ring_drain(struct ua_ring *r);
/* ua:cdef-end */

#endif
