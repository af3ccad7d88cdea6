"""Background jobs: a SQLite-backed store and a worker-thread runner, not tied to any kind of work.

A job is queued → running → succeeded | failed | cancelled. Every read by a user is scoped by its
owner. The store outlives the process: a runner's `start` re-queues jobs a previous process left
`running` (at most twice) or marks them failed, so no job is lost silently. One runner per database.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal, cast

from talker.dialogue.sqlite import open_database, write_transaction
from talker.errors import InputError, TalkerError

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[JobState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})

# A job is run at most this many times; a process dying during each of them fails it.
MAX_ATTEMPTS = 2
STOPPED_TWICE = "the server stopped twice while this job was running"
PROGRESS_INTERVAL = 0.25  # seconds between progress writes of one job within a stage
FOLLOW_INTERVAL = 0.2

_STORE = "job store"
_MAX_OWNER_CHARS = 200
_MAX_KIND_CHARS = 64
_MAX_STAGE_CHARS = 64
_MAX_ERROR_CHARS = 2000
_MAX_LIST = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    params TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    stage TEXT NOT NULL,
    percent REAL NOT NULL,
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    output TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1))
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created);
CREATE INDEX IF NOT EXISTS jobs_unfinished ON jobs (state) WHERE state IN ('queued', 'running');
"""
_COLUMNS = ("id, owner, kind, params, state, stage, percent, error, created, started, finished, output, attempts, "
            "cancel_requested")


class JobCancelled(Exception):  # noqa: N818 -- it is a signal, not an error
    """Raised by the progress callback when the job's cancellation was requested."""


class JobInterrupted(JobCancelled):
    """Raised by the progress callback when the runner is stopping; the job is run again next start."""


class JobStateError(InputError):
    """The job is not in a state that allows the request (e.g. deleting a running job)."""


