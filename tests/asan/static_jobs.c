/* A static mount's brotli copies made on its helper thread, driven from C so that LeakSanitizer and
 * ThreadSanitizer can watch (the Python tests cannot run under either: CPython keeps objects alive at
 * exit, and is not built for TSan). tests/asan/run.sh builds it twice, -fsanitize=address (leaks on) and
 * -fsanitize=thread, and runs each on a scratch directory given as argv[1].
 *
 * What it checks (exit 1 and a line on stderr otherwise):
 *   1. the first request for each file gets identity at once, while copies queue up: more files than the
 *      queue holds, at quality 11, so the queue fills (-EBUSY) and the mount is freed with jobs queued,
 *      one running and plans still held;
 *   2. on a second mount, settle() brings every copy in and each br response decodes to its file; a file
 *      rewritten meanwhile is served new, and its copy made again.
 */
#define _GNU_SOURCE
#include <brotli/decode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "static/static.h"

#define FILES 100

static int fail(const char *what, int i)
{
    fprintf(stderr, "static_jobs: %s (file %d)\n", what, i);
    return 1;
}

static size_t write_file(const char *dir, int i, int version, char *text, size_t cap)
{
    size_t n = 0;
    for (int k = 0; k < 2500 && n + 64 < cap; k++)
        n += (size_t)snprintf(text + n, cap - n, "row %d of file %d, version %d: %x\n", k, i, version, k * 7919);
    char path[512];
    snprintf(path, sizeof(path), "%s/f%d.txt", dir, i);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0)
        return 0;
    return n;
}

/* GET /f<i>.txt with accept-encoding: br. The plan's body (in buf after the head, or in mount memory) in
 * *body; 1 if the response says content-encoding: br. *ref: the plan's reference, released by the caller. */
static int get(struct ua_static *m, int i, uint8_t *buf, uint32_t cap, const uint8_t **body, size_t *len,
               void **ref)
{
    char path[32];
    struct ua_static_req req = {0};
    struct ua_static_plan plan;
    req.method = (const uint8_t *)"GET";
    req.method_len = 3;
    req.path = (const uint8_t *)path;
    req.path_len = (uint32_t)snprintf(path, sizeof(path), "/f%d.txt", i);
    req.accept_encoding = (const uint8_t *)"br";
    req.accept_encoding_len = 2;
    req.now_ms = 1; /* every entry is revalidated on each request (valid_ms 0): a rewrite is seen */
    if (ua_static_serve(m, &req, buf, cap, &plan) != 0 || plan.status != 200 || plan.fd >= 0)
        return -1;
    const uint8_t *end = memmem(buf, plan.buf_len, "\r\n\r\n", 4);
    if (!end)
        return -1;
    size_t head = (size_t)(end + 4 - buf);
    *body = plan.body ? plan.body : buf + head;
    *len = plan.body ? plan.body_len : plan.buf_len - head;
    *ref = plan.ref;
    return memmem(buf, head, "content-encoding: br\r\n", 22) != NULL;
}

static struct ua_static *mount(const char *dir, int quality)
{
    struct ua_static_config cfg = {.root = dir,
                                   .max_age = -1,
                                   .flags = UA_STATIC_COMPRESS,
                                   .cache_entries = 4 * FILES,
                                   .cache_bytes = 1u << 30,
                                   .small_max = 1u << 20,
                                   .valid_ms = 0,
                                   .compress_min = 1024,
                                   .compress_max = 1u << 20,
                                   .compress_quality = quality};
    struct ua_static *m = NULL;
    return ua_static_new(&cfg, &m) == 0 ? m : NULL;
}

int main(int argc, char **argv)
{
    static char text[FILES][128 << 10];
    static size_t size[FILES];
    static uint8_t buf[256 << 10], plain[256 << 10];
    const uint8_t *body;
    size_t len;
    void *held[8];
    if (argc != 2)
        return fail("usage: static_jobs DIR", -1);
    for (int i = 0; i < FILES; i++)
        if (!(size[i] = write_file(argv[1], i, 0, text[i], sizeof(text[i]))))
            return fail("cannot write", i);

    struct ua_static *m = mount(argv[1], 11);
    if (!m)
        return fail("mount", -1);
    for (int i = 0; i < FILES; i++) {
        void *ref;
        int br = get(m, i, buf, sizeof(buf), &body, &len, &ref);
        if (br != 0 || len != size[i] || memcmp(body, text[i], len) != 0)
            return fail("first response is not the file in identity", i);
        if (i < 8)
            held[i] = ref;
        else
            ua_static_release(m, ref);
    }
    ua_static_free(m); /* jobs queued and one running; eight plans still held */
    for (int i = 0; i < 8; i++)
        ua_static_release(m, held[i]); /* the last one frees the mount */

    m = mount(argv[1], 1);
    if (!m)
        return fail("mount", -1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < FILES; i++) {
            void *ref;
            if (get(m, i, buf, sizeof(buf), &body, &len, &ref) < 0)
                return fail("request", i);
            ua_static_release(m, ref);
        }
        ua_static_settle(m);
        if (round == 1) /* rewritten between the copy and the next request: served new, copied again */
            size[7] = write_file(argv[1], 7, 1, text[7], sizeof(text[7]));
    }
    for (int i = 0; i < FILES; i++) {
        void *ref;
        int br = get(m, i, buf, sizeof(buf), &body, &len, &ref);
        size_t out = sizeof(plain);
        if (br != 1)
            return fail("no br copy after settle", i);
        if (BrotliDecoderDecompress(len, body, &out, plain) != BROTLI_DECODER_RESULT_SUCCESS || out != size[i] ||
            memcmp(plain, text[i], out) != 0)
            return fail("br copy does not decode to the file", i);
        ua_static_release(m, ref);
    }
    struct ua_static_stats st;
    ua_static_stats(m, &st);
    if (st.compressions != FILES + 1)
        return fail("compressions is not one per file plus the rewritten one", (int)st.compressions);
    ua_static_free(m);
    printf("static_jobs: %d files, identity first, queue full, freed with jobs out; %llu copies decode\n", FILES,
           (unsigned long long)st.compressions);
    return 0;
}
