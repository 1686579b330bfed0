/* Memory given back when a worker falls quiet after a burst.
 *
 * A burst leaves the worker's RSS at its peak: send.c keeps up to 8 MiB of large output pieces for reuse
 * (see out_cache_drain), and glibc keeps what the burst freed (the heap top below its trim threshold,
 * which grows to twice the largest block it has unmapped, so up to 2 MiB after 1 MiB bodies; free chunks
 * amid live ones; other threads' arenas). Once nothing has been received or queued for TRIM_IDLE_MS and no
 * request is in progress, the cache is freed and malloc_trim(0) hands every whole free page of every arena
 * back to the kernel: once per quiet period, and only if at least TRIM_AFTER_BYTES went through the engine
 * since the last time. Python's own small objects (pymalloc arenas) are released by Python as they empty;
 * its large ones (request bodies, joined bodies) are glibc's, so they are covered here.
 *
 * What the hot path pays is one addition per recv and per queued piece (r->trim.moved). Quiet is seen in
 * the timer step of each ua_ring_run iteration by comparing that counter with the last one seen, and the
 * moment it is due bounds the ring's wait like a connection timer (timer.c), so no thread and no timer
 * of its own are needed. A ring driven by a stock asyncio loop is run by then too: ua_ring_next_timer()
 * counts it, and the loop's driver (eventloop.py, RingAttachment) leaves a timer for it.
 */
#define _GNU_SOURCE
#include "loop/conn.h"

#include <malloc.h>

/* Gaps inside a burst (a load tool's, a batch job's, a page's parallel requests) are well under a second,
 * and a trim in one would make the next responses fault their pages in again (about 60 faults for each
 * 256 KiB response, send.c). Two seconds is far past those gaps and still gives memory back soon after the
 * load stops, well before the default keep-alive (5 s) closes the burst's connections. The trim itself took
 * 0.6 ms after 800 clients posted 256 KiB to an echo app, 3.7 ms after 64 posted 1 MiB (this 2-core VM). */
#define TRIM_IDLE_MS 2000

/* Less traffic than this since the last trim cannot have left much behind, and a worker serving a small
 * request now and then is not made to trim (and fault pages in again) after each one. */
#define TRIM_AFTER_BYTES (1u << 20)

static int burst_pending(const struct ua_ring *r)
{
    return r->trim.moved - r->trim.trimmed >= TRIM_AFTER_BYTES;
}

int64_t ua_trim_deadline(const struct ua_ring *r)
{
    if (!burst_pending(r))
        return -1;
    if (r->trim.moved != r->trim.seen) /* bytes Python queued since the last check: quiet starts now */
        return (int64_t)(r->now_ms + TRIM_IDLE_MS);
    return (int64_t)(r->trim.quiet_since + TRIM_IDLE_MS);
}

void ua_trim_timer(struct ua_ring *r)
{
    if (r->trim.moved != r->trim.seen) {
        r->trim.seen = r->trim.moved;
        r->trim.quiet_since = r->now_ms;
        return;
    }
    if (!burst_pending(r) || r->now_ms < r->trim.quiet_since + TRIM_IDLE_MS)
        return;
    if (ua_conns_busy(r)) {
        /* An app that works long on a request, a client slow to read its response: look again one quiet
         * period later, rather than take memory from under what is still running. */
        r->trim.quiet_since = r->now_ms;
        return;
    }
    out_cache_drain();
    malloc_trim(0);
    r->trim.trimmed = r->trim.moved;
    r->st.trims++;
}
