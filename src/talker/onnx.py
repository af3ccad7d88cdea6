"""ONNX Runtime sessions: one per model and thread count per process, on the CPU, quiet, and haltable.

A run made under a `Halt` (`with halting(halt): ...` on the thread that runs the model) stops within one
operator of `halt.stop()`, from any thread: an answer cut short stops its speech synthesis at once rather
than finishing a sentence nobody will hear, which would take a core from the recognition of what the user
says next.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from talker.threads import built_in_background

_lock = threading.Lock()
_sessions: dict[tuple[str, int], Any] = {}
_local = threading.local()  # .halt: the Halt the calling thread's runs are made under


class HaltedError(Exception):
    """A run was stopped by its `Halt` (its result is no longer wanted)."""


class Halt:
    """Stops the ONNX runs made under it, at once, and every later one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = False
        self._running: list[Any] = []  # the RunOptions of runs in progress

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def running(self) -> int:
        """How many runs under this halt are in progress."""
        with self._lock:
            return len(self._running)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for options in self._running:
                options.terminate = True

    def _begin(self) -> Any:
        import onnxruntime as ort

        options = ort.RunOptions()
        with self._lock:
            if self._stopped:
                raise HaltedError("stopped before it ran")
            self._running.append(options)
        return options

    def _end(self, options: Any) -> None:
        with self._lock:
            self._running.remove(options)


@contextlib.contextmanager
def halting(halt: Halt) -> Iterator[None]:
    """Make the calling thread's ONNX runs stoppable by `halt` for the duration of the block."""
    previous = current_halt()
    _local.halt = halt
    try:
        yield
    finally:
        _local.halt = previous


def current_halt() -> Halt | None:
    """The halt the calling thread's runs are made under, if any (for work other than ONNX runs to honour)."""
    return getattr(_local, "halt", None)


class _HaltableSession:
    """An InferenceSession whose runs honour the calling thread's `Halt`; everything else passes through."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        halt = current_halt()
        if halt is None or run_options is not None:
            return self._session.run(output_names, input_feed, run_options)
        options = halt._begin()
        try:
            return self._session.run(output_names, input_feed, options)
        except Exception as error:
            if halt.stopped:
                raise HaltedError(str(error)) from None
            raise
        finally:
            halt._end(options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def shared_session(model: Path, threads: int) -> Any:
    """The process's session for `model` with `threads` intra-op threads, created on first use."""
    key = (str(model), threads)
    with _lock:
        if key not in _sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Idle pool threads sleep instead of spinning: on a shared CPU (the live video, the LLM, other
            # sessions) spinning threads take the cores the work needs. Measured on 2 cores with Kokoro at
            # nice 10: alone 5 % slower (637 vs 603 ms a clause); beside a busy core 2.0 s instead of 2.9 s.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = built_in_background(
                lambda: ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"]))
            _sessions[key] = _HaltableSession(session)
        return _sessions[key]
