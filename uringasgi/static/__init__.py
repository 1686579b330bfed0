"""Static settings -> C mounts (static.c), and a Python way to ask a mount for a response.

The engine answers static hits in C through `StaticMount.ptr`; `StaticMount.serve()` is the same answer
for Python callers (tests, and any loop without the C engine): it returns the status, the head, and the
body bytes, having read a file body from the fd the plan named.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from uringasgi._core import ffi, lib

PASS = lib.UA_STATIC_PASS


def parse_static_spec(spec: str) -> tuple[str, str]:
    """`/assets=./public` -> ("/assets", "/abs/public"). The directory must exist."""
    prefix, sep, root = spec.partition("=")
    if not sep or not prefix.startswith("/") or not root or "?" in prefix:
        raise ValueError(f"--static {spec!r}: expected /PREFIX=DIRECTORY")
    path = os.path.abspath(root)
    if not os.path.isdir(path):
        raise ValueError(f"--static {spec!r}: {path} is not a directory")
    return prefix.rstrip("/") or "/", path


@dataclass(frozen=True)
class StaticSettings:
    """What every mount of a worker shares. Sizes in bytes, times in ms unless named otherwise."""

    index: str | None = None  # --static-index: the file a directory serves; None = directories are 404
    max_age: int | None = None  # --static-max-age: seconds of cache-control; None = no cache-control
    fallthrough: bool = False  # --static-fallthrough: a miss (or a non-GET/HEAD) goes to the app
    dotfiles: bool = False  # --static-dotfiles
    compress: bool = False  # --static-compress: brotli on the fly
    precompressed: bool = True  # send .br/.gz siblings to clients that accept them
    cache_entries: int = 512  # open-file cache entries (so also at most that many fds per mount)
    cache_bytes: int = 16 << 20  # memory for small bodies and brotli copies, per mount
    # Files up to small_max live in memory and the head and body leave in one send; larger ones go by
    # sendfile. Measured (6.18, loopback, wrk -c64, server CPU per request, memory vs sendfile): 4 KiB 11 vs
    # 21 us, 8 KiB 24 vs 22, 16 KiB 30 vs 21, 32 KiB 34 vs 21, 100 KiB 129 vs 40.
    small_max: int = 8 << 10
    valid_ms: int = 1000  # a cached file is checked against the disk at most this often
    compress_min: int = 1024
    # On the fly a file is compressed on the mount's helper thread while the worker answers identity:
    # brotli at quality 5 does about 19 MB/s here, so 1 MiB takes that thread (the second core's time)
    # about 55 ms, once per version of the file. Larger files are worth `uringasgi compress` ahead of time.
    compress_max: int = 1 << 20
    compress_quality: int = 5

    def __post_init__(self) -> None:
        if self.index is not None and (not self.index or "/" in self.index):
            raise ValueError(f"--static-index {self.index!r}: a file name, without '/'")
        if self.max_age is not None and self.max_age < 0:
            raise ValueError("--static-max-age: seconds, 0 or more")
        if not 0 <= self.compress_quality <= 11:
            raise ValueError("static compress quality: 0..11")
        if self.cache_entries < 1 or self.cache_bytes < 0 or self.small_max < 0 or self.valid_ms < 0:
            raise ValueError("static cache sizes: entries at least 1, the rest 0 or more")

    @property
    def flags(self) -> int:
        f = 0
        f |= lib.UA_STATIC_DOTFILES if self.dotfiles else 0
        f |= lib.UA_STATIC_FALLTHROUGH if self.fallthrough else 0
        f |= lib.UA_STATIC_COMPRESS if self.compress else 0
        f |= lib.UA_STATIC_PRECOMPRESSED if self.precompressed else 0
        return f


@dataclass(frozen=True)
class StaticResponse:
    status: int
    head: bytes  # status line and header lines, through the blank line
    body: bytes
    source: str  # where the body came from: "buffer" (after the head), "memory", "file" or "" (none)

    @property
    def headers(self) -> dict[str, str]:
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return {k.lower(): v for k, _, v in (ln.partition(": ") for ln in lines if ln)}


class StaticMount:
    """One directory served beneath a route prefix. `ptr` is the C mount the engine uses."""

    def __init__(self, root: str, settings: StaticSettings | None = None) -> None:
        s = settings or StaticSettings()
        self.root = root
        self.settings = s
        self._keep = [ffi.new("char[]", root.encode()), ffi.new("char[]", (s.index or "").encode())]
        cfg = ffi.new(
            "struct ua_static_config *",
            {
                "root": self._keep[0],
                "index": self._keep[1],
                "max_age": -1 if s.max_age is None else s.max_age,
                "flags": s.flags,
                "cache_entries": s.cache_entries,
                "cache_bytes": s.cache_bytes,
                "small_max": s.small_max,
                "valid_ms": s.valid_ms,
                "compress_min": s.compress_min,
                "compress_max": s.compress_max,
                "compress_quality": s.compress_quality,
            },
        )
        out = ffi.new("struct ua_static **")
        rc = lib.ua_static_new(cfg, out)
        if rc < 0:
            raise OSError(-rc, f"static mount {root}: {os.strerror(-rc)}")
        self.ptr: Any = ffi.gc(out[0], lib.ua_static_free)

    def stats(self) -> dict[str, int]:
        st = ffi.new("struct ua_static_stats *")
        lib.ua_static_stats(self.ptr, st)
        return {k: int(getattr(st, k)) for k in ("entries", "bytes", "opens", "hits", "held", "compressions")}

    def settle(self) -> None:
        """Wait until the brotli copies asked for so far are made, and take them in (see ua_static_settle)."""
        lib.ua_static_settle(self.ptr)

    def serve(
        self,
        method: bytes,
        path: bytes,
        headers: Iterable[tuple[bytes, bytes]] = (),
        *,
        prefix_len: int = 0,
        query: bytes = b"",
        keep_alive: bool = True,
        http_minor: int = 1,
        extra: bytes = b"",
        now_ms: int = 0,
        buf_size: int = 64 << 10,
    ) -> StaticResponse | None:
        """The response the engine would send, or None when the request is the app's (fallthrough)."""
        req = ffi.new("struct ua_static_req *")
        keep = [ffi.from_buffer(b) for b in (method, path, query, extra)]
        req.method, req.method_len = keep[0], len(method)
        req.path, req.path_len = keep[1], len(path)
        req.query, req.query_len = keep[2], len(query)
        req.extra, req.extra_len = keep[3], len(extra)
        req.prefix_len = prefix_len
        req.keep_alive = int(keep_alive)
        req.http_minor = http_minor
        req.now_ms = now_ms
        lines = list(headers)
        # Room for every line, so that none is refused: the later lines of a field are kept there.
        more = ffi.new("struct ua_static_line[]", len(lines))
        req.more, req.more_cap = more, len(lines)
        for name, value in lines:
            cname, cvalue = ffi.from_buffer(name.lower()), ffi.from_buffer(value)
            keep += [cname, cvalue]
            lib.ua_static_req_header(req, cname, len(name), cvalue, len(value))
        buf = ffi.new("uint8_t[]", buf_size)
        plan = ffi.new("struct ua_static_plan *")
        rc = lib.ua_static_serve(self.ptr, req, buf, buf_size, plan)
        del keep
        if rc == PASS:
            return None
        if rc < 0:
            raise OSError(-rc, os.strerror(-rc) if rc != -errno.ENOSPC else "head larger than the buffer")
        data = bytes(ffi.buffer(buf, plan.buf_len))
        head_end = data.index(b"\r\n\r\n") + 4
        head, body, source = data[:head_end], data[head_end:], "buffer" if len(data) > head_end else ""
        try:
            if plan.body != ffi.NULL:
                body, source = bytes(ffi.buffer(plan.body, plan.body_len)), "memory"
            elif plan.fd >= 0:
                body, source = _pread_all(plan.fd, plan.file_off, plan.file_len), "file"
        finally:
            lib.ua_static_release(self.ptr, plan.ref)
        return StaticResponse(plan.status, head, body, source)


def _pread_all(fd: int, offset: int, length: int) -> bytes:
    parts = []
    while length > 0:
        chunk = os.pread(fd, min(length, 1 << 20), offset)
        if not chunk:
            break  # the file shrank under us: the engine ends such a response by closing
        parts.append(chunk)
        offset += len(chunk)
        length -= len(chunk)
    return b"".join(parts)
