"""The FastAPI app factory: one service, versioned under /v1, errors as problem details."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from talker import __version__
from talker.config import Settings
from talker.errors import InputError, TalkerError
from talker.server.auth import Authenticator, RateLimiter, keys_required
from talker.server.keys import KeyStore
from talker.server.problems import ERROR_RESPONSES, Problem, scrub_paths
from talker.server.services import Services

log = logging.getLogger("talker.server")
PROBLEM_JSON = "application/problem+json"
WORKER_THREADS = 64  # the event loop's pool for blocking work (see lifespan)


@dataclass
class ServerState:
    """Everything the routes share, kept on `app.state.talker`."""

    settings: Settings
    services: Services
    auth: Authenticator
    limiter: RateLimiter
    extras: dict[str, Any]


def keys_path(settings: Settings) -> Any:
    return settings.data_dir / "server" / "keys.db"


def create_app(settings: Settings | None = None, *, require_keys: bool | None = None) -> FastAPI:
    """The service. `require_keys` defaults to the settings' rule: required unless on loopback only."""
    settings = settings or Settings()
    required = require_keys if require_keys is not None else keys_required(settings.server.host,
                                                                           settings.server.require_keys)
    state = ServerState(settings, Services(settings), Authenticator(KeyStore(keys_path(settings)), required),
                        RateLimiter(settings.server.rate_per_minute), {})

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The loop's default pool runs aiortc's video encoders next to knowledge lookups, uploads and other
        # blocking work of every session; its stock size (cores + 4) let blocked work starve the encoders.
        # Waiting threads cost no CPU.
        pool = concurrent.futures.ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="talker-worker")
        asyncio.get_running_loop().set_default_executor(pool)
        for start in state.extras.get("on_start", []):
            start()
        yield
        for stop in state.extras.get("on_stop", []):
            if inspect.isawaitable(stopped := stop()):
                await stopped
        state.services.close()
        state.auth.keys.close()

    app = FastAPI(
        title="talker",
        version=__version__,
        summary="An offline digital human: avatars, voices, speech, recognition, chat and explainer videos.",
        description="All routes live under `/v1`. Send `Authorization: Bearer <key>` (or `X-API-Key`); keys are "
                    "made with `talker keys create`. Errors are RFC 9457 problem details.",
        lifespan=lifespan,
    )
    app.state.talker = state
    _add_error_handlers(app)
    _add_body_limit(app, settings.server.max_json_bytes)
    if settings.server.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.server.cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    from talker.server import (
        routes_asr,
        routes_chat,
        routes_knowledge,
        routes_media,
        routes_meta,
        routes_realtime,
        routes_speech,
        routes_videos,
        routes_web,
    )

    routes_videos.install(state)
    routes_realtime.install(state)
    for module in (routes_meta, routes_media, routes_videos, routes_speech, routes_asr, routes_chat,
                   routes_knowledge, routes_realtime):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(routes_web.router)
    return app


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(problem.body(request.url.path), status_code=problem.status, headers=problem.headers,
                        media_type=PROBLEM_JSON)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, problem: Problem) -> Response:
        return problem_response(problem, request)

    def said(request: Request, error: Exception) -> str:
        settings = request.app.state.talker.settings
        return scrub_paths(str(error), (settings.data_dir, settings.cache_dir, settings.models_dir))

    @app.exception_handler(InputError)
    async def on_input_error(request: Request, error: InputError) -> Response:
        return problem_response(Problem(422, "Unprocessable content", said(request, error)), request)

    @app.exception_handler(TalkerError)
    async def on_talker_error(request: Request, error: TalkerError) -> Response:
        # Missing models or backends: the server cannot do this now, whatever the client sends.
        return problem_response(Problem(503, "Service unavailable", said(request, error)), request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> Response:
        problems = [{"field": ".".join(str(part) for part in e.get("loc", ()) if part != "body"),
                     "problem": e.get("msg", "invalid")} for e in error.errors()]
        return problem_response(Problem(422, "Unprocessable content", "the request does not match the schema; "
                                        "see `errors` and the OpenAPI document at /openapi.json", errors=problems),
                                request)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        detail = error.detail if isinstance(error.detail, str) else "request refused"
        if error.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.url.path}; the API is described at /docs and /openapi.json"
        return problem_response(Problem(error.status_code, titles.get(error.status_code, "Error"), detail,
                                        headers=dict(error.headers or {})), request)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(Problem(500, "Internal server error",
                                        "something went wrong on the server; it has been logged"), request)


def _add_body_limit(app: FastAPI, max_json_bytes: int) -> None:
    """JSON bodies are capped while they arrive; uploads have their own, larger limits per route."""

    @app.middleware("http")
    async def limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_json_bytes:
                return problem_response(Problem(413, "Content too large",
                                                f"JSON bodies are limited to {max_json_bytes} bytes"), request)
        return await call_next(request)
