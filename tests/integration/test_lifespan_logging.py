"""Lifespan and logging as a user sees them in the process output and exit status."""

from __future__ import annotations

import contextlib
import json
import signal
import socket

import httpx
import pytest
from serverproc import serve


def test_lifespan_state_reaches_requests_and_shutdown_runs() -> None:
    with serve("raw:lifespan_ok") as sp:
        assert httpx.get(sp.url).text == "hi from lifespan"
        assert sp.stop(signal.SIGTERM) == -signal.SIGTERM
        assert "lifespan shutdown ran" in sp.output
        assert "Application startup complete." in sp.output


def test_lifespan_startup_failure_exits_non_zero() -> None:
    with serve("raw:lifespan_fail", ready=False) as sp:
        sp.proc.wait(20)
        assert sp.proc.returncode == 3
        assert "database is down" in sp.output


def test_a_task_left_running_is_cancelled_at_exit(tmp_path) -> None:
    """As under asyncio.run (uvicorn): its finally runs before the process ends."""
    out = tmp_path / "leftover.txt"
    with serve("raw:background_work", env={"LEFTOVER_FILE": str(out)}) as sp:
        assert httpx.get(sp.url).text == "ok"
        assert sp.stop(signal.SIGTERM) == -signal.SIGTERM
    assert out.read_text() == "finally ran\n"


def test_lifespan_off_skips_it() -> None:
    with serve("raw:lifespan_ok", "--lifespan", "off") as sp:
        assert httpx.get(sp.url).text == "none"


def test_access_log_default_format() -> None:
    with serve("raw:hello") as sp:
        httpx.get(sp.url + "/path?x=1")
        assert sp.wait_for('"GET /path?x=1 HTTP/1.1" 200 OK')
        assert "INFO:     127.0.0.1:" in sp.output


