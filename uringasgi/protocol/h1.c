/* HTTP/1.1 connection state machine (RFC 9112), sans-IO: no I/O, no allocation, no clock of its own.
 *
 * Request side (c->state), driven by ua_h1_feed():
 *
 *   state         input                                   event            next
 *   HEAD          partial head                            MORE (0 used)    HEAD
 *   HEAD          bad head                                ERROR status     ERROR
 *   HEAD          head, content-length > max_body         ERROR 413        ERROR
 *   HEAD          head, method CONNECT                    ERROR 501        ERROR
 *   HEAD          head                                    HEAD             BODY_CHUNKED if chunked, else
 *                                                                          BODY_LENGTH (length 0 if absent)
 *   BODY_LENGTH   bytes, body_left > 0                    BODY (span)      BODY_LENGTH
 *   BODY_LENGTH   body_left == 0                          END (0 used)     DONE, or HEAD if the response
 *                                                                          is already done (see below)
 *   BODY_CHUNKED  chunk data                              BODY (span)      BODY_CHUNKED
 *   BODY_CHUNKED  last-chunk line                         (none)           TRAILERS (same call goes on)
 *   BODY_CHUNKED  bad framing / over max_body             ERROR 400 / 413  ERROR
 *   TRAILERS      trailer section complete                END (off, len)   DONE, or HEAD as above
 *   DONE          anything                                PAUSED (0 used)  DONE: pipelined bytes wait
 *   ERROR         anything                                ERROR (0 used)   ERROR: send it, then close
 *   UPGRADED      anything                                UPGRADED         UPGRADED: not HTTP/1 any more
 *   CLOSED        anything                                PAUSED (0 used)  CLOSED
 *
 * Response side (c->resp), driven by the engine:
 *
 *   resp   call                         effect
 *   IDLE   ua_h1_respond 1xx (not 101)  head written (informational), stays IDLE
 *   IDLE   ua_h1_respond 101            only if the request asked to upgrade: state UPGRADED
 *   IDLE   ua_h1_respond other          head + framing written: SENT
 *   IDLE   ua_h1_respond_error          complete error response, must_close: SENT
 *   SENT   ua_h1_response_done          request DONE: next request (state HEAD, resp IDLE), or CLOSED if
 *                                       must_close; request still in its body: resp DONE, the body is still
 *                                       parsed (the engine drops it) and END moves on to the next request
 *
 * So requests are answered in order and a pipelined head is parsed only after both the previous request's END
 * and its response's completion (RFC 9112 9.3.2).
 *
 * must_close (the connection closes after this response) is set when: the request's version and Connection
 * say so (RFC 9112 9.3); the request was bad; the app sent "connection: close"; the body is close-delimited
 * (HTTP/1.0, length unknown); or the app answered while the client still waits for a 100 Continue that was
 * never sent, so the body's arrival is unknowable (RFC 9110 10.1.1).
 *
 * Response framing (RFC 9112 6): no body for HEAD, 1xx, 204, 304; else the app's content-length if it sent
 * one, chunked if it sent transfer-encoding (whose codings must end with chunked, named once), content-length
 * when the engine knows the whole body, chunked on HTTP/1.1, and close-delimited on HTTP/1.0. An HTTP/1.0
 * request's response never carries transfer-encoding: the app's line naming only chunked is left out. 1xx
 * and 204 responses carry neither content-length nor transfer-encoding: the app's are left out.
 */
#include "h1.h"
#include "bytes.h"

#include <errno.h>
#include <string.h>

#define H1_HEAD 0
#define H1_BODY_LENGTH 1
#define H1_BODY_CHUNKED 2
#define H1_TRAILERS 3
#define H1_DONE 4
#define H1_ERROR 5
#define H1_UPGRADED 6
#define H1_CLOSED 7

#define R_IDLE 0
#define R_SENT 1
#define R_DONE 2

/* ---------------------------------------------------------------- settings and date */

