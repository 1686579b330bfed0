"""The h1 connection state machine and response writer through the cffi bindings, without sockets."""

from __future__ import annotations

import http
import pathlib
import sys
from typing import Any

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "cases"))
import h1drive
from uringasgi._core import ffi, lib

FLAGS = lib.UA_H1_SERVER_HEADER | lib.UA_H1_DATE_HEADER


class Conn:
    """One connection the way the engine holds it: a buffer of unconsumed bytes and the C state."""

    def __init__(
        self, flags: int = FLAGS, limits: h1drive.Limits | None = None, now: int = 784111777
    ) -> None:
        self.settings = h1drive.settings(limits, flags)
        if now:
            lib.ua_h1_tick(self.settings, now)
        self.c = ffi.new("struct ua_h1_conn *")
        lib.ua_h1_init(self.c, self.settings)
        self.ev = ffi.new("struct ua_h1_event *")
        self.pending = bytearray()
        self.out = ffi.new("char[]", 8192)

    def feed(self, data: bytes = b"") -> list[tuple[Any, ...]]:
        """Append bytes and collect events until the connection wants more or waits."""
        self.pending += data
        events: list[tuple[Any, ...]] = []
        while True:
            t = h1drive.feed(self.c, self.pending, self.ev)
            name = h1drive.EVENT_NAMES[t]
            if t == lib.UA_H1_HEAD:
                events.append((name, h1drive.head_dict(self.pending, self.c.head)))
            elif t == lib.UA_H1_BODY:
                events.append((name, bytes(self.pending[self.ev.off : self.ev.off + self.ev.len])))
            elif t == lib.UA_H1_ERROR:
                events.append((name, self.ev.status))
            else:
                events.append((name,))
            del self.pending[: self.ev.consumed]
            if t in (lib.UA_H1_MORE, lib.UA_H1_PAUSED, lib.UA_H1_ERROR, lib.UA_H1_UPGRADED):
                return events

    def respond(
        self, status: int, headers: list[tuple[bytes, bytes]] = (), body_len: int = -1, extra: bytes = b""
    ) -> bytes | int:
        blob = b"".join(n + b"\0" + v + b"\0" for n, v in headers)
        n = lib.ua_h1_respond(
            self.c,
            status,
            blob,
            len(blob),
            len(headers),
            body_len,
            extra or ffi.NULL,
            len(extra),
            self.out,
            8192,
        )
        return n if n < 0 else ffi.buffer(self.out, n)[:]

    def done(self) -> int:
        return int(lib.ua_h1_response_done(self.c))


GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
DATE = b"date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"


def names(events: list[tuple[Any, ...]]) -> list[str]:
    return [e[0] for e in events]


def test_get_head_end_then_pause_until_response_done() -> None:
    c = Conn()
    assert names(c.feed(GET + GET)) == ["head", "end", "paused"]
    assert len(c.pending) == len(GET), "the pipelined request stays unconsumed"
    assert names(c.feed()) == ["paused"]
    resp = c.respond(200, [(b"content-type", b"text/plain")], body_len=5)
    assert resp == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: uringasgi\r\n"
        + DATE
        + b"content-length: 5\r\n\r\n"
    )
    assert c.c.resp_framing == lib.UA_H1_FRAME_LENGTH and c.c.resp_length == 5
    assert c.done() == 0
    assert names(c.feed()) == ["head", "end", "paused"]
    assert c.pending == bytearray()


def test_date_is_imf_fixdate_and_cached_per_second() -> None:
    s = h1drive.settings()
    assert lib.ua_h1_tick(s, 1700000000) == 1
    assert ffi.string(s.date) == b"Tue, 14 Nov 2023 22:13:20 GMT"
    assert lib.ua_h1_tick(s, 1700000000) == 0, "same second: not formatted again"
    assert lib.ua_h1_tick(s, 951782400) == 1
    assert ffi.string(s.date) == b"Tue, 29 Feb 2000 00:00:00 GMT"
    assert lib.ua_h1_tick(s, 0 + 86400 * 365) == 1
    assert ffi.string(s.date) == b"Fri, 01 Jan 1971 00:00:00 GMT"


