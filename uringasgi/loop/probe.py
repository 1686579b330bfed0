"""Python face of the kernel probe in probe.c."""

from __future__ import annotations

from dataclasses import dataclass, fields

from uringasgi._core import ffi, lib


@dataclass(frozen=True)
class KernelInfo:
    kernel: str
    io_uring: bool
    single_issuer: bool
    defer_taskrun: bool
    multishot_accept: bool
    multishot_recv: bool
    buf_ring: bool
    send_zc: bool
    ktls: bool

    def lines(self) -> list[str]:
        out = [f"kernel: {self.kernel}"]
        for f in fields(self)[1:]:
            out.append(f"{f.name}: {'yes' if getattr(self, f.name) else 'no'}")
        return out


def probe() -> KernelInfo:
    res = ffi.new("struct ua_probe_result *")
    lib.ua_probe(res)
    return KernelInfo(
        kernel=ffi.string(res.kernel).decode(),
        **{f.name: bool(getattr(res, f.name)) for f in fields(KernelInfo)[1:]},
    )
