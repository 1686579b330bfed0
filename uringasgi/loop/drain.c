/* ua_ring_drain: see drain.h. The flag is read where a request head is handed on (conn.c, feed()). */
#define _GNU_SOURCE
#include "loop/drain.h"

#include "loop/engine.h"

#include <limits.h>

int ua_ring_drain(struct ua_ring *r)
{
    r->draining = 1;
    return r->st.conns_open > INT_MAX ? INT_MAX : (int)r->st.conns_open;
}
