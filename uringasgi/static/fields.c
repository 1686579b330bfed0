/* HTTP fields for static serving (RFC 9110). Every parser is strict about what it understands and, on
 * anything else, says "not present": a malformed Range is ignored (section 14.2 lets a server ignore it),
 * a malformed date is ignored (13.1.3 says it MUST be), a malformed If-None-Match matches nothing. */
#include "static/fields.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static const char WDAY[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char MON[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

int ua_static_http_date(int64_t t, char *out)
{
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    memcpy(out, WDAY[tm.tm_wday], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, tm.tm_mday);
    out[7] = ' ';
    memcpy(out + 8, MON[tm.tm_mon], 3);
    out[11] = ' ';
    int y = tm.tm_year + 1900;
    put2(out + 12, (y / 100) % 100);
    put2(out + 14, y % 100);
    out[16] = ' ';
    put2(out + 17, tm.tm_hour);
    out[19] = ':';
    put2(out + 20, tm.tm_min);
    out[22] = ':';
    put2(out + 23, tm.tm_sec);
    memcpy(out + 25, " GMT", 4);
    return 29;
}

struct cursor {
    const uint8_t *s;
    uint32_t len, pos;
};

static int take(struct cursor *c, const char *lit)
{
    uint32_t n = (uint32_t)strlen(lit);
    if (c->len - c->pos < n || memcmp(c->s + c->pos, lit, n) != 0)
        return 0;
    c->pos += n;
    return 1;
}

/* Exactly n digits (a leading space counts as a zero when pad is set: asctime's " 6"). */
static int digits(struct cursor *c, unsigned n, int pad, int *v)
{
    if (c->len - c->pos < n)
        return 0;
    *v = 0;
    for (unsigned i = 0; i < n; i++) {
        uint8_t ch = c->s[c->pos + i];
        if (pad && i == 0 && ch == ' ')
            continue;
        if (ch < '0' || ch > '9')
            return 0;
        *v = *v * 10 + (ch - '0');
    }
    c->pos += n;
    return 1;
}

static int month(struct cursor *c, int *m)
{
    for (int i = 0; i < 12; i++)
        if (take(c, MON[i])) {
            *m = i + 1;
            return 1;
        }
    return 0;
}

static int hms(struct cursor *c, int *h, int *mi, int *s)
{
    return digits(c, 2, 0, h) && take(c, ":") && digits(c, 2, 0, mi) && take(c, ":") && digits(c, 2, 0, s);
}

