"""Opening talker's SQLite stores the same way: one connection, WAL, explicit transactions, clear errors."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from talker.errors import InputError


def open_database(path: Path, what: str) -> sqlite3.Connection:
    """A connection to `path` (created with its folder if missing), in WAL mode with foreign keys on.

    Autocommit mode, so callers open their transactions explicitly; `check_same_thread` is off because
    each store guards its one connection with its own lock. `what` names the store in errors.
    """
    if path.is_dir():
        raise InputError(f"{what} {path} is a directory; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as error:
        raise InputError(f"cannot open {what} {path}: {error}; check the path and permissions") from error
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as error:
        connection.close()
        raise InputError(
            f"{path} is not a usable {what} ({error}); move it away or give another path"
        ) from error
    return connection


@contextmanager
def write_transaction(connection: sqlite3.Connection, lock: threading.RLock, what: str,
                      path: Path) -> Iterator[sqlite3.Connection]:
    """An immediate write transaction under `lock`: committed on success, rolled back on any error;
    SQLite's operational errors (disk full, read-only) become a clear `InputError` naming the store."""
    with lock:
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except BaseException as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            if isinstance(error, sqlite3.OperationalError):
                raise InputError(f"cannot write {what} {path}: {error}; check free space and permissions") from error
            raise
