/* HTTP/1.1 head parser, chunked decoder and trailer parser (RFC 9112). See parser.h for the API.
 *
 * Rules (each rejection has its own UA_PE_* code; ua_parse_status() maps it to the status to send):
 *   request-line  = method SP request-target SP HTTP-version CRLF     (RFC 9112 3), single SP only
 *   empty lines (CRLF) before the request-line are skipped            (RFC 9112 2.2)
 *   method        = token; request-target = bytes 0x21..0x7E          (RFC 9112 3.2; raw UTF-8 is 400)
 *   target forms  : origin ("/..."), absolute ("scheme://..."), "*" for OPTIONS, authority for CONNECT
 *   HTTP-version  = "HTTP/" DIGIT "." DIGIT; 1.0 and 1.1 are served, a later 1.x as 1.1 (RFC 9110 2.5),
 *                   another major version is 505
 *   field-line    = token ":" OWS value OWS CRLF; no whitespace before ":" (RFC 9112 5.1), no obs-fold
 *                   (5.2), value bytes HTAB / SP..~ / 0x80..0xFF, anything else (NUL, CTL, bare CR/LF) 400
 *   Content-Length: 1*DIGIT without overflow; repeated only with the same value (RFC 9110 8.6)
 *   Transfer-Encoding: "chunked" once, and last, else 400 (RFC 9112 6.3 item 4: the length is unknowable);
 *                   chunked last after a coding we do not implement is 501 (6.1); with Content-Length, or
 *                   on HTTP/1.0, it is 400 (RFC 9112 6.1, 6.3: smuggling)
 *   Host          : exactly one on HTTP/1.1, at most one on 1.0 (RFC 9112 3.2)
 *   limits        : head bytes and field count 431, target length 414 (checked before the line ends)
 *
 * Incremental: the head remembers the line it is in (pos), the part of the line (sub) and the first byte not
 * yet looked at (scan). A call goes on from there, so no byte already accepted is scanned again (only a CR
 * waiting for its LF, and the at most 10 bytes of an incomplete HTTP-version). Every check depends only on the
 * bytes, in order, so a head fed whole or byte by byte gives the same result. Only the first max_head bytes are
 * ever looked at.
 *
 * SIMD: the three byte classes (token, target, field value) are scanned 32 (AVX2), 16 (SSE4.2) or 1 byte at a
 * time. The parse loop is written once and inlined into one function per level with the level a constant, so
 * the level is dispatched once per call. Vector loads stay inside [buf, buf+len).
 *
 * Fast path: the vector levels first try a fresh request head whole, in its common shape, straight through
 * with no resume state (fast_request: one function apart from the general code, the same build for both
 * levels). The head's stop bytes (CTL, DEL, 0x80..0xff) are found 64 at a time, once, into a bitmap whose set
 * bits are the line ends: the first one ends the request-line, so its target is only checked for SP and '#',
 * and each field line's CR proves its value clean. The usual methods are told by one word compare each; Host
 * as the first field line, where user agents send it, by one word before the loop; other names are found by
 * their colon, matched to the known-header index (a multiplicative hash and one compare) and lowercased with
 * one vector each. Any line of another shape, an error included, is read again from its first
 * byte by the general code below, which alone decides errors; the scalar level has no fast path, so the fuzz
 * target's scalar-vs-SIMD comparison and the tests check one against the other.
 */
#include "parser.h"
#include "bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define UA_X86 1
#else
#define UA_X86 0
#endif

#define AINLINE static inline __attribute__((always_inline))

/* ---------------------------------------------------------------- byte classes */

/* tchar (RFC 9110 5.6.2); h1.c checks the app's header names with it too */
const uint8_t ua_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1,
    ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* VCHAR but '#': a fragment is the client's business, never part of a request-target (RFC 9112 3.2, RFC 3986
 * 3.5), and a target that carries one is refused rather than guessed at. */
static inline int is_target_byte(uint8_t c) { return c > 0x20 && c < 0x7f && c != '#'; }
static inline uint8_t lower(uint8_t c) { return (uint8_t)(c >= 'A' && c <= 'Z' ? c | 0x20 : c); }

/* Token membership by nibbles: byte b is a tchar iff TOK_LO[b & 15] has bit (b >> 4) set; high nibbles 8..15
 * map to no bit, so bytes >= 0x80 are never tokens. Two table lookups (pshufb) classify a whole vector. */
#define TOK_LO_BYTES \
    0xe8, 0xfc, 0xf8, 0xfc, 0xfc, 0xfc, 0xfc, 0xfc, 0xf8, 0xf8, 0xf4, 0x54, 0xd0, 0x54, 0xf4, 0x70
#define TOK_HI_BYTES 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0

/* Each scanner returns how many leading bytes of p[0..n) are in its class. They only read: a name is
 * lowercased once its whole line is accepted (lower_name), so no store lands in bytes a later vector load of
 * the same line reads again (that would stall store-to-load forwarding). */

static inline size_t scan_token_scalar(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && ua_tchar[p[i]])
        i++;
    return i;
}

static inline size_t scan_target_scalar(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && is_target_byte(p[i]))
        i++;
    return i;
}

static inline size_t scan_value_scalar(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && ua_value_byte(p[i]))
        i++;
    return i;
}

#if UA_X86
#define SSE42 __attribute__((target("sse4.2")))
#define AVX2 __attribute__((target("avx2")))

#define CLS_TOKEN 0
#define CLS_TARGET 1
#define CLS_VALUE 2

/* A bit for each of the 16 bytes that is NOT in the class (cls is a constant at every call).
 *   token : tchar by two nibble lookups (pshufb)
 *   target: bad is signed b < 0x21 (covers 0x80..0xff), b == 0x7f or b == '#'
 *   value : bad is 0x00..0x1f except HTAB, or 0x7f; 0x80..0xff (obs-text) is allowed */
SSE42 static inline unsigned bad16(int cls, __m128i v)
{
    __m128i bad;
    if (cls == CLS_TOKEN) {
        const __m128i nib = _mm_set1_epi8(0x0f);
        __m128i a = _mm_shuffle_epi8(_mm_setr_epi8(TOK_LO_BYTES), _mm_and_si128(v, nib));
        __m128i b = _mm_shuffle_epi8(_mm_setr_epi8(TOK_HI_BYTES), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
        bad = _mm_cmpeq_epi8(_mm_and_si128(a, b), _mm_setzero_si128());
    } else if (cls == CLS_TARGET) {
        bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x21)),
                           _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)), _mm_cmpeq_epi8(v, _mm_set1_epi8('#'))));
    } else {
        return ua_value_bad16(v);
    }
    return (unsigned)_mm_movemask_epi8(bad);
}

AVX2 static inline unsigned bad32(int cls, __m256i v)
{
    __m256i bad;
    if (cls == CLS_TOKEN) {
        const __m256i nib = _mm256_set1_epi8(0x0f);
        __m256i a = _mm256_shuffle_epi8(_mm256_setr_epi8(TOK_LO_BYTES, TOK_LO_BYTES), _mm256_and_si256(v, nib));
        __m256i b = _mm256_shuffle_epi8(_mm256_setr_epi8(TOK_HI_BYTES, TOK_HI_BYTES),
                                        _mm256_and_si256(_mm256_srli_epi16(v, 4), nib));
        bad = _mm256_cmpeq_epi8(_mm256_and_si256(a, b), _mm256_setzero_si256());
    } else if (cls == CLS_TARGET) {
        bad = _mm256_or_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(0x21), v),
                              _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7f)),
                                              _mm256_cmpeq_epi8(v, _mm256_set1_epi8('#'))));
    } else {
        __m256i ctl = _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
                                       _mm256_cmpgt_epi8(v, _mm256_set1_epi8(-1)));
        ctl = _mm256_andnot_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\t')), ctl);
        bad = _mm256_or_si256(ctl, _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7f)));
    }
    return (unsigned)_mm256_movemask_epi8(bad);
}

