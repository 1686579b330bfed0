"""`uringasgi --kernel-info` against what the kernel can be shown to do from Python, independently of C."""

from __future__ import annotations

import os
import pathlib
import platform
import socket
import subprocess
import sys

TCP_ULP = 31


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "uringasgi")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=30)


def parse(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


def kernel_has_tls_ulp() -> bool:
    """Attach the `tls` ULP to a real loopback connection, as the kernel TLS path would."""
    with socket.create_server(("127.0.0.1", 0)) as srv, socket.create_connection(srv.getsockname()) as c:
        try:
            c.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
        except OSError:
            return False
        return True


def kernel_version() -> tuple[int, int]:
    major, minor = platform.release().split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()))


def test_kernel_info_matches_this_kernel() -> None:
    res = cli("--kernel-info")
    assert res.returncode == 0, res.stderr
    info = parse(res.stdout)
    assert info["kernel"] == platform.release()
    assert set(info) == {
        "kernel", "io_uring", "single_issuer", "defer_taskrun", "multishot_accept",
        "multishot_recv", "buf_ring", "send_zc", "ktls",
    }  # fmt: skip
    assert info["ktls"] == ("yes" if kernel_has_tls_ulp() else "no")
    sysctl = pathlib.Path("/proc/sys/kernel/io_uring_disabled")
    io_uring_off = sysctl.exists() and sysctl.read_text().strip() not in ("0", "")
    if io_uring_off:
        assert info["io_uring"] == "no"
        return
    # Where io_uring is on, each feature is there from the kernel release that added it.
    since = {
        "io_uring": (5, 1),
        "multishot_accept": (5, 19),
        "buf_ring": (5, 19),
        "multishot_recv": (6, 0),
        "send_zc": (6, 0),
        "single_issuer": (6, 0),
        "defer_taskrun": (6, 1),
    }
    for feature, release in since.items():
        expected = "yes" if kernel_version() >= release else "no"
        assert info[feature] == expected, (feature, info)


def test_version_flag() -> None:
    from uringasgi import __version__

    res = cli("--version")
    assert res.returncode == 0
    assert __version__ in res.stdout
