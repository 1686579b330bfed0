/* The C half of asgi.py (see asgi.h for why it exists and where it lives).
 *
 * Five functions and a class, all used with the GIL held (plain C-API code, not cffi calls):
 *
 *   batch(ctx, events_addr, n) -> [(kind, conn, payload, flags), ...]
 *     Runs what it can of one engine batch and returns, in batch order, one entry per event left for
 *     Python. A request with no body, no proxy header and no look_all is run here: its Cycle is made and
 *     the app's task started with its first step taken (Cycle.run), so a request the app answers at once
 *     leaves no entry; one whose app suspended leaves (UA_ASGI_SUSPENDED, conn, (cycle, task), 0) for
 *     Dispatcher.carry. Any other request leaves (UA_EV_REQUEST, conn, cycle, flags) for
 *     Dispatcher.on_request, with the request's UA_REQ_* flags plus UA_ASGI_FORWARDED when a Forwarded /
 *     X-Forwarded-For / X-Forwarded-Proto header is present (proxy handling stays in Python).
 *     For UA_EV_BODY the payload is the bytes; for BODY_END, DISCONNECT and WRITABLE it is None.
 *     POLL and WAKE events belong to the event loop and are left out.
 *     Order per connection is kept: once an event of a connection is left for Python, its later requests
 *     in the batch are too, so Python sees them after it. Across connections order does not matter. An
 *     app's exception, of any kind, is its request's error (see run_app); only the server's own errors
 *     stop the batch.
 *     ctx comes from context(servers, scheme, root_path, raw_root, state, extensions, asgi, cycle_class,
 *     dispatcher, ring_addr, cycles, high_water, access_log, app, look_all, kick, on_request_done), made
 *     per Dispatcher (again when its kick changes): what every request of this worker shares (head() needs
 *     only the first seven; without the rest, batch() refuses requests). `state`, `asgi` and `extensions`
 *     are copied per request (shallow copies, as the spec asks for state): what an app writes into its
 *     scope's dicts stays its own.
 *
 *   Cycle: the base class of asgi.py's Cycle, with the response state as slots and send() for the common
 *     messages done in C (documented at the class, further down).
 *
 *   respond(ring_addr, conn, status, headers, body, flags) -> int
 *     ua_conn_respond with the app's header list as it came: an iterable of (name, value) pairs of
 *     bytes-like objects, flattened here into the "name\0value\0" form the engine validates (a NUL inside
 *     a name or value makes the count disagree: -EINVAL, as before). Returns what ua_conn_respond returns.
 *
 *   head(ctx, data) -> scope
 *     The sans-IO face of batch(): the scope of one request head given as bytes, parsed with the default
 *     limits, with no connection (client None, server servers[0]). For tests, and for the parser
 *     benchmark's "bytes in, ASGI header list out". An incomplete or invalid head raises ValueError whose
 *     text starts with the status a server would answer.
 *
 *   start(loop, coro) -> task
 *     What Cycle.run does with an app's coroutine, on its own (eager.py), documented at start_task.
 *
 * The scope, field by field, as asgi.py built it before (the integration tests pin each one):
 *   path: the target up to '?', percent-decoded as UTF-8 with U+FFFD for bad sequences (what
 *     urllib.parse.unquote does); the parser admits only 0x21..0x7E in a target (RFC 9112 3.2), so the
 *     raw bytes are ASCII; should one not be, it is kept as a surrogate escape, as bytes.decode("ascii",
 *     "surrogateescape") would. root_path is prefixed to path and raw_path.
 *   headers: a new list of (name, value) bytes tuples, wire order, duplicates kept; names came lowercased
 *     from the parser. Common names are shared immutable bytes objects, made once.
 *   client: (host, port) from the peer address for AF_INET / AF_INET6 (inet_ntop's text), None for
 *     AF_UNIX. server: servers[listener], or None past its end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include "loop/ring.h"
#include "protocol/asgi.h"
#include "protocol/parser.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* flags bit batch() adds to a request's UA_REQ_* flags (which fit in 8 bits), and the kind of its entry
 * for an app that suspended (past the UA_EV_* kinds). Mirrored in asgi.py. */
#define UA_ASGI_FORWARDED 0x100
#define UA_ASGI_SUSPENDED 64

enum {
    CTX_SERVERS,
    CTX_SCHEME,
    CTX_ROOT,
    CTX_RAW_ROOT,
    CTX_STATE,
    CTX_EXTENSIONS,
    CTX_ASGI,
    CTX_CYCLE,      /* the Cycle class (asgi.py, a subclass of Cycle here) batch() makes per request */
    CTX_DISP,       /* the Dispatcher, a cycle's `disp` */
    CTX_RING,       /* the ring's address */
    CTX_CYCLES,     /* Dispatcher.cycles: conn -> cycle */
    CTX_HIGH_WATER, /* bytes queued for a connection past which send() waits (Cycle._writable) */
    CTX_LOG,        /* the access log: False (off), True (a finished response goes through Cycle._finish),
                     * or AccessLog.c_sink(): its default line is made here (log_line) */
    CTX_APP,        /* the ASGI app batch() runs for a request that needs no Python look first */
    CTX_LOOK_ALL,   /* True: every request goes to Python first (Dispatcher.on_request) */
    CTX_KICK,       /* Dispatcher.kick: None under the native loop, else called after each send */
    CTX_ON_DONE,    /* Dispatcher.on_request_done: None, or called as each request ends */
    CTX_TEMPLATE,   /* made by context(): the scope with its constant fields, copied per request */
    CTX_RECEIVE,    /* made by context(): the cycle class's receive and send as found on the class, bound */
    CTX_SEND,       /* per request by their __get__ (what an attribute lookup ends in, without the lookup) */
    CTX_LOOP,       /* made by context(): the dispatcher's loop, which runs the apps' tasks (start_task) */
    CTX_BASE,       /* made by context(): a copy of the context it was called in (the server's, where the
                     * app was imported); each request's task runs in a copy of it, whatever context the
                     * batch that starts the task runs in (a kick's, from inside another request's task) */
    CTX_SIZE
};

/* Scope keys, in the order the scope has always had them. */
enum {
    K_TYPE,
    K_ASGI,
    K_HTTP_VERSION,
    K_SERVER,
    K_CLIENT,
    K_SCHEME,
    K_METHOD,
    K_ROOT_PATH,
    K_PATH,
    K_RAW_PATH,
    K_QUERY_STRING,
    K_HEADERS,
    K_STATE,
    K_EXTENSIONS,
    K_COUNT
};
static const char *const key_names[K_COUNT] = {
    "type",     "asgi",         "http_version", "server",  "client", "scheme", "method",
    "root_path", "path",        "raw_path",     "query_string", "headers", "state", "extensions",
};
static PyObject *keys[K_COUNT];
static PyObject *s_http, *s_http10, *s_http11;
static PyObject *s_body, *s_more_body, *s_status, *s_trailers, *s_send_py, *s_writable, *s_finish,
    *s_send_failed, *s_receive, *s_send, *s_ended, *empty_bytes, *empty_tuple, *zero,
    *empty_str, *s_loop, *s_done, *s_exception, *s_flush_head, *s_call_soon, *s_fault;
/* Set while start_task takes an app's first step (or, from 3.12, Task() takes it): a start sent then is
 * seen to by run_app, with no flush scheduled per response. */
static int in_first_step;
/* start_task's: asyncio.Task, eager.guarded, the keyword names of the Task call and the tasks' name (one for
 * all: Task-N would be formatted per request). Set by the first context() that makes cycles. */
static PyObject *task_type, *guard, *task_kwnames, *task_name, *factory_kwnames, *s_task_factory, *s_get_task_factory;

/* Methods of RFC 9110 9.3 and PATCH (RFC 5789) as shared strings; any other token is decoded each time. */
static const char *const method_names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS",
                                           "TRACE", "PATCH"};
#define N_METHODS (sizeof(method_names) / sizeof(method_names[0]))
static PyObject *methods[N_METHODS];

/* Header names common enough to share one bytes object among all requests (bytes are immutable). Open
 * addressing would cost more than it saves: a name whose slot is taken by another is simply not cached. */
static const char *const common_names[] = {
    "host", "user-agent", "accept", "accept-encoding", "accept-language", "connection", "content-type",
    "content-length", "cookie", "referer", "origin", "authorization", "cache-control", "pragma",
    "upgrade-insecure-requests", "sec-fetch-dest", "sec-fetch-mode", "sec-fetch-site", "sec-fetch-user",
    "if-none-match", "if-modified-since", "x-forwarded-for", "x-forwarded-proto", "x-real-ip",
    "x-request-id", "forwarded", "dnt", "te", "transfer-encoding", "expect", "range",
};
#define NAME_SLOTS 128
static PyObject *name_slot[NAME_SLOTS];

static unsigned name_hash(const uint8_t *p, uint32_t n)
{
    return (n * 31u + p[0] * 7u + p[n - 1] + (n > 4 ? p[4] * 3u : 0u)) & (NAME_SLOTS - 1);
}

static PyObject *header_name(const uint8_t *p, uint32_t n)
{
    if (n) {
        PyObject *b = name_slot[name_hash(p, n)];
        if (b && (uint32_t)PyBytes_GET_SIZE(b) == n && memcmp(PyBytes_AS_STRING(b), p, n) == 0) {
            Py_INCREF(b);
            return b;
        }
    }
    return PyBytes_FromStringAndSize((const char *)p, n);
}

static int is_forwarded_name(const uint8_t *p, uint32_t n)
{
    return (n == 9 && memcmp(p, "forwarded", 9) == 0) || (n == 15 && memcmp(p, "x-forwarded-for", 15) == 0) ||
           (n == 17 && memcmp(p, "x-forwarded-proto", 17) == 0);
}

