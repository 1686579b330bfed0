/* Static mounts: a request in, a plan out (see static.h for the contract).
 *
 * Rules, in the order serve() applies them:
 * 1. Method: GET and HEAD are served; anything else is 405 with `allow: GET, HEAD` (or, with
 *    FALLTHROUGH, goes to the app).
 * 2. Path: the part after the route's prefix is percent-decoded exactly once. A malformed escape, a
 *    decoded NUL or control byte, an encoded '/', any '\' (raw or encoded) and bytes that are not valid
 *    UTF-8 (so no overlong forms such as %c0%ae) are a 400. Empty and "." segments are dropped and ".."
 *    removes the previous one (RFC 3986 section 5.2.4); a ".." above the mount's root is a 400. A segment
 *    starting with '.' is a 404 unless DOTFILES. The clean path is opened beneath the mount by the cache
 *    with RESOLVE_BENEATH, which is what actually keeps every request inside it.
 * 3. Resolution: a directory asked for without a trailing '/' is redirected (301) to it with one, when
 *    there is an index to serve; with one it serves its index; a file asked for with a trailing '/' is
 *    a 404, as for nginx.
 * 4. Representation: with PRECOMPRESSED, a .br or .gz sibling is sent when Accept-Encoding gives it the
 *    higher q-value (br wins ties); with COMPRESS, a brotli copy made on the fly stands in for a missing
 *    .br sibling. The copy is made on a helper thread (cache.h): the request that asks first, and those
 *    while it is made, get identity (or a .gz sibling). Whenever a sibling exists or a copy could be made,
 *    the response says
 *    `vary: accept-encoding`, the identity one included, so caches keep them apart. Each representation
 *    has its own ETag and Last-Modified.
 * 5. Conditionals, in the order of RFC 9110 section 13.2.2: If-Match (strong comparison, lists and "*")
 *    that matches nothing, or, only without it, If-Unmodified-Since older than the file, gives 412; then
 *    If-None-Match (weak comparison, lists and "*") gives 304; only without it, If-Modified-Since gives
 *    304 when the file is not newer.
 * 6. Range (GET only, section 14.2): honoured when If-Range is absent or still matches (strong ETag or the
 *    exact Last-Modified). One satisfiable range (unsatisfiable ones beside it dropped) is a 206 with
 *    content-range; none is a 416 with `content-range: bytes * /size`. Several satisfiable ranges get
 *    the whole file with 200, never multipart/byteranges: section 14.2 lets a server ignore Range, and
 *    a client asking for several must accept a 200.
 * 7. A field on several lines: the lines of a list (If-Match, If-None-Match, Accept-Encoding) are read in order
 *    as the one list they make (RFC 9110 5.3); a repeated Range, If-Range, If-Modified-Since or
 *    If-Unmodified-Since is read as an invalid value of its kind, as the RFC says (see repeated()).
 * 8. A body of up to the buffer's room is copied after the head, so both leave in one send; otherwise the
 *    plan points at the cached memory or the file range, and holds the cache entry until released.
 */
#define _GNU_SOURCE
#include "static/static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "static/cache.h"
#include "static/fields.h"
#include "static/mime.h"

#define KEY_MAX 4096

struct ua_static {
    struct ua_fcache cache;
    int dirfd;
    uint32_t flags;
    uint32_t compress_min, compress_max;
    int quality;
    char index[256];
    uint32_t index_len;
    char fixed[96]; /* "accept-ranges: bytes\r\n" and cache-control, on every file response */
    uint32_t fixed_len;
    int freed;      /* ua_static_free came while plans were held: the last release frees the mount */
};

