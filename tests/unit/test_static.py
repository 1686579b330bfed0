"""static.c through the bindings, no sockets: headers, methods, index, conditionals, ranges, plans."""

from __future__ import annotations

import pathlib
import time

import pytest
from static_helpers import get, http_date, mount, nginx_etag, write

from uringasgi.static import StaticMount

T0 = 1_700_000_000  # a fixed mtime, so dates and ETags are known


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    r = tmp_path / "public"
    write(r, "app.css", "body { color: red }\n", T0)
    write(r, "hello.txt", "0123456789", T0)
    write(r, "empty.txt", "", T0)
    write(r, "docs/index.html", "<h1>docs</h1>", T0)
    write(r, "nodir/x.txt", "x", T0)
    return r


@pytest.fixture
def m(root: pathlib.Path) -> StaticMount:
    return mount(root, index="index.html", max_age=3600)


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("a.html", "text/html; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.json", "application/json"),
        ("a.svg", "image/svg+xml"),
        ("a.png", "image/png"),
        ("a.JPG", "image/jpeg"),
        ("a.woff2", "font/woff2"),
        ("a.wasm", "application/wasm"),
        ("a.tar.gz", "application/gzip"),
        ("a.mov", "video/quicktime"),
        ("live.m3u8", "application/vnd.apple.mpegurl"),
        ("a.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("a.pdf", "application/pdf"),
        ("a.7z", "application/x-7z-compressed"),
        ("a.zip", "application/zip"),
        ("a.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("a.unknownext", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ],
)
def test_content_types(root: pathlib.Path, m: StaticMount, name: str, ctype: str) -> None:
    write(root, name, "data")
    r = get(m, "/" + name)
    assert r.status == 200
    assert r.headers["content-type"] == ctype


def test_200_headers_and_body(root: pathlib.Path, m: StaticMount) -> None:
    r = get(m, "/app.css")
    assert r.head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert r.body == b"body { color: red }\n"
    h = r.headers
    assert h["content-length"] == "20"
    assert h["last-modified"] == http_date(T0) == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert h["etag"] == nginx_etag(root / "app.css") == f'"{T0:x}-14"'
    assert h["accept-ranges"] == "bytes"
    assert h["cache-control"] == "public, max-age=3600"
    assert "vary" not in h and "content-encoding" not in h and "connection" not in h


def test_no_cache_control_without_max_age(root: pathlib.Path) -> None:
    assert "cache-control" not in get(mount(root), "/app.css").headers


def test_head_has_the_headers_of_get_and_no_body(m: StaticMount) -> None:
    g, h = get(m, "/app.css"), m.serve(b"HEAD", b"/app.css")
    assert h is not None and h.status == 200 and h.body == b""
    assert h.headers == g.headers


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"get", b"TRACE"])
def test_other_methods_get_405_with_allow(m: StaticMount, method: bytes) -> None:
    r = m.serve(method, b"/app.css")
    assert r is not None and r.status == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.body == b"405 Method Not Allowed\n"


def test_fallthrough_hands_misses_and_other_methods_to_the_app(root: pathlib.Path) -> None:
    m = mount(root, fallthrough=True)
    assert m.serve(b"GET", b"/missing.txt") is None
    assert m.serve(b"POST", b"/app.css") is None
    assert m.serve(b"GET", b"/.env") is None
    assert m.serve(b"GET", b"/docs/") is None  # a directory without an index is a miss too
    r = m.serve(b"GET", b"/app.css")
    assert r is not None and r.status == 200


def test_index_redirect_and_directories(root: pathlib.Path, m: StaticMount) -> None:
    r = get(m, "/docs/")
    assert (r.status, r.body, r.headers["content-type"]) == (
        200,
        b"<h1>docs</h1>",
        "text/html; charset=utf-8",
    )
    r = get(m, "/docs")
    assert r.status == 301 and r.headers["location"] == "/docs/"
    r = m.serve(b"GET", b"/static/docs", prefix_len=7, query=b"a=1")
    assert r is not None and r.status == 301 and r.headers["location"] == "/static/docs/?a=1"
    r = m.serve(b"GET", b"/static", prefix_len=7)
    assert r is not None and r.status == 301 and r.headers["location"] == "/static/"
    assert get(m, "/nodir/").status == 404  # directory without index.html: no listing
    assert get(m, "/app.css/").status == 404  # a file is not a directory
    assert get(mount(root), "/docs/").status == 404  # no --static-index: directories are 404