def test_server_and_date_can_be_off_and_app_values_win() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(204) == b"HTTP/1.1 204 No Content\r\n\r\n"
    c2 = Conn()
    c2.feed(GET)
    resp = c2.respond(200, [(b"Server", b"mine"), (b"Date", b"x")], body_len=0)
    assert isinstance(resp, bytes)
    assert b"uringasgi" not in resp and resp.count(b"date") + resp.count(b"Date") == 1


def test_chunked_when_length_unknown_on_http11() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(200) == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    assert c.c.resp_framing == lib.UA_H1_FRAME_CHUNKED
    out = ffi.new("char[]", 64)
    n = lib.ua_h1_chunk_prefix(out, 64, 300)
    assert ffi.buffer(out, n)[:] == b"12c\r\n"
    assert lib.ua_h1_chunk_prefix(out, 64, 0) == -22
    assert lib.ua_h1_chunk_prefix(out, 3, 300) == -28  # -ENOSPC
    n = lib.ua_h1_chunk_last(out, 64, ffi.NULL, 0, 0)
    assert ffi.buffer(out, n)[:] == b"0\r\n\r\n"
    blob = b"x-sum\0abc\0"
    n = lib.ua_h1_chunk_last(out, 64, blob, len(blob), 1)
    assert ffi.buffer(out, n)[:] == b"0\r\nx-sum: abc\r\n\r\n"
    assert lib.ua_h1_chunk_last(out, 64, b"x\0a\r\nb\0", 7, 1) == -22


def test_http10_unknown_length_is_close_delimited() -> None:
    c = Conn(flags=0)
    c.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert c.respond(200) == b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"
    assert c.c.resp_framing == lib.UA_H1_FRAME_CLOSE
    assert c.done() == 1


def test_http10_keep_alive_is_announced() -> None:
    c = Conn(flags=0)
    c.feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + GET)
    assert (
        c.respond(200, body_len=2)
        == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n"
    )
    assert c.done() == 0
    assert names(c.feed()) == ["head", "end", "paused"]


def test_http10_without_keep_alive_closes() -> None:
    c = Conn(flags=0)
    c.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert c.respond(200, body_len=0) == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    assert c.done() == 1
    assert names(c.feed(GET)) == ["paused"], "nothing parses after a close"


@pytest.mark.parametrize("status", [204, 304, 100, 103])
def test_no_body_framing_for_bodiless_statuses(status: int) -> None:
    c = Conn(flags=0)
    c.feed(GET)
    resp = c.respond(status, body_len=10)
    assert isinstance(resp, bytes)
    assert b"content-length" not in resp and b"transfer-encoding" not in resp


def test_head_request_gets_no_framing_but_keeps_app_length() -> None:
    c = Conn(flags=0)
    c.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (
        c.respond(200, [(b"content-length", b"1234")]) == b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"
    )
    assert c.c.resp_framing == lib.UA_H1_FRAME_NONE