SSE42 static inline size_t scan_sse42(int cls, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        unsigned m = bad16(cls, _mm_loadu_si128((const __m128i *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    return i + (cls == CLS_TOKEN    ? scan_token_scalar(p + i, n - i)
                : cls == CLS_TARGET ? scan_target_scalar(p + i, n - i)
                                    : scan_value_scalar(p + i, n - i));
}

AVX2 static inline size_t scan_avx2(int cls, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        unsigned m = bad32(cls, _mm256_loadu_si256((const __m256i *)(p + i)));
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
    return i + scan_sse42(cls, p + i, n - i);
}

/* The first byte of [s, end) outside the class, or end; for the vector levels only (cls is a constant at
 * every call). No scalar tail: when fewer than 16 bytes are left, the 16 bytes that end at `end` are
 * classified and the bits before s shifted out, so every load stays inside [buf, buf + end) (the caller makes
 * sure end >= 16). 16-byte loads on the AVX2 level too: on the development machine (AMD EPYC), 32-byte loads
 * here made the medium and large benchmark heads up to twice as slow, and the speed of the AVX2 build swung
 * from run to run; most fields end inside the first 16 bytes anyway. */
AINLINE size_t find_bad(int cls, const uint8_t *buf, size_t s, size_t end)
{
    unsigned m;
    for (; s + 16 <= end; s += 16) {
        m = bad16(cls, _mm_loadu_si128((const __m128i *)(buf + s)));
        if (m)
            return s + (size_t)__builtin_ctz(m);
    }
    if (s >= end)
        return end;
    m = bad16(cls, _mm_loadu_si128((const __m128i *)(buf + end - 16))) >> (16 - (end - s));
    return m ? s + (size_t)__builtin_ctz(m) : end;
}
#endif

/* The level is a constant at every call site below, so each of these folds to one scanner. */
AINLINE size_t scan_token(int lvl, const uint8_t *p, size_t n)
{
#if UA_X86
    if (lvl == UA_SIMD_AVX2)
        return scan_avx2(CLS_TOKEN, p, n);
    if (lvl == UA_SIMD_SSE42)
        return scan_sse42(CLS_TOKEN, p, n);
#endif
    (void)lvl;
    return scan_token_scalar(p, n);
}

AINLINE size_t scan_target(int lvl, const uint8_t *p, size_t n)
{
#if UA_X86
    if (lvl == UA_SIMD_AVX2)
        return scan_avx2(CLS_TARGET, p, n);
    if (lvl == UA_SIMD_SSE42)
        return scan_sse42(CLS_TARGET, p, n);
#endif
    (void)lvl;
    return scan_target_scalar(p, n);
}

AINLINE size_t scan_value(int lvl, const uint8_t *p, size_t n)
{
#if UA_X86
    if (lvl == UA_SIMD_AVX2)
        return scan_avx2(CLS_VALUE, p, n);
    if (lvl == UA_SIMD_SSE42)
        return scan_sse42(CLS_VALUE, p, n);
#endif
    (void)lvl;
    return scan_value_scalar(p, n);
}

/* ---------------------------------------------------------------- small helpers */

#define CRLF16 0x0a0d /* "\r\n" read by ld16 on little-endian x86 */

/* A token (connection option, transfer coding, expectation) equal to a literal, ignoring case. */
#define IEQ(p, n, lit) ((n) == sizeof(lit) - 1 && name_is(p, lit, sizeof(lit) - 1))

/* The known-header id of a field name (any case), or -1. */
static int known_id(const uint8_t *p, size_t n)
{
#define K(lit, id) \
    if (name_is(p, lit, sizeof(lit) - 1)) \
        return id;
    switch (n) {
    case 2:
        K("te", UA_HK_TE) break;
    case 4:
        K("host", UA_HK_HOST) break;
    case 5:
        K("range", UA_HK_RANGE) break;
    case 6:
        K("accept", UA_HK_ACCEPT) K("cookie", UA_HK_COOKIE) K("expect", UA_HK_EXPECT) K("origin", UA_HK_ORIGIN) break;
    case 7:
        K("upgrade", UA_HK_UPGRADE) K("referer", UA_HK_REFERER) K("trailer", UA_HK_TRAILER) break;
    case 8:
        K("if-range", UA_HK_IF_RANGE) K("if-match", UA_HK_IF_MATCH) break;
    case 9:
        K("forwarded", UA_HK_FORWARDED) K("x-real-ip", UA_HK_X_REAL_IP) break;
    case 10:
        K("connection", UA_HK_CONNECTION) K("user-agent", UA_HK_USER_AGENT) K("keep-alive", UA_HK_KEEP_ALIVE) break;
    case 12:
        K("content-type", UA_HK_CONTENT_TYPE) break;
    case 13:
        K("authorization", UA_HK_AUTHORIZATION) K("if-none-match", UA_HK_IF_NONE_MATCH)
        K("cache-control", UA_HK_CACHE_CONTROL) break;
    case 14:
        K("content-length", UA_HK_CONTENT_LENGTH) break;
    case 15:
        K("accept-encoding", UA_HK_ACCEPT_ENCODING) K("x-forwarded-for", UA_HK_X_FORWARDED_FOR)
        K("accept-language", UA_HK_ACCEPT_LANGUAGE) break;
    case 16:
        K("content-encoding", UA_HK_CONTENT_ENCODING) break;
    case 17:
        K("transfer-encoding", UA_HK_TRANSFER_ENCODING) K("if-modified-since", UA_HK_IF_MODIFIED_SINCE)
        K("x-forwarded-proto", UA_HK_X_FORWARDED_PROTO) K("sec-websocket-key", UA_HK_SEC_WEBSOCKET_KEY) break;
    case 19:
        K("if-unmodified-since", UA_HK_IF_UNMODIFIED_SINCE) break;
    case 21:
        K("sec-websocket-version", UA_HK_SEC_WEBSOCKET_VERSION) break;
    case 22:
        K("sec-websocket-protocol", UA_HK_SEC_WEBSOCKET_PROTOCOL) break;
    case 24:
        K("sec-websocket-extensions", UA_HK_SEC_WEBSOCKET_EXTENSIONS) break;
    default:
        break;
    }
#undef K
    return -1;
}

static int method_id(const uint8_t *p, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(p, "GET", 3) == 0)
            return UA_M_GET;
        if (memcmp(p, "PUT", 3) == 0)
            return UA_M_PUT;
        break;
    case 4:
        if (memcmp(p, "POST", 4) == 0)
            return UA_M_POST;
        if (memcmp(p, "HEAD", 4) == 0)
            return UA_M_HEAD;
        break;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0)
            return UA_M_PATCH;
        if (memcmp(p, "TRACE", 5) == 0)
            return UA_M_TRACE;
        break;
    case 6:
        if (memcmp(p, "DELETE", 6) == 0)
            return UA_M_DELETE;
        break;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0)
            return UA_M_OPTIONS;
        if (memcmp(p, "CONNECT", 7) == 0)
            return UA_M_CONNECT;
        break;
    default:
        break;
    }
    return UA_M_OTHER;
}

/* Walk a comma-separated list (RFC 9110 5.6.1), calling back with each non-empty trimmed element. */
typedef int (*elem_fn)(struct ua_head *h, const uint8_t *p, size_t n, void *arg);

static int each_elem(struct ua_head *h, const uint8_t *p, size_t n, elem_fn fn, void *arg)
{
    for (size_t i = 0, len; i < n;) {
        size_t s = ua_next_element(p, n, &i, &len);
        int r = len ? fn(h, p + s, len, arg) : 0;
        if (r)
            return r;
    }
    return 0;
}

static int conn_elem(struct ua_head *h, const uint8_t *p, size_t n, void *arg)
{
    (void)arg;
    if (IEQ(p, n, "close"))
        h->flags |= UA_F_CONN_CLOSE;
    else if (IEQ(p, n, "keep-alive"))
        h->flags |= UA_F_CONN_KEEP_ALIVE;
    else if (IEQ(p, n, "upgrade"))
        h->flags |= UA_F_UPGRADE; /* provisional: kept only with an Upgrade header on 1.1, see finish() */
    return 0;
}

/* Transfer codings, in order (RFC 9112 6.1): chunked at most once. A request whose codings do not end in
 * chunked is 400 (6.3 item 4); one that does but names another coding before it is 501, since we implement
 * no other (6.1). A response (proxy) is only told whether it ends in chunked. */
#define TE_LAST_CHUNKED 1
#define TE_OTHER 2
#define TE_CHUNKED_SEEN 4

static int te_elem(struct ua_head *h, const uint8_t *p, size_t n, void *arg)
{
    int *state = arg;
    (void)h;
    if (IEQ(p, n, "chunked")) {
        if (*state & TE_CHUNKED_SEEN)
            return UA_PE_TE_INVALID; /* chunked applied twice */
        *state |= TE_CHUNKED_SEEN | TE_LAST_CHUNKED;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!ua_tchar[p[i]] && p[i] != ';' && p[i] != '=' && p[i] != ' ' && p[i] != '\t' && p[i] != '"')
            return UA_PE_TE_INVALID;
    *state = (*state | TE_OTHER) & ~TE_LAST_CHUNKED;
    return 0;
}

/* Per-parse scratch kept in the head between calls: the TE state lives in the flags' high bits. */
#define PH_START 0
#define PH_FIELDS 1
#define F_TE_SHIFT 16                /* TE_* state of the codings listed so far */
#define F_TE_MASK (7u << F_TE_SHIFT)
#define F_SEEN_UPGRADE_HDR (1u << 19)
#define F_HOST_TWICE (1u << 20)
#define F_PRIVATE (F_TE_MASK | F_SEEN_UPGRADE_HDR | F_HOST_TWICE)

/* Bytes a Host value may not hold: whitespace, and what would end or change the authority (RFC 3986 3.2). */
static const uint8_t NOT_IN_HOST[256] = {
    [' '] = 1, ['\t'] = 1, ['/'] = 1, ['\\'] = 1, ['?'] = 1, ['#'] = 1, ['@'] = 1,
};

static inline int host_chars_bad(const uint8_t *v, size_t n)
{
    uint8_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= NOT_IN_HOST[v[i]];
    return bad;
}

#if UA_X86
/* NOT_IN_HOST by nibbles, as the token class: b is one of them iff HOST_LO[b & 15] & HOST_HI[b >> 4] */
#define HOST_LO_BYTES 0x0a, 0, 0, 0x02, 0, 0, 0, 0, 0, 0x01, 0, 0, 0x10, 0, 0, 0x06
#define HOST_HI_BYTES 0x01, 0, 0x02, 0x04, 0x08, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

/* Bit i: byte i of the 16 is one NOT_IN_HOST names. */
SSE42 static inline unsigned host_hits16(__m128i v)
{
    const __m128i nib = _mm_set1_epi8(0x0f);
    __m128i a = _mm_shuffle_epi8(_mm_setr_epi8(HOST_LO_BYTES), _mm_and_si128(v, nib));
    __m128i b = _mm_shuffle_epi8(_mm_setr_epi8(HOST_HI_BYTES), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
    return 0xffffu ^ (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(a, b), _mm_setzero_si128()));
}

