"""Python face of the io_uring engine (ring.c): -errno to OSError, config by keyword, stats as a dict.

The hot path (``run``, ``respond``) stays thin: one cffi call each, the event array allocated once. Code
that wants to avoid even this layer may use ``Ring.ptr``, ``Ring.events`` and ``lib`` directly.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass
from typing import Any

from uringasgi._core import ffi, lib

EV_REQUEST: int = lib.UA_EV_REQUEST
EV_BODY: int = lib.UA_EV_BODY
EV_BODY_END: int = lib.UA_EV_BODY_END
EV_DISCONNECT: int = lib.UA_EV_DISCONNECT
EV_WRITABLE: int = lib.UA_EV_WRITABLE
EV_POLL: int = lib.UA_EV_POLL
EV_WAKE: int = lib.UA_EV_WAKE

REQ_KEEP_ALIVE: int = lib.UA_REQ_KEEP_ALIVE
REQ_CHUNKED: int = lib.UA_REQ_CHUNKED
REQ_EXPECT_CONTINUE: int = lib.UA_REQ_EXPECT_CONTINUE
REQ_UPGRADE: int = lib.UA_REQ_UPGRADE
REQ_HAS_BODY: int = lib.UA_REQ_HAS_BODY

SEND_MORE: int = lib.UA_SEND_MORE

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT

# IORING_SETUP_* flags, for Ring(setup_flags_mask=...) and stats()["setup_flags"].
SETUP_COOP_TASKRUN = 1 << 8
SETUP_TASKRUN_FLAG = 1 << 9
SETUP_SINGLE_ISSUER = 1 << 12
SETUP_DEFER_TASKRUN = 1 << 13

STATS_FIELDS = (
    "conns_open",
    "bufs_out",
    "ops_inflight",
    "accepted",
    "requests",
    "polls_armed",
    "enobufs",
    "cq_overflow",
    "dropped_stale",
    "timeouts",
    "accept_errors",
    "zc_sends",
    "setup_flags",
    "in_bytes",
    "trims",
    "out_cached",
)


def check(rc: int) -> int:
    """Turn a C return (>= 0 or -errno) into the value or an OSError."""
    if rc < 0:
        raise OSError(-rc, os.strerror(-rc))
    return rc


@dataclass(frozen=True)
class Request:
    """A decoded UA_EV_REQUEST block: what an ASGI scope is built from."""

    conn: int
    method: bytes
    path: bytes
    query: bytes
    headers: list[tuple[bytes, bytes]]
    http_minor: int
    flags: int
    content_length: int
    client: tuple[int, bytes, int]  # family, address bytes, port
    listener: int


def decode_request(ev: Any) -> Request:
    """One copy of the head bytes, slices for the rest (the block layout is in ring.h)."""
    req = ffi.cast("struct ua_req *", ev.data)
    n = req.n_headers
    fixed = ffi.sizeof("struct ua_req")
    spans = ffi.cast("uint16_t *", ev.data + fixed)
    head = bytes(ffi.buffer(ev.data + fixed + 8 * n, req.head_len))
    headers = [
        (
            head[spans[4 * i] : spans[4 * i] + spans[4 * i + 1]],
            head[spans[4 * i + 2] : spans[4 * i + 2] + spans[4 * i + 3]],
        )
        for i in range(n)
    ]
    addr_len = 4 if req.client_family == 2 else 16
    return Request(
        conn=ev.conn,
        method=head[req.method_off : req.method_off + req.method_len],
        path=head[req.path_off : req.path_off + req.path_len],
        query=head[req.query_off : req.query_off + req.query_len],
        headers=headers,
        http_minor=req.http_minor,
        flags=req.flags,
        content_length=req.content_length,
        client=(req.client_family, bytes(req.client_addr)[:addr_len], req.client_port),
        listener=req.listener,
    )


def pack_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """ASGI headers to the "name\\0value\\0" form ua_conn_respond takes."""
    return b"".join(name + b"\0" + value + b"\0" for name, value in headers)


class Ring:
    """One engine ring. Create it in the thread (and process) that runs it: the ring is single-issuer."""

    def __init__(self, cap: int = 1024, **config: int | bytes) -> None:
        cfg = ffi.new("struct ua_ring_config *")
        keep = []
        for name, value in config.items():
            if name == "extra_headers":
                assert isinstance(value, bytes)
                buf = ffi.from_buffer(value)
                keep.append(buf)
                cfg.extra_headers = buf
                cfg.extra_headers_len = len(value)
            else:
                setattr(cfg, name, value)
        out = ffi.new("struct ua_ring **")
        check(lib.ua_ring_new(cfg, out))  # the config (extra headers included) is copied by C
        self.ptr: Any = out[0]
        self.cap = cap
        self.events: Any = ffi.new("struct ua_event[]", cap)

    def close(self) -> None:
        if self.ptr is not None:
            lib.ua_ring_free(self.ptr)
            self.ptr = None

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, timeout: float | None) -> int:
        """Submit, wait at most ``timeout`` seconds (None: until something happens), handle completions.
        Returns how many of ``self.events`` are filled."""
        ns = -1 if timeout is None else int(timeout * 1e9)
        return check(lib.ua_ring_run(self.ptr, self.events, self.cap, ns))

    def fd(self) -> int:
        return int(lib.ua_ring_fd(self.ptr))

    def wake(self) -> None:
        check(lib.ua_ring_wake(self.ptr))

    def submit(self) -> None:
        check(lib.ua_ring_submit(self.ptr))

    def poll(self, fd: int, events: int) -> None:
        check(lib.ua_ring_poll(self.ptr, fd, events))

    def listen(self, fd: int, flags: int = 0) -> int:
        return check(lib.ua_ring_listen(self.ptr, fd, flags))

    def unlisten(self, fd: int) -> None:
        check(lib.ua_ring_unlisten(self.ptr, fd))

    def respond(
        self,
        conn: int,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes = b"",
        more: bool = False,
    ) -> int:
        packed = pack_headers(headers)
        flags = SEND_MORE if more else 0
        rc = lib.ua_conn_respond(
            self.ptr, conn, status, packed, len(packed), len(headers), body, len(body), flags
        )
        return check(rc)

    def body(self, conn: int, data: bytes, more: bool = False) -> int:
        return check(lib.ua_conn_body(self.ptr, conn, data, len(data), SEND_MORE if more else 0))

    def want_body(self, conn: int, want: bool = True) -> None:
        check(lib.ua_conn_want_body(self.ptr, conn, 1 if want else 0))

    def close_conn(self, conn: int) -> None:
        check(lib.ua_conn_close(self.ptr, conn))

    def stats(self) -> dict[str, int]:
        st = ffi.new("struct ua_ring_stats *")
        check(lib.ua_ring_stats(self.ptr, st))
        return {name: int(getattr(st, name)) for name in STATS_FIELDS}
