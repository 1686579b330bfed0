"""Compression: precompressed .br/.gz siblings chosen by Accept-Encoding q-values, brotli on the fly with
its cache, and `uringasgi compress DIR` writing the siblings."""

from __future__ import annotations

import gc
import gzip
import os
import pathlib
import random
import signal
import time

import brotli
import pytest
from static_helpers import get, mount, write

from uringasgi.static import StaticMount
from uringasgi.static.compress import compress_tree, summary

JS = ("function f(x) { return x * 2; }\n" * 200).encode()


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    write(tmp_path, "app.js", JS)
    write(tmp_path, "app.js.br", brotli.compress(JS))
    write(tmp_path, "app.js.gz", gzip.compress(JS))
    write(tmp_path, "only-gz.css", "a{}" * 100)
    write(tmp_path, "only-gz.css.gz", gzip.compress(b"a{}" * 100))
    write(tmp_path, "plain.js", "var a;")
    return tmp_path


@pytest.fixture
def m(root: pathlib.Path) -> StaticMount:
    return mount(root)


def decoded(r: object) -> bytes:
    enc = r.headers.get("content-encoding")  # type: ignore[attr-defined]
    body: bytes = r.body  # type: ignore[attr-defined]
    if enc == "br":
        return bytes(brotli.decompress(body))
    if enc == "gzip":
        return gzip.decompress(body)
    assert enc is None
    return body


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),  # equal q: br
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0.9, gzip;q=0.8", "br"),
        ("br;q=0, gzip;q=0", None),
        ("br;q=0", None),
        ("*", "br"),
        ("*;q=0.5, gzip", "gzip"),
        ("*;q=0", None),
        ("x-gzip", "gzip"),
        ("BR", "br"),
        ("identity", None),
        ("deflate", None),
        ("", None),
        ("br;q=2", None),  # malformed q: ignored
        ("gzip;q=1.000", "gzip"),
        ("br ; q=0.3 , gzip ; q=0.2", "br"),
    ],
)
def test_precompressed_sibling_by_q_value(m: StaticMount, accept: str, encoding: str | None) -> None:
    r = get(m, "/app.js", accept_encoding=accept)
    assert r.status == 200
    assert r.headers.get("content-encoding") == encoding, accept
    assert r.headers["vary"] == "accept-encoding"  # on every representation of a file with siblings
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"  # the file's, not the sibling's
    assert decoded(r) == JS
    assert int(r.headers["content-length"]) == len(r.body)


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        (("identity", "br"), "br"),
        (("identity", "gzip"), "gzip"),
        (("br;q=0.1", "gzip"), "gzip"),
        (("gzip", "", "br;q=0.9, gzip;q=0.8"), "br"),  # a later member naming gzip again wins, as in one line
        (("*;q=0", "gzip"), "gzip"),
        (("br", "br;q=0"), None),
    ],
)
def test_accept_encoding_lines_are_one_list(
    m: StaticMount, accept: tuple[str, ...], encoding: str | None
) -> None:
    """RFC 9110 5.3: the lines of a list-valued field read as their values joined by commas, in order."""
    r = m.serve(b"GET", b"/app.js", [(b"accept-encoding", a.encode()) for a in accept])
    assert r is not None and r.status == 200
    assert r.headers.get("content-encoding") == encoding, accept
    assert decoded(r) == JS


def test_no_accept_encoding_gets_identity(m: StaticMount) -> None:
    r = get(m, "/app.js")
    assert "content-encoding" not in r.headers and r.body == JS and r.headers["vary"] == "accept-encoding"


def test_representations_have_their_own_etags(m: StaticMount) -> None:
    tags = {enc: get(m, "/app.js", accept_encoding=enc).headers["etag"] for enc in ("br", "gzip", "identity")}
    assert len(set(tags.values())) == 3
    assert get(m, "/app.js", accept_encoding="br", if_none_match=tags["br"]).status == 304
    r = get(m, "/app.js", accept_encoding="br", if_none_match=tags["br"])
    assert r.headers["content-encoding"] == "br" and r.headers["vary"] == "accept-encoding"
    assert get(m, "/app.js", accept_encoding="gzip", if_none_match=tags["br"]).status == 200


