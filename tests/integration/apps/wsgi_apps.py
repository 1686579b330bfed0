"""WSGI apps (--interface wsgi): Flask, and a minimal Django project configured in code."""

from __future__ import annotations

import threading
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from flask import Flask, request

flask_app = Flask(__name__)

_three = threading.Barrier(3, timeout=5)


def together(environ: dict[str, object], start_response: Any) -> list[bytes]:
    """Answers once three requests are in it at the same time (a plain WSGI app): one thread for every
    request would wait here alone until the barrier gives up."""
    try:
        _three.wait()
        status, body = "200 OK", b"together"
    except threading.BrokenBarrierError:
        _three.reset()
        status, body = "500 Internal Server Error", b"alone"
    start_response(status, [("Content-Type", "text/plain")])
    return [body]


@flask_app.route("/hello/<name>", methods=["GET", "POST"])
def flask_hello(name: str) -> dict[str, object]:
    return {"hello": name, "body": request.get_data(as_text=True), "q": request.args.get("q")}


def django_view(request: HttpRequest, name: str) -> HttpResponse:
    return JsonResponse({"hello": name, "method": request.method, "q": request.GET.get("q")})


urlpatterns = [path("hello/<str:name>", django_view)]

settings.configure(
    DEBUG=False,
    SECRET_KEY="tests-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()
django_app = WSGIHandler()