def test_redirect_location_is_never_protocol_relative(root: pathlib.Path) -> None:
    write(root, "evil.example/index.html", "x")
    r = get(mount(root, index="index.html"), "//evil.example")
    assert r.status == 301 and r.headers["location"] == "/evil.example/"


def test_prefix_is_skipped(m: StaticMount) -> None:
    r = m.serve(b"GET", b"/assets/app.css", prefix_len=7)
    assert r is not None and r.status == 200 and r.body == b"body { color: red }\n"


def test_404_body(m: StaticMount) -> None:
    r = get(m, "/nope.css")
    assert (r.status, r.body, r.headers["content-length"]) == (404, b"404 Not Found\n", "14")
    h = m.serve(b"HEAD", b"/nope.css")
    assert h is not None and h.status == 404 and h.body == b""


def test_connection_header_and_extra_lines(m: StaticMount) -> None:
    r = m.serve(b"GET", b"/hello.txt", keep_alive=False, extra=b"date: x\r\nserver: uringasgi\r\n")
    assert r is not None and r.headers["connection"] == "close"
    assert r.headers["server"] == "uringasgi" and r.headers["date"] == "x"
    r = m.serve(b"GET", b"/hello.txt", keep_alive=True, http_minor=0)
    assert r is not None and r.headers["connection"] == "keep-alive"
    r = m.serve(b"GET", b"/hello.txt", keep_alive=False, http_minor=0)
    assert r is not None and r.headers["connection"] == "close"


# ---- conditional requests (RFC 9110 section 13) ----


def test_if_none_match(root: pathlib.Path, m: StaticMount) -> None:
    etag = nginx_etag(root / "app.css")
    for value in (etag, f"W/{etag}", f'"other", {etag}', f'"a",W/{etag} , "b"', "*", " * "):
        r = get(m, "/app.css", if_none_match=value)
        assert r.status == 304, value
        assert r.body == b"" and "content-length" not in r.headers
        assert r.headers["etag"] == etag and r.headers["cache-control"] == "public, max-age=3600"
    for value in ('"other"', etag[:-2] + '"', "W/", "garbage, " + etag, '"unterminated'):
        assert get(m, "/app.css", if_none_match=value).status == 200, value
    assert get(m, "/missing", if_none_match="*").status == 404


def test_if_modified_since(m: StaticMount) -> None:
    for value in (
        http_date(T0),
        http_date(T0 + 86400),
        "Tuesday, 14-Nov-23 22:13:20 GMT",  # RFC 850
        "Tue Nov 14 22:13:20 2023",  # asctime
    ):
        assert get(m, "/app.css", if_modified_since=value).status == 304, value
    for value in (
        http_date(T0 - 1),
        "not a date",
        "Tue, 14 Nov 2023 22:13:20 UTC",
        "Tue Nov 14 22:13:20 2023x",
        http_date(int(time.time()) + 86400 * 365),  # later than now: no date we gave (RFC 7232 3.3)
    ):
        assert get(m, "/app.css", if_modified_since=value).status == 200, value


def test_if_none_match_takes_precedence_over_if_modified_since(m: StaticMount) -> None:
    r = get(m, "/app.css", if_none_match='"nope"', if_modified_since=http_date(T0 + 10))
    assert r.status == 200


def test_if_match(root: pathlib.Path, m: StaticMount) -> None:
    """RFC 9110 13.1.1: strong comparison; a list that matches nothing (or only weakly) is 412."""
    etag = nginx_etag(root / "app.css")
    for value in (etag, f'"other", {etag}', "*", " * "):
        r = get(m, "/app.css", if_match=value)
        assert (r.status, r.body) == (200, b"body { color: red }\n"), value
    for value in ('"other"', f"W/{etag}", "W/", '"unterminated', "garbage, " + etag):
        r = get(m, "/app.css", if_match=value)
        assert (r.status, r.body, r.headers["content-length"]) == (412, b"", "0"), value
    assert get(m, "/missing", if_match="*").status == 404


def test_if_unmodified_since(m: StaticMount) -> None:
    for value in (http_date(T0), http_date(T0 + 86400), "not a date"):  # an invalid date is ignored
        assert get(m, "/app.css", if_unmodified_since=value).status == 200, value
    assert get(m, "/app.css", if_unmodified_since=http_date(T0 - 1)).status == 412


def test_preconditions_come_first_in_their_order(root: pathlib.Path, m: StaticMount) -> None:
    """RFC 9110 13.2.2: If-Match before If-Unmodified-Since (which it replaces), both before the 304s."""
    etag = nginx_etag(root / "app.css")
    assert get(m, "/app.css", if_match=etag, if_unmodified_since=http_date(T0 - 1)).status == 200
    assert get(m, "/app.css", if_match='"other"', if_none_match=etag).status == 412
    assert get(m, "/app.css", if_unmodified_since=http_date(T0 - 1), if_none_match=etag).status == 412
    assert get(m, "/app.css", if_match=etag, if_none_match=etag).status == 304