int ua_static_new(const struct ua_static_config *cfg, struct ua_static **out)
{
    if (!cfg->root || (cfg->index && strlen(cfg->index) >= sizeof(((struct ua_static *)0)->index)) ||
        (cfg->index && strchr(cfg->index, '/')) || cfg->compress_quality < 0 || cfg->compress_quality > 11)
        return -EINVAL;
    struct ua_static *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->dirfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (m->dirfd < 0) {
        int err = -errno;
        free(m);
        return err;
    }
    int rc = ua_static_cache_init(&m->cache, m->dirfd, cfg->cache_entries, cfg->cache_bytes, cfg->small_max,
                                  cfg->valid_ms);
    if (rc < 0) {
        close(m->dirfd);
        free(m);
        return rc;
    }
    m->flags = cfg->flags;
    m->compress_min = cfg->compress_min;
    m->compress_max = cfg->compress_max;
    m->quality = cfg->compress_quality;
    if (cfg->index) {
        m->index_len = (uint32_t)strlen(cfg->index);
        memcpy(m->index, cfg->index, m->index_len);
    }
    if (cfg->max_age >= 0)
        m->fixed_len = (uint32_t)snprintf(m->fixed, sizeof(m->fixed),
                                          "accept-ranges: bytes\r\ncache-control: public, max-age=%lld\r\n",
                                          (long long)cfg->max_age);
    else
        m->fixed_len = (uint32_t)snprintf(m->fixed, sizeof(m->fixed), "accept-ranges: bytes\r\n");
    *out = m;
    return 0;
}

void ua_static_free(struct ua_static *m)
{
    if (!m)
        return;
    ua_static_cache_fini(&m->cache);
    /* An engine's file piece may still hold an entry (it borrows the entry's fd until the piece is sent
     * or dropped), and the ring that holds it may be freed after the mount. */
    if (m->cache.held) {
        m->freed = 1;
        return;
    }
    close(m->dirfd);
    free(m);
}

int ua_static_stats(struct ua_static *m, struct ua_static_stats *out)
{
    out->entries = m->cache.n_entries;
    out->bytes = m->cache.bytes;
    out->opens = m->cache.opens;
    out->hits = m->cache.hits;
    out->held = m->cache.held;
    out->compressions = m->cache.compressions;
    return 0;
}

void ua_static_settle(struct ua_static *m)
{
    ua_static_cache_collect(&m->cache, 1);
}

int ua_static_compressible(const uint8_t *name, uint32_t len)
{
    return ua_static_mime((const char *)name, len)->compressible;
}

void ua_static_release(struct ua_static *m, void *ref)
{
    if (!ref)
        return;
    ua_static_cache_put(&m->cache, ref);
    if (m->freed && !m->cache.held) {
        m->freed = 0;
        ua_static_free(m);
    }
}

/* The request fields a file response reads: each name's value span in struct ua_static_req, and whether the
 * field is a list, whose lines together are one value (RFC 9110 5.3). */
