/* HTTP/1.1 head parser (RFC 9112): request and response heads, chunked bodies and trailer sections.
 *
 * It parses in place and never allocates: every field is a span {uint16 off, uint16 len} into the caller's
 * buffer, so a head is at most 65535 bytes. Header names are lowercased in the buffer as each field line is
 * accepted (ASGI wants lowercase names; this spares a pass in Python).
 *
 * Incremental: ua_parse_request() returns 0 while the head is incomplete and remembers where it stopped; the
 * caller calls again with the SAME buffer start (bytes already given unchanged: names were lowercased in
 * them) and more bytes appended. Bytes already accepted are not scanned again.
 */
#ifndef UA_PARSER_H
#define UA_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* ua:cdef-begin */
#define UA_MAX_HEADERS 64
#define UA_MAX_TRAILERS 16
#define UA_HEAD_MAX 65535

/* Known-header index: head.known[UA_HK_x] is the slot of the first such header, or UA_HK_ABSENT; bit UA_HK_x of
 * head.known_more says the header came on more than one field line (the others are found by its name). */
#define UA_HK_ABSENT 255
#define UA_HK_HOST 0
#define UA_HK_CONTENT_LENGTH 1
#define UA_HK_TRANSFER_ENCODING 2
#define UA_HK_CONNECTION 3
#define UA_HK_EXPECT 4
#define UA_HK_UPGRADE 5
#define UA_HK_CONTENT_TYPE 6
#define UA_HK_ACCEPT 7
#define UA_HK_ACCEPT_ENCODING 8
#define UA_HK_USER_AGENT 9
#define UA_HK_COOKIE 10
#define UA_HK_AUTHORIZATION 11
#define UA_HK_RANGE 12
#define UA_HK_IF_RANGE 13
#define UA_HK_IF_NONE_MATCH 14
#define UA_HK_IF_MODIFIED_SINCE 15
#define UA_HK_ORIGIN 16
#define UA_HK_X_FORWARDED_FOR 17
#define UA_HK_X_FORWARDED_PROTO 18
#define UA_HK_FORWARDED 19
#define UA_HK_SEC_WEBSOCKET_KEY 20
#define UA_HK_SEC_WEBSOCKET_VERSION 21
#define UA_HK_SEC_WEBSOCKET_PROTOCOL 22
#define UA_HK_SEC_WEBSOCKET_EXTENSIONS 23
#define UA_HK_ACCEPT_LANGUAGE 24
#define UA_HK_CACHE_CONTROL 25
#define UA_HK_REFERER 26
#define UA_HK_X_REAL_IP 27
#define UA_HK_KEEP_ALIVE 28
#define UA_HK_TE 29
#define UA_HK_TRAILER 30
#define UA_HK_CONTENT_ENCODING 31
#define UA_HK_IF_MATCH 32
#define UA_HK_IF_UNMODIFIED_SINCE 33
#define UA_HK_COUNT 34

/* head.flags */
#define UA_F_KEEP_ALIVE 1        /* the connection may be reused after this message (version + Connection) */
#define UA_F_CHUNKED 2           /* Transfer-Encoding ends in chunked */
#define UA_F_EXPECT_CONTINUE 4   /* Expect: 100-continue on an HTTP/1.1 request */
#define UA_F_UPGRADE 8           /* Upgrade header and a Connection: upgrade token (HTTP/1.1) */
#define UA_F_HAS_BODY 16         /* chunked, or content-length > 0 */
#define UA_F_CONN_CLOSE 32       /* Connection has the close token */
#define UA_F_CONN_KEEP_ALIVE 64  /* Connection has the keep-alive token */
#define UA_F_TE 128              /* a Transfer-Encoding header was present (responses: read to close if not chunked) */

/* head.method_id: the methods the engine and the router branch on; anything else is UA_M_OTHER */
#define UA_M_OTHER 0
#define UA_M_GET 1
#define UA_M_HEAD 2
#define UA_M_POST 3
#define UA_M_PUT 4
#define UA_M_DELETE 5
#define UA_M_OPTIONS 6
#define UA_M_PATCH 7
#define UA_M_CONNECT 8
#define UA_M_TRACE 9

/* Parse errors: head.error (and ua_chunked.error); ua_parse_status() maps each to the status to send. */
#define UA_PE_NONE 0
#define UA_PE_METHOD 1            /* 400 method is not a token */
#define UA_PE_TARGET 2            /* 400 request-target has a forbidden byte or form */
#define UA_PE_TARGET_TOO_LONG 3   /* 414 */
#define UA_PE_VERSION 4           /* 400 not HTTP/DIGIT.DIGIT */
#define UA_PE_VERSION_UNSUPPORTED 5 /* 505 well-formed but not 1.0 or 1.1 */
#define UA_PE_LINE_END 6          /* 400 bare CR, bare LF, or junk where CRLF is required */
#define UA_PE_NUL 7               /* 400 NUL byte */
#define UA_PE_CTL 8               /* 400 control character in a field value */
#define UA_PE_HEADER_NAME 9       /* 400 field name empty or not a token */
#define UA_PE_WS_BEFORE_COLON 10  /* 400 whitespace between field name and colon (RFC 9112 5.1) */
#define UA_PE_OBS_FOLD 11         /* 400 line folding (RFC 9112 5.2) */
#define UA_PE_HEAD_TOO_LARGE 12   /* 431 */
#define UA_PE_TOO_MANY_HEADERS 13 /* 431 */
#define UA_PE_CL_INVALID 14       /* 400 content-length not 1*DIGIT or overflows */
#define UA_PE_CL_CONFLICT 15      /* 400 several content-length values that differ */
#define UA_PE_CL_AND_TE 16        /* 400 both content-length and transfer-encoding (RFC 9112 6.3) */
#define UA_PE_TE_UNSUPPORTED 17   /* 501 a transfer coding other than chunked before it (RFC 9112 6.1) */
#define UA_PE_TE_INVALID 18       /* 400 codings not ending in chunked, chunked twice, empty, TE on 1.0 */
#define UA_PE_HOST 19             /* 400 HTTP/1.1 without Host, or several Host (RFC 9112 3.2) */
#define UA_PE_CHUNK_SIZE 20       /* 400 chunk size not 1*HEXDIG or overflows */
#define UA_PE_CHUNK_EXT 21        /* 400 chunk extension malformed or too long */
#define UA_PE_CHUNK_CRLF 22       /* 400 chunk data not followed by CRLF */
#define UA_PE_BODY_TOO_LARGE 23   /* 413 */
#define UA_PE_STATUS 24           /* 502 upstream status line malformed (response parsing) */
#define UA_PE_CONNECT 25          /* 501 h1: CONNECT asks for a tunnel, which ASGI cannot give */
#define UA_PE_COUNT 26

