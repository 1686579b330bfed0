"""The io_uring engine and the asyncio event loop on top of it."""

from uringasgi.loop.eventloop import (
    DEFAULT_CAPACITY,
    LOOP_RING_CONFIG,
    RingAttachment,
    RingDriver,
    RingSelector,
    UringEventLoop,
    UringEventLoopPolicy,
    drive_ring,
    install,
    loop_factory,
    new_event_loop,
    new_ring,
)
from uringasgi.loop.probe import KernelInfo, probe

__all__ = [
    "DEFAULT_CAPACITY",
    "LOOP_RING_CONFIG",
    "KernelInfo",
    "RingAttachment",
    "RingDriver",
    "RingSelector",
    "UringEventLoop",
    "UringEventLoopPolicy",
    "drive_ring",
    "install",
    "loop_factory",
    "new_event_loop",
    "new_ring",
    "probe",
]