void ua_h1_settings_init(struct ua_h1_settings *s, uint32_t max_head, uint32_t max_headers, uint32_t max_target,
                         uint64_t max_body, uint32_t flags)
{
    memset(s, 0, sizeof *s);
    /* spans are 16 bits: a head never exceeds 65535 bytes or 64 fields whatever the setting */
    s->lim.max_head = (uint16_t)(max_head == 0 || max_head > UA_HEAD_MAX ? UA_HEAD_MAX : max_head);
    s->lim.max_headers = (uint16_t)(max_headers == 0 || max_headers > UA_MAX_HEADERS ? UA_MAX_HEADERS : max_headers);
    s->lim.max_target = (uint16_t)(max_target > UA_HEAD_MAX ? 0 : max_target);
    s->max_body = max_body;
    s->flags = flags;
}

static const char WDAY[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"}; /* 1970-01-01 was a Thursday */
static const char MON[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static char *put2(char *p, unsigned v)
{
    *p++ = (char)('0' + v / 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* IMF-fixdate (RFC 9110 5.6.7) without gmtime or locale: days to civil date (Howard Hinnant's algorithm). */
int ua_h1_tick(struct ua_h1_settings *s, int64_t now)
{
    if (now == s->date_sec || now < 0)
        return 0;
    int64_t days = now / 86400, secs = now % 86400;
    int64_t z = days + 719468, era = z / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    char *p = s->date;
    memcpy(p, WDAY[days % 7], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put2(p, d);
    *p++ = ' ';
    memcpy(p, MON[m - 1], 3);
    p += 3;
    *p++ = ' ';
    p = put2(p, (unsigned)(y / 100 % 100));
    p = put2(p, (unsigned)(y % 100));
    *p++ = ' ';
    p = put2(p, (unsigned)(secs / 3600));
    *p++ = ':';
    p = put2(p, (unsigned)(secs / 60 % 60));
    *p++ = ':';
    p = put2(p, (unsigned)(secs % 60));
    memcpy(p, " GMT", 4);
    p += 4;
    *p = 0;
    s->date_len = (uint32_t)(p - s->date);
    s->date_sec = now;
    return 1;
}

/* ---------------------------------------------------------------- request side */

static void next_request(struct ua_h1_conn *c)
{
    c->state = H1_HEAD;
    c->resp = R_IDLE;
    c->resp_framing = UA_H1_FRAME_NONE;
    c->req_method = UA_M_OTHER;
    c->req_minor = 1;
    c->expect = 0;
    c->upgrade = 0;
    c->body_left = 0;
    c->resp_length = -1;
    ua_parse_reset(&c->head);
    ua_trailers_reset(&c->trailers);
}

void ua_h1_init(struct ua_h1_conn *c, const struct ua_h1_settings *s)
{
    memset(c, 0, offsetof(struct ua_h1_conn, head));
    c->set = s;
    next_request(c);
}

static int emit(struct ua_h1_event *ev, int type, size_t consumed, size_t off, size_t len)
{
    ev->type = (uint32_t)type;
    ev->status = 0;
    ev->consumed = consumed;
    ev->off = off;
    ev->len = len;
    return type;
}

static int error(struct ua_h1_conn *c, struct ua_h1_event *ev, int pe, size_t consumed)
{
    c->state = H1_ERROR;
    c->must_close = 1;
    c->error_status = (uint16_t)ua_parse_status(pe);
    emit(ev, UA_H1_ERROR, consumed, 0, 0);
    ev->status = c->error_status;
    return UA_H1_ERROR;
}

/* END of the request: wait for the response, or go on if it already finished. */
static int end_of_request(struct ua_h1_conn *c, struct ua_h1_event *ev, size_t consumed, size_t off, size_t len)
{
    c->state = H1_DONE;
    if (c->resp == R_DONE) {
        if (c->must_close)
            c->state = H1_CLOSED;
        else
            next_request(c);
    }
    return emit(ev, UA_H1_END, consumed, off, len);
}

static int on_head(struct ua_h1_conn *c, struct ua_h1_event *ev, size_t n)
{
    const struct ua_head *h = &c->head;
    c->requests++;
    c->req_method = h->method_id;
    c->req_minor = h->minor;
    c->upgrade = (h->flags & UA_F_UPGRADE) != 0;
    c->must_close = !(h->flags & UA_F_KEEP_ALIVE);
    /* A 2xx to CONNECT makes the connection a tunnel (RFC 9110 9.3.6), which an ASGI app has no way to
     * serve: answered here, so that no app's 200 leaves what follows to be read as requests. */
    if (h->method_id == UA_M_CONNECT)
        return error(c, ev, UA_PE_CONNECT, 0);
    if (h->flags & UA_F_CHUNKED) {
        ua_chunked_reset(&c->chunked, c->set->max_body);
        c->state = H1_BODY_CHUNKED;
    } else {
        if (c->set->max_body && h->content_length > 0 && (uint64_t)h->content_length > c->set->max_body)
            return error(c, ev, UA_PE_BODY_TOO_LARGE, 0);
        c->body_left = h->content_length > 0 ? (uint64_t)h->content_length : 0;
        c->state = H1_BODY_LENGTH;
    }
    c->expect = (h->flags & UA_F_EXPECT_CONTINUE) && (h->flags & UA_F_HAS_BODY) ? 1 : 0;
    return emit(ev, UA_H1_HEAD, n, 0, 0);
}

int ua_h1_feed(struct ua_h1_conn *c, uint8_t *buf, size_t len, struct ua_h1_event *ev)
{
    if (buf == NULL && len > 0)
        return -EINVAL;
    size_t base = 0;
    for (;;) {
        switch (c->state) {
        case H1_HEAD: {
            int r = ua_parse_request(&c->head, buf, len, &c->set->lim);
            if (r < 0)
                return error(c, ev, c->head.error, 0);
            if (r == 0)
                return emit(ev, UA_H1_MORE, 0, 0, 0);
            return on_head(c, ev, (size_t)r);
        }
        case H1_BODY_LENGTH: {
            if (c->body_left == 0)
                return end_of_request(c, ev, 0, 0, 0);
            if (len == 0)
                return emit(ev, UA_H1_MORE, 0, 0, 0);
            size_t n = len < c->body_left ? len : (size_t)c->body_left;
            c->body_left -= n;
            return emit(ev, UA_H1_BODY, n, 0, n);
        }
        case H1_BODY_CHUNKED: {
            struct ua_chunk_out out;
            int r = ua_chunked_feed(&c->chunked, buf + base, len - base, &out);
            if (r < 0)
                return error(c, ev, c->chunked.error, base + out.consumed);
            if (r == UA_CK_DATA)
                return emit(ev, UA_H1_BODY, base + out.consumed, base + out.off, out.len);
            base += out.consumed;
            if (r == UA_CK_MORE)
                return emit(ev, UA_H1_MORE, base, 0, 0);
            c->state = H1_TRAILERS; /* UA_CK_LAST: the trailer section starts at buf[base] */
            ua_trailers_reset(&c->trailers);
            break;
        }
        case H1_TRAILERS: {
            int r = ua_parse_trailers(&c->trailers, buf + base, len - base, &c->set->lim);
            if (r < 0)
                return error(c, ev, c->trailers.error, base);
            if (r == 0)
                return emit(ev, UA_H1_MORE, base, 0, 0); /* the partial section stays unconsumed */
            return end_of_request(c, ev, base + (size_t)r, base, (size_t)r);
        }
        case H1_ERROR:
            emit(ev, UA_H1_ERROR, 0, 0, 0);
            ev->status = c->error_status;
            return UA_H1_ERROR;
        case H1_UPGRADED:
            return emit(ev, UA_H1_UPGRADED, 0, 0, 0);
        default: /* DONE, CLOSED */
            return emit(ev, UA_H1_PAUSED, 0, 0, 0);
        }
    }
}

int ua_h1_want_continue(struct ua_h1_conn *c)
{
    if (c->expect != 1 || c->resp != R_IDLE || (c->state != H1_BODY_LENGTH && c->state != H1_BODY_CHUNKED))
        return 0;
    c->expect = 2;
    return 1;
}

/* ---------------------------------------------------------------- response side */

static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

int ua_h1_continue_line(char *out, size_t cap)
{
    if (cap < sizeof CONTINUE - 1)
        return -ENOSPC;
    memcpy(out, CONTINUE, sizeof CONTINUE - 1);
    return (int)(sizeof CONTINUE - 1);
}

/* The reason phrases of the IANA status registry (RFC 9110's names), the codes Python's http.HTTPStatus
 * knows; any other code gets an empty phrase, which RFC 9112 4 allows. */
static const char *reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a Teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

/* A bounded writer: every put checks room; one failed put makes the whole write -ENOSPC. */
struct wr {
    char *p, *end;
    int full;
};

static void put(struct wr *w, const void *s, size_t n)
{
    if (w->full || (size_t)(w->end - w->p) < n) {
        w->full = 1;
        return;
    }
    memcpy(w->p, s, n);
    w->p += n;
}

static void puts_(struct wr *w, const char *s) { put(w, s, strlen(s)); }

static void put_u64(struct wr *w, uint64_t v, int base)
{
    char tmp[24];
    int i = sizeof tmp;
    do {
        tmp[--i] = "0123456789abcdef"[v % (uint64_t)base];
        v /= (uint64_t)base;
    } while (v);
    put(w, tmp + i, sizeof tmp - (size_t)i);
}

/* Is the element v[s..s+len) (checked value bytes, as name_is needs) the lowercase token, in any case? */
static int element_is(const char *v, size_t s, size_t len, const char *tok)
{
    return len == strlen(tok) && name_is((const uint8_t *)v + s, tok, len);
}

/* Does a comma-separated value contain the token, in any case? */
static int has_token(const char *v, size_t n, const char *tok)
{
    for (size_t i = 0, len; i < n;) {
        size_t s = ua_next_element((const uint8_t *)v, n, &i, &len);
        if (element_is(v, s, len, tok))
            return 1;
    }
    return 0;
}

struct app_headers {
    int has_date, has_server, has_te, conn_close;
    int te_chunked;      /* how many of the transfer codings are chunked */
    int te_last_chunked; /* the last coding named is chunked */
    int te_other;        /* a coding other than chunked is named */
    int drop_te;         /* the request is HTTP/1.0: transfer-encoding lines are not sent (RFC 9112 6.1) */
    int no_framing;      /* 1xx, 204: no content-length or transfer-encoding is sent (RFC 9110 8.6, 9112 6.1) */
    int64_t content_length; /* -1 absent */
};

/* One transfer-encoding line of the app's: the codings it names, in order, after those of earlier lines
 * (RFC 9110 5.3 joins repeated lines into one list). */
static void te_codings(const char *v, size_t n, struct app_headers *a)
{
    a->has_te = 1;
    for (size_t i = 0, len; i < n;) {
        size_t s = ua_next_element((const uint8_t *)v, n, &i, &len);
        if (len == 0)
            continue;
        a->te_last_chunked = element_is(v, s, len, "chunked");
        a->te_chunked += a->te_last_chunked;
        a->te_other |= !a->te_last_chunked;
    }
}

#if defined(__x86_64__)
/* The first byte from i on for which bad() sets a bit, or end (end >= 16): 16 bytes a step, the last step
 * loading the 16 that end at end, so no load leaves [0, end). */
static inline size_t first_bad16(const char *b, size_t i, size_t end, unsigned (*bad)(__m128i))
{
    for (;;) {
        size_t at = i + 16 <= end ? i : end - 16;
        unsigned m = bad(_mm_loadu_si128((const __m128i *)(b + at))) >> (i - at);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i = at + 16;
        if (i >= end)
            return end;
    }
}

/* A bit for each byte that is not a letter, a digit or '-': what names an app sends are nearly always made
 * of. OR 0x20 folds the case of letters, and only of letters, into 'a'..'z'; the compares are signed, so no
 * byte >= 0x80 is in a range. */
static inline unsigned name_other16(__m128i v)
{
    __m128i f = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i letter =
        _mm_and_si128(_mm_cmpgt_epi8(f, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(f, _mm_set1_epi8('z' + 1)));
    __m128i digit =
        _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    __m128i ok = _mm_or_si128(_mm_or_si128(letter, digit), _mm_cmpeq_epi8(v, _mm_set1_epi8('-')));
    return ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
}
#endif

/* The length of the token at b[i..end): its tchar bytes up to the first other one. On x86-64 SSE2 (part of
 * its baseline) passes the usual letters, digits and '-' 16 at a time; the table goes on from the first
 * byte outside them. */
static size_t name_len(const char *b, size_t i, size_t end)
{
    size_t s = i;
#if defined(__x86_64__)
    if (end >= 16)
        i = first_bad16(b, i, end, name_other16);
#endif
    while (i < end && ua_tchar[(unsigned char)b[i]])
        i++;
    return i - s;
}

/* The length of the field value at b[i..end): VCHAR, obs-text, SP and HTAB bytes up to the first other one
 * (the NUL after it, in a well-formed block), 16 at a time on x86-64. */
static size_t value_len(const char *b, size_t i, size_t end)
{
    size_t s = i;
#if defined(__x86_64__)
    if (end >= 16)
        return first_bad16(b, i, end, ua_value_bad16) - s;
#endif
    while (i < end && ua_value_byte((uint8_t)b[i]))
        i++;
    return i - s;
}

/* Walk "name\0value\0" x n: exactly 2n NULs in len bytes, token names, values free of CR, LF, NUL and other
 * controls (HTAB allowed). Anything else is a header injection attempt: -EINVAL. Writes "name: value\r\n",
 * which is the block with each NUL pair grown to ": " and CRLF: len + 2n bytes, so room is checked once. */
static int app_headers(struct wr *w, const char *b, size_t len, uint32_t n, struct app_headers *a)
{
    if (len == 0 || b == NULL)
        return n == 0 && len == 0 ? 0 : -EINVAL;
    if (w->full || (size_t)(w->end - w->p) < len + 2 * (size_t)n)
        w->full = 1;
    char *o = w->p;
    size_t p = 0;
    for (uint32_t i = 0; i < n; i++) {
        const char *name = b + p;
        size_t nl = name_len(b, p, len);
        p += nl;
        if (nl == 0 || p >= len || b[p])
            return -EINVAL;
        const char *val = b + ++p;
        size_t vl = value_len(b, p, len);
        p += vl;
        if (p >= len || b[p]) /* no NUL to end it, or a control byte (CR, LF, ...) inside it */
            return -EINVAL;
        p++;
        /* The length picks the one name to compare: most headers (content-type, ...) match none. */
        if (a && (nl == 14 || nl == 17 || nl == 10 || nl == 4 || nl == 6)) {
            if (nl == 14 && name_is((const uint8_t *)name, "content-length", nl)) {
                if (a->no_framing)
                    continue;
                int64_t x = 0;
                if (vl == 0 || vl > 18 || a->content_length >= 0)
                    return -EINVAL;
                for (size_t k = 0; k < vl; k++) {
                    if (val[k] < '0' || val[k] > '9')
                        return -EINVAL;
                    x = x * 10 + (val[k] - '0');
                }
                a->content_length = x;
            } else if (nl == 17 && name_is((const uint8_t *)name, "transfer-encoding", nl)) {
                if (a->no_framing)
                    continue;
                te_codings(val, vl, a);
                if (a->drop_te)
                    continue;
            } else if (nl == 10 && name_is((const uint8_t *)name, "connection", nl)) {
                a->conn_close |= has_token(val, vl, "close");
            } else if (nl == 4 && name_is((const uint8_t *)name, "date", nl)) {
                a->has_date = 1;
            } else if (nl == 6 && name_is((const uint8_t *)name, "server", nl)) {
                a->has_server = 1;
            }
        }
        if (!w->full) {
            memcpy(o, name, nl);
            o += nl;
            memcpy(o, ": ", 2);
            memcpy(o + 2, val, vl);
            o += 2 + vl;
            memcpy(o, "\r\n", 2);
            o += 2;
        }
    }
    if (p != len)
        return -EINVAL;
    if (!w->full)
        w->p = o;
    return 0;
}

static void common_headers(struct wr *w, const struct ua_h1_settings *s, int has_date, int has_server)
{
    if ((s->flags & UA_H1_SERVER_HEADER) && !has_server)
        puts_(w, "server: uringasgi\r\n");
    if ((s->flags & UA_H1_DATE_HEADER) && s->date_sec && !has_date) {
        put(w, "date: ", 6);
        put(w, s->date, s->date_len);
        put(w, "\r\n", 2);
    }
}

static void status_line(struct wr *w, int status)
{
    char sl[13] = "HTTP/1.1 ";
    sl[9] = (char)('0' + status / 100);
    sl[10] = (char)('0' + status / 10 % 10);
    sl[11] = (char)('0' + status % 10);
    sl[12] = ' ';
    put(w, sl, sizeof sl);
    puts_(w, reason(status));
    put(w, "\r\n", 2);
}

int ua_h1_respond(struct ua_h1_conn *c, int status, const char *hdrs, size_t hdrs_len, uint32_t n_hdrs,
                  int64_t body_len, const char *extra, size_t extra_len, char *out, size_t cap)
{
    if (status < 100 || status > 999 || c->resp != R_IDLE || (hdrs == NULL && hdrs_len))
        return -EINVAL;
    if (c->state == H1_HEAD || c->state == H1_ERROR || c->state == H1_UPGRADED || c->state == H1_CLOSED)
        return -EINVAL; /* no request to answer (errors go through ua_h1_respond_error) */
    if (status == 101 && !c->upgrade)
        return -EINVAL;
    struct wr w = {out, out + cap, 0};
    struct app_headers a = {
        .drop_te = c->req_minor == 0, .no_framing = status < 200 || status == 204, .content_length = -1};
    status_line(&w, status);
    int r = app_headers(&w, hdrs, hdrs_len, n_hdrs, &a);
    if (r < 0)
        return r;
    common_headers(&w, c->set, a.has_date, a.has_server);
    if (a.content_length >= 0 && a.has_te)
        return -EINVAL; /* a response must not carry both (RFC 9112 6.3) */
    /* Chunked is applied once, and last (RFC 9112 6.1): else the client could not find the body's end. An
     * HTTP/1.0 client gets no transfer-encoding at all, so there only chunked, which the framing below
     * replaces, may be named. */
    if (a.has_te && (a.te_chunked != 1 || !a.te_last_chunked || (a.drop_te && a.te_other)))
        return -EINVAL;
    if (a.drop_te)
        a.has_te = 0;

    int informational = status < 200;
    int framing;
    int close = c->must_close || a.conn_close;
    if (informational || status == 204 || status == 304 || c->req_method == UA_M_HEAD) {
        framing = UA_H1_FRAME_NONE;
    } else if (a.content_length >= 0) {
        framing = UA_H1_FRAME_LENGTH;
        c->resp_length = a.content_length;
    } else if (a.has_te) {
        framing = UA_H1_FRAME_CHUNKED;
    } else if (body_len >= 0) {
        framing = UA_H1_FRAME_LENGTH;
        c->resp_length = body_len;
        put(&w, "content-length: ", 16);
        put_u64(&w, (uint64_t)body_len, 10);
        put(&w, "\r\n", 2);
    } else if (c->req_minor >= 1) {
        framing = UA_H1_FRAME_CHUNKED;
        puts_(&w, "transfer-encoding: chunked\r\n");
    } else {
        framing = UA_H1_FRAME_CLOSE;
        close = 1;
    }
    /* the client may still be holding its body back for a 100 Continue it will never get */
    if (!informational && c->expect == 1 && (c->state == H1_BODY_LENGTH || c->state == H1_BODY_CHUNKED))
        close = 1;
    if (!informational) {
        if (close && !a.conn_close)
            puts_(&w, "connection: close\r\n");
        else if (!close && c->req_minor == 0)
            puts_(&w, "connection: keep-alive\r\n");
    }
    if (extra && extra_len)
        put(&w, extra, extra_len);
    put(&w, "\r\n", 2);
    if (w.full)
        return -ENOSPC;
    if (!informational) {
        c->resp = R_SENT;
        c->resp_framing = (uint8_t)framing;
        c->must_close = (uint8_t)close;
    } else if (status == 101) {
        c->resp = R_SENT;
        c->state = H1_UPGRADED;
    }
    return (int)(w.p - out);
}

int ua_h1_respond_error(struct ua_h1_conn *c, int status, char *out, size_t cap)
{
    if (status == 0)
        status = c->error_status ? c->error_status : 500;
    if (status < 400 || status > 599 || c->resp != R_IDLE)
        return -EINVAL;
    const char *text = reason(status);
    size_t tl = strlen(text);
    int head_only = c->req_method == UA_M_HEAD && c->state != H1_ERROR;
    struct wr w = {out, out + cap, 0};
    status_line(&w, status);
    common_headers(&w, c->set, 0, 0);
    puts_(&w, "content-type: text/plain; charset=utf-8\r\ncontent-length: ");
    put_u64(&w, tl, 10);
    puts_(&w, "\r\nconnection: close\r\n\r\n");
    if (!head_only)
        put(&w, text, tl);
    if (w.full)
        return -ENOSPC;
    c->resp = R_SENT;
    c->resp_framing = UA_H1_FRAME_LENGTH;
    c->resp_length = (int64_t)tl;
    c->must_close = 1;
    return (int)(w.p - out);
}

int ua_h1_chunk_prefix(char *out, size_t cap, uint64_t size)
{
    if (size == 0)
        return -EINVAL; /* a zero-size chunk would end the body (RFC 9112 7.1) */
    struct wr w = {out, out + cap, 0};
    put_u64(&w, size, 16);
    put(&w, "\r\n", 2);
    return w.full ? -ENOSPC : (int)(w.p - out);
}

int ua_h1_chunk_last(char *out, size_t cap, const char *trailers, size_t len, uint32_t n)
{
    struct wr w = {out, out + cap, 0};
    put(&w, "0\r\n", 3);
    if (n || len) {
        int r = app_headers(&w, trailers, len, n, NULL);
        if (r < 0)
            return r;
    }
    put(&w, "\r\n", 2);
    return w.full ? -ENOSPC : (int)(w.p - out);
}

int ua_h1_response_done(struct ua_h1_conn *c)
{
    if (c->resp != R_SENT)
        return -EINVAL;
    if (c->state == H1_UPGRADED)
        return 1; /* the new protocol owns the connection; HTTP/1 is over either way */
    if (c->state == H1_DONE) {
        if (c->must_close) {
            c->state = H1_CLOSED;
            c->resp = R_DONE;
            return 1;
        }
        next_request(c);
        return 0;
    }
    c->resp = R_DONE;
    return c->must_close || c->state == H1_ERROR ? 1 : 0;
}