def test_informational_then_final_response() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(103, [(b"link", b"</a.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n"
    )
    assert c.respond(200, body_len=0) == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
    assert c.respond(200, body_len=0) == -22, "one final response per request"


def test_app_content_length_is_honoured() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert (
        c.respond(200, [(b"Content-Length", b"7")], body_len=3)
        == b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
    )
    assert c.c.resp_length == 7


def test_app_connection_close_closes() -> None:
    c = Conn(flags=0)
    c.feed(GET + GET)
    assert c.respond(200, [(b"connection", b"close")], body_len=0) == (
        b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    )
    assert c.done() == 1


@pytest.mark.parametrize(
    ("value", "closes"),
    [
        (b"close", True),
        (b"Keep-Alive, CLOSE", True),
        (b" x ,\tClose\t", True),
        (b"closed", False),
        (b"clos", False),
        (b"keep-alive", False),
        (b"close-ish, x", False),
    ],
)
def test_app_connection_option_close_is_a_whole_token_in_any_case(value: bytes, closes: bool) -> None:
    c = Conn(flags=0)
    c.feed(GET + GET)
    assert isinstance(c.respond(200, [(b"connection", value)], body_len=0), bytes)
    assert c.done() == int(closes)


@pytest.mark.parametrize(
    ("lines", "ok"),
    [
        ([b"gzip, Chunked"], True),
        ([b"CHUNKED"], True),
        ([b" chunked\t"], True),
        ([b"gzip,,  chunked ,"], True),  # empty list elements count for nothing (RFC 9110 5.6.1)
        ([b"gzip", b"chunked"], True),  # repeated lines are one list, in order
        ([b"gzip, chunk"], False),
        ([b"chunked, gzip"], False),  # chunked not last: the client could not find the end
        ([b"chunked", b"gzip"], False),
        ([b"chunked, chunked"], False),  # chunked applied twice
        ([b"chunked", b"chunked"], False),
        ([b"gzip"], False),
        ([b""], False),
        ([b" , "], False),
    ],
)
def test_app_transfer_encoding_must_end_with_chunked_once(lines: list[bytes], ok: bool) -> None:
    c = Conn(flags=0)
    c.feed(GET)
    head = c.respond(200, [(b"transfer-encoding", v) for v in lines])
    if ok:
        assert isinstance(head, bytes)
        assert b"content-length" not in head
        assert head.count(b"transfer-encoding: ") == len(lines)
        assert c.c.resp_framing == lib.UA_H1_FRAME_CHUNKED
    else:
        assert head == -22


def test_app_transfer_encoding_is_checked_for_head_responses_too() -> None:
    c = Conn(flags=0)
    c.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert c.respond(200, [(b"transfer-encoding", b"chunked, gzip")]) == -22
    assert c.respond(200, [(b"transfer-encoding", b"chunked")]) == (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    assert c.c.resp_framing == lib.UA_H1_FRAME_NONE


@pytest.mark.parametrize(
    ("body_len", "expected"),
    [
        (-1, b"HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b: 2\r\nconnection: close\r\n\r\n"),
        (5, b"HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b: 2\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"),
    ],
)
def test_http10_response_leaves_out_the_apps_chunked(body_len: int, expected: bytes) -> None:
    """RFC 9112 6.1: no transfer-encoding to an HTTP/1.0 client; the length or the close frames the body."""
    c = Conn(flags=0)
    c.feed(b"GET / HTTP/1.0\r\n\r\n")
    headers = [(b"x-a", b"1"), (b"Transfer-Encoding", b"chunked"), (b"x-b", b"2")]
    assert c.respond(200, headers, body_len=body_len) == expected
    framing = lib.UA_H1_FRAME_CLOSE if body_len < 0 else lib.UA_H1_FRAME_LENGTH
    assert c.c.resp_framing == framing


@pytest.mark.parametrize("value", [b"gzip, chunked", b"chunked, chunked", b"gzip"])
def test_http10_response_refuses_other_codings(value: bytes) -> None:
    """Only chunked can be left out for an HTTP/1.0 client: it cannot be told of any other coding."""
    c = Conn(flags=0)
    c.feed(b"GET / HTTP/1.0\r\n\r\n")
    assert c.respond(200, [(b"transfer-encoding", value)], body_len=5) == -22


@pytest.mark.parametrize("status", [204, 103])
def test_no_content_length_or_transfer_encoding_on_204_and_1xx(status: int) -> None:
    """RFC 9110 8.6 and RFC 9112 6.1: the server must not send them there; the app's are left out."""
    c = Conn(flags=0)
    c.feed(GET)
    headers = [(b"Content-Length", b"8"), (b"x-a", b"1"), (b"transfer-encoding", b"chunked")]
    reason = b"No Content" if status == 204 else b"Early Hints"
    assert c.respond(status, headers) == b"HTTP/1.1 %d %s\r\nx-a: 1\r\n\r\n" % (status, reason)


def test_extra_lines_are_appended() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(200, body_len=0, extra=b"x-extra: 1\r\n") == (
        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-extra: 1\r\n\r\n"
    )


@pytest.mark.parametrize("status", [s.value for s in http.HTTPStatus if s.value >= 200])
def test_every_registered_status_has_its_reason_phrase(status: int) -> None:
    """The phrase a client sees in the status line, as uvicorn sends it (RFC 9110's name where Python's
    older one differs)."""
    renamed = {
        413: "Content Too Large",
        414: "URI Too Long",
        416: "Range Not Satisfiable",
        422: "Unprocessable Content",
    }
    c = Conn(flags=0)
    c.feed(GET)
    phrase = renamed.get(status, http.HTTPStatus(status).phrase).encode()
    assert c.respond(status, body_len=0).split(b"\r\n")[0] == b"HTTP/1.1 %d %s" % (status, phrase)


def test_unknown_status_has_empty_reason() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(299, body_len=0) == b"HTTP/1.1 299 \r\ncontent-length: 0\r\n\r\n"


@pytest.mark.parametrize(
    ("blob", "n"),
    [
        (b"x-a\0v\r\nx-b: 1\0", 1),  # CRLF in a value: response splitting
        (b"x-a\0v\nx\0", 1),
        (b"x-a\0v\rx\0", 1),
        (b"x-a\0v\x01\0", 1),
        (b"x-a\0v\x7f\0", 1),
        (b"x-a\0v\t\r\nx\0", 1),  # a control right after the one allowed (HTAB)
        (b"x-a\0\t\t\n\0", 1),
        (b"x a\0v\0", 1),  # not a token
        (b"x:a\0v\0", 1),
        (b"\0v\0", 1),  # empty name
        (b"x-a\0v\0x-b\0w\0", 1),  # more NULs than 2n
        (b"x-a\0v\0", 2),  # fewer
        (b"x-a\0v", 1),  # unterminated value
        (b"x-a\0v\0extra", 1),  # trailing bytes
        (b"content-length\0abc\0", 1),
        (b"content-length\x005\0transfer-encoding\0chunked\0", 2),
    ],
)
def test_header_injection_is_rejected(blob: bytes, n: int) -> None:
    c = Conn(flags=0)
    c.feed(GET)
    r = lib.ua_h1_respond(c.c, 200, blob, len(blob), n, 0, ffi.NULL, 0, c.out, 8192)
    assert r == -22
    assert c.respond(200, body_len=0) == b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", "state unchanged"


@pytest.mark.parametrize("bad", [b"\0", b"\r", b"\n", b"\x01", b"\x1f", b"\x7f"])
def test_a_control_byte_anywhere_in_values_around_the_vector_width_is_rejected(bad: bytes) -> None:
    """Values are scanned 16 bytes at a time: every length to past two steps, the bad byte at every place."""
    c = Conn(flags=0)
    c.feed(GET)
    for n in range(1, 40):
        for at in range(n):
            value = (b"v\t\xe9" * 14)[:n]
            value = value[:at] + bad + value[at + 1 :]
            for blob in (b"x-a\0" + value + b"\0", b"x-a\0ok\0x-b\0" + value + b"\0"):
                k = blob.count(b"\0") // 2 if bad != b"\0" else 2
                r = lib.ua_h1_respond(c.c, 200, blob, len(blob), k, 0, ffi.NULL, 0, c.out, 8192)
                assert r == -22, (n, at, blob)
        value = (b"v\t\xe9" * 14)[:n]
        assert c.respond(200, [(b"X-Long-Header-Name-Of-Some-Length", value)], body_len=0) == (
            b"HTTP/1.1 200 OK\r\nX-Long-Header-Name-Of-Some-Length: "
            + value
            + b"\r\ncontent-length: 0\r\n\r\n"
        )
        assert c.done() == 0
        c.feed(GET)


TCHARS = b"!#$%&'*+-.^_`|~09azAZ"


@pytest.mark.parametrize("bad", [b" ", b":", b"(", b"@", b"[", b"{", b"\x80", b"\xff", b"\x7f", b"\r"])
def test_a_non_token_byte_anywhere_in_names_around_the_vector_width_is_rejected(bad: bytes) -> None:
    """Names are checked 16 bytes at a time for the usual letters, digits and '-', by table for the rest."""
    c = Conn(flags=0)
    c.feed(GET)
    for n in range(1, 40):
        name = (TCHARS * 3)[:n]
        for at in range(n):
            broken = name[:at] + bad + name[at + 1 :]
            for blob in (broken + b"\0v\0", b"x-a\0ok\0" + broken + b"\0v\0"):
                k = blob.count(b"\0") // 2
                r = lib.ua_h1_respond(c.c, 200, blob, len(blob), k, 0, ffi.NULL, 0, c.out, 8192)
                assert r == -22, (n, at, blob)
        for good in (name, b"X-" + b"Ab-9" * n):
            assert c.respond(200, [(good, b"v")], body_len=0) == (
                b"HTTP/1.1 200 OK\r\n" + good + b": v\r\ncontent-length: 0\r\n\r\n"
            )
            assert c.done() == 0
            c.feed(GET)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"Content-Length", b"5"),
        (b"CONTENT-LENGTH", b"5"),
        (b"Transfer-Encoding", b"chunked"),
        (b"TRANSFER-ENCODING", b"chunked"),
        (b"Connection", b"close"),
        (b"DATE", b"x"),
        (b"Server", b"x"),
    ],
)
def test_framing_names_are_known_in_any_case(name: bytes, value: bytes) -> None:
    c = Conn()
    c.feed(GET)
    head = c.respond(200, [(name, value)], body_len=3)
    assert isinstance(head, bytes)
    lower = name.lower()
    assert b"content-length: 3" not in head or lower != b"content-length"
    if lower == b"content-length":
        assert c.c.resp_length == 5
    if lower == b"transfer-encoding":
        assert b"content-length" not in head
    if lower == b"connection":
        assert c.done() == 1
    if lower == b"date":
        assert head.count(b"date:") + head.count(b"DATE:") == 1
    if lower == b"server":
        assert b"server: uringasgi" not in head