enum {
    F_RANGE,
    F_IF_RANGE,
    F_IF_NONE_MATCH,
    F_ACCEPT_ENCODING,
    F_IF_MODIFIED_SINCE,
    F_IF_MATCH,
    F_IF_UNMODIFIED_SINCE,
};
#define REQ_FIELD(id, lit, f, is_list) \
    [id] = {lit, sizeof(lit) - 1, offsetof(struct ua_static_req, f), offsetof(struct ua_static_req, f##_len), is_list}
static const struct {
    const char *name;
    uint32_t len;
    size_t value, value_len;
    int list;
} REQ_FIELDS[] = {
    REQ_FIELD(F_RANGE, "range", range, 0),
    REQ_FIELD(F_IF_RANGE, "if-range", if_range, 0),
    REQ_FIELD(F_IF_NONE_MATCH, "if-none-match", if_none_match, 1),
    REQ_FIELD(F_ACCEPT_ENCODING, "accept-encoding", accept_encoding, 1),
    REQ_FIELD(F_IF_MODIFIED_SINCE, "if-modified-since", if_modified_since, 0),
    REQ_FIELD(F_IF_MATCH, "if-match", if_match, 1),
    REQ_FIELD(F_IF_UNMODIFIED_SINCE, "if-unmodified-since", if_unmodified_since, 0),
};
#undef REQ_FIELD

/* Field f's first line: its span in req. */
static const uint8_t *first_value(const struct ua_static_req *req, uint32_t f)
{
    return *(const uint8_t *const *)(const void *)((const char *)req + REQ_FIELDS[f].value);
}

static uint32_t first_len(const struct ua_static_req *req, uint32_t f)
{
    return *(const uint32_t *)(const void *)((const char *)req + REQ_FIELDS[f].value_len);
}

int ua_static_req_header(struct ua_static_req *req, const uint8_t *name, uint32_t name_len,
                         const uint8_t *value, uint32_t value_len)
{
    for (uint32_t i = 0; i < sizeof(REQ_FIELDS) / sizeof(REQ_FIELDS[0]); i++) {
        if (name_len != REQ_FIELDS[i].len || memcmp(name, REQ_FIELDS[i].name, name_len) != 0)
            continue;
        if (REQ_FIELDS[i].list && value_len == 0)
            return 1; /* an empty line adds no member to a list (RFC 9110 5.6.1) */
        if (!first_value(req, i)) {
            *(const uint8_t **)(void *)((char *)req + REQ_FIELDS[i].value) = value;
            *(uint32_t *)(void *)((char *)req + REQ_FIELDS[i].value_len) = value_len;
        } else if (req->n_more < req->more_cap) {
            req->more[req->n_more++] = (struct ua_static_line){value, value_len, i};
        } else {
            return -ENOSPC;
        }
        return 1;
    }
    return 0;
}

/* The lines of field f in order: its span, then its lines in more[]; *at starts at 0. 1 with the line in *s and
 * *len, 0 past the last. Lines are read where they are, one after the other, rather than joined with commas
 * into one value: the same meaning (RFC 9110 5.3) with no copy and no room to find. */
static int next_line(const struct ua_static_req *req, uint32_t f, uint32_t *at, const uint8_t **s, uint32_t *len)
{
    if (*at == 0) {
        *at = 1;
        *s = first_value(req, f);
        *len = first_len(req, f);
        return 1;
    }
    for (; *at <= req->n_more; (*at)++) {
        const struct ua_static_line *l = &req->more[*at - 1];
        if (l->field == f) {
            (*at)++;
            *s = l->value;
            *len = l->len;
            return 1;
        }
    }
    return 0;
}

/* 1 if field f came on more than one line. Range, If-Range, If-Modified-Since and If-Unmodified-Since are not
 * lists: a sender MUST NOT split one over lines (RFC 9110 5.3), and the lines joined are no valid value. Such a
 * field is read as the RFC reads an invalid one, never by whichever line came first (a proxy in front may have
 * read another): If-Modified-Since and If-Unmodified-Since MUST then be ignored (13.1.3: "more than one
 * member"; 13.1.4: "appears to be a list of dates"), an If-Range condition is false (13.1.5) and a Range that
 * is no ranges-specifier may be ignored (14.2), both ending in the whole representation, 200 (13.2.2 step 5). */
static int repeated(const struct ua_static_req *req, uint32_t f)
{
    for (uint32_t i = 0; i < req->n_more; i++)
        if (req->more[i].field == f)
            return 1;
    return 0;
}

/* ---- path ---- */

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Valid UTF-8 only: no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629 section 4). */
static int utf8_ok(const uint8_t *s, uint32_t len)
{
    uint32_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint32_t n;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (uint32_t k = 2; k <= n; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return 0;
        i += n + 1;
    }
    return 1;
}

#define PATH_BAD -EINVAL    /* 400 */
#define PATH_HIDDEN -ENOENT /* a dotfile: 404 */

/* Decode and normalise the path after the prefix into key (no leading '/', "." for the root).
 * *dir says the path named a directory (ended in '/', "." or ".."). */
static int clean_path(const uint8_t *p, uint32_t len, int dotfiles, char *key, uint32_t *key_len, int *dir)
{
    uint8_t dec[KEY_MAX];
    uint32_t n = 0;
    if (len >= KEY_MAX)
        return -ENAMETOOLONG;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        int esc = 0;
        if (c == '%') {
            int hi, lo;
            if (len - i < 3 || (hi = hexval(p[i + 1])) < 0 || (lo = hexval(p[i + 2])) < 0)
                return PATH_BAD;
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
            esc = 1;
        }
        if (c < 0x20 || c == 0x7F || c == '\\' || (esc && c == '/'))
            return PATH_BAD;
        dec[n++] = c;
    }
    if (!utf8_ok(dec, n))
        return PATH_BAD;
    /* Segments, with a stack of where each one starts in key. */
    uint32_t starts[KEY_MAX / 2 + 1], depth = 0, out = 0, i = 0;
    *dir = 0;
    while (i < n) {
        while (i < n && dec[i] == '/')
            i++;
        uint32_t s = i;
        while (i < n && dec[i] != '/')
            i++;
        uint32_t sl = i - s;
        *dir = i == n ? 0 : 1;
        if (sl == 0) {
            *dir = 1;
            break;
        }
        if (sl == 1 && dec[s] == '.') {
            *dir = 1;
            continue;
        }
        if (sl == 2 && dec[s] == '.' && dec[s + 1] == '.') {
            if (depth == 0)
                return PATH_BAD;
            out = starts[--depth];
            *dir = 1;
            continue;
        }
        if (dec[s] == '.' && !dotfiles)
            return PATH_HIDDEN;
        starts[depth++] = out;
        if (out)
            key[out - 1] = '/';
        memcpy(key + out, dec + s, sl);
        out += sl + 1;
    }
    if (out == 0) {
        key[0] = '.';
        key[1] = 0;
        *key_len = 1;
        *dir = n > 0; /* "" is the mount itself named without its '/' */
    } else {
        key[out - 1] = 0;
        *key_len = out - 1;
    }
    return 0;
}

