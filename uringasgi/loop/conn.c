/* Connections: not built yet. The contract's functions exist so the module imports; each returns
 * -ENOSYS until the connection engine lands. */
#define _GNU_SOURCE
#include "loop/engine.h"

#include <errno.h>

int ua_conns_init(struct ua_ring *r)
{
    (void)r;
    return 0;
}
void ua_conns_abort_all(struct ua_ring *r)
{
    (void)r;
}
void ua_conns_fini(struct ua_ring *r)
{
    (void)r;
}
void ua_conns_work(struct ua_ring *r)
{
    (void)r;
}
int ua_conns_pending(struct ua_ring *r)
{
    (void)r;
    return 0;
}
void ua_conns_timers(struct ua_ring *r)
{
    (void)r;
}
int64_t ua_conns_next_deadline(struct ua_ring *r)
{
    (void)r;
    return -1;
}
void ua_on_accept(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)r, (void)ud, (void)res, (void)flags;
}
void ua_on_recv(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)r, (void)ud, (void)res, (void)flags;
}
void ua_on_cancel(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)r, (void)ud, (void)res, (void)flags;
}
void ua_on_send(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)r, (void)ud, (void)res, (void)flags;
}
void ua_on_splice(struct ua_ring *r, uint64_t ud, int res, uint32_t flags)
{
    (void)r, (void)ud, (void)res, (void)flags;
}
void ua_pipes_fini(struct ua_ring *r)
{
    (void)r;
}
int ua_ring_listen(struct ua_ring *r, int listen_fd)
{
    (void)r, (void)listen_fd;
    return -ENOSYS;
}
int ua_ring_unlisten(struct ua_ring *r, int listen_fd)
{
    (void)r, (void)listen_fd;
    return -ENOSYS;
}
int ua_conn_respond(struct ua_ring *r, uint32_t conn, int status, const uint8_t *headers, uint32_t headers_len,
                    uint32_t n_headers, const uint8_t *body, uint32_t body_len, uint32_t flags)
{
    (void)r, (void)conn, (void)status, (void)headers, (void)headers_len, (void)n_headers, (void)body,
        (void)body_len, (void)flags;
    return -ENOSYS;
}
int ua_conn_body(struct ua_ring *r, uint32_t conn, const uint8_t *body, uint32_t body_len, uint32_t flags)
{
    (void)r, (void)conn, (void)body, (void)body_len, (void)flags;
    return -ENOSYS;
}
int ua_conn_want_body(struct ua_ring *r, uint32_t conn, int want)
{
    (void)r, (void)conn, (void)want;
    return -ENOSYS;
}
int ua_conn_close(struct ua_ring *r, uint32_t conn)
{
    (void)r, (void)conn;
    return -ENOSYS;
}