def test_range_applies_to_the_encoded_representation(root: pathlib.Path, m: StaticMount) -> None:
    br = (root / "app.js.br").read_bytes()
    r = get(m, "/app.js", accept_encoding="br", range="bytes=0-9")
    assert r.status == 206 and r.body == br[:10]
    assert r.headers["content-range"] == f"bytes 0-9/{len(br)}"


def test_only_the_siblings_that_exist(m: StaticMount) -> None:
    r = get(m, "/only-gz.css", accept_encoding="br")
    assert "content-encoding" not in r.headers and r.headers["vary"] == "accept-encoding"
    assert get(m, "/only-gz.css", accept_encoding="br, gzip").headers["content-encoding"] == "gzip"
    r = get(m, "/plain.js", accept_encoding="br, gzip")
    assert "content-encoding" not in r.headers and "vary" not in r.headers


def test_precompressed_off(root: pathlib.Path) -> None:
    r = get(mount(root, precompressed=False), "/app.js", accept_encoding="br, gzip")
    assert "content-encoding" not in r.headers and "vary" not in r.headers and r.body == JS


def test_sibling_removed_while_cached_falls_back_to_identity(root: pathlib.Path) -> None:
    m = mount(root, valid_ms=0)
    assert get(m, "/app.js", accept_encoding="br, gzip").headers["content-encoding"] == "br"
    (root / "app.js.br").unlink()
    assert get(m, "/app.js", accept_encoding="br, gzip").headers["content-encoding"] == "gzip"
    (root / "app.js.gz").unlink()
    r = get(m, "/app.js", accept_encoding="br, gzip")
    assert "content-encoding" not in r.headers and r.body == JS


# ---- brotli on the fly ----


def test_on_the_fly_brotli(tmp_path: pathlib.Path) -> None:
    text = ("<p>hello static world</p>\n" * 1000).encode()
    write(tmp_path, "page.html", text)
    m = mount(tmp_path, compress=True, compress_min=1024)
    first = get(m, "/page.html", accept_encoding="gzip, br")
    # the copy is made on the helper thread; the request that asked for it does not wait
    assert "content-encoding" not in first.headers and first.body == text
    assert first.headers["vary"] == "accept-encoding"
    m.settle()
    r = get(m, "/page.html", accept_encoding="gzip, br")
    assert r.headers["content-encoding"] == "br" and r.headers["vary"] == "accept-encoding"
    assert brotli.decompress(r.body) == text and len(r.body) < len(text) // 10
    assert m.stats()["compressions"] == 1
    for _ in range(3):
        assert brotli.decompress(get(m, "/page.html", accept_encoding="br").body) == text
    assert m.stats()["compressions"] == 1  # cached
    ident = get(m, "/page.html", accept_encoding="gzip")
    assert ident.body == text and ident.headers["vary"] == "accept-encoding"
    assert ident.headers["etag"] != r.headers["etag"] and ident.headers["etag"] == first.headers["etag"]
    assert get(m, "/page.html", accept_encoding="br", if_none_match=r.headers["etag"]).status == 304


def test_a_copy_being_made_holds_no_response_back(tmp_path: pathlib.Path) -> None:
    # quality 11 on 1 MiB of varied text takes about a second: every response meanwhile is identity
    text = b"".join(b"%d: the quick brown fox %x jumps\n" % (i, i * 7919) for i in range(30_000))[: 1 << 20]
    write(tmp_path, "big.txt", text)
    write(tmp_path, "small.css", "a{color:red}" * 200)
    m = mount(tmp_path, compress=True, compress_quality=11, compress_max=1 << 20)
    r = get(m, "/big.txt", accept_encoding="br")
    assert "content-encoding" not in r.headers and r.body == text and r.headers["vary"] == "accept-encoding"
    again = get(m, "/big.txt", accept_encoding="br")  # asked again while it is made: not queued twice
    assert "content-encoding" not in again.headers and again.body == text
    assert get(m, "/small.css", accept_encoding="br").body == b"a{color:red}" * 200
    m.settle()
    assert m.stats()["compressions"] == 2
    assert brotli.decompress(get(m, "/big.txt", accept_encoding="br").body) == text
    assert brotli.decompress(get(m, "/small.css", accept_encoding="br").body) == b"a{color:red}" * 200