/* The Host value [s, s + n) of a complete line: 1 if it has a byte NOT_IN_HOST names. Up to 32 bytes, by
 * the 16 that end at its end and, past 16, the 16 it starts with; every load inside the line. */
SSE42 static inline int host_bad(const uint8_t *buf, size_t s, size_t n)
{
    if (n > 32 || s + n < 16)
        return host_chars_bad(buf + s, n);
    unsigned last = host_hits16(_mm_loadu_si128((const __m128i *)(buf + s + n - 16)));
    if (n <= 16)
        return (last >> (16 - n)) != 0;
    return (last | host_hits16(_mm_loadu_si128((const __m128i *)(buf + s)))) != 0;
}
#endif

static int field_semantics(struct ua_head *h, int id, const uint8_t *v, size_t n, int is_request)
{
    switch (id) {
    case UA_HK_CONTENT_LENGTH: {
        if (n == 0)
            return UA_PE_CL_INVALID;
        size_t i = 0;
        while (i + 1 < n && v[i] == '0') /* leading zeros are allowed and do not count */
            i++;
        if (n - i > 18) /* 10^18 - 1 fits in int64: no overflow check per digit */
            return UA_PE_CL_INVALID;
        int64_t x = 0;
        for (; i < n; i++) {
            if (v[i] < '0' || v[i] > '9')
                return UA_PE_CL_INVALID;
            x = x * 10 + (v[i] - '0');
        }
        if (h->content_length >= 0 && h->content_length != x)
            return UA_PE_CL_CONFLICT;
        h->content_length = x;
        return 0;
    }
    case UA_HK_TRANSFER_ENCODING: {
        int st = (int)((h->flags & F_TE_MASK) >> F_TE_SHIFT);
        h->flags |= UA_F_TE;
        int r = each_elem(h, v, n, te_elem, &st);
        if (r)
            return r;
        if (st == 0 && is_request)
            return UA_PE_TE_INVALID; /* no coding at all */
        h->flags = (h->flags & ~F_TE_MASK) | ((uint32_t)st << F_TE_SHIFT);
        return 0;
    }
    case UA_HK_CONNECTION:
        if (IEQ(v, n, "keep-alive")) { /* the usual whole value, as each_elem would see it */
            h->flags |= UA_F_CONN_KEEP_ALIVE;
            return 0;
        }
        return each_elem(h, v, n, conn_elem, NULL);
    case UA_HK_EXPECT:
        if (IEQ(v, n, "100-continue"))
            h->flags |= UA_F_EXPECT_CONTINUE;
        return 0;
    case UA_HK_UPGRADE:
        h->flags |= F_SEEN_UPGRADE_HDR;
        return 0;
    default: /* Host: field_known(), whose byte check runs by vector on the vector levels */
        return 0;
    }
}

/* Semantic checks once the head is complete (RFC 9112 3.2, 6.1, 6.3, 9.3). */
AINLINE int finish(struct ua_head *h, int is_request)
{
    uint32_t f = h->flags;
    if (is_request && h->minor == 1 && !(f & (UA_F_TE | F_HOST_TWICE | UA_F_UPGRADE)) &&
        h->known[UA_HK_HOST] != UA_HK_ABSENT) {
        /* the usual HTTP/1.1 request: what the general rules below come to without TE and upgrade */
        if (!(f & UA_F_CONN_CLOSE))
            f |= UA_F_KEEP_ALIVE;
        if (h->content_length > 0)
            f |= UA_F_HAS_BODY;
        h->flags = f & ~F_PRIVATE;
        return 0;
    }
    int te = (f & UA_F_TE) != 0, codings = (int)((f & F_TE_MASK) >> F_TE_SHIFT);
    if (is_request) {
        if (te && h->minor == 0)
            return UA_PE_TE_INVALID;
        if (te && !(codings & TE_LAST_CHUNKED))
            return UA_PE_TE_INVALID;
        if (te && (codings & TE_OTHER))
            return UA_PE_TE_UNSUPPORTED;
        if (te && h->content_length >= 0)
            return UA_PE_CL_AND_TE;
        if ((f & F_HOST_TWICE) || (h->minor == 1 && h->known[UA_HK_HOST] == UA_HK_ABSENT))
            return UA_PE_HOST;
    }
    if (te && (codings & TE_LAST_CHUNKED))
        f |= UA_F_CHUNKED;
    if (h->minor == 1 ? !(f & UA_F_CONN_CLOSE) : ((f & UA_F_CONN_KEEP_ALIVE) && !(f & UA_F_CONN_CLOSE)))
        f |= UA_F_KEEP_ALIVE;
    if (!(f & F_SEEN_UPGRADE_HDR) || h->minor == 0)
        f &= ~(uint32_t)UA_F_UPGRADE;
    if (h->minor == 0)
        f &= ~(uint32_t)UA_F_EXPECT_CONTINUE; /* RFC 9110 10.1.1: ignore Expect from HTTP/1.0 */
    if ((f & UA_F_CHUNKED) || h->content_length > 0)
        f |= UA_F_HAS_BODY;
    else if (!is_request && h->content_length < 0 && !(h->status < 200 || h->status == 204 || h->status == 304))
        f |= UA_F_HAS_BODY; /* read until close (RFC 9112 6.3 rule 8) */
    h->flags = f & ~F_PRIVATE;
    return 0;
}

/* ---------------------------------------------------------------- lowercasing names */

/* A-Z to a-z in 8 (or 4) bytes at once; the bytes are tchars, so below 0x80 and no carry crosses a byte. */
static inline uint64_t lower8(uint64_t x)
{
    uint64_t ge_a = x + 0x3f3f3f3f3f3f3f3full; /* bit 7 set where the byte >= 'A' */
    uint64_t gt_z = x + 0x2525252525252525ull; /* bit 7 set where the byte > 'Z' */
    return x | (((ge_a & ~gt_z) & 0x8080808080808080ull) >> 2);
}

static inline uint32_t lower4(uint32_t x)
{
    uint32_t ge_a = x + 0x3f3f3f3fu, gt_z = x + 0x25252525u;
    return x | (((ge_a & ~gt_z) & 0x80808080u) >> 2);
}

/* A name (tchars) lowercased in place with stores that cover exactly its bytes. It runs once the name's line
 * is accepted, so no later load of that line waits on these stores (store-to-load forwarding). ASGI wants
 * lowercase names. */
static inline void lower_name(uint8_t *p, size_t k)
{
    if (k >= 8 && k <= 16) {
        uint64_t a = lower8(ld64(p)), b = lower8(ld64(p + k - 8));
        memcpy(p, &a, 8);
        memcpy(p + k - 8, &b, 8);
    } else if (k >= 4 && k < 8) {
        uint32_t a = lower4(ld32(p)), b = lower4(ld32(p + k - 4));
        memcpy(p, &a, 4);
        memcpy(p + k - 4, &b, 4);
    } else {
        size_t j = 0;
        for (; j + 8 <= k; j += 8) {
            uint64_t a = lower8(ld64(p + j));
            memcpy(p + j, &a, 8);
        }
        for (; j < k; j++)
            p[j] = lower(p[j]);
    }
}

#if UA_X86
/* Known names of up to 16 bytes, found by one multiply: the name's first 8 bytes (lowercase, zero past its
 * end, read as a little-endian word) plus its length, times KH_MUL, top 6 bits. The slots below are what KH
 * gives each name, no two alike; a name added needs its slot worked out the same way, and the unit test of
 * the known-header index fails when one is wrong. The name is then checked by one vector compare of all 16
 * bytes: the table's zero padding against the name's zeroed tail means the lengths are equal too (a name has
 * no zero byte). Names over 16 bytes go through known_id(). */
#define KH_MUL 0x349aae908fb5262dull
#define KH(first8, len) ((unsigned)((((first8) + (len)) * KH_MUL) >> 58))
static const struct known_name {
    uint8_t name[16] __attribute__((aligned(16)));
    uint8_t id;
} KNOWN16[64] __attribute__((aligned(32))) = {
    [1] = {"accept-language", UA_HK_ACCEPT_LANGUAGE},
    [2] = {"upgrade", UA_HK_UPGRADE},
    [6] = {"connection", UA_HK_CONNECTION},
    [8] = {"content-type", UA_HK_CONTENT_TYPE},
    [10] = {"cookie", UA_HK_COOKIE},
    [11] = {"host", UA_HK_HOST},
    [13] = {"authorization", UA_HK_AUTHORIZATION},
    [17] = {"te", UA_HK_TE},
    [20] = {"if-range", UA_HK_IF_RANGE},
    [29] = {"origin", UA_HK_ORIGIN},
    [30] = {"accept", UA_HK_ACCEPT},
    [32] = {"x-real-ip", UA_HK_X_REAL_IP},
    [34] = {"content-length", UA_HK_CONTENT_LENGTH},
    [35] = {"expect", UA_HK_EXPECT},
    [38] = {"forwarded", UA_HK_FORWARDED},
    [41] = {"keep-alive", UA_HK_KEEP_ALIVE},
    [42] = {"if-match", UA_HK_IF_MATCH},
    [43] = {"cache-control", UA_HK_CACHE_CONTROL},
    [44] = {"trailer", UA_HK_TRAILER},
    [50] = {"accept-encoding", UA_HK_ACCEPT_ENCODING},
    [51] = {"if-none-match", UA_HK_IF_NONE_MATCH},
    [53] = {"user-agent", UA_HK_USER_AGENT},
    [55] = {"x-forwarded-for", UA_HK_X_FORWARDED_FOR},
    [59] = {"range", UA_HK_RANGE},
    [60] = {"referer", UA_HK_REFERER},
    [61] = {"content-encoding", UA_HK_CONTENT_ENCODING},
};