static PyObject *method_str(const uint8_t *p, uint32_t n)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        if (strlen(method_names[i]) == n && memcmp(method_names[i], p, n) == 0) {
            Py_INCREF(methods[i]);
            return methods[i];
        }
    }
    return PyUnicode_DecodeASCII((const char *)p, n, "surrogateescape");
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* The decoded path (see the top of the file). */
static PyObject *decode_path(const uint8_t *p, uint32_t n)
{
    const uint8_t *pct = memchr(p, '%', n);
    if (!pct)
        return PyUnicode_DecodeASCII((const char *)p, n, "surrogateescape");
    for (uint32_t i = 0; i < n; i++)
        if (p[i] >= 0x80)
            return PyUnicode_DecodeASCII((const char *)p, n, "surrogateescape");
    char stack[512];
    char *buf = n <= sizeof(stack) ? stack : PyMem_Malloc(n);
    if (!buf)
        return PyErr_NoMemory();
    uint32_t o = (uint32_t)(pct - p);
    memcpy(buf, p, o);
    for (uint32_t i = o; i < n; i++) {
        int hi, lo;
        if (p[i] == '%' && i + 2 < n && (hi = hexval(p[i + 1])) >= 0 && (lo = hexval(p[i + 2])) >= 0) {
            buf[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            buf[o++] = (char)p[i];
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8(buf, o, "replace");
    if (buf != stack)
        PyMem_Free(buf);
    return s;
}

/* Dotted quad, as inet_ntop writes it, without its sprintf (which cost 1700 instructions a request). */
static size_t ipv4_text(const uint8_t *a, char *out)
{
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = a[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        if (i < 3)
            *p++ = '.';
    }
    return (size_t)(p - out);
}

/* The client tuples of the peers seen lately: the requests of a keep-alive connection share one (a
 * tuple is immutable) instead of making the address text, the port and the tuple again each time, and
 * freeing them after. Direct-mapped by port and address; an entry is used only if all of it matches. */
#define CLIENT_SLOTS 256
static struct {
    uint8_t family;
    uint16_t port;
    uint8_t addr[16];
    PyObject *tuple;
} clients[CLIENT_SLOTS];

static PyObject *new_client(const struct ua_req *q);

static PyObject *client_of(const struct ua_req *q)
{
    size_t n = q->client_family == AF_INET ? 4 : 16;
    uint32_t tail;
    memcpy(&tail, q->client_addr + n - 4, 4);
    unsigned h = ((q->client_port * 0x9E3779B1u) ^ tail) % CLIENT_SLOTS;
    if (clients[h].tuple && clients[h].family == q->client_family && clients[h].port == q->client_port &&
        memcmp(clients[h].addr, q->client_addr, n) == 0)
        return Py_NewRef(clients[h].tuple);
    PyObject *t = new_client(q);
    if (t && t != Py_None) {
        clients[h].family = q->client_family;
        clients[h].port = q->client_port;
        memcpy(clients[h].addr, q->client_addr, n);
        Py_XSETREF(clients[h].tuple, Py_NewRef(t));
    }
    return t;
}

static PyObject *new_client(const struct ua_req *q)
{
    char text[INET6_ADDRSTRLEN];
    size_t len;
    if (q->client_family == AF_INET) {
        len = ipv4_text(q->client_addr, text);
    } else if (q->client_family == AF_INET6) {
        if (!inet_ntop(AF_INET6, q->client_addr, text, sizeof(text)))
            Py_RETURN_NONE;
        len = strlen(text);
    } else {
        Py_RETURN_NONE; /* AF_UNIX: no address a client tuple could carry (as uvicorn) */
    }
    PyObject *host = PyUnicode_DecodeASCII(text, (Py_ssize_t)len, NULL);
    PyObject *port = PyLong_FromLong(q->client_port);
    if (!host || !port) {
        Py_XDECREF(host);
        Py_XDECREF(port);
        return NULL;
    }
    PyObject *t = PyTuple_New(2);
    if (!t) {
        Py_DECREF(host);
        Py_DECREF(port);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, host);
    PyTuple_SET_ITEM(t, 1, port);
    return t;
}

/* Prefix root (str or bytes, same type as s; context() checked which) to s when root is not empty; steals s. */
static PyObject *prefixed(PyObject *root, PyObject *s)
{
    if (!s || (PyUnicode_Check(root) ? PyUnicode_GET_LENGTH(root) : PyBytes_GET_SIZE(root)) == 0)
        return s;
    PyObject *r = PyUnicode_Check(s) ? PyUnicode_Concat(root, s) : PySequence_Concat(root, s);
    Py_DECREF(s);
    return r;
}

/* The scope's fields are set in a copy of the template, which has every key already, in K_ order. On
 * CPython 3.11 such a copy is a combined table whose entries are the template's, in order, so a field's
 * value is replaced in its entry directly: PyDict_SetItem would look the key up first, and those lookups
 * were a twelfth of a hello-world request's instructions (1,670 of 18,000, callgrind). Each entry's key is
 * checked before its value is written, so a table laid out otherwise (another CPython) takes
 * PyDict_SetItem; other versions always do. The copy is new and seen by no one yet, so there is no dict
 * version a cache could hold for it. The headers list goes in every scope, so the GC tracks the copy from
 * the start, as insertdict would once a container value went in. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define Py_BUILD_CORE 1
#include <internal/pycore_dict.h>
#undef Py_BUILD_CORE
typedef PyDictUnicodeEntry scope_entry;

static scope_entry *scope_entries(PyObject *scope)
{
    PyDictObject *d = (PyDictObject *)scope;
    if (d->ma_values || !DK_IS_UNICODE(d->ma_keys) || d->ma_keys->dk_nentries != K_COUNT)
        return NULL;
    if (!PyObject_GC_IsTracked(scope))
        PyObject_GC_Track(scope);
    return DK_UNICODE_ENTRIES(d->ma_keys);
}

static inline int scope_set(PyObject *scope, scope_entry *e, int key, PyObject *value)
{
    if (!value)
        return -1;
    if (e && e[key].me_key == keys[key]) {
        Py_SETREF(e[key].me_value, value); /* the template's constants: no finaliser runs here */
        return 0;
    }
    int rc = PyDict_SetItem(scope, keys[key], value);
    Py_DECREF(value);
    return rc;
}
#else
typedef void scope_entry;

static scope_entry *scope_entries(PyObject *scope)
{
    (void)scope;
    return NULL;
}

static inline int scope_set(PyObject *scope, scope_entry *e, int key, PyObject *value)
{
    (void)e;
    if (!value)
        return -1;
    int rc = PyDict_SetItem(scope, keys[key], value);
    Py_DECREF(value);
    return rc;
}
#endif

/* The scope of one request block (layout in ring.h); flags get the request's flags. */
static PyObject *build_scope(PyObject *ctx, const uint8_t *blk, long *flags)
{
    const struct ua_req *q = (const struct ua_req *)blk;
    uint32_t n = q->n_headers;
    const uint16_t *spans = (const uint16_t *)(blk + sizeof(*q));
    const uint8_t *head = blk + sizeof(*q) + 8 * (size_t)n;
    long fl = q->flags;

    PyObject *headers = PyList_New(n);
    if (!headers)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        const uint16_t *s = spans + 4 * i;
        PyObject *name = header_name(head + s[0], s[1]);
        PyObject *value = PyBytes_FromStringAndSize((const char *)head + s[2], s[3]);
        PyObject *pair = name && value ? PyTuple_New(2) : NULL;
        if (!pair) {
            Py_XDECREF(name);
            Py_XDECREF(value);
            Py_DECREF(headers);
            return NULL;
        }
        PyTuple_SET_ITEM(pair, 0, name);
        PyTuple_SET_ITEM(pair, 1, value);
        PyList_SET_ITEM(headers, i, pair);
        if (is_forwarded_name(head + s[0], s[1]))
            fl |= UA_ASGI_FORWARDED;
    }

    /* A copy of the template (every key, in order, constants filled in) is one allocation and a memcpy;
     * the fields below then replace values in place, without the resizes of a dict grown key by key. */
    PyObject *scope = PyDict_Copy(PyTuple_GET_ITEM(ctx, CTX_TEMPLATE));
    if (!scope) {
        Py_DECREF(headers);
        return NULL;
    }
    PyObject *servers = PyTuple_GET_ITEM(ctx, CTX_SERVERS);
    PyObject *server = Py_None;
    if (PyList_Check(servers) && q->listener < PyList_GET_SIZE(servers))
        server = PyList_GET_ITEM(servers, q->listener);
    PyObject *root = PyTuple_GET_ITEM(ctx, CTX_ROOT);
    /* An absolute-form target with no path ("http://h", "http://h?x") means "/" (RFC 9110 4.2.3). */
    const uint8_t *path = q->path_len ? head + q->path_off : (const uint8_t *)"/";
    uint32_t path_len = q->path_len ? q->path_len : 1;
    scope_entry *e = scope_entries(scope);
    if (scope_set(scope, e, K_HEADERS, headers) < 0 || /* first: it takes headers either way */
        scope_set(scope, e, K_ASGI, PyDict_Copy(PyTuple_GET_ITEM(ctx, CTX_ASGI))) < 0 ||
        (!q->http_minor && scope_set(scope, e, K_HTTP_VERSION, Py_NewRef(s_http10)) < 0) ||
        scope_set(scope, e, K_SERVER, Py_NewRef(server)) < 0 || scope_set(scope, e, K_CLIENT, client_of(q)) < 0 ||
        scope_set(scope, e, K_METHOD, method_str(head + q->method_off, q->method_len)) < 0 ||
        scope_set(scope, e, K_PATH, prefixed(root, decode_path(path, path_len))) < 0 ||
        scope_set(scope, e, K_RAW_PATH,
                prefixed(PyTuple_GET_ITEM(ctx, CTX_RAW_ROOT),
                         PyBytes_FromStringAndSize((const char *)path, path_len))) < 0 ||
        scope_set(scope, e, K_QUERY_STRING,
                PyBytes_FromStringAndSize((const char *)head + q->query_off, q->query_len)) < 0 ||
        scope_set(scope, e, K_STATE, PyDict_Copy(PyTuple_GET_ITEM(ctx, CTX_STATE))) < 0 ||
        scope_set(scope, e, K_EXTENSIONS, PyDict_Copy(PyTuple_GET_ITEM(ctx, CTX_EXTENSIONS))) < 0) {
        Py_DECREF(scope);
        return NULL;
    }
    *flags = fl;
    return scope;
}

