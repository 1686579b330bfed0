"""The io_uring engine and the asyncio event loop on top of it."""

from uringasgi.loop.probe import KernelInfo, probe

__all__ = ["KernelInfo", "probe"]
