"""Libraries written for uvicorn that learn of its shutdown from uvicorn itself, told the same by uringasgi.

sse-starlette ends its event streams when the server stops, so that a drain does not wait out the whole
graceful timeout for streams that never end by themselves. It learns of the stop by patching uvicorn's
Server.handle_exit, or by finding uvicorn's Server behind the SIGTERM handler; neither finds uringasgi. Its
public switch is AppStatus.should_exit, the flag its documentation asks an application to set itself when
the automatic drain is turned off: set here, as its uvicorn patch would set it.
"""

from __future__ import annotations

import sys


def announce_shutdown() -> None:
    """Tell the libraries that are loaded that the server has begun to drain."""
    status = getattr(sys.modules.get("sse_starlette.sse"), "AppStatus", None)
    if status is not None and getattr(status, "enable_automatic_graceful_drain", True):
        status.should_exit = True