/* 16 bytes 0xff then 16 zeros: the 16 bytes at FIRST_N + 16 - k keep the first k bytes of a vector. */
static const uint8_t FIRST_N[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
/* pshufb indexes: the 16 at SHIFT_IN + s move a vector's bytes down by s, zeros in at the top */
static const uint8_t SHIFT_IN[32] = {0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
                                     11,   12,   13,   14,   15,   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
#endif

/* ---------------------------------------------------------------- field lines */

#define FL_MORE 0
#define FL_FIELD 1
#define FL_END 2

/* Where a parse stopped inside a line, so that the next call goes on from the byte it stopped at: `pos` is
 * the line's first byte, `scan` the first byte not yet looked at, `sub` the part of the line being read. */
struct resume {
    uint16_t *pos, *scan;
    uint8_t *sub;
};

#define SUB_START 0 /* field line: nothing read yet */
#define SUB_NAME 1  /* [pos, scan) is a valid name so far */
#define SUB_OWS 2   /* name and colon done (hd->name_*), skipping whitespace before the value */
#define SUB_VALUE 3 /* [hd->value_off, scan) is a valid value so far */

/* One field line, or the empty line that ends the section. FL_* or -UA_PE_*. On FL_FIELD, *hd holds the
 * spans; *rs->pos moves past the CRLF either way. On FL_MORE, *rs says where to go on. */
AINLINE int field_line(int lvl, uint8_t *buf, size_t end, struct resume rs, struct ua_header *hd)
{
    size_t p = *rs.pos, s = *rs.scan;
    uint8_t c;
    switch (*rs.sub) {
    case SUB_START:
        if (p >= end)
            return FL_MORE;
        c = buf[p];
        if (c == '\r') {
            if (p + 1 >= end)
                return FL_MORE;
            if (buf[p + 1] != '\n')
                return -UA_PE_LINE_END;
            *rs.pos = *rs.scan = (uint16_t)(p + 2);
            return FL_END;
        }
        if (c == ' ' || c == '\t')
            return -UA_PE_OBS_FOLD;
        s = p;
        /* fall through */
    case SUB_NAME:
        s += scan_token(lvl, buf + s, end - s);
        if (s >= end) {
            *rs.sub = SUB_NAME;
            *rs.scan = (uint16_t)s;
            return FL_MORE;
        }
        c = buf[s];
        if (c != ':')
            return c == ' ' || c == '\t' ? -UA_PE_WS_BEFORE_COLON
                   : c == 0              ? -UA_PE_NUL
                   : c == '\n'           ? -UA_PE_LINE_END
                                         : -UA_PE_HEADER_NAME;
        if (s == p)
            return -UA_PE_HEADER_NAME;
        hd->name_off = (uint16_t)p;
        hd->name_len = (uint16_t)(s - p);
        s++;
        /* fall through */
    case SUB_OWS:
        while (s < end && (buf[s] == ' ' || buf[s] == '\t'))
            s++;
        if (s >= end) {
            *rs.sub = SUB_OWS;
            *rs.scan = (uint16_t)s;
            return FL_MORE;
        }
        hd->value_off = (uint16_t)s;
        /* fall through */
    default: /* SUB_VALUE */
        s += scan_value(lvl, buf + s, end - s);
        if (s + 1 >= end) { /* the CR, if it is there, is looked at again next time */
            *rs.sub = SUB_VALUE;
            *rs.scan = (uint16_t)s;
            return FL_MORE;
        }
        if (buf[s] != '\r')
            return buf[s] == 0 ? -UA_PE_NUL : buf[s] == '\n' ? -UA_PE_LINE_END : -UA_PE_CTL;
        if (buf[s + 1] != '\n')
            return -UA_PE_LINE_END;
    }
    size_t ve = s;
    while (ve > hd->value_off && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
        ve--;
    hd->value_len = (uint16_t)(ve - hd->value_off);
    *rs.pos = *rs.scan = (uint16_t)(s + 2);
    *rs.sub = SUB_START;
    return FL_FIELD;
}

#define FL_SLOW 3 /* fast_fields: a line not in the common shape; field_line reads it instead */

_Static_assert(UA_HK_COUNT <= 64, "head.known_more has one bit per known header");

/* After a field line, whose value is [vo, vo + vn): the semantics of the known headers that have any, and the
 * index. 0 or UA_PE_*. */
AINLINE int field_known(int lvl, struct ua_head *h, const uint8_t *buf, size_t vo, size_t vn, int id, unsigned n,
                        int is_request)
{
    (void)lvl; /* read only by the x86 vector check */
    if (id < 0)
        return 0;
    if (id == UA_HK_HOST) { /* RFC 9112 3.2: one Host, holding an authority's bytes only */
        if (h->known[UA_HK_HOST] != UA_HK_ABSENT)
            h->flags |= F_HOST_TWICE;
        int bad;
#if UA_X86
        if (lvl != UA_SIMD_SCALAR)
            bad = host_bad(buf, vo, vn);
        else
#endif
            bad = host_chars_bad(buf + vo, vn);
        if (bad)
            return UA_PE_HOST;
    } else if (id <= UA_HK_UPGRADE) { /* the ids with semantics come first */
        int e = field_semantics(h, id, buf + vo, vn, is_request);
        if (e)
            return e;
    }
    if (h->known[id] == UA_HK_ABSENT)
        h->known[id] = (uint8_t)n;
    else /* a reader of a list-valued field needs every line (RFC 9110 5.3); the bit spares the others a scan */
        h->known_more |= 1ULL << id;
    return 0;
}

static size_t limit_head(const struct ua_parse_limits *lim)
{
    return lim->max_head ? lim->max_head : UA_HEAD_MAX;
}

static size_t limit_fields(const struct ua_parse_limits *lim, size_t cap)
{
    return lim->max_headers && lim->max_headers < cap ? lim->max_headers : cap;
}

static int fail(struct ua_head *h, int err)
{
    h->error = (uint8_t)err;
    return -EBADMSG;
}

#if UA_X86
/* Bit i: byte i of the 16 ends a fast-path scan: a CTL (HTAB, CR and LF included), DEL, or 0x80..0xff. v + 1
 * read as signed puts all of them, and only them, below 0x21: one add and one compare. */
SSE42 static inline unsigned stop16(__m128i v)
{
    return (unsigned)_mm_movemask_epi8(_mm_cmpgt_epi8(_mm_set1_epi8(0x21), _mm_add_epi8(v, _mm_set1_epi8(1))));
}

/* stop16 for the bytes of [base, base + 64) before end, bit i for byte base + i; base + 16 <= end. A vector
 * that would pass end is read as the 16 bytes that end there instead: its bits land where they belong, over
 * bits already set the same way, so every load stays inside [0, end). */
AINLINE uint64_t stops64(const uint8_t *buf, size_t base, size_t end)
{
    const uint8_t *q = buf + base;
    if (base + 64 <= end)
        return (uint64_t)stop16(_mm_loadu_si128((const __m128i *)q)) |
               (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + 16))) << 16 |
               (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + 32))) << 32 |
               (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + 48))) << 48;
    size_t last = end - 16 - base; /* the last whole vector, from base */
    uint64_t m = (uint64_t)stop16(_mm_loadu_si128((const __m128i *)q)) |
                 (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + last))) << last;
    if (last > 16)
        m |= (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + 16))) << 16;
    if (last > 32)
        m |= (uint64_t)stop16(_mm_loadu_si128((const __m128i *)(q + 32))) << 32;
    return m;
}

/* The fast paths' place in the head's stop bytes: the bits of stops64(base) not yet passed. */
struct stops {
    size_t base;
    uint64_t bits;
};

/* The stops from p on (p a line's first byte; end >= 16). */
AINLINE struct stops stops_at(const uint8_t *buf, size_t p, size_t end)
{
    size_t base = p + 16 <= end ? p : end - 16;
    return (struct stops){base, stops64(buf, base, end) >> (p - base) << (p - base)};
}

/* The first stop byte not yet passed (p is the line it is looked for from), or end when the head has none. */
AINLINE size_t next_stop(const uint8_t *buf, size_t p, size_t end, struct stops *st)
{
    while (!st->bits) {
        if (st->base + 64 >= end)
            return end;
        size_t seen = st->base + 64;
        st->base = seen + 16 <= end ? seen : end - 16;
        size_t from = p > seen ? p : seen; /* the last LF may have been the block's last byte */
        st->bits = stops64(buf, st->base, end) >> (from - st->base) << (from - st->base);
    }
    return st->base + (unsigned)__builtin_ctzll(st->bits);
}

/* Past a line end found by next_stop: its CR and, when it is in this block, its LF (the next bit: nothing
 * between them is a stop). */
AINLINE void pass_crlf(struct stops *st)
{
    st->bits &= st->bits - 1;
    st->bits &= st->bits - 1;
}