@pytest.mark.parametrize(
    "name", [b"content-lengtx", b"transfer-encodin_", b"connectio^", b"dat^", b"serve_", b"Content_Length"]
)
def test_names_one_byte_off_the_framing_names_are_plain_headers(name: bytes) -> None:
    """'^' and '_' OR 0x20 are '~' and DEL: not letters, so no near miss matches a framing name."""
    c = Conn()
    c.feed(GET)
    head = c.respond(200, [(name, b"close")], body_len=3)
    assert isinstance(head, bytes)
    assert b"content-length: 3\r\n" in head
    assert name + b": close\r\n" in head
    assert c.done() == 0


def test_value_with_tab_and_obs_text_is_allowed() -> None:
    c = Conn(flags=0)
    c.feed(GET)
    assert c.respond(200, [(b"x-a", b"a\tb \xc3\xa9"), (b"x-b", b"\t\tc\t")], body_len=0) == (
        b"HTTP/1.1 200 OK\r\nx-a: a\tb \xc3\xa9\r\nx-b: \t\tc\t\r\ncontent-length: 0\r\n\r\n"
    )


def test_no_space_is_enospc() -> None:
    c = Conn()
    c.feed(GET)
    for cap in range(0, 40):
        assert lib.ua_h1_respond(c.c, 200, ffi.NULL, 0, 0, 0, ffi.NULL, 0, c.out, cap) == -28
    assert isinstance(c.respond(200, body_len=0), bytes)