/* ---- response head ---- */

struct writer {
    uint8_t *buf;
    uint32_t cap, len;
    int full;
};

static void put(struct writer *w, const void *s, uint32_t n)
{
    if (w->full || w->cap - w->len < n) {
        w->full = 1;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

#define PUTS(w, lit) put(w, lit, sizeof(lit) - 1)

static void put_u64(struct writer *w, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, tmp + sizeof(tmp) - n, (uint32_t)n);
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "200 OK";
    case 206: return "206 Partial Content";
    case 301: return "301 Moved Permanently";
    case 304: return "304 Not Modified";
    case 400: return "400 Bad Request";
    case 403: return "403 Forbidden";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    case 412: return "412 Precondition Failed";
    case 416: return "416 Range Not Satisfiable";
    default: return "500 Internal Server Error";
    }
}

static void status_line(struct writer *w, int status)
{
    const char *r = reason(status);
    PUTS(w, "HTTP/1.1 ");
    put(w, r, (uint32_t)strlen(r));
    PUTS(w, "\r\n");
}

/* What every response ends its head with: the caller's lines, connection, the blank line. */
static void head_end(struct writer *w, const struct ua_static_req *req)
{
    put(w, req->extra, req->extra_len);
    if (!req->keep_alive)
        PUTS(w, "connection: close\r\n");
    else if (req->http_minor == 0)
        PUTS(w, "connection: keep-alive\r\n"); /* HTTP/1.0 keeps the connection only if told (RFC 9112 9.3) */
    PUTS(w, "\r\n");
}

static void plan_init(struct ua_static_plan *out, int status)
{
    memset(out, 0, sizeof(*out));
    out->status = status;
    out->fd = -1;
}

static int finish(struct writer *w, struct ua_static_plan *out)
{
    if (w->full)
        return -ENOSPC;
    out->buf_len = w->len;
    return 0;
}

