/* The router: (Host, path prefix) -> route. Sans-IO: it takes bytes and gives a route.
 *
 * A route is a kind (app, static mount, proxy pool) and a target number the caller gives meaning to
 * (the index of a static mount or a proxy pool). Prefixes match on segment boundaries, the longest first.
 * Hosts: every route belongs to a host name, "" being the default; a request's Host picks its own tree
 * and falls back to the default one (virtual hosts build on this).
 *
 * Every function returns >= 0 on success or -errno; none sets errno.
 */
#ifndef UA_ROUTER_H
#define UA_ROUTER_H

#include <stdint.h>

/* ua:cdef-begin */
#define UA_ROUTE_APP 0    /* the ASGI application (what a request with no other route gets) */
#define UA_ROUTE_STATIC 1 /* a static mount: target = its index */
#define UA_ROUTE_PROXY 2  /* a proxy pool: target = its index */

#define UA_ROUTER_MAX_PREFIX 1024
#define UA_ROUTER_MAX_HOST 255

struct ua_route_match {
    uint32_t kind;       /* UA_ROUTE_* */
    uint32_t target;     /* meaning depends on kind */
    uint32_t prefix_len; /* bytes of the path the route's prefix covers (0 for the app fallback) */
};

struct ua_router;

int ua_router_new(struct ua_router **out);
void ua_router_free(struct ua_router *r);
/* prefix starts with '/'; a trailing '/' is ignored ("/a/" == "/a"); "/" is every path.
 * Adding the same (host, prefix) twice is -EEXIST. */
int ua_router_add(struct ua_router *r, const uint8_t *host, uint32_t host_len, const uint8_t *prefix,
                  uint32_t prefix_len, uint32_t kind, uint32_t target);
/* path is the request target up to '?', still percent-encoded; host may be NULL/0 (no Host).
 * Returns 1 when a route matched and 0 when none did (out then says UA_ROUTE_APP, target 0). */
int ua_router_match(const struct ua_router *r, const uint8_t *host, uint32_t host_len, const uint8_t *path,
                    uint32_t path_len, struct ua_route_match *out);
/* ua:cdef-end */

#endif
