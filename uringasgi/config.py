"""Config: every setting of a server, validated once, with uvicorn's names and defaults.

No sockets and no C here: the supervisor binds, the worker builds its ring. Anything that can be resolved
once (paths, the app string, forwarded-allow-ips networks, rendered extra headers) is resolved here.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

LIFESPAN = ("auto", "on", "off")
LOOPS = ("auto", "uring", "asyncio", "uvloop", "none")
HTTP = ("auto", "uring", "h11", "httptools")
INTERFACES = ("auto", "asgi3", "asgi2", "wsgi")
# The proxy headers a trusted peer's are read from: one kind only, as a proxy that sets one passes a
# client's own headers of the other kind through.
FORWARDED_STYLES = ("x-forwarded", "forwarded")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class ConfigError(ValueError):
    """A setting a user gave is wrong; the message names it and says why, in one line."""


class AppImportError(ConfigError):
    """The APP string names a module or attribute that cannot be imported."""


@dataclass
class Config:
    app: Any = None
    host: str = "127.0.0.1"
    port: int = 8000
    uds: str | None = None
    fd: int | None = None
    loop: str = "auto"
    http: str = "auto"
    lifespan: str = "auto"
    interface: str = "auto"
    factory: bool = False
    app_dir: str | None = "."
    root_path: str = ""
    workers: int = 1
    pin: bool = True
    backlog: int = 2048
    # uvicorn: --proxy-headers is on by default, and trusts only FORWARDED_ALLOW_IPS or 127.0.0.1.
    proxy_headers: bool = True
    forwarded_allow_ips: list[str] | str | None = None
    forwarded_style: str = "x-forwarded"
    server_header: bool = True
    date_header: bool = True
    headers: list[tuple[str, str]] = field(default_factory=list)
    access_log: bool = True
    access_log_format: str | None = None
    log_level: str | None = None
    log_config: dict[str, Any] | str | None = None
    use_colors: bool | None = None
    limit_concurrency: int | None = None
    limit_max_requests: int | None = None
    limit_max_requests_jitter: int = 0
    max_body_size: int | None = None
    limit_header_bytes: int = 16384
    limit_header_count: int = 64
    limit_target_bytes: int = 8192
    timeout_keep_alive: float = 5.0
    timeout_header_read: float = 10.0
    timeout_write: float = 60.0
    timeout_graceful_shutdown: float | None = None
    timeout_worker_healthcheck: float = 5.0
    h11_max_incomplete_event_size: int | None = None
    reset_contextvars: bool = False
    env_file: str | None = None
    # Static mounts served in C: "/prefix=DIR" each (see uringasgi/static).
    static: list[str] = field(default_factory=list)
    static_index: str | None = None
    static_max_age: int | None = None
    static_fallthrough: bool = False
    static_dotfiles: bool = False
    static_compress: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for name, allowed in (
            ("lifespan", LIFESPAN),
            ("loop", LOOPS),
            ("http", HTTP),
            ("interface", INTERFACES),
            ("forwarded_style", FORWARDED_STYLES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"--{name}: {value!r} is not one of {', '.join(allowed)}")
        if self.log_level is not None and self.log_level not in LOG_LEVELS:
            raise ConfigError(f"--log-level: {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port: {self.port} is not a TCP port")
        positive = (
            "workers",
            "backlog",
            "limit_header_bytes",
            "limit_header_count",
            "limit_target_bytes",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')}: must be at least 1")
        if self.limit_header_count > 64:
            raise ConfigError("--limit-header-count: at most 64 (the parser's fixed header table)")
        if self.limit_header_bytes > 65535:
            raise ConfigError("--limit-header-bytes: at most 65535 (header spans are 16-bit)")
        for name in ("limit_concurrency", "limit_max_requests", "max_body_size", "timeout_keep_alive"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"--{name.replace('_', '-')}: must not be negative")
        if self.root_path.endswith("/"):
            self.root_path = self.root_path.rstrip("/")
        self.trusted = TrustedHosts(self.forwarded_allow_ips)

    @property
    def lifespan_mode(self) -> Literal["auto", "on", "off"]:
        return self.lifespan  # type: ignore[return-value]

    def rendered_headers(self) -> bytes:
        """--header NAME:VALUE lines, rendered once for every response."""
        out = []
        for name, value in self.headers:
            if not name or any(c in name + value for c in "\r\n\0"):
                raise ConfigError(f"--header: {name!r}:{value!r} is not a valid header")
            out.append(f"{name.lower()}: {value}\r\n")
        return "".join(out).encode("latin-1")

    def load_app(self) -> tuple[Any, str, bool]:
        """The ASGI 3 callable the worker runs (imported, built by the factory, adapted by interface), the
        ASGI version its scopes say ("2.0" for an ASGI 2 app, which the adapter makes callable as 3), and
        whether APP was a factory given without --factory (the caller warns, as uvicorn does)."""
        if self.app_dir is not None:
            path = os.path.abspath(self.app_dir)
            if path not in sys.path:
                sys.path.insert(0, path)
        app = import_from_string(self.app) if isinstance(self.app, str) else self.app
        if not callable(app):
            raise AppImportError(f"{'--factory: ' if self.factory else ''}{self.app!r} is not callable")
        # As uvicorn: the app is called with no arguments, and what accepts that is a factory, --factory or
        # not (an ASGI or WSGI app needs its arguments: the TypeError says it is not one).
        detected = False
        try:
            made = app()
        except TypeError as exc:
            if self.factory:
                raise AppImportError(f"Error loading ASGI app factory: {exc}") from None
        else:
            detected = not self.factory
            app = made
        interface = resolve_interface(app, self.interface)
        return adapt_interface(app, interface), "2.0" if interface == "asgi2" else "3.0", detected


def import_from_string(target: str) -> Any:
    module_name, _, attrs = target.partition(":")
    if not module_name or not attrs:
        raise AppImportError(f'APP must look like "module:attribute", not {target!r}')
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the app's own import failed: show the real traceback
        raise AppImportError(f'could not import module "{module_name}"') from None
    obj: Any = module
    for attr in attrs.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise AppImportError(f'attribute "{attrs}" not found in module "{module_name}"') from None
    return obj


def resolve_interface(app: Any, interface: str) -> str:
    """--interface, with "auto" told from the app's shape as uvicorn tells it."""
    if interface != "auto":
        return interface
    if inspect.isclass(app):
        return "asgi3" if hasattr(app, "__await__") else "asgi2"
    if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(getattr(app, "__call__", None)):  # noqa: B004
        return "asgi3"
    params = inspect.signature(app).parameters if callable(app) else {}
    return "asgi2" if len(params) == 1 else "asgi3"


