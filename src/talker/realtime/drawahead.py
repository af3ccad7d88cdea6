"""Video frames drawn ahead of their ticks, on a thread that keeps its own clock.

Frame k of a stream that started at `start` is due at `start + k / fps`. The drawing thread wakes one frame
before that (from the OS timer, not the event loop), asks where the audio will be when frame k is due, and
draws it. The event loop's tick for k only picks the frame up. Were the render started by the tick itself, a
tick the loop reached 30 ms late (it serves several sessions on a busy machine) would leave that render 10 ms
instead of 40; on its own clock every render gets the whole frame period.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("talker.realtime")

Position = tuple[int, float]  # (turn, seconds of speech) a frame shows


@dataclass(frozen=True)
class DrawnFrame:
    """Frame `index` of the stream, and the speech position it shows (None: between turns)."""

    index: int
    image: np.ndarray
    shows: Position | None


# Draws the frame for `lead` seconds from now: the image and the position it shows.
Draw = Callable[[float], tuple[np.ndarray, Position | None]]


class DrawAhead:
    """Draws frames 1, 2, … of a fixed-rate stream, each starting one period before it is due."""

    def __init__(self, draw: Draw, fps: float, start: float, loop: asyncio.AbstractEventLoop,
                 clock: Callable[[], float] = time.monotonic, name: str = "talker-render") -> None:
        self._draw = draw
        self._period = 1.0 / fps
        self._start = start
        self._loop = loop
        self._clock = clock
        self._lock = threading.Lock()
        # The two newest frames: the next one is under way from the moment its predecessor is due.
        self._frames: deque[DrawnFrame] = deque(maxlen=2)
        self._waiter: tuple[int, asyncio.Future[None]] | None = None
        self._stopped = threading.Event()
        self._failed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def due(self, index: int) -> float:
        """When frame `index` is due, on the clock."""
        return self._start + index * self._period

    def take(self, index: int) -> DrawnFrame | None:
        """Frame `index` if it is drawn (another one is never returned: an older one is stale)."""
        with self._lock:
            return next((frame for frame in self._frames if frame.index == index), None)

    async def wait(self, index: int, grace: float) -> DrawnFrame | None:
        """Frame `index`, waiting up to `grace` seconds for it to be drawn."""
        future: asyncio.Future[None] = self._loop.create_future()
        with self._lock:
            ready = any(frame.index >= index for frame in self._frames)
            if not ready:
                self._waiter = (index, future)
        if not ready:
            try:
                await asyncio.wait_for(future, grace)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    self._waiter = None
        return self.take(index)

    def stop(self) -> None:
        """Stop drawing; returns at once (a render under way finishes on its own)."""
        self._stopped.set()

    def _run(self) -> None:
        index = 1
        while not self._stopped.is_set():
            due = self.due(index)
            now = self._clock()
            if now < due - self._period and self._stopped.wait(due - self._period - now):
                return
            now = self._clock()
            if now > due:  # fell more than a frame behind: draw for the next tick that can still be met
                index = math.floor((now - self._start) / self._period) + 1
                continue
            drawn = self._drawn(index, due - now)
            index += 1
            if drawn is None:
                continue
            with self._lock:
                self._frames.append(drawn)
                waiter = self._waiter
            if waiter is not None and waiter[0] <= drawn.index:
                try:
                    self._loop.call_soon_threadsafe(_settle, waiter[1])
                except RuntimeError:  # the loop has closed: nobody is left to show frames to
                    return

    def _drawn(self, index: int, lead: float) -> DrawnFrame | None:
        try:
            image, shows = self._draw(lead)
        except Exception:  # a broken render costs its frame (the tick shows the last good one); say so once
            if not self._failed:
                log.exception("rendering the avatar failed; showing the last frame")
                self._failed = True
            return None
        return DrawnFrame(index, image, shows)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
