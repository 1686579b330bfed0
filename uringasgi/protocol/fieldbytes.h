/* The bytes a field value may hold (RFC 9110 5.5): VCHAR, obs-text, SP and HTAB, so any byte but the other
 * controls and DEL. One definition for the parser, which checks what clients send, and for h1, which checks
 * what apps send. Internal to the C sources; the bindings do not see it. */
#ifndef UA_FIELDBYTES_H
#define UA_FIELDBYTES_H

#include <stdint.h>

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
