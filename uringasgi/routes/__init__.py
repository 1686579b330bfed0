"""Python face of router.c: (Host, path prefix) -> app, static mount or proxy pool."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from uringasgi._core import ffi, lib


class RouteKind(IntEnum):
    APP = lib.UA_ROUTE_APP
    STATIC = lib.UA_ROUTE_STATIC
    PROXY = lib.UA_ROUTE_PROXY


@dataclass(frozen=True)
class Match:
    kind: RouteKind
    target: int
    prefix_len: int  # bytes of the path the prefix covers


class Router:
    """Owns one C router; `ptr` is what the engine's dispatch takes."""

    def __init__(self) -> None:
        out = ffi.new("struct ua_router **")
        _check(lib.ua_router_new(out), "router")
        self.ptr: Any = ffi.gc(out[0], lib.ua_router_free)

    def add(self, prefix: str, kind: RouteKind, target: int = 0, host: str = "") -> None:
        p = prefix.encode()
        h = host.encode("idna") if host else b""
        _check(lib.ua_router_add(self.ptr, h, len(h), p, len(p), int(kind), target), f"route {prefix!r}")

    def match(self, path: bytes, host: bytes = b"") -> Match:
        out = ffi.new("struct ua_route_match *")
        lib.ua_router_match(self.ptr, host, len(host), path, len(path), out)
        return Match(RouteKind(out.kind), out.target, out.prefix_len)


def _check(rc: int, what: str) -> int:
    if rc < 0:
        if rc == -errno.EEXIST:
            raise ValueError(f"{what}: already routed")
        if rc == -errno.EINVAL:
            raise ValueError(f"{what}: a prefix starts with '/', has no '?', and is at most 1024 bytes")
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


class Attached:
    """Routes installed on a ring (ua_routes_attach): requests they match are answered in C by the engine.

    `mount_ptrs[i]` is the C mount (`StaticMount.ptr`) that a UA_ROUTE_STATIC target i names. Keep this
    object (it holds the router and the mounts) for as long as the ring runs.
    """

    def __init__(self, ring_ptr: Any, router: Router, mount_ptrs: list[Any]) -> None:
        self._ring = ring_ptr
        self._router = router
        self._mounts = ffi.new("struct ua_static *[]", mount_ptrs or 1)
        self._keep = mount_ptrs
        _check(lib.ua_routes_attach(ring_ptr, router.ptr, self._mounts, len(mount_ptrs)), "routes")

    def stats(self) -> dict[str, int]:
        st = ffi.new("struct ua_routes_stats *")
        _check(lib.ua_routes_stats(self._ring, st), "routes stats")
        return {"static_hits": int(st.static_hits), "passed": int(st.passed)}

    def log_to(self, fd: int) -> None:
        """Write the access log of the requests answered in C to fd (-1: none); flush_log() writes it."""
        _check(lib.ua_routes_log(self._ring, fd), "routes access log")

    def flush_log(self) -> None:
        """Once per loop iteration, as the Python access log is flushed."""
        lib.ua_routes_log_flush(self._ring)

    def detach(self) -> None:
        """Every request goes to Python again (the ring frees the routes itself when it is freed)."""
        _check(lib.ua_routes_attach(self._ring, ffi.NULL, ffi.NULL, 0), "routes")