/* A tuple of the n items, taking their references: NULL if an item is NULL (an error is set) or the tuple
 * cannot be made, and then every item given is released. */
static PyObject *tuple_steal(Py_ssize_t n, PyObject *const *items)
{
    int ok = 1;
    for (Py_ssize_t i = 0; i < n; i++)
        ok &= items[i] != NULL;
    PyObject *t = ok ? PyTuple_New(n) : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t)
            PyTuple_SET_ITEM(t, i, items[i]);
        else
            Py_XDECREF(items[i]);
    }
    return t;
}

static PyObject *entry(uint32_t kind, uint32_t conn, PyObject *payload, long flags)
{
    if (!payload)
        return NULL;
    PyObject *items[4] = {PyLong_FromUnsignedLong(kind), PyLong_FromUnsignedLong(conn), payload,
                          PyLong_FromLong(flags)};
    return tuple_steal(4, items);
}

/* The Cycle base class (described further down, with send(), after respond()), its constructor and run(). */
static PyTypeObject CycleType;
typedef struct CycleObject CycleObject;
struct CycleObject {
    PyObject_HEAD
    PyObject *disp, *conn, *scope;
    PyObject *started, *head_sent, *body_ended, *complete, *disconnected, *trailers;
    PyObject *status, *sent, *start_headers, *waiters;
    PyObject *ctx; /* context(): the worker's cycles dict, access log, kick, ... */
    struct ua_ring *ring;
    uint32_t cid;
    uint32_t log;
    Py_ssize_t high_water;
};

static PyObject *new_cycle(PyObject *ctx, uint32_t conn, PyObject *scope, int enter);
static int run_app(CycleObject *c, PyObject *app, PyObject **task);
static int task_setup(void);
static int loop_grabs(PyObject *loop);
static PyObject *loop_dict(PyObject *loop);
static int grabs_now(PyObject *loop, PyObject *dict);
static PyObject *task_factory(PyObject *loop, PyObject *dict);
static PyObject *cycle_run(CycleObject *c, PyObject *app);

/* Connections with an event left for Python in this batch (see batch() at the top): their later requests
 * go to Python too. A batch holds a few dozen events, so a short list scanned linearly is enough; past
 * its size every later request goes to Python, which is always correct. */
struct deferred {
    uint32_t n;
    uint32_t conn[32];
};

static int was_deferred(const struct deferred *d, uint32_t conn)
{
    if (d->n > sizeof(d->conn) / sizeof(d->conn[0]))
        return 1;
    for (uint32_t i = 0; i < d->n; i++)
        if (d->conn[i] == conn)
            return 1;
    return 0;
}

static void defer(struct deferred *d, uint32_t conn)
{
    if (d->n < sizeof(d->conn) / sizeof(d->conn[0]))
        d->conn[d->n] = conn;
    if (d->n <= sizeof(d->conn) / sizeof(d->conn[0]))
        d->n++;
}

/* A request run here: its cycle's first step. NULL with an error; None when it needs nothing more;
 * else the entry for Dispatcher.carry. Steals cycle. The cycle enters Dispatcher.cycles (where the
 * connection's later events find it) only if its app suspended with the response unfinished: one that
 * finished in its first step would have left it again (Cycle._finish), and no event of the connection
 * is seen while the step runs. */
static PyObject *run_here(PyObject *ctx, uint32_t conn, PyObject *cycle)
{
    if (!cycle)
        return NULL;
    CycleObject *c = (CycleObject *)cycle;
    PyObject *suspended[2] = {cycle, NULL}; /* the payload: cycle, task */
    int r = run_app(c, PyTuple_GET_ITEM(ctx, CTX_APP), &suspended[1]);
    if (r <= 0) {
        Py_DECREF(cycle);
        return r < 0 ? NULL : Py_NewRef(Py_None);
    }
    if (c->complete != Py_True && PyDict_SetItem(PyTuple_GET_ITEM(ctx, CTX_CYCLES), c->conn, cycle) < 0) {
        Py_DECREF(suspended[1]);
        Py_DECREF(cycle);
        return NULL;
    }
    return entry(UA_ASGI_SUSPENDED, conn, tuple_steal(2, suspended), 0);
}

/* The error set, as an exception object with its traceback (a new reference; the error is cleared). */
static PyObject *take_error(void)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    if (tb)
        PyException_SetTraceback(exc, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return exc;
}

/* Dispatcher._fault(conn, exc) with the error set: 0, or -1 when that failed too (an error set). */
static int fault(PyObject *ctx, uint32_t conn)
{
    PyObject *exc = take_error();
    PyObject *id = PyLong_FromUnsignedLong(conn);
    PyObject *r = id ? PyObject_CallMethodObjArgs(PyTuple_GET_ITEM(ctx, CTX_DISP), s_fault, id, exc ? exc : Py_None, NULL)
                     : NULL;
    Py_XDECREF(id);
    Py_XDECREF(exc);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

static PyObject *py_batch(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != CTX_SIZE) {
        PyErr_SetString(PyExc_TypeError, "batch(ctx, events_addr, n): ctx from context()");
        return NULL;
    }
    PyObject *ctx = args[0];
    const struct ua_event *ev = PyLong_AsVoidPtr(args[1]);
    Py_ssize_t n = PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred())
        return NULL;
    PyObject *out = PyList_New(0);
    if (!out)
        return NULL;
    int look_all = PyTuple_GET_ITEM(ctx, CTX_LOOK_ALL) == Py_True;
    struct deferred deferred = {0, {0}};
    for (Py_ssize_t i = 0; i < n; i++, ev++) {
        PyObject *item;
        long flags = 0;
        switch (ev->type) {
        case UA_EV_REQUEST: {
            PyObject *scope = build_scope(ctx, ev->data, &flags); /* sets flags: call it first */
            int here = !look_all && !(flags & (UA_REQ_HAS_BODY | UA_ASGI_FORWARDED)) &&
                       !was_deferred(&deferred, ev->conn);
            PyObject *cycle = new_cycle(ctx, ev->conn, scope, !here);
            item = here ? run_here(ctx, ev->conn, cycle) : entry(ev->type, ev->conn, cycle, flags);
            if (item == Py_None) {
                Py_DECREF(item);
                continue;
            }
            /* The server failed this one request (its app could not be started): it ends as
             * Dispatcher._fault ends it, and the batch goes on, for the other clients' events in it. */
            if (!item && fault(ctx, ev->conn) == 0)
                continue;
            break;
        }
        case UA_EV_BODY:
            item = entry(ev->type, ev->conn, PyBytes_FromStringAndSize((const char *)ev->data, ev->len), 0);
            break;
        case UA_EV_BODY_END:
        case UA_EV_DISCONNECT:
        case UA_EV_WRITABLE:
            Py_INCREF(Py_None);
            item = entry(ev->type, ev->conn, Py_None, 0);
            break;
        default:
            continue; /* POLL, WAKE: the event loop's */
        }
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(item);
        defer(&deferred, ev->conn);
    }
    return out;
}

/* head(ctx, data): the scope of one request head given as bytes (see the top of the file). The head is
 * copied (the parser lowercases names in place and data may be immutable), parsed with the default limits
 * and turned into the same block conn.c hands over, so the scope is built by the very code batch() runs. */
static PyObject *py_head(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || PyTuple_GET_SIZE(args[0]) != CTX_SIZE) {
        PyErr_SetString(PyExc_TypeError, "head(ctx, data): ctx from context()");
        return NULL;
    }
    Py_buffer in;
    if (PyObject_GetBuffer(args[1], &in, PyBUF_SIMPLE) < 0)
        return NULL;
    size_t len = (size_t)in.len;
    uint8_t stack[4096];
    uint8_t *buf = len <= sizeof(stack) ? stack : PyMem_Malloc(len ? len : 1);
    if (!buf) {
        PyBuffer_Release(&in);
        return PyErr_NoMemory();
    }
    memcpy(buf, in.buf, len);
    PyBuffer_Release(&in);

    struct ua_head h;
    const struct ua_parse_limits lim = {0};
    ua_parse_reset(&h);
    int n = ua_parse_request(&h, buf, len, &lim);
    PyObject *scope = NULL;
    if (n <= 0) {
        /* an incomplete head is what a server would time out on; here it is simply not a request */
        PyErr_Format(PyExc_ValueError, "%d %s", n == 0 ? 400 : ua_parse_status(h.error),
                     n == 0 ? "incomplete head" : ua_parse_error_name(h.error));
    } else {
        union {
            struct ua_req q;
            uint8_t bytes[sizeof(struct ua_req) + 64 * 8 + 4096];
        } small;
        size_t size = ua_req_size(&h, (uint32_t)n);
        struct ua_req *q = size <= sizeof(small) ? &small.q : PyMem_Malloc(size);
        if (!q) {
            PyErr_NoMemory();
        } else {
            long flags;
            ua_req_fill(q, &h, buf, (uint32_t)n);
            scope = build_scope(args[0], (const uint8_t *)q, &flags);
            if (q != &small.q)
                PyMem_Free(q);
        }
    }
    if (buf != stack)
        PyMem_Free(buf);
    return scope;
}

