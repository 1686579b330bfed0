"""`python -m uringasgi APP [flags]`: the `uringasgi` command, as `python -m uvicorn` is uvicorn's."""

from uringasgi.cli import entry

entry()
