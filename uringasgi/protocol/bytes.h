/* Byte-level pieces that parser.c (what clients send) and h1.c (what apps send) share: unaligned loads, the
 * case-blind compare with a lowercase literal, the walk over a list value's elements, and the field-value
 * byte class (RFC 9110 5.5). Internal to
 * the C sources; the bindings do not see it. */
#ifndef UA_BYTES_H
#define UA_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t ld16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Does p[0..n) equal the lowercase literal, ignoring case? Where n is a constant this folds to two or
 * three word compares. OR 0x20 lowercases A-Z and leaves a-z, digits and '-' alone; of the bytes a
 * name or a value may hold, no other becomes a letter, a digit or '-' (only CTLs would, and they were
 * rejected), so the compare is exact for literals made of those. */
static inline int name_is(const uint8_t *p, const char *lit, size_t n)
{
    const uint64_t c8 = 0x2020202020202020ull;
    const uint32_t c4 = 0x20202020u;
    if (n >= 16)
        return (((ld64(p) | c8) ^ ld64(lit)) | ((ld64(p + 8) | c8) ^ ld64(lit + 8)) |
                ((ld64(p + n - 8) | c8) ^ ld64(lit + n - 8))) == 0;
    if (n >= 8)
        return (((ld64(p) | c8) ^ ld64(lit)) | ((ld64(p + n - 8) | c8) ^ ld64(lit + n - 8))) == 0;
    if (n >= 4)
        return (((ld32(p) | c4) ^ ld32(lit)) | ((ld32(p + n - 4) | c4) ^ ld32(lit + n - 4))) == 0;
    for (size_t i = 0; i < n; i++)
        if ((p[i] | 0x20) != (uint8_t)lit[i])
            return 0;
    return 1;
}

/* The next element of a comma-separated list value from *i on (RFC 9110 5.6.1), without the spaces and
 * tabs around it: its start, and its length in *len (0 for an empty element); *i moves past its comma. */
static inline size_t ua_next_element(const uint8_t *v, size_t n, size_t *i, size_t *len)
{
    size_t s = *i, e;
    while (*i < n && v[*i] != ',')
        ++*i;
    e = (*i)++;
    while (s < e && (v[s] == ' ' || v[s] == '\t'))
        s++;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
        e--;
    *len = e - s;
    return s;
}

/* A value byte: VCHAR, obs-text, SP or HTAB, so any byte but the other controls and DEL. */
static inline int ua_value_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

#if defined(__x86_64__)
#include <emmintrin.h>

/* A bit for each of the 16 bytes that is not a value byte. SSE2 only: part of the x86-64 baseline. */
static inline unsigned ua_value_bad16(__m128i v)
{
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); /* unsigned v <= 0x1f */
    ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')), ctl);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f))));
}
#endif

#endif
