/* HTTP/1.1 chunked trailers for ASGI's http.response.trailers extension. */
#ifndef UA_TRAILERS_H
#define UA_TRAILERS_H

#include <stdint.h>

struct ua_ring;

/* ua:cdef-begin */
/* End a response whose body went out with UA_SEND_MORE: with chunked framing, "0\r\n", the trailer fields
 * ("name\0value\0" pairs, validated as response headers are) and "\r\n"; without it (a content-length was
 * sent, or HTTP/1.0) there is nowhere to put trailers, so they are dropped, as RFC 9110 6.5.1 allows.
 * Returns bytes still queued, -EINVAL for a bad field or a response that has not started, -EPIPE once the
 * client has gone. */
int ua_conn_trailers(struct ua_ring *r, uint32_t conn, const uint8_t *fields, uint32_t fields_len,
                     uint32_t n_fields);
/* ua:cdef-end */

#endif