def test_app_headers_without_room_are_enospc_at_every_size() -> None:
    blob = b"content-type\0text/plain\0x-a\0" + b"v" * 20 + b"\0"
    c = Conn(flags=0)
    c.feed(GET)
    whole = c.respond(200, [(b"content-type", b"text/plain"), (b"x-a", b"v" * 20)], body_len=0)
    assert isinstance(whole, bytes)
    assert c.done() == 0
    c.feed(GET)
    for cap in range(len(whole)):
        assert lib.ua_h1_respond(c.c, 200, blob, len(blob), 2, 0, ffi.NULL, 0, c.out, cap) == -28, cap
    assert lib.ua_h1_respond(c.c, 200, blob, len(blob), 2, 0, ffi.NULL, 0, c.out, len(whole)) == len(whole)
    assert bytes(ffi.buffer(c.out, len(whole))) == whole


def test_bad_status_and_out_of_turn_are_einval() -> None:
    c = Conn(flags=0)
    assert c.respond(200) == -22, "no request yet"
    c.feed(GET)
    assert c.respond(99) == -22
    assert c.respond(1000) == -22
    assert c.respond(101) == -22, "101 only when the request asked to upgrade"


def test_upgrade_hands_the_connection_over() -> None:
    c = Conn(flags=0)
    ev = c.feed(
        b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85frame"
    )
    assert names(ev) == ["head", "end", "paused"]
    resp = c.respond(101, [(b"upgrade", b"websocket"), (b"connection", b"Upgrade")])
    assert resp == b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n"
    assert names(c.feed()) == ["upgraded"]
    assert bytes(c.pending) == b"\x81\x85frame", "the new protocol's bytes are left for its owner"


