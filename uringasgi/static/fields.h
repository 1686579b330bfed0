/* The request and response fields static serving reads and writes: HTTP-dates, entity tags, Range,
 * Accept-Encoding. Pure functions over bytes; internal to the static area (no cdef part). */
#ifndef UA_STATIC_FIELDS_H
#define UA_STATIC_FIELDS_H

#include <stdint.h>
#include <time.h>

/* IMF-fixdate (RFC 9110 section 5.6.7) of t into out[29]; returns 29. */
int ua_static_http_date(int64_t t, char *out);
/* Any of the three HTTP-date forms; 0 and *t on success, -EINVAL otherwise. */
int ua_static_parse_date(const uint8_t *s, uint32_t len, int64_t *t);

/* If-None-Match (RFC 9110 section 13.1.2, strong 0) and If-Match (13.1.1, strong 1), one field line of either:
 * 1 if it holds etag by weak, or strong, comparison; UA_ETAG_ANY if it is "*"; 0 if no member matches;
 * -EINVAL if a malformed member ended the walk (so the lines after this one cannot be trusted either). */
#define UA_ETAG_ANY 2
int ua_static_etag_listed(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len, int strong);
/* If-Range (section 13.1.5): 1 if the validator still matches (strong etag, or the exact date). */
int ua_static_if_range_ok(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len,
                          int64_t mtime);

#define UA_RANGE_NONE 0     /* absent, malformed, or several satisfiable ranges: send it all, 200 */
#define UA_RANGE_ONE 1      /* one satisfiable range (others unsatisfiable): *first, *last inclusive */
#define UA_RANGE_UNSAT 2    /* 416 */
/* Range (section 14.2) against a representation of size bytes. */
int ua_static_parse_range(const uint8_t *s, uint32_t len, uint64_t size, uint64_t *first, uint64_t *last);

/* Accept-Encoding (section 12.5.3): the q-values (0..1000) its members give br, gzip and "*", -1 for none. */
struct ua_codings {
    int br, gzip, star;
};
#define UA_CODINGS_NONE {-1, -1, -1}
/* One field line into c, a later member naming a coding again winning as within one line: the lines of the
 * field, fed in order into one c, read as their values joined by commas (section 5.3). */
void ua_static_accept_encoding(const uint8_t *s, uint32_t len, struct ua_codings *c);
/* What c gives br and gzip: a coding not listed takes the q of "*", or is not acceptable (0) without it. */
void ua_static_codings_q(const struct ua_codings *c, int *q_br, int *q_gzip);

#endif
