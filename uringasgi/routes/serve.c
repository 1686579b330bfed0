/* Routed requests answered in C (see serve.h).
 *
 * Rules:
 * - The hook runs for every parsed request head, before Python's request block is built. A request whose
 *   (Host, path) routes to a static mount is served here unless the mount hands it back (fallthrough);
 *   every other request goes to Python untouched.
 * - The mount writes the whole response head (the engine's server and date lines and the configured
 *   extra headers included) and a small body into a scratch buffer; the bytes are copied into one output
 *   piece, so head and body leave in one send. A larger body that the cache holds in memory is copied into
 *   a second piece; a file range becomes a sendfile piece with its own dup of the cached fd, so the cache
 *   may close or replace its fd while the transfer runs. Either way the plan is released before return.
 * - h1's response side is told through ua_h1_respond() (into a throwaway buffer) with the same length
 *   the head announces, so keep-alive, pipelining and the framing checks work exactly as for a response
 *   from Python; the connection closes when h1 says so (Connection: close, HTTP/1.0 without keep-alive, a
 *   body still expected behind 100-continue). A file that ends early is the engine's to handle: the
 *   sendfile returns 0 and the connection is aborted, since the announced length can no longer be met.
 * - The access log line of a hit is formatted here, into a buffer that ua_routes_log_flush() writes: no
 *   Python, and one write per loop iteration rather than one per request.
 */
#define _GNU_SOURCE
#include "routes/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop/conn.h"

/* The head plus a small body: bodies up to this fit in the one piece with the head. */
#define SCRATCH (64 * 1024)
/* Access log lines waiting for the flush; a line that would not fit writes the buffer first. */
#define LOG_BUF (32 * 1024)
#define LOG_LINE_MAX 512

struct ua_routes {
    struct ua_router *router;
    struct ua_static **mounts;
    uint32_t n_mounts;
    struct ua_routes_stats st;
    int log_fd;
    uint32_t log_len;
    char log[LOG_BUF];
    uint8_t scratch[];
};

