/* ua_conn_trailers: the last piece of a chunked response, with its trailer fields (RFC 9112 7.1.2). */
#define _GNU_SOURCE
#include "loop/trailers.h"

#include "loop/conn.h"

#include <errno.h>
#include <stdlib.h>

int ua_conn_trailers(struct ua_ring *r, uint32_t conn, const uint8_t *fields, uint32_t fields_len,
                     uint32_t n_fields)
{
    struct ua_conn *c;
    int err = send_held_conn(r, conn, &c);
    if (err < 0)
        return err;
    if (!(c->flags & C_RESP))
        return -EINVAL;
    if (c->h1.resp_framing == UA_H1_FRAME_CHUNKED) {
        /* Each "name\0value\0" becomes "name: value\r\n": two bytes more per field, plus "0\r\n" and CRLF. */
        size_t cap = 8 + (size_t)fields_len + 2 * (size_t)n_fields;
        if (cap > UINT32_MAX)
            return -E2BIG;
        struct ua_out *o = out_new((uint32_t)cap);
        if (!o)
            return -ENOMEM;
        int n = ua_h1_chunk_last((char *)o->data, cap, (const char *)fields, fields_len, n_fields);
        if (n < 0) {
            free(o);
            return n;
        }
        o->len = (uint32_t)n;
        send_queue(r, c, o);
    }
    return send_end(r, c, 0); /* chunked: never short */
}
