/* libFuzzer target for the HTTP/1.1 parser and the h1 state machine, built with ASan and UBSan by run.sh.
 *
 * Input: one options byte, then the bytes a client sends. Options: bits 0-1 the SIMD level, bits 2-3 a limits
 * preset, bits 4-7 the split pattern of the second feed.
 *
 * Invariants (abort() on violation, besides ASan/UBSan reports):
 *   - every call returns a known event, consumes no more than it was given, and its spans lie inside the buffer
 *     (each call gets an exact-size heap copy, so a read past the end is an ASan report);
 *   - the same bytes fed whole and fed in pieces give the same transcript (heads, body bytes, trailers, error);
 *   - the scalar path and the chosen SIMD path give the same transcript;
 *   - the response writer and the response-head parser never fail other than with their documented codes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h1.h"
#include "parser.h"

struct transcript {
    uint8_t *p;
    size_t len, cap;
};

static void tput(struct transcript *t, const void *s, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2 + 64;
        t->p = realloc(t->p, t->cap);
        if (!t->p)
            abort();
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "invariant broken: %s\n", what);
        abort();
    }
}

static void span(struct transcript *t, const uint8_t *buf, size_t len, struct ua_span s)
{
    check((size_t)s.off + s.len <= len, "span inside the head");
    tput(t, &s.len, sizeof s.len);
    tput(t, buf + s.off, s.len);
}

static void record_head(struct transcript *t, const struct ua_head *h, const uint8_t *buf, size_t head_len)
{
    tput(t, "H", 1);
    span(t, buf, head_len, h->method);
    span(t, buf, head_len, h->target);
    span(t, buf, head_len, h->path);
    span(t, buf, head_len, h->query);
    tput(t, &h->flags, sizeof h->flags);
    tput(t, &h->content_length, sizeof h->content_length);
    tput(t, &h->minor, 1);
    check(h->n_headers <= UA_MAX_HEADERS, "header count");
    for (unsigned i = 0; i < h->n_headers; i++) {
        const struct ua_header *x = &h->headers[i];
        check((size_t)x->name_off + x->name_len <= head_len, "name inside the head");
        check((size_t)x->value_off + x->value_len <= head_len, "value inside the head");
        check(x->name_len > 0, "names are not empty");
        for (unsigned k = 0; k < x->name_len; k++)
            check(buf[x->name_off + k] < 'A' || buf[x->name_off + k] > 'Z', "names are lowercase");
        tput(t, buf + x->name_off, x->name_len);
        tput(t, ":", 1);
        tput(t, buf + x->value_off, x->value_len);
        tput(t, "\n", 1);
    }
    for (unsigned i = 0; i < UA_HK_COUNT; i++)
        check(h->known[i] == UA_HK_ABSENT || h->known[i] < h->n_headers, "known index points at a header");
    tput(t, h->known, UA_HK_COUNT); /* the index too must not depend on the SIMD path or the split */
}

/* Feed `data` in pieces given by the split pattern (0 = whole), answering each request, into a transcript. */
static void drive(const uint8_t *data, size_t size, const struct ua_h1_settings *s, unsigned split,
                  struct transcript *t)
{
    static struct ua_h1_conn c;
    struct ua_h1_event ev;
    char out[1024];
    ua_h1_init(&c, s);
    uint8_t *pending = malloc(size + 1);
    size_t plen = 0, given = 0;
    int closed = 0;
    unsigned step = 0;
    if (!pending)
        abort();
    while (given < size && !closed) {
        size_t piece = split == 0 ? size : 1 + (split * 7 + step++ * 13) % (split + 3);
        if (piece > size - given)
            piece = size - given;
        memcpy(pending + plen, data + given, piece);
        plen += piece;
        given += piece;
        for (;;) {
            uint8_t *buf = malloc(plen ? plen : 1); /* exact size: ASan sees any read past plen */
            if (!buf)
                abort();
            memcpy(buf, pending, plen);
            int r = ua_h1_feed(&c, buf, plen, &ev);
            memcpy(pending, buf, plen); /* names were lowercased in place */
            check(r >= 0 && r <= UA_H1_UPGRADED && (uint32_t)r == ev.type, "event type");
            check(ev.consumed <= plen, "consumed within the buffer");
            if (r == UA_H1_HEAD) {
                check(ev.consumed == c.head.head_len, "head event consumes the head");
                record_head(t, &c.head, buf, ev.consumed);
            } else if (r == UA_H1_BODY) {
                check(ev.len > 0 && ev.off + ev.len <= ev.consumed, "body span inside what was consumed");
                tput(t, buf + ev.off, ev.len); /* pieces concatenate: splits do not show */
            } else if (r == UA_H1_END) {
                check(ev.off + ev.len <= ev.consumed, "trailer span inside what was consumed");
                tput(t, "E", 1);
                for (unsigned i = 0; i < c.trailers.n; i++) {
                    const struct ua_header *x = &c.trailers.fields[i];
                    check((size_t)x->value_off + x->value_len <= ev.len, "trailer inside the section");
                    tput(t, buf + ev.off + x->name_off, x->name_len);
                    tput(t, buf + ev.off + x->value_off, x->value_len);
                }
            } else if (r == UA_H1_ERROR) {
                check(ev.status == 400 || ev.status == 413 || ev.status == 414 || ev.status == 431 ||
                          ev.status == 501 || ev.status == 505,
                      "error status");
                tput(t, "X", 1);
                tput(t, &ev.status, sizeof ev.status);
                int n = ua_h1_respond_error(&c, 0, out, sizeof out);
                check(n > 0, "error response fits");
                closed = 1;
            } else if (r == UA_H1_UPGRADED) {
                closed = 1;
            }
            free(buf);
            memmove(pending, pending + ev.consumed, plen - ev.consumed);
            plen -= ev.consumed;
            if (r == UA_H1_PAUSED) {
                int upgrade = c.upgrade;
                int n = ua_h1_respond(&c, upgrade ? 101 : 200, NULL, 0, 0, upgrade ? -1 : 0, NULL, 0, out,
                                      sizeof out);
                check(n > 0, "response head fits");
                if (upgrade) {
                    tput(t, "U", 1);
                    closed = 1;
                    break;
                }
                if (ua_h1_response_done(&c) == 1) {
                    tput(t, "C", 1);
                    closed = 1;
                    break;
                }
                continue;
            }
            if (r == UA_H1_MORE || closed)
                break;
        }
    }
    free(pending);
}