static PyObject *py_context(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    /* Without the ten cycle arguments (head() needs none of them) batch() makes no cycles. */
    int cycles = nargs == CTX_TEMPLATE;
    if ((nargs != CTX_CYCLE && !cycles) || !PyList_Check(args[CTX_SERVERS]) || !PyUnicode_Check(args[CTX_SCHEME]) ||
        !PyUnicode_Check(args[CTX_ROOT]) || !PyBytes_Check(args[CTX_RAW_ROOT]) || !PyDict_Check(args[CTX_STATE]) ||
        !PyDict_Check(args[CTX_EXTENSIONS]) || !PyDict_Check(args[CTX_ASGI]) ||
        (cycles && (!PyType_Check(args[CTX_CYCLE]) || !PyType_IsSubtype((PyTypeObject *)args[CTX_CYCLE], &CycleType) ||
                    !PyDict_CheckExact(args[CTX_CYCLES]) || !PyLong_Check(args[CTX_RING]) ||
                    !PyLong_Check(args[CTX_HIGH_WATER]) || !PyCallable_Check(args[CTX_APP]) ||
                    !PyBool_Check(args[CTX_LOOK_ALL]) ||
                    (args[CTX_KICK] != Py_None && !PyCallable_Check(args[CTX_KICK])) ||
                    (args[CTX_ON_DONE] != Py_None && !PyCallable_Check(args[CTX_ON_DONE])) ||
                    (!PyBool_Check(args[CTX_LOG]) && !PyTuple_Check(args[CTX_LOG])) ||
                    (PyTuple_Check(args[CTX_LOG]) &&
                     (PyTuple_GET_SIZE(args[CTX_LOG]) != 4 || !PyList_CheckExact(PyTuple_GET_ITEM(args[CTX_LOG], 0)) ||
                      !PyCallable_Check(PyTuple_GET_ITEM(args[CTX_LOG], 1)) ||
                      !PyDict_Check(PyTuple_GET_ITEM(args[CTX_LOG], 2)) ||
                      !PyUnicode_Check(PyTuple_GET_ITEM(args[CTX_LOG], 3))))))) {
        PyErr_SetString(PyExc_TypeError, "context(servers: list, scheme: str, root_path: str, raw_root: bytes, "
                                         "state: dict, extensions, asgi: dict, cycle_class: type, dispatcher, "
                                         "ring_addr: int, cycles: dict, high_water: int, access_log: bool | tuple, app, "
                                         "look_all: bool, kick, on_request_done)");
        return NULL;
    }
    PyObject *t = PyDict_New();
    if (!t)
        return NULL;
    for (int k = 0; k < K_COUNT; k++) {
        PyObject *v = Py_None;
        if (k == K_TYPE)
            v = s_http;
        else if (k == K_HTTP_VERSION)
            v = s_http11;
        else if (k == K_SCHEME)
            v = args[CTX_SCHEME];
        else if (k == K_ROOT_PATH)
            v = args[CTX_ROOT];
        if (PyDict_SetItem(t, keys[k], v) < 0) {
            Py_DECREF(t);
            return NULL;
        }
    }
    PyObject *ctx = PyTuple_New(CTX_SIZE);
    if (!ctx) {
        Py_DECREF(t);
        return NULL;
    }
    for (int i = 0; i < CTX_TEMPLATE; i++)
        PyTuple_SET_ITEM(ctx, i, Py_NewRef(i < nargs ? args[i] : Py_None));
    PyTuple_SET_ITEM(ctx, CTX_TEMPLATE, t);
    PyObject *receive = cycles ? PyObject_GetAttr(args[CTX_CYCLE], s_receive) : Py_NewRef(Py_None);
    PyObject *send = receive && cycles ? PyObject_GetAttr(args[CTX_CYCLE], s_send) : Py_NewRef(Py_None);
    PyTuple_SET_ITEM(ctx, CTX_RECEIVE, receive);
    PyTuple_SET_ITEM(ctx, CTX_SEND, send);
    /* a dispatcher without a loop (unit tests' None) starts no task (start_task refuses) */
    PyObject *loop = send && cycles ? PyObject_GetAttr(args[CTX_DISP], s_loop) : send ? Py_NewRef(Py_None) : NULL;
    if (!loop && send && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        loop = Py_NewRef(Py_None);
    }
    if (loop && loop != Py_None && loop_grabs(loop) < 0)
        Py_CLEAR(loop);
    PyTuple_SET_ITEM(ctx, CTX_LOOP, loop);
    PyObject *base = PyContext_CopyCurrent();
    PyTuple_SET_ITEM(ctx, CTX_BASE, base);
    if (!loop || !base || (cycles && task_setup() < 0)) {
        Py_DECREF(ctx);
        return NULL;
    }
    return ctx;
}

/* A growing buffer for the flattened headers: on the stack for any ordinary response. */
struct flat {
    char *p;
    size_t len, cap;
    char stack[2048];
};

static int flat_put(struct flat *f, const char *s, Py_ssize_t n)
{
    if (f->len + (size_t)n + 1 > f->cap) {
        size_t cap = (f->cap * 2 > f->len + (size_t)n + 1) ? f->cap * 2 : f->len + (size_t)n + 1;
        char *p = PyMem_Malloc(cap);
        if (!p) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(p, f->p, f->len);
        if (f->p != f->stack)
            PyMem_Free(f->p);
        f->p = p;
        f->cap = cap;
    }
    memcpy(f->p + f->len, s, (size_t)n);
    f->len += (size_t)n;
    f->p[f->len++] = '\0';
    return 0;
}

/* One name or value, bytes or any bytes-like object (what b"".join accepted). */
static int flat_put_obj(struct flat *f, PyObject *o)
{
    if (PyBytes_Check(o))
        return flat_put(f, PyBytes_AS_STRING(o), PyBytes_GET_SIZE(o));
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError, "header names and values must be bytes, not %.80s", Py_TYPE(o)->tp_name);
        return -1;
    }
    int rc = flat_put(f, view.buf, view.len);
    PyBuffer_Release(&view);
    return rc;
}

static int flatten(struct flat *f, PyObject *headers, uint32_t *count)
{
    PyObject *seq = PySequence_Fast(headers, "response headers must be an iterable of (name, value) pairs");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    int rc = 0;
    for (Py_ssize_t i = 0; i < n && rc == 0; i++) {
        PyObject *pair = PySequence_Fast(items[i], "a response header must be a (name, value) pair");
        if (!pair) {
            rc = -1;
            break;
        }
        if (PySequence_Fast_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_ValueError, "a response header must be a (name, value) pair");
            rc = -1;
        } else {
            rc = flat_put_obj(f, PySequence_Fast_GET_ITEM(pair, 0));
            if (rc == 0)
                rc = flat_put_obj(f, PySequence_Fast_GET_ITEM(pair, 1));
        }
        Py_DECREF(pair);
    }
    Py_DECREF(seq);
    *count = (uint32_t)n;
    return rc;
}

/* ua_conn_respond with the app's header list; *rc gets what it returns. -1: a Python error was raised and
 * nothing reached the engine. */
static int respond(struct ua_ring *ring, uint32_t conn, long status, PyObject *headers, const void *body,
                   Py_ssize_t body_len, uint32_t flags, int *rc)
{
    struct flat f;
    f.p = f.stack;
    f.len = 0;
    f.cap = sizeof(f.stack);
    uint32_t count = 0;
    int ret = flatten(&f, headers, &count);
    if (ret == 0) {
        if (f.len > UINT32_MAX || (size_t)body_len > UINT32_MAX)
            *rc = -E2BIG;
        else
            *rc = ua_conn_respond(ring, conn, (int)status, (const uint8_t *)f.p, (uint32_t)f.len, count, body,
                                  (uint32_t)body_len, flags);
    }
    if (f.p != f.stack)
        PyMem_Free(f.p);
    return ret;
}

static PyObject *py_respond(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "respond(ring_addr, conn, status, headers, body, flags)");
        return NULL;
    }
    struct ua_ring *ring = PyLong_AsVoidPtr(args[0]);
    unsigned long conn = PyLong_AsUnsignedLong(args[1]);
    long status = PyLong_AsLong(args[2]);
    long flags = PyLong_AsLong(args[5]);
    if (PyErr_Occurred())
        return NULL;
    if (!ring) {
        PyErr_SetString(PyExc_ValueError, "respond: no ring");
        return NULL;
    }
    Py_buffer body;
    if (PyObject_GetBuffer(args[4], &body, PyBUF_SIMPLE) < 0)
        return NULL;
    int rc = 0;
    int err = respond(ring, (uint32_t)conn, status, args[3], body.buf, body.len, (uint32_t)flags, &rc);
    PyBuffer_Release(&body);
    return err < 0 ? NULL : PyLong_FromLong(rc);
}

/* Cycle: the base class of asgi.py's Cycle, made per request by batch(). It holds the response state every
 * request touches as slots (T_OBJECT_EX: Python code reads and writes them with the interpreter's
 * specialised slot instructions) and implements send() for the common messages:
 *
 *   - http.response.start (not yet started, a dict): stored, as Cycle._send stores it;
 *   - http.response.body with a bytes body, after the start, with no trailers announced and the client
 *     still there: the head (if not sent yet) and the body go to the engine in one call; the last body
 *     finishes the response (complete, out of Dispatcher.cycles) unless the access log or a waiting
 *     receive() needs Cycle._finish.
 *
 * Those return DONE, an awaitable that is finished at once: no coroutine is made or stepped. A body past
 * the high-water mark returns the coroutine Cycle._writable() instead (back-pressure). Every other
 * message (an extension, a message out of order, a body that is not bytes, a client that has gone, a
 * message that is not a dict) goes to the Python coroutine Cycle._send, which handles all of them with the
 * same rules; so a C-handled message behaves exactly as if Cycle._send had handled it. An error from the
 * engine goes through Cycle._send_failed, which raises what Python raised before. The struct is at the
 * top, where batch() needs it. */

enum { LOG_OFF, LOG_PY, LOG_C };

/* The awaitable of a send() that finished in C: await gives None at once. One shared object: it has no
 * state. Its __await__ is itself, an iterator whose first next() stops (NULL without an exception). */
