"""The vector levels' straight-through code (the request-line by method word, every line end found in
64-byte bitmaps of the stop bytes) against the scalar level, which has none: every case whole and fed byte
by byte."""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator
from typing import Any

import pytest
from test_parser import available_levels, full_outcome
from uringasgi._core import ffi, lib

METHODS = {
    b"GET": lib.UA_M_GET,
    b"HEAD": lib.UA_M_HEAD,
    b"POST": lib.UA_M_POST,
    b"PUT": lib.UA_M_PUT,
    b"DELETE": lib.UA_M_DELETE,
    b"OPTIONS": lib.UA_M_OPTIONS,
    b"PATCH": lib.UA_M_PATCH,
    b"TRACE": lib.UA_M_TRACE,
    b"PROPFIND": lib.UA_M_OTHER,
    # one byte off a method word: still tokens, so valid requests of another method
    b"GETS": lib.UA_M_OTHER,
    b"POSTS": lib.UA_M_OTHER,
    b"PUTX": lib.UA_M_OTHER,
    b"HEADER": lib.UA_M_OTHER,
    b"DELETES": lib.UA_M_OTHER,
    b"PATCHY": lib.UA_M_OTHER,
    b"OPTIONSX": lib.UA_M_OTHER,
    b"get": lib.UA_M_OTHER,
}


@pytest.fixture
def levels() -> Iterator[list[int]]:
    before = lib.ua_simd_get()
    found = available_levels()
    assert lib.UA_SIMD_SCALAR in found
    yield found
    assert lib.ua_simd_set(before) == 0


def byte_by_byte(data: bytes) -> tuple[Any, ...]:
    """Feed one more byte per call into the same buffer; the outcome as full_outcome() gives it."""
    h = ffi.new("struct ua_head *")
    lim = ffi.new("struct ua_parse_limits *")
    lib.ua_parse_reset(h)
    buf = ffi.new("uint8_t[]", max(len(data), 1))
    r = 0
    for n in range(1, len(data) + 1):
        buf[n - 1] = data[n - 1]
        r = lib.ua_parse_request(h, buf, n, lim)
        if r != 0:
            break
    assert r != 0, "a complete head (or an error) by its last byte"
    if r < 0:
        return (r, h.error)
    whole = full_outcome(data)
    got = bytes(ffi.buffer(buf, len(data)))
    assert got == whole[-1], "names lowercased alike"
    return whole if r == whole[0] else (r,)


def two_pieces(data: bytes, cut: int) -> tuple[Any, ...]:
    """The first `cut` bytes, then the rest, in one buffer: the fast path runs on a prefix (when it is 16
    bytes or more) and stops at a line's first byte, and the general code goes on from there. Everything
    a parse leaves, after a failure too: status, error, the resume state, the spans, the buffer's bytes."""
    h = ffi.new("struct ua_head *")
    lim = ffi.new("struct ua_parse_limits *")
    lib.ua_parse_reset(h)
    buf = ffi.new("uint8_t[]", data)
    r = lib.ua_parse_request(h, buf, cut, lim)
    if r == 0:
        r = lib.ua_parse_request(h, buf, len(data), lim)
    spans = tuple((s.off, s.len) for s in (h.method, h.target, h.path, h.query))
    heads = tuple((x.name_off, x.name_len, x.value_off, x.value_len) for x in h.headers[0 : h.n_headers])
    state = (h.error, h.pos, h.scan, h.sub, h.phase, h.n_headers, h.flags, h.content_length, h.known_more)
    return (r, state, spans, heads, tuple(h.known), bytes(buf))


def check_all_levels(data: bytes, levels: list[int], splits: bool = True) -> tuple[Any, ...]:
    results, split = [], []
    for lv in levels:
        lib.ua_simd_set(lv)
        whole = full_outcome(data)
        assert byte_by_byte(data) == whole, (lv, data)
        results.append(whole)
        # from 16 bytes: a shorter prefix never reaches the fast path, and byte_by_byte covers it
        split.append([two_pieces(data, cut) for cut in range(16, len(data) + 1)] if splits else [])
    assert all(x == results[0] for x in results), data
    for lv, cuts in zip(levels, split, strict=True):
        for cut, (got, want) in enumerate(zip(cuts, split[0], strict=True), 16):
            assert got == want, (lv, cut, data)
    return results[0]


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_word_whole_and_byte_by_byte(method: bytes, levels: list[int]) -> None:
    for target in (b"/", b"/a?b=c", b"/" + b"p" * 40 + b"?q=" + b"v" * 30, b"/x?"):
        for version, minor in ((b"HTTP/1.1", 1), (b"HTTP/1.0", 0)):
            req = method + b" " + target + b" " + version + b"\r\nHost: h\r\n\r\n"
            out = check_all_levels(req, levels)
            assert out[0] == len(req), (req, out)
            (m, t, path, query) = out[1]
            assert (m, t) == (method, target)
            assert path + (b"?" + query if b"?" in target else b"") == target
            assert out[3][0] == METHODS[method] and out[3][1] == minor


@pytest.mark.parametrize(
    "line",
    [
        b"GET  / HTTP/1.1",
        b"GET /\x7f HTTP/1.1",
        b"GET / HTTP/1.2",
        b"GET / HTTP/1.1 ",
        b"POST x HTTP/1.1",
        b"OPTIONS * HTTP/1.1",
        b"CONNECT h:443 HTTP/1.1",
        b"GET http://h/x?y HTTP/1.1",
        b"DELETE / HTTP/2.0",
        b"PATCH /\x00 HTTP/1.1",
    ],
)
def test_request_lines_off_the_method_words_agree(line: bytes, levels: list[int]) -> None:
    check_all_levels(line + b"\r\nHost: h\r\n\r\n", levels)


