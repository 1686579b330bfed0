"""uringasgi: an io_uring ASGI server with a C core."""

__version__ = "0.1.0"

__all__ = ["__version__"]