# ---- a field on several lines (RFC 9110 section 5.3) ----


def lines(m: StaticMount, path: str, *fields: tuple[str, str]) -> int:
    """The status of a GET whose fields are sent as these lines, in this order (names may repeat)."""
    r = m.serve(b"GET", path.encode(), [(k.encode(), v.encode()) for k, v in fields])
    assert r is not None
    return r.status


def test_if_none_match_lines_are_one_list(root: pathlib.Path, m: StaticMount) -> None:
    etag = nginx_etag(root / "app.css")
    inm = "if-none-match"
    assert lines(m, "/app.css", (inm, '"a"'), (inm, etag)) == 304
    assert lines(m, "/app.css", (inm, '"a"'), (inm, ""), (inm, f'"b", W/{etag}')) == 304
    assert lines(m, "/app.css", (inm, '"a"'), (inm, '"b"')) == 200
    # a malformed member ends the walk, as in the lines joined: nothing after it counts
    assert lines(m, "/app.css", (inm, "garbage"), (inm, etag)) == 200
    # "*" is any only as the whole value: beside another line it is a malformed member
    assert lines(m, "/app.css", (inm, "*"), (inm, '"a"')) == 200
    assert lines(m, "/app.css", (inm, etag), (inm, "*")) == 304  # (matched before it)
    # present on any line, If-None-Match still sets If-Modified-Since aside
    assert lines(m, "/app.css", (inm, '"a"'), (inm, '"b"'), ("if-modified-since", http_date(T0))) == 200


def test_if_match_lines_are_one_list(root: pathlib.Path, m: StaticMount) -> None:
    etag = nginx_etag(root / "app.css")
    assert lines(m, "/app.css", ("if-match", '"a"'), ("if-match", etag)) == 200
    assert lines(m, "/app.css", ("if-match", '"a"'), ("if-match", '"b"')) == 412
    assert lines(m, "/app.css", ("if-match", "*"), ("if-match", '"a"')) == 412
    assert lines(m, "/app.css", ("if-match", '"a"'), ("if-match", f"W/{etag}")) == 412  # strong only


def test_a_repeated_date_condition_is_ignored(m: StaticMount) -> None:
    """RFC 9110 13.1.3 and 13.1.4: a recipient MUST ignore a date field whose value is more than one date."""
    ims, ius = "if-modified-since", "if-unmodified-since"
    assert lines(m, "/app.css", (ims, http_date(T0)), (ims, http_date(T0))) == 200
    assert lines(m, "/app.css", (ius, http_date(T0 - 1)), (ius, http_date(T0 - 1))) == 200


def test_a_repeated_range_or_if_range_gets_the_whole_file(root: pathlib.Path, m: StaticMount) -> None:
    """Two Range lines are no ranges-specifier (ignored, 14.2); two If-Range lines no validator, a false
    condition (13.1.5): either way the whole file, 200, whichever line came first."""
    etag = nginx_etag(root / "hello.txt")
    assert lines(m, "/hello.txt", ("range", "bytes=0-1"), ("range", "bytes=0-1")) == 200
    assert lines(m, "/hello.txt", ("range", "bytes=0-1"), ("if-range", etag), ("if-range", etag)) == 200
    assert lines(m, "/hello.txt", ("range", "bytes=0-1"), ("if-range", ""), ("if-range", etag)) == 200
    assert lines(m, "/hello.txt", ("range", "bytes=0-1"), ("if-range", etag)) == 206


# ---- ranges (RFC 9110 section 14) ----


@pytest.mark.parametrize(
    ("rng", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=5-", 5, 9),
        ("bytes=-3", 7, 9),
        ("bytes=-1000", 0, 9),  # a suffix longer than the file is all of it
        ("bytes=3-1000", 3, 9),  # last-pos past the end is clamped
        ("bytes=9-9", 9, 9),
        ("BYTES=2-3", 2, 3),  # the unit is case-insensitive
        ("bytes= 2-3 ", 2, 3),
        ("bytes=2-3, 100-200", 2, 3),  # one satisfiable range among unsatisfiable ones
    ],
)
def test_single_range_is_206(m: StaticMount, rng: str, first: int, last: int) -> None:
    r = get(m, "/hello.txt", range=rng)
    assert r.status == 206, rng
    assert r.body == b"0123456789"[first : last + 1]
    assert r.headers["content-range"] == f"bytes {first}-{last}/10"
    assert r.headers["content-length"] == str(last - first + 1)


