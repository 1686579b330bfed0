/* The open-file cache of a static mount; internal to the static area.
 *
 * An entry is what a relative path resolved to the last time it was opened: a file (its fd, or its whole
 * body in memory when small, and its prebuilt validators), a directory, or a miss. Entries are checked
 * against the disk at most once per valid_ms. Lookups hand out a reference; an entry the cache drops
 * (evicted, changed, deleted) lives on until its last reference is put back, so a response in flight
 * never sees its fd closed or its memory freed under it. Single-threaded (one cache per worker), but for the
 * brotli copies, made on a helper thread (helper.h) from an entry the job holds a reference on.
 */
#ifndef UA_STATIC_CACHE_H
#define UA_STATIC_CACHE_H

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "static/mime.h"

#define UA_FE_MISSING 0
#define UA_FE_FILE 1
#define UA_FE_DIR 2

#define UA_ETAG_MAX 48

#define UA_SIB_BR 1    /* a "<key>.br" file exists */
#define UA_SIB_GZ 2    /* a "<key>.gz" file exists */
#define UA_SIB_KNOWN 4 /* the two bits above have been looked up */

#define UA_BR_UNTRIED 0 /* no brotli copy tried yet (or the last try could not read the file) */
#define UA_BR_READY 1   /* br holds a smaller copy */
#define UA_BR_NO 2      /* not worth it */
#define UA_BR_MAKING 3  /* the helper thread is making it */

struct ua_fentry {
    struct ua_fentry *hnext, *prev, *next; /* hash chain; LRU list (most recent first) */
    uint32_t hash, key_len;
    int32_t refs;
    uint8_t cached;                        /* still reachable from the hash table */
    uint8_t kind;                          /* UA_FE_* */
    uint8_t br_state;                      /* UA_BR_* */
    uint8_t siblings;                      /* UA_SIB_* found when last looked, at sib_checked_ms */
    int16_t status;                        /* for a miss: 404 or 403 */
    uint64_t checked_ms, sib_checked_ms;
    dev_t dev;
    ino_t ino;
    struct timespec mtim;
    uint64_t size;
    int fd;                                /* -1 when the body is in memory (or not a file) */
    uint8_t *body;                         /* the whole file when small */
    const struct ua_mime *mime;
    int64_t mtime;                         /* seconds, as Last-Modified says it */
    char lastmod[29];                      /* IMF-fixdate */
    uint8_t etag_len, br_etag_len;
    char etag[UA_ETAG_MAX];                /* with its quotes: "<mtime hex>-<size hex>" as nginx writes it */
    char br_etag[UA_ETAG_MAX];
    uint8_t *br;
    uint64_t br_len;
    char key[];                            /* relative path beneath the mount, NUL-terminated */
};

struct ua_fcache {
    int dirfd;
    uint32_t max_entries, small_max, valid_ms, n_entries, mask;
    uint64_t max_bytes, bytes;
    uint64_t opens, hits, held, compressions;
    struct ua_helper *helper;              /* makes brotli copies; NULL until the first */
    struct ua_fentry **buckets;
    struct ua_fentry *lru_head, *lru_tail;
};

/* -ENOSYS when the kernel has no openat2 (before 5.6): without it nothing can be opened safely. */
int ua_static_cache_init(struct ua_fcache *c, int dirfd, uint32_t max_entries, uint64_t max_bytes,
                         uint32_t small_max, uint32_t valid_ms);
void ua_static_cache_fini(struct ua_fcache *c);
/* The entry for key (a clean relative path, "." for the mount's root), with a reference; NULL and *err
 * (-errno) when it could not even be looked up (out of memory or fds): that is a 500, not a miss.
 * A miss is remembered only with keep_miss: sibling lookups remember theirs in the file's entry. */
struct ua_fentry *ua_static_cache_get(struct ua_fcache *c, const char *key, uint32_t key_len, uint64_t now_ms,
                                      int keep_miss, int *err);
void ua_static_cache_put(struct ua_fcache *c, struct ua_fentry *e);
/* Have a brotli copy of file e made on the helper thread, if none was tried: br_state goes to
 * UA_BR_MAKING, and to READY or NO once a later collect finds it done. The job holds a reference on e.
 * When the job cannot be queued (too many out, no memory, no thread), nothing changes and a later request
 * asks again: the response never waits for, or fails over, a copy. */
void ua_static_cache_brotli(struct ua_fcache *c, struct ua_fentry *e, int quality);
/* Finish the copies the helper has made since the last collect (with wait, first every one asked for):
 * each goes into its entry (counting against max_bytes) and the job's reference is put back. */
void ua_static_cache_collect(struct ua_fcache *c, int wait);

#endif
