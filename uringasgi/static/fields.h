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

/* If-None-Match (RFC 9110 section 13.1.2, strong 0) and If-Match (13.1.1, strong 1): 1 if the list is "*" or
 * holds etag by weak, or strong, comparison. */
int ua_static_etag_listed(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len, int strong);
/* If-Range (section 13.1.5): 1 if the validator still matches (strong etag, or the exact date). */
int ua_static_if_range_ok(const uint8_t *s, uint32_t len, const char *etag, uint32_t etag_len,
                          int64_t mtime);

#define UA_RANGE_NONE 0     /* absent, malformed, or several satisfiable ranges: send it all, 200 */
#define UA_RANGE_ONE 1      /* one satisfiable range (others unsatisfiable): *first, *last inclusive */
#define UA_RANGE_UNSAT 2    /* 416 */
/* Range (section 14.2) against a representation of size bytes. */
int ua_static_parse_range(const uint8_t *s, uint32_t len, uint64_t size, uint64_t *first, uint64_t *last);

/* Accept-Encoding (section 12.5.3): the q-values (0..1000) it gives br and gzip; absent header = 0. */
void ua_static_accept_encoding(const uint8_t *s, uint32_t len, int *q_br, int *q_gzip);

#endif