def adapt_interface(app: Any, interface: str) -> Callable[..., Any]:
    """The app as an ASGI 3 callable, for a resolved interface (asgi3, asgi2 or wsgi)."""
    if interface == "asgi3":
        return app  # type: ignore[no-any-return]
    if interface == "asgi2":
        from asgiref.compatibility import guarantee_single_callable

        return guarantee_single_callable(app)  # type: ignore[no-untyped-call,no-any-return]
    return _wsgi_to_asgi(app)


def _wsgi_to_asgi(wsgi: Any) -> Callable[..., Any]:
    """asgiref's WSGI adapter, with the WSGI calls in a pool of 10 threads as uvicorn's WSGI middleware has:
    asgiref's own runs every call in one thread (sync_to_async's thread_sensitive), one request at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import sync_to_async
    from asgiref.wsgi import WsgiToAsgiInstance

    pool = ThreadPoolExecutor(max_workers=10, thread_name_prefix="WSGI")

    run = WsgiToAsgiInstance.__dict__["run_wsgi_app"].func  # the method under asgiref's sync_to_async

    class Instance(WsgiToAsgiInstance):
        run_wsgi_app = sync_to_async(run, thread_sensitive=False, executor=pool)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await Instance(wsgi, 100)(scope, receive, send)  # type: ignore[no-untyped-call]

    return app


class TrustedHosts:
    """--forwarded-allow-ips: addresses, CIDR networks, or "*"; uvicorn's default is 127.0.0.1 and ::1."""

    def __init__(self, spec: list[str] | str | None) -> None:
        if spec is None:
            spec = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
        self.any = "*" in items
        self.hosts: set[str] = set()
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in items:
            if not item or item == "*":
                continue
            try:
                if "/" in item:
                    self.networks.append(ipaddress.ip_network(item, strict=False))
                else:
                    self.hosts.add(str(ipaddress.ip_address(item)))
            except ValueError:
                self.hosts.add(item)  # a literal like "unix:" or a name, matched as given

    def __contains__(self, host: str | None) -> bool:
        if self.any:
            return True
        if host is None:
            return False
        if host in self.hosts:
            return True
        if not self.networks:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)
