"""API keys: created on the command line, stored only as hashes, each one an owner of its own data."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from talker.errors import InputError

_PREFIX = "tk-"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked REAL
);
"""


@dataclass(frozen=True)
class ApiKey:
    """A key as the server knows it: never the secret itself."""

    id: str
    name: str
    created: float
    revoked: float | None = None

    @property
    def owner(self) -> str:
        """Whose data requests with this key see: the key's own id."""
        return self.id


class KeyStore:
    """Keys in SQLite: the secret's SHA-256 is stored, the secret is shown once at creation."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The store's one connection (opened on first use), held under the store's lock."""
        from talker.dialogue.sqlite import open_database

        with self._lock:
            if self._connection is None:
                self._connection = open_database(self._path, "key store")
                self._connection.executescript(_SCHEMA)
            yield self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def create(self, name: str = "") -> tuple[ApiKey, str]:
        """A new key and its secret (shown to the user once; only its hash is kept)."""
        name = name.strip()[:64] or "unnamed"
        key = ApiKey("key_" + secrets.token_hex(6), name, time.time())
        secret = _PREFIX + secrets.token_urlsafe(32)
        with self._connect() as connection:
            connection.execute("INSERT INTO keys (id, name, digest, created) VALUES (?, ?, ?, ?)",
                               (key.id, key.name, _digest(secret), key.created))
        return key, secret

    def verify(self, secret: str) -> ApiKey | None:
        """The live key with this secret, or None."""
        if not secret.startswith(_PREFIX) or len(secret) > 200:
            return None
        with self._connect() as connection:
            row = connection.execute("SELECT id, name, created, revoked FROM keys WHERE digest = ?",
                                     (_digest(secret),)).fetchone()
        if row is None or row[3] is not None:
            return None
        return ApiKey(row[0], row[1], row[2])

    def list(self) -> list[ApiKey]:
        with self._connect() as connection:
            rows = connection.execute("SELECT id, name, created, revoked FROM keys ORDER BY created").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        with self._connect() as connection:
            updated = connection.execute("UPDATE keys SET revoked = ? WHERE id = ? AND revoked IS NULL",
                                         (time.time(), key_id)).rowcount
        if not updated:
            raise InputError(f"no live key {key_id!r}; `talker keys list` shows them")
        return next(k for k in self.list() if k.id == key_id)

    def any(self) -> bool:
        return any(k.revoked is None for k in self.list())


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