static PyObject *done_await(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *done_next(PyObject *self)
{
    (void)self;
    return NULL;
}

/* send, throw and close (with __await__, what collections.abc.Coroutine checks a class for), so that
 * whatever takes only coroutines takes it, as it takes uvicorn's send(): asyncio.create_task(send(m))
 * runs it as a task that finishes at its first step. */
static PyObject *done_send(PyObject *self, PyObject *value)
{
    (void)self;
    (void)value;
    PyErr_SetNone(PyExc_StopIteration);
    return NULL;
}

static PyObject *done_throw(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw(typ[, val[, tb]])");
        return NULL;
    }
    PyObject *typ = args[0], *val = nargs > 1 ? args[1] : Py_None;
    if (PyExceptionInstance_Check(typ))
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    else if (PyExceptionClass_Check(typ))
        PyErr_SetObject(typ, val);
    else
        PyErr_SetString(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException");
    return NULL;
}

static PyObject *done_close(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    Py_RETURN_NONE;
}

static PyMethodDef done_methods[] = {
    {"send", done_send, METH_O, "send(value): it is finished: StopIteration"},
    {"throw", (PyCFunction)(void (*)(void))done_throw, METH_FASTCALL, "throw(typ[, val[, tb]]): raises it"},
    {"close", done_close, METH_NOARGS, "close(): nothing to close"},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods done_async = {done_await, NULL, NULL, NULL};

static PyTypeObject DoneType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uringasgi._core.asgi.Done",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The awaitable of a send() that C finished: awaiting it gives None at once.",
    .tp_as_async = &done_async,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = done_next,
    .tp_methods = done_methods,
};

/* PyObject_HEAD_INIT is how each Python version spells a static object's header (3.12 made it immortal) */
static PyObject DONE[1] = {PyObject_HEAD_INIT(&DoneType)};

#define CYCLE_FIELDS(X)                                                                                       \
    X(disp) X(conn) X(scope) X(started) X(head_sent) X(body_ended) X(complete) X(disconnected) X(trailers)     \
        X(status) X(sent) X(start_headers) X(waiters) X(ctx)

static int cycle_traverse(CycleObject *c, visitproc visit, void *arg)
{
#define VISIT(f) Py_VISIT(c->f);
    CYCLE_FIELDS(VISIT)
#undef VISIT
    return 0;
}

static int cycle_clear(CycleObject *c)
{
#define CLEAR(f) Py_CLEAR(c->f);
    CYCLE_FIELDS(CLEAR)
#undef CLEAR
    return 0;
}

static void cycle_dealloc(CycleObject *c)
{
    PyObject_GC_UnTrack(c);
    cycle_clear(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

/* A str equal to the ASCII text t (a message type: the app's literal, not interned, so not compared by
 * identity). */
static int str_is(PyObject *o, const char *t, Py_ssize_t n)
{
    return PyUnicode_CheckExact(o) && PyUnicode_GET_LENGTH(o) == n && PyUnicode_KIND(o) == PyUnicode_1BYTE_KIND &&
           memcmp(PyUnicode_DATA(o), t, (size_t)n) == 0;
}

static void set_field(PyObject **field, PyObject *value)
{
    Py_INCREF(value);
    Py_SETREF(*field, value);
}

/* One piece of an access line, as UTF-8: a str (one that cannot be UTF-8, with lone surrogates, is encoded
 * with `errors`), an int, or anything else through str(). *hold keeps what the bytes live in; NULL with an
 * error set on failure. */
static const char *log_piece(PyObject *o, Py_ssize_t *n, char *digits, PyObject **hold, const char *errors)
{
    *hold = NULL;
    if (PyLong_CheckExact(o)) {
        long v = PyLong_AsLong(o);
        if (v >= 0) { /* ports and statuses */
            char *e = digits + 24, *d = e;
            do
                *--d = (char)('0' + v % 10);
            while ((v /= 10));
            *n = e - d;
            return d;
        }
        PyErr_Clear();
    }
    if (!PyUnicode_Check(o) && !(o = *hold = PyObject_Str(o)))
        return NULL;
    const char *u = PyUnicode_AsUTF8AndSize(o, n);
    if (u)
        return u;
    PyErr_Clear();
    PyObject *b = PyUnicode_AsEncodedString(o, "utf-8", errors);
    Py_XSETREF(*hold, b);
    if (!b)
        return NULL;
    *n = PyBytes_GET_SIZE(b);
    return PyBytes_AS_STRING(b);
}

/* The path as the access line writes it, as uvicorn's does (urllib.parse.quote): its UTF-8 bytes, with each
 * one but ALPHA, DIGIT and "_.-~/" written %XX. The path is percent-decoded, so written as it is a
 * "%0A" in a request would end the line and let the client forge the next one. A lone surrogate (only an
 * app can put one there) is its byte again, as AccessLog.log quotes with surrogateescape. */
static int path_byte_safe(uint8_t b)
{
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' || b == '.' ||
           b == '-' || b == '~' || b == '/';
}

static const char *log_path(PyObject *path, Py_ssize_t *n, char *digits, PyObject **hold)
{
    const char *u = log_piece(path, n, digits, hold, "surrogateescape");
    if (!u)
        return NULL;
    Py_ssize_t unsafe = 0;
    for (Py_ssize_t i = 0; i < *n; i++)
        unsafe += !path_byte_safe((uint8_t)u[i]);
    if (!unsafe)
        return u;
    PyObject *q = PyBytes_FromStringAndSize(NULL, *n + 2 * unsafe);
    if (!q) {
        Py_CLEAR(*hold);
        return NULL;
    }
    char *w = PyBytes_AS_STRING(q);
    for (Py_ssize_t i = 0; i < *n; i++) {
        uint8_t b = (uint8_t)u[i];
        if (path_byte_safe(b)) {
            *w++ = (char)b;
        } else {
            *w++ = '%';
            *w++ = "0123456789ABCDEF"[b >> 4];
            *w++ = "0123456789ABCDEF"[b & 15];
        }
    }
    Py_XSETREF(*hold, q);
    *n = PyBytes_GET_SIZE(q);
    return PyBytes_AS_STRING(q);
}

/* The access line AccessLog.log writes for the default format, made here: the per-request Python of
 * formatting it (and of Cycle._finish around it) cost a fifth of the hello-world throughput. The line is
 * put together as UTF-8 in one buffer and becomes one str: formatting it piece by piece into new objects
 * (PyUnicode_FromFormat) cost about 2 µs a request, 15% of a hello-world request (wrk against the log on
 * and off, interleaved); now the log costs a few percent (bench/RESULTS-access-log.md). The line joins
 * AccessLog's buffer of this iteration; the first line of an iteration schedules its flush, as
 * AccessLog.log does. sink: (lines, schedule, phrases, prefix). */
static int log_line(CycleObject *c)
{
    PyObject *sink = PyTuple_GET_ITEM(c->ctx, CTX_LOG); /* (lines, schedule, phrases, prefix) */
    PyObject *lines = PyTuple_GET_ITEM(sink, 0);
    PyObject *scope = c->scope;
    PyObject *client = PyDict_GetItemWithError(scope, keys[K_CLIENT]);
    PyObject *method = client || !PyErr_Occurred() ? PyDict_GetItemWithError(scope, keys[K_METHOD]) : NULL;
    PyObject *path = method ? PyDict_GetItemWithError(scope, keys[K_PATH]) : NULL;
    PyObject *query = path ? PyDict_GetItemWithError(scope, keys[K_QUERY_STRING]) : NULL;
    PyObject *version = query ? PyDict_GetItemWithError(scope, keys[K_HTTP_VERSION]) : NULL;
    if (!version) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_KeyError, "access log: a scope field is missing");
        return -1;
    }
    PyObject *phrase = PyDict_GetItemWithError(PyTuple_GET_ITEM(sink, 2), c->status);
    if (!phrase && PyErr_Occurred())
        return -1;
    int addr = client && PyTuple_Check(client) && PyTuple_GET_SIZE(client) == 2;
    /* prefix host ":" port ' - "' method " " path ["?" query] " HTTP/" version '" ' status " " phrase "\n" */
    PyObject *obj[] = {PyTuple_GET_ITEM(sink, 3), addr ? PyTuple_GET_ITEM(client, 0) : NULL,
                       addr ? PyTuple_GET_ITEM(client, 1) : NULL, method, path, version, c->status,
                       phrase ? phrase : empty_str};
    enum { N_OBJ = sizeof(obj) / sizeof(obj[0]) };
    const char *at[N_OBJ];
    Py_ssize_t len[N_OBJ];
    PyObject *hold[N_OBJ] = {NULL};
    char digits[N_OBJ][24];
    int ok = 1;
    for (int i = 0; i < N_OBJ && ok; i++) {
        if (!obj[i]) { /* no client address */
            at[i] = "-";
            len[i] = 1;
        } else if (i == 4) {
            ok = (at[i] = log_path(obj[i], &len[i], digits[i], &hold[i])) != NULL;
        } else {
            ok = (at[i] = log_piece(obj[i], &len[i], digits[i], &hold[i], "backslashreplace")) != NULL;
        }
    }
    const char *qs = PyBytes_Check(query) ? PyBytes_AS_STRING(query) : "";
    Py_ssize_t qn = PyBytes_Check(query) ? PyBytes_GET_SIZE(query) : 0, high = 0;
    for (Py_ssize_t i = 0; i < qn; i++)
        high += (uint8_t)qs[i] >= 0x80; /* U+FFFD each, as AccessLog.log's decode("ascii", "replace") */
    PyObject *line = NULL;
    if (ok) {
        Py_ssize_t total = qn + 2 * high + (qn > 0) + 1 + 4 + 1 + 6 + 2 + 1 + 1;
        for (int i = 0; i < N_OBJ; i++)
            total += len[i];
        char stack[1024];
        char *buf = total <= (Py_ssize_t)sizeof(stack) ? stack : PyMem_Malloc((size_t)total);
        if (!buf) {
            PyErr_NoMemory();
        } else {
            char *w = buf;
#define LOG_PUT(p, n) (memcpy(w, (p), (size_t)(n)), w += (n))
            LOG_PUT(at[0], len[0]);
            LOG_PUT(at[1], len[1]);
            if (addr) {
                *w++ = ':';
                LOG_PUT(at[2], len[2]);
            }
            LOG_PUT(" - \"", 4);
            LOG_PUT(at[3], len[3]);
            *w++ = ' ';
            LOG_PUT(at[4], len[4]);
            if (qn)
                *w++ = '?';
            for (Py_ssize_t i = 0; i < qn; i++) {
                if ((uint8_t)qs[i] < 0x80)
                    *w++ = qs[i];
                else
                    LOG_PUT("\xef\xbf\xbd", 3);
            }
            LOG_PUT(" HTTP/", 6);
            LOG_PUT(at[5], len[5]);
            LOG_PUT("\" ", 2);
            LOG_PUT(at[6], len[6]);
            *w++ = ' ';
            LOG_PUT(at[7], len[7]);
            *w++ = '\n';
#undef LOG_PUT
            line = PyUnicode_DecodeUTF8(buf, w - buf, NULL);
            if (buf != stack)
                PyMem_Free(buf);
        }
    }
    for (int i = 0; i < N_OBJ; i++)
        Py_XDECREF(hold[i]);
    if (!line)
        return -1;
    if (PyList_GET_SIZE(lines) == 0) {
        PyObject *r = PyObject_CallNoArgs(PyTuple_GET_ITEM(sink, 1));
        if (!r) {
            Py_DECREF(line);
            return -1;
        }
        Py_DECREF(r);
    }
    int rc = PyList_Append(lines, line);
    Py_DECREF(line);
    return rc;
}

/* Cycle._finish with no receive() waiting and the access log off or made in C: what every plain response
 * needs. */
static int cycle_finish(CycleObject *c)
{
    if (c->log == LOG_PY || c->waiters != Py_None) {
        PyObject *r = PyObject_CallMethodNoArgs((PyObject *)c, s_finish);
        Py_XDECREF(r);
        return r ? 0 : -1;
    }
    set_field(&c->complete, Py_True);
    if (c->log == LOG_C && log_line(c) < 0)
        return -1;
    PyObject *cycles = PyTuple_GET_ITEM(c->ctx, CTX_CYCLES);
    PyObject *cur = PyDict_GetItemWithError(cycles, c->conn);
    if (cur == (PyObject *)c)
        return PyDict_DelItem(cycles, c->conn);
    return PyErr_Occurred() ? -1 : 0;
}

/* Cycle._send_failed(rc): raises what a failed send means to the app. NULL. */
static PyObject *send_failed(CycleObject *c, int rc)
{
    PyObject *code = PyLong_FromLong(rc);
    PyObject *r = code ? PyObject_CallMethodOneArg((PyObject *)c, s_send_failed, code) : NULL;
    Py_XDECREF(code);
    Py_XDECREF(r); /* it always raises */
    return NULL;
}

/* The body branch of Cycle._send for a bytes body (the caller checked started, not body_ended, no
 * trailers, not disconnected). */
static PyObject *cycle_body(CycleObject *c, PyObject *body, int more)
{
    Py_ssize_t len = PyBytes_GET_SIZE(body);
    uint32_t flags = more ? UA_SEND_MORE : 0;
    int rc;
    if (c->head_sent == Py_True) {
        rc = ua_conn_body(c->ring, c->cid, (const uint8_t *)PyBytes_AS_STRING(body), (uint32_t)len, flags);
    } else {
        long status = PyLong_AsLong(c->status);
        if (status == -1 && PyErr_Occurred())
            return NULL;
        /* A TypeError here, or -EINVAL (a bad header or framing), means nothing reached the client: the
         * app's error still gets its 500. */
        if (respond(c->ring, c->cid, status, c->start_headers, PyBytes_AS_STRING(body), len, flags, &rc) < 0)
            return NULL;
        set_field(&c->head_sent, rc != -EINVAL ? Py_True : Py_False);
    }
    PyObject *kick = PyTuple_GET_ITEM(c->ctx, CTX_KICK); /* None under the native loop */
    if (kick != Py_None) {
        PyObject *r = PyObject_CallNoArgs(kick);
        if (!r)
            return NULL;
        Py_DECREF(r);
    }
    if (rc < 0 && rc != -ENODATA)
        return send_failed(c, rc);
    Py_ssize_t sent = PyLong_AsSsize_t(c->sent);
    if (sent == -1 && PyErr_Occurred())
        return NULL;
    PyObject *n = PyLong_FromSsize_t(sent + len);
    if (!n)
        return NULL;
    Py_SETREF(c->sent, n);
    if (!more) {
        set_field(&c->body_ended, Py_True);
        if (cycle_finish(c) < 0)
            return NULL;
        if (rc == -ENODATA) /* every byte went, but fewer than the response's content-length */
            return send_failed(c, rc);
    } else if (rc > c->high_water) {
        return PyObject_CallMethodNoArgs((PyObject *)c, s_writable);
    }
    return Py_NewRef(DONE);
}

/* The fields of a message send() reads, borrowed, found in one walk over the message: a message holds
 * two to four keys, and a walk costs less than a dict lookup per field (those were a twentieth of a
 * hello-world request). A key is matched by identity (an app's literal keys are interned, as these are),
 * else by its text. 0; or 1: a key is not an exact str, and the message goes to Python, whose dict.get
 * decides what such a key means. */
enum { M_TYPE, M_BODY, M_MORE_BODY, M_STATUS, M_HEADERS, M_TRAILERS, M_COUNT };

static int message_fields(PyObject *msg, PyObject *f[M_COUNT])
{
    PyObject *const names[M_COUNT] = {keys[K_TYPE], s_body, s_more_body, s_status, keys[K_HEADERS], s_trailers};
    for (int i = 0; i < M_COUNT; i++)
        f[i] = NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(msg, &pos, &k, &v)) {
        int i = 0;
        while (i < M_COUNT && k != names[i])
            i++;
        if (i == M_COUNT) {
            if (!PyUnicode_CheckExact(k))
                return 1;
            for (i = 0; i < M_COUNT && !str_is(k, PyUnicode_AsUTF8(names[i]), PyUnicode_GET_LENGTH(names[i])); i++)
                ;
        }
        if (i < M_COUNT)
            f[i] = v;
    }
    return 0;
}