@pytest.mark.parametrize("pause", [0.0, 0.2])
def test_a_mount_freed_while_a_copy_is_made(tmp_path: pathlib.Path, pause: float) -> None:
    text = b"".join(b"row %d, %x\n" % (i, i * 31337) for i in range(60_000))[: 1 << 20]
    write(tmp_path, "big.txt", text)
    m = mount(tmp_path, compress=True, compress_quality=11, compress_max=1 << 20, small_max=0)
    assert get(m, "/big.txt", accept_encoding="br").body == text
    # 0.2: freed while the job runs; 0: right after it was queued, which the thread may or may not have
    # picked up yet (tests/asan/static_jobs.c frees a mount with jobs queued for certain)
    time.sleep(pause)
    # ua_static_free stops the helper thread (after a job it is running) and gives each job's entry back;
    # the ASan run of this test fails on a use after free (leaks: static_jobs.c under LeakSanitizer), this
    # one on a crash or a hang
    del m
    gc.collect()
    again = mount(tmp_path, compress=True, compress_max=1 << 20, small_max=0)
    assert get(again, "/big.txt", accept_encoding="br").body == text
    again.settle()
    assert brotli.decompress(get(again, "/big.txt", accept_encoding="br").body) == text


def test_a_forked_child_serves_without_the_helper_thread(tmp_path: pathlib.Path) -> None:
    text = b"".join(b"row %d, %x\n" % (i, i * 31337) for i in range(60_000))[: 1 << 20]
    write(tmp_path, "big.txt", text)
    write(tmp_path, "small.css", "a{color:red}" * 200)
    m = mount(tmp_path, compress=True, compress_quality=11, compress_max=1 << 20)
    get(m, "/big.txt", accept_encoding="br")  # the helper thread is at work on it
    pid = os.fork()
    if pid == 0:  # an app's own fork: the thread is not in this process
        code = 1
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # a hang below ends the child, whatever the
            signal.alarm(10)  # test runner had put on SIGALRM
            r = get(m, "/small.css", accept_encoding="br")  # no copy is asked for here: identity
            m.settle()  # returns: nothing of this process's is out
            ok = "content-encoding" not in r.headers and r.body == b"a{color:red}" * 200
            code = 0 if ok and get(m, "/big.txt", accept_encoding="br").body == text else 2
            del m
            gc.collect()  # the mount is freed without a thread to stop
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    m.settle()  # the parent's copy was made all the same
    assert brotli.decompress(get(m, "/big.txt", accept_encoding="br").body) == text


def test_on_the_fly_copy_is_redone_when_the_file_changes(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "a.css", "a{color:red}" * 500, 1_700_000_000)
    m = mount(tmp_path, compress=True, valid_ms=0)
    get(m, "/a.css", accept_encoding="br")
    m.settle()
    assert brotli.decompress(get(m, "/a.css", accept_encoding="br").body) == b"a{color:red}" * 500
    write(tmp_path, "a.css", "b{color:blue}" * 500, 1_700_000_100)
    assert get(m, "/a.css", accept_encoding="br").body == b"b{color:blue}" * 500  # new file, copy on its way
    m.settle()
    assert brotli.decompress(get(m, "/a.css", accept_encoding="br").body) == b"b{color:blue}" * 500
    assert m.stats()["compressions"] == 2


def test_on_the_fly_only_where_it_pays(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "tiny.css", "a{}")
    write(tmp_path, "img.png", b"\x89PNG" + b"\0" * 5000)
    write(tmp_path, "noise.txt", random.Random(1).randbytes(5000))
    write(tmp_path, "huge.txt", "z" * 50_000)
    m = mount(tmp_path, compress=True, compress_min=1024, compress_max=20_000)
    for name in ("tiny.css", "img.png", "huge.txt"):
        r = get(m, "/" + name, accept_encoding="br")
        assert "content-encoding" not in r.headers and "vary" not in r.headers, name
    r = get(m, "/noise.txt", accept_encoding="br")  # a copy is tried: this answer may still vary
    assert "content-encoding" not in r.headers and len(r.body) == 5000
    assert r.headers["vary"] == "accept-encoding"
    m.settle()  # it did not shrink: identity from then on, and nothing varies any more
    r = get(m, "/noise.txt", accept_encoding="br")
    assert "content-encoding" not in r.headers and "vary" not in r.headers
    assert m.stats()["compressions"] == 1


