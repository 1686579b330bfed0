/* The provided-buffer ring every multishot recv draws from (IORING_REGISTER_PBUF_RING, 5.19).
 *
 * liburing 2.3 has io_uring_register_buf_ring but not io_uring_setup_buf_ring, so the ring memory is
 * mapped and registered here. A buffer is out (n_out) from the recv completion that names it until it is
 * put back. Most are put back before the completion handler returns; a buffer an event still points into
 * (body bytes handed to Python) is deferred and goes back at the start of the next ua_ring_run, when the
 * contract says those bytes stop being valid. Puts are published to the kernel in one tail update per
 * batch (ua_bufring_flush).
 *
 * The buffers are mmap'd, not malloc'd: at teardown the ring is gone before they are unmapped, and even
 * a late kernel write would fault cleanly rather than land in the heap.
 */
#define _GNU_SOURCE
#include "loop/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int ua_bufring_init(struct ua_bufring *b, struct io_uring *ring, uint32_t count, uint32_t size)
{
    struct io_uring_buf_reg reg;
    size_t ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
    int ret;

    memset(b, 0, sizeof(*b));
    b->count = count;
    b->size = size;
    b->mask = io_uring_buf_ring_mask(count);
    b->deferred = malloc(count * sizeof(*b->deferred));
    if (!b->deferred)
        return -ENOMEM;
    b->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->br == MAP_FAILED) {
        b->br = NULL;
        return -ENOMEM;
    }
    b->mem = mmap(NULL, (size_t)count * size, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (b->mem == MAP_FAILED) {
        b->mem = NULL;
        return -ENOMEM;
    }
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (unsigned long)b->br;
    reg.ring_entries = count;
    reg.bgid = UA_BGID;
    ret = io_uring_register_buf_ring(ring, &reg, 0);
    if (ret < 0)
        return ret;
    io_uring_buf_ring_init(b->br);
    for (uint32_t i = 0; i < count; i++)
        io_uring_buf_ring_add(b->br, ua_bufring_addr(b, i), size, i, b->mask, i);
    io_uring_buf_ring_advance(b->br, count);
    return 0;
}

void ua_bufring_fini(struct ua_bufring *b)
{
    if (b->br)
        munmap(b->br, (size_t)b->count * sizeof(struct io_uring_buf));
    if (b->mem)
        munmap(b->mem, (size_t)b->count * b->size);
    free(b->deferred);
    memset(b, 0, sizeof(*b));
}

void ua_bufring_put(struct ua_bufring *b, uint32_t bid)
{
    io_uring_buf_ring_add(b->br, ua_bufring_addr(b, bid), b->size, bid, b->mask, b->to_advance++);
    b->n_out--;
}

void ua_bufring_defer(struct ua_bufring *b, uint32_t bid)
{
    b->deferred[b->n_deferred++] = bid;
}

void ua_bufring_release(struct ua_bufring *b)
{
    for (uint32_t i = 0; i < b->n_deferred; i++)
        ua_bufring_put(b, b->deferred[i]);
    b->n_deferred = 0;
    ua_bufring_flush(b);
}

void ua_bufring_flush(struct ua_bufring *b)
{
    if (b->to_advance) {
        io_uring_buf_ring_advance(b->br, b->to_advance);
        b->to_advance = 0;
    }
}