static PyObject *cycle_send(CycleObject *c, PyObject *msg)
{
    PyObject *f[M_COUNT];
    if (!PyDict_CheckExact(msg) || message_fields(msg, f))
        goto general;
    PyObject *kind = f[M_TYPE] ? f[M_TYPE] : Py_None;
    if (str_is(kind, "http.response.body", 18)) {
        if (c->started != Py_True || c->body_ended != Py_False || c->trailers != Py_False ||
            c->disconnected != Py_False)
            goto general;
        PyObject *body = f[M_BODY] ? f[M_BODY] : empty_bytes;
        if (!PyBytes_CheckExact(body))
            goto general;
        int m = f[M_MORE_BODY] ? PyObject_IsTrue(f[M_MORE_BODY]) : 0;
        if (m < 0)
            return NULL;
        return cycle_body(c, body, m);
    }
    if (str_is(kind, "http.response.start", 19) && c->started == Py_False) {
        if (!f[M_STATUS]) {
            PyErr_SetObject(PyExc_KeyError, s_status);
            return NULL;
        }
        /* A final status or none: anything else (1xx included) is refused by _send, which explains why. */
        long st = PyLong_Check(f[M_STATUS]) ? PyLong_AsLong(f[M_STATUS]) : 0;
        if (st < 200 || st > 599) {
            PyErr_Clear(); /* an int too large for a long */
            goto general;
        }
        set_field(&c->started, Py_True);
        int t = f[M_TRAILERS] ? PyObject_IsTrue(f[M_TRAILERS]) : 0;
        if (t < 0)
            return NULL;
        set_field(&c->status, f[M_STATUS]);
        set_field(&c->start_headers, f[M_HEADERS] ? f[M_HEADERS] : empty_tuple);
        if (t)
            set_field(&c->trailers, Py_True);
        /* The head waits for the first body, to leave with it in one send. If the app waits on something
         * else first, Cycle._flush_head sends it alone once this step ends, as uvicorn sends it at the
         * start (an EventSource opens when the head comes). In an app's first step run_app sees to it. */
        if (!in_first_step) {
            PyObject *flush = PyObject_GetAttr((PyObject *)c, s_flush_head);
            PyObject *r = flush ? PyObject_CallMethodOneArg(PyTuple_GET_ITEM(c->ctx, CTX_LOOP), s_call_soon, flush)
                                : NULL;
            Py_XDECREF(flush);
            if (!r)
                return NULL;
            Py_DECREF(r);
        }
        return Py_NewRef(DONE);
    }
general:
    return PyObject_CallMethodOneArg((PyObject *)c, s_send_py, msg);
}

static PyMethodDef cycle_methods[] = {
    {"send", (PyCFunction)cycle_send, METH_O,
     "send(message): ASGI send; an awaitable (finished at once when C handled the message)"},
    {"run", (PyCFunction)cycle_run, METH_O,
     "run(app): the app's task, its first step taken; None if it finished, else the task"},
    {NULL, NULL, 0, NULL},
};

#define MEMBER(f, ro) {#f, T_OBJECT_EX, offsetof(CycleObject, f), ro, NULL},
static PyMemberDef cycle_members[] = {
    MEMBER(disp, READONLY) MEMBER(conn, READONLY) MEMBER(scope, READONLY) MEMBER(started, 0)
    MEMBER(head_sent, 0) MEMBER(body_ended, 0) MEMBER(complete, 0) MEMBER(disconnected, 0) MEMBER(trailers, 0)
    MEMBER(status, 0) MEMBER(sent, 0) MEMBER(start_headers, 0) MEMBER(waiters, 0)
    {NULL, 0, 0, 0, NULL},
};
#undef MEMBER

static PyTypeObject CycleType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uringasgi._core.asgi.Cycle",
    .tp_basicsize = sizeof(CycleObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "One request and its response: the state and send() every request uses (asgi.py subclasses it).",
    .tp_traverse = (traverseproc)cycle_traverse,
    .tp_clear = (inquiry)cycle_clear,
    .tp_dealloc = (destructor)cycle_dealloc,
    .tp_methods = cycle_methods,
    .tp_members = cycle_members,
};