/* v's bytes moved down by n (< 16), zeros in at the top */
SSE42 static inline __m128i shift_down(__m128i v, size_t n)
{
    return _mm_shuffle_epi8(v, _mm_loadu_si128((const __m128i *)(SHIFT_IN + n)));
}

/* A field name with no colon in its first 16 bytes, in a line that goes on past them (e > p + 16, so every
 * load of find_bad stays in the line): a token up to its colon (*colon), lowercased, matched by known_id().
 * The id, -1, or -2 when the line is not in the fast path's shape. Out of line: long names are rare, and the
 * loop keeps its registers. */
__attribute__((noinline)) SSE42 static int long_name(uint8_t *buf, size_t p, size_t e, size_t *colon)
{
    size_t c = find_bad(CLS_TOKEN, buf, p, e);
    if (c >= e || buf[c] != ':')
        return -2;
    lower_name(buf + p, c - p);
    *colon = c;
    return known_id(buf + p, c - p);
}

/* The value of a field line whose colon is at c and CR at e (no HTAB before e): in [*vs, *ve), without one SP
 * before it and the SPs after it. 0 when OWS before it is more than one SP: the general code reads that line. */
AINLINE int value_bounds(const uint8_t *buf, size_t c, size_t e, size_t *vs, size_t *ve)
{
    size_t s = c + 1 + (buf[c + 1] == ' '), v = e; /* s <= e, and buf[e] is CR */
    if (buf[s] == ' ')
        return 0;
    if (buf[e - 1] == ' ')
        while (v > s && buf[v - 1] == ' ')
            v--;
    *vs = s;
    *ve = v;
    return 1;
}

/* Host as the first field line at p, as user agents send it (RFC 9110 7.2), read by itself before the loop:
 * the offset of the next line, or 0 when the line is not "host:" [SP] value CRLF (nothing written, st as it
 * was: the loop reads it). A value the Host check refuses sets *err to UA_PE_HOST, the line read all the
 * same, as the general code leaves it (spans written, name lowercased, not indexed nor counted). */
AINLINE size_t first_host(struct ua_head *h, uint8_t *buf, size_t end, size_t p, struct stops *st, int *err)
{
    uint32_t name = ld32(buf + p);
    if ((name | 0x20202020u) != ld32("host") || buf[p + 4] != ':')
        return 0;
    size_t e = next_stop(buf, p, end, st), s, ve;
    if (e + 1 >= end || ld16(buf + e) != CRLF16 || e < p + 5 || !value_bounds(buf, p + 4, e, &s, &ve))
        return 0;
    pass_crlf(st);
    uint32_t spans[2] = {(uint32_t)p | 4u << 16, (uint32_t)s | (uint32_t)(ve - s) << 16};
    memcpy(&h->headers[0], spans, 8);
    if (host_bad(buf, s, ve - s))
        *err = UA_PE_HOST;
    else
        h->known[UA_HK_HOST] = 0;
    if (name != ld32("host")) /* after the Host check, whose load overlaps these bytes */
        memcpy(buf + p, "host", 4);
    return e + 2;
}

/* The common field lines, read straight through by the vector levels from *pos (a line's first byte) to the
 * empty line: token ":" [SP] value CRLF, the whole line inside [0, end), end >= 16. The bytes are classified
 * 64 at a time, once (stop16): the first stop byte after a line's start must be its CR, so one bit search
 * finds the line's end and proves the value clean. The name is found by its colon in one vector; a name equal
 * to a known header's lowercase table entry is a token by that, any other is checked by the token class. A
 * line of any other shape (an HTAB, obs-text, OWS other than one SP before the value, a line cut short, any
 * byte that is an error) stops it with FL_SLOW at that line's first byte, nothing of the line counted, and
 * field_line() reads the line from its first byte: it alone decides syntax errors, so each keeps its code.
 * FL_END (*pos after the empty line), FL_SLOW, or -UA_PE_* from the semantics of a field; *pos and *np follow
 * the lines accepted. */
AINLINE int fast_fields(struct ua_head *h, uint8_t *buf, size_t end, size_t maxf, int is_request, uint16_t *pos,
                        unsigned *np, struct stops st)
{
    size_t p = *pos;
    unsigned n = *np;
    int r;
    for (;;) {
        size_t e = next_stop(buf, p, end, &st);
        if (e + 1 >= end || ld16(buf + e) != CRLF16) {
            r = FL_SLOW;
            break;
        }
        pass_crlf(&st);
        if (e == p) {
            p += 2;
            r = FL_END;
            break;
        }
        if (n >= maxf) {
            r = FL_SLOW;
            break;
        }
        __m128i v;
        if (__builtin_expect(p + 16 <= end, 1))
            v = _mm_loadu_si128((const __m128i *)(buf + p));
        else /* the head's last 16 bytes, moved down to start at p */
            v = shift_down(_mm_loadu_si128((const __m128i *)(buf + end - 16)), p - (end - 16));
        unsigned colon = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(':')));
        size_t c = p + (size_t)__builtin_ctz(colon | 0x10000u);
        __m128i keep = _mm_setzero_si128(), nm = keep, upper = keep;
        int id;
        if (__builtin_expect(colon != 0, 1)) {
            if (c >= e || c == p) {
                r = FL_SLOW;
                break;
            }
            keep = _mm_loadu_si128((const __m128i *)(FIRST_N + 16 - (c - p)));
            /* A-Z: v + 0x3f lands on 0x80..0x99, the signed range below -128 + 26 */
            __m128i up = _mm_cmpgt_epi8(_mm_set1_epi8(-128 + 26), _mm_add_epi8(v, _mm_set1_epi8(0x3f)));
            nm = _mm_and_si128(_mm_or_si128(v, _mm_and_si128(up, _mm_set1_epi8(0x20))), keep);
            upper = _mm_and_si128(up, keep);
            const struct known_name *known = &KNOWN16[KH((uint64_t)_mm_cvtsi128_si64(nm), c - p)];
            if (c - p == 4 && (ld32(buf + p) | 0x20202020u) == ld32("host")) {
                id = UA_HK_HOST; /* in every HTTP/1.1 request: told without waiting on the table's load */
            } else if (_mm_movemask_epi8(_mm_cmpeq_epi8(nm, _mm_load_si128((const __m128i *)known->name))) == 0xffff) {
                id = known->id;
            } else if (bad16(CLS_TOKEN, v) & ((1u << (c - p)) - 1)) { /* not a token: byte c is the colon */
                r = FL_SLOW;
                break;
            } else {
                id = -1;
            }
        } else {
            if (p + 16 >= e) { /* the vector held the whole line: it has no colon */
                r = FL_SLOW;
                break;
            }
            id = long_name(buf, p, e, &c);
            if (id == -2) {
                r = FL_SLOW;
                break;
            }
        }
        size_t s, ve;
        if (!value_bounds(buf, c, e, &s, &ve)) {
            r = FL_SLOW;
            break;
        }
        /* every offset is below end <= 65535 */
        uint32_t name = (uint32_t)p | (uint32_t)(c - p) << 16, value = (uint32_t)s | (uint32_t)(ve - s) << 16;
        memcpy(&h->headers[n].name_off, &name, 4);
        memcpy(&h->headers[n].value_off, &value, 4);
        int err = field_known(UA_SIMD_SSE42, h, buf, s, ve - s, id, n, is_request); /* a vector level */
        /* A name with capitals goes back lowercased, in one store when its 16 bytes are inside this line (no
         * later load of the next line overlaps it), and after the Host check, whose load overlaps it: a load
         * that overlaps a store still in flight waits for it. A name already in lowercase is not written at
         * all. long_name() has lowercased a long one already. A line whose semantics fail is left as the
         * general code leaves it: read, lowercased, passed, not counted. */
        if (colon && _mm_movemask_epi8(upper)) {
            if (p + 16 <= e + 2)
                _mm_storeu_si128((__m128i *)(buf + p), _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20))));
            else
                lower_name(buf + p, c - p);
        }
        p = e + 2;
        if (err) {
            r = -err;
            break;
        }
        n++;
    }
    *pos = (uint16_t)p;
    *np = n;
    return r;
}
#endif

/* Field lines until the empty line, then the semantic checks. */
AINLINE int parse_fields(int lvl, struct ua_head *h, uint8_t *buf, size_t end, const struct ua_parse_limits *lim,
                         int is_request)
{
    size_t maxf = limit_fields(lim, UA_MAX_HEADERS);
    /* the resume state in locals (registers) while the loop runs; stores into h->headers cannot alias them */
    uint16_t pos = h->pos, scan = h->scan;
    uint8_t sub = h->sub;
    unsigned n = h->n_headers;
    struct resume rs = {&pos, &scan, &sub};
    int r;
    for (;;) {
#if UA_X86
        if (lvl != UA_SIMD_SCALAR && sub == SUB_START && end >= 16) {
            r = fast_fields(h, buf, end, maxf, is_request, &pos, &n, stops_at(buf, pos, end));
            scan = pos;
            if (r != FL_SLOW)
                break;
        }
#endif
        if (n >= maxf && sub == SUB_START && pos < end && buf[pos] != '\r') {
            r = -UA_PE_TOO_MANY_HEADERS;
            break;
        }
        struct ua_header *hd = &h->headers[n < UA_MAX_HEADERS ? n : UA_MAX_HEADERS - 1];
        r = field_line(lvl, buf, end, rs, hd);
        if (r != FL_FIELD)
            break;
        lower_name(buf + hd->name_off, hd->name_len);
        int e = field_known(lvl, h, buf, hd->value_off, hd->value_len, known_id(buf + hd->name_off, hd->name_len), n,
                            is_request);
        if (e) {
            r = -e;
            break;
        }
        n++;
    }
    h->pos = pos;
    h->scan = scan;
    h->sub = sub;
    h->n_headers = (uint16_t)n;
    if (r == FL_MORE)
        return 0;
    if (r < 0)
        return fail(h, -r);
    int e = finish(h, is_request); /* FL_END */
    if (e)
        return fail(h, e);
    h->head_len = pos;
    return pos;
}

