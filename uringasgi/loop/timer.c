/* Connection timers without a kernel timeout per connection.
 *
 * Each kind has one fixed delay, so a list per kind, appended at the tail with deadline = now + delay,
 * is sorted by deadline by construction: expiry looks only at list heads, once per wait, and the earliest
 * head bounds the wait's timeout. Setting, refreshing and clearing are O(1).
 *
 *   kind     when                                            delay              on expiry
 *   T_IDLE   no request in progress (keep-alive), or         keepalive_ms       close quietly
 *            lingering after a close (conn.c)
 *   T_HEAD   a request head has started and not ended        header_timeout_ms  close (slowloris);
 *                                                                               the deadline runs from the
 *                                                                               first byte, not the last
 *   T_WRITE  output queued; refreshed on every send that     write_timeout_ms   abort (DISCONNECT to
 *            makes progress                                                     Python if it holds one)
 *   none     Python holds the request and nothing is queued: the application takes the time it takes;
 *            or its recv waits for a buffer (C_STARVED): what it sent waits in the kernel for us, so it is
 *            neither idle nor slow, and its timer starts again when its recv is armed again
 *
 * One timer is the ring's, not a connection's: memory is given back once the worker is quiet after a burst
 * (trim.c). Its moment bounds the wait with the list heads', and it is checked with them.
 */
#define _GNU_SOURCE
#include "loop/conn.h"

#include <errno.h>

static struct ua_link *list_of(struct ua_ring *r, uint8_t kind)
{
    return kind == T_IDLE ? &r->t_idle : kind == T_HEAD ? &r->t_head : &r->t_write;
}

static uint32_t delay_of(struct ua_ring *r, uint8_t kind)
{
    return kind == T_IDLE ? r->cfg.keepalive_ms : kind == T_HEAD ? r->cfg.header_timeout_ms : r->cfg.write_timeout_ms;
}

void timer_set(struct ua_ring *r, struct ua_conn *c, uint8_t kind, int refresh)
{
    if (kind == c->tkind && !refresh)
        return;
    ua_list_del(&c->tlink);
    c->tkind = kind;
    if (kind == T_NONE)
        return;
    c->deadline_ms = r->now_ms + delay_of(r, kind);
    ua_list_add_tail(list_of(r, kind), &c->tlink);
}

void timer_update(struct ua_ring *r, struct ua_conn *c)
{
    uint8_t kind;
    if (c->flags & C_CLOSING)
        kind = T_NONE;
    else if (c->out_head || (c->flags & C_SENDING))
        kind = T_WRITE;
    else if (c->flags & C_LINGER)
        kind = T_IDLE;
    else if (c->flags & (C_HELD | C_STARVED))
        kind = T_NONE;
    else if (c->in_len)
        kind = T_HEAD;
    else
        kind = T_IDLE;
    timer_set(r, c, kind, 0);
}

static void expire(struct ua_ring *r, struct ua_link *list)
{
    while (!ua_list_empty(list)) {
        struct ua_conn *c = UA_CONTAINER(list->next, struct ua_conn, tlink);
        if (c->deadline_ms > r->now_ms)
            return;
        timer_set(r, c, T_NONE, 0);
        r->st.timeouts++;
        conn_abort(r, c, -ETIMEDOUT);
    }
}

void ua_conns_timers(struct ua_ring *r)
{
    expire(r, &r->t_idle);
    expire(r, &r->t_head);
    expire(r, &r->t_write);
    ua_trim_timer(r);
}

int64_t ua_conns_next_deadline(struct ua_ring *r)
{
    int64_t next = ua_trim_deadline(r);
    struct ua_link *lists[3] = {&r->t_idle, &r->t_head, &r->t_write};
    for (int i = 0; i < 3; i++) {
        if (ua_list_empty(lists[i]))
            continue;
        int64_t d = (int64_t)UA_CONTAINER(lists[i]->next, struct ua_conn, tlink)->deadline_ms;
        if (next < 0 || d < next)
            next = d;
    }
    for (uint32_t i = 0; i < UA_MAX_LISTENERS; i++) {
        const struct ua_listener *l = &r->lis[i];
        if (l->fd >= 0 && !l->armed && !l->removing && (next < 0 || (int64_t)l->retry_ms < next))
            next = (int64_t)l->retry_ms;
    }
    return next;
}
