"""protocol/asgi.c called directly: what it refuses, and a batch with nothing in it.

What it builds is checked through real servers in tests/integration/test_scope_c.py.
"""

from __future__ import annotations

import pytest

from uringasgi import _core
from uringasgi.protocol import asgi as _asgi  # sets up _core.asgi

assert _asgi.Dispatcher


def test_the_c_functions_refuse_wrong_arguments() -> None:
    asgi = _core.asgi
    with pytest.raises(TypeError):
        asgi.context([], "http", "", "not bytes", {}, {}, {})
    with pytest.raises(TypeError):
        asgi.batch((1, 2), 0, 0)
    ctx = asgi.context([], "http", "", b"", {}, {}, {"version": "3.0"})
    assert asgi.batch(ctx, 0, 0) == []
    with pytest.raises(ValueError):
        asgi.respond(0, 1, 200, [], b"", 0)
    with pytest.raises(TypeError):
        asgi.respond(0, 1, 200, [], b"")