@pytest.mark.parametrize("rng", ["bytes=10-", "bytes=100-200", "bytes=-0", "bytes=10-20, 30-"])
def test_unsatisfiable_range_is_416(m: StaticMount, rng: str) -> None:
    r = get(m, "/hello.txt", range=rng)
    assert r.status == 416, rng
    assert r.headers["content-range"] == "bytes */10"
    assert r.body == b""


@pytest.mark.parametrize("spec", ["bytes=0-", "bytes=-5", "bytes=0-0"])
def test_a_range_of_an_empty_file_is_ignored(m: StaticMount, spec: str) -> None:
    """No Content-Range can name a part of nothing: the whole, empty, file with 200, as nginx answers (a
    browser asks for bytes=0- of every media file; RFC 9110 lets a server ignore Range)."""
    r = get(m, "/empty.txt", range=spec)
    assert (r.status, r.body, r.headers["content-length"]) == (200, b"", "0")
    assert "content-range" not in r.headers


@pytest.mark.parametrize(
    "rng",
    [
        "bytes=0-1,4-5",  # several ranges: the whole file, 200 (no multipart/byteranges)
        "bytes=5-2",  # invalid: ignored
        "items=0-1",
        "bytes=",
        "bytes=a-b",
        "bytes=1-2;",
        "bytes 1-2",
    ],
)
def test_several_or_malformed_ranges_get_the_whole_file(m: StaticMount, rng: str) -> None:
    r = get(m, "/hello.txt", range=rng)
    assert r.status == 200, rng
    assert r.body == b"0123456789" and "content-range" not in r.headers


def test_head_ignores_range(m: StaticMount) -> None:
    r = m.serve(b"HEAD", b"/hello.txt", [(b"range", b"bytes=0-1")])
    assert r is not None and r.status == 200 and r.headers["content-length"] == "10"


def test_if_range(root: pathlib.Path, m: StaticMount) -> None:
    etag = nginx_etag(root / "hello.txt")
    assert get(m, "/hello.txt", range="bytes=0-1", if_range=etag).status == 206
    assert get(m, "/hello.txt", range="bytes=0-1", if_range=http_date(T0)).status == 206
    # A changed validator means the client's partial copy is stale: the whole file, 200.
    assert get(m, "/hello.txt", range="bytes=0-1", if_range='"stale"').status == 200
    assert get(m, "/hello.txt", range="bytes=0-1", if_range=f"W/{etag}").status == 200  # weak never matches
    assert get(m, "/hello.txt", range="bytes=0-1", if_range=http_date(T0 - 1)).status == 200
    assert get(m, "/hello.txt", range="bytes=0-1", if_range="garbage").status == 200


# ---- plans: where the body comes from ----


def test_small_body_leaves_with_the_head_large_from_the_file(root: pathlib.Path) -> None:
    small, medium, large = b"s" * 100, b"m" * 3000, bytes(range(256)) * 1024
    write(root, "small.bin", small)
    write(root, "medium.bin", medium)
    write(root, "large.bin", large)
    m = mount(root, small_max=4096)
    assert m.serve(b"GET", b"/small.bin", buf_size=1024) == _resp(m, "/small.bin", "buffer", small)
    r = m.serve(b"GET", b"/medium.bin", buf_size=1024)  # in memory, but larger than the buffer
    assert r is not None and (r.source, r.body) == ("memory", medium)
    r = m.serve(b"GET", b"/large.bin", buf_size=1024)
    assert r is not None and (r.source, r.body) == ("file", large)
    r = m.serve(b"GET", b"/large.bin", [(b"range", b"bytes=1000-1999")], buf_size=1024)
    assert r is not None and (r.status, r.source, r.body) == (206, "file", large[1000:2000])
    assert m.stats()["held"] == 0


def _resp(m: StaticMount, path: str, source: str, body: bytes) -> object:
    r = m.serve(b"GET", path.encode(), buf_size=1024)
    assert r is not None and r.source == source and r.body == body
    return r


def test_a_buffer_too_small_for_the_head_is_enospc(m: StaticMount) -> None:
    with pytest.raises(OSError, match="head larger than the buffer"):
        m.serve(b"GET", b"/app.css", buf_size=64)
    assert m.stats()["held"] == 0


def test_bad_settings_are_refused(root: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        mount(root, index="a/b.html")
    with pytest.raises(ValueError):
        mount(root, compress_quality=12)
    with pytest.raises(FileNotFoundError):
        mount(root / "nope")
