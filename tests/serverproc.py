"""Start real uringasgi processes for tests: 127.0.0.1, a free port, a timeout, always stopped by PID."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

RUNNING = re.compile(r"running on http://([\d.]+):(\d+)")
APPS_DIR = os.path.join(os.path.dirname(__file__), "integration", "apps")


@dataclass
class ServerProc:
    proc: subprocess.Popen[str]
    host: str = ""
    port: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return True
            time.sleep(0.02)
        return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def uringasgi_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "uringasgi")


@contextlib.contextmanager
def serve(
    app: str,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: str = APPS_DIR,
    ready: bool = True,
    timeout: float = 30.0,
    nofile: int | None = None,
    exe: list[str] | None = None,
) -> Iterator[ServerProc]:
    """`uringasgi APP --port 0 ARGS`; yields once it says where it listens (unless ready=False). With
    nofile, the server starts with that limit on open files, soft and hard; exe replaces the command."""
    cmd = [*(exe or [uringasgi_exe()]), app, "--host", "127.0.0.1", "--port", "0", *args]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}

    def limit() -> None:
        if nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=limit if nofile is not None else None,
    )
    sp = ServerProc(proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            sp.lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        if ready:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = RUNNING.search(sp.output)
                if m:
                    sp.host, sp.port = m.group(1), int(m.group(2))
                    break
                if proc.poll() is not None:
                    reader.join(2)
                    raise RuntimeError(f"server exited with {proc.returncode}:\n{sp.output}")
                time.sleep(0.02)
            else:
                raise RuntimeError(f"server did not start in {timeout}s:\n{sp.output}")
        yield sp
    finally:
        sp.stop()
        reader.join(5)
        # Shown by pytest only when the test fails: the server's side of the story.
        print(f"--- server output ({' '.join(cmd[1:])}) ---\n{sp.output}")