/* request-line parts being read (h->sub while h->phase == PH_START) */
#define RL_METHOD 0  /* [pos, scan) is method so far (after any empty lines) */
#define RL_TARGET 1  /* h->method done; [h->target.off, scan) is target so far */
#define RL_VERSION 2 /* h->target done; the 10 bytes "HTTP/x.y\r\n" at scan */

/* The request-line; 1 when accepted, 0 for more bytes, -UA_PE_* on error. */
AINLINE int request_line(int lvl, struct ua_head *h, uint8_t *buf, size_t end, const struct ua_parse_limits *lim)
{
    size_t p = h->pos, s = h->scan, t;
    switch (h->sub) {
    case RL_METHOD:
        if (s == p) {
            while (p < end && buf[p] == '\r') { /* RFC 9112 2.2: skip empty lines before the request-line */
                if (p + 1 >= end)
                    return 0;
                if (buf[p + 1] != '\n')
                    return -UA_PE_LINE_END;
                p += 2;
                h->pos = h->scan = (uint16_t)p;
            }
            s = p;
        }
        s += scan_token(lvl, buf + s, end - s);
        if (s >= end) {
            h->scan = (uint16_t)s;
            return 0;
        }
        if (s == p || buf[s] != ' ')
            return buf[s] == '\n' ? -UA_PE_LINE_END : buf[s] == 0 ? -UA_PE_NUL : -UA_PE_METHOD;
        h->method = (struct ua_span){(uint16_t)p, (uint16_t)(s - p)};
        s++;
        h->target.off = (uint16_t)s;
        h->sub = RL_TARGET;
        /* fall through */
    case RL_TARGET:
        t = h->target.off;
        s += scan_target(lvl, buf + s, end - s);
        if (lim->max_target && s - t > lim->max_target)
            return -UA_PE_TARGET_TOO_LONG;
        if (s >= end) {
            h->scan = (uint16_t)s;
            return 0;
        }
        if (s == t || buf[s] != ' ')
            return buf[s] == 0                                  ? -UA_PE_NUL
                   : s > t && (buf[s] == '\r' || buf[s] == '\n') ? -UA_PE_VERSION
                                                                   : -UA_PE_TARGET;
        h->target.len = (uint16_t)(s - t);
        s++;
        h->sub = RL_VERSION;
        /* fall through */
    default: /* RL_VERSION */
        h->scan = (uint16_t)s;
        if (end - s < 10)
            return 0;
    }
    const uint8_t *q = buf + s;
    if (memcmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' || q[6] != '.' || q[7] < '0' || q[7] > '9')
        return -UA_PE_VERSION;
    if (q[5] != '1')
        return -UA_PE_VERSION_UNSUPPORTED;
    if (q[8] != '\r' || q[9] != '\n')
        return -UA_PE_LINE_END;

    h->method_id = (uint8_t)method_id(buf + h->method.off, h->method.len);
    h->minor = q[7] > '1' ? 1 : (uint8_t)(q[7] - '0'); /* 1.2 and on: as the 1.1 we are (RFC 9110 2.5) */
    t = h->target.off;
    size_t tk = h->target.len;
    const uint8_t *tg = buf + t;
    size_t ps = 0; /* where the path starts inside the target */
    if (tg[0] == '/') {
        ps = 0;
    } else if (tk == 1 && tg[0] == '*') {
        if (h->method_id != UA_M_OPTIONS)
            return -UA_PE_TARGET;
        ps = 0;
    } else if (h->method_id == UA_M_CONNECT) {
        ps = tk; /* authority-form: no path */
    } else {
        /* absolute-form: scheme "://" authority [path] (RFC 9112 3.2.2) */
        size_t i = 0;
        while (i < tk && ((tg[i] | 0x20) >= 'a' && (tg[i] | 0x20) <= 'z'))
            i++;
        if (i == 0 || i + 3 > tk || memcmp(tg + i, "://", 3) != 0)
            return -UA_PE_TARGET;
        ps = i + 3;
        while (ps < tk && tg[ps] != '/' && tg[ps] != '?')
            ps++;
    }
    const uint8_t *qm = memchr(tg + ps, '?', tk - ps);
    size_t pe = qm ? (size_t)(qm - tg) : tk;
    h->path = (struct ua_span){(uint16_t)(t + ps), (uint16_t)(pe - ps)};
    h->query = qm ? (struct ua_span){(uint16_t)(t + pe + 1), (uint16_t)(tk - pe - 1)}
                  : (struct ua_span){(uint16_t)(t + tk), 0};
    h->pos = h->scan = (uint16_t)(s + 10);
    h->sub = SUB_START;
    return 1;
}

#if UA_X86
/* For a target's 16 bytes in v: the bits of its SP and '#' bytes (the bytes a target may not hold besides the
 * stop bytes), and in *qm those of its '?'. */
SSE42 static inline unsigned target_marks(__m128i v, unsigned *qm)
{
    *qm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')));
    return (unsigned)_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('#'))));
}

/* A request-target [t, te) of over 16 bytes (or in the head's last 16) that holds no stop byte: the first
 * '?' in it (te if none), or 0 when it holds SP or '#'. Out of line: the usual target is shorter. */
__attribute__((noinline)) SSE42 static size_t long_target(const uint8_t *buf, size_t t, size_t te, size_t end)
{
    size_t q = te;
    for (size_t i = t; i < te; i += 16) {
        size_t at = i + 16 <= end ? i : end - 16, n = te - i;
        __m128i v = _mm_loadu_si128((const __m128i *)(buf + at));
        unsigned in = (1u << (n < 16 ? n : 16)) - 1, qm, bad = target_marks(v, &qm);
        if ((bad >> (i - at)) & in)
            return 0;
        qm = (qm >> (i - at)) & in;
        if (qm && q == te)
            q = i + (unsigned)__builtin_ctz(qm);
    }
    return q;
}

/* The common request-line, read straight through by the vector levels on a fresh head: one of the usual
 * methods (told by one word compare each, GET first) SP origin-form SP "HTTP/1.1" or "HTTP/1.0" CRLF, whole
 * inside [0, end), end >= 16. Its end is the head's first stop byte (st: the stops from 0), so its target
 * holds none of them, and the bytes a target may not hold besides, SP and '#', are all it is checked for.
 * The offset of the line after it when accepted (h filled as request_line() would fill it, but for the
 * resume state, which is the caller's; st past its CRLF), else 0 with nothing written: request_line() then
 * reads the line and alone decides what is an error. CONNECT (never origin-form), TRACE and other methods
 * always go that way. */
AINLINE size_t fast_request_line(struct ua_head *h, const uint8_t *buf, size_t end,
                                 const struct ua_parse_limits *lim, struct stops *st)
{
    uint64_t w = ld64(buf);
    size_t m;
    int id;
    if ((uint32_t)w == ld32("GET "))
        m = 3, id = UA_M_GET;
    else if ((w & 0xffffffffffull) == (ld64("POST    ") & 0xffffffffffull))
        m = 4, id = UA_M_POST;
    else if ((uint32_t)w == ld32("PUT "))
        m = 3, id = UA_M_PUT;
    else if ((w & 0xffffffffffull) == (ld64("HEAD    ") & 0xffffffffffull))
        m = 4, id = UA_M_HEAD;
    else if ((w & 0xffffffffffffffull) == (ld64("DELETE  ") & 0xffffffffffffffull))
        m = 6, id = UA_M_DELETE;
    else if ((w & 0xffffffffffffull) == (ld64("PATCH   ") & 0xffffffffffffull))
        m = 5, id = UA_M_PATCH;
    else if (w == ld64("OPTIONS "))
        m = 7, id = UA_M_OPTIONS;
    else
        return 0;
    size_t e = next_stop(buf, 0, end, st), t = m + 1, te = e - 9; /* te: the SP before the version */
    if (e + 1 >= end || ld16(buf + e) != CRLF16 || e < m + 11 || buf[te] != ' ' || buf[t] != '/' ||
        (lim->max_target && te - t > lim->max_target))
        return 0;
    uint64_t ver = ld64(buf + e - 8);
    int minor = ver == ld64("HTTP/1.1") ? 1 : ver == ld64("HTTP/1.0") ? 0 : -1;
    if (minor < 0)
        return 0;
    /* the usual target is inside one vector: the head's first 16 bytes (loaded already for the stops), or the
     * 16 from its start */
    size_t q, o = te <= 16 ? 0 : t;
    if (__builtin_expect(te - o <= 16 && o + 16 <= end, 1)) {
        __m128i v = _mm_loadu_si128((const __m128i *)(buf + o));
        unsigned in = (1u << (te - o)) - (1u << (t - o)), qm, bad = target_marks(v, &qm);
        if (bad & in)
            return 0;
        qm &= in;
        q = qm ? o + (unsigned)__builtin_ctz(qm) : te;
    } else if ((q = long_target(buf, t, te, end)) == 0) {
        return 0;
    }
    pass_crlf(st);
    h->method_id = (uint8_t)id;
    h->minor = (uint8_t)minor;
    h->method = (struct ua_span){0, (uint16_t)m};
    struct ua_span target = {(uint16_t)t, (uint16_t)(te - t)};
    h->target = target;
    if (q < te) {
        h->path = (struct ua_span){(uint16_t)t, (uint16_t)(q - t)};
        h->query = (struct ua_span){(uint16_t)(q + 1), (uint16_t)(te - q - 1)};
    } else {
        h->path = target;
        h->query = (struct ua_span){(uint16_t)te, 0};
    }
    return e + 2;
}

