"""ASGI HTTP: the scope, receive() and send(), over the ring's connections.

One `Dispatcher` per worker gets every batch of engine events in one call (`dispatch`). The whole batch is
handled by one call into C (`_core.asgi.batch`, protocol/asgi.c): a request with no body and nothing for
`on_request` to see is run there (its Cycle and scope made, the app's first step taken), so most requests
never reach this file's loop; the rest of the batch comes back as Python objects, a request as its Cycle,
scope included. `send()` is C (the base class of Cycle): a start and a bytes body, the
messages of nearly every response, go to the engine from there in one call, with no coroutine; all other
messages come to `Cycle._send`. Each app runs in its own task, whose first step is taken as the task is
made (see eager.py): an app that answers at once has answered before the batch is over.

The cycle of one request, the rules:
  receive():
    - body chunks that arrived are returned at once, joined, with more_body until BODY_END;
    - with nothing buffered, it asks C for the body (C sends `100 Continue` then, and only then) and waits;
    - after the whole body, it waits until the response is complete or the client goes, then gives
      http.disconnect; after a disconnect it gives http.disconnect at once.
  send():
    - http.response.start is held until the first body message, so a plain response is one call into C
      (head and body in one send); if the app waits on something else first, the head goes alone when
      that step of the app ends (_flush_head), as uvicorn sends it at the start;
    - a body after the client has gone raises OSError (ASGI spec 2.4);
    - while C holds more than the high-water mark for this connection, send() waits for UA_EV_WRITABLE;
    - a message out of order raises RuntimeError naming it, and the error is logged.
  The app:
    - raises before the response started: 500 and the connection closes;
    - raises after: the connection is closed (the client sees a truncated response);
    - returns without a response: 500.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from uringasgi import _core
from uringasgi._core import ffi, lib
from uringasgi.logs import error_logger
from uringasgi.protocol import eager  # noqa: F401  (its import sets up _core.asgi; C starts its tasks)
from uringasgi.protocol.accesslog import AccessLog, logged_path

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]

_c: Any = _core.asgi
_batch = _c.batch
_respond = _c.respond

EV_REQUEST = lib.UA_EV_REQUEST
EV_BODY = lib.UA_EV_BODY
EV_BODY_END = lib.UA_EV_BODY_END
EV_DISCONNECT = lib.UA_EV_DISCONNECT
EV_WRITABLE = lib.UA_EV_WRITABLE
F_KEEP_ALIVE = lib.UA_REQ_KEEP_ALIVE
F_EXPECT = lib.UA_REQ_EXPECT_CONTINUE
F_HAS_BODY = lib.UA_REQ_HAS_BODY
SEND_MORE = lib.UA_SEND_MORE
_EINVAL = -errno.EINVAL
_ENODATA = -errno.ENODATA
F_FORWARDED = 0x100  # added by _core.asgi.batch: a Forwarded or X-Forwarded-For/-Proto header is present
EV_SUSPENDED = 64  # _core.asgi.batch ran a request whose app suspended: payload (cycle, task)
F_NEEDS_LOOK = F_HAS_BODY | F_FORWARDED  # a request that on_request must see

BODY_HIGH_WATER = 64 * 1024  # buffered request body at which C stops reading for this request
_body = lib.ua_conn_body

ERROR_500 = b"Internal Server Error"
ERROR_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]
BUSY_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


def _render_headers(headers: Any) -> tuple[bytes, int]:
    """Trailers as "name\\0value\\0..." for C, which validates them (no CR, LF or NUL)."""
    flat: list[bytes] = []
    for name, value in headers:
        flat.append(name)
        flat.append(value)
    if not flat:
        return b"", 0
    flat.append(b"")
    return b"\0".join(flat), len(headers)


def _after_disconnect(exc: BaseException) -> bool:
    """Is exc the ClientDisconnected of a send() that found the client gone, or what the app turned it into
    right away (Starlette: `except OSError: raise ClientDisconnect()`)? Only one step back: an error raised
    further on, in the app's own cleanup say, is the app's and is logged as such."""
    return any(isinstance(e, ClientDisconnected) for e in (exc, exc.__cause__, exc.__context__))


def _host_port(hop: str) -> tuple[str, int]:
    """One X-Forwarded-For or Forwarded "for" element: an address, IPv6 in brackets when a port follows."""
    hop = hop.strip()
    if hop.startswith("["):
        host, _, rest = hop[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif hop.count(":") == 1:  # IPv4 or a name, with a port; a bare IPv6 address has more colons
        host, _, port = hop.partition(":")
    else:
        host, port = hop, ""
    # isascii: str.isdigit() is also true of "²" and other digits int() refuses
    ok = port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535
    return host, int(port) if ok else 0


class ClientDisconnected(OSError):
    """send() after the client went away (ASGI spec 2.4 lets servers raise OSError here)."""

    def __init__(self) -> None:
        super().__init__(errno.EPIPE, "client disconnected")


class Cycle(_c.Cycle):  # type: ignore[misc]
    """One request and its response.

    Made per request by `_core.asgi.batch` (protocol/asgi.c), whose base class holds, as slots, the state
    every response reads and writes: disp, conn, scope, started, head_sent, body_ended, complete,
    disconnected, trailers, status, sent, start_headers, waiters. Its `send()` handles a start and a bytes
    body in C and returns an awaitable that is finished at once; every other message comes to `_send`.
    The rest of the state starts as the class attributes below (the request body's; most requests never
    touch it).
    """

    disp: Dispatcher
    conn: int
    scope: Scope
    started: bool  # http.response.start seen
    head_sent: bool  # the response head went to C
    body_ended: bool  # the last body message (more_body False) went to C
    complete: bool  # the whole response, trailers included, went to C
    disconnected: bool
    trailers: bool
    status: int
    sent: int
    start_headers: Any
    waiters: list[asyncio.Future[None]] | None  # the receive() calls waiting, each on its own future

    body: list[bytes] | None = None  # request body chunks not yet given to the app
    body_size = 0
    body_done = True  # the request body has all arrived (on_request clears it when there is a body)
    delivered = False  # ...and has all been given to the app
    paused = False  # C was told to stop reading this request's body
    trailer_parts: list[tuple[bytes, int]] | None = None
    start_time = 0.0
    writable: asyncio.Future[None] | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def logged_path(self) -> str:
        return logged_path(self.path)

    # --- events from C -------------------------------------------------------------------------
    def on_body(self, data: bytes) -> None:
        if self.body is None:
            self.body = [data]
        else:
            self.body.append(data)
        self.body_size += len(data)
        if self.body_size > BODY_HIGH_WATER and not self.paused:
            self.paused = True
            lib.ua_conn_want_body(self.disp.ring, self.conn, 0)
        self._wake()

    def on_body_end(self) -> None:
        self.body_done = True
        self._wake()

    def on_disconnect(self) -> None:
        self.disconnected = True
        self._wake()
        w = self.writable
        if w is not None and not w.done():
            w.set_result(None)

    def _wake(self) -> None:
        waiters = self.waiters
        if waiters is not None:
            self.waiters = None
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    # --- ASGI ----------------------------------------------------------------------------------
    async def receive(self) -> Message:
        while True:
            # After the response, as once the client has gone, there is nothing more to read (ASGI spec).
            if self.disconnected or self.complete:
                return {"type": "http.disconnect"}
            if self.body or (self.body_done and not self.delivered):
                chunks = self.body
                body = b"" if not chunks else chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self.body = None
                self.body_size = 0
                self.delivered = self.body_done
                if self.paused:
                    self.paused = False
                    lib.ua_conn_want_body(self.disp.ring, self.conn, 1)
                    self.disp.kicked()
                return {"type": "http.request", "body": body, "more_body": not self.body_done}
            if not self.delivered:
                # Nothing buffered: now the app wants the body, which is when a 100 Continue is owed.
                lib.ua_conn_want_body(self.disp.ring, self.conn, 1)
                self.disp.kicked()
            # Wait for body, the end of the response, or the client going away. Every call waiting (a
            # disconnect listener beside the handler's own reads) is woken; each has its own future, so
            # cancelling one of them leaves the others waiting.
            w = self.disp.loop.create_future()
            if self.waiters is None:
                self.waiters = [w]
            else:
                self.waiters.append(w)
            try:
                await w
            finally:
                if self.waiters is not None and w in self.waiters:
                    self.waiters.remove(w)
                    if not self.waiters:
                        self.waiters = None

    async def _send(self, message: Message) -> None:
        """send() for every message the C send() does not finish itself (see asgi.c), by the same rules."""
        kind = message["type"]
        if kind == "http.response.body" and self.started and not self.body_ended:
            if self.disconnected:
                raise ClientDisconnected()
            body = message.get("body", b"")
            if type(body) is not bytes:
                body = bytes(body)
            more = message.get("more_body", False)
            # With trailers announced, the response ends with the trailers message, not the last body.
            flags = SEND_MORE if more or self.trailers else 0
            disp = self.disp
            if self.head_sent:
                rc = _body(disp.ring, self.conn, body, len(body), flags)
            else:
                # A TypeError here, or -EINVAL (a bad header or framing), means nothing reached the client:
                # the app's error still gets its 500.
                rc = _respond(disp.ring_addr, self.conn, self.status, self.start_headers, body, flags)
                self.head_sent = rc != _EINVAL
            if disp.kick is not None:
                disp.kick()
            if self._sent(rc, len(body), more, flags):
                await self._writable()
        elif kind == "http.response.start" and not self.started:
            status = message["status"]
            if not isinstance(status, int) or isinstance(status, bool) or not 200 <= status <= 599:
                # 1xx is interim, never the response (103 goes by http.response.early_hint); RFC 9110 15
                raise self._protocol_error(
                    f"http.response.start needs a final status, 200 to 599, not {status!r}."
                )
            self.started = True
            self.status = status
            self.start_headers = message.get("headers", ())
            if message.get("trailers", False):
                self.trailers = True
            self.disp.loop.call_soon(self._flush_head)  # as the C send() does (asgi.c, cycle_send)
        else:
            await self._send_extension(kind, message)

    def _flush_head(self) -> None:
        """The app started its response, then waited on something else than its first body (an event for
        a stream, say): the head goes alone, as uvicorn sends it at the start, so that the client sees the
        response begin. A no-op once the head has gone with a body. An error is left for the app's next
        send() to meet."""
        if self.head_sent or not self.started or self.body_ended or self.disconnected or self.complete:
            return
        disp = self.disp
        try:
            rc = _respond(disp.ring_addr, self.conn, self.status, self.start_headers, b"", SEND_MORE)
        except (TypeError, ValueError):  # a header that is no bytes: the app's next send() raises it
            return
        self.head_sent = rc >= 0
        if disp.kick is not None:
            disp.kick()

    async def _writable(self) -> None:
        """Back-pressure: wait until C has sent enough of what is queued for this connection."""
        self.writable = self.disp.loop.create_future()
        await self.writable
        self.writable = None
        if self.disconnected:
            raise ClientDisconnected()

    async def _send_extension(self, kind: str, message: Message) -> None:
        """Everything but a plain start or body: the extensions, and messages out of order."""
        if kind == "http.response.early_hint" and not self.started:
            # 103 Early Hints (RFC 8297); HTTP/1.0 has no interim responses, so it gets none.
            if self.scope["http_version"] != "1.0" and not self.disconnected:
                links = [(b"link", link) for link in message.get("links", ())]
                rc = _respond(self.disp.ring_addr, self.conn, 103, links, b"", 0)
                self.disp.kicked()
                if rc < 0:
                    self._send_failed(rc)
            return
        if not self.started:
            raise self._protocol_error(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
        if kind in ("http.response.pathsend", "http.response.zerocopysend") and not self.body_ended:
            await self._send_file(kind, message)
            return
        if kind == "http.response.trailers" and self.trailers and self.body_ended and not self.complete:
            blob, n = _render_headers(message.get("headers", ()))
            if message.get("more_trailers", False):
                if self.trailer_parts is None:
                    self.trailer_parts = []
                self.trailer_parts.append((blob, n))
                return
            for part, count in self.trailer_parts or ():
                blob, n = part + blob, count + n
            rc = lib.ua_conn_trailers(self.disp.ring, self.conn, blob, len(blob), n)
            self.disp.kicked()
            if rc < 0:
                self._send_failed(rc)
            self._finish()
            return
        if self.complete:
            raise self._protocol_error(
                f"Unexpected ASGI message '{kind}' sent, after response already completed."
            )
        raise self._protocol_error(f"Unexpected ASGI message '{kind}' sent, after response already started.")

    async def _send_file(self, kind: str, message: Message) -> None:
        """http.response.pathsend and .zerocopysend: C sends the file with sendfile; Python never reads it."""
        if self.disconnected:
            raise ClientDisconnected()
        more = False
        if kind == "http.response.pathsend":
            fd = os.open(message["path"], os.O_RDONLY | os.O_CLOEXEC)
            offset, count = 0, os.fstat(fd).st_size
        else:
            file = message["file"]
            fd = os.dup(file if isinstance(file, int) else file.fileno())
            given_offset, given_count = message.get("offset"), message.get("count")
            offset = os.lseek(fd, 0, os.SEEK_CUR) if given_offset is None else int(given_offset)
            count = os.fstat(fd).st_size - offset if given_count is None else int(given_count)
            more = message.get("more_body", False)
        disp = self.disp
        if not self.head_sent:
            self.head_sent = True
            headers = list(self.start_headers)
            if not more and not any(name.lower() == b"content-length" for name, _ in headers):
                headers.append((b"content-length", b"%d" % count))
            rc = _respond(disp.ring_addr, self.conn, self.status, headers, b"", SEND_MORE)
            if rc < 0:
                os.close(fd)
                disp.kicked()
                self._send_failed(rc)
        flags = SEND_MORE if more or self.trailers else 0
        rc = lib.ua_conn_sendfile(disp.ring, self.conn, fd, offset, count, flags)  # C owns fd now
        disp.kicked()
        if self._sent(rc, count, more, flags):
            await self._writable()

    def _sent(self, rc: int, n: int, more: bool, flags: int) -> bool:
        """How every body send ends (rc: the engine's answer for n bytes): an error raises, the bytes are
        counted, and the last body ends the response. True: C holds too much, the caller waits for room."""
        if rc < 0 and rc != _ENODATA:
            self._send_failed(rc)
        self.sent += n
        if not more:
            self.body_ended = True
            if not flags:
                self._finish()
            if rc == _ENODATA:  # every byte went, but fewer than the response's content-length
                self._send_failed(rc)
            return False
        return rc > self.disp.high_water

    def _send_failed(self, rc: int) -> None:
        if rc == -errno.EPIPE or rc == -errno.ENOTCONN:
            self.disconnected = True
            raise ClientDisconnected()
        if rc == -errno.EINVAL:
            raise RuntimeError(
                "invalid HTTP header name or value in http.response.start, or framing headers that "
                "cannot go together (content-length with transfer-encoding, chunked not once and last)"
            )
        if rc == -errno.EMSGSIZE:  # the engine has closed the connection: the client cannot use a cut body
            raise RuntimeError("Response content longer than Content-Length")
        if rc == _ENODATA:  # the engine closes the connection after the body: only that tells where it ends
            raise RuntimeError("Response content shorter than Content-Length")
        raise OSError(-rc, f"sending the response failed: {errno.errorcode.get(-rc, rc)}")

    def _protocol_error(self, text: str) -> RuntimeError:
        error_logger.error("%s %s: %s", self.method, self.logged_path, text)
        return RuntimeError(text)

    def _finish(self) -> None:
        self.complete = True
        if self.waiters is not None:
            self._wake()
        disp = self.disp
        self._log_access()
        if disp.cycles.get(self.conn) is self:
            del disp.cycles[self.conn]

    def _log_access(self) -> None:
        disp = self.disp
        if disp.access.enabled:
            scope = self.scope
            disp.access.log(
                scope.get("client"),
                self.method,
                self.path,
                scope["query_string"],
                scope["http_version"],
                self.status,
                self.sent,
                self.start_time,
                scope["headers"],
            )

    # --- the app finished ----------------------------------------------------------------------
    def app_done(self, exc: BaseException | None) -> None:
        """The task that carried the app on (it suspended in its first step) finished."""
        self.ended(exc)

    def ended(self, exc: BaseException | None) -> None:
        """The app finished: in its first step (the C run() calls this only when there is work) or later."""
        disp = self.disp
        if exc is not None or not self.complete:
            self._app_ended_badly(exc)
        if disp.kick is not None:
            disp.kick()
        if disp.on_request_done is not None:
            disp.on_request_done()

    def _app_ended_badly(self, exc: BaseException | None) -> None:
        """The app raised, or returned without completing its response. Any exception is logged with its
        traceback, a cancellation too (its own, or the graceful shutdown's: where the request was), as
        uvicorn logs them."""
        if exc is not None:
            if _after_disconnect(exc):
                # send() raised because the client went away and the app let that out (Starlette turns it
                # into ClientDisconnect): the client's doing, not an error of the app.
                error_logger.debug("%s %s: the client disconnected (%r)", self.method, self.logged_path, exc)
            else:
                error_logger.error("Exception in ASGI application", exc_info=exc)
        if not self.complete:
            if exc is None and not self.head_sent and not self.disconnected:
                error_logger.error("ASGI callable returned without completing response.")
            self.abandon()

    def abandon(self) -> None:
        """End a response that will not be completed: a 500 if nothing was sent, else close the connection."""
        if self.complete:
            return
        disp = self.disp
        if not self.head_sent and not self.disconnected:
            self.head_sent = True
            self.status = 500
            _respond(disp.ring_addr, self.conn, 500, ERROR_HEADERS, ERROR_500, 0)
            self._finish()
            return
        if self.head_sent:
            lib.ua_conn_close(disp.ring, self.conn)
        if self.started:
            # A response cut short (the app failed, or its client left, mid-body) is logged too, with the
            # status it started with, as uvicorn logs it (at the start) and nginx (at the end).
            self._log_access()
        self.complete = True
        if disp.cycles.get(self.conn) is self:
            del disp.cycles[self.conn]


class Dispatcher:
    """Everything per worker that request handling needs, and the handler of engine event batches."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        ring: Any,
        app: ASGIApp,
        *,
        servers: list[tuple[str, int | None] | None],
        root_path: str = "",
        scheme: str = "http",
        state: dict[str, Any] | None = None,
        proxy_headers: bool = False,
        forwarded_style: str = "x-forwarded",
        asgi_version: str = "3.0",
        trusted: Any = None,
        limit_concurrency: int | None = None,
        access: AccessLog,
        high_water: int = 256 * 1024,
        on_request_done: Callable[[], None] | None = None,
    ) -> None:
        self.loop = loop
        self.ring = ring
        self.ring_addr = int(ffi.cast("uintptr_t", ring))
        self.app = app
        self.servers = servers
        self.root_path = root_path
        self.raw_root = root_path.encode("ascii")
        self.scheme = scheme
        self.state = state if state is not None else {}
        self.proxy_headers = proxy_headers
        self.rfc7239 = forwarded_style == "forwarded"
        self.asgi_version = asgi_version
        self.trusted = trusted
        self.limit = limit_concurrency
        self.access = access
        self.high_water = high_water
        self.on_request_done = on_request_done
        self.look_all = access.needs_time or limit_concurrency is not None  # every request to on_request
        self.cycles: dict[int, Cycle] = {}
        # The tasks of apps that suspended: asyncio holds tasks weakly, and one that only a future of the
        # app's own refers to would be collected mid-request (as uvicorn, the server holds them).
        self.tasks: set[asyncio.Task[Any]] = set()
        # Each one is advertised because it works: see tests/integration/test_extensions.py.
        self.extensions: dict[str, Any] = {
            "http.response.pathsend": {},
            "http.response.zerocopysend": {},
            "http.response.trailers": {},
            "http.response.early_hint": {},
        }
        self._events: Any = None  # the event array last seen, and its address for C
        self._events_addr = 0
        # Under a stock loop (--loop asyncio/uvloop) the ring runs only when kicked; the native loop runs
        # it every iteration, so this stays None there and costs nothing. Set it with use_kick.
        self.kick: Callable[[], None] | None = None
        self.ctx = self._context()

    def _context(self) -> Any:
        """What every request of this worker shares, for C (see asgi.c): made again when kick changes."""
        return _c.context(
            list(self.servers),
            self.scheme,
            self.root_path,
            self.raw_root,
            self.state,
            self.extensions,
            {"version": self.asgi_version, "spec_version": "2.4"},
            Cycle,
            self,
            self.ring_addr,
            self.cycles,
            self.high_water,
            self.access.c_sink(),
            self.app,
            self.look_all,
            self.kick,
            self.on_request_done,
        )

    def use_kick(self, kick: Callable[[], None] | None) -> None:
        """Run the ring after each call into C made outside its own iteration (a stock loop's driver)."""
        self.kick = kick
        self.ctx = self._context()

    def dispatch(self, events: Any, n: int) -> None:
        """Handle one batch from ua_ring_run: called once per loop iteration."""
        if events is not self._events:  # the same array every iteration, in practice
            self._events = events
            self._events_addr = int(ffi.cast("uintptr_t", events))
        cycles = self.cycles
        batch = _batch(self.ctx, self._events_addr, n)
        count = len(batch)
        i = 0
        while i < count:
            kind, conn, payload, flags = batch[i]
            i += 1
            # A fault of the server's own while handling one event ends that request, not the batch: the
            # events after it are other clients' requests.
            try:
                if kind == EV_SUSPENDED:
                    self.carry(*payload)
                    continue
                if kind == EV_REQUEST:
                    cycle = payload
                    # A request with no body and no proxy headers needs on_request only for the flags of
                    # this worker (the access log's time, the concurrency limit).
                    if (flags & F_NEEDS_LOOK or self.look_all) and not self.on_request(cycle, flags):
                        continue
                    # The body that came in with the head is handed over before the app's first step, so
                    # an app that reads it at once (a POST) finishes in that step instead of suspending.
                    while not cycle.body_done and i < count:
                        kind, next_conn, payload, _ = batch[i]
                        if next_conn != conn:
                            break
                        if kind == EV_BODY:
                            cycle.on_body(payload)
                        elif kind == EV_BODY_END:
                            cycle.on_body_end()
                        else:
                            break
                        i += 1
                    self.start(cycle)
                    continue
                cycle = cycles.get(conn)
                if cycle is None:
                    continue
                if kind == EV_BODY:
                    cycle.on_body(payload)
                elif kind == EV_BODY_END:
                    cycle.on_body_end()
                elif kind == EV_DISCONNECT:
                    cycle.on_disconnect()
                    del cycles[conn]
                elif kind == EV_WRITABLE:
                    w = cycle.writable
                    if w is not None and not w.done():
                        w.set_result(None)
            except Exception as exc:
                self._fault(conn, exc)

    def _fault(self, conn: int, exc: Exception) -> None:
        """The server's own code raised while handling an event of `conn`: its request ends as an app's
        fault would end it (a 500, or a close once the head has gone), and the error is logged."""
        error_logger.error("Exception in the server while handling a request", exc_info=exc)
        cycle = self.cycles.get(conn)
        if cycle is not None:
            cycle.abandon()
        else:
            lib.ua_conn_close(self.ring, conn)

    def on_request(self, cycle: Cycle, flags: int) -> bool:
        """A request's cycle (made and put in `cycles` by C): False when it was answered here (503)."""
        scope = cycle.scope
        if flags & F_HAS_BODY:
            cycle.body_done = False
        if flags & F_FORWARDED and self.proxy_headers:
            client = scope["client"]
            if client is not None and client[0] in self.trusted:
                scope["scheme"], scope["client"] = self._forwarded(scope["headers"], scope["scheme"], client)
        if self.access.needs_time:
            cycle.start_time = time.perf_counter()
        if self.limit is not None and len(self.tasks) >= self.limit:
            cycle.started = cycle.head_sent = True
            cycle.status = 503
            _respond(self.ring_addr, cycle.conn, 503, BUSY_HEADERS, b"Service Unavailable", 0)
            cycle._finish()
            return False
        return True

    def start(self, cycle: Cycle) -> None:
        """Run the app for a request: its task, with its first step taken now (Cycle.run, in C).

        `tasks` holds the apps' tasks that go on: one that finished in its first step never enters it.
        """
        task = cycle.run(self.app)
        if task is not None:
            self.carry(cycle, task)

    def carry(self, cycle: Cycle, task: asyncio.Task[Any]) -> None:
        """An app that did not finish in its first step: its end, when it comes, ends the request."""
        tasks = self.tasks

        def finished(t: asyncio.Task[Any]) -> None:
            tasks.discard(t)
            cycle.app_done(t.exception() if not t.cancelled() else asyncio.CancelledError())

        task.add_done_callback(finished)
        tasks.add(task)

    def _forwarded(
        self, headers: list[tuple[bytes, bytes]], scheme: str, client: tuple[str, int] | None
    ) -> tuple[str, tuple[str, int] | None]:
        """X-Forwarded-For/-Proto from a trusted peer, as uvicorn reads them, or with --forwarded-style
        forwarded the Forwarded header (RFC 7239). Only one kind is read: a proxy that sets one passes a
        client's own headers of the other kind through. Repeated headers are one list (RFC 9110 5.3)."""
        proto = None
        hops: list[str] = []
        for name, value in headers:
            if self.rfc7239:
                if name != b"forwarded":
                    continue
                for element in value.decode("latin-1").split(","):
                    for pair in element.split(";"):
                        key, _, val = pair.partition("=")
                        key, val = key.strip().lower(), val.strip().strip('"')
                        if key == "proto":
                            proto = val
                        elif key == "for":
                            hops.append(val)
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip()
            elif name == b"x-forwarded-for":
                hops += value.decode("latin-1").split(",")
        if proto:
            scheme = proto.lower()
            if scheme not in ("http", "https", "ws", "wss"):
                scheme = "http"
        peers = [_host_port(h) for h in hops if h.strip()]
        if peers:
            # The client is the rightmost address not trusted: each trusted proxy appended its peer.
            client = next((p for p in reversed(peers) if p[0] not in self.trusted), peers[0])
            if not client[0] or client[0] == "unknown" or client[0].startswith("_"):
                client = None  # RFC 7239 6: the proxy did not know or would not say
        return scheme, client

    def kicked(self) -> None:
        """After a call into C made outside a dispatch: under a stock loop, make sure the ring runs."""
        if self.kick is not None:
            self.kick()
