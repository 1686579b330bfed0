"""The flag table: every uvicorn flag parses, lands in Config with uvicorn's meaning, or says it is not built.

No server starts here (the integration tests show each flag's effect on a live server); the supervisor's
entry is replaced by a recorder so what the command line produced can be compared with what was typed.
"""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from uringasgi import cli
from uringasgi.config import Config
from uringasgi.supervisor import SUPERVISOR_ONLY


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Any:
    seen: dict[str, Any] = {}

    def record(app: Any, **kw: Any) -> int:
        seen.clear()
        seen.update(kw, app=app)
        return 0

    monkeypatch.setattr(cli, "supervise", record)

    def run(*argv: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], Config]:
        res = CliRunner().invoke(cli.main, ["app:app", *argv], env=env or {}, catch_exceptions=False)
        assert res.exit_code == 0, res.output
        kw = {k: v for k, v in seen.items() if k not in SUPERVISOR_ONLY}
        return seen, Config(**kw)

    return run


FLAGS: list[tuple[list[str], str, Any]] = [
    (["--host", "0.0.0.0"], "host", "0.0.0.0"),
    (["--port", "9001"], "port", 9001),
    (["--uds", "/tmp/x.sock"], "uds", "/tmp/x.sock"),
    (["--fd", "3"], "fd", 3),
    (["--loop", "asyncio"], "loop", "asyncio"),
    (["--loop", "uvloop"], "loop", "uvloop"),
    (["--http", "httptools"], "http", "httptools"),
    (["--lifespan", "off"], "lifespan", "off"),
    (["--interface", "wsgi"], "interface", "wsgi"),
    (["--log-level", "debug"], "log_level", "debug"),
    (["--no-access-log"], "access_log", False),
    (["--use-colors"], "use_colors", True),
    (["--no-proxy-headers"], "proxy_headers", False),
    (["--no-server-header"], "server_header", False),
    (["--no-date-header"], "date_header", False),
    (["--forwarded-allow-ips", "10.0.0.0/8,*"], "forwarded_allow_ips", "10.0.0.0/8,*"),
    (["--forwarded-style", "forwarded"], "forwarded_style", "forwarded"),
    (["--root-path", "/api"], "root_path", "/api"),
    (["--limit-concurrency", "10"], "limit_concurrency", 10),
    (["--backlog", "128"], "backlog", 128),
    (["--limit-max-requests", "100"], "limit_max_requests", 100),
    (["--limit-max-requests-jitter", "7"], "limit_max_requests_jitter", 7),
    (["--timeout-keep-alive", "9"], "timeout_keep_alive", 9.0),
    (["--timeout-graceful-shutdown", "3"], "timeout_graceful_shutdown", 3.0),
    (["--timeout-worker-healthcheck", "8"], "timeout_worker_healthcheck", 8.0),
    (["--header", "X-A:1", "--header", "X-B: 2"], "headers", [("X-A", "1"), ("X-B", "2")]),
    (["--app-dir", "src"], "app_dir", "src"),
    (["--h11-max-incomplete-event-size", "4096"], "limit_header_bytes", 4096),
    (["--reset-contextvars"], "reset_contextvars", True),
    (["--factory"], "factory", True),
    (["--max-body-size", "1000"], "max_body_size", 1000),
    (["--access-log-format", "%(h)s %(s)s"], "access_log_format", "%(h)s %(s)s"),
]


@pytest.mark.parametrize(("argv", "field", "value"), FLAGS, ids=[f[0][0] for f in FLAGS])
def test_flag_lands_in_config(parsed: Any, argv: list[str], field: str, value: Any) -> None:
    _, config = parsed(*argv)
    assert getattr(config, field) == value


def test_defaults_are_uvicorns(parsed: Any) -> None:
    kw, config = parsed()
    assert (config.host, config.port, config.backlog) == ("127.0.0.1", 8000, 2048)
    assert config.timeout_keep_alive == 5
    assert config.proxy_headers and config.server_header and config.date_header and config.access_log
    assert config.lifespan == "auto" and config.loop == "auto" and config.root_path == ""
    assert kw["workers"] is None and kw["reload"] is False


SUPERVISOR_FLAGS = [
    (["--workers", "4"], "workers", "4"),
    (["--workers", "auto"], "workers", "auto"),
    (["--no-pin"], "pin", False),
    (["--reload"], "reload", True),
    (["--reload-dir", "a", "--reload-dir", "b"], "reload_dirs", ["a", "b"]),
    (["--reload-include", "*.html"], "reload_includes", ["*.html"]),
    (["--reload-exclude", "*.tmp"], "reload_excludes", ["*.tmp"]),
    (["--reload-delay", "1.5"], "reload_delay", 1.5),
    (["--pid-file", "x.pid"], "pid_file", "x.pid"),
]


