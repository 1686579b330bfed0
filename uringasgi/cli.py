"""Command line: flags -> Config -> supervisor or a single worker. Nothing else lives here.

Every uvicorn flag is accepted with uvicorn's meaning and default. Each can also come from the environment
as URINGASGI_<FLAG> or, so existing deployments move unchanged, UVICORN_<FLAG>. A flag whose feature is not
built yet stops the server with a line naming it, never silently.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from uringasgi import __version__
from uringasgi.config import FORWARDED_STYLES, HTTP, INTERFACES, LIFESPAN, LOG_LEVELS, LOOPS, ConfigError
from uringasgi.supervisor import main as supervise

# Flags accepted for compatibility whose feature does not exist yet: given explicitly, they stop the server.
NOT_BUILT = {
    "ws": "WebSocket support",
    "ws_max_size": "WebSocket support",
    "ws_max_queue": "WebSocket support",
    "ws_ping_interval": "WebSocket support",
    "ws_ping_timeout": "WebSocket support",
    "ws_per_message_deflate": "WebSocket support",
    "ssl_keyfile": "TLS",
    "ssl_certfile": "TLS",
    "ssl_keyfile_password": "TLS",
    "ssl_version": "TLS",
    "ssl_cert_reqs": "TLS",
    "ssl_ca_certs": "TLS",
    "ssl_ciphers": "TLS",
}


def _env(name: str) -> list[str]:
    key = name.upper().replace("-", "_")
    return [f"URINGASGI_{key}", f"UVICORN_{key}"]


def option(*decls: str, **kw: Any) -> Callable[[Any], Any]:
    """click.option with both environment prefixes, shown in --help with the default."""
    long = next(d for d in decls if d.startswith("--")).split("/")[0][2:]
    kw.setdefault("envvar", _env(long))
    kw.setdefault("show_envvar", True)
    kw.setdefault("show_default", True)
    return click.option(*decls, **kw)


def _print_kernel_info(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from uringasgi.loop import probe

    for line in probe().lines():
        click.echo(line)
    ctx.exit(0)


def _split_header(value: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for item in value:
        name, sep, val = item.partition(":")
        if not sep:
            raise click.BadParameter(f"{item!r} is not NAME:VALUE", param_hint="--header")
        out.append((name.strip(), val.strip()))
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.argument("app", envvar=["URINGASGI_APP", "UVICORN_APP"], required=True)
@option("--host", default="127.0.0.1", help="Bind socket to this host.")
@option("--port", type=int, default=8000, help="Bind socket to this port. 0 picks a free one.")
@option("--uds", default=None, help="Bind to a UNIX domain socket.")
@option("--fd", type=int, default=None, help="Bind to socket from this file descriptor.")
@option("--reload", is_flag=True, default=False, help="Restart the server when files change.")
@option("--reload-dir", "reload_dirs", multiple=True, help="Directories to watch (default: the current one).")
@option("--reload-include", "reload_includes", multiple=True, help="Glob patterns to watch (default *.py).")
@option("--reload-exclude", "reload_excludes", multiple=True, help="Glob patterns to ignore.")
@option("--reload-delay", type=float, default=0.25, help="Seconds between checks for changes.")
@option(
    "--workers",
    default=None,
    help="Worker processes, or 'auto' for one per CPU in the affinity mask. Default: $WEB_CONCURRENCY or 1.",
)
@option("--pin/--no-pin", default=True, help="Pin each worker to its own CPU (with --workers auto).")
@option("--loop", type=click.Choice(LOOPS), default="auto", help="Event loop: auto and uring use io_uring.")
@option("--http", type=click.Choice(HTTP), default="auto", help="HTTP implementation (the C parser always).")
@option(
    "--ws", type=click.Choice(["auto", "none", "websockets", "wsproto"]), default="auto", help="WebSocket."
)
@option("--ws-max-size", type=int, default=16777216, help="WebSocket max message size in bytes.")
@option("--ws-max-queue", type=int, default=32, help="WebSocket max incoming message queue.")
@option("--ws-ping-interval", type=float, default=20.0, help="WebSocket ping interval in seconds.")
@option("--ws-ping-timeout", type=float, default=20.0, help="WebSocket ping timeout in seconds.")
@option("--ws-per-message-deflate", type=bool, default=True, help="WebSocket per-message-deflate.")
@option("--lifespan", type=click.Choice(LIFESPAN), default="auto", help="Lifespan implementation.")
@option("--interface", type=click.Choice(INTERFACES), default="auto", help="Application interface.")
@option("--env-file", type=click.Path(exists=True), default=None, help="Environment configuration file.")
@option(
    "--log-config", type=click.Path(exists=True), default=None, help="Logging config: .json, .yaml or .ini."
)
@option("--log-level", type=click.Choice(LOG_LEVELS), default=None, help="Log level. [default: info]")
@option("--access-log/--no-access-log", default=True, help="Enable or disable the access log.")
@option(
    "--access-log-format", default=None, help="Access log format with named atoms, e.g. '%(h)s %(r)s %(s)s'."
)
@option("--use-colors/--no-use-colors", default=None, help="Colored log levels (default: if a terminal).")
@option(
    "--proxy-headers/--no-proxy-headers",
    default=True,
    help="Take the client and scheme from the proxy headers of --forwarded-allow-ips peers.",
)
@option(
    "--forwarded-style",
    type=click.Choice(FORWARDED_STYLES),
    default="x-forwarded",
    help="The proxy headers read: X-Forwarded-For/-Proto, or Forwarded (RFC 7239); the other kind is "
    "ignored, as the proxy passes a client's own through. [default: x-forwarded]",
)
@option("--server-header/--no-server-header", default=True, help="Send the server header.")
@option("--date-header/--no-date-header", default=True, help="Send the date header.")
@option(
    "--forwarded-allow-ips",
    default=None,
    envvar=["FORWARDED_ALLOW_IPS", "URINGASGI_FORWARDED_ALLOW_IPS", "UVICORN_FORWARDED_ALLOW_IPS"],
    help="Comma separated IPs, CIDRs or '*' to trust with proxy headers. [default: 127.0.0.1,::1]",
)
@option("--root-path", default="", help="The ASGI root_path for apps mounted below a URL path.")
@option("--limit-concurrency", type=int, default=None, help="Requests at once before 503 responses.")
@option("--backlog", type=int, default=2048, help="Maximum number of connections waiting to be accepted.")
@option(
    "--limit-max-requests", type=int, default=None, help="Requests a worker serves before it is replaced."
)
@option("--limit-max-requests-jitter", type=int, default=0, help="Random extra requests, so workers differ.")
@option("--max-body-size", type=int, default=None, help="Largest request body in bytes; more gets 413.")
@option("--limit-header-bytes", type=int, default=16384, help="Largest request head in bytes; more gets 431.")
@option("--limit-header-count", type=int, default=64, help="Most request headers (up to 64); more gets 431.")
@option("--timeout-keep-alive", type=float, default=5, help="Close idle keep-alive connections after this.")
@option("--timeout-header-read", type=float, default=10, help="Seconds to receive a whole request head.")
@option("--timeout-graceful-shutdown", type=float, default=None, help="Seconds to wait for requests at exit.")
@option(
    "--timeout-worker-healthcheck", type=float, default=5, help="Seconds before a silent worker is replaced."
)
@option("--ssl-keyfile", default=None, help="SSL key file.")
@option("--ssl-certfile", default=None, help="SSL certificate file.")
@option("--ssl-keyfile-password", default=None, help="SSL keyfile password.")
@option("--ssl-version", type=int, default=None, help="SSL version to use.")
@option("--ssl-cert-reqs", type=int, default=None, help="Whether client certificate is required.")
@option("--ssl-ca-certs", default=None, help="CA certificates file.")
@option("--ssl-ciphers", default=None, help="Ciphers to use.")
@option("--header", "headers", multiple=True, help="Extra response header NAME:VALUE (repeatable).")
@option("--app-dir", default=".", help="Look for APP in this directory, put first on sys.path.")
@option(
    "--h11-max-incomplete-event-size",
    type=int,
    default=None,
    help="Largest request head, as --limit-header-bytes.",
)
@option(
    "--reset-contextvars/--no-reset-contextvars",
    default=False,
    help="Each request starts from an empty context.",
)
@option("--factory", is_flag=True, default=False, help="APP is a callable that returns the application.")
@option("--pid-file", default=None, help="Write the supervisor's process id to this file.")
@option("--static", "static", multiple=True, help="Serve files from C: /PREFIX=DIRECTORY (repeatable).")
@option("--static-index", default=None, help="The file a static directory serves, e.g. index.html.")
@option("--static-max-age", type=int, default=None, help="Cache-Control max-age, seconds, for static files.")
@option("--static-fallthrough", is_flag=True, default=False, help="A static miss goes to the app, not 404.")
@option("--static-dotfiles", is_flag=True, default=False, help="Serve files whose names start with '.'.")
@option(
    "--static-compress",
    is_flag=True,
    default=False,
    help="Brotli on the fly for static text types of 1 KiB to 1 MiB (larger: `uringasgi compress DIR`).",
)
@click.version_option(__version__, "--version", prog_name="uringasgi")
@click.option(
    "--kernel-info",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_kernel_info,
    help="Print the io_uring and kernel TLS features this kernel offers, then exit.",
)
@click.pass_context
def main(ctx: click.Context, /, app: str, **kw: Any) -> None:
    """Run the ASGI application APP ("module:attribute") with uringasgi."""
    for name, feature in NOT_BUILT.items():
        if name == "ws" and ctx.params["ws"] in ("auto", "none"):
            continue  # asks for no WebSocket implementation: what there is
        if ctx.get_parameter_source(name) not in (click.core.ParameterSource.DEFAULT, None):
            raise click.UsageError(f"--{name.replace('_', '-')}: {feature} is not built yet in uringasgi")
    if kw.pop("env_file") is not None:
        _load_env_file(ctx.params["env_file"])
    for name in NOT_BUILT:
        kw.pop(name)
    kw["headers"] = _split_header(kw["headers"])
    kw["static"] = list(kw["static"])
    kw["reload_dirs"] = list(kw["reload_dirs"])
    kw["reload_includes"] = list(kw["reload_includes"])
    kw["reload_excludes"] = list(kw["reload_excludes"])
    incomplete = kw.pop("h11_max_incomplete_event_size")
    if incomplete is not None:
        if incomplete > 65535:  # said here: Config would name the flag it becomes, which was not given
            raise click.UsageError("--h11-max-incomplete-event-size: at most 65535 (header spans are 16-bit)")
        kw["limit_header_bytes"] = incomplete
    try:
        code = supervise(app, **kw)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(code)


def _load_env_file(path: str) -> None:
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


@click.command(name="compress")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--min-size", type=int, default=256, show_default=True, help="Smaller files are left alone.")
def compress(directory: str, min_size: int) -> None:
    """Write .br (brotli, quality 11) and .gz siblings of every compressible file under DIRECTORY."""
    from uringasgi.static.compress import compress_tree, summary

    click.echo(summary(compress_tree(directory, min_size=min_size)))


def entry() -> None:
    """The console script: `uringasgi compress DIR`, or `uringasgi APP [flags]` (an APP has a colon)."""
    if len(sys.argv) > 1 and sys.argv[1] == "compress":
        compress(sys.argv[2:], prog_name="uringasgi compress")
    main()


__all__ = ["compress", "entry", "main"]
