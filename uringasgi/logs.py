"""Logging set-up: the loggers `uringasgi.error` and `uringasgi.access`, uvicorn's formats, --log-config.

The access log has a fast path (see protocol/accesslog.py) that only applies while the access logger is
exactly as configured here; any --log-config takes it off, so a user's handlers always see every record.

Set-ups made for uvicorn keep working, since switching servers should not mean rewriting them:
  - the loggers `uvicorn`, `uvicorn.error` and `uvicorn.access` get the same handlers as ours by default, so
    an app that logs to `uvicorn.error` is still heard;
  - a --log-config that configures uvicorn's loggers and not ours configures ours the same way;
  - `uvicorn.logging.DefaultFormatter` and `AccessFormatter` in a --log-config are ours when uvicorn is not
    installed, and an access record has the msg and args uvicorn's has, which its AccessFormatter unpacks.
"""

from __future__ import annotations

import configparser
import copy
import http
import importlib.util
import json
import logging
import logging.config
import sys
from typing import Any

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "trace": TRACE,
}

error_logger = logging.getLogger("uringasgi.error")
access_logger = logging.getLogger("uringasgi.access")

# Each of ours and uvicorn's logger of the same role.
UVICORN_NAMES = {
    "uringasgi": "uvicorn",
    "uringasgi.error": "uvicorn.error",
    "uringasgi.access": "uvicorn.access",
}

PHRASES = {s.value: s.phrase for s in http.HTTPStatus}

# The message and args of uvicorn's access record: client address, method, path with query, HTTP version,
# status. A formatter made for uvicorn unpacks exactly these.
ACCESS_MSG = '%s - "%s %s HTTP/%s" %d'


class LevelPrefixFormatter(logging.Formatter):
    """uvicorn's `%(levelprefix)s`: the level name, a colon, padded to nine columns."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: Any = "%",
        use_colors: bool | None = None,
    ):
        super().__init__(fmt=fmt, datefmt=datefmt, style=style)
        self.use_colors = sys.stderr.isatty() if use_colors is None else use_colors

    def formatMessage(self, record: logging.LogRecord) -> str:
        prefix = f"{record.levelname}:".ljust(9)
        if self.use_colors:
            color = {"ERROR": 31, "WARNING": 33, "INFO": 32, "DEBUG": 36, "CRITICAL": 91}.get(
                record.levelname, 0
            )
            prefix = f"\x1b[{color}m{record.levelname}\x1b[0m:".ljust(18)
        record.__dict__["levelprefix"] = prefix
        return super().formatMessage(record)


DefaultFormatter = LevelPrefixFormatter  # what a --log-config written for uvicorn names


class AccessFormatter(LevelPrefixFormatter):
    """uvicorn's AccessFormatter: a record with uvicorn's access args also has %(client_addr)s,
    %(request_line)s and %(status_code)s ("200 OK"), and its %(message)s has the status phrase too, as the
    line the fast path writes does. Any other record is formatted as it is."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if record.msg == ACCESS_MSG and isinstance(args, tuple) and len(args) == 5:
            client_addr, method, target, http_version, status = args
            request_line = f"{method} {target} HTTP/{http_version}"
            status_code = f"{status} {PHRASES.get(int(status), '')}"  # type: ignore[call-overload]
            record = copy.copy(record)  # the other handlers get the record as it was
            record.__dict__.update(
                client_addr=client_addr,
                request_line=request_line,
                status_code=status_code,
                message=f'{client_addr} - "{request_line}" {status_code}',
            )
        return super().formatMessage(record)


DEFAULT_FORMAT = "%(levelprefix)s %(message)s"


def default_config(use_colors: bool | None) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "default": {
                "()": "uringasgi.logs.LevelPrefixFormatter",
                "fmt": DEFAULT_FORMAT,
                "use_colors": use_colors,
            },
            "access": {
                "()": "uringasgi.logs.AccessFormatter",
                "fmt": DEFAULT_FORMAT,
                "use_colors": use_colors,
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {"class": "logging.StreamHandler", "formatter": "access", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "uringasgi": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uringasgi.error": {"level": "INFO"},
            "uringasgi.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def _uvicorn_formatters(cfg: Any) -> Any:
    """A dictConfig dict, or a ConfigParser of a fileConfig ini, with uvicorn's formatter classes replaced
    by ours when uvicorn is not installed (its names would fail to import). The same object is returned."""
    if importlib.util.find_spec("uvicorn") is not None:
        return cfg
    ours = {f"uvicorn.logging.{n}": f"uringasgi.logs.{n}" for n in ("DefaultFormatter", "AccessFormatter")}
    sections: list[Any]
    if isinstance(cfg, configparser.RawConfigParser):
        sections = [cfg[name] for name in cfg.sections() if name.startswith("formatter_")]
        keys: tuple[str, ...] = ("class",)
    else:
        sections = [f for f in (cfg.get("formatters") or {}).values() if isinstance(f, dict)]
        keys = ("()", "class")
    for section in sections:
        for key in keys:
            if section.get(key) in ours:
                section[key] = ours[section[key]]
    return cfg


def _adopt_uvicorn_loggers() -> None:
    """Ours take the set-up a --log-config gave uvicorn's loggers, when it gave ours none."""
    known = logging.Logger.manager.loggerDict
    for name, theirs_name in UVICORN_NAMES.items():
        theirs = known.get(theirs_name)
        ours = logging.getLogger(name)
        if not isinstance(theirs, logging.Logger) or ours.handlers or ours.level != logging.NOTSET:
            continue
        if theirs.handlers or theirs.level != logging.NOTSET or not theirs.propagate or theirs.disabled:
            ours.handlers = list(theirs.handlers)
            ours.filters = list(theirs.filters)
            ours.setLevel(theirs.level)
            ours.propagate = theirs.propagate
            ours.disabled = theirs.disabled


def configure(
    log_config: dict[str, Any] | str | None,
    log_level: str | None,
    access_log: bool,
    use_colors: bool | None,
) -> bool:
    """Apply logging settings; returns True when the access logger is our own default (fast path allowed)."""
    custom = log_config is not None
    if isinstance(log_config, dict):
        logging.config.dictConfig(_uvicorn_formatters(log_config))
    elif isinstance(log_config, str):
        if log_config.endswith(".json"):
            with open(log_config) as f:
                logging.config.dictConfig(_uvicorn_formatters(json.load(f)))
        elif log_config.endswith((".yaml", ".yml")):
            import yaml  # type: ignore[import-untyped]

            with open(log_config) as f:
                logging.config.dictConfig(_uvicorn_formatters(yaml.safe_load(f)))
        else:
            ini = configparser.ConfigParser()  # as fileConfig reads a file
            with open(log_config) as f:
                ini.read_file(f)
            logging.config.fileConfig(_uvicorn_formatters(ini), disable_existing_loggers=False)
    else:
        logging.config.dictConfig(default_config(use_colors))
    if custom:
        _adopt_uvicorn_loggers()
    if log_level is not None:
        level = LEVELS[log_level]
        for name in (*UVICORN_NAMES, *UVICORN_NAMES.values()):
            logging.getLogger(name).setLevel(level)
    if not access_log:
        access_logger.handlers = []
        access_logger.propagate = False
        access_logger.disabled = True
    return not custom
