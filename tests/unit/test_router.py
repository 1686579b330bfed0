"""router.c through the bindings: longest prefix on segment boundaries, hosts, and bad routes."""

from __future__ import annotations

import pathlib
import random

import pytest

from uringasgi.loop.ring import Ring
from uringasgi.routes import Attached, Match, RouteKind, Router
from uringasgi.static import StaticMount

STATIC, PROXY, APP = RouteKind.STATIC, RouteKind.PROXY, RouteKind.APP


@pytest.fixture
def router() -> Router:
    r = Router()
    r.add("/assets", STATIC, 0)
    r.add("/assets/img/", STATIC, 1)
    r.add("/api/v1", PROXY, 0)
    r.add("/a", STATIC, 2)
    r.add("/ab", STATIC, 3)
    return r


@pytest.mark.parametrize(
    ("path", "expect"),
    [
        (b"/assets", Match(STATIC, 0, 7)),
        (b"/assets/", Match(STATIC, 0, 7)),
        (b"/assets/app.css", Match(STATIC, 0, 7)),
        (b"/assets/img", Match(STATIC, 1, 11)),
        (b"/assets/img/logo.png", Match(STATIC, 1, 11)),
        (b"/assets/imgx/logo.png", Match(STATIC, 0, 7)),  # not a segment boundary for /assets/img
        (b"/assetsx", Match(APP, 0, 0)),  # nor for /assets
        (b"/api/v1/users", Match(PROXY, 0, 7)),
        (b"/api/v2/users", Match(APP, 0, 0)),
        (b"/api", Match(APP, 0, 0)),
        (b"/a", Match(STATIC, 2, 2)),
        (b"/a/b", Match(STATIC, 2, 2)),
        (b"/ab", Match(STATIC, 3, 3)),
        (b"/abc", Match(APP, 0, 0)),
        (b"/", Match(APP, 0, 0)),
        (b"", Match(APP, 0, 0)),
    ],
)
def test_longest_prefix_on_segment_boundaries(router: Router, path: bytes, expect: Match) -> None:
    assert router.match(path) == expect


def test_root_route_catches_everything_longer_ones_win() -> None:
    r = Router()
    r.add("/", STATIC, 9)
    r.add("/docs", PROXY, 1)
    assert r.match(b"/") == Match(STATIC, 9, 0)
    assert r.match(b"/anything/at/all") == Match(STATIC, 9, 0)
    assert r.match(b"/docs/x") == Match(PROXY, 1, 5)
    assert r.match(b"/docsx") == Match(STATIC, 9, 0)


def test_matching_is_on_raw_bytes() -> None:
    r = Router()
    r.add("/assets", STATIC, 0)
    assert r.match(b"/%61ssets/x").kind == APP  # percent-decoding is the route's business
    assert r.match(b"/ASSETS/x").kind == APP  # paths are case-sensitive


def test_hosts_pick_their_tree_and_fall_back_to_the_default() -> None:
    r = Router()
    r.add("/", STATIC, 0)
    r.add("/", STATIC, 1, host="cdn.example.com")
    r.add("/api", PROXY, 2, host="api.example.com")
    assert r.match(b"/x", b"cdn.example.com") == Match(STATIC, 1, 0)
    assert r.match(b"/x", b"CDN.Example.COM:8443") == Match(STATIC, 1, 0)  # no case, no port
    assert r.match(b"/x", b"other.example.com") == Match(STATIC, 0, 0)
    assert r.match(b"/x") == Match(STATIC, 0, 0)
    assert r.match(b"/api/q", b"api.example.com") == Match(PROXY, 2, 4)
    assert r.match(b"/other", b"api.example.com") == Match(STATIC, 0, 0)  # its tree misses: default


def test_duplicate_and_invalid_routes_are_refused() -> None:
    r = Router()
    r.add("/assets", STATIC, 0)
    with pytest.raises(ValueError, match="already routed"):
        r.add("/assets/", STATIC, 1)  # the same prefix, trailing '/' ignored
    for bad in ("assets", "", "/a?b", "/" + "x" * 1024):
        with pytest.raises(ValueError):
            r.add(bad, STATIC, 0)


def test_against_a_reference_model() -> None:
    """Thousands of random prefixes and paths: the tree agrees with a plain longest-prefix scan."""
    rnd = random.Random(8)
    alphabet = "ab/"
    r = Router()
    routes: dict[str, int] = {}
    for i in range(300):
        p = "/" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8)))
        key = p.rstrip("/")
        if key in routes:
            continue
        routes[key] = i
        r.add(p, STATIC, i)
    for _ in range(5000):
        path = "/" + "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 10)))
        best = None
        for key, target in routes.items():
            matches = path == key or path.startswith(key + "/")
            if matches and (best is None or len(key) > len(best[0])):
                best = (key, target)
        got = r.match(path.encode())
        if best is None:
            assert got == Match(APP, 0, 0), path
        else:
            assert got == Match(STATIC, best[1], len(best[0])), path


def test_attach_to_a_ring_and_detach(tmp_path: pathlib.Path) -> None:
    r = Router()
    r.add("/static", STATIC, 0)
    with Ring() as ring:
        att = Attached(ring.ptr, r, [StaticMount(str(tmp_path)).ptr])
        assert att.stats() == {"static_hits": 0, "passed": 0}
        att.detach()
        with pytest.raises(FileNotFoundError):
            att.stats()
        Attached(ring.ptr, r, [])  # attached at free: the ring frees the routes
