"""Errors as RFC 9457 problem details: a status, a short title, what went wrong and what to do — no internals."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Problem(Exception):  # noqa: N818 - named after the RFC 9457 "problem" it becomes
    """An error a client can act on. Raised anywhere in a request; the app turns it into JSON."""

    def __init__(self, status: int, title: str, detail: str, *, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.headers = headers or {}
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        document: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status,
                                    "detail": self.detail}
        if instance:
            document["instance"] = instance
        document.update(self.extra)
        return document


def scrub_paths(text: str, roots: Iterable[Path]) -> str:
    """A message without the server's own paths (data, cache, models): clients see "the file" instead."""
    for root in sorted({str(r) for r in roots}, key=len, reverse=True):
        text = re.sub(re.escape(root) + r"[^\s'\";:,)]*", "the file", text)
    return text


def unknown_voice(voice: str | None) -> Problem:
    return Problem(422, "Unprocessable content",
                   f"unknown voice {voice!r}; GET /v1/voices lists the built-in voices and yours")


def bad_request(detail: str, **extra: Any) -> Problem:
    return Problem(400, "Bad request", detail, **extra)


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"{what} does not exist (or belongs to another key)")


def too_large(detail: str) -> Problem:
    return Problem(413, "Content too large", detail)


def unsupported(detail: str) -> Problem:
    return Problem(415, "Unsupported media type", detail)


def unprocessable(detail: str, **extra: Any) -> Problem:
    return Problem(422, "Unprocessable content", detail, **extra)


class ProblemDocument(BaseModel):
    """How every error looks (RFC 9457)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Unprocessable content"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["no face found in the photo; use a portrait with the face clearly visible"])
    instance: str | None = Field(None, examples=["/v1/avatars"])


_MEANINGS = {
    400: "malformed request", 401: "no key, or not a valid one", 404: "no such thing (for this key)",
    409: "not in a state that allows this", 410: "gone", 413: "too large (bytes, pixels, seconds, characters)",
    415: "not a type accepted here (content is sniffed)", 422: "understood, but not usable: the detail says why",
    429: "rate limit: see Retry-After", 500: "a server bug (logged)", 503: "a model or backend is missing",
    507: "the server's disk is full",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ProblemDocument, "description": meaning,
           "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ProblemDocument"}}}}
    for code, meaning in _MEANINGS.items()
}