/* A short text response: errors, and 405 with its Allow. */
static int simple(const struct ua_static_req *req, int head_only, int status, struct writer *w,
                  struct ua_static_plan *out)
{
    const char *r = reason(status);
    uint32_t rl = (uint32_t)strlen(r);
    plan_init(out, status);
    status_line(w, status);
    PUTS(w, "content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    put_u64(w, rl + 1);
    PUTS(w, "\r\n");
    if (status == 405)
        PUTS(w, "allow: GET, HEAD\r\n");
    head_end(w, req);
    if (!head_only) {
        put(w, r, rl);
        PUTS(w, "\n");
        out->content_length = rl + 1;
    }
    return finish(w, out);
}

/* Percent-encode key for a Location: unreserved and sub-delims stay, so does '/'. */
static void put_encoded(struct writer *w, const char *s, uint32_t n)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~!$&'()*+,;=:@/", c)) {
            put(w, &c, 1);
        } else {
            char e[3] = {'%', HEX[c >> 4], HEX[c & 15]};
            put(w, e, 3);
        }
    }
}

/* 301 to the directory with its '/'. The Location is built from the prefix as routed and the clean key,
 * never from the raw rest of the path, so "//evil.example/" cannot become a protocol-relative redirect. */
static int redirect(const struct ua_static_req *req, const char *key, uint32_t key_len, struct writer *w,
                    struct ua_static_plan *out)
{
    plan_init(out, 301);
    status_line(w, 301);
    PUTS(w, "location: ");
    put(w, req->path, req->prefix_len);
    PUTS(w, "/");
    if (!(key_len == 1 && key[0] == '.')) {
        put_encoded(w, key, key_len);
        PUTS(w, "/");
    }
    if (req->query_len) {
        PUTS(w, "?");
        put(w, req->query, req->query_len);
    }
    PUTS(w, "\r\ncontent-length: 0\r\n");
    head_end(w, req);
    return finish(w, out);
}

/* ---- serving ---- */

/* The representation chosen for the response. */
struct rep {
    struct ua_fentry *e;   /* the entry holding the bytes */
    const uint8_t *mem;    /* whole body in memory, or NULL: e->fd */
    uint64_t size;
    const char *etag;
    uint32_t etag_len;
    const char *encoding;  /* NULL, "br" or "gzip" */
};

static int is_method(const struct ua_static_req *req, const char *m)
{
    size_t n = strlen(m);
    return req->method_len == n && memcmp(req->method, m, n) == 0;
}

/* The file sibling key + suffix, or NULL; the reference is the caller's. */
static struct ua_fentry *sibling(struct ua_static *m, char *key, uint32_t key_len, const char *suffix,
                                 uint64_t now)
{
    int err;
    uint32_t sl = (uint32_t)strlen(suffix);
    memcpy(key + key_len, suffix, sl + 1);
    struct ua_fentry *e = ua_static_cache_get(&m->cache, key, key_len + sl, now, 0, &err);
    key[key_len] = 0;
    if (e && e->kind != UA_FE_FILE) {
        ua_static_cache_put(&m->cache, e);
        e = NULL;
    }
    return e;
}

/* Which siblings f has, looked up again at most once per valid_ms. Most files have none: between checks
 * that costs nothing, and a miss is not worth a cache entry of its own. */
static uint8_t siblings(struct ua_static *m, struct ua_fentry *f, char *key, uint32_t key_len, uint64_t now)
{
    if ((f->siblings & UA_SIB_KNOWN) && now - f->sib_checked_ms < m->cache.valid_ms)
        return f->siblings;
    uint8_t found = UA_SIB_KNOWN;
    struct ua_fentry *e;
    if ((e = sibling(m, key, key_len, ".br", now))) {
        found |= UA_SIB_BR;
        ua_static_cache_put(&m->cache, e);
    }
    if ((e = sibling(m, key, key_len, ".gz", now))) {
        found |= UA_SIB_GZ;
        ua_static_cache_put(&m->cache, e);
    }
    f->siblings = found;
    f->sib_checked_ms = now;
    return found;
}