@pytest.mark.parametrize(("argv", "key", "value"), SUPERVISOR_FLAGS, ids=[f[0][0] for f in SUPERVISOR_FLAGS])
def test_supervisor_flags(parsed: Any, argv: list[str], key: str, value: Any) -> None:
    kw, _ = parsed(*argv)
    assert kw[key] == value


def test_environment_both_prefixes(parsed: Any) -> None:
    _, config = parsed(env={"URINGASGI_PORT": "7001"})
    assert config.port == 7001
    _, config = parsed(env={"UVICORN_PORT": "7002", "UVICORN_ROOT_PATH": "/x"})
    assert (config.port, config.root_path) == (7002, "/x")
    kw, _ = parsed(env={"UVICORN_WORKERS": "3"})
    assert kw["workers"] == "3"
    _, config = parsed(env={"FORWARDED_ALLOW_IPS": "192.0.2.1"})
    assert "192.0.2.1" in config.trusted and "127.0.0.1" not in config.trusted


def test_flag_beats_environment(parsed: Any) -> None:
    _, config = parsed("--port", "7003", env={"URINGASGI_PORT": "7001"})
    assert config.port == 7003


@pytest.mark.parametrize(
    "argv",
    [
        ["--ws", "websockets"],
        ["--ssl-keyfile", "k.pem"],
        ["--ssl-certfile", "c.pem"],
        ["--ws-max-size", "10"],
    ],
)
def test_unbuilt_features_fail_loudly(argv: list[str]) -> None:
    res = CliRunner().invoke(cli.main, ["app:app", *argv])
    assert res.exit_code == 2
    assert "is not built yet" in res.output
    assert argv[0] in res.output


@pytest.mark.parametrize("argv", [["--ws", "none"], ["--ws", "auto"]])
def test_ws_none_and_auto_ask_for_nothing_unbuilt(parsed: Any, argv: list[str]) -> None:
    kw, _ = parsed(*argv)
    assert kw["app"] == "app:app"
    _, _ = parsed(env={"UVICORN_WS": argv[1]})


def test_proxy_headers_are_trusted_from_both_loopbacks_by_default() -> None:
    t = Config().trusted
    assert "127.0.0.1" in t and "::1" in t and "192.0.2.1" not in t


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--access-log-format", "%(x)s %(s)s"], "--access-log-format: unknown atom(s) x"),
        (["--access-log-format", "100% %(s)s"], "a literal % is written %%"),
        (["--h11-max-incomplete-event-size", "1048576"], "--h11-max-incomplete-event-size: at most 65535"),
    ],
)
def test_a_bad_format_or_size_stops_before_anything_starts(argv: list[str], said: str) -> None:
    """One line and status 2, naming the flag given, before the app is imported or lifespan runs."""
    res = CliRunner().invoke(cli.main, ["no_such_module:app", *argv])
    assert res.exit_code == 2 and said in res.output, res.output


def test_a_negative_keep_alive_is_one_clear_line() -> None:
    res = CliRunner().invoke(cli.main, ["app:app", "--timeout-keep-alive", "-1"])
    assert res.exit_code == 2 and "--timeout-keep-alive: must not be negative" in res.output


def test_bad_values_get_one_clear_line() -> None:
    res = CliRunner().invoke(cli.main, ["app:app", "--port", "http"])
    assert res.exit_code == 2 and "'http' is not a valid integer" in res.output
    res = CliRunner().invoke(cli.main, ["app:app", "--loop", "tokio"])
    assert res.exit_code == 2 and "'tokio' is not one of" in res.output
    res = CliRunner().invoke(cli.main, ["app:app", "--header", "novalue"])
    assert res.exit_code == 2 and "NAME:VALUE" in res.output


def test_help_shows_env_vars_and_defaults() -> None:
    out = CliRunner().invoke(cli.main, ["--help"], terminal_width=200).output
    assert "URINGASGI_PORT" in out and "UVICORN_PORT" in out
    assert "default: 8000" in out
    assert "FORWARDED_ALLOW_IPS" in out


def test_trusted_hosts() -> None:
    t = Config(forwarded_allow_ips="127.0.0.1,10.0.0.0/8,::1").trusted
    assert "127.0.0.1" in t and "10.2.3.4" in t and "::1" in t
    assert "11.0.0.1" not in t and None not in t
    assert "1.2.3.4" in Config(forwarded_allow_ips="*").trusted
