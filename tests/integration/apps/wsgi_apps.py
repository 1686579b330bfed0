"""WSGI apps (--interface wsgi): Flask, and a minimal Django project configured in code."""

from __future__ import annotations

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from flask import Flask, request

flask_app = Flask(__name__)


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