static void log_write(struct ua_routes *rt)
{
    uint32_t done = 0;
    while (done < rt->log_len) {
        ssize_t n = write(rt->log_fd, rt->log + done, rt->log_len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a log that cannot be written loses lines, never requests */
        done += (uint32_t)n;
    }
    rt->log_len = 0;
}

int ua_routes_log_flush(struct ua_ring *r)
{
    struct ua_routes *rt = r->routes;
    if (rt && rt->log_fd >= 0 && rt->log_len)
        log_write(rt);
    return 0;
}

int ua_routes_log(struct ua_ring *r, int fd)
{
    struct ua_routes *rt = r->routes;
    if (!rt)
        return -ENOENT;
    ua_routes_log_flush(r);
    rt->log_fd = fd;
    return 0;
}

/* uvicorn's access line: the client, the request line as sent, the status and its reason phrase (taken
 * from the status line the mount wrote). */
static void log_hit(struct ua_routes *rt, const struct ua_conn *c, const uint8_t *buf, const struct ua_head *h,
                    const uint8_t *status_line)
{
    char addr[INET6_ADDRSTRLEN] = "-";
    char line[LOG_LINE_MAX];
    if (c->family == AF_INET || c->family == AF_INET6)
        inet_ntop(c->family, c->addr, addr, sizeof(addr));
    const uint8_t *reason = status_line + 9, *end = memchr(reason, '\r', 64);
    int n = snprintf(line, sizeof(line), "INFO:     %s:%u - \"%.*s %.*s HTTP/1.%u\" %.*s\n", addr, c->port,
                     (int)h->method.len, (const char *)buf + h->method.off, (int)h->target.len,
                     (const char *)buf + h->target.off, h->minor, end ? (int)(end - reason) : 3,
                     (const char *)reason);
    if (n <= 0)
        return;
    if ((size_t)n >= sizeof(line)) { /* a very long target: cut, the line still ends */
        n = sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (rt->log_len + (uint32_t)n > LOG_BUF)
        log_write(rt);
    memcpy(rt->log + rt->log_len, line, (size_t)n);
    rt->log_len += (uint32_t)n;
}

void ua_routes_free(struct ua_ring *r)
{
    struct ua_routes *rt = r->routes;
    if (!rt)
        return;
    ua_routes_log_flush(r);
    free(rt->mounts);
    free(rt);
    r->routes = NULL;
}

int ua_routes_attach(struct ua_ring *r, struct ua_router *router, struct ua_static *const *mounts,
                     uint32_t n_mounts)
{
    ua_routes_free(r);
    if (!router)
        return 0;
    struct ua_routes *rt = calloc(1, sizeof(*rt) + SCRATCH);
    if (!rt)
        return -ENOMEM;
    rt->mounts = calloc(n_mounts ? n_mounts : 1, sizeof(*rt->mounts));
    if (!rt->mounts) {
        free(rt);
        return -ENOMEM;
    }
    memcpy(rt->mounts, mounts, n_mounts * sizeof(*mounts));
    rt->n_mounts = n_mounts;
    rt->log_fd = -1;
    rt->router = router;
    r->routes = rt;
    return 0;
}

int ua_routes_stats(struct ua_ring *r, struct ua_routes_stats *out)
{
    const struct ua_routes *rt = r->routes;
    if (!rt)
        return -ENOENT;
    *out = rt->st;
    return 0;
}

static void known(const struct ua_head *h, const uint8_t *buf, int k, const uint8_t **v, uint32_t *len)
{
    uint8_t slot = h->known[k];
    if (slot == UA_HK_ABSENT)
        return;
    *v = buf + h->headers[slot].value_off;
    *len = h->headers[slot].value_len;
}

/* The fields a static mount reads (static.c). */
#define MOUNT_FIELDS                                                                                         \
    ((1ULL << UA_HK_RANGE) | (1ULL << UA_HK_IF_RANGE) | (1ULL << UA_HK_IF_NONE_MATCH) |                      \
     (1ULL << UA_HK_IF_MODIFIED_SINCE) | (1ULL << UA_HK_ACCEPT_ENCODING) | (1ULL << UA_HK_IF_MATCH) |        \
     (1ULL << UA_HK_IF_UNMODIFIED_SINCE))

/* The request fields a mount reads, into q. Nearly every request sends each on one line at most: the
 * known-header index has them. When one came on several lines (the parser's known_more bit), every line of
 * the head goes through ua_static_req_header, which keeps the later lines of a field in more[] (the caller's
 * room for as many lines as a head holds), so the mount reads them all without anything allocated. */
static void mount_fields(const struct ua_head *h, const uint8_t *buf, struct ua_static_req *q,
                         struct ua_static_line *more)
{
    if (h->known_more & MOUNT_FIELDS) {
        q->more = more;
        q->more_cap = UA_MAX_HEADERS;
        for (uint32_t i = 0; i < h->n_headers; i++) {
            const struct ua_header *x = &h->headers[i];
            ua_static_req_header(q, buf + x->name_off, x->name_len, buf + x->value_off, x->value_len);
        }
        return;
    }
    known(h, buf, UA_HK_RANGE, &q->range, &q->range_len);
    known(h, buf, UA_HK_IF_RANGE, &q->if_range, &q->if_range_len);
    known(h, buf, UA_HK_IF_NONE_MATCH, &q->if_none_match, &q->if_none_match_len);
    known(h, buf, UA_HK_IF_MODIFIED_SINCE, &q->if_modified_since, &q->if_modified_since_len);
    known(h, buf, UA_HK_ACCEPT_ENCODING, &q->accept_encoding, &q->accept_encoding_len);
    known(h, buf, UA_HK_IF_MATCH, &q->if_match, &q->if_match_len);
    known(h, buf, UA_HK_IF_UNMODIFIED_SINCE, &q->if_unmodified_since, &q->if_unmodified_since_len);
}

/* The lines every response carries, as the engine writes them for Python's: server, date, extra. */
static uint32_t common_lines(const struct ua_ring *r, uint8_t *out)
{
    uint32_t n = 0;
    if (r->h1set.flags & UA_H1_SERVER_HEADER) {
        memcpy(out, "server: uringasgi\r\n", 19);
        n += 19;
    }
    if ((r->h1set.flags & UA_H1_DATE_HEADER) && r->h1set.date_sec) {
        memcpy(out + n, "date: ", 6);
        memcpy(out + n + 6, r->h1set.date, r->h1set.date_len);
        memcpy(out + n + 6 + r->h1set.date_len, "\r\n", 2);
        n += 8 + r->h1set.date_len;
    }
    memcpy(out + n, r->cfg.extra_headers, r->cfg.extra_headers_len);
    return n + r->cfg.extra_headers_len;
}

static struct ua_out *piece(const uint8_t *data, uint64_t len)
{
    struct ua_out *o = len <= UINT32_MAX ? out_new((uint32_t)len) : NULL;
    if (o) {
        memcpy(o->data, data, len);
        o->len = (uint32_t)len;
    }
    return o;
}

/* A file piece's release: its cache entry goes back to the mount once the range has been sent. */
static void give_back(void *mount, void *ref)
{
    ua_static_release(mount, ref);
}

int ua_routes_dispatch(struct ua_ring *r, struct ua_conn *c, const uint8_t *buf)
{
    struct ua_routes *rt = r->routes;
    const struct ua_head *h = &c->h1.head;
    const uint8_t *host = NULL;
    uint32_t host_len = 0;
    struct ua_route_match m;
    known(h, buf, UA_HK_HOST, &host, &host_len);
    if (!ua_router_match(rt->router, host, host_len, buf + h->path.off, h->path.len, &m) ||
        m.kind != UA_ROUTE_STATIC || m.target >= rt->n_mounts)
        return 0;

    struct ua_static_req q;
    struct ua_static_line more[UA_MAX_HEADERS];
    memset(&q, 0, sizeof(q));
    q.method = buf + h->method.off;
    q.method_len = h->method.len;
    q.path = buf + h->path.off;
    q.path_len = h->path.len;
    q.query = buf + h->query.off;
    q.query_len = h->query.len;
    q.prefix_len = m.prefix_len;
    mount_fields(h, buf, &q, more);
    /* h1 closes after answering while a body still waits behind a 100 Continue (RFC 9110 10.1.1). */
    q.keep_alive = !c->h1.must_close && !((h->flags & UA_F_HAS_BODY) && (h->flags & UA_F_EXPECT_CONTINUE));
    q.http_minor = h->minor;
    q.now_ms = r->now_ms;
    uint8_t lines[512 + sizeof(r->h1set.date)];
    uint8_t *extra = lines;
    uint32_t need = 19 + 8 + r->h1set.date_len + r->cfg.extra_headers_len;
    if (need > sizeof(lines) && !(extra = malloc(need)))
        return 0;
    q.extra = extra;
    q.extra_len = common_lines(r, extra);

    struct ua_static_plan p;
    int rc = ua_static_serve(rt->mounts[m.target], &q, rt->scratch, SCRATCH, &p);
    if (extra != lines)
        free(extra);
    if (rc != 0) { /* PASS: the app's; an error (no room for the head) is left to the app as well */
        rt->st.passed += rc == UA_STATIC_PASS;
        return 0;
    }

    /* h1 learns that a response of this length is under way; what it writes is not sent. */
    char unused[256 + sizeof(r->h1set.date)];
    struct ua_static *mount = rt->mounts[m.target];
    struct ua_out *head = piece(rt->scratch, p.buf_len), *body = NULL;
    int err = head ? 0 : -ENOMEM;
    if (!err && p.body)
        err = (body = piece(p.body, p.body_len)) ? 0 : -ENOMEM;
    if (!err && p.fd >= 0) {
        /* The piece borrows the cached entry's fd, holding the entry until it is retired (no dup). */
        err = (body = out_new(0)) ? 0 : -ENOMEM;
        if (!err) {
            body->file_fd = p.fd;
            body->file_off = (uint64_t)p.file_off;
            body->file_len = p.file_len;
            body->release = give_back;
            body->owner = mount;
            body->ref = p.ref;
            p.ref = NULL;
        }
    }
    ua_static_release(mount, p.ref);
    if (!err)
        err = ua_h1_respond(&c->h1, p.status, NULL, 0, 0, (int64_t)p.content_length, NULL, 0, unused,
                            sizeof(unused));
    if (err < 0) {
        free(head);
        if (body)
            file_release(body);
        free(body);
        conn_abort(r, c, err);
        return 1;
    }
    if (rt->log_fd >= 0)
        log_hit(rt, c, buf, h, rt->scratch);
    send_queue(r, c, head);
    if (body)
        send_queue(r, c, body);
    c->body_sent = p.content_length;
    rt->st.static_hits++;
    send_kick(r, c);
    conn_response_done(r, c);
    return 1;
}
