"""`uringasgi compress DIR`: write .br (brotli, quality 11) and .gz (gzip, level 9) siblings ahead of time.

A static mount then sends the sibling to a client that accepts it, with no compression at request time.
Only types the MIME table calls compressible are compressed (the same table static.c serves with), a
sibling is kept only if it is smaller than its file, and one that is already newer than its file is left
alone, so running it again after a deploy only redoes what changed. Siblings are written to a temporary
name and renamed into place, so a running server never sees half of one.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field

import brotli

from uringasgi._core import lib

SUFFIXES = (".br", ".gz")


@dataclass
class CompressReport:
    files: int = 0  # compressible files looked at
    written: list[str] = field(default_factory=list)  # siblings written
    fresh: int = 0  # siblings already made from the file as it is (they carry its mtime)
    not_smaller: int = 0  # siblings not written because they saved nothing
    bytes_in: int = 0
    bytes_out: int = 0


def compressible(name: str) -> bool:
    raw = name.encode("utf-8", "surrogateescape")
    return bool(lib.ua_static_compressible(raw, len(raw)))


def _encode(kind: str, data: bytes, mtime: float) -> bytes:
    if kind == ".br":
        out: bytes = brotli.compress(data, quality=11)
        return out
    # mtime in the gzip header is the file's, so the output is the same on every run.
    return gzip.compress(data, compresslevel=9, mtime=int(mtime))


def _write_atomic(path: str, data: bytes, mtime_ns: int) -> None:
    tmp = f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def compress_tree(directory: str, min_size: int = 256) -> CompressReport:
    """Compress every compressible file of at least min_size bytes beneath directory."""
    if not os.path.isdir(directory):
        raise NotADirectoryError(directory)
    report = CompressReport()
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if name.endswith(SUFFIXES) or name.startswith(".") or not compressible(name):
                continue
            st = os.stat(path, follow_symlinks=False)
            if not os.path.isfile(path) or os.path.islink(path) or st.st_size < min_size:
                continue
            report.files += 1
            data: bytes | None = None
            for kind in SUFFIXES:
                sib = path + kind
                # A sibling this wrote has its file's mtime: any other (the file rolled back to an older
                # version with its mtime, by cp -p, rsync -a or tar) is stale, and so rewritten.
                if os.path.exists(sib) and os.stat(sib).st_mtime_ns == st.st_mtime_ns:
                    report.fresh += 1
                    continue
                if data is None:
                    with open(path, "rb") as f:
                        data = f.read()
                packed = _encode(kind, data, st.st_mtime)
                if len(packed) >= len(data):
                    report.not_smaller += 1
                    continue
                _write_atomic(sib, packed, st.st_mtime_ns)
                report.written.append(sib)
                report.bytes_in += len(data)
                report.bytes_out += len(packed)
    return report


def summary(report: CompressReport) -> str:
    saved = report.bytes_in - report.bytes_out
    return (
        f"{report.files} compressible files, {len(report.written)} siblings written "
        f"({report.bytes_in} -> {report.bytes_out} bytes, {saved} saved), {report.fresh} already fresh, "
        f"{report.not_smaller} not smaller"
    )
