"""Frames drawn ahead on a thread with its own clock: which frame is drawn, for how far ahead, and what the tick gets.

The clock is injected and moves only when a frame is drawn (by what the render "costs"); each script has
every render end when or after the next should start, so the drawing thread never sleeps and the schedule
is exact.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np

from talker.realtime.drawahead import DrawAhead, DrawnFrame

FPS = 25
PERIOD = 1 / FPS


class _Renders:
    """A stand-in renderer (plumbing): each render advances the injected clock by its cost and records its lead."""

    def __init__(self, costs: list[float], fail: set[int] | None = None) -> None:
        self.now = 100.0
        self.costs = costs
        self.fail = fail or set()
        self.leads: list[float] = []
        self.finished = threading.Event()
        self.release = threading.Event()

    def clock(self) -> float:
        return self.now

    def draw(self, lead: float) -> tuple[np.ndarray, tuple[int, float] | None]:
        number = len(self.leads)
        if number == len(self.costs):  # the script is played: hold the thread until the test stops it
            self.finished.set()
            self.release.wait(10)
            raise RuntimeError("stopped")
        self.leads.append(lead)
        self.now += self.costs[number]
        if number in self.fail:
            raise RuntimeError("broken render")
        return np.full((2, 2), number, dtype=np.uint8), (1, lead)

    async def played(self) -> DrawAhead:
        """Run the script to its end."""
        ahead = DrawAhead(self.draw, FPS, self.now, asyncio.get_running_loop(), clock=self.clock)
        finished = await asyncio.to_thread(self.finished.wait, 10)
        ahead.stop()
        self.release.set()
        assert finished
        return ahead


def _drawn_indices(renders: _Renders, ahead: DrawAhead) -> list[int]:
    return [index for index in range(1, 20) if ahead.take(index) is not None]


async def test_each_frame_is_drawn_a_period_before_it_is_due_for_where_the_audio_will_be_then() -> None:
    renders = _Renders([PERIOD] * 5)
    ahead = await renders.played()
    assert np.allclose(renders.leads, [PERIOD] * 5)
    assert _drawn_indices(renders, ahead) == [4, 5]  # the two newest are kept: 5 is drawn while 4 goes out
    frame = ahead.take(5)
    assert frame is not None and frame.image[0, 0] == 4
    assert frame.shows is not None and np.isclose(frame.shows[1], PERIOD)


async def test_a_render_slower_than_a_period_skips_to_the_next_tick_it_can_still_make() -> None:
    # Frame 1 takes 2.5 periods: tick 2 is already past when it ends, so the next render is frame 3, for
    # half a period ahead (the time left until its tick).
    renders = _Renders([2.5 * PERIOD, 0.5 * PERIOD, PERIOD])
    ahead = await renders.played()
    assert np.allclose(renders.leads, [PERIOD, 0.5 * PERIOD, PERIOD])
    assert _drawn_indices(renders, ahead) == [3, 4]  # 2 was never drawn: its tick repeats the previous image


async def test_a_broken_render_costs_its_frame_and_drawing_goes_on() -> None:
    renders = _Renders([PERIOD] * 3, fail={2})
    ahead = await renders.played()
    assert ahead.take(3) is None and ahead.take(2) is not None


async def test_the_tick_waits_its_grace_for_a_frame_and_no_longer() -> None:
    release = threading.Event()

    def draw(lead: float) -> tuple[np.ndarray, tuple[int, float] | None]:
        release.wait(10)
        return np.zeros((2, 2), dtype=np.uint8), None

    loop = asyncio.get_running_loop()
    ahead = DrawAhead(draw, FPS, loop.time() - 10 * PERIOD, loop, clock=loop.time)
    try:
        assert await ahead.wait(11, grace=0.01) is None  # the render is stuck
        waiting = asyncio.ensure_future(ahead.wait(11, grace=10))
        await asyncio.sleep(0)
        release.set()
        frame = await waiting
        assert isinstance(frame, DrawnFrame) and frame.index == 11 and frame.shows is None
    finally:
        release.set()
        ahead.stop()