int ua_static_parse_date(const uint8_t *s, uint32_t len, int64_t *t)
{
    struct cursor c = {s, len, 0};
    int d, m, y, h, mi, sec;
    while (c.pos < len && ((s[c.pos] | 0x20) >= 'a' && (s[c.pos] | 0x20) <= 'z'))
        c.pos++;
    if (c.pos < 3)
        return -EINVAL;
    if (take(&c, ", ")) {
        if (!digits(&c, 2, 0, &d))
            return -EINVAL;
        if (take(&c, " ")) { /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            if (!month(&c, &m) || !take(&c, " ") || !digits(&c, 4, 0, &y))
                return -EINVAL;
        } else if (take(&c, "-")) { /* obsolete RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
            if (!month(&c, &m) || !take(&c, "-") || !digits(&c, 2, 0, &y))
                return -EINVAL;
            y += y < 70 ? 2000 : 1900; /* section 5.6.7: a two-digit year is at most 50 years ahead */
        } else {
            return -EINVAL;
        }
        if (!take(&c, " ") || !hms(&c, &h, &mi, &sec) || !take(&c, " GMT"))
            return -EINVAL;
    } else if (take(&c, " ")) { /* asctime: Sun Nov  6 08:49:37 1994 */
        if (!month(&c, &m) || !take(&c, " ") || !digits(&c, 2, 1, &d) || !take(&c, " ") ||
            !hms(&c, &h, &mi, &sec) || !take(&c, " ") || !digits(&c, 4, 0, &y))
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    if (c.pos != len || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    *t = days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
    return 0;
}

static int ows(uint8_t ch)
{
    return ch == ' ' || ch == '\t';
}

/* Walks a list of entity-tags; 1 when one equals etag (a strong one, with its quotes) by weak comparison
 * (W/ ignored), or with strong set by strong comparison (a W/ member never matches; section 8.8.3.2). A
 * malformed member ends the walk, -EINVAL: nothing after it can be trusted. */
static int etag_in_list(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len, int strong)
{
    uint32_t i = 0;
    for (;;) {
        while (i < len && (ows(s[i]) || s[i] == ','))
            i++;
        if (i == len)
            return 0;
        int weak = len - i >= 2 && s[i] == 'W' && s[i + 1] == '/';
        if (weak)
            i += 2;
        if (i == len || s[i] != '"')
            return -EINVAL;
        uint32_t start = i++;
        while (i < len && s[i] != '"')
            i++;
        if (i == len)
            return -EINVAL;
        i++;
        if (!(strong && weak) && i - start == etag_len && memcmp(s + start, etag, etag_len) == 0)
            return 1;
    }
}

int ua_static_etag_listed(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len, int strong)
{
    uint32_t a = 0, b = len;
    while (a < b && ows(s[a]))
        a++;
    while (b > a && ows(s[b - 1]))
        b--;
    if (b - a == 1 && s[a] == '*')
        return UA_ETAG_ANY;
    return etag_in_list(s + a, b - a, etag, etag_len, strong);
}

int ua_static_if_range_ok(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len,
                          int64_t mtime)
{
    while (len && ows(s[len - 1]))
        len--;
    while (len && ows(s[0])) {
        s++;
        len--;
    }
    if (len >= 2 && (s[0] == '"' || (s[0] == 'W' && s[1] == '/')))
        return s[0] == '"' && len == etag_len && memcmp(s, etag, len) == 0;
    int64_t t;
    return ua_static_parse_date(s, len, &t) == 0 && t == mtime;
}

/* A decimal number, saturating at UINT64_MAX / 10 so no digit string can overflow. */
static int number(const uint8_t *s, uint32_t len, uint32_t *i, uint64_t *v)
{
    uint32_t start = *i;
    *v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (*v < UINT64_MAX / 100)
            *v = *v * 10 + (uint64_t)(s[*i] - '0');
        (*i)++;
    }
    return *i > start;
}

int ua_static_parse_range(const uint8_t *s, uint32_t len, uint64_t size, uint64_t *first, uint64_t *last)
{
    /* range-unit is case-insensitive (section 14.1); no whitespace is allowed around '='. */
    if (len < 6 || strncasecmp((const char *)s, "bytes=", 6) != 0)
        return UA_RANGE_NONE;
    uint32_t i = 6, satisfiable = 0;
    uint64_t f = 0, l = 0;
    for (;;) {
        while (i < len && ows(s[i]))
            i++;
        uint64_t a, b;
        if (i < len && s[i] == '-') { /* suffix-range: the last b bytes */
            i++;
            if (!number(s, len, &i, &b))
                return UA_RANGE_NONE;
            if (b > 0 && size > 0) {
                satisfiable++;
                f = b >= size ? 0 : size - b;
                l = size - 1;
            }
        } else {
            if (!number(s, len, &i, &a) || i == len || s[i] != '-')
                return UA_RANGE_NONE;
            i++;
            int has_last = number(s, len, &i, &b);
            if (has_last && b < a)
                return UA_RANGE_NONE; /* invalid range-spec: the whole field is ignored */
            if (a < size) {
                satisfiable++;
                f = a;
                l = (!has_last || b >= size) ? size - 1 : b;
            }
        }
        while (i < len && ows(s[i]))
            i++;
        if (i == len)
            break;
        if (s[i] != ',')
            return UA_RANGE_NONE;
        i++;
    }
    if (!satisfiable)
        return UA_RANGE_UNSAT;
    if (satisfiable > 1)
        return UA_RANGE_NONE; /* several ranges: answered with the whole file, 200 (section 14.2 allows) */
    *first = f;
    *last = l;
    return UA_RANGE_ONE;
}

/* q-value (section 12.4.2): "0", "1", "0.xyz", "1.000"; as thousandths, or -1 when malformed. */
static int qvalue(const uint8_t *s, uint32_t len)
{
    if (len == 0 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int q = (s[0] - '0') * 1000, scale = 100;
    if (len == 1)
        return q;
    if (s[1] != '.' || len > 5)
        return -1;
    for (uint32_t i = 2; i < len; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        q += (s[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

void ua_static_accept_encoding(const uint8_t *s, uint32_t len, struct ua_codings *c)
{
    uint32_t i = 0;
    while (i < len) {
        while (i < len && (ows(s[i]) || s[i] == ','))
            i++;
        uint32_t t0 = i;
        while (i < len && s[i] != ',' && s[i] != ';' && !ows(s[i]))
            i++;
        uint32_t tlen = i - t0;
        int q = 1000;
        while (i < len && s[i] != ',') { /* parameters: only q matters */
            while (i < len && (ows(s[i]) || s[i] == ';'))
                i++;
            uint32_t p0 = i;
            while (i < len && s[i] != ',' && s[i] != ';' && !ows(s[i]))
                i++;
            if (i - p0 >= 2 && (s[p0] | 0x20) == 'q' && s[p0 + 1] == '=')
                q = qvalue(s + p0 + 2, i - p0 - 2);
            while (i < len && ows(s[i]))
                i++;
        }
        if (q < 0 || tlen == 0)
            continue;
        const char *tok = (const char *)s + t0;
        if (tlen == 2 && strncasecmp(tok, "br", 2) == 0)
            c->br = q;
        else if ((tlen == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                 (tlen == 6 && strncasecmp(tok, "x-gzip", 6) == 0))
            c->gzip = q;
        else if (tlen == 1 && tok[0] == '*')
            c->star = q;
    }
}

void ua_static_codings_q(const struct ua_codings *c, int *q_br, int *q_gzip)
{
    int star = c->star > 0 ? c->star : 0;
    *q_br = c->br >= 0 ? c->br : star;
    *q_gzip = c->gzip >= 0 ? c->gzip : star;
}
