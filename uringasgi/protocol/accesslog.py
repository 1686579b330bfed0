"""The access log: uvicorn's line by default, or --access-log-format with named atoms.

A LogRecord per request costs more than the whole of a small request, so while the access logger is exactly
as logs.configure() set it up (one stream handler, our formatter, no filters), lines are formatted here,
buffered, and written once per loop iteration. Any other set-up goes through `logging` record by record.

Atoms for --access-log-format (gunicorn's letters, as uvicorn users asked for):
  %(h)s client address   %(r)s request line   %(m)s method   %(U)s path   %(q)s query string
  %(H)s protocol         %(s)s status         %(B)s body bytes sent       %(b)s same, or "-" when 0
  %(f)s referer          %(a)s user agent     %(T)s seconds  %(M)s milliseconds  %(D)s microseconds
  %(L)s decimal seconds  %(p)s process id     %(t)s time as [10/Oct/2000:13:55:36 +0000]
  %(status_phrase)s the reason phrase of the status
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from typing import IO, Any
from urllib.parse import quote

from uringasgi.logs import ACCESS_MSG, PHRASES, LevelPrefixFormatter, access_logger

ATOM = re.compile(r"%\((\w+)\)")
KNOWN_ATOMS = {*"hrmUqHsBbfaTMDLpt", "status_phrase"}


def logged_path(path: str) -> str:
    """A request path as a log line writes it, quoted as uvicorn's access line does: the path is
    percent-decoded, and a decoded %0A written as it is would end the line and let the client forge the
    next one (asgi.c log_path does the same for the line made in C)."""
    return quote(path, errors="surrogateescape")


def check_format(fmt: str) -> set[str]:
    """The atoms --access-log-format names; ValueError when it names an unknown one or is no %-format (a
    lone "%"), found at start-up rather than at the first request's line."""
    atoms = set(ATOM.findall(fmt))
    unknown = atoms - KNOWN_ATOMS
    if unknown:
        raise ValueError(f"--access-log-format: unknown atom(s) {', '.join(sorted(unknown))}")
    try:
        fmt % dict.fromkeys(KNOWN_ATOMS, 0)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"--access-log-format: {exc} (a literal % is written %%)") from None
    return atoms


class AccessLog:
    def __init__(self, loop: asyncio.AbstractEventLoop, enabled: bool, fast: bool, fmt: str | None) -> None:
        self.loop = loop
        self.enabled = enabled and not access_logger.disabled and access_logger.isEnabledFor(logging.INFO)
        self.fmt = fmt
        self.atoms = check_format(fmt) if fmt else set()
        self.needs_time = bool(self.atoms & set("TMDL"))
        self.stream: IO[str] | None = None
        self.prefix = "INFO:     "
        handlers = access_logger.handlers
        if fast and self.enabled and len(handlers) == 1 and not access_logger.filters:
            h = handlers[0]
            formatter = h.formatter
            plain = isinstance(formatter, LevelPrefixFormatter) and not formatter.use_colors
            if type(h) is logging.StreamHandler and plain and not h.filters:
                self.stream = h.stream
        self.lines: list[str] = []

    def c_sink(self) -> bool | tuple[list[str], Any, dict[int, str], str]:
        """What asgi.c's Cycle needs to write this log: False (off), True (call Cycle._finish, which calls
        log()), or, for the default line on the buffered stream, (lines, schedule, phrases, prefix): C then
        makes the very line log() would and adds it to this iteration's buffer."""
        if not self.enabled:
            return False
        if self.stream is None or self.fmt is not None:
            return True
        return (self.lines, self._schedule, PHRASES, self.prefix)

    def _schedule(self) -> None:
        self.loop.call_soon(self.flush)

    def log(
        self,
        client: tuple[str, int] | None,
        method: str,
        path: str,
        query: bytes,
        http_version: str,
        status: int,
        sent: int,
        started: float,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        addr = f"{client[0]}:{client[1]}" if client else "-"
        path = logged_path(path)
        target = f"{path}?{query.decode('ascii', 'replace')}" if query else path
        if self.fmt is None:
            if self.stream is None:  # uvicorn's record, for the handlers and formatters of a --log-config
                access_logger.info(ACCESS_MSG, addr, method, target, http_version, status)
                return
            msg = f'{addr} - "{method} {target} HTTP/{http_version}" {status} {PHRASES.get(status, "")}'
        else:
            msg = self.fmt % self._atoms(
                addr, method, path, query, target, http_version, status, sent, started, headers
            )
        if self.stream is not None:
            if not self.lines:  # the first line of this iteration: write them all once it ends
                self._schedule()
            self.lines.append(f"{self.prefix}{msg}\n")
        else:
            access_logger.info(msg)

    def _atoms(
        self,
        addr: str,
        method: str,
        path: str,
        query: bytes,
        target: str,
        http_version: str,
        status: int,
        sent: int,
        started: float,
        headers: list[tuple[bytes, bytes]],
    ) -> dict[str, Any]:
        atoms: dict[str, Any] = {
            "h": addr,
            "r": f"{method} {target} HTTP/{http_version}",
            "m": method,
            "U": path,
            "q": query.decode("ascii", "replace"),
            "H": f"HTTP/{http_version}",
            "s": status,
            "status_phrase": PHRASES.get(status, ""),
            "B": sent,
            "b": sent or "-",
            "p": os.getpid(),
        }
        if self.needs_time:
            took = time.perf_counter() - started
            atoms.update(T=int(took), M=int(took * 1e3), D=int(took * 1e6), L=f"{took:.6f}")
        if "t" in self.atoms:
            atoms["t"] = time.strftime("[%d/%b/%Y:%H:%M:%S %z]")
        if "f" in self.atoms or "a" in self.atoms:
            found = {n: v.decode("latin-1") for n, v in headers if n in (b"referer", b"user-agent")}
            atoms["f"] = found.get(b"referer", "-")
            atoms["a"] = found.get(b"user-agent", "-")
        return atoms

    def flush(self) -> None:
        """Write the buffered lines; called once per loop iteration."""
        if self.lines and self.stream is not None:
            self.stream.write("".join(self.lines))
            self.lines.clear()
            self.stream.flush()