/* A new cycle of ctx's Cycle class for a request (steals scope), entered in Dispatcher.cycles if `enter`.
 * Made with object.__new__, which sets up the subclass's instance dict as a Python-made instance has it. */
static PyObject *new_cycle(PyObject *ctx, uint32_t conn, PyObject *scope, int enter)
{
    if (!scope)
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)PyTuple_GET_ITEM(ctx, CTX_CYCLE);
    if ((PyObject *)tp == Py_None) {
        Py_DECREF(scope);
        PyErr_SetString(PyExc_TypeError, "batch: a request, and no cycle class in ctx (see context())");
        return NULL;
    }
    CycleObject *c = (CycleObject *)PyBaseObject_Type.tp_new(tp, empty_tuple, NULL);
    PyObject *id = c ? PyLong_FromUnsignedLong(conn) : NULL;
    if (!id) {
        Py_XDECREF(c);
        Py_DECREF(scope);
        return NULL;
    }
    c->disp = Py_NewRef(PyTuple_GET_ITEM(ctx, CTX_DISP));
    c->conn = id;
    c->scope = scope;
    c->started = Py_NewRef(Py_False);
    c->head_sent = Py_NewRef(Py_False);
    c->body_ended = Py_NewRef(Py_False);
    c->complete = Py_NewRef(Py_False);
    c->disconnected = Py_NewRef(Py_False);
    c->trailers = Py_NewRef(Py_False);
    c->status = Py_NewRef(zero);
    c->sent = Py_NewRef(zero);
    c->start_headers = Py_NewRef(empty_tuple);
    c->waiters = Py_NewRef(Py_None);
    c->ctx = Py_NewRef(ctx);
    c->ring = PyLong_AsVoidPtr(PyTuple_GET_ITEM(ctx, CTX_RING));
    c->cid = conn;
    PyObject *log = PyTuple_GET_ITEM(ctx, CTX_LOG);
    c->log = PyTuple_Check(log) ? LOG_C : log == Py_True ? LOG_PY : LOG_OFF;
    c->high_water = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, CTX_HIGH_WATER));
    if (PyErr_Occurred() || (enter && PyDict_SetItem(PyTuple_GET_ITEM(ctx, CTX_CYCLES), id, (PyObject *)c) < 0)) {
        Py_DECREF(c);
        return NULL;
    }
    return (PyObject *)c;
}

/* On 3.11 a new task's constructor hands its first step to loop.call_soon. start_task takes it back: the
 * loop object gets an attribute call_soon (found before its class's method), a builtin bound to the loop
 * that keeps that one step while grab_next is set and hands any other call to the class's call_soon. */
static int grab_next;
static PyObject *grabbed;

#if PY_VERSION_HEX < 0x030C0000 /* from 3.12 Task(eager_start=True) takes the step */
static PyObject *grab_step(PyObject *loop, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t n = PyVectorcall_NARGS(nargsf);
    /* Only the step itself, as the C Task's constructor asks for it: call_soon(step, context=ctx). Other
     * code can run inside the constructor too (a finaliser the GC calls, a debug stack capture) and its
     * calls must be queued as asked. The constructor ignores what call_soon returns. */
    if (grab_next && n == 1 && kwnames && PyTuple_GET_SIZE(kwnames) == 1 &&
        strcmp(Py_TYPE(args[0])->tp_name, "TaskStepMethWrapper") == 0) {
        grab_next = 0;
        Py_XSETREF(grabbed, Py_NewRef(args[0]));
        Py_RETURN_NONE;
    }
    PyObject *meth = _PyType_Lookup(Py_TYPE(loop), s_call_soon); /* borrowed */
    if (!meth) {
        PyErr_SetString(PyExc_AttributeError, "call_soon");
        return NULL;
    }
    /* the class's call_soon, the loop first: callback, its args and context= after it */
    Py_ssize_t total = n + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
    PyObject *small[8], **stack = total < 8 ? small : PyMem_Malloc(sizeof(PyObject *) * (size_t)(total + 1));
    if (!stack)
        return PyErr_NoMemory();
    stack[0] = loop;
    memcpy(stack + 1, args, sizeof(PyObject *) * (size_t)total);
    PyObject *r = PyObject_Vectorcall(meth, stack, (size_t)(n + 1), kwnames);
    if (stack != small)
        PyMem_Free(stack);
    return r;
}

static PyMethodDef grab_def = {"call_soon", (PyCFunction)(void (*)(void))grab_step, METH_FASTCALL | METH_KEYWORDS,
                               "the loop's call_soon; keeps a new app task's first step for start_task"};
#endif
/* The task of a request's app: Task(guarded(app, scope, receive, send), loop=, context=, name=), made as
 * loop.create_task makes it (through the loop's task factory when one is set), with its first step taken
 * now where the loop allows it, as 3.12's eager tasks take it: a plain request then finishes before this
 * returns, with no loop iteration between it and its response. On 3.11 the step the task's constructor
 * hands to loop.call_soon is taken back (grab_step; a loop without instance attributes runs it
 * from its next iteration, as create_task would). The app is called inside its task, in `context` (a
 * copy of CTX_BASE): asyncio.current_task(), timeouts, task groups, anyio and sniffio all need a task from
 * its first line, and a context variable one request sets is never another's. Called outside any task
 * (from batch() and Dispatcher.start, both run by the loop's own iteration), so the step can make its task
 * the current one. call is app, scope, receive, send. A new reference, or NULL with an error set. */
static PyObject *start_task(PyObject *loop, PyObject *context, PyObject *const *call)
{
    if (loop == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "no loop to run the app's task on");
        return NULL;
    }
    PyObject *dict = loop_dict(loop);
    PyObject *factory = task_factory(loop, dict);
    if (!factory)
        return NULL;
    PyObject *g = PyObject_Vectorcall(guard, call, 4, NULL); /* the coroutine: nothing of the app runs yet */
    if (!g) {
        Py_DECREF(factory);
        return NULL;
    }
    grab_next = grabs_now(loop, dict);
    in_first_step = 1; /* from 3.12 the constructor takes the step itself (eager_start) */
    PyObject *task;
    if (factory == Py_None) {
        PyObject *args[5] = {g, loop, context, task_name, Py_True}; /* Py_True: eager_start, from 3.12 */
        task = PyObject_Vectorcall(task_type, args, 1, task_kwnames);
    } else {
        PyObject *args[3] = {loop, g, context};
        task = PyObject_Vectorcall(factory, args, 2, factory_kwnames); /* as create_task calls it */
    }
    in_first_step = 0;
    Py_DECREF(g);
    Py_DECREF(factory);
    grab_next = 0; /* also when the constructor failed before it asked: the next call_soon is no task's */
    PyObject *step = grabbed;
    grabbed = NULL;
    if (task && step) {
        /* what the loop's Handle would have done with it: run it inside the task's context */
        PyObject *r = NULL;
        if (PyContext_Enter(context) == 0) {
            in_first_step = 1;
            r = PyObject_CallNoArgs(step);
            in_first_step = 0;
            if (PyContext_Exit(context) < 0)
                Py_CLEAR(r);
        }
        if (!r)
            Py_CLEAR(task);
        Py_XDECREF(r);
    }
    Py_XDECREF(step);
    return task;
}

/* The loop's instance attributes (borrowed), or NULL for a loop without them. */
static PyObject *loop_dict(PyObject *loop)
{
    PyObject **dictp = _PyObject_GetDictPtr(loop);
    return dictp ? *dictp : NULL;
}

/* The loop's task factory, or None: create_task's first question. A loop with instance attributes keeps
 * it in _task_factory (asyncio's base loop, ours); uvloop's answers get_task_factory(). */
static PyObject *task_factory(PyObject *loop, PyObject *dict)
{
    PyObject *f = dict ? PyDict_GetItemWithError(dict, s_task_factory) : NULL;
    if (f)
        return Py_NewRef(f);
    return PyErr_Occurred() ? NULL : PyObject_CallMethodNoArgs(loop, s_get_task_factory);
}

/* Whether start_task can take a new task's first step back: on 3.11, while the loop's call_soon is the
 * grab_step loop_grabs put there (a wrapper put in its place since is called as it is, and keeps what
 * call_soon returns). From 3.12 Task(eager_start=True) takes the step, on any loop. */
static int grabs_now(PyObject *loop, PyObject *dict)
{
#if PY_VERSION_HEX >= 0x030C0000
    (void)loop;
    (void)dict;
    return 0;
#else
    PyObject *have = dict ? PyDict_GetItem(dict, s_call_soon) : NULL; /* borrowed */
    return have && PyCFunction_Check(have) &&
           PyCFunction_GET_FUNCTION(have) == (PyCFunction)(void (*)(void))grab_step && PyCFunction_GET_SELF(have) == loop;
#endif
}

/* Sets the loop up for grabs_now on 3.11: grab_step as its call_soon, on a loop with instance attributes
 * (a Python class: ours, asyncio's, uvloop's) whose call_soon nobody else has replaced. 0, or -1 with an
 * error set. */
static int loop_grabs(PyObject *loop)
{
#if PY_VERSION_HEX < 0x030C0000
    PyObject **dictp = _PyObject_GetDictPtr(loop);
    if (dictp && !*dictp && !(*dictp = PyDict_New()))
        return -1;
    if (dictp && !PyDict_GetItemWithError(*dictp, s_call_soon)) { /* no one's call_soon there yet: ours */
        PyObject *fn = PyErr_Occurred() ? NULL : PyCFunction_New(&grab_def, loop);
        int rc = fn ? PyDict_SetItem(*dictp, s_call_soon, fn) : -1;
        Py_XDECREF(fn);
        if (rc < 0)
            return -1;
    }
#else
    (void)loop;
#endif
    return 0;
}

/* start(loop, app, scope, receive, send) -> task: start_task on its own, in a copy of the current context,
 * for tests of it without a server (test_eager.py). Called, as the server calls it, from a loop callback
 * outside any task. */