/* A fresh request head in its common shape, whole: the request-line and the field lines by the fast paths,
 * then the semantic checks. 0 when it could not finish (the head then holds the state of a call that stopped
 * at a line's first byte, where the general code goes on), else what ua_parse_request() returns. */
AINLINE int fast_request(struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim)
{
    size_t max = limit_head(lim), end = len < max ? len : max;
    if (end < 16)
        return 0;
    struct stops st = {0, stops64(buf, 0, end)};
    size_t p = fast_request_line(h, buf, end, lim, &st);
    if (!p)
        return 0;
    h->phase = PH_FIELDS;
    int err = 0;
    size_t hp = p + 8 <= end ? first_host(h, buf, end, p, &st, &err) : 0;
    if (err) {
        h->pos = h->scan = (uint16_t)hp;
        return fail(h, err);
    }
    uint16_t pos = (uint16_t)(hp ? hp : p);
    unsigned n = hp != 0;
    int r = fast_fields(h, buf, end, limit_fields(lim, UA_MAX_HEADERS), 1, &pos, &n, st);
    h->pos = h->scan = pos;
    h->n_headers = (uint16_t)n;
    if (r == FL_SLOW)
        return 0;
    if (r < 0)
        return fail(h, -r);
    int e = finish(h, 1);
    if (e)
        return fail(h, e);
    h->head_len = pos;
    return pos;
}
#endif

/* "HTTP/1.x SP 3DIGIT SP reason CRLF" (RFC 9112 4); a missing reason with its SP is tolerated. */
AINLINE int status_line(int lvl, struct ua_head *h, uint8_t *buf, size_t end)
{
    size_t p = h->pos;
    if (end - p < 13)
        return 0;
    const uint8_t *q = buf + p;
    if (memcmp(q, "HTTP/1.", 7) != 0 || (q[7] != '0' && q[7] != '1') || q[8] != ' ')
        return -UA_PE_VERSION;
    if (q[9] < '1' || q[9] > '9' || q[10] < '0' || q[10] > '9' || q[11] < '0' || q[11] > '9')
        return -UA_PE_STATUS;
    size_t r = p + 12, rs;
    if (buf[r] == ' ') {
        rs = r + 1;
        r = rs + scan_value(lvl, buf + rs, end - rs);
    } else {
        rs = r;
    }
    if (r + 1 >= end)
        return 0;
    if (buf[r] != '\r' || buf[r + 1] != '\n')
        return buf[r] == 0 ? -UA_PE_NUL : -UA_PE_LINE_END;
    h->minor = (uint8_t)(q[7] - '0');
    h->status = (uint16_t)((q[9] - '0') * 100 + (q[10] - '0') * 10 + (q[11] - '0'));
    h->reason = (struct ua_span){(uint16_t)rs, (uint16_t)(r - rs)};
    h->pos = h->scan = (uint16_t)(r + 2);
    h->sub = SUB_START;
    return 1;
}

AINLINE int parse_head(int lvl, struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim,
                       int is_request)
{
    if (h->error)
        return -EBADMSG;
    size_t max = limit_head(lim);
    size_t end = len < max ? len : max;
    if (h->phase == PH_START) {
        int r = is_request ? request_line(lvl, h, buf, end, lim) : status_line(lvl, h, buf, end);
        if (r < 0)
            return fail(h, -r);
        if (r == 0)
            return len >= max ? fail(h, UA_PE_HEAD_TOO_LARGE) : 0;
        h->phase = PH_FIELDS;
    }
    int r = parse_fields(lvl, h, buf, end, lim, is_request);
    if (r == 0 && len >= max)
        return fail(h, UA_PE_HEAD_TOO_LARGE);
    return r;
}

AINLINE int parse_trailers(int lvl, struct ua_trailers *t, uint8_t *buf, size_t len,
                           const struct ua_parse_limits *lim)
{
    if (t->error)
        return -EBADMSG;
    size_t max = limit_head(lim), maxf = limit_fields(lim, UA_MAX_TRAILERS);
    size_t end = len < max ? len : max;
    struct resume rs = {&t->pos, &t->scan, &t->sub};
    for (;;) {
        if (t->n >= maxf && t->sub == SUB_START && t->pos < end && buf[t->pos] != '\r') {
            t->error = UA_PE_TOO_MANY_HEADERS;
            return -EBADMSG;
        }
        struct ua_header *hd = &t->fields[t->n < UA_MAX_TRAILERS ? t->n : UA_MAX_TRAILERS - 1];
        int r = field_line(lvl, buf, end, rs, hd);
        if (r == FL_MORE)
            break;
        if (r < 0) {
            t->error = (uint8_t)-r;
            return -EBADMSG;
        }
        if (r == FL_END) {
            t->len = t->pos;
            return t->pos;
        }
        lower_name(buf + hd->name_off, hd->name_len);
        t->n++;
    }
    if (len >= max) {
        t->error = UA_PE_HEAD_TOO_LARGE;
        return -EBADMSG;
    }
    return 0;
}

/* ---------------------------------------------------------------- one function per SIMD level */

/* noinline: a level function inlined into its dispatcher would make every call pay its register saves. */
#define LEVEL_FUNCS(suffix, lvl, attr) \
    attr __attribute__((noinline)) static int request_##suffix(struct ua_head *h, uint8_t *b, size_t n, \
                                                               const struct ua_parse_limits *l) \
    { \
        return parse_head(lvl, h, b, n, l, 1); \
    } \
    attr __attribute__((noinline)) static int response_##suffix(struct ua_head *h, uint8_t *b, size_t n, \
                                                                const struct ua_parse_limits *l) \
    { \
        return parse_head(lvl, h, b, n, l, 0); \
    } \
    attr __attribute__((noinline)) static int trailers_##suffix(struct ua_trailers *t, uint8_t *b, size_t n, \
                                                                const struct ua_parse_limits *l) \
    { \
        return parse_trailers(lvl, t, b, n, l); \
    }

LEVEL_FUNCS(scalar, UA_SIMD_SCALAR, )
#if UA_X86
LEVEL_FUNCS(sse42, UA_SIMD_SSE42, __attribute__((target("sse4.2"))))
LEVEL_FUNCS(avx2, UA_SIMD_AVX2, __attribute__((target("avx2"))))
/* The fast path of a fresh request, apart from the general code so that each gets the registers to itself; when
 * it cannot finish, the general code of the level in use goes on. One build serves both vector levels: it reads
 * 16 bytes at a time either way, and the AVX2 build made its constants with three instructions each. */
typedef int (*parse_fn)(struct ua_head *h, uint8_t *b, size_t n, const struct ua_parse_limits *l);
__attribute__((noinline, target("sse4.2"))) static int fast_head(struct ua_head *h, uint8_t *b, size_t n,
                                                                const struct ua_parse_limits *l, parse_fn general)
{
    int r = fast_request(h, b, n, l);
    return r ? r : general(h, b, n, l);
}
#endif

static int simd_level = -1;

static int cpu_has(int level)
{
#if UA_X86
    __builtin_cpu_init();
    if (level == UA_SIMD_AVX2)
        return __builtin_cpu_supports("avx2");
    if (level == UA_SIMD_SSE42)
        return __builtin_cpu_supports("sse4.2");
#endif
    return level == UA_SIMD_SCALAR;
}

static int simd_pick(void)
{
    const char *env = getenv("UA_SIMD");
    if (env && *env) {
        int want = strcmp(env, "avx2") == 0 ? UA_SIMD_AVX2 : strcmp(env, "sse42") == 0 ? UA_SIMD_SSE42 : UA_SIMD_SCALAR;
        if (cpu_has(want))
            return want;
    }
    return cpu_has(UA_SIMD_AVX2) ? UA_SIMD_AVX2 : cpu_has(UA_SIMD_SSE42) ? UA_SIMD_SSE42 : UA_SIMD_SCALAR;
}

int ua_simd_get(void)
{
    if (simd_level < 0)
        simd_level = simd_pick();
    return simd_level;
}

int ua_simd_set(int level)
{
    if (level < UA_SIMD_SCALAR || level > UA_SIMD_AVX2 || !cpu_has(level))
        return -ENOTSUP;
    simd_level = level;
    return 0;
}

/* ---------------------------------------------------------------- exports */

void ua_parse_reset(struct ua_head *h)
{
    memset(h, 0, offsetof(struct ua_head, known));
    h->content_length = -1;
    memset(h->known, UA_HK_ABSENT, sizeof h->known);
}

/* The first parse of the process: the level is picked, then the call made again. Out of line, so that
 * ua_parse_request() keeps no frame of its own. */
__attribute__((noinline)) static int request_first(struct ua_head *h, uint8_t *buf, size_t len,
                                                   const struct ua_parse_limits *lim)
{
    ua_simd_get();
    return ua_parse_request(h, buf, len, lim);
}