def test_line_ends_at_every_offset_around_the_64_byte_blocks(levels: list[int]) -> None:
    # CR as the last byte of a block, LF as the first byte of the next one, names of 15..17 bytes,
    # lines that end right at the end of the buffer: each shift moves every line end by one byte.
    for shift in range(70):
        for name in (b"X-A", b"Accept-Encoding", b"Content-Encoding", b"If-Modified-Since"):
            lines = [b"GET /" + b"a" * shift + b" HTTP/1.1", b"Host: h"]
            lines += [name + b": " + b"v" * (i * 7 % 23) for i in range(9)]
            lines.append(b"Te: x ")
            req = b"\r\n".join(lines) + b"\r\n\r\n"
            out = check_all_levels(req, levels)
            assert out[0] == len(req), (shift, name)


def test_spoiled_bytes_in_every_position_agree(levels: list[int]) -> None:
    base = (
        b"PUT /up?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
        b"User-Agent: t/1\r\nAccept: */*\r\nX-Some-Long-Header-Name: " + b"w" * 40 + b"\r\n\r\n"
    )
    rng = random.Random(7)
    for pos in range(len(base)):
        raw = bytearray(base)
        raw[pos] = rng.choice(b"\x00\x01\t\x0b\x7f\x80 \r\n:@")
        check_all_levels(bytes(raw), levels)


def test_host_values_around_the_vector_width(levels: list[int]) -> None:
    """The Host check takes a value of up to 16 bytes as one vector and longer ones 16 bytes at a time: a
    forbidden byte at every place of values 1 to 40 bytes long is a 400 on every level, whole and byte by
    byte, whether the value ends the head or another line follows it; without one, each is accepted."""
    for n in range(1, 41):
        for tail in (b"", b"X-After: 1\r\n"):
            good = b"GET / HTTP/1.1\r\nHost: " + b"h" * n + b"\r\n" + tail + b"\r\n"
            assert check_all_levels(good, levels)[0] == len(good), n
            for k in range(n):
                for bad in b"@/ ?#\\":
                    if bad == 0x20 and k in (0, n - 1):
                        continue  # a space at either end is whitespace around the value, not in it
                    value = b"h" * k + bytes([bad]) + b"h" * (n - k - 1)
                    req = b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n" + tail + b"\r\n"
                    outcome = check_all_levels(req, levels)
                    assert outcome == (-errno.EBADMSG, lib.UA_PE_HOST), (n, k, bad, tail)


def test_targets_of_every_length_with_a_forbidden_byte_anywhere(levels: list[int]) -> None:
    """The request-line's end is the head's first stop byte (CTL, DEL, 0x80..0xff), so the fast path checks
    a target only for SP and '#': a target inside the head's first 16 bytes by the vector loaded already, one
    inside 16 from its start by one more, a longer one in pieces. Every forbidden byte at every place of
    targets 1 to 40 bytes long, and '?' there, gives what the scalar level gives, whole and byte by byte."""
    for n in range(1, 41):
        for method in (b"GET", b"OPTIONS"):
            good = method + b" /" + b"t" * (n - 1) + b" HTTP/1.1\r\nHost: h\r\n\r\n"
            assert check_all_levels(good, levels)[0] == len(good), (method, n)
            for k in range(1, n):
                for byte in b" #?\x00\t\x7f\x80\xff\r":
                    target = b"/" + b"t" * (k - 1) + bytes([byte]) + b"t" * (n - k - 1)
                    req = method + b" " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
                    # 28,000 heads: split in two only by the other tests, or this one alone takes minutes
                    out = check_all_levels(req, levels, splits=False)
                    if byte == ord("?"):
                        assert out[0] == len(req) and out[1][3] == target[k + 1 :], (n, k)
                    else:
                        assert out[0] < 0, (n, k, byte)


@pytest.mark.parametrize(
    ("name", "is_host"),
    [(b"Host", True), (b"HOST", True), (b"hoSt", True), (b"Hist", False), (b"Hosx", False), (b"H0st", False)],
)
def test_host_is_told_by_its_four_bytes_in_any_case(name: bytes, is_host: bool, levels: list[int]) -> None:
    req = b"GET / HTTP/1.1\r\n" + name + b": h\r\n\r\n"
    out = check_all_levels(req, levels)
    if is_host:
        assert out[0] == len(req) and out[5][lib.UA_HK_HOST] == 0, out
    else:
        assert out == (-errno.EBADMSG, lib.UA_PE_HOST), out


@pytest.mark.parametrize(
    "lines",
    [
        b"Host: h",
        b"host:h",
        b"HOST:  h",
        b"Host: h \r\nX-A: 1",
        b"Host:",
        b"Host: a b",
        b"Host: h\r\nHost: h",
        b"Host: h\r\nX-A: 1\r\nhost: g",
        b"Host: h\x80",
        b"Host:\th",
        b"Hostx: h\r\nHost: h",
        b"Host : h",
    ],
)
def test_host_as_the_first_field_line_agrees(lines: bytes, levels: list[int]) -> None:
    """Host first, as user agents send it, is read before the loop over the other lines: every shape of it
    (OWS, case, empty, a forbidden byte, a second Host later, near-misses) gives what the scalar level gives,
    whole and byte by byte, and a second Host is still refused."""
    req = b"GET / HTTP/1.1\r\n" + lines + b"\r\n\r\n"
    out = check_all_levels(req, levels)
    if lines.lower().count(b"host:") > 1:
        assert out == (-errno.EBADMSG, lib.UA_PE_HOST), out
