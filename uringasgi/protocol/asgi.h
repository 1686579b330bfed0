/* The C half of asgi.py: the per-request Python objects, built against the CPython C API.
 *
 * cffi cannot make Python objects in C, so without this every header tuple, every scope field and the
 * joined response headers would be made by Python bytecode, field by field: that was half of the server's
 * CPU per request. These functions live in the one extension (`uringasgi._core`, DESIGN.md), not in a
 * second one, so they call the engine (ua_conn_respond) directly, with no second crossing, and the build
 * stays one cffi module. cffi still binds everything else.
 *
 * ua_asgi_init() (called through cffi, which releases the GIL, so it takes it) makes a module object of
 * the functions in asgi.c and sets it as `uringasgi._core.asgi`. The functions themselves are documented
 * in asgi.c, next to what they build.
 */
#ifndef UA_ASGI_H
#define UA_ASGI_H

/* ua:cdef-begin */
/* Make `uringasgi._core.asgi` (once; later calls do nothing). 0, or -ENOMEM / -ENOENT (no _core module). */
int ua_asgi_init(void);
/* ua:cdef-end */

#endif
