/* The open-file cache (see cache.h for its contract).
 *
 * Rules:
 * - Every path is opened with openat2(dirfd, key, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (Linux 5.6):
 *   the kernel refuses any resolution, through ".." or a symlink, that leaves the mount. Bytes are only
 *   ever read from an fd opened that way.
 * - Revalidation, at most once per valid_ms, is an fstatat() of the same key. It may follow a symlink out
 *   of the mount, but it only compares (dev, ino, size, mtime) with what the cached fd holds: any
 *   difference, or an error, drops the entry and the next lookup opens the path again with openat2.
 *   So a deleted file becomes a miss, a changed one gets a new ETag, within valid_ms. A large file (one
 *   whose fd is kept) is also fstat'ed on every use, so its deletion, truncation or rewrite in place is
 *   seen at once: a response never announces a length its file no longer has.
 * - A file of up to small_max bytes is read into memory once and its fd closed; larger ones keep the fd.
 * - Bounds: at most max_entries entries (so at most that many fds) and max_bytes of bodies and brotli
 *   copies; the least recently used entries leave first. An entry that leaves while referenced is freed
 *   when its last reference is put back.
 */
#define _GNU_SOURCE
#include "static/cache.h"

#include <brotli/encode.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "static/fields.h"
#include "static/helper.h"

static int open_beneath(int dirfd, const char *key);
static void br_finish_all(struct ua_fcache *c, struct ua_job *list);

int ua_static_cache_init(struct ua_fcache *c, int dirfd, uint32_t max_entries, uint64_t max_bytes,
                         uint32_t small_max, uint32_t valid_ms)
{
    uint32_t n = 16;
    memset(c, 0, sizeof(*c));
    if (max_entries == 0)
        return -EINVAL;
    int fd = open_beneath(dirfd, ".");
    if (fd < 0)
        return fd;
    close(fd);
    while (n < 2 * max_entries && n < (1u << 24))
        n <<= 1;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (!c->buckets)
        return -ENOMEM;
    c->mask = n - 1;
    c->dirfd = dirfd;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->small_max = small_max;
    c->valid_ms = valid_ms;
    return 0;
}

static uint32_t hash_key(const char *k, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)k[i]) * 16777619u;
    return h;
}

static uint64_t entry_bytes(const struct ua_fentry *e)
{
    return (e->body ? e->size : 0) + e->br_len;
}

static void entry_free(struct ua_fentry *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->body);
    free(e->br);
    free(e);
}

