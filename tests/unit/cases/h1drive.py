"""Drive the C h1 state machine the way the engine does, through the cffi bindings, without sockets.

`run(data, chunk=n)` feeds `data` in pieces of n bytes (0 = whole) into one connection, answers each
request as soon as its body ended (200, empty body) and returns the normalised events: consecutive body
pieces are joined, so a whole feed and a byte-by-byte feed must give equal lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from uringasgi._core import ffi, lib

EVENT_NAMES = {
    lib.UA_H1_MORE: "more",
    lib.UA_H1_HEAD: "head",
    lib.UA_H1_BODY: "body",
    lib.UA_H1_END: "end",
    lib.UA_H1_PAUSED: "paused",
    lib.UA_H1_ERROR: "error",
    lib.UA_H1_UPGRADED: "upgraded",
}


@dataclass
class Limits:
    max_head: int = 0
    max_headers: int = 0
    max_target: int = 0
    max_body: int = 0


def span(buf: bytes | bytearray, s: Any) -> bytes:
    return bytes(buf[s.off : s.off + s.len])


def head_dict(buf: bytes | bytearray, h: Any) -> dict[str, Any]:
    """Everything the parser extracted from one head, as plain Python values."""
    headers = []
    for i in range(h.n_headers):
        x = h.headers[i]
        headers.append(
            (
                bytes(buf[x.name_off : x.name_off + x.name_len]),
                bytes(buf[x.value_off : x.value_off + x.value_len]),
            )
        )
    known = {i: h.known[i] for i in range(lib.UA_HK_COUNT) if h.known[i] != lib.UA_HK_ABSENT}
    return {
        "method": span(buf, h.method),
        "target": span(buf, h.target),
        "path": span(buf, h.path),
        "query": span(buf, h.query),
        "minor": h.minor,
        "method_id": h.method_id,
        "flags": h.flags,
        "content_length": h.content_length,
        "headers": headers,
        "known": known,
    }


def feed(conn: Any, pending: bytearray, ev: Any) -> int:
    """One ua_h1_feed over the pending bytes, from an exact-size C copy: under ASan (tests/asan/run.sh) a read
    one byte past the end is a report. The copy is written back, since the parser lowercases names in place
    and a resumed parse relies on it."""
    n = len(pending)
    buf = ffi.new("uint8_t[]", n)
    ffi.memmove(buf, pending, n)
    t = int(lib.ua_h1_feed(conn, buf, n, ev))
    pending[:n] = ffi.buffer(buf, n)[:]
    return t


def settings(limits: Limits | None = None, flags: int = 0) -> Any:
    lim = limits or Limits()
    s = ffi.new("struct ua_h1_settings *")
    lib.ua_h1_settings_init(s, lim.max_head, lim.max_headers, lim.max_target, lim.max_body, flags)
    return s


@dataclass
class Result:
    events: list[tuple[Any, ...]] = field(default_factory=list)
    heads: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    leftover: bytes = b""

    @property
    def status(self) -> int:
        """The error status the connection ended with, 0 when none."""
        last = self.events[-1] if self.events else ("",)
        return int(last[1]) if last[0] == "error" else 0

    @property
    def bodies(self) -> list[bytes]:
        return [e[1] for e in self.events if e[0] == "body"]


def run(data: bytes, chunk: int = 0, limits: Limits | None = None, respond: bool = True) -> Result:
    st = settings(limits)
    conn = ffi.new("struct ua_h1_conn *")
    lib.ua_h1_init(conn, st)
    ev = ffi.new("struct ua_h1_event *")
    out = ffi.new("char[]", 4096)
    res = Result()
    pending = bytearray()
    pieces = [data] if chunk == 0 else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        pending += piece
        while not res.closed:
            t = feed(conn, pending, ev)
            assert t == ev.type and t >= 0
            consumed, off, n = ev.consumed, ev.off, ev.len
            assert consumed <= len(pending)
            if t == lib.UA_H1_HEAD:
                hd = head_dict(pending, conn.head)
                res.heads.append(hd)
                res.events.append(("head", hd["method"], hd["target"], tuple(hd["headers"]), hd["flags"]))
            elif t == lib.UA_H1_BODY:
                assert off + n <= consumed and n > 0
                data_piece = bytes(pending[off : off + n])
                if res.events and res.events[-1][0] == "body":
                    res.events[-1] = ("body", res.events[-1][1] + data_piece)
                else:
                    res.events.append(("body", data_piece))
            elif t == lib.UA_H1_END:
                trailers = tuple(
                    (
                        bytes(pending[off + f.name_off : off + f.name_off + f.name_len]),
                        bytes(pending[off + f.value_off : off + f.value_off + f.value_len]),
                    )
                    for f in conn.trailers.fields[0 : conn.trailers.n]
                )
                res.events.append(("end", trailers))
            elif t == lib.UA_H1_ERROR:
                res.events.append(("error", ev.status))
                res.closed = True
            elif t == lib.UA_H1_UPGRADED:
                res.events.append(("upgraded",))
                res.closed = True
            del pending[:consumed]
            if t == lib.UA_H1_PAUSED:
                if not respond:
                    break
                n_out = lib.ua_h1_respond(conn, 200, ffi.NULL, 0, 0, 0, ffi.NULL, 0, out, 4096)
                assert n_out > 0, n_out
                if lib.ua_h1_response_done(conn) == 1:
                    res.events.append(("close",))
                    res.closed = True
                continue
            if t in (lib.UA_H1_MORE, lib.UA_H1_ERROR, lib.UA_H1_UPGRADED):
                break
    res.leftover = bytes(pending)
    return res