static uint64_t now_ms(const struct ua_static_req *req)
{
    struct timespec ts;
    if (req->now_ms)
        return req->now_ms;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A miss: 404 (or 403, 400), or the app's when falling through. */
static int miss(struct ua_static *m, const struct ua_static_req *req, int head_only, int status,
                struct writer *w, struct ua_static_plan *out)
{
    if (m->flags & UA_STATIC_FALLTHROUGH)
        return UA_STATIC_PASS;
    return simple(req, head_only, status, w, out);
}

/* Pick the representation of file entry f: identity, a sibling, or the brotli copy. Takes over the
 * reference on f: the chosen entry's reference ends up in r->e (on error, none is left). */
static int choose(struct ua_static *m, const struct ua_static_req *req, struct ua_fentry *f, char *key,
                  uint32_t key_len, uint64_t now, struct rep *r, int *vary)
{
    uint8_t sib = (m->flags & UA_STATIC_PRECOMPRESSED) ? siblings(m, f, key, key_len, now) : 0;
    int has_br = sib & UA_SIB_BR, has_gz = sib & UA_SIB_GZ, q_br = 0, q_gz = 0, otf = 0;
    if (!has_br && (m->flags & UA_STATIC_COMPRESS) && f->mime->compressible && f->size >= m->compress_min &&
        f->size <= m->compress_max && f->br_state != UA_BR_NO)
        otf = 1;
    *vary = has_br || has_gz || otf;
    *r = (struct rep){f, f->body, f->size, f->etag, f->etag_len, NULL};
    if (!*vary || !req->accept_encoding_len)
        return 0;
    struct ua_codings codings = UA_CODINGS_NONE;
    const uint8_t *s;
    uint32_t len, at = 0;
    while (next_line(req, F_ACCEPT_ENCODING, &at, &s, &len))
        ua_static_accept_encoding(s, len, &codings);
    ua_static_codings_q(&codings, &q_br, &q_gz);
    if (!(has_br || otf))
        q_br = 0;
    if (!has_gz)
        q_gz = 0;
    if (q_br > 0 && q_br >= q_gz && otf) {
        /* The first asking starts the copy on the helper thread and is answered without it (as the
         * requests while it is made): identity, or a gzip sibling, still saying vary. */
        ua_static_cache_brotli(&m->cache, f, m->quality);
        if (f->br_state == UA_BR_READY) {
            *r = (struct rep){f, f->br, f->br_len, f->br_etag, f->br_etag_len, "br"};
            return 0;
        }
        q_br = 0;
    }
    const char *suffix = NULL, *encoding = NULL;
    if (q_br > 0 && q_br >= q_gz) {
        suffix = ".br";
        encoding = "br";
    } else if (q_gz > 0) {
        suffix = ".gz";
        encoding = "gzip";
    }
    struct ua_fentry *e = suffix ? sibling(m, key, key_len, suffix, now) : NULL;
    if (e) { /* (gone since it was looked up: the identity stands in) */
        *r = (struct rep){e, e->body, e->size, e->etag, e->etag_len, encoding};
        ua_static_cache_put(&m->cache, f);
    }
    return 0;
}

/* Headers a 200, 206 and 304 share: validators, cache-control, encoding, vary. */
static void rep_headers(struct ua_static *m, const struct rep *r, int vary, struct writer *w)
{
    PUTS(w, "last-modified: ");
    put(w, r->e->lastmod, sizeof(r->e->lastmod));
    PUTS(w, "\r\netag: ");
    put(w, r->etag, r->etag_len);
    PUTS(w, "\r\n");
    put(w, m->fixed, m->fixed_len);
    if (r->encoding) {
        PUTS(w, "content-encoding: ");
        put(w, r->encoding, (uint32_t)strlen(r->encoding));
        PUTS(w, "\r\n");
    }
    if (vary)
        PUTS(w, "vary: accept-encoding\r\n");
}

/* If-Match or If-None-Match (field f) over all its lines, which are one list (RFC 9110 5.3): 1 if it lists the
 * representation's ETag. A malformed member ends the walk over the later lines too, as it would in the joined
 * value; "*" means any only as the whole field value (13.1.1, 13.1.2), so only as the field's one line. */
static int etag_listed(const struct ua_static_req *req, uint32_t f, const struct rep *r, int strong)
{
    const uint8_t *s;
    uint32_t len, at = 0;
    while (next_line(req, f, &at, &s, &len)) {
        int rc = ua_static_etag_listed(s, len, r->etag, r->etag_len, strong);
        if (rc == UA_ETAG_ANY)
            return !repeated(req, f);
        if (rc != 0)
            return rc == 1;
    }
    return 0;
}

/* Section 13.2.2 steps 1 and 2: the client's precondition for changing what it saw does not hold. */
static int precondition_failed(const struct ua_static_req *req, const struct rep *r)
{
    if (req->if_match_len) /* when present, If-Unmodified-Since is not evaluated */
        return !etag_listed(req, F_IF_MATCH, r, 1);
    int64_t t;
    return req->if_unmodified_since_len && !repeated(req, F_IF_UNMODIFIED_SINCE) &&
           ua_static_parse_date(req->if_unmodified_since, req->if_unmodified_since_len, &t) == 0 &&
           r->e->mtime > t;
}

/* The end of a 304, 412 or 416: the head is all there is, so the file's entry goes back now. */
static int no_body(struct ua_static *m, const struct ua_static_req *req, struct rep *r, struct writer *w,
                   struct ua_static_plan *out)
{
    head_end(w, req);
    ua_static_cache_put(&m->cache, r->e);
    return finish(w, out);
}

static int not_modified(const struct ua_static_req *req, const struct rep *r)
{
    if (req->if_none_match_len) /* section 13.2.2: when present, If-Modified-Since is not evaluated */
        return etag_listed(req, F_IF_NONE_MATCH, r, 0);
    /* A date later than now is no date the client had from us (RFC 7232 3.3 calls it invalid): ignored,
     * so a file rolled back to an older mtime is not answered 304 against a clock set forward. */
    int64_t t;
    return req->if_modified_since_len && !repeated(req, F_IF_MODIFIED_SINCE) &&
           ua_static_parse_date(req->if_modified_since, req->if_modified_since_len, &t) == 0 &&
           r->e->mtime <= t && t <= (int64_t)time(NULL);
}

/* Section 13.2.2 step 5: the Range is read when If-Range is absent or its condition holds. A repeated If-Range
 * is a false condition, whatever its lines hold (see repeated()). */
static int range_wanted(const struct ua_static_req *req, const struct rep *r)
{
    if (!req->range_len || repeated(req, F_RANGE) || repeated(req, F_IF_RANGE))
        return 0;
    return !req->if_range_len ||
           ua_static_if_range_ok(req->if_range, req->if_range_len, r->etag, r->etag_len, r->e->mtime);
}

static int respond(struct ua_static *m, const struct ua_static_req *req, int head_only, const struct ua_mime *mime,
                   struct rep *r, int vary, struct writer *w, struct ua_static_plan *out)
{
    uint64_t first = 0, last = r->size ? r->size - 1 : 0;
    int status = 200, kind = UA_RANGE_NONE;
    if (precondition_failed(req, r)) {
        plan_init(out, 412);
        status_line(w, 412);
        PUTS(w, "content-length: 0\r\n");
        return no_body(m, req, r, w, out);
    }
    if (not_modified(req, r)) {
        plan_init(out, 304);
        status_line(w, 304);
        rep_headers(m, r, vary, w);
        return no_body(m, req, r, w, out);
    }
    /* An empty representation has no range to send (RFC 9110 14.1.1 leaves only a suffix range satisfiable,
     * and no Content-Range can name it): the Range is ignored, as it may be, and the 200 is empty, as
     * nginx answers; a browser asks for bytes=0- of every media file. */
    if (!head_only && r->size && range_wanted(req, r))
        kind = ua_static_parse_range(req->range, req->range_len, r->size, &first, &last);
    if (kind == UA_RANGE_UNSAT) {
        plan_init(out, 416);
        status_line(w, 416);
        PUTS(w, "content-range: bytes */");
        put_u64(w, r->size);
        PUTS(w, "\r\ncontent-length: 0\r\n");
        rep_headers(m, r, vary, w);
        return no_body(m, req, r, w, out);
    }
    uint64_t len = r->size;
    if (kind == UA_RANGE_ONE) {
        status = 206;
        len = last - first + 1;
    }
    plan_init(out, status);
    status_line(w, status);
    put(w, mime->line, (uint32_t)strlen(mime->line));
    PUTS(w, "content-length: ");
    put_u64(w, len);
    PUTS(w, "\r\n");
    if (status == 206) {
        PUTS(w, "content-range: bytes ");
        put_u64(w, first);
        PUTS(w, "-");
        put_u64(w, last);
        PUTS(w, "/");
        put_u64(w, r->size);
        PUTS(w, "\r\n");
    }
    rep_headers(m, r, vary, w);
    head_end(w, req);
    if (w->full) {
        ua_static_cache_put(&m->cache, r->e);
        return -ENOSPC;
    }
    if (head_only || len == 0) {
        ua_static_cache_put(&m->cache, r->e);
        return finish(w, out);
    }
    out->content_length = len;
    if (r->mem && w->cap - w->len >= len) {
        put(w, r->mem + first, (uint32_t)len);
        ua_static_cache_put(&m->cache, r->e);
    } else if (r->mem) {
        out->body = r->mem + first;
        out->body_len = len;
        out->ref = r->e;
    } else {
        out->fd = r->e->fd;
        out->file_off = (int64_t)first;
        out->file_len = len;
        out->ref = r->e;
    }
    return finish(w, out);
}

int ua_static_serve(struct ua_static *m, const struct ua_static_req *req, uint8_t *buf, uint32_t cap,
                    struct ua_static_plan *out)
{
    struct writer w = {buf, cap, 0, 0};
    char key[KEY_MAX + 272];
    uint32_t key_len;
    int dir, err = 0;
    int head_only = is_method(req, "HEAD");
    if (!head_only && !is_method(req, "GET"))
        return miss(m, req, 0, 405, &w, out);
    if (req->prefix_len > req->path_len)
        return -EINVAL;
    int rc = clean_path(req->path + req->prefix_len, req->path_len - req->prefix_len,
                        m->flags & UA_STATIC_DOTFILES, key, &key_len, &dir);
    if (rc < 0)
        return miss(m, req, head_only, rc == PATH_BAD ? 400 : 404, &w, out);
    uint64_t now = now_ms(req);
    ua_static_cache_collect(&m->cache, 0); /* brotli copies the helper thread has finished */
    struct ua_fentry *f = ua_static_cache_get(&m->cache, key, key_len, now, 1, &err);
    if (!f)
        return simple(req, head_only, 500, &w, out);
    if (f->kind == UA_FE_DIR) {
        ua_static_cache_put(&m->cache, f);
        if (!m->index_len)
            return miss(m, req, head_only, 404, &w, out);
        if (!dir)
            return redirect(req, key, key_len, &w, out);
        if (key_len == 1 && key[0] == '.')
            key_len = 0;
        else
            key[key_len++] = '/';
        memcpy(key + key_len, m->index, m->index_len + 1);
        key_len += m->index_len;
        f = ua_static_cache_get(&m->cache, key, key_len, now, 1, &err);
        if (!f)
            return simple(req, head_only, 500, &w, out);
        dir = 0;
    }
    if (f->kind != UA_FE_FILE || dir) {
        int status = f->kind == UA_FE_MISSING ? f->status : 404;
        ua_static_cache_put(&m->cache, f);
        return miss(m, req, head_only, status, &w, out);
    }
    struct rep r;
    int vary;
    const struct ua_mime *mime = f->mime;
    rc = choose(m, req, f, key, key_len, now, &r, &vary);
    if (rc < 0)
        return simple(req, head_only, 500, &w, out);
    return respond(m, req, head_only, mime, &r, vary, &w, out);
}
