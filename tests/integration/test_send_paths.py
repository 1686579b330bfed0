"""send() of every kind the C path (protocol/asgi.c) hands on or finishes itself: what a client sees."""

from __future__ import annotations

import httpx
from rawhttp import connect, read_response
from serverproc import serve


def test_send_boundaries_of_the_c_path() -> None:
    with serve("send_paths:app") as sp, httpx.Client(base_url=sp.url, timeout=30) as client:
        r = client.get("/bytearray")
        assert (r.status_code, r.text, r.headers["content-length"]) == (200, "from a bytearray", "16")
        r = client.get("/no-headers")
        assert (r.status_code, r.text, r.headers["content-length"]) == (200, "bare", "4")
        assert client.delete("/no-headers").status_code == 204
        r = client.get("/mapping")
        assert (r.status_code, r.text, r.headers["x-kind"]) == (201, "made of mappings", "mapping")
        for path, status, text in [
            ("/memoryview", 200, "from a memoryview"),
            ("/mixed", 200, "one two three"),
            ("/awaitable", 200, "None"),
            # send()'s result through create_task, wait_for and gather, which take coroutines
            ("/as-tasks", 200, "task wait_for gather"),
            # keys made at run time and str-subclass keys are the same keys; an unknown key is ignored
            ("/built-keys", 202, "built subclassed"),
        ]:
            r = client.get(path)
            assert (r.status_code, r.text) == (status, text), path

        # The response went out whole; the extra message is an error in the log, naming it.
        r = client.get("/after-end")
        assert (r.status_code, r.text) == (200, "done")
        assert sp.wait_for(
            "GET /after-end: Unexpected ASGI message 'http.response.body' sent, "
            "after response already completed."
        )
        r = client.get("/start-twice")
        assert r.status_code == 500  # nothing was sent before the second start failed
        assert sp.wait_for(
            "GET /start-twice: Unexpected ASGI message 'http.response.start' sent, "
            "after response already started."
        )
        r = client.get("/no-status")
        assert r.status_code == 500
        assert sp.wait_for("Exception in ASGI application")

        # The keep-alive connection still serves after all of that.
        assert client.get("/bytearray").text == "from a bytearray"


def test_pipelined_responses_from_both_paths_stay_in_order() -> None:
    with serve("send_paths:app") as sp:
        s = connect(sp.port)
        s.sendall(
            b"GET /mixed HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /no-headers HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /memoryview HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        status, _, body, rest = read_response(s)
        assert (status, body) == (200, b"one two three")
        status, _, body, rest = read_response(s, rest)
        assert (status, body) == (200, b"bare")
        status, _, body, _ = read_response(s, rest)
        assert (status, body) == (200, b"from a memoryview")
        s.close()