def test_on_the_fly_copy_of_a_large_file_read_from_its_fd(tmp_path: pathlib.Path) -> None:
    text = b"".join(b"line %d of a large log\n" % i for i in range(40_000))
    write(tmp_path, "log.txt", text)
    m = mount(tmp_path, compress=True, small_max=1024, compress_max=4 << 20)
    assert get(m, "/log.txt", accept_encoding="br").source == "file"
    m.settle()
    r = get(m, "/log.txt", accept_encoding="br")
    assert r.source in ("memory", "buffer") and brotli.decompress(r.body) == text


def test_compressed_copies_count_against_the_byte_bound(tmp_path: pathlib.Path) -> None:
    for i in range(6):
        write(tmp_path, f"f{i}.txt", os.urandom(2000).hex() * 3)  # 12 KB, compresses to about half
    m = mount(tmp_path, compress=True, small_max=0, cache_bytes=20_000)
    for i in range(6):
        get(m, f"/f{i}.txt", accept_encoding="br")
    m.settle()
    assert m.stats()["compressions"] == 6
    assert m.stats()["bytes"] <= 20_000
    assert get(m, "/f5.txt", accept_encoding="br").headers["content-encoding"] == "br"


# ---- uringasgi compress DIR ----


def test_compress_tree_writes_smaller_siblings(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "site/app.js", JS)
    write(tmp_path, "site/css/main.css", "body{margin:0}" * 100)
    write(tmp_path, "site/logo.png", b"\x89PNG" + b"\0" * 4000)
    write(tmp_path, "site/tiny.js", "1")
    write(tmp_path, "site/.secret.js", JS)
    write(tmp_path, "site/noise.txt", random.Random(2).randbytes(4000))
    report = compress_tree(str(tmp_path / "site"))
    site = tmp_path / "site"
    assert sorted(os.path.relpath(p, site) for p in report.written) == [
        "app.js.br",
        "app.js.gz",
        "css/main.css.br",
        "css/main.css.gz",
    ]
    assert brotli.decompress((site / "app.js.br").read_bytes()) == JS
    assert gzip.decompress((site / "app.js.gz").read_bytes()) == JS
    assert report.not_smaller == 2  # noise.txt
    assert "4 siblings written" in summary(report)
    again = compress_tree(str(site))
    assert again.written == [] and again.fresh == 4
    write(tmp_path, "site/app.js", JS + b"//more\n")
    os.utime(site / "app.js", (os.stat(site / "app.js.br").st_mtime + 10,) * 2)
    assert sorted(os.path.basename(p) for p in compress_tree(str(site)).written) == ["app.js.br", "app.js.gz"]
    r = get(mount(site), "/app.js", accept_encoding="br")
    assert r.headers["content-encoding"] == "br" and brotli.decompress(r.body) == JS + b"//more\n"


def test_compress_tree_rewrites_siblings_of_a_file_rolled_back_to_an_older_mtime(
    tmp_path: pathlib.Path,
) -> None:
    """A rollback that keeps mtimes (cp -p, rsync -a, tar) gives the file an older mtime than its siblings:
    they were made from the newer version, and a client that accepts br must not get it."""
    site = tmp_path / "site"
    write(tmp_path, "site/v.js", JS + b"//v2\n")
    os.utime(site / "v.js", (2_000_000_000, 2_000_000_000))
    compress_tree(str(site))
    write(tmp_path, "site/v.js", JS + b"//v1\n")
    os.utime(site / "v.js", (1_900_000_000, 1_900_000_000))  # v1 restored with its own, older mtime
    assert sorted(os.path.basename(p) for p in compress_tree(str(site)).written) == ["v.js.br", "v.js.gz"]
    assert brotli.decompress((site / "v.js.br").read_bytes()) == JS + b"//v1\n"


def test_compress_tree_wants_a_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(NotADirectoryError):
        compress_tree(str(tmp_path / "nope"))
