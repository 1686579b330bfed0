"""Flags whose effect needs a live server and is not shown elsewhere: each one changes what a user sees."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
from serverproc import APPS_DIR, serve, uringasgi_exe


def test_factory_app_dir_and_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("FROM_ENV_FILE=loaded\n")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    args = ["--factory", "--app-dir", APPS_DIR, "--env-file", str(env_file)]
    with serve("raw:make_app", *args, cwd=str(elsewhere)) as sp:
        assert httpx.get(sp.url).text == "factory loaded"


def test_interface_asgi2() -> None:
    with serve("raw:ASGI2App", "--interface", "asgi2") as sp:
        assert httpx.get(sp.url + "/x").text == "asgi2 /x"


def test_uds(tmp_path: Path) -> None:
    path = str(tmp_path / "server.sock")
    proc = subprocess.Popen(
        [uringasgi_exe(), "raw:hello", "--uds", path],
        cwd=APPS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(200):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        transport = httpx.HTTPTransport(uds=path)
        for _ in range(100):
            try:
                r = httpx.Client(transport=transport).get("http://localhost/")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert r.text == "Hello, world!"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_log_level_warning_hides_info() -> None:
    with serve("raw:hello", "--log-level", "warning", ready=False) as sp:
        time.sleep(3)  # long enough to start and say what INFO would say
        assert sp.proc.poll() is None
        sp.stop()
        assert "Application startup complete" not in sp.output
        assert "running on" not in sp.output


def test_timeout_graceful_shutdown_cancels_what_is_left() -> None:
    with serve("raw:slow", "--timeout-graceful-shutdown", "1") as sp:
        outcome: list[object] = []

        def slow() -> None:
            try:
                outcome.append(httpx.get(sp.url + "/?s=30", timeout=30).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)
        started = time.monotonic()
        assert sp.stop(signal.SIGTERM) == 0
        took = time.monotonic() - started
        t.join(30)
        assert took < 10, took  # not the 30 s the request wanted
        assert "timeout graceful shutdown exceeded" in sp.output
        # The cancelled request never got its 200: a 500 (it had not started) or a cut connection.
        assert outcome and outcome[0] != 200, outcome