def test_upgrade_refused_keeps_http() -> None:
    c = Conn(flags=0)
    c.feed(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
    assert isinstance(c.respond(400, body_len=0), bytes)
    assert c.done() == 0
    assert names(c.feed(GET)) == ["head", "end", "paused"]


def test_expect_continue_only_when_the_app_asks() -> None:
    c = Conn(flags=0)
    ev = c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert names(ev) == ["head", "more"]
    assert lib.ua_h1_want_continue(c.c) == 1
    assert lib.ua_h1_want_continue(c.c) == 0, "sent once"
    out = ffi.new("char[]", 32)
    n = lib.ua_h1_continue_line(out, 32)
    assert ffi.buffer(out, n)[:] == b"HTTP/1.1 100 Continue\r\n\r\n" and n == lib.UA_H1_CONTINUE_LEN
    assert lib.ua_h1_continue_line(out, 10) == -28
    assert names(c.feed(b"abc")) == ["body", "end", "paused"]
    assert isinstance(c.respond(200, body_len=0), bytes)
    assert c.done() == 0


def test_expect_continue_answered_without_reading_closes() -> None:
    c = Conn(flags=0)
    c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
    assert (
        c.respond(413, body_len=0)
        == b"HTTP/1.1 413 Content Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )
    assert lib.ua_h1_want_continue(c.c) == 0, "no 100 after a final response"
    assert c.done() == 1


def test_no_continue_without_expect() -> None:
    c = Conn(flags=0)
    c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n")
    assert lib.ua_h1_want_continue(c.c) == 0


def test_response_before_body_end_then_body_is_drained() -> None:
    c = Conn(flags=0)
    assert names(c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc")) == [
        "head",
        "body",
        "more",
    ]
    assert isinstance(c.respond(200, body_len=0), bytes)
    assert c.done() == 0
    assert names(c.feed(b"def" + GET)) == ["body", "end", "head", "end", "paused"]


def test_error_response_and_close() -> None:
    c = Conn(flags=0)
    assert c.feed(b"GET / HTTP/2.0\r\n\r\n") == [("error", 505)]
    assert c.feed(b"more") == [("error", 505)], "an error is final"
    n = lib.ua_h1_respond_error(c.c, 0, c.out, 8192)
    body = b"HTTP Version Not Supported"
    assert ffi.buffer(c.out, n)[:] == (
        b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
    )
    assert lib.ua_h1_respond_error(c.c, 0, c.out, 8192) == -22, "one response"
    assert c.done() == 1


def test_error_response_for_head_has_no_body() -> None:
    c = Conn(flags=0)
    c.feed(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    n = lib.ua_h1_respond_error(c.c, 500, c.out, 8192)
    assert ffi.buffer(c.out, n)[:].endswith(b"\r\n\r\n")


def test_body_limit_is_413_before_the_head_event() -> None:
    c = Conn(limits=h1drive.Limits(max_body=10))
    assert c.feed(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n") == [("error", 413)]


def test_conn_is_fixed_size_with_the_header_table_inside() -> None:
    assert ffi.sizeof("struct ua_h1_conn") < 1024
    end_of_table = ffi.offsetof("struct ua_head", "headers") + 64 * ffi.sizeof("struct ua_header")
    assert end_of_table <= ffi.sizeof("struct ua_head") < end_of_table + 8
