"""Lifespan and logging as a user sees them in the process output and exit status."""

from __future__ import annotations

import json
import signal

import httpx
from serverproc import serve


def test_lifespan_state_reaches_requests_and_shutdown_runs() -> None:
    with serve("raw:lifespan_ok") as sp:
        assert httpx.get(sp.url).text == "hi from lifespan"
        assert sp.stop(signal.SIGTERM) == 0
        assert "lifespan shutdown ran" in sp.output
        assert "Application startup complete." in sp.output


def test_lifespan_startup_failure_exits_non_zero() -> None:
    with serve("raw:lifespan_fail", ready=False) as sp:
        sp.proc.wait(20)
        assert sp.proc.returncode == 3
        assert "database is down" in sp.output


def test_lifespan_off_skips_it() -> None:
    with serve("raw:lifespan_ok", "--lifespan", "off") as sp:
        assert httpx.get(sp.url).text == "none"


def test_access_log_default_format() -> None:
    with serve("raw:hello") as sp:
        httpx.get(sp.url + "/path?x=1")
        assert sp.wait_for('"GET /path?x=1 HTTP/1.1" 200 OK')
        assert "INFO:     127.0.0.1:" in sp.output


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
