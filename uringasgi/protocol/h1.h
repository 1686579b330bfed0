/* HTTP/1.1 connection state machine, sans-IO: bytes in, events out; response heads and body framing out.
 * The rules are at the top of h1.c. One struct ua_h1_conn lives in each connection slot: fixed size, no
 * allocation. One struct ua_h1_settings per worker holds the limits and the cached date.
 *
 * Feeding: call ua_h1_feed(conn, buf, len, &ev) with buf = the first unconsumed byte, act on ev.type, drop
 * ev.consumed bytes, and call again until UA_H1_MORE, UA_H1_PAUSED, UA_H1_ERROR or UA_H1_UPGRADED. On
 * UA_H1_MORE with bytes left unconsumed (a partial head or trailer section), the next call must start at the
 * same byte with more bytes appended. Spans in conn->head (and ev.off) are offsets into the buf of the call
 * that returned the event; the head is buf[0 .. ev.consumed).
 */
#ifndef UA_H1_H
#define UA_H1_H

#include <stddef.h>
#include <stdint.h>

#include "parser.h"

/* ua:cdef-begin */
/* ua_h1_feed events */
#define UA_H1_MORE 0      /* feed more bytes */
#define UA_H1_HEAD 1      /* conn->head holds a request head: buf[0 .. consumed) */
#define UA_H1_BODY 2      /* body data at buf[off .. off+len) (chunked bodies arrive de-chunked) */
#define UA_H1_END 3       /* end of the request body; chunked: conn->trailers, spans relative to buf + off */
#define UA_H1_PAUSED 4    /* request complete: nothing more parses until ua_h1_response_done() */
#define UA_H1_ERROR 5     /* bad request: send ev.status (ua_h1_respond_error), then close */
#define UA_H1_UPGRADED 6  /* a 101 was sent: the bytes belong to the new protocol */

/* conn->resp_framing after ua_h1_respond() */
#define UA_H1_FRAME_NONE 0     /* no body may follow (HEAD, 1xx, 204, 304) */
#define UA_H1_FRAME_LENGTH 1   /* content-length: send exactly conn->resp_length bytes */
#define UA_H1_FRAME_CHUNKED 2  /* frame each piece with ua_h1_chunk_prefix + "\r\n", end with ua_h1_chunk_last */
#define UA_H1_FRAME_CLOSE 3    /* HTTP/1.0, length unknown: the body ends when the connection closes */

/* ua_h1_settings.flags */
#define UA_H1_SERVER_HEADER 1  /* add "server: uringasgi" unless the app sent a server header */
#define UA_H1_DATE_HEADER 2    /* add "date" unless the app sent one (needs ua_h1_tick) */

#define UA_H1_CONTINUE_LEN 25  /* strlen("HTTP/1.1 100 Continue\r\n\r\n") */

struct ua_h1_settings {
    struct ua_parse_limits lim;
    uint64_t max_body;       /* 0 = unlimited; over it: 413 */
    uint32_t flags;          /* UA_H1_SERVER_HEADER | UA_H1_DATE_HEADER */
    uint32_t date_len;
    int64_t date_sec;        /* second the cached date was formatted for; 0 = never ticked */
    char date[32];           /* IMF-fixdate, RFC 9110 5.6.7 */
};

struct ua_h1_event {
    uint32_t type;           /* UA_H1_* */
    uint32_t status;         /* UA_H1_ERROR: HTTP status to send */
    size_t consumed;
    size_t off;              /* UA_H1_BODY: data span in the fed buffer */
    size_t len;
};

struct ua_h1_conn {
    const struct ua_h1_settings *set;
    uint8_t state;           /* request side, H1_* in h1.c */
    uint8_t resp;            /* response side, R_* in h1.c */
    uint8_t must_close;      /* the connection closes after the current response */
    uint8_t resp_framing;    /* UA_H1_FRAME_* */
    uint8_t req_minor;       /* facts of the current request, kept after the head buffer is gone */
    uint8_t req_method;      /* UA_M_* */
    uint8_t expect;          /* 0 none, 1 100-continue expected and not sent, 2 sent */
    uint8_t upgrade;         /* the request asked for an upgrade */
    uint16_t error_status;
    uint16_t _pad;
    uint32_t requests;       /* requests parsed on this connection */
    uint64_t body_left;      /* content-length bytes still to come */
    int64_t resp_length;     /* UA_H1_FRAME_LENGTH: bytes of body the response announced */
    struct ua_chunked chunked;
    struct ua_trailers trailers;
    struct ua_head head;
};

/* Limits: 0 = unlimited (the head is still capped at 65535 bytes and 64 fields, the parser's spans). */
void ua_h1_settings_init(struct ua_h1_settings *s, uint32_t max_head, uint32_t max_headers, uint32_t max_target,
                         uint64_t max_body, uint32_t flags);
/* Format the date header if the second changed; 1 when it did. Call once per loop iteration. */
int ua_h1_tick(struct ua_h1_settings *s, int64_t unix_seconds);
void ua_h1_init(struct ua_h1_conn *c, const struct ua_h1_settings *s);
/* One event per call; >= 0 is the event type (also in ev->type), -EINVAL for a NULL buffer with len > 0. */
int ua_h1_feed(struct ua_h1_conn *c, uint8_t *buf, size_t len, struct ua_h1_event *ev);
/* 1 when the engine should send "HTTP/1.1 100 Continue" now (the app asked for the body of a request that
 * expects it, and no response started); marks it sent. */
int ua_h1_want_continue(struct ua_h1_conn *c);
int ua_h1_continue_line(char *out, size_t cap);
/* Write the response head. hdrs: n_hdrs pairs "name\0value\0" in hdrs_len bytes. body_len: the whole body's
 * length when known, else -1. extra: pre-rendered "name: value\r\n" lines (or NULL). Returns bytes written,
 * -ENOSPC when out is too small, -EINVAL for a bad status, a header injection or a response out of turn. */
int ua_h1_respond(struct ua_h1_conn *c, int status, const char *hdrs, size_t hdrs_len, uint32_t n_hdrs,
                  int64_t body_len, const char *extra, size_t extra_len, char *out, size_t cap);
/* A complete error response (head + short text body) for conn->error_status or status; marks must_close. */
int ua_h1_respond_error(struct ua_h1_conn *c, int status, char *out, size_t cap);
/* "<hex size>\r\n": send it, then the piece, then "\r\n". */
int ua_h1_chunk_prefix(char *out, size_t cap, uint64_t size);
/* "0\r\n", the trailer fields (same blob format as ua_h1_respond), "\r\n". */
int ua_h1_chunk_last(char *out, size_t cap, const char *trailers, size_t len, uint32_t n);
/* The response has been fully handed to the kernel. 0: keep the connection, the next request may parse;
 * 1: close it (after the bytes are sent). */
int ua_h1_response_done(struct ua_h1_conn *c);
/* ua:cdef-end */

#endif
