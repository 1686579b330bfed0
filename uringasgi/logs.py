"""Logging set-up: the loggers `uringasgi.error` and `uringasgi.access`, uvicorn's formats, --log-config.

The access log has a fast path (see protocol/accesslog.py) that only applies while the access logger is
exactly as configured here; any --log-config takes it off, so a user's handlers always see every record.
"""

from __future__ import annotations

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


class LevelPrefixFormatter(logging.Formatter):
    """uvicorn's `%(levelprefix)s`: the level name, a colon, padded to nine columns."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None, use_colors: bool | None = None):
        super().__init__(fmt=fmt, datefmt=datefmt)
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
                "()": "uringasgi.logs.LevelPrefixFormatter",
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
        },
    }


def configure(
    log_config: dict[str, Any] | str | None,
    log_level: str | None,
    access_log: bool,
    use_colors: bool | None,
) -> bool:
    """Apply logging settings; returns True when the access logger is our own default (fast path allowed)."""
    custom = log_config is not None
    if isinstance(log_config, dict):
        logging.config.dictConfig(log_config)
    elif isinstance(log_config, str):
        if log_config.endswith(".json"):
            with open(log_config) as f:
                logging.config.dictConfig(json.load(f))
        elif log_config.endswith((".yaml", ".yml")):
            import yaml  # type: ignore[import-untyped]

            with open(log_config) as f:
                logging.config.dictConfig(yaml.safe_load(f))
        else:
            logging.config.fileConfig(log_config, disable_existing_loggers=False)
    else:
        logging.config.dictConfig(default_config(use_colors))
    if log_level is not None:
        level = LEVELS[log_level]
        for name in ("uringasgi", "uringasgi.error", "uringasgi.access"):
            logging.getLogger(name).setLevel(level)
    if not access_log:
        access_logger.handlers = []
        access_logger.propagate = False
        access_logger.disabled = True
    return not custom