static void lru_unlink(struct ua_fcache *c, struct ua_fentry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push(struct ua_fcache *c, struct ua_fentry *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (!c->lru_tail)
        c->lru_tail = e;
}

static void unref(struct ua_fentry *e)
{
    if (--e->refs == 0)
        entry_free(e);
}

void ua_static_cache_put(struct ua_fcache *c, struct ua_fentry *e)
{
    c->held--;
    unref(e);
}

static void take_ref(struct ua_fcache *c, struct ua_fentry *e)
{
    e->refs++;
    c->held++;
}

/* Take e out of the table; the table's own reference goes with it. */
static void drop(struct ua_fcache *c, struct ua_fentry *e)
{
    struct ua_fentry **p = &c->buckets[e->hash & c->mask];
    while (*p != e)
        p = &(*p)->hnext;
    *p = e->hnext;
    lru_unlink(c, e);
    e->cached = 0;
    c->n_entries--;
    c->bytes -= entry_bytes(e);
    unref(e);
}

void ua_static_cache_fini(struct ua_fcache *c)
{
    br_finish_all(c, ua_helper_stop(c->helper));
    c->helper = NULL;
    while (c->lru_head)
        drop(c, c->lru_head);
    free(c->buckets);
    c->buckets = NULL;
}

static void evict(struct ua_fcache *c)
{
    while (c->lru_tail && (c->n_entries > c->max_entries || c->bytes > c->max_bytes))
        drop(c, c->lru_tail);
}

/* An fd the cache holds is a large file: one fstat beside a transfer of that size is nothing, and it
 * catches a file deleted (no links left), truncated or rewritten in place at once, not a second later. */
static int fd_unchanged(const struct ua_fentry *e)
{
    struct stat st;
    return fstat(e->fd, &st) == 0 && st.st_nlink > 0 && (uint64_t)st.st_size == e->size &&
           st.st_mtim.tv_sec == e->mtim.tv_sec && st.st_mtim.tv_nsec == e->mtim.tv_nsec;
}

static int still_valid(struct ua_fcache *c, struct ua_fentry *e, uint64_t now_ms)
{
    struct stat st;
    if (now_ms - e->checked_ms < c->valid_ms)
        return e->fd < 0 || fd_unchanged(e);
    int rc = fstatat(c->dirfd, e->key, &st, 0);
    int same;
    if (e->kind == UA_FE_MISSING)
        same = rc < 0 && (errno == ENOENT || errno == ENOTDIR);
    else if (rc < 0)
        same = 0;
    else if (e->kind == UA_FE_DIR)
        same = S_ISDIR(st.st_mode) && st.st_ino == e->ino && st.st_dev == e->dev;
    else
        same = S_ISREG(st.st_mode) && st.st_ino == e->ino && st.st_dev == e->dev &&
               (uint64_t)st.st_size == e->size && st.st_mtim.tv_sec == e->mtim.tv_sec &&
               st.st_mtim.tv_nsec == e->mtim.tv_nsec;
    if (same)
        e->checked_ms = now_ms;
    return same;
}

static int open_beneath(int dirfd, const char *key)
{
    struct open_how how = {
        /* O_NONBLOCK: opening a FIFO someone left in the mount must not block the worker. */
        .flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dirfd, key, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

/* Read the whole file (size bytes at most) into memory; the length actually read, or -errno. */
static int64_t slurp(int fd, uint64_t size, uint8_t **out)
{
    uint8_t *b = malloc(size ? size : 1);
    uint64_t got = 0;
    if (!b)
        return -ENOMEM;
    while (got < size) {
        ssize_t n = pread(fd, b + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = -errno;
            free(b);
            return err;
        }
        if (n == 0)
            break; /* truncated since fstat: serve what is there; the next check sees the new size */
        got += (uint64_t)n;
    }
    *out = b;
    return (int64_t)got;
}

/* Out of descriptors (the process's limit, which the connections and every mount share): the least
 * recently used quarter of this cache's entries whose fd no response holds are dropped, closing those fds.
 * How many were dropped. */
static uint32_t shed_fds(struct ua_fcache *c)
{
    uint32_t want = c->n_entries / 4 + 1, shed = 0;
    for (struct ua_fentry *e = c->lru_tail, *prev; e && shed < want; e = prev) {
        prev = e->prev;
        if (e->fd >= 0 && e->refs == 1) {
            drop(c, e);
            shed++;
        }
    }
    return shed;
}

/* Fill e from a fresh openat2 of its key. 0, or -errno for failures that are not a plain miss. */
static int load(struct ua_fcache *c, struct ua_fentry *e)
{
    struct stat st;
    c->opens++;
    int fd = open_beneath(c->dirfd, e->key);
    if ((fd == -EMFILE || fd == -ENFILE) && shed_fds(c))
        fd = open_beneath(c->dirfd, e->key);
    if (fd < 0) {
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM || fd == -EINTR || fd == -EAGAIN)
            return fd;
        /* ENOENT, ENOTDIR, ENAMETOOLONG, and EXDEV/ELOOP from a path or symlink leaving the mount. */
        e->kind = UA_FE_MISSING;
        e->status = (fd == -EACCES || fd == -EPERM) ? 403 : 404;
        return 0;
    }
    if (fstat(fd, &st) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->mtim = st.st_mtim;
    if (S_ISDIR(st.st_mode)) {
        e->kind = UA_FE_DIR;
        close(fd);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) { /* devices, FIFOs, sockets are never served */
        e->kind = UA_FE_MISSING;
        e->status = 404;
        close(fd);
        return 0;
    }
    e->kind = UA_FE_FILE;
    e->size = (uint64_t)st.st_size;
    if (e->size <= c->small_max && e->size <= c->max_bytes) {
        int64_t got = slurp(fd, e->size, &e->body);
        close(fd);
        if (got < 0)
            return (int)got;
        e->size = (uint64_t)got;
    } else {
        e->fd = fd;
    }
    e->mtime = st.st_mtim.tv_sec;
    ua_static_http_date(e->mtime, e->lastmod);
    /* A .br and a .gz sibling of one file can share mtime and size: the suffix keeps their tags apart. */
    const char *tag = "";
    if (e->key_len > 3 && e->key[e->key_len - 3] == '.' &&
        (strcmp(e->key + e->key_len - 2, "br") == 0 || strcmp(e->key + e->key_len - 2, "gz") == 0))
        tag = e->key[e->key_len - 2] == 'b' ? "-br" : "-gz";
    e->etag_len = (uint8_t)snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx%s\"", (unsigned long long)e->mtime,
                                    (unsigned long long)e->size, tag);
    e->mime = ua_static_mime(e->key, e->key_len);
    return 0;
}

struct ua_fentry *ua_static_cache_get(struct ua_fcache *c, const char *key, uint32_t key_len, uint64_t now_ms,
                                      int keep_miss, int *err)
{
    uint32_t h = hash_key(key, key_len);
    struct ua_fentry **slot = &c->buckets[h & c->mask];
    for (struct ua_fentry *e = *slot; e; e = e->hnext) {
        if (e->hash != h || e->key_len != key_len || memcmp(e->key, key, key_len) != 0)
            continue;
        if (!still_valid(c, e, now_ms)) {
            drop(c, e);
            break;
        }
        c->hits++;
        lru_unlink(c, e);
        lru_push(c, e);
        take_ref(c, e);
        return e;
    }
    struct ua_fentry *e = calloc(1, sizeof(*e) + key_len + 1);
    if (!e) {
        *err = -ENOMEM;
        return NULL;
    }
    memcpy(e->key, key, key_len);
    e->key_len = key_len;
    e->hash = h;
    e->fd = -1;
    e->checked_ms = now_ms;
    int rc = load(c, e);
    if (rc < 0) {
        entry_free(e);
        *err = rc;
        return NULL;
    }
    if (e->kind == UA_FE_MISSING && !keep_miss) {
        e->refs = 1;
        c->held++;
        return e;
    }
    e->cached = 1;
    e->refs = 2; /* the table's and the caller's */
    c->held++;
    e->hnext = *slot;
    *slot = e;
    lru_push(c, e);
    c->n_entries++;
    c->bytes += entry_bytes(e);
    evict(c);
    return e;
}

/* A brotli copy being made: run() on the helper thread reads only e's size, body and fd, which stay as
 * they are while the job's reference keeps e alive. */
struct br_job {
    struct ua_job job;
    struct ua_fentry *e;
    int quality;
    int err;           /* -errno reading the file (-EAGAIN: its size changed): a later request asks again */
    int ran;           /* the encoder ran */
    uint8_t *out;      /* the copy, when it came out smaller than the file */
    size_t out_len;
};

static void br_run(struct ua_job *j)
{
    struct br_job *b = (struct br_job *)j;
    struct ua_fentry *e = b->e;
    uint8_t *src = e->body;
    if (!src) {
        int64_t got = slurp(e->fd, e->size, &src);
        if (got < 0 || (uint64_t)got != e->size) {
            if (got >= 0)
                free(src);
            b->err = got < 0 ? (int)got : -EAGAIN;
            return;
        }
    }
    size_t out_len = BrotliEncoderMaxCompressedSize(e->size);
    uint8_t *out = malloc(out_len);
    int ok = out && BrotliEncoderCompress(b->quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, e->size, src,
                                          &out_len, out);
    if (src != e->body)
        free(src);
    b->ran = 1;
    /* Only a copy that saves something is worth its memory and the client's decoding. */
    if (!ok || out_len >= e->size) {
        free(out);
        return;
    }
    uint8_t *shrunk = realloc(out, out_len);
    b->out = shrunk ? shrunk : out;
    b->out_len = out_len;
}

void ua_static_cache_brotli(struct ua_fcache *c, struct ua_fentry *e, int quality)
{
    if (e->br_state != UA_BR_UNTRIED)
        return;
    if (e->size == 0) {
        e->br_state = UA_BR_NO;
        return;
    }
    struct br_job *b = calloc(1, sizeof(*b));
    if (!b)
        return;
    b->job.run = br_run;
    b->e = e;
    b->quality = quality;
    if (ua_helper_submit(&c->helper, &b->job) < 0) {
        free(b);
        return;
    }
    e->refs++;
    e->br_state = UA_BR_MAKING;
}

/* A job back from the helper: its copy into its entry, if that entry is still the cache's. */
static void br_finish(struct ua_fcache *c, struct br_job *b)
{
    struct ua_fentry *e = b->e;
    c->compressions += (uint64_t)b->ran;
    if (e->br_state == UA_BR_MAKING) {
        if (b->err) { /* changed under the job (renewed soon, its copy with it), or unreadable this once */
            e->br_state = UA_BR_UNTRIED;
        } else if (b->out && e->cached) {
            e->br = b->out;
            e->br_len = b->out_len;
            b->out = NULL;
            e->br_state = UA_BR_READY;
            e->br_etag_len = (uint8_t)snprintf(e->br_etag, sizeof(e->br_etag), "\"%llx-%llx-br\"",
                                               (unsigned long long)e->mtime, (unsigned long long)e->size);
            c->bytes += e->br_len;
        } else {
            e->br_state = b->out ? UA_BR_UNTRIED : UA_BR_NO;
        }
    }
    free(b->out);
    free(b);
    unref(e);
}

static void br_finish_all(struct ua_fcache *c, struct ua_job *list)
{
    while (list) {
        struct ua_job *next = list->next;
        br_finish(c, (struct br_job *)list);
        list = next;
    }
}

void ua_static_cache_collect(struct ua_fcache *c, int wait)
{
    struct ua_job *list = ua_helper_take(c->helper, wait);
    if (list) {
        br_finish_all(c, list);
        evict(c);
    }
}
