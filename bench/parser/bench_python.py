"""Python-level parser benchmark: request bytes in, what an ASGI scope needs out.

Out means: method (str), raw path (bytes), query string (bytes) and the header list [(lowercase name, value)],
the same for every contender (checked before timing). Each contender's timed call returns what it makes:
uringasgi the whole scope dict (those four fields are in it; reading them back out is the app's work, under
any server, and is done only for the check), the others a tuple of the four. Contenders:
  uringasgi  what the server runs: the C parser, then the scope built in C (protocol/asgi.c head())
  httptools  llhttp with callbacks, as uvicorn drives it (on_url, on_header lowercasing, parse_url)
  httparse   the Rust httparse binding
  h11        pure Python
Each number is the best of interleaved rounds, in microseconds per request. Run through run.sh.
"""

from __future__ import annotations

import pathlib
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import h11
import httparse
import httptools

from uringasgi import _core
from uringasgi.protocol import asgi

assert asgi.Dispatcher  # importing asgi publishes _core.asgi

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
    """What the server runs: the C parser, then the scope built by CPython C-API code (protocol/asgi.c).

    `head()` is the sans-IO face of the server's per-batch scope builder: it copies the bytes, parses them
    and builds the whole ASGI scope (strictly more than the other contenders: client, server, state, path
    decoding), from which the four fields compared here are read.
    """

    def __init__(self) -> None:
        self.ctx = _core.asgi.context([("127.0.0.1", 8000)], "http", "", b"", {}, {}, {"version": "3.0"})
        self.head = _core.asgi.head

    def parse(self, data: bytes) -> Any:
        return self.head(self.ctx, data)

    @staticmethod
    def fields(scope: Any) -> Parsed:
        return scope["method"], scope["raw_path"], scope["query_string"], scope["headers"]


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


def fields(c: Any, out: Any) -> Parsed:
    """What a contender's parse gave, as the four fields compared (outside the timing)."""
    return c.fields(out) if hasattr(c, "fields") else out


def best_us(fn: Callable[[bytes], Any], data: bytes, number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(data)
    return (time.perf_counter() - t0) / number * 1e6


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    contenders = {"uringasgi": Ours(), "httptools": Httptools(), "httparse": Httparse(), "h11": H11()}
    print("request\tbytes\theaders\tparser\tus")
    for name, data in requests().items():
        ours = contenders["uringasgi"]
        want = fields(ours, ours.parse(data))
        for who, c in contenders.items():
            got = fields(c, c.parse(data))
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