@dataclass(frozen=True)
class JobStatus:
    """A job as stored. `output` is a file name the work produced, relative to a directory the caller
    manages; `error` is a message for a person, never a traceback; times are unix seconds."""

    id: str
    owner: str
    kind: str
    params: dict[str, Any]
    state: JobState
    stage: str
    percent: float
    error: str | None
    created: float
    started: float | None
    finished: float | None
    output: str | None
    attempts: int
    cancel_requested: bool = False

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (succeeded, failed or cancelled) and will not change again."""
        return self.state in TERMINAL


# What a work function calls to report progress: `progress(stage, done, total)`, `done` of `total` units of
# the whole job. It raises `JobCancelled` when the job should stop; the work lets it propagate (cleaning up).
Progress = Callable[[str, int, int], None]
Work = Callable[[JobStatus, Progress], str]


@dataclass
class _Throttle:
    """Progress of one running job as last reported, and when it was last written."""

    stage: str
    percent: float
    written: float
    dirty: bool = False


class JobStore:
    """Jobs in one SQLite file, one connection guarded by a lock (opened on first use)."""

    def __init__(self, path: Path, progress_interval: float = PROGRESS_INTERVAL) -> None:
        self._path = path
        self._progress_interval = progress_interval
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._throttle: dict[str, _Throttle] = {}
        self._cancels: set[str] = set()  # requested through this store: seen without waiting for a write

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._connect()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, write_transaction(self._connect(), self._lock, _STORE, self._path) as connection:
            yield connection

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = open_database(self._path, _STORE)
            try:
                connection.executescript(_SCHEMA)
            except sqlite3.Error as error:
                connection.close()
                raise InputError(f"{self._path} is not a usable {_STORE} ({error}); "
                                 "move it away or give another path") from error
            self._connection = connection
        return self._connection

    def close(self) -> None:
        """Close the connection; the next call opens it again."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # -- for users (scoped by owner) ---------------------------------------------------------------------

    def create(self, owner: str, kind: str, params: dict[str, Any]) -> JobStatus:
        """A new queued job; `params` must be JSON-serialisable (it is stored as JSON)."""
        _check_owner(owner)
        if not kind or len(kind) > _MAX_KIND_CHARS:
            raise InputError(f"job kind must be 1–{_MAX_KIND_CHARS} characters")
        try:
            encoded = json.dumps(params, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InputError(f"job parameters cannot be stored: {error}") from error
        job_id = "job_" + secrets.token_hex(8)
        with self._write() as connection:
            connection.execute(
                "INSERT INTO jobs (id, owner, kind, params, state, stage, percent, created) "
                "VALUES (?, ?, ?, ?, 'queued', 'waiting', 0, ?)", (job_id, owner, kind, encoded, time.time()))
            status = self._fetch(connection, job_id)
        assert status is not None
        return status

    def get(self, owner: str, job_id: str) -> JobStatus | None:
        """The job, or None when there is none with this id for this owner (another owner's looks the same)."""
        with self._read() as connection:
            row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ? AND owner = ?",
                                     (job_id, owner)).fetchone()
        return _status(row) if row else None

    def list(self, owner: str, limit: int = 50, state: str | None = None) -> builtins.list[JobStatus]:
        """The owner's jobs, newest first, optionally only those in `state`."""
        if state is not None and state not in STATES:
            raise InputError(f"unknown job state {state!r}; use one of {', '.join(STATES)}")
        limit = max(1, min(int(limit), _MAX_LIST))
        query = f"SELECT {_COLUMNS} FROM jobs WHERE owner = ?"
        args: tuple[Any, ...] = (owner,)
        if state is not None:
            query += " AND state = ?"
            args += (state,)
        with self._read() as connection:
            rows = connection.execute(query + " ORDER BY created DESC, rowid DESC LIMIT ?", (*args, limit)).fetchall()
        return [_status(row) for row in rows]

    def request_cancel(self, owner: str, job_id: str) -> JobStatus | None:
        """Cancel the job: a queued one at once, a running one when its work next reports progress.
        An ended job is returned unchanged; None when the owner has no such job."""
        with self._write() as connection:
            row = connection.execute("SELECT state FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
            if row is None:
                return None
            if row[0] == "queued":
                connection.execute("UPDATE jobs SET state = 'cancelled', cancel_requested = 1, finished = ? "
                                   "WHERE id = ?", (time.time(), job_id))
            elif row[0] == "running":
                connection.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                self._cancels.add(job_id)
            return self._fetch(connection, job_id)

    def delete(self, owner: str, job_id: str) -> JobStatus | None:
        """Remove an ended job and return it (the caller removes its output file); None when there is none.

        Raises `JobStateError` for a queued or running job: it has to be cancelled first."""
        with self._write() as connection:
            status = self._fetch(connection, job_id)
            if status is None or status.owner != owner:
                return None
            if not status.terminal:
                raise JobStateError(f"job {job_id} is still {status.state}; cancel it and wait until it "
                                    "has stopped before deleting it")
            connection.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return status

    # -- for the runner (by id) --------------------------------------------------------------------------

    def unfinished(self) -> builtins.list[JobStatus]:
        """Every owner's queued and running jobs, oldest first."""
        with self._read() as connection:
            rows = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') "
                                      "ORDER BY created, rowid").fetchall()
        return [_status(row) for row in rows]

    def mark_running(self, job_id: str) -> JobStatus | None:
        """Claim a queued job for a run (counting the attempt); None when it is no longer queued."""
        with self._write() as connection:
            updated = connection.execute(
                "UPDATE jobs SET state = 'running', stage = 'starting', percent = 0, started = ?, "
                "attempts = attempts + 1 WHERE id = ? AND state = 'queued'", (time.time(), job_id)).rowcount
            status = self._fetch(connection, job_id) if updated else None
        if status is not None:
            with self._lock:
                self._throttle[job_id] = _Throttle(status.stage, 0.0, time.monotonic())
        return status

    def set_progress(self, job_id: str, stage: str, percent: float) -> bool:
        """Record a running job's progress; whether its cancellation was requested.

        A new stage is written at once, the same stage at most every `progress_interval` seconds (the
        latest value is kept and written with the job's end). The cancel flag is read with each write,
        so a request through another connection is seen within that interval."""
        stage = stage[:_MAX_STAGE_CHARS]
        percent = min(max(float(percent), 0.0), 100.0)
        now = time.monotonic()
        with self._lock:
            throttle = self._throttle.get(job_id)
            if throttle is not None and throttle.stage == stage and now - throttle.written < self._progress_interval:
                throttle.percent, throttle.dirty = percent, True
                return job_id in self._cancels
            self._throttle[job_id] = _Throttle(stage, percent, now)
            with self._write() as connection:
                connection.execute("UPDATE jobs SET stage = ?, percent = ? WHERE id = ? AND state = 'running'",
                                   (stage, percent, job_id))
                row = connection.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def cancel_requested(self, job_id: str) -> bool:
        """Whether the job's cancellation was requested."""
        with self._read() as connection:
            row = connection.execute("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def mark_succeeded(self, job_id: str, output: str) -> JobStatus | None:
        """End a running job with its output file name."""
        return self._finish(job_id, "succeeded", ("running",), stage="done", percent=100.0, output=output)

    def mark_failed(self, job_id: str, error: str) -> JobStatus | None:
        """End a queued or running job with a message for the user."""
        return self._finish(job_id, "failed", ("queued", "running"), error=error[:_MAX_ERROR_CHARS] or "failed")

    def mark_cancelled(self, job_id: str) -> JobStatus | None:
        """End a queued or running job as cancelled."""
        return self._finish(job_id, "cancelled", ("queued", "running"))

    def requeue(self, job_id: str) -> JobStatus | None:
        """Put a running job back in the queue to be run again from scratch (its attempts are kept)."""
        with self._lock:
            self._throttle.pop(job_id, None)
            self._cancels.discard(job_id)
        with self._write() as connection:
            connection.execute("UPDATE jobs SET state = 'queued', stage = 'waiting', percent = 0, started = NULL "
                               "WHERE id = ? AND state = 'running'", (job_id,))
            return self._fetch(connection, job_id)

    def _finish(self, job_id: str, state: JobState, from_states: tuple[str, ...], *, stage: str | None = None,
                percent: float | None = None, output: str | None = None, error: str | None = None) -> JobStatus | None:
        """Move a job into an end state (only from `from_states`; an ended job never changes); the job as it
        is afterwards, None when it does not exist."""
        with self._lock:
            throttle = self._throttle.pop(job_id, None)
            self._cancels.discard(job_id)
        if throttle is not None and throttle.dirty and stage is None:
            stage, percent = throttle.stage, throttle.percent
        marks = ", ".join(f"{name} = ?" for name in ("state", "finished", "output", "error"))
        values: list[Any] = [state, time.time(), output, error]
        if stage is not None:
            marks += ", stage = ?, percent = ?"
            values += [stage, percent]
        placeholders = ", ".join("?" for _ in from_states)
        with self._write() as connection:
            connection.execute(f"UPDATE jobs SET {marks} WHERE id = ? AND state IN ({placeholders})",
                               (*values, job_id, *from_states))
            return self._fetch(connection, job_id)

    def _fetch(self, connection: sqlite3.Connection, job_id: str) -> JobStatus | None:
        row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _status(row) if row else None


class JobRunner:
    """Runs a store's jobs in `workers` threads, first come first served.

    `work(job, progress)` returns the output's file name. A `TalkerError` fails the job with its message;
    any other exception fails it with a generic message naming the stage (the traceback goes to the log).
    """

    def __init__(self, store: JobStore, work: Work, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._store = store
        self._work = work
        self._workers = workers
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._queued: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopping = threading.Event()
        self._interrupt = threading.Event()

    @property
    def store(self) -> JobStore:
        return self._store

    def start(self) -> None:
        """Recover the previous process's unfinished jobs, then start the worker threads."""
        with self._lock:
            if self._started:
                raise RuntimeError("the job runner was already started")
            self._started = True
        for job in self._store.unfinished():
            if job.state == "running":
                recovered = self._recover(job)
                if recovered is None or recovered.state != "queued":
                    continue
            self._enqueue(job.id)
        for index in range(self._workers):
            thread = threading.Thread(target=self._loop, name=f"job-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _recover(self, job: JobStatus) -> JobStatus | None:
        """A job the previous process left running: run it again, or end it if that would be too often."""
        if job.cancel_requested:
            log.info("job %s was being cancelled when the server stopped; marked cancelled", job.id)
            return self._store.mark_cancelled(job.id)
        if job.attempts >= MAX_ATTEMPTS:
            log.warning("job %s was interrupted %d times; marked failed", job.id, job.attempts)
            return self._store.mark_failed(job.id, STOPPED_TWICE)
        log.info("job %s was interrupted by a server stop; running it again", job.id)
        return self._store.requeue(job.id)

    def submit(self, job: JobStatus) -> None:
        """Queue a job created in the store. After `stop` it stays queued in the store for the next start."""
        if self._stopping.is_set():
            log.info("job %s stays queued until the next start: the runner is stopping", job.id)
            return
        self._enqueue(job.id)

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._queued:
                return
            self._queued.add(job_id)
        self._queue.put(job_id)

    def stop(self, wait: bool = True, timeout: float | None = None) -> None:
        """Take no more jobs; queued ones stay queued in the store. With `wait`, let running jobs finish;
        without it, their next progress report raises `JobInterrupted` and they stay `running` in the
        store for the next start to run again."""
        if not wait:
            self._interrupt.set()
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in self._threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            with self._lock:
                self._queued.discard(job_id)
            try:
                self._run(job_id)
            except Exception:
                # The store itself failed (disk full…): the job stays as it was for the next start.
                log.exception("job %s: could not record its state", job_id)

    def _run(self, job_id: str) -> None:
        job = self._store.mark_running(job_id)
        if job is None:
            return  # cancelled (or deleted) while it waited
        stage = job.stage

        def progress(new_stage: str, done: int, total: int) -> None:
            nonlocal stage
            stage = new_stage
            percent = 100.0 * done / total if total > 0 else 0.0
            if self._store.set_progress(job_id, new_stage, percent):
                raise JobCancelled(f"job {job_id} was cancelled")
            if self._interrupt.is_set():
                raise JobInterrupted(f"job {job_id} was interrupted: the server is stopping")

        try:
            output = self._work(job, progress)
            _check_output(output)
        except JobInterrupted:
            log.info("job %s interrupted by the server stopping; it runs again next start", job_id)
        except Exception as error:
            if isinstance(error, JobCancelled) or self._store.cancel_requested(job_id):
                self._store.mark_cancelled(job_id)
            elif self._interrupt.is_set():
                # Likely a side effect of the stop (a child process ended); running it again is the safe side.
                log.info("job %s ended while the server was stopping (%s); it runs again next start", job_id, error)
            elif isinstance(error, TalkerError) and str(error):
                self._store.mark_failed(job_id, str(error))
            else:
                log.exception("job %s (%s) failed while %s", job_id, job.kind, stage or "starting")
                self._store.mark_failed(job_id, f"internal error while {stage or 'starting'}; "
                                                "the server log has details")
        else:
            self._store.mark_succeeded(job_id, output)

    async def follow(self, owner: str, job_id: str, interval: float = FOLLOW_INTERVAL) -> AsyncIterator[JobStatus]:
        """The job's status now and after each change, until it has ended; nothing when the owner has no
        such job. Polls the store from a worker thread, so the event loop is never blocked."""
        last: JobStatus | None = None
        while True:
            status = await asyncio.to_thread(self._store.get, owner, job_id)
            if status is None:
                return
            if status != last:
                yield status
                last = status
            if status.terminal:
                return
            await asyncio.sleep(interval)


def _check_owner(owner: str) -> None:
    if not owner or len(owner) > _MAX_OWNER_CHARS:
        raise InputError(f"job owner must be 1–{_MAX_OWNER_CHARS} characters")


def _check_output(output: object) -> None:
    """The work's output must be a plain relative file name, as it is later joined to a directory."""
    if not isinstance(output, str) or not output:
        raise TypeError(f"job work returned {output!r}, not a file name")
    for flavour in (PurePosixPath(output), PureWindowsPath(output)):
        if flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
            raise ValueError(f"job work returned {output!r}, not a relative file name")


def _status(row: tuple[Any, ...]) -> JobStatus:
    (job_id, owner, kind, params, state, stage, percent, error, created, started, finished, output, attempts,
     cancel_requested) = row
    return JobStatus(job_id, owner, kind, cast(dict[str, Any], json.loads(params)), state, stage, percent, error,
                     created, started, finished, output, attempts, bool(cancel_requested))
