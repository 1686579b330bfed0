"""Python-level parser benchmark: request bytes in, what an ASGI scope needs out.

Out means: method (str), raw path (bytes), query string (bytes) and the header list [(lowercase name, value)],
the same for every contender (checked before timing). Contenders:
  uringasgi  the C parser through cffi: copy in, parse, one copy of the head bytes, spans unpacked in one call
  httptools  llhttp with callbacks, as uvicorn drives it (on_url, on_header lowercasing, parse_url)
  httparse   the Rust httparse binding
  h11        pure Python
Each number is the best of interleaved rounds, in microseconds per request. Run through run.sh.
"""

from __future__ import annotations

import pathlib
import re
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import h11
import httparse
import httptools
from uringasgi._core import ffi, lib

Parsed = tuple[str, bytes, bytes, list[tuple[bytes, bytes]]]


def requests() -> dict[str, bytes]:
    """The three requests, read from requests.h so C and Python measure the same bytes."""
    text = (pathlib.Path(__file__).parent / "requests.h").read_text()
    out = {}
    for name in ("SMALL", "MEDIUM", "LARGE"):
        m = re.search(rf"#define REQ_{name} (.*?)(?=\n#define|\Z)", text, re.S)
        assert m
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
        out[name.lower()] = "".join(parts).encode().decode("unicode_escape").encode("latin-1")
    return out


class Ours:
    def __init__(self) -> None:
        self.buf = ffi.new("uint8_t[]", 65536)
        self.mem = memoryview(ffi.buffer(self.buf))
        self.head = ffi.new("struct ua_head *")
        self.lim = ffi.new("struct ua_parse_limits *")
        # the head struct as bytes: spans and the header table come out in one unpack, no per-field calls
        self.hmem = memoryview(ffi.buffer(self.head))
        self.fixed = struct.Struct("<8H")  # method, target, path, query spans
        n_at = ffi.offsetof("struct ua_head", "n_headers")
        self.count = struct.Struct("<H")
        self.n_at = n_at
        self.h_at = ffi.offsetof("struct ua_head", "headers")
        self.tables = [struct.Struct(f"<{4 * n}H") for n in range(65)]

    def parse(self, data: bytes) -> Parsed:
        n = len(data)
        self.mem[:n] = data
        lib.ua_parse_reset(self.head)
        r = lib.ua_parse_request(self.head, self.buf, n, self.lim)
        if r <= 0:
            raise ValueError(r)
        raw = self.mem[:r].tobytes()
        m_off, m_len, _, _, p_off, p_len, q_off, q_len = self.fixed.unpack_from(self.hmem)
        nh = self.count.unpack_from(self.hmem, self.n_at)[0]
        s = self.tables[nh].unpack_from(self.hmem, self.h_at)
        headers = [
            (raw[s[i] : s[i] + s[i + 1]], raw[s[i + 2] : s[i + 2] + s[i + 3]]) for i in range(0, 4 * nh, 4)
        ]
        return (
            raw[m_off : m_off + m_len].decode(),
            raw[p_off : p_off + p_len],
            raw[q_off : q_off + q_len],
            headers,
        )


class HttptoolsProto:
    """The callbacks uvicorn's httptools protocol uses to build a scope."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))


class Httptools:
    def __init__(self) -> None:
        self.proto = HttptoolsProto()
        self.parser = httptools.HttpRequestParser(self.proto)

    def parse(self, data: bytes) -> Parsed:
        self.parser.feed_data(data)
        url = httptools.parse_url(self.proto.url)
        return self.parser.get_method().decode(), url.path, url.query or b"", self.proto.headers


class Httparse:
    def __init__(self) -> None:
        self.parser = httparse.RequestParser()

    def parse(self, data: bytes) -> Parsed:
        req = self.parser.parse(data)
        path, _, query = req.path.encode().partition(b"?")
        return req.method, path, query, [(h.name.lower().encode(), h.value) for h in req.headers]


class H11:
    def parse(self, data: bytes) -> Parsed:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        ev: Any = conn.next_event()
        path, _, query = ev.target.partition(b"?")
        return ev.method.decode(), path, query, list(ev.headers)


def best_us(fn: Callable[[bytes], Parsed], data: bytes, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(data)
    return (time.perf_counter() - t0) / number * 1e6


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    contenders = {"uringasgi": Ours(), "httptools": Httptools(), "httparse": Httparse(), "h11": H11()}
    print("request\tbytes\theaders\tparser\tus")
    for name, data in requests().items():
        want = contenders["uringasgi"].parse(data)
        for who, c in contenders.items():
            got = c.parse(data)
            assert got == want, (who, got, want)
        number = {w: max(1, int(0.02 / (best_us(c.parse, data, 50) * 1e-6))) for w, c in contenders.items()}
        best = dict.fromkeys(contenders, 1e9)
        for _ in range(rounds):  # interleaved, so a busy moment of the machine hits every contender alike
            for who, c in contenders.items():
                best[who] = min(best[who], best_us(c.parse, data, number[who]))
        for who in contenders:
            print(f"{name}\t{len(data)}\t{len(want[3])}\t{who}\t{best[who]:.2f}")


if __name__ == "__main__":
    main()
