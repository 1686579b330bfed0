"""cffi builder: one extension, ``uringasgi._core``, from every ``.c`` file under the package.

Each area's header marks the part cffi must see between ``/* ua:cdef-begin */`` and ``/* ua:cdef-end */``.
That part has no ``#include`` and no ``#if`` (cffi's parser takes neither), so a new area only adds files:
this builder never has to be edited for it.

``python -m uringasgi._build`` (or ``python uringasgi/_build.py``) compiles in place, which is what
``make`` does after a C change. ``UA_SANITIZE=address`` builds with AddressSanitizer for ``make asan``.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

from cffi import FFI

PKG = pathlib.Path(__file__).resolve().parent
CDEF = re.compile(r"/\* ua:cdef-begin \*/(.*?)/\* ua:cdef-end \*/", re.S)


def _sources() -> list[pathlib.Path]:
    return sorted(p for p in PKG.rglob("*.c") if "build" not in p.parts)


def _headers() -> list[pathlib.Path]:
    return sorted(p for p in PKG.rglob("*.h") if "build" not in p.parts)


def _pkg_config(*args: str) -> list[str]:
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return out.split()


LIBS = ["liburing", "libssl", "libcrypto", "libbrotlienc", "libbrotlidec"]


def make_ffi(absolute: bool = False) -> FFI:
    ffi = FFI()
    cdefs = []
    includes = []
    for h in _headers():
        text = h.read_text()
        m = CDEF.search(text)
        if m is None:
            continue
        cdefs.append(f"/* {h.relative_to(PKG)} */\n{m.group(1)}")
        includes.append(f'#include "{h.relative_to(PKG).as_posix()}"')
    ffi.cdef("\n".join(cdefs))

    cflags = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-fvisibility=hidden"]
    ldflags: list[str] = []
    if os.environ.get("UA_SANITIZE") == "address":
        cflags += ["-fsanitize=address", "-fno-omit-frame-pointer", "-O1"]
        ldflags += ["-fsanitize=address"]
    if os.environ.get("UA_DEBUG_COUNTERS", "1") == "1":
        cflags.append("-DUA_DEBUG_COUNTERS=1")

    ffi.set_source(
        "uringasgi._core",
        "\n".join(includes),
        # setuptools wants paths relative to the project; cffi's own compile() runs in its tmpdir.
        sources=[str(p if absolute else p.relative_to(PKG.parent)) for p in _sources()],
        include_dirs=[str(PKG)],
        extra_compile_args=cflags + _pkg_config("--cflags", *LIBS),
        extra_link_args=ldflags + _pkg_config("--libs", *LIBS),
        # protocol/asgi.c uses the full C API (macros, PyTuple_SET_ITEM...), so the module is built for
        # this interpreter, never as abi3: pip's build and the in-place one make the same module.
        py_limited_api=False,
    )
    return ffi


ffibuilder = make_ffi()


def build_in_place() -> pathlib.Path:
    """Compile into build/cffi and copy the module next to this file."""
    tmp = PKG.parent / "build" / "cffi"
    out = pathlib.Path(make_ffi(absolute=True).compile(tmpdir=str(tmp), verbose=False))
    dest = PKG / out.name
    for stale in PKG.glob("_core.*.so"):  # pip names it abi3, compile() by interpreter: keep one
        if stale.name != dest.name:
            stale.unlink()
    tmp_dest = dest.with_suffix(".tmp")
    shutil.copy2(out, tmp_dest)
    os.replace(tmp_dest, dest)  # atomic: a running server keeps its mapped copy
    return dest


if __name__ == "__main__":
    print(build_in_place(), file=sys.stderr)
