/* Router: a radix tree per host from path prefix to route.
 *
 * Rules:
 * - A prefix is stored without its trailing '/', so "/assets" and "/assets/" are one route and "/" is the
 *   empty prefix, which every path matches.
 * - A prefix matches a path when it is a byte prefix of it that ends on a segment boundary: the path ends
 *   there or a '/' follows. "/assets" matches "/assets" and "/assets/a.css", never "/assetsx".
 * - The longest matching prefix wins. Walking the tree from the root, each node passed whose route matches
 *   replaces the previous candidate, so the last one is the longest.
 * - Matching is on the raw (percent-encoded) path, byte for byte, as a client sent it; whatever a route
 *   does with the rest of the path (decoding, dot segments) is its own business.
 * - Hosts: one tree per host name (compared without case and without a ":port"); a request whose Host
 *   has no tree, or whose tree has no match, uses the default tree (host ""). No match at all is the app.
 * Children of a node are kept sorted by their first byte; labels of siblings never share a first byte.
 */
#include "routes/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct node {
    uint8_t *label;
    uint32_t label_len;
    uint32_t n_kids;
    struct node **kids;
    int has_route;
    uint32_t kind, target;
};

struct host_tree {
    uint8_t name[UA_ROUTER_MAX_HOST];
    uint32_t name_len;
    struct node *root;
};

struct ua_router {
    uint32_t n_hosts;
    struct host_tree *hosts; /* hosts[0] is the default tree, host "" */
};

static struct node *node_new(const uint8_t *label, uint32_t len)
{
    struct node *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    if (len) {
        n->label = malloc(len);
        if (!n->label) {
            free(n);
            return NULL;
        }
        memcpy(n->label, label, len);
    }
    n->label_len = len;
    return n;
}

static void node_free(struct node *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->n_kids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n->label);
    free(n);
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* The name part of a Host value: without ":port" (an IPv6 literal keeps its brackets). */
static uint32_t host_name_len(const uint8_t *host, uint32_t len)
{
    for (uint32_t i = len; i > 0; i--) {
        uint8_t c = host[i - 1];
        if (c == ':')
            return i - 1;
        if (c < '0' || c > '9')
            break;
    }
    return len;
}

static struct host_tree *find_host(const struct ua_router *r, const uint8_t *host, uint32_t len)
{
    len = host_name_len(host, len);
    for (uint32_t i = 0; i < r->n_hosts; i++) {
        struct host_tree *h = &r->hosts[i];
        if (h->name_len != len)
            continue;
        uint32_t j = 0;
        while (j < len && lower(host[j]) == h->name[j])
            j++;
        if (j == len)
            return h;
    }
    return NULL;
}

int ua_router_new(struct ua_router **out)
{
    struct ua_router *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->hosts = calloc(1, sizeof(*r->hosts));
    if (!r->hosts || !(r->hosts[0].root = node_new(NULL, 0))) {
        free(r->hosts);
        free(r);
        return -ENOMEM;
    }
    r->n_hosts = 1;
    *out = r;
    return 0;
}

void ua_router_free(struct ua_router *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n_hosts; i++)
        node_free(r->hosts[i].root);
    free(r->hosts);
    free(r);
}

static int add_kid(struct node *parent, struct node *kid)
{
    struct node **kids = realloc(parent->kids, (parent->n_kids + 1) * sizeof(*kids));
    if (!kids)
        return -ENOMEM;
    uint32_t at = 0;
    while (at < parent->n_kids && kids[at]->label[0] < kid->label[0])
        at++;
    memmove(&kids[at + 1], &kids[at], (parent->n_kids - at) * sizeof(*kids));
    kids[at] = kid;
    parent->kids = kids;
    parent->n_kids++;
    return 0;
}

static struct node *kid_for(const struct node *n, uint8_t first)
{
    for (uint32_t i = 0; i < n->n_kids; i++)
        if (n->kids[i]->label[0] == first)
            return n->kids[i];
    return NULL;
}