static PyObject *py_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "start(loop, app, scope, receive, send)");
        return NULL;
    }
    PyObject *context = task_setup() < 0 || loop_grabs(args[0]) < 0 ? NULL : PyContext_CopyCurrent();
    PyObject *task = context ? start_task(args[0], context, args + 1) : NULL;
    Py_XDECREF(context);
    return task;
}

static int task_setup(void)
{
    if (task_type)
        return 0;
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    PyObject *eager = asyncio ? PyImport_ImportModule("uringasgi.protocol.eager") : NULL;
    task_type = asyncio ? PyObject_GetAttrString(asyncio, "Task") : NULL;
    guard = eager ? PyObject_GetAttrString(eager, "guarded") : NULL;
    task_name = eager ? PyObject_GetAttrString(eager, "TASK_NAME") : NULL;
#if PY_VERSION_HEX >= 0x030C0000
    task_kwnames = Py_BuildValue("(ssss)", "loop", "context", "name", "eager_start");
#else
    task_kwnames = Py_BuildValue("(sss)", "loop", "context", "name");
#endif
    factory_kwnames = Py_BuildValue("(s)", "context");
    s_task_factory = PyUnicode_InternFromString("_task_factory");
    s_get_task_factory = PyUnicode_InternFromString("get_task_factory");
    Py_XDECREF(asyncio);
    Py_XDECREF(eager);
    if (task_type && guard && task_name && task_kwnames && factory_kwnames && s_task_factory && s_get_task_factory)
        return 0;
    Py_CLEAR(task_type);
    Py_CLEAR(guard);
    Py_CLEAR(task_name);
    Py_CLEAR(task_kwnames);
    Py_CLEAR(factory_kwnames);
    Py_CLEAR(s_task_factory);
    Py_CLEAR(s_get_task_factory);
    return -1;
}

/* attr, as found on the cycle's class, bound to the cycle (see CTX_RECEIVE). */
static PyObject *bound(CycleObject *c, int attr)
{
    PyObject *d = PyTuple_GET_ITEM(c->ctx, attr);
    descrgetfunc get = Py_TYPE(d)->tp_descr_get;
    return get ? get(d, (PyObject *)c, (PyObject *)Py_TYPE(c)) : Py_NewRef(d);
}

/* Cycle.run(app) and batch()'s run_here: Dispatcher.start's work for one request. The app's coroutine is
 * made and its task started (start_task), its first step taken at once where the loop allows. If it
 * finished, Cycle.ended(exc) runs only when there is something to do (an exception, an incomplete
 * response, a loop to kick, a request count to keep): a plain response is already complete, so most
 * requests end here with no Python call. Any exception the app raises goes to ended(), BaseExceptions too
 * (guarded() makes SystemExit and KeyboardInterrupt an AppExit, so they never leave a task step and stop
 * the loop; a CancelledError of its own is one too): as with uvicorn, one request cannot stop the server.
 * -1: an error is set. 0: the app finished. 1: it has not; *task is its task, for Dispatcher.carry. */
static int run_app(CycleObject *c, PyObject *app, PyObject **task)
{
    PyObject *self = (PyObject *)c;
    PyObject *call[4] = {app, c->scope, bound(c, CTX_RECEIVE), bound(c, CTX_SEND)};
    PyObject *context = call[2] && call[3] ? PyContext_Copy(PyTuple_GET_ITEM(c->ctx, CTX_BASE)) : NULL;
    PyObject *t = context ? start_task(PyTuple_GET_ITEM(c->ctx, CTX_LOOP), context, call) : NULL;
    Py_XDECREF(call[2]);
    Py_XDECREF(call[3]);
    Py_XDECREF(context);
    if (!t)
        return -1; /* the server's own failure: the app did not run */
    PyObject *done = PyObject_CallMethodNoArgs(t, s_done);
    if (!done) {
        Py_DECREF(t);
        return -1;
    }
    Py_DECREF(done);
    if (done != Py_True) {
        /* It started its response and waits on something else: the head goes now (see cycle_send). */
        *task = t;
        if (c->started == Py_True && c->head_sent == Py_False) {
            PyObject *r = PyObject_CallMethodNoArgs(self, s_flush_head);
            if (!r) /* it leaves the app's errors to its next send(); this is no request's */
                PyErr_WriteUnraisable(self);
            Py_XDECREF(r);
        }
        return 1;
    }
    /* exception() marks it retrieved; a cancelled task raises its CancelledError instead */
    PyObject *exc = PyObject_CallMethodNoArgs(t, s_exception);
    Py_DECREF(t);
    if (exc == Py_None)
        Py_CLEAR(exc);
    else if (!exc)
        exc = take_error();
    if (!exc && c->complete == Py_True && PyTuple_GET_ITEM(c->ctx, CTX_KICK) == Py_None &&
        PyTuple_GET_ITEM(c->ctx, CTX_ON_DONE) == Py_None)
        return 0;
    PyObject *ret = PyObject_CallMethodOneArg(self, s_ended, exc ? exc : Py_None);
    Py_XDECREF(exc);
    if (!ret)
        return -1;
    Py_DECREF(ret);
    return 0;
}

static PyObject *cycle_run(CycleObject *c, PyObject *app)
{
    PyObject *task = NULL;
    int r = run_app(c, app, &task);
    return r < 0 ? NULL : r == 0 ? Py_NewRef(Py_None) : task;
}

static PyMethodDef asgi_methods[] = {
    {"start", (PyCFunction)(void (*)(void))py_start, METH_FASTCALL,
     "start(loop, app, scope, receive, send): the app's task, its first step taken now where the loop allows"},
    {"context", (PyCFunction)(void (*)(void))py_context, METH_FASTCALL,
     "context(servers, scheme, root_path, raw_root, state, extensions, asgi[, cycle_class, dispatcher, "
     "ring_addr, cycles, high_water, access_log, app, look_all, kick, on_request_done]): what batch() and "
     "head() share per worker"},
    {"batch", (PyCFunction)(void (*)(void))py_batch, METH_FASTCALL,
     "batch(ctx, events_addr, n): [(kind, conn, payload, flags)] for one engine batch"},
    {"head", (PyCFunction)(void (*)(void))py_head, METH_FASTCALL,
     "head(ctx, data): the scope of a request head given as bytes; ValueError('<status> <reason>') if invalid"},
    {"respond", (PyCFunction)(void (*)(void))py_respond, METH_FASTCALL,
     "respond(ring_addr, conn, status, headers, body, flags): ua_conn_respond with ASGI headers"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef asgi_module = {
    PyModuleDef_HEAD_INIT, "uringasgi._core.asgi", "The per-request objects of asgi.py, made in C.", -1,
    asgi_methods,          NULL,                   NULL,                                             NULL,
    NULL,
};

static int make_constants(void)
{
    for (int i = 0; i < K_COUNT; i++)
        if (!(keys[i] = PyUnicode_InternFromString(key_names[i])))
            return -1;
    for (size_t i = 0; i < N_METHODS; i++)
        if (!(methods[i] = PyUnicode_InternFromString(method_names[i])))
            return -1;
    if (!(s_http = PyUnicode_InternFromString("http")) || !(s_http10 = PyUnicode_InternFromString("1.0")) ||
        !(s_http11 = PyUnicode_InternFromString("1.1")) || !(s_body = PyUnicode_InternFromString("body")) ||
        !(s_more_body = PyUnicode_InternFromString("more_body")) ||
        !(s_status = PyUnicode_InternFromString("status")) ||
        !(s_trailers = PyUnicode_InternFromString("trailers")) ||
        !(s_send_py = PyUnicode_InternFromString("_send")) ||
        !(s_writable = PyUnicode_InternFromString("_writable")) ||
        !(s_finish = PyUnicode_InternFromString("_finish")) ||
        !(s_send_failed = PyUnicode_InternFromString("_send_failed")) ||
        !(s_fault = PyUnicode_InternFromString("_fault")) ||
        !(s_receive = PyUnicode_InternFromString("receive")) || !(s_send = PyUnicode_InternFromString("send")) ||
        !(s_ended = PyUnicode_InternFromString("ended")) || !(s_loop = PyUnicode_InternFromString("loop")) ||
        !(s_flush_head = PyUnicode_InternFromString("_flush_head")) ||
        !(s_call_soon = PyUnicode_InternFromString("call_soon")) ||

        !(s_done = PyUnicode_InternFromString("done")) ||
        !(s_exception = PyUnicode_InternFromString("exception")) ||
        !(empty_bytes = PyBytes_FromStringAndSize(NULL, 0)) || !(empty_tuple = PyTuple_New(0)) ||
        !(empty_str = PyUnicode_FromString("")) ||
        !(zero = PyLong_FromLong(0)) || PyType_Ready(&DoneType) < 0 || PyType_Ready(&CycleType) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(common_names) / sizeof(common_names[0]); i++) {
        uint32_t n = (uint32_t)strlen(common_names[i]);
        unsigned h = name_hash((const uint8_t *)common_names[i], n);
        if (name_slot[h])
            continue; /* taken: this name is made per request instead */
        if (!(name_slot[h] = PyBytes_FromStringAndSize(common_names[i], n)))
            return -1;
    }
    return 0;
}

int ua_asgi_init(void)
{
    PyGILState_STATE g = PyGILState_Ensure(); /* cffi released it for this call */
    int rc = 0;
    PyObject *name = PyUnicode_FromString("uringasgi._core");
    PyObject *core = name ? PyImport_GetModule(name) : NULL;
    Py_XDECREF(name);
    if (!core) {
        PyErr_Clear();
        rc = -ENOENT;
    } else if (!PyObject_HasAttrString(core, "asgi")) {
        PyObject *mod = NULL;
        if (make_constants() < 0 || !(mod = PyModule_Create(&asgi_module)) ||
            PyModule_AddObjectRef(mod, "Cycle", (PyObject *)&CycleType) < 0 ||
            PyObject_SetAttrString(core, "asgi", mod) < 0) {
            PyErr_Clear();
            rc = -ENOMEM;
        }
        Py_XDECREF(mod);
    }
    Py_XDECREF(core);
    PyGILState_Release(g);
    return rc;
}
