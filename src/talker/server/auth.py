"""Who is asking: the API key on a request, the owner it maps to, and a per-key rate limit."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from dataclasses import dataclass

from talker.server.keys import KeyStore
from talker.server.problems import Problem

LOCAL_OWNER = "local"  # the owner of requests without a key, when keys are not required


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost": only this machine can reach the server."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keys_required(host: str, setting: bool | None) -> bool:
    """Keys are required unless the setting says otherwise or the server listens on loopback only."""
    return setting if setting is not None else not is_loopback(host)


def presented_secret(authorization: str | None, api_key: str | None) -> str | None:
    """The secret from `Authorization: Bearer …` (what OpenAI clients send) or `X-API-Key`."""
    if api_key:
        return api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass
class Authenticator:
    """Maps a request's secret to its owner."""

    keys: KeyStore
    required: bool

    def owner(self, secret: str | None) -> str:
        if secret is None:
            if self.required:
                raise unauthorized("this server needs an API key: send `Authorization: Bearer <key>` "
                                   "(create one with `talker keys create`)")
            return LOCAL_OWNER
        key = self.keys.verify(secret)
        if key is None:
            raise unauthorized("the API key is not valid (mistyped or revoked); `talker keys list` shows live keys")
        return key.owner


class RateLimiter:
    """A token bucket per owner: `per_minute` sustained, bursts of a quarter of that."""

    def __init__(self, per_minute: int) -> None:
        self._rate = per_minute / 60.0
        self._capacity = max(5.0, per_minute / 4)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, owner: str, now: float | None = None) -> None:
        """Spend one request of `owner`'s budget, or raise 429 saying when to retry."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, stamp = self._buckets.get(owner, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - stamp) * self._rate)
            if tokens < 1.0:
                wait = math.ceil((1.0 - tokens) / self._rate)
                self._buckets[owner] = (tokens, now)
                raise Problem(429, "Too many requests", f"this key's request rate is limited; retry in {wait} s",
                              headers={"Retry-After": str(wait)})
            self._buckets[owner] = (tokens - 1.0, now)