def _exchange(port: int, *requests: bytes) -> int:
    """Send requests over one connection, read a response for each; returns the client's port."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for req in requests:
            s.sendall(req)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                assert chunk, "connection closed before the response"
                data += chunk
        return int(s.getsockname()[1])


def test_access_log_default_lines_exactly() -> None:
    """The default line, word for word as uvicorn writes it: the path quoted (urllib.parse.quote), the query,
    version, reason phrase."""
    with serve("raw:status") as sp:
        keep = _exchange(
            sp.port,
            b"GET /caf%C3%A9?s=404 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET /x?s=299 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"HEAD /plain HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        old = _exchange(sp.port, b"GET /ten HTTP/1.0\r\n\r\n")
        for line in (
            f'INFO:     127.0.0.1:{keep} - "GET /caf%C3%A9?s=404 HTTP/1.1" 404 Not Found\n',
            f'INFO:     127.0.0.1:{keep} - "GET /x?s=299 HTTP/1.1" 299 \n',  # no phrase for 299
            f'INFO:     127.0.0.1:{keep} - "HEAD /plain HTTP/1.1" 200 OK\n',
            f'INFO:     127.0.0.1:{old} - "GET /ten HTTP/1.0" 200 OK\n',
        ):
            assert sp.wait_for(line), (line, sp.output)
        sp.stop()
        lines = [ln for ln in sp.output.splitlines() if ' - "' in ln]
        assert len(lines) == 4, lines  # one line per request, none twice


def test_access_log_line_of_an_undecodable_path() -> None:
    """A path whose bytes are not UTF-8 is decoded with U+FFFD for them and quoted, as uvicorn does; a path an
    app put in the scope with a lone surrogate is written with its byte quoted; the server goes on."""
    with serve("raw:status") as sp:
        port = _exchange(sp.port, b"GET /a%FFb?s=200 HTTP/1.1\r\nHost: t\r\n\r\n")
        line = f'INFO:     127.0.0.1:{port} - "GET /a%EF%BF%BDb?s=200 HTTP/1.1" 200 OK\n'
        assert sp.wait_for(line), (line, sp.output)
    with serve("raw:set_path") as sp:
        port = _exchange(sp.port, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        line = f'INFO:     127.0.0.1:{port} - "GET /set%FFpath HTTP/1.1" 200 OK\n'
        assert sp.wait_for(line), (line, sp.output)
        assert httpx.get(sp.url + "/y").status_code == 200


@pytest.mark.parametrize("fmt", [(), ("--access-log-format", "%(r)s|%(U)s")])
def test_a_decoded_line_break_in_the_path_cannot_forge_an_access_line(fmt: tuple[str, ...]) -> None:
    """%0A in a path is a line break once decoded: the line quotes the path, as uvicorn's does, so a client
    cannot end its own line and write one of its choosing after it (C's default line, and a custom one)."""
    with serve("raw:status", *fmt) as sp:
        _exchange(sp.port, b"GET /a%0AINFO:%20%20%20%20%20forged%0D HTTP/1.1\r\nHost: t\r\n\r\n")
        assert sp.wait_for("/a%0AINFO%3A%20%20%20%20%20forged%0D")
        sp.stop()
        assert not [ln for ln in sp.output.splitlines() if "forged" in ln and "/a%0A" not in ln]


def test_a_response_cut_short_is_logged() -> None:
    """The app failed mid-body, or its client left mid-stream: the line is written with the status the
    response started with (uvicorn writes it at the start)."""
    with serve("raw:boom_after") as sp:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(sp.url + "/cut")
        assert sp.wait_for('"GET /cut HTTP/1.1" 200')
    with serve("starlette_app:app") as sp:
        with httpx.stream("GET", sp.url + "/ticks") as r:
            next(r.iter_lines())
        assert sp.wait_for('"GET /ticks HTTP/1.1" 200')


def test_no_access_log() -> None:
    with serve("raw:hello", "--no-access-log") as sp:
        httpx.get(sp.url + "/quiet")
        httpx.get(sp.url + "/quiet")
        sp.stop()
        assert "/quiet" not in sp.output


def test_access_log_format_atoms() -> None:
    with serve("raw:hello", "--access-log-format", "%(h)s|%(m)s|%(U)s|%(q)s|%(s)s|%(B)s|%(a)s") as sp:
        httpx.get(sp.url + "/p?a=b", headers={"User-Agent": "probe/1"})
        assert sp.wait_for("|GET|/p|a=b|200|13|probe/1")


def test_an_app_logging_to_uvicorns_logger_is_heard() -> None:
    with serve("raw:logs_to_uvicorn") as sp:
        assert httpx.get(sp.url + "/here").text == "logged"
        assert sp.wait_for("INFO:     app says /here")


# uvicorn's own default logging set-up (uvicorn.config.LOGGING_CONFIG), as users copy it into a --log-config
# and change the handlers: here the access lines go to a file.
def uvicorn_style_config(access_file: str) -> dict[str, object]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "UVI %(levelprefix)s %(message)s",
                "use_colors": None,
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "handlers": {
            "default": {
                "formatter": "default",
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
            },
            "access": {"formatter": "access", "class": "logging.FileHandler", "filename": access_file},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def test_log_config_written_for_uvicorn_works(tmp_path) -> None:
    """uvicorn is not installed here: its formatter names resolve to ours, its loggers' set-up to ours."""
    out = tmp_path / "access.log"
    path = tmp_path / "log.json"
    path.write_text(json.dumps(uvicorn_style_config(str(out))))
    with serve("raw:logs_to_uvicorn", "--log-config", str(path)) as sp:
        httpx.get(sp.url + "/logged?x=1")
        assert sp.wait_for("UVI INFO:     app says /logged")
        assert "UVI INFO:     uringasgi running on" in sp.output
        sp.stop()
    lines = out.read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("INFO:     127.0.0.1:"), lines
    assert lines[0].endswith(' - "GET /logged?x=1 HTTP/1.1" 200 OK'), lines


def test_ini_log_config_written_for_uvicorn_works(tmp_path) -> None:
    out = tmp_path / "access.log"
    path = tmp_path / "log.ini"
    path.write_text(
        f"""[loggers]
keys=root,error,access

[handlers]
keys=console,file

[formatters]
keys=default,access

[logger_root]
level=WARNING
handlers=

[logger_error]
level=INFO
handlers=console
propagate=0
qualname=uvicorn.error

[handler_console]
class=StreamHandler
formatter=default
args=(sys.stderr,)

[formatter_default]
class=uvicorn.logging.DefaultFormatter
format=INI %(levelprefix)s %(message)s

[logger_access]
level=INFO
handlers=file
propagate=0
qualname=uvicorn.access

[handler_file]
class=FileHandler
formatter=access
args=({str(out)!r},)

[formatter_access]
class=uvicorn.logging.AccessFormatter
format=%(client_addr)s|%(request_line)s|%(status_code)s
"""
    )
    with serve("raw:hello", "--log-config", str(path)) as sp:
        httpx.get(sp.url + "/ini")
        assert "INI INFO:     uringasgi running on" in sp.output
        sp.stop()
    [line] = out.read_text().splitlines()
    assert line.startswith("127.0.0.1:") and line.endswith("|GET /ini HTTP/1.1|200 OK"), line


def test_log_config_json_routes_both_loggers(tmp_path) -> None:
    out = tmp_path / "access.log"
    cfg = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "ACCESS %(message)s"}, "err": {"format": "ERRLOG %(message)s"}},
        "handlers": {
            "file": {"class": "logging.FileHandler", "filename": str(out), "formatter": "plain"},
            "console": {"class": "logging.StreamHandler", "formatter": "err", "stream": "ext://sys.stderr"},
        },
        "loggers": {
            "uringasgi.access": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "uringasgi.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(cfg))
    with serve("raw:hello", "--log-config", str(path)) as sp:
        httpx.get(sp.url + "/logged")
        assert "ERRLOG uringasgi running on" in sp.output
        sp.stop()
    assert '"GET /logged HTTP/1.1" 200' in out.read_text()
    assert out.read_text().startswith("ACCESS ")
