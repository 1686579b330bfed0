"""The open-file cache: hits, revalidation at most once per valid_ms, changed and deleted files, bounds,
and references held by plans in flight. Time is the request's now_ms, so no test sleeps."""

from __future__ import annotations

import os
import pathlib

from static_helpers import mount, nginx_etag, write
from uringasgi._core import ffi, lib

from uringasgi.static import StaticMount

T0 = 1_700_000_000


def get(m: StaticMount, path: str, now: int) -> tuple[int, bytes, str]:
    r = m.serve(b"GET", path.encode(), now_ms=now)
    assert r is not None
    return r.status, r.body, r.headers.get("etag", "")


def test_second_request_is_a_cache_hit(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.txt", "aaa")
    m = mount(tmp_path)
    get(m, "/a.txt", 1000)
    before = m.stats()
    for i in range(5):
        assert get(m, "/a.txt", 1000 + i)[0] == 200
    after = m.stats()
    assert after["opens"] == before["opens"] and after["hits"] == before["hits"] + 5


def test_siblings_are_looked_for_once_per_valid_ms(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.js", "x" * 100)
    m = mount(tmp_path)
    get(m, "/a.js", 1000)
    assert m.stats()["opens"] == 3  # a.js, then a.js.br and a.js.gz: neither there
    assert m.stats()["entries"] == 1  # a sibling's miss is not an entry of its own
    get(m, "/a.js", 1999)
    assert m.stats()["opens"] == 3
    write(tmp_path, "a.js.br", "br")
    get(m, "/a.js", 2000)  # the file is checked (a stat) and its siblings looked for again
    assert m.stats()["opens"] == 5


def test_misses_are_cached_too(tmp_path: pathlib.Path) -> None:
    m = mount(tmp_path)
    get(m, "/nope", 1000)
    opens = m.stats()["opens"]
    assert get(m, "/nope", 1500)[0] == 404
    assert m.stats()["opens"] == opens
    write(tmp_path, "nope", "now here")
    assert get(m, "/nope", 1999)[0] == 404  # still within valid_ms of the miss
    assert get(m, "/nope", 2000)[:2] == (200, b"now here")


def test_changed_file_gets_a_new_etag_after_valid_ms(tmp_path: pathlib.Path) -> None:
    p = write(tmp_path, "a.txt", "version one", T0)
    m = mount(tmp_path, valid_ms=1000)
    s, body, etag1 = get(m, "/a.txt", 10_000)
    assert (s, body, etag1) == (200, b"version one", nginx_etag(p))
    write(tmp_path, "a.txt", "version two!", T0 + 5)
    assert get(m, "/a.txt", 10_999)[1] == b"version one"  # checked at most once per valid_ms
    s, body, etag2 = get(m, "/a.txt", 11_000)
    assert (s, body, etag2) == (200, b"version two!", nginx_etag(p))
    assert etag2 != etag1


def test_same_size_changed_mtime_is_noticed(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.txt", "AAAA", T0)
    m = mount(tmp_path, valid_ms=0)
    _, _, e1 = get(m, "/a.txt", 1)
    write(tmp_path, "a.txt", "BBBB", T0 + 1)
    assert get(m, "/a.txt", 2)[1:] == (b"BBBB", f'"{T0 + 1:x}-4"') != e1


def test_replaced_by_rename_is_noticed(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.txt", "old", T0)
    m = mount(tmp_path, valid_ms=0)
    assert get(m, "/a.txt", 1)[1] == b"old"
    write(tmp_path, "new.tmp", "new", T0)  # same size, same mtime: only the inode differs
    os.replace(tmp_path / "new.tmp", tmp_path / "a.txt")
    assert get(m, "/a.txt", 2)[1] == b"new"


def test_deleted_while_cached_is_404_not_stale_bytes(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "small.txt", "small")
    write(tmp_path, "large.bin", b"L" * 100_000)
    m = mount(tmp_path, small_max=1024, valid_ms=1000)
    assert get(m, "/small.txt", 5000)[0] == 200
    assert get(m, "/large.bin", 5000)[0] == 200
    (tmp_path / "small.txt").unlink()
    (tmp_path / "large.bin").unlink()
    assert get(m, "/small.txt", 6000) == (404, b"404 Not Found\n", "")
    assert get(m, "/large.bin", 6000) == (404, b"404 Not Found\n", "")


def test_a_plan_in_flight_keeps_its_fd_when_the_file_is_dropped(tmp_path: pathlib.Path) -> None:
    """The engine may still be splicing from a plan's fd when the cache drops the entry."""
    data = bytes(range(256)) * 400
    write(tmp_path, "big.bin", data)
    m = mount(tmp_path, small_max=1024, valid_ms=0)
    req = ffi.new("struct ua_static_req *")
    method, path = ffi.from_buffer(b"GET"), ffi.from_buffer(b"/big.bin")
    req.method, req.method_len, req.path, req.path_len, req.keep_alive = method, 3, path, 8, 1
    buf = ffi.new("uint8_t[]", 4096)
    plan = ffi.new("struct ua_static_plan *")
    assert lib.ua_static_serve(m.ptr, req, buf, 4096, plan) == 0
    assert plan.fd >= 0 and plan.file_len == len(data) and m.stats()["held"] == 1
    (tmp_path / "big.bin").unlink()
    assert get(m, "/big.bin", 0)[0] == 404  # the cache has dropped it...
    assert m.stats()["entries"] == 1  # (only the new miss is cached)
    assert os.pread(plan.fd, len(data), 0) == data  # ...but the plan's fd is still good
    lib.ua_static_release(m.ptr, plan.ref)
    assert m.stats()["held"] == 0
    try:
        os.fstat(plan.fd)
        closed = False
    except OSError:
        closed = True
    assert closed  # the last reference closed the fd


def test_entry_bound_evicts_least_recently_used(tmp_path: pathlib.Path) -> None:
    for i in range(10):
        write(tmp_path, f"f{i}.bin", b"x" * 5000)
    # every file keeps an fd: the bound limits fds
    m = mount(tmp_path, cache_entries=4, small_max=0, precompressed=False)
    fds_before = len(os.listdir("/proc/self/fd"))
    for i in range(10):
        assert get(m, f"/f{i}.bin", 1)[0] == 200
    assert m.stats()["entries"] == 4
    assert len(os.listdir("/proc/self/fd")) - fds_before <= 4
    opens = m.stats()["opens"]
    get(m, "/f9.bin", 2)  # recent: still cached
    assert m.stats()["opens"] == opens
    get(m, "/f0.bin", 2)  # evicted: opened again
    assert m.stats()["opens"] == opens + 1


def test_byte_bound_limits_memory(tmp_path: pathlib.Path) -> None:
    for i in range(10):
        write(tmp_path, f"f{i}.txt", b"y" * 10_000)
    m = mount(tmp_path, cache_bytes=35_000, small_max=16_384)
    for i in range(10):
        assert get(m, f"/f{i}.txt", 1)[1] == b"y" * 10_000
    assert m.stats()["bytes"] <= 35_000
    assert m.stats()["entries"] <= 4


def test_large_file_truncated_or_deleted_is_seen_at_once(tmp_path: pathlib.Path) -> None:
    """A large file's fd is fstat'ed on every use: no response announces a length the file lost."""
    write(tmp_path, "big.bin", b"z" * 50_000)
    write(tmp_path, "small.txt", b"s" * 100)
    m = mount(tmp_path, small_max=1024, valid_ms=1000)
    assert len(get(m, "/big.bin", 1000)[1]) == 50_000
    assert get(m, "/small.txt", 1000)[0] == 200
    os.truncate(tmp_path / "big.bin", 10_000)
    r = m.serve(b"GET", b"/big.bin", now_ms=1001)
    assert r is not None and r.headers["content-length"] == "10000" and r.body == b"z" * 10_000
    (tmp_path / "big.bin").unlink()
    (tmp_path / "small.txt").unlink()
    assert get(m, "/big.bin", 1002)[0] == 404
    # A small file lives in memory: its bytes stay whole, and its deletion shows within valid_ms.
    assert get(m, "/small.txt", 1002)[:2] == (200, b"s" * 100)
    assert get(m, "/small.txt", 2000)[0] == 404
