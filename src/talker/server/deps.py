"""Request dependencies: the shared state, and the owner behind the request's API key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from talker.server.auth import presented_secret

if TYPE_CHECKING:
    from talker.server.app import ServerState

# Declared as security schemes so the OpenAPI document shows how to authenticate; checked by `owner`.
_bearer = HTTPBearer(auto_error=False, description="an API key from `talker keys create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key, as a header")


def server_state(request: Request) -> ServerState:
    return request.app.state.talker  # type: ignore[no-any-return]


def owner(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    api_key: Annotated[str | None, Security(_header)] = None,
) -> str:
    """The owner whose data this request may see; also spends one unit of the owner's rate budget."""
    state = server_state(request)
    secret = presented_secret(f"Bearer {bearer.credentials}" if bearer else None, api_key)
    who = state.auth.owner(secret)
    state.limiter.take(who)
    return who


State = Annotated["ServerState", Depends(server_state)]
Owner = Annotated[str, Depends(owner)]
