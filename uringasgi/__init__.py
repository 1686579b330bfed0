"""uringasgi: an io_uring ASGI server with a C core."""

from typing import Any

from uringasgi.config import Config

__version__ = "0.1.0"


def run(app: Any, **options: Any) -> int:
    """Serve `app` (an ASGI app or a "module:attribute" string) with uvicorn.run()'s options; returns the exit
    status. As uvicorn.run(): stopped by SIGINT (Ctrl-C) it returns 0 once drained, so the caller's code after
    it runs; stopped by SIGTERM it does not return, the process ends by that signal once drained."""
    import signal

    from uringasgi.supervisor import end_by_signal, serve

    code, sig = serve(app, **options)
    if sig == signal.SIGTERM:
        end_by_signal(sig)
    return code


__all__ = ["Config", "__version__", "run"]
