"""The browser page at `/`: static files shipped in `talker/web` (HTML, CSS and one ES module), no key needed.

The page itself holds no data; every call it makes goes through the authenticated API like any other client.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def _file(name: str) -> Response:
    body = resources.files("talker.web").joinpath(name).read_bytes()
    return Response(body, media_type=_FILES[name], headers=_HEADERS)


@router.get("/")
def page() -> Response:
    return _file("index.html")


@router.get("/web/app.js")
def script() -> Response:
    return _file("app.js")


@router.get("/web/style.css")
def stylesheet() -> Response:
    return _file("style.css")
