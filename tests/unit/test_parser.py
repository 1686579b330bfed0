"""The C parser's own API: request and response heads, resumption, SIMD paths, chunked decoder, trailers."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from uringasgi._core import ffi, lib

LEVELS = {"scalar": lib.UA_SIMD_SCALAR, "sse42": lib.UA_SIMD_SSE42, "avx2": lib.UA_SIMD_AVX2}


@pytest.fixture
def restore_simd() -> Iterator[None]:
    before = lib.ua_simd_get()
    yield
    assert lib.ua_simd_set(before) == 0


def parse(data: bytes, response: bool = False, **limits: int) -> tuple[int, Any, bytearray]:
    """Parse from an exact-size copy; returns (result, head, the buffer as the parser left it)."""
    h = ffi.new("struct ua_head *")
    lim = ffi.new("struct ua_parse_limits *", limits)
    lib.ua_parse_reset(h)
    buf = ffi.new("uint8_t[]", len(data))
    ffi.memmove(buf, data, len(data))
    fn = lib.ua_parse_response if response else lib.ua_parse_request
    r = fn(h, buf, len(data), lim)
    return r, h, bytearray(ffi.buffer(buf, len(data)))


def text(buf: bytearray, s: Any) -> bytes:
    return bytes(buf[s.off : s.off + s.len])


def headers(buf: bytearray, h: Any) -> list[tuple[bytes, bytes]]:
    return [
        (
            bytes(buf[x.name_off : x.name_off + x.name_len]),
            bytes(buf[x.value_off : x.value_off + x.value_len]),
        )
        for x in h.headers[0 : h.n_headers]
    ]


def outcome(data: bytes, **limits: int) -> tuple[Any, ...]:
    r, h, buf = parse(data, **limits)
    if r <= 0:
        return (r, h.error)
    return (r, text(buf, h.method), text(buf, h.target), h.flags, h.content_length, tuple(headers(buf, h)))


def test_request_head_spans_and_facts() -> None:
    req = b"POST /p/q?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Up: ABC\r\n\r\nxyz"
    r, h, buf = parse(req)
    assert r == len(req) - 3 == h.head_len
    assert text(buf, h.method) == b"POST" and h.method_id == lib.UA_M_POST
    assert (text(buf, h.path), text(buf, h.query)) == (b"/p/q", b"a=1")
    assert h.minor == 1 and h.content_length == 3
    assert h.flags == lib.UA_F_KEEP_ALIVE | lib.UA_F_HAS_BODY
    assert headers(buf, h) == [(b"host", b"h"), (b"content-length", b"3"), (b"x-up", b"ABC")]
    assert bytes(buf[: h.head_len]).count(b"content-length") == 1, "lowercased in the caller's buffer"
    assert h.known[lib.UA_HK_HOST] == 0 and h.known[lib.UA_HK_CONTENT_LENGTH] == 1
    assert h.known[lib.UA_HK_COOKIE] == lib.UA_HK_ABSENT


KNOWN = {
    "host": lib.UA_HK_HOST,
    "content-length": lib.UA_HK_CONTENT_LENGTH,
    "transfer-encoding": lib.UA_HK_TRANSFER_ENCODING,
    "connection": lib.UA_HK_CONNECTION,
    "expect": lib.UA_HK_EXPECT,
    "upgrade": lib.UA_HK_UPGRADE,
    "content-type": lib.UA_HK_CONTENT_TYPE,
    "accept": lib.UA_HK_ACCEPT,
    "accept-encoding": lib.UA_HK_ACCEPT_ENCODING,
    "user-agent": lib.UA_HK_USER_AGENT,
    "cookie": lib.UA_HK_COOKIE,
    "authorization": lib.UA_HK_AUTHORIZATION,
    "range": lib.UA_HK_RANGE,
    "if-range": lib.UA_HK_IF_RANGE,
    "if-none-match": lib.UA_HK_IF_NONE_MATCH,
    "if-modified-since": lib.UA_HK_IF_MODIFIED_SINCE,
    "if-match": lib.UA_HK_IF_MATCH,
    "if-unmodified-since": lib.UA_HK_IF_UNMODIFIED_SINCE,
    "origin": lib.UA_HK_ORIGIN,
    "x-forwarded-for": lib.UA_HK_X_FORWARDED_FOR,
    "x-forwarded-proto": lib.UA_HK_X_FORWARDED_PROTO,
    "forwarded": lib.UA_HK_FORWARDED,
    "sec-websocket-key": lib.UA_HK_SEC_WEBSOCKET_KEY,
    "sec-websocket-version": lib.UA_HK_SEC_WEBSOCKET_VERSION,
    "sec-websocket-protocol": lib.UA_HK_SEC_WEBSOCKET_PROTOCOL,
    "sec-websocket-extensions": lib.UA_HK_SEC_WEBSOCKET_EXTENSIONS,
    "accept-language": lib.UA_HK_ACCEPT_LANGUAGE,
    "cache-control": lib.UA_HK_CACHE_CONTROL,
    "referer": lib.UA_HK_REFERER,
    "x-real-ip": lib.UA_HK_X_REAL_IP,
    "keep-alive": lib.UA_HK_KEEP_ALIVE,
    "te": lib.UA_HK_TE,
    "trailer": lib.UA_HK_TRAILER,
    "content-encoding": lib.UA_HK_CONTENT_ENCODING,
}


def test_known_header_index_covers_every_name_case_insensitively() -> None:
    assert len(set(KNOWN.values())) == lib.UA_HK_COUNT == len(KNOWN)
    # a decoy of each length first, so a slot is only right if the exact name matched
    lines = [b"X-Decoy: 1"]
    for name in KNOWN:
        if name in ("host", "content-length", "transfer-encoding", "connection", "upgrade", "expect"):
            continue
        lines.append(name.upper().encode() + b": v")
    req = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
    r, h, buf = parse(req)
    assert r == len(req), h.error
    names = [n for n, _ in headers(buf, h)]
    for name, idx in KNOWN.items():
        if name in ("content-length", "transfer-encoding", "connection", "upgrade", "expect"):
            assert h.known[idx] == lib.UA_HK_ABSENT
            continue
        assert names[h.known[idx]] == name.encode(), name
    r, h, buf = parse(b"GET / HTTP/1.1\r\nHost: h\r\nHosts: x\r\nHos: y\r\n\r\n")
    assert r > 0 and h.known[lib.UA_HK_HOST] == 0 and h.n_headers == 3


def test_known_more_says_which_known_headers_came_on_several_lines(restore_simd: None) -> None:
    req = (
        b'GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "a"\r\nAccept: */*\r\n'
        b'if-none-match: "b"\r\nX-Other: 1\r\nX-Other: 2\r\nACCEPT-ENCODING: br\r\n\r\n'
    )
    for lv in available_levels():
        lib.ua_simd_set(lv)
        r, h, _ = parse(req)
        assert r == len(req), h.error
        assert h.known_more == 1 << lib.UA_HK_IF_NONE_MATCH, lv
        assert h.known[lib.UA_HK_IF_NONE_MATCH] == 1  # still the first line's slot
        r, h, _ = parse(b"GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\n\r\n")
        assert r > 0 and h.known_more == 0


def test_incremental_parse_resumes_without_rescanning_accepted_lines() -> None:
    req = b"GET / HTTP/1.1\r\nHost: h\r\nX-Long: " + b"v" * 50 + b"\r\n\r\n"
    h = ffi.new("struct ua_head *")
    lim = ffi.new("struct ua_parse_limits *")
    lib.ua_parse_reset(h)
    buf = ffi.new("uint8_t[]", req)
    cut = req.index(b"X-Long") + 3
    assert lib.ua_parse_request(h, buf, cut, lim) == 0
    assert h.n_headers == 1 and h.pos == req.index(b"X-Long")
    # Spoil an accepted byte: a parser that re-scanned the accepted lines would now fail or see it.
    buf[0] = ord("(")
    r = lib.ua_parse_request(h, buf, len(req), lim)
    assert r == len(req) and h.n_headers == 2
    assert h.method_id == lib.UA_M_GET


def test_need_more_for_every_prefix() -> None:
    req = b"GET /x HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n"
    for cut in range(len(req)):
        r, h, _ = parse(req[:cut])
        assert r == 0 and h.error == 0, cut
    assert parse(req)[0] == len(req)


def test_leading_crlf_are_skipped_and_offsets_stay_in_the_buffer() -> None:
    r, h, buf = parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert r > 0 and h.method.off == 4 and text(buf, h.method) == b"GET"


def test_connect_parses_with_its_authority_and_no_path() -> None:
    """The parser reads CONNECT's authority-form (RFC 9112 3.2.3); refusing it is h1's policy (501)."""
    r, h, buf = parse(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
    assert r > 0 and h.method_id == lib.UA_M_CONNECT
    assert (text(buf, h.target), h.path.len) == (b"example.com:443", 0)


def test_a_later_minor_version_is_read_as_1_1() -> None:
    for version in (b"1.2", b"1.9"):
        r, h, _ = parse(b"GET / HTTP/" + version + b"\r\nHost: h\r\n\r\n")
        assert r > 0 and h.minor == 1


def test_error_codes_map_to_statuses_and_names() -> None:
    expected = {
        lib.UA_PE_TARGET_TOO_LONG: 414,
        lib.UA_PE_VERSION_UNSUPPORTED: 505,
        lib.UA_PE_HEAD_TOO_LARGE: 431,
        lib.UA_PE_TOO_MANY_HEADERS: 431,
        lib.UA_PE_TE_UNSUPPORTED: 501,
        lib.UA_PE_BODY_TOO_LARGE: 413,
        lib.UA_PE_STATUS: 502,
        lib.UA_PE_CONNECT: 501,
    }
    names = set()
    for code in range(1, lib.UA_PE_COUNT):
        assert lib.ua_parse_status(code) == expected.get(code, 400), code
        names.add(ffi.string(lib.ua_parse_error_name(code)))
    assert len(names) == lib.UA_PE_COUNT - 1, "each error has its own name"
    assert lib.ua_parse_status(lib.UA_PE_COUNT) == -22


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\nA : b\r\n\r\n", "UA_PE_WS_BEFORE_COLON"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: b\r\n c\r\n\r\n", "UA_PE_OBS_FOLD"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: b\nB: c\r\n\r\n", "UA_PE_LINE_END"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: \x00\r\n\r\n", "UA_PE_NUL"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA: \x7f\r\n\r\n", "UA_PE_CTL"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nA@: b\r\n\r\n", "UA_PE_HEADER_NAME"),
        (b"G@T / HTTP/1.1\r\n\r\n", "UA_PE_METHOD"),
        (b"GET x HTTP/1.1\r\n\r\n", "UA_PE_TARGET"),
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\nHost: h\r\n\r\n", "UA_PE_CL_CONFLICT"),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\nHost: h\r\n\r\n", "UA_PE_CL_INVALID"),
        (
            b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n\r\n",
            "UA_PE_CL_AND_TE",
        ),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nHost: h\r\n\r\n", "UA_PE_TE_UNSUPPORTED"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nHost: h\r\n\r\n", "UA_PE_TE_INVALID"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\nHost: h\r\n\r\n", "UA_PE_TE_INVALID"),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\nHost: h\r\n\r\n", "UA_PE_TE_INVALID"),
        (b"GET / HTTP/1.1\r\n\r\n", "UA_PE_HOST"),
        (b"GET / HTTP/1.1x\r\n\r\n", "UA_PE_LINE_END"),
        (b"GET / HTTP/2.0\r\n\r\n", "UA_PE_VERSION_UNSUPPORTED"),
        (b"GET / HTTQ/1.1\r\n\r\n", "UA_PE_VERSION"),
    ],
)
def test_distinct_error_codes(data: bytes, error: str) -> None:
    r, h, _ = parse(data)
    assert r == -74 and h.error == getattr(lib, error)  # -EBADMSG
    again = ffi.new("uint8_t[]", data)
    assert lib.ua_parse_request(h, again, len(data), ffi.new("struct ua_parse_limits *")) == -74, "sticky"


def test_limits() -> None:
    req = b"GET /abcdef HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n"
    assert parse(req, max_target=7)[0] > 0
    r, h, _ = parse(req, max_target=6)
    assert r == -74 and lib.ua_parse_status(h.error) == 414
    assert parse(req, max_head=len(req))[0] == len(req)
    r, h, _ = parse(req, max_head=len(req) - 1)
    assert r == -74 and lib.ua_parse_status(h.error) == 431
    assert parse(req, max_headers=2)[0] > 0
    r, h, _ = parse(req, max_headers=1)
    assert r == -74 and h.error == lib.UA_PE_TOO_MANY_HEADERS


def test_response_head() -> None:
    resp = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nX-A: b\r\n\r\nnot found"
    r, h, buf = parse(resp, response=True)
    assert r == len(resp) - 9
    assert h.status == 404 and text(buf, h.reason) == b"Not Found" and h.minor == 1
    assert h.content_length == 9 and h.flags & lib.UA_F_HAS_BODY and h.flags & lib.UA_F_KEEP_ALIVE
    r, h, buf = parse(b"HTTP/1.0 200\r\n\r\n", response=True)
    assert r > 0 and h.status == 200 and h.reason.len == 0 and h.minor == 0
    assert h.flags & lib.UA_F_HAS_BODY and not h.flags & lib.UA_F_KEEP_ALIVE, "read to close"
    r, h, _ = parse(b"HTTP/1.1 204 No Content\r\n\r\n", response=True)
    assert r > 0 and not h.flags & lib.UA_F_HAS_BODY
    r, h, _ = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", response=True)
    assert r > 0 and h.flags & lib.UA_F_CHUNKED, "responses are told the framing, not refused"
    r, h, _ = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", response=True)
    assert r > 0 and not h.flags & lib.UA_F_CHUNKED and h.flags & lib.UA_F_HAS_BODY
    for bad, err in [
        (b"HTTP/1.1 20 OK\r\n\r\n", lib.UA_PE_STATUS),
        (b"HTTP/1.1 abc OK\r\n\r\n", lib.UA_PE_STATUS),
        (b"HTTP/2.0 200 OK\r\n\r\n", lib.UA_PE_VERSION),
        (b"HTTP/1.1 200 O\x01K\r\n\r\n", lib.UA_PE_LINE_END),
        (b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n", lib.UA_PE_WS_BEFORE_COLON),
    ]:
        r, h, _ = parse(bad, response=True)
        assert (r, h.error) == (-74, err), bad
    for cut in range(1, len(resp) - 9):
        assert parse(resp[:cut], response=True)[0] == 0, cut


def test_simd_environment_variable_forces_each_path() -> None:
    code = "from uringasgi._core import lib; print(lib.ua_simd_get())"
    seen = {}
    for name, level in LEVELS.items():
        env = dict(os.environ, UA_SIMD=name)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        seen[name] = int(out.stdout)
        if lib.ua_simd_set(level) == 0:  # the CPU has it: the variable must have picked it
            assert seen[name] == level
    assert seen["scalar"] == lib.UA_SIMD_SCALAR


def test_simd_set_rejects_unknown_levels(restore_simd: None) -> None:
    assert lib.ua_simd_set(7) == -95  # -ENOTSUP
    assert lib.ua_simd_set(-1) == -95


def random_request(rng: random.Random) -> bytes:
    """Heads whose fields straddle the 16- and 32-byte vector boundaries, with sometimes one bad byte."""
    tchars = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    target = b"/" + bytes(rng.choice(b"abcXYZ/%-._~?=&") for _ in range(rng.randrange(0, 80)))
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: h"]
    for _ in range(rng.randrange(0, 6)):
        name = bytes(rng.choice(tchars) for _ in range(rng.randrange(1, 70)))
        value = bytes(rng.choice(b'abc XYZ\t\x80\xff,;="') for _ in range(rng.randrange(0, 90)))
        lines.append(name + b": " + value.strip(b" \t"))
    raw = bytearray(b"\r\n".join(lines) + b"\r\n\r\n")
    if rng.random() < 0.5:
        raw[rng.randrange(len(raw))] = rng.choice(b"\x00\x01\x09\x0b\x1f\x7f\x80\xff \r\n:(@")
    return bytes(raw)


def available_levels() -> list[int]:
    return [lv for lv in LEVELS.values() if lib.ua_simd_set(lv) == 0]


def compare_levels(
    make: Callable[[], bytes], judge: Callable[[bytes], Any], count: int
) -> tuple[list[Any], int]:
    """Parse `count` made requests on every SIMD level this CPU has: the requests whose outcome differs
    between levels (with the outcomes), and how many parsed."""
    levels = available_levels()
    disagreements = []
    n_ok = 0
    for _ in range(count):
        req = make()
        results = []
        for lv in levels:
            lib.ua_simd_set(lv)
            results.append(judge(req))
        if any(r != results[0] for r in results):
            disagreements.append((req, results))
        n_ok += results[0][0] > 0
    return disagreements, n_ok


def test_every_simd_path_agrees_with_scalar(restore_simd: None) -> None:
    rng = random.Random(1234)
    disagreements, n_ok = compare_levels(lambda: random_request(rng), outcome, 3000)
    assert disagreements == []
    assert n_ok > 500 and 3000 - n_ok > 500, n_ok


@pytest.mark.parametrize("level", list(LEVELS))
def test_bad_byte_at_every_position_of_a_long_value(level: str, restore_simd: None) -> None:
    if lib.ua_simd_set(LEVELS[level]) != 0:
        pytest.skip(f"no {level}")
    for pos in range(70):
        value = bytearray(b"v" * 70)
        value[pos] = 0x01
        r, h, _ = parse(b"GET / HTTP/1.1\r\nHost: h\r\nX: " + bytes(value) + b"\r\n\r\n")
        assert (r, h.error) == (-74, lib.UA_PE_CTL), pos
        name = bytearray(b"N" * 70)
        name[pos] = ord("@")
        r, h, _ = parse(b"GET / HTTP/1.1\r\nHost: h\r\n" + bytes(name) + b": v\r\n\r\n")
        assert (r, h.error) == (-74, lib.UA_PE_HEADER_NAME), pos
        target = bytearray(b"t" * 70)
        target[pos] = 0x7F
        r, h, _ = parse(b"GET /" + bytes(target) + b" HTTP/1.1\r\nHost: h\r\n\r\n")
        assert (r, h.error) == (-74, lib.UA_PE_TARGET), pos


def test_long_names_are_lowercased_only_up_to_the_colon(restore_simd: None) -> None:
    for lv in LEVELS.values():
        if lib.ua_simd_set(lv) != 0:
            continue
        for n in range(1, 70):
            name = bytes(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 26] for i in range(n))
            r, h, buf = parse(b"GET / HTTP/1.1\r\nHost: h\r\n" + name + b":VALUE UPPER\r\n\r\n")
            assert r > 0
            assert headers(buf, h)[1] == (name.lower(), b"VALUE UPPER"), (lv, n)


def chunks(data: bytes, step: int, max_total: int = 0) -> tuple[int, bytes, int, int]:
    """Run the chunked decoder over data in pieces of `step`; (last result, body, consumed, error)."""
    c = ffi.new("struct ua_chunked *")
    out = ffi.new("struct ua_chunk_out *")
    lib.ua_chunked_reset(c, max_total)
    body = b""
    pos = 0
    r = lib.UA_CK_MORE
    for end in range(step, len(data) + step, step):
        end = min(end, len(data))
        while pos < end:
            piece = ffi.new("uint8_t[]", data[pos:end])
            r = lib.ua_chunked_feed(c, piece, end - pos, out)
            if r < 0:
                return r, body, pos + out.consumed, c.error
            if r == lib.UA_CK_DATA:
                body += bytes(ffi.buffer(piece, end - pos))[out.off : out.off + out.len]
            pos += out.consumed
            if r == lib.UA_CK_LAST:
                return r, body, pos, 0
            if r == lib.UA_CK_MORE:
                break
    return r, body, pos, 0


def test_chunked_decoder() -> None:
    data = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n"
    for step in (1, 2, 3, 7, len(data)):
        r, body, used, _ = chunks(data, step)
        assert (r, body) == (lib.UA_CK_LAST, b"Wikipedia in\r\n\r\nchunks."), step
        assert data[used:] == b"Trailer: x\r\n\r\n", "stops at the trailer section"
    r, _, _, err = chunks(b"5\r\nabcde\r\n", 1, max_total=4)
    assert (r, err) == (-74, lib.UA_PE_BODY_TOO_LARGE)
    r, _, _, err = chunks(b"10000000000000000\r\n", 1)
    assert (r, err) == (-74, lib.UA_PE_CHUNK_SIZE)
    r, _, _, err = chunks(b"FFFFFFFFFFFFFFF\r\n", 1)
    assert r == lib.UA_CK_MORE and err == 0, "15 hex digits fit"


def test_trailer_parser_limits() -> None:
    t = ffi.new("struct ua_trailers *")
    lim = ffi.new("struct ua_parse_limits *", {"max_headers": 2})
    lib.ua_trailers_reset(t)
    data = ffi.new("uint8_t[]", b"A: 1\r\nB: 2\r\n\r\n")
    assert lib.ua_parse_trailers(t, data, 14, lim) == 14 and t.n == 2
    lib.ua_trailers_reset(t)
    data = ffi.new("uint8_t[]", b"A: 1\r\nB: 2\r\nC: 3\r\n\r\n")
    assert lib.ua_parse_trailers(t, data, 20, lim) == -74 and t.error == lib.UA_PE_TOO_MANY_HEADERS


@pytest.mark.parametrize(
    ("cut_after", "spoil_at"),
    [
        (b"GET /abc", b"bc"),  # inside the target
        (b"GE", b"GE"),  # inside the method
        (b"Host: h\r\nX-Na", b"X-Na"),  # inside a field name
        (b"X-Name:  val", b"val"),  # inside a field value
    ],
)
def test_resume_inside_a_line_goes_on_from_where_it_stopped(cut_after: bytes, spoil_at: bytes) -> None:
    """A byte-at-a-time client costs linear work: a resumed parse never looks at accepted bytes again.
    Shown by spoiling an accepted byte between the calls: it is not noticed."""
    req = b"GET /abcdef HTTP/1.1\r\nHost: h\r\nX-Name:  value\r\n\r\n"
    h = ffi.new("struct ua_head *")
    lim = ffi.new("struct ua_parse_limits *")
    lib.ua_parse_reset(h)
    buf = ffi.new("uint8_t[]", req)
    cut = req.index(cut_after) + len(cut_after)
    assert lib.ua_parse_request(h, buf, cut, lim) == 0
    buf[req.index(spoil_at)] = 0x01
    assert lib.ua_parse_request(h, buf, len(req), lim) == len(req), h.error
    fresh = ffi.new("uint8_t[]", bytes(buf))
    lib.ua_parse_reset(h)
    assert lib.ua_parse_request(h, fresh, len(req), lim) == -74, "the spoiled byte is caught by a fresh parse"


def full_outcome(data: bytes) -> tuple[Any, ...]:
    """Everything a parse gives: spans, facts, the index and the bytes (names lowercased in place)."""
    r, h, buf = parse(data)
    if r <= 0:
        return (r, h.error)
    spans = (h.method, h.target, h.path, h.query)
    return (
        r,
        tuple(text(buf, s) for s in spans),
        tuple((s.off, s.len) for s in spans),
        (h.method_id, h.minor, h.flags, h.content_length, h.n_headers),
        tuple(headers(buf, h)),
        tuple(h.known),
        h.known_more,
        bytes(buf),
    )


def fast_path_request(rng: random.Random) -> bytes:
    """Heads around the shapes the vector levels read straight through (and just off them): methods and
    targets either side of the 32- and 64-byte windows, every known name in mixed case and near-misses of
    them, one or more OWS, short heads that end inside a vector, and sometimes one byte spoiled."""
    tchars = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    method = rng.choice(
        [b"GET", b"POST", b"get", b"OPTIONS", bytes(rng.choice(tchars) for _ in range(rng.randrange(1, 80)))]
    )
    target = rng.choice(
        [
            b"/",
            b"*",
            b"http://h/x?y",
            b"/" + bytes(rng.choice(b"abc/%-._~?=&") for _ in range(rng.randrange(0, 100))),
        ]
    )
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"HTTP/1.x"])
    lines = [method + b" " + target + b" " + version]
    names = [
        *KNOWN,
        "x-decoy",
        "hosts",
        "hos",
        "tE",
        "content-lengthx",
        "connectiom",
        "upgrade-insecure-requests",
    ]
    for _ in range(rng.randrange(0, 5)):
        name = rng.choice(names)
        name = "".join(c.upper() if rng.random() < 0.5 else c for c in name)
        value = rng.choice(
            [
                b"",
                b"keep-alive",
                b"close",
                b"chunked",
                b"0",
                b"12",
                b"h",
                b"a b",
                b"h/x",
                b"100-continue",
                bytes(rng.choice(b'abc XYZ\t\x80,;="') for _ in range(rng.randrange(0, 40))),
            ]
        )
        ows = rng.choice([b"", b" ", b" ", b"  ", b"\t", b" \t"])
        tail = rng.choice([b"", b"", b" ", b"\t "])
        lines.append(name.encode() + b":" + ows + value + tail)
    if rng.random() < 0.8:
        lines.insert(1, b"Host: " + rng.choice([b"h", b"localhost", b"api.example.com:8443", b"a@b", b"x y"]))
    raw = bytearray(b"\r\n".join(lines) + b"\r\n\r\n")
    if rng.random() < 0.3:
        raw[rng.randrange(len(raw))] = rng.choice(b"\x00\x01\x09\x0b\x7f\x80 \r\n:?")
    return bytes(raw)


def test_fast_path_agrees_with_the_general_code(restore_simd: None) -> None:
    # The scalar level has no fast path, so it is the reference for the vector levels' straight-through code.
    rng = random.Random(99)
    assert lib.UA_SIMD_SCALAR in available_levels() and len(available_levels()) > 1
    disagreements, n_ok = compare_levels(lambda: fast_path_request(rng), full_outcome, 4000)
    assert disagreements[:3] == []
    assert n_ok > 500, n_ok