/* Split n after `at` bytes of its label: n keeps the head, a new child takes the tail and n's kids. */
static int split(struct node *n, uint32_t at)
{
    struct node *tail = node_new(n->label + at, n->label_len - at);
    if (!tail)
        return -ENOMEM;
    tail->kids = n->kids;
    tail->n_kids = n->n_kids;
    tail->has_route = n->has_route;
    tail->kind = n->kind;
    tail->target = n->target;
    n->kids = NULL;
    n->n_kids = 0;
    n->has_route = 0;
    n->label_len = at;
    return add_kid(n, tail);
}

static int insert(struct node *n, const uint8_t *p, uint32_t len, uint32_t kind, uint32_t target)
{
    for (;;) {
        if (len == 0) {
            if (n->has_route)
                return -EEXIST;
            n->has_route = 1;
            n->kind = kind;
            n->target = target;
            return 0;
        }
        struct node *k = kid_for(n, p[0]);
        if (!k) {
            k = node_new(p, len);
            if (!k)
                return -ENOMEM;
            int rc = add_kid(n, k);
            if (rc < 0) {
                node_free(k);
                return rc;
            }
            n = k;
            len = 0;
            continue;
        }
        uint32_t common = 0;
        while (common < k->label_len && common < len && k->label[common] == p[common])
            common++;
        if (common < k->label_len) {
            int rc = split(k, common);
            if (rc < 0)
                return rc;
        }
        n = k;
        p += common;
        len -= common;
    }
}

int ua_router_add(struct ua_router *r, const uint8_t *host, uint32_t host_len, const uint8_t *prefix,
                  uint32_t prefix_len, uint32_t kind, uint32_t target)
{
    if (kind > UA_ROUTE_PROXY || prefix_len == 0 || prefix_len > UA_ROUTER_MAX_PREFIX || prefix[0] != '/' ||
        host_len > UA_ROUTER_MAX_HOST || memchr(prefix, '?', prefix_len))
        return -EINVAL;
    while (prefix_len > 0 && prefix[prefix_len - 1] == '/')
        prefix_len--;
    struct host_tree *h = find_host(r, host, host_len);
    if (!h) {
        struct host_tree *hosts = realloc(r->hosts, (r->n_hosts + 1) * sizeof(*hosts));
        if (!hosts)
            return -ENOMEM;
        r->hosts = hosts;
        h = &hosts[r->n_hosts];
        memset(h, 0, sizeof(*h));
        if (!(h->root = node_new(NULL, 0)))
            return -ENOMEM;
        for (uint32_t i = 0; i < host_len; i++)
            h->name[i] = lower(host[i]);
        h->name_len = host_name_len(host, host_len);
        r->n_hosts++;
    }
    return insert(h->root, prefix, prefix_len, kind, target);
}

/* Longest route of one tree matching path; 1 when found. */
static int match_tree(const struct node *n, const uint8_t *path, uint32_t len, struct ua_route_match *out)
{
    uint32_t pos = 0;
    int found = 0;
    for (;;) {
        if (n->has_route && (pos == len || path[pos] == '/')) {
            out->kind = n->kind;
            out->target = n->target;
            out->prefix_len = pos;
            found = 1;
        }
        if (pos == len)
            return found;
        const struct node *k = kid_for(n, path[pos]);
        if (!k || k->label_len > len - pos || memcmp(k->label, path + pos, k->label_len) != 0)
            return found;
        pos += k->label_len;
        n = k;
    }
}

int ua_router_match(const struct ua_router *r, const uint8_t *host, uint32_t host_len, const uint8_t *path,
                    uint32_t path_len, struct ua_route_match *out)
{
    out->kind = UA_ROUTE_APP;
    out->target = 0;
    out->prefix_len = 0;
    if (host_len && r->n_hosts > 1) {
        const struct host_tree *h = find_host(r, host, host_len);
        if (h && h != &r->hosts[0] && match_tree(h->root, path, path_len, out))
            return 1;
    }
    return match_tree(r->hosts[0].root, path, path_len, out);
}
