"""A static mount's lifetime against the plans it hands out.

The engine's file pieces borrow the fd of a cached entry until the piece is sent or dropped, and the ring
that holds them may be freed after the mount (at a worker's exit, with a client that stopped reading). This
runs under AddressSanitizer too (tests/asan/run.sh), where a use of the freed mount is a report.
"""

from __future__ import annotations

import os
import pathlib

import pytest
from uringasgi._core import ffi, lib


def test_a_mount_freed_while_a_plan_is_held_goes_when_the_plan_is_released(tmp_path: pathlib.Path) -> None:
    data = os.urandom(100_000)  # over small_max: the plan names the cached entry's fd
    (tmp_path / "big.bin").write_bytes(data)
    root = ffi.new("char[]", str(tmp_path).encode())
    cfg = ffi.new(
        "struct ua_static_config *",
        {
            "root": root,
            "max_age": -1,
            "cache_entries": 16,
            "cache_bytes": 1 << 20,
            "small_max": 8192,
            "valid_ms": 1000,
            "compress_min": 1024,
            "compress_max": 1 << 20,
            "compress_quality": 5,
        },
    )
    out = ffi.new("struct ua_static **")
    assert lib.ua_static_new(cfg, out) == 0
    mount = out[0]
    method, path = ffi.from_buffer(b"GET"), ffi.from_buffer(b"/big.bin")
    req = ffi.new("struct ua_static_req *")
    req.method, req.method_len = method, 3
    req.path, req.path_len = path, 8
    req.keep_alive, req.http_minor = 1, 1
    buf = ffi.new("uint8_t[]", 4096)
    plan = ffi.new("struct ua_static_plan *")
    assert lib.ua_static_serve(mount, req, buf, 4096, plan) == 0
    assert (plan.status, plan.file_len) == (200, len(data)) and plan.fd >= 0 and plan.ref != ffi.NULL
    fd, ref = plan.fd, plan.ref

    lib.ua_static_free(mount)  # the mount goes first, as when the ring outlives it
    assert os.pread(fd, len(data), 0) == data  # what the plan holds is still there
    lib.ua_static_release(mount, ref)  # the last release frees the mount
    with pytest.raises(OSError):
        os.fstat(fd)  # and the entry's fd went with it