#define UA_SIMD_SCALAR 0
#define UA_SIMD_SSE42 1
#define UA_SIMD_AVX2 2

struct ua_span {
    uint16_t off;
    uint16_t len;
};

struct ua_header {
    uint16_t name_off;
    uint16_t name_len;
    uint16_t value_off;  /* value without leading and trailing whitespace */
    uint16_t value_len;
};

struct ua_parse_limits {
    uint16_t max_head;     /* bytes of head, CRLFCRLF included; over it: 431. 0 = 65535 */
    uint16_t max_target;   /* bytes of request-target; over it: 414. 0 = no limit but max_head */
    uint16_t max_headers;  /* field lines; over it: 431. 0 or > 64 = 64 */
    uint16_t _pad;
};

struct ua_head {
    struct ua_span method;
    struct ua_span target;   /* as sent */
    struct ua_span path;     /* target before '?' (absolute-form: from the path after the authority) */
    struct ua_span query;    /* after '?', without it; len 0 when absent */
    struct ua_span reason;   /* responses: reason phrase */
    uint16_t status;         /* responses: status code */
    uint8_t minor;           /* HTTP/1.<minor> */
    uint8_t method_id;       /* UA_M_* */
    uint32_t flags;          /* UA_F_* */
    int64_t content_length;  /* -1 when absent */
    uint16_t head_len;       /* bytes of the whole head, final CRLF included (set when complete) */
    uint16_t n_headers;
    uint8_t error;           /* UA_PE_* after a failed parse */
    /* resume state: private to the parser */
    uint8_t phase;
    uint16_t pos;
    uint16_t scan;
    uint8_t sub;
    uint8_t _pad;
    uint64_t known_more;     /* bit UA_HK_x: that header came on more than one field line */
    uint8_t known[UA_HK_COUNT];
    struct ua_header headers[UA_MAX_HEADERS];
};

struct ua_trailers {
    uint16_t n;
    uint16_t len;            /* bytes of the trailer section, final CRLF included (set when complete) */
    uint8_t error;
    uint8_t sub;             /* resume state: private to the parser */
    uint16_t pos;
    uint16_t scan;
    struct ua_header fields[UA_MAX_TRAILERS];
};

/* Chunked body decoder state (RFC 9112 7.1). */
struct ua_chunked {
    uint64_t remaining;      /* data bytes left in the current chunk */
    uint64_t total;          /* data bytes so far */
    uint64_t max_total;      /* 0 = no limit; over it: UA_PE_BODY_TOO_LARGE */
    uint16_t ext_len;
    uint8_t state;
    uint8_t digits;
    uint8_t error;
    uint8_t _pad[3];
};

#define UA_CK_MORE 0   /* every byte given was consumed; feed more */
#define UA_CK_DATA 1   /* out->off/len is chunk data inside the buffer */
#define UA_CK_LAST 2   /* the last-chunk line was consumed: a trailer section follows */

struct ua_chunk_out {
    size_t consumed;         /* bytes of the buffer used by this call (data included) */
    size_t off;
    size_t len;
};

void ua_parse_reset(struct ua_head *h);
/* > 0: head complete, its length; 0: need more bytes; -EBADMSG: h->error says why. */
int ua_parse_request(struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim);
int ua_parse_response(struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim);
void ua_trailers_reset(struct ua_trailers *t);
/* > 0: trailer section complete (its length); 0: need more; -EBADMSG: t->error. */
int ua_parse_trailers(struct ua_trailers *t, uint8_t *buf, size_t len, const struct ua_parse_limits *lim);
void ua_chunked_reset(struct ua_chunked *c, uint64_t max_total);
/* UA_CK_*, or -EBADMSG with c->error. */
int ua_chunked_feed(struct ua_chunked *c, const uint8_t *buf, size_t len, struct ua_chunk_out *out);
int ua_parse_status(int error);
const char *ua_parse_error_name(int error);
/* Which SIMD path the scanners use: UA_SIMD_*. The first use reads UA_SIMD=scalar|sse42|avx2 from the
 * environment, else picks the best the CPU has. Setting a level the CPU lacks is -ENOTSUP. */
int ua_simd_get(void);
int ua_simd_set(int level);
/* ua:cdef-end */

/* C only: 1 for the tchar bytes of RFC 9110 5.6.2 (token characters), else 0. */
extern const uint8_t ua_tchar[256];

#endif
