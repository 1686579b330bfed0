"""Path safety: no request, however encoded, reads a byte from outside the mount.

The secret outside the mount is larger than small_max, so if it were ever opened the cache would keep its
fd: every attack checks both the response and this process's open files."""

from __future__ import annotations

import contextlib
import os
import pathlib
import random

import pytest
from static_helpers import mount, write

from uringasgi.static import StaticMount

SECRET = b"TOP-SECRET " * 1000


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    outside = tmp_path / "outside"
    write(outside, "secret.txt", SECRET)
    root = tmp_path / "root"
    write(root, "public.txt", "public")
    write(root, "sub/x.txt", "x")
    write(root, ".env", "DOTENV")
    write(root, "sub/.hidden/h.txt", "hidden")
    write(root, ".well-known/security.txt", "contact")
    (root / "escape").symlink_to("../outside/secret.txt")
    (root / "escdir").symlink_to("../outside")
    (root / "abs").symlink_to(outside / "secret.txt")
    (root / "etc").symlink_to("/etc")
    (root / "inside").symlink_to("public.txt")
    (root / "linkdir").symlink_to("sub")
    (root / "sub" / "up").symlink_to("..")  # inside, through ".."
    (root / "sub" / "upup").symlink_to("../..")  # outside, through ".."
    os.mkfifo(root / "fifo.txt")
    return tmp_path


@pytest.fixture
def m(tree: pathlib.Path) -> StaticMount:
    return mount(tree / "root", small_max=1024)


def open_files() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
    return out


ATTACKS = {
    # path -> status: 400 for what cannot be a clean path, 404 for what resolves to nothing we serve
    "/../outside/secret.txt": 400,
    "/%2e%2e/outside/secret.txt": 400,
    "/%2E%2E/outside/secret.txt": 400,
    "/.%2e/outside/secret.txt": 400,
    "/sub/../../outside/secret.txt": 400,
    "/sub/%2e%2e/%2e%2e/outside/secret.txt": 400,
    "/..%2foutside%2fsecret.txt": 400,  # encoded slashes are refused outright
    "/..%2Foutside/secret.txt": 400,
    "/sub%2f..%2f..%2foutside/secret.txt": 400,
    "/..%5coutside%5csecret.txt": 400,  # encoded backslash
    "/..\\outside\\secret.txt": 400,  # raw backslash
    "/%c0%ae%c0%ae/outside/secret.txt": 400,  # overlong UTF-8 for '.'
    "/%c0%ae%c0%ae%c0%afoutside%c0%afsecret.txt": 400,  # ...and for '/'
    "/%e0%80%ae%e0%80%ae/outside/secret.txt": 400,  # three-byte overlong
    "/%f0%80%80%ae/x": 400,  # four-byte overlong
    "/%ed%a0%80": 400,  # a UTF-16 surrogate
    "/%ff": 400,
    "/public.txt%00.png": 400,  # NUL
    "/%00": 400,
    "/a%0d%0aset-cookie:x": 400,  # CR LF
    "/%": 400,
    "/%2": 400,
    "/%zz": 400,
    "/%252e%252e/outside/secret.txt": 404,  # decoded once: a name with a literal %2e in it
    "//outside/secret.txt": 404,  # empty segments collapse; still beneath the mount
    "/escape": 404,  # symlink to a file outside: openat2 says EXDEV
    "/escdir/secret.txt": 404,
    "/abs": 404,  # absolute symlink
    "/etc/passwd": 404,
    "/sub/upup/outside/secret.txt": 404,
    "/fifo.txt": 404,  # not a regular file (and opening it must not block)
}


@pytest.mark.parametrize(("path", "status"), ATTACKS.items())
def test_attack_never_leaves_the_mount(tree: pathlib.Path, m: StaticMount, path: str, status: int) -> None:
    secret = str(tree / "outside" / "secret.txt")
    for method in (b"GET", b"HEAD"):
        r = m.serve(method, path.encode())
        assert r is not None
        assert r.status == status, (path, r.head)
        assert b"SECRET" not in r.body and b"SECRET" not in r.head
    assert secret not in open_files()


