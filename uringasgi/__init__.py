"""uringasgi: an io_uring ASGI server with a C core."""

from typing import Any

from uringasgi.config import Config

__version__ = "0.1.0"


def run(app: Any, **options: Any) -> int:
    """Serve `app` (an ASGI app or a "module:attribute" string) with uvicorn.run()'s options; returns the exit
    status. Stopped by SIGINT or SIGTERM it does not return: once drained, the process ends by that signal."""
    from uringasgi.supervisor import main

    return main(app, **options)


__all__ = ["Config", "__version__", "run"]
