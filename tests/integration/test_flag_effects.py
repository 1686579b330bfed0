"""Flags whose effect needs a live server and is not shown elsewhere: each one changes what a user sees."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
from rawhttp import closed_by_peer, connect, read_response
from serverproc import APPS_DIR, serve, uringasgi_exe


def test_factory_app_dir_and_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("FROM_ENV_FILE=loaded\n")
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    args = ["--factory", "--app-dir", APPS_DIR, "--env-file", str(env_file)]
    with serve("raw:make_app", *args, cwd=str(elsewhere)) as sp:
        assert httpx.get(sp.url).text == "factory loaded"


def test_a_factory_given_without_the_flag_is_detected_as_uvicorn_detects_one() -> None:
    """uvicorn calls the app with no arguments; what accepts that is a factory, and it says so."""
    with serve("raw:make_app") as sp:
        assert httpx.get(sp.url).text == "factory unset"
        assert "ASGI app factory detected. Using it" in sp.output


def test_an_app_that_is_not_callable_is_one_clear_line() -> None:
    with serve("raw:NOT_AN_APP", ready=False) as sp:
        assert sp.proc.wait(30) != 0
        assert "'raw:NOT_AN_APP' is not callable" in sp.output and "Traceback" not in sp.output


def test_interface_asgi2() -> None:
    with serve("raw:ASGI2App", "--interface", "asgi2") as sp:
        assert httpx.get(sp.url + "/x").text == "asgi2 /x 2.0"  # the version the spec gives ASGI 2 apps


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
    assert not os.path.exists(path)  # removed at exit, as uvicorn removes it


def test_log_level_warning_hides_info() -> None:
    with serve("raw:hello", "--log-level", "warning", ready=False) as sp:
        time.sleep(3)  # long enough to start and say what INFO would say
        assert sp.proc.poll() is None
        sp.stop()
        assert "Application startup complete" not in sp.output
        assert "running on" not in sp.output


def test_timeout_graceful_shutdown_cancels_a_renamed_request_before_lifespan_shutdown() -> None:
    with serve("raw:renamed_slow", "--timeout-graceful-shutdown", "1") as sp:
        t = threading.Thread(target=lambda: httpx.get(sp.url, timeout=30), daemon=True)
        t.start()
        time.sleep(0.5)
        assert sp.stop(signal.SIGTERM) == -signal.SIGTERM
        assert "lifespan shutdown: 0 request(s) running" in sp.output, sp.output


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
        assert sp.stop(signal.SIGTERM) == -signal.SIGTERM
        took = time.monotonic() - started
        t.join(30)
        assert took < 10, took  # not the 30 s the request wanted
        assert "timeout graceful shutdown exceeded" in sp.output
        # The cancelled request never got its 200: a 500 (it had not started) or a cut connection.
        assert outcome and outcome[0] != 200, outcome


def test_use_colors_colours_the_level() -> None:
    with serve("raw:hello", "--use-colors") as sp:
        assert "\x1b[32mINFO\x1b[0m:" in sp.output
    with serve("raw:hello", "--no-use-colors") as sp:
        assert "\x1b[" not in sp.output


def test_backlog_is_the_listen_queue() -> None:
    with serve("raw:hello", "--backlog", "77") as sp:
        out = subprocess.run(["ss", "-ltnH", f"sport = :{sp.port}"], capture_output=True, text=True).stdout
        # For a listening socket, ss shows the backlog as Send-Q.
        assert out.split()[2] == "77", out


def test_limit_max_requests_jitter_bounds() -> None:
    with serve("raw:hello", "--limit-max-requests", "2", "--limit-max-requests-jitter", "2") as sp:
        served = 0
        for _ in range(6):
            try:
                httpx.get(sp.url, headers={"Connection": "close"}, timeout=5)
                served += 1
            except httpx.HTTPError:
                break
            if sp.proc.poll() is not None or sp.wait_for("Maximum request limit", timeout=0.3):
                break
        assert 2 <= served <= 4, served


def test_reload_include_and_exclude(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(
        "import pathlib\n"
        "async def app(scope, receive, send):\n"
        "    body = (pathlib.Path(__file__).parent / 'greeting.txt').read_bytes()\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    (tmp_path / "greeting.txt").write_text("one")
    (tmp_path / "notes.md").write_text("x")
    args = [
        "--reload",
        "--reload-dir",
        str(tmp_path),
        "--reload-include",
        "*.txt",
        "--reload-exclude",
        "*.md",
    ]
    with serve("app:app", *args, cwd=str(tmp_path)) as sp:
        time.sleep(1.0)
        (tmp_path / "notes.md").write_text("y")  # excluded: no reload
        time.sleep(1.5)
        assert "Changes detected" not in sp.output
        (tmp_path / "greeting.txt").write_text("two")  # included: reload
        assert sp.wait_for("Changes detected in", timeout=15)
        assert "greeting.txt" in sp.output
        # *.py stays watched beside --reload-include, as in uvicorn
        time.sleep(1.5)
        (tmp_path / "app.py").write_text((tmp_path / "app.py").read_text() + "\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "app.py" not in sp.output:
            time.sleep(0.1)
        assert "app.py" in sp.output


def test_a_header_flag_naming_server_or_date_replaces_ours() -> None:
    """--header Server:... is the only server header, as in uvicorn; the same for date."""
    with serve(
        "raw:hello", "--header", "Server: edge/2", "--header", "date: Thu, 01 Jan 2026 00:00:00 GMT"
    ) as sp:
        r = httpx.get(sp.url)
        assert r.headers.get_list("server") == ["edge/2"]
        assert r.headers.get_list("date") == ["Thu, 01 Jan 2026 00:00:00 GMT"]
    with serve("raw:hello", "--header", "X-Edge: 1") as sp:
        r = httpx.get(sp.url)
        assert r.headers.get_list("server") == ["uringasgi"] and len(r.headers.get_list("date")) == 1


def test_timeout_keep_alive_zero_closes_after_each_response() -> None:
    """0 s of keep-alive is what it says, as in uvicorn (it was taken for 'unset', and so 5 s)."""
    with serve("raw:hello", "--timeout-keep-alive", "0") as sp:
        s = connect(sp.port)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(s)[0] == 200
        assert closed_by_peer(s, timeout=2)