def test_attack_through_a_route_prefix(tree: pathlib.Path, m: StaticMount) -> None:
    for path in (b"/static/../outside/secret.txt", b"/static/%2e%2e/outside/secret.txt", b"/static/../../x"):
        r = m.serve(b"GET", path, prefix_len=7)
        assert r is not None and r.status == 400 and b"SECRET" not in r.body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/public.txt", b"public"),
        ("/%70ublic.txt", b"public"),  # percent-decoded once
        ("/inside", b"public"),  # symlinks inside the mount are fine
        ("/linkdir/x.txt", b"x"),
        ("/sub/up/public.txt", b"public"),
        ("/sub/./x.txt", b"x"),
        ("/sub/../public.txt", b"public"),
        ("/sub//x.txt", b"x"),
    ],
)
def test_legitimate_paths_inside_are_served(m: StaticMount, path: str, body: bytes) -> None:
    r = m.serve(b"GET", path.encode())
    assert r is not None and (r.status, r.body) == (200, body)


def test_dotfiles_are_refused_unless_enabled(tree: pathlib.Path, m: StaticMount) -> None:
    for path in ("/.env", "/sub/.hidden/h.txt", "/.well-known/security.txt", "/%2eenv"):
        r = m.serve(b"GET", path.encode())
        assert r is not None and r.status == 404 and r.body == b"404 Not Found\n", path
    m2 = mount(tree / "root", dotfiles=True)
    for path, body in (("/.env", b"DOTENV"), ("/sub/.hidden/h.txt", b"hidden"), ("/%2eenv", b"DOTENV")):
        r = m2.serve(b"GET", path.encode())
        assert r is not None and (r.status, r.body) == (200, body), path
    r = m2.serve(b"GET", b"/../outside/secret.txt")  # dotfiles on does not mean ".." on
    assert r is not None and r.status == 400


def test_file_swapped_for_an_outside_symlink_while_cached(tree: pathlib.Path) -> None:
    root = tree / "root"
    write(root, "swap.txt", "original " * 500)
    m = mount(root, small_max=1024, valid_ms=0)
    r = m.serve(b"GET", b"/swap.txt")
    assert r is not None and r.status == 200 and r.source == "file"
    (root / "swap.txt").unlink()
    (root / "swap.txt").symlink_to("../outside/secret.txt")
    r = m.serve(b"GET", b"/swap.txt")
    assert r is not None and r.status == 404 and b"SECRET" not in r.body
    assert str(tree / "outside" / "secret.txt") not in open_files()


def test_random_paths_built_from_attack_pieces(tree: pathlib.Path, m: StaticMount) -> None:
    """Thousands of paths glued from the pieces attacks are made of: none reads the secret."""
    pieces = [
        "/",
        "..",
        ".",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "\\",
        "%c0%ae",
        "%c0%af",
        "%00",
        "%",
        "outside",
        "secret.txt",
        "escape",
        "escdir",
        "sub",
        "up",
        "upup",
        "linkdir",
        "public.txt",
        "abs",
        "%25",
    ]
    rnd = random.Random(88)
    seen = set()
    for _ in range(5000):
        path = "/" + "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 9)))
        r = m.serve(b"GET", path.encode("latin-1"))
        assert r is not None
        assert r.status in (200, 301, 400, 404), path
        assert b"SECRET" not in r.body, path
        seen.add(r.status)
    assert seen >= {200, 400, 404}
    assert str(tree / "outside" / "secret.txt") not in open_files()


def test_random_header_values_never_break_a_response(m: StaticMount) -> None:
    rnd = random.Random(7)
    alphabet = b'bytes=0123456789-,; */"W\tq.abgzipr'
    for _ in range(3000):
        hdrs = [
            (name, bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 24))))
            for name in (
                b"range",
                b"if-range",
                b"if-none-match",
                b"accept-encoding",
                b"if-modified-since",
                b"if-match",
                b"if-unmodified-since",
            )
            if rnd.random() < 0.6
        ]
        r = m.serve(b"GET", b"/public.txt", hdrs)
        assert r is not None and r.status in (200, 206, 304, 412, 416)
        if r.status == 200:
            assert r.body == b"public" and r.headers["content-length"] == "6"
        elif r.status == 206:
            span, _, total = r.headers["content-range"].removeprefix("bytes ").partition("/")
            first, last = (int(x) for x in span.split("-"))
            assert total == "6" and r.body == b"public"[first : last + 1]
