/* Static files answered in C: a mount is a directory opened once; a request against it becomes a plan.
 *
 * Sans-IO: ua_static_serve() takes the method, the raw path and the few request headers that matter and
 * writes the response head (and a small body) into the caller's buffer; the rest of the body is either
 * memory the mount owns or a byte range of a file descriptor for the caller to send (sendfile).
 * While a plan's ref is held, its memory and fd stay valid even if the cache drops the file; the caller
 * gives it back with ua_static_release() once the body has left.
 *
 * Every function returns >= 0 on success or -errno; none sets errno.
 */
#ifndef UA_STATIC_H
#define UA_STATIC_H

#include <stdint.h>

/* ua:cdef-begin */
#define UA_STATIC_DOTFILES 1      /* serve names starting with '.' (refused by default) */
#define UA_STATIC_FALLTHROUGH 2   /* a miss (or a method other than GET/HEAD) goes to the app */
#define UA_STATIC_COMPRESS 4      /* brotli on the fly for compressible types, cached */
#define UA_STATIC_PRECOMPRESSED 8 /* send a .br or .gz sibling when the client accepts it */

#define UA_STATIC_PASS 1          /* ua_static_serve: not ours, hand the request to the app */

struct ua_static_config {
    const char *root;          /* the directory; opened once, every path resolved beneath it */
    const char *index;         /* file a directory serves ("index.html"); NULL or "" = directories 404 */
    int64_t max_age;           /* cache-control max-age in seconds; < 0 = no cache-control */
    uint32_t flags;            /* UA_STATIC_* */
    uint32_t cache_entries;    /* open-file cache: entries (files, directories, misses), so also open fds */
    uint64_t cache_bytes;      /* memory for small bodies and brotli copies */
    uint32_t small_max;        /* files up to this size are read into memory once */
    uint32_t valid_ms;         /* a cached entry is checked against the disk at most this often */
    uint32_t compress_min;     /* on-the-fly brotli: files from this size... */
    uint32_t compress_max;     /* ...up to this size */
    int32_t compress_quality;  /* brotli quality 0..11 */
};

/* A field line after the first of a field serve() reads: ua_static_req_header keeps it in the caller's room. */
struct ua_static_line {
    const uint8_t *value;
    uint32_t len;
    uint32_t field;                 /* which field: static.c's own numbering */
};

/* The request, as spans into the caller's bytes. Absent headers have len 0. A field given on several lines
 * (RFC 9110 5.3) has its first line in its span and the others in more[]: only ua_static_req_header fills
 * more[], and a caller that sets the spans itself gives each field one line. */
struct ua_static_req {
    const uint8_t *method;
    const uint8_t *path;            /* the whole target path up to '?', still percent-encoded */
    const uint8_t *query;           /* after '?', for a redirect's Location */
    const uint8_t *if_match;
    const uint8_t *if_unmodified_since;
    const uint8_t *if_none_match;
    const uint8_t *if_modified_since;
    const uint8_t *if_range;
    const uint8_t *range;
    const uint8_t *accept_encoding;
    const uint8_t *extra;           /* "name: value\r\n" lines every response carries (date, server) */
    struct ua_static_line *more;    /* room for more_cap later lines; n_more of them kept, in order */
    uint32_t more_cap, n_more;
    uint32_t method_len, path_len, query_len;
    uint32_t if_match_len, if_unmodified_since_len;
    uint32_t if_none_match_len, if_modified_since_len, if_range_len, range_len, accept_encoding_len;
    uint32_t extra_len;
    uint32_t prefix_len;            /* bytes of path the mount's route prefix covers */
    uint32_t keep_alive;            /* 0: the response says connection: close */
    uint32_t http_minor;            /* 0: HTTP/1.0, whose keep-alive must be said */
    uint64_t now_ms;                /* a monotonic clock in ms; 0 = read CLOCK_MONOTONIC_COARSE */
};

struct ua_static_plan {
    int32_t status;
    uint32_t buf_len;               /* bytes written to the caller's buffer: the head, then a small body */
    const uint8_t *body;            /* body bytes the mount owns (NULL when none left to send)... */
    uint64_t body_len;              /* ...and their length */
    int32_t fd;                     /* or a file to send from: -1 when none */
    int64_t file_off;
    uint64_t file_len;
    uint64_t content_length;        /* body bytes of this response, for the access log */
    void *ref;                      /* give back with ua_static_release() after sending; NULL = nothing */
};

struct ua_static_stats {
    uint64_t entries;               /* in the cache */
    uint64_t bytes;                 /* memory the cache holds */
    uint64_t opens;                 /* openat2 calls */
    uint64_t hits;                  /* lookups answered from the cache */
    uint64_t held;                  /* entries held by plans not yet released */
    uint64_t compressions;          /* brotli copies made (on the helper thread, and taken back) */
};

struct ua_static;

int ua_static_new(const struct ua_static_config *cfg, struct ua_static **out);
/* With plans still held, the mount goes when the last of them is released. */
void ua_static_free(struct ua_static *m);
/* Keep a request field line if it is of a field serve() reads (names lowercase), given in the order they came:
 * the first line of a field goes in its span, a later one in more[]. Returns 1 if kept, 0 if not serve()'s,
 * -ENOSPC if it is a later line and more[] is full (room for every line of the request is always enough). */
int ua_static_req_header(struct ua_static_req *req, const uint8_t *name, uint32_t name_len,
                         const uint8_t *value, uint32_t value_len);
/* 0: out is a plan to send; UA_STATIC_PASS: hand the request to the app; -ENOSPC: buf is too small for
 * the head (the request was not served); other -errno: nothing planned. */
int ua_static_serve(struct ua_static *m, const struct ua_static_req *req, uint8_t *buf, uint32_t cap,
                    struct ua_static_plan *out);
void ua_static_release(struct ua_static *m, void *ref);
int ua_static_stats(struct ua_static *m, struct ua_static_stats *out);
/* Wait until every brotli copy asked for is made, and take them in. serve() takes finished ones in by
 * itself and never waits: this is for a caller that wants them all at once (tests, a warm-up). */
void ua_static_settle(struct ua_static *m);
/* 1 if the MIME table calls a file of this name worth compressing (text, JSON, SVG, fonts...), else 0. */
int ua_static_compressible(const uint8_t *name, uint32_t len);
/* ua:cdef-end */

#endif
