"""The MP4 writer in a child process: frames cross through shared memory, so H.264 encoding runs on
another core instead of contending with the renderer for this process's GIL (PyAV holds it while
encoding)."""

from __future__ import annotations

import multiprocessing as mp
import queue
from multiprocessing import shared_memory
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from talker.errors import InputError

_SLOTS = 6


def _encode(path: str, options: dict[str, Any], memory_name: str, shape: tuple[int, int, int],
            filled: Any, free: Any, results: Any) -> None:
    """Child process: read messages, write the MP4 with the in-process VideoWriter, report the outcome."""
    from talker.media.video import VideoWriter

    memory = shared_memory.SharedMemory(name=memory_name)
    try:
        frames = np.ndarray((_SLOTS, *shape), dtype=np.uint8, buffer=memory.buf)
        with VideoWriter(Path(path), **options) as writer:
            while True:
                kind, payload = filled.get()
                if kind == "frame":
                    writer.write_frame(frames[payload])
                    free.put(payload)
                elif kind == "audio":
                    writer.write_audio(payload)
                elif kind == "abort":
                    raise _AbortedError
                else:  # "close"
                    break
        results.put(("ok", writer.frames_written, ""))
    except _AbortedError:
        results.put(("aborted", 0, ""))
    except InputError as error:
        results.put(("input", 0, str(error)))
    except BaseException as error:  # reported to the parent, which raises it there
        results.put(("error", 0, f"{type(error).__name__}: {error}"))
    finally:
        del frames
        memory.close()


class _AbortedError(Exception):
    pass


class ProcessVideoWriter:
    """Same contract as `VideoWriter` (context manager, write_frame, write_audio; the file appears only on
    success), with the encoder in a child process."""

    def __init__(self, path: Path, width: int, height: int, fps: int = 25, sample_rate: int = 24000,
                 crf: int = 20, preset: str = "veryfast", threads: int = 1) -> None:
        self.path = Path(path)
        self._shape = (height, width, 3)
        self._options: dict[str, Any] = {"width": width, "height": height, "fps": fps,
                                         "sample_rate": sample_rate, "crf": crf, "preset": preset, "threads": threads}
        self._frames_written = 0
        self._process: Any = None
        self._failed = False

    @property
    def frames_written(self) -> int:
        return self._frames_written

    def __enter__(self) -> ProcessVideoWriter:
        from talker.media.files import check_writable
        from talker.media.video import VideoWriter

        VideoWriter(self.path, **self._options)  # validates the options here, with the same messages
        check_writable(self.path)
        context = mp.get_context("spawn")  # a clean child: no copies of the parent's model threads
        self._memory = shared_memory.SharedMemory(create=True, size=_SLOTS * int(np.prod(self._shape)))
        self._slots = np.ndarray((_SLOTS, *self._shape), dtype=np.uint8, buffer=self._memory.buf)
        self._filled, self._free, self._results = context.Queue(), context.Queue(), context.Queue()
        for slot in range(_SLOTS):
            self._free.put(slot)
        self._process = context.Process(
            target=_encode, name="talker-encoder", daemon=True,
            args=(str(self.path), self._options, self._memory.name, self._shape, self._filled, self._free,
                  self._results),
        )
        self._process.start()
        return self

    def write_frame(self, rgb: np.ndarray) -> None:
        if rgb.shape != self._shape or rgb.dtype != np.uint8:
            raise InputError(f"frame must be uint8 with shape {self._shape}, not {rgb.dtype} {rgb.shape}")
        slot = self._take_slot()
        self._slots[slot] = rgb
        self._filled.put(("frame", slot))

    def write_audio(self, samples: np.ndarray) -> None:
        self._filled.put(("audio", np.ascontiguousarray(samples, dtype=np.float32)))

    def _take_slot(self) -> int:
        while True:
            try:
                return int(self._free.get(timeout=1.0))
            except queue.Empty:
                if not self._process.is_alive():
                    self._raise_child_failure()

    def _result(self) -> tuple[str, int, str]:
        """The child's report; waits while it works, not a moment after it has gone."""
        while True:
            try:
                kind, frames, message = self._results.get(timeout=1.0)
                return str(kind), int(frames), str(message)
            except queue.Empty:
                if not self._process.is_alive():
                    try:
                        kind, frames, message = self._results.get(timeout=1.0)
                        return str(kind), int(frames), str(message)
                    except queue.Empty:
                        return "error", 0, "the video encoder process died"

    def _raise_child_failure(self) -> None:
        kind, _, message = self._result()
        self._failed = True
        if kind == "input":
            raise InputError(message)
        raise RuntimeError(f"video encoding failed: {message}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._failed:
                return
            self._filled.put(("close" if exc_type is None else "abort", None))
            kind, frames, message = self._result()
            self._process.join(timeout=10)
            if exc_type is None:
                if kind == "input":
                    raise InputError(message)
                if kind != "ok":
                    raise RuntimeError(f"video encoding failed: {message}")
                self._frames_written = frames
        finally:
            if self._process.is_alive():
                self._process.terminate()
            del self._slots
            self._memory.close()
            self._memory.unlink()