static int same(const struct transcript *a, const struct transcript *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void other_entry_points(const uint8_t *data, size_t size)
{
    struct ua_parse_limits lim = {0, 0, 0, 0};
    static struct ua_head h;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    ua_parse_reset(&h);
    int r = ua_parse_response(&h, buf, size, &lim);
    check(r == -EBADMSG || (r >= 0 && (size_t)r <= size), "response head result");

    struct ua_chunked ck;
    struct ua_chunk_out o;
    ua_chunked_reset(&ck, 1 << 20);
    size_t at = 0;
    for (;;) {
        r = ua_chunked_feed(&ck, buf + at, size - at, &o);
        check(o.consumed <= size - at && o.off + o.len <= o.consumed, "chunk spans");
        at += o.consumed;
        if (r != UA_CK_DATA)
            break;
    }

    /* the app-headers blob: anything, with n from the first byte */
    static struct ua_h1_settings s;
    static struct ua_h1_conn c;
    struct ua_h1_event ev;
    char out[512];
    ua_h1_settings_init(&s, 0, 0, 0, 0, UA_H1_SERVER_HEADER | UA_H1_DATE_HEADER);
    ua_h1_tick(&s, (int64_t)size * 86400 * 37);
    ua_h1_init(&c, &s);
    uint8_t req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ua_h1_feed(&c, req, sizeof req - 1, &ev);
    ua_h1_feed(&c, req, 0, &ev);
    uint32_t n = size ? data[0] % 8 : 0;
    r = ua_h1_respond(&c, 200, (const char *)buf, size, n, -1, NULL, 0, out, sizeof out);
    check(r == -EINVAL || r == -ENOSPC || (r > 0 && (size_t)r <= sizeof out), "respond result");
    if (r > 0)
        for (int i = 0; i + 4 < r; i++)
            check(!(out[i] == '\r' && out[i + 1] == '\n' && out[i + 2] == '\r'), "no early end of head");
    r = ua_h1_chunk_last(out, sizeof out, (const char *)buf, size, n);
    check(r == -EINVAL || r == -ENOSPC || r > 0, "chunk_last result");
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opt = data[0];
    data++;
    size--;
    int level = opt & 3;
    if (level == 3)
        level = UA_SIMD_AVX2;
    static const uint32_t presets[4][4] = {
        /* max_head, max_headers, max_target, max_body */
        {0, 0, 0, 0},
        {256, 8, 64, 100},
        {64, 2, 16, 3},
        {8192, 64, 1024, 1 << 20},
    };
    const uint32_t *p = presets[(opt >> 2) & 3];
    static struct ua_h1_settings s;
    ua_h1_settings_init(&s, p[0], p[1], p[2], p[3], 0);

    struct transcript whole = {0}, pieces = {0}, scalar = {0};
    if (ua_simd_set(level) != 0)
        ua_simd_set(UA_SIMD_SCALAR);
    drive(data, size, &s, 0, &whole);
    drive(data, size, &s, (opt >> 4) + 1, &pieces);
    check(same(&whole, &pieces), "whole and split feeds agree");
    ua_simd_set(UA_SIMD_SCALAR);
    drive(data, size, &s, 0, &scalar);
    check(same(&whole, &scalar), "SIMD and scalar agree");
    free(whole.p);
    free(pieces.p);
    free(scalar.p);
    other_entry_points(data, size);
    return 0;
}