int ua_parse_request(struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim)
{
#if UA_X86
    int fresh = h->scan == 0 && h->phase == PH_START && !h->error;
#endif
    switch (simd_level) {
#if UA_X86
    case UA_SIMD_AVX2:
        return fresh ? fast_head(h, buf, len, lim, request_avx2) : request_avx2(h, buf, len, lim);
    case UA_SIMD_SSE42:
        return fresh ? fast_head(h, buf, len, lim, request_sse42) : request_sse42(h, buf, len, lim);
#endif
    case UA_SIMD_SCALAR:
        return request_scalar(h, buf, len, lim);
    default:
        return request_first(h, buf, len, lim);
    }
}

int ua_parse_response(struct ua_head *h, uint8_t *buf, size_t len, const struct ua_parse_limits *lim)
{
    switch (simd_level >= 0 ? simd_level : ua_simd_get()) {
#if UA_X86
    case UA_SIMD_AVX2:
        return response_avx2(h, buf, len, lim);
    case UA_SIMD_SSE42:
        return response_sse42(h, buf, len, lim);
#endif
    default:
        return response_scalar(h, buf, len, lim);
    }
}

void ua_trailers_reset(struct ua_trailers *t)
{
    t->n = t->len = t->pos = t->scan = 0;
    t->error = t->sub = 0;
}

int ua_parse_trailers(struct ua_trailers *t, uint8_t *buf, size_t len, const struct ua_parse_limits *lim)
{
    switch (simd_level >= 0 ? simd_level : ua_simd_get()) {
#if UA_X86
    case UA_SIMD_AVX2:
        return trailers_avx2(t, buf, len, lim);
    case UA_SIMD_SSE42:
        return trailers_sse42(t, buf, len, lim);
#endif
    default:
        return trailers_scalar(t, buf, len, lim);
    }
}

/* ---------------------------------------------------------------- chunked decoder (RFC 9112 7.1)
 *
 *   state     byte                        next        note
 *   SIZE      HEXDIG                      SIZE        at most 16 significant digits (overflow: 400)
 *   SIZE      ";" (after >= 1 digit)      EXT
 *   SIZE      SP / HTAB (after a digit)   SIZE_WS     BWS before ";" (RFC 9112 7.1.1)
 *   SIZE      CR (after a digit)          SIZE_LF
 *   SIZE_WS   SP / HTAB                   SIZE_WS
 *   SIZE_WS   ";"                         EXT
 *   EXT       value byte                  EXT         at most EXT_MAX bytes (bounded, RFC 9112 7.1.1)
 *   EXT       CR                          SIZE_LF
 *   SIZE_LF   LF                          DATA, or LAST when the size is 0
 *   DATA      (size bytes)                DATA_CR     handed out as spans, never copied
 *   DATA_CR   CR                          DATA_LF
 *   DATA_LF   LF                          SIZE
 *   any other byte in any state is an error: "0x5", "+5", " 5", "5 \r\n" and a missing CRLF are all 400.
 */
#define CK_SIZE 0
#define CK_SIZE_WS 1
#define CK_EXT 2
#define CK_SIZE_LF 3
#define CK_DATA 4
#define CK_DATA_CR 5
#define CK_DATA_LF 6
#define CK_LAST 7
#define EXT_MAX 4096

void ua_chunked_reset(struct ua_chunked *c, uint64_t max_total)
{
    memset(c, 0, sizeof *c);
    c->max_total = max_total;
}

static int hexval(uint8_t b)
{
    if (b >= '0' && b <= '9')
        return b - '0';
    b |= 0x20;
    return b >= 'a' && b <= 'f' ? b - 'a' + 10 : -1;
}

static int ck_fail(struct ua_chunked *c, int err, struct ua_chunk_out *out, size_t i)
{
    c->error = (uint8_t)err;
    out->consumed = i;
    return -EBADMSG;
}

int ua_chunked_feed(struct ua_chunked *c, const uint8_t *buf, size_t len, struct ua_chunk_out *out)
{
    out->off = out->len = 0;
    if (c->error)
        return ck_fail(c, c->error, out, 0);
    size_t i = 0;
    while (i < len) {
        uint8_t b = buf[i];
        switch (c->state) {
        case CK_SIZE: {
            int d = hexval(b);
            if (d >= 0) {
                if (c->remaining >> 60)
                    return ck_fail(c, UA_PE_CHUNK_SIZE, out, i);
                c->remaining = (c->remaining << 4) | (uint64_t)d;
                c->digits = 1;
            } else if (!c->digits) {
                return ck_fail(c, UA_PE_CHUNK_SIZE, out, i);
            } else if (b == ';') {
                c->state = CK_EXT;
            } else if (b == ' ' || b == '\t') {
                c->state = CK_SIZE_WS;
            } else if (b == '\r') {
                c->state = CK_SIZE_LF;
            } else {
                return ck_fail(c, b == '\n' ? UA_PE_LINE_END : UA_PE_CHUNK_SIZE, out, i);
            }
            i++;
            break;
        }
        case CK_SIZE_WS:
            if (b == ';')
                c->state = CK_EXT;
            else if (b != ' ' && b != '\t')
                return ck_fail(c, UA_PE_CHUNK_SIZE, out, i);
            i++;
            break;
        case CK_EXT:
            if (b == '\r') {
                c->state = CK_SIZE_LF;
            } else if (!ua_value_byte(b) || ++c->ext_len > EXT_MAX) {
                return ck_fail(c, b == '\n' ? UA_PE_LINE_END : UA_PE_CHUNK_EXT, out, i);
            }
            i++;
            break;
        case CK_SIZE_LF:
            if (b != '\n')
                return ck_fail(c, UA_PE_LINE_END, out, i);
            i++;
            c->ext_len = 0;
            c->digits = 0;
            if (c->remaining == 0) {
                c->state = CK_LAST;
                out->consumed = i;
                return UA_CK_LAST;
            }
            if (c->max_total && c->remaining > c->max_total - c->total)
                return ck_fail(c, UA_PE_BODY_TOO_LARGE, out, i);
            c->state = CK_DATA;
            break;
        case CK_DATA: {
            size_t n = len - i;
            if (n > c->remaining)
                n = (size_t)c->remaining;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0)
                c->state = CK_DATA_CR;
            out->off = i;
            out->len = n;
            out->consumed = i + n;
            return UA_CK_DATA;
        }
        case CK_DATA_CR:
        case CK_DATA_LF:
            if (b != (c->state == CK_DATA_CR ? '\r' : '\n'))
                return ck_fail(c, UA_PE_CHUNK_CRLF, out, i);
            c->state = c->state == CK_DATA_CR ? CK_DATA_LF : CK_SIZE;
            i++;
            break;
        default: /* CK_LAST: the caller parses the trailer section, not us */
            out->consumed = 0;
            return UA_CK_LAST;
        }
    }
    out->consumed = i;
    return UA_CK_MORE;
}

/* ---------------------------------------------------------------- errors */

static const struct {
    uint16_t status;
    const char *name;
} ERRORS[UA_PE_COUNT] = {
    [UA_PE_NONE] = {0, "none"},
    [UA_PE_METHOD] = {400, "invalid method"},
    [UA_PE_TARGET] = {400, "invalid request-target"},
    [UA_PE_TARGET_TOO_LONG] = {414, "request-target too long"},
    [UA_PE_VERSION] = {400, "invalid HTTP version"},
    [UA_PE_VERSION_UNSUPPORTED] = {505, "unsupported HTTP version"},
    [UA_PE_LINE_END] = {400, "bare CR or LF"},
    [UA_PE_NUL] = {400, "NUL byte"},
    [UA_PE_CTL] = {400, "control character in field value"},
    [UA_PE_HEADER_NAME] = {400, "invalid field name"},
    [UA_PE_WS_BEFORE_COLON] = {400, "whitespace before colon"},
    [UA_PE_OBS_FOLD] = {400, "obsolete line folding"},
    [UA_PE_HEAD_TOO_LARGE] = {431, "head too large"},
    [UA_PE_TOO_MANY_HEADERS] = {431, "too many header fields"},
    [UA_PE_CL_INVALID] = {400, "invalid content-length"},
    [UA_PE_CL_CONFLICT] = {400, "conflicting content-length"},
    [UA_PE_CL_AND_TE] = {400, "content-length with transfer-encoding"},
    [UA_PE_TE_UNSUPPORTED] = {501, "unsupported transfer-encoding"},
    [UA_PE_TE_INVALID] = {400, "invalid transfer-encoding"},
    [UA_PE_HOST] = {400, "missing, repeated or invalid host"},
    [UA_PE_CHUNK_SIZE] = {400, "invalid chunk size"},
    [UA_PE_CHUNK_EXT] = {400, "invalid chunk extension"},
    [UA_PE_CHUNK_CRLF] = {400, "chunk data not followed by CRLF"},
    [UA_PE_BODY_TOO_LARGE] = {413, "body too large"},
    [UA_PE_STATUS] = {502, "invalid status line"},
    [UA_PE_CONNECT] = {501, "CONNECT is not served"},
};

int ua_parse_status(int error)
{
    return error > 0 && error < UA_PE_COUNT ? ERRORS[error].status : (error == 0 ? 0 : -EINVAL);
}

const char *ua_parse_error_name(int error)
{
    return error >= 0 && error < UA_PE_COUNT ? ERRORS[error].name : "unknown";
}
