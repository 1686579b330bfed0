/* C-level parser benchmark: ns per request head, uringasgi vs picohttpparser vs llhttp, same compiler and
 * flags, same run. See run.sh: the peers' sources are unpacked from their PyPI sdists at bench time.
 *
 * What each one does per iteration:
 *   uringasgi  ua_parse_reset + ua_parse_request: spans, validation, lowercasing names in place, the known-
 *              header index, content-length / transfer-encoding / connection / host semantics.
 *   pico       phr_parse_request: spans and validation into a 64-entry header array.
 *   llhttp     llhttp_init + llhttp_execute with on_url / on_header_field / on_header_value callbacks that
 *              record the spans (what a server needs), plus llhttp's own framing semantics.
 * Each number is the best of N (argv[1], default 15) rounds of 200 interleaved batches of about 0.1 ms each
 * (20 ms per contender per round). Batches this short are mostly not hit by the scheduler on a shared
 * machine, so their minimum stays close to the unshared speed where longer batches would all be slowed.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llhttp.h"
#include "parser.h"
#include "picohttpparser.h"
#include "requests.h"

static volatile size_t sink;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint8_t buf[4096];
static size_t blen;
static struct ua_head head;
static struct ua_parse_limits lim;

static size_t run_ours(void)
{
    ua_parse_reset(&head);
    int r = ua_parse_request(&head, buf, blen, &lim);
    if (r <= 0) {
        fprintf(stderr, "uringasgi failed: %d (%s)\n", r, ua_parse_error_name(head.error));
        return 0;
    }
    return head.n_headers;
}

static size_t run_pico(void)
{
    const char *method, *path;
    size_t method_len, path_len, n = 64;
    int minor;
    struct phr_header hdrs[64];
    int r = phr_parse_request((const char *)buf, blen, &method, &method_len, &path, &path_len, &minor, hdrs, &n, 0);
    if (r <= 0) {
        fprintf(stderr, "pico failed: %d\n", r);
        return 0;
    }
    return n;
}

struct spans {
    const char *url;
    size_t url_len, n;
    struct {
        const char *p;
        size_t len;
    } f[128];
};

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct spans *s = p->data;
    s->url = at;
    s->url_len = len;
    return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t len)
{
    struct spans *s = p->data;
    if (s->n < 128) {
        s->f[s->n].p = at;
        s->f[s->n++].len = len;
    }
    return 0;
}

static llhttp_settings_t settings;
static llhttp_t lp;
static struct spans sp;

static size_t run_llhttp(void)
{
    llhttp_init(&lp, HTTP_REQUEST, &settings);
    lp.data = &sp;
    sp.n = 0;
    llhttp_errno_t e = llhttp_execute(&lp, (const char *)buf, blen);
    if (e != HPE_OK && e != HPE_PAUSED_UPGRADE) {
        fprintf(stderr, "llhttp failed: %s\n", llhttp_errno_name(e));
        return 0;
    }
    return sp.n / 2;
}

#define BATCH_NS 1e5
#define BATCHES_PER_ROUND 200

/* How many calls make one timed batch of about BATCH_NS. */
static size_t calibrate(size_t (*fn)(void))
{
    size_t iters = 16;
    for (;;) {
        double t0 = now_ns();
        for (size_t i = 0; i < iters; i++)
            sink += fn();
        if (now_ns() - t0 > BATCH_NS || iters > (1u << 26))
            return iters;
        iters *= 2;
    }
}

static double batch(size_t (*fn)(void), size_t iters)
{
    double t0 = now_ns();
    for (size_t i = 0; i < iters; i++)
        sink += fn();
    return (now_ns() - t0) / (double)iters;
}

#define N_CONTENDERS 5
int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 15;
    static const char *const names[] = {"small", "medium", "large"};
    static const char *const reqs[] = {REQ_SMALL, REQ_MEDIUM, REQ_LARGE};
    static const char *const who[N_CONTENDERS] = {"uringasgi-scalar", "uringasgi-sse42", "uringasgi-avx2",
                                                  "picohttpparser", "llhttp"};
    settings.on_url = on_url;
    settings.on_header_field = on_field;
    settings.on_header_value = on_field;
    printf("request\tbytes\theaders\tparser\tns\n");
    for (int i = 0; i < 3; i++) {
        blen = strlen(reqs[i]);
        memcpy(buf, reqs[i], blen);
        size_t nh = run_pico();
        if (!nh || run_llhttp() != nh || (memcpy(buf, reqs[i], blen), run_ours()) != nh)
            return 1; /* every parser must accept the request and see the same headers */
        /* Rounds interleave the contenders, so a busy moment of the machine hits them alike; the best
         * batch of each is reported. */
        size_t (*fn[N_CONTENDERS])(void) = {run_ours, run_ours, run_ours, run_pico, run_llhttp};
        size_t iters[N_CONTENDERS];
        double best[N_CONTENDERS];
        int have[N_CONTENDERS];
        for (int c = 0; c < N_CONTENDERS; c++) {
            have[c] = c > UA_SIMD_AVX2 || ua_simd_set(c) == 0;
            iters[c] = have[c] ? calibrate(fn[c]) : 0;
            best[c] = 1e18;
        }
        for (int round = 0; round < rounds * BATCHES_PER_ROUND; round++)
            for (int c = 0; c < N_CONTENDERS; c++) {
                if (!have[c])
                    continue;
                if (c <= UA_SIMD_AVX2)
                    ua_simd_set(c);
                double t = batch(fn[c], iters[c]);
                if (t < best[c])
                    best[c] = t;
            }
        for (int c = 0; c < N_CONTENDERS; c++)
            if (have[c])
                printf("%s\t%zu\t%zu\t%s\t%.1f\n", names[i], blen, nh, who[c], best[c]);
    }
    return 0;
}
