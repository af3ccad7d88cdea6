"""Barge-in: the user starting to speak over the avatar, told apart from the avatar's own echo and from coughs.

While the avatar speaks the microphone stays open. Every 32 ms window gets a speech probability (Silero,
or anything with the same shape) and an `EchoGate` verdict. A window *counts* when it is speech (at
least `threshold`), not mostly echo, and louder than the background; a window below `release` breaks the
run; anything else (a window in between, or speech the gate calls echo) is tolerated for up to
`max_gap` seconds. Once `pause_after` seconds of counted windows have gathered, the run is a *candidate*:
the avatar pauses (so it stops within about a tenth of a second), and resumes if the run breaks (a cough).
Once `min_speech` seconds have gathered, the detector fires once with the stream time the run began;
`reset()` arms it for the next turn.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from talker.realtime.echo import SAMPLE_RATE, WINDOW, EchoEstimate, EchoGate

ProbabilitySource = Callable[[np.ndarray], float]
# What the microphone says about the answer being spoken: nothing, maybe the user (pause it), the user (stop it).
Verdict = Literal["clear", "candidate", "barge-in"]


@dataclass(frozen=True)
class BargeInSettings:
    """When speech over the avatar counts as the user taking the turn."""

    threshold: float = 0.5  # speech probability that counts
    release: float = 0.35  # probability below which a window breaks the run
    min_speech: float = 0.2  # seconds of counted speech before firing (a cough is shorter)
    pause_after: float = 0.03  # seconds of counted speech before the avatar pauses (resumed if the run breaks)
    max_gap: float = 0.1  # seconds of uncounted, unbroken windows tolerated inside a run


@dataclass(frozen=True)
class BargeIn:
    """The user took the turn: speech began at `start`; it was decided at `fired` (stream seconds)."""

    start: float
    fired: float

    @property
    def latency(self) -> float:
        """Seconds from the start of the user's speech to the decision."""
        return self.fired - self.start


@dataclass(frozen=True)
class WindowVerdict:
    """What the detector made of one window (for logs and tuning)."""

    time: float
    probability: float
    echo: EchoEstimate | None
    counted: bool


class BargeInDetector:
    """Fed microphone audio while the avatar speaks; fires once when the user speaks over it.

    `probability` is called on every 512-sample window in order (a `SpeechDetector.probability` keeps its
    recurrent state, so give each stream its own). Without a `gate` no window is treated as echo.
    """

    def __init__(self, probability: ProbabilitySource, gate: EchoGate | None = None,
                 settings: BargeInSettings | None = None) -> None:
        self._probability = probability
        self.gate = gate
        self.settings = settings or BargeInSettings()
        self._needed = max(1, math.ceil(self.settings.min_speech * SAMPLE_RATE / WINDOW - 1e-9))
        self._pause_needed = min(self._needed, max(1, math.ceil(self.settings.pause_after * SAMPLE_RATE / WINDOW
                                                                - 1e-9)))
        self._max_gap = max(0, round(self.settings.max_gap * SAMPLE_RATE / WINDOW))
        self.last: WindowVerdict | None = None
        self.reset()

    def reset(self) -> None:
        """Arm for the next turn: forget any run and any event (the gate keeps its echo path)."""
        self._pending = np.zeros(0, dtype=np.float32)
        self._pending_time = 0.0
        self._run_start: float | None = None
        self._counted = 0
        self._gap = 0
        self._event: BargeIn | None = None

    @property
    def event(self) -> BargeIn | None:
        """The barge-in of this turn, once fired."""
        return self._event

    @property
    def candidate(self) -> float | None:
        """Where a run of the user's speech began that may become a barge-in (None if none is under way).

        A caller can duck the avatar as soon as this appears and stop it when the detector fires.
        """
        return self._run_start if self._event is None else None

    @property
    def verdict(self) -> Verdict:
        """After the latest window: barge-in (fired this turn), candidate (pause the avatar) or clear."""
        if self._event is not None:
            return "barge-in"
        if self._run_start is not None and self._counted >= self._pause_needed:
            return "candidate"
        return "clear"

    def feed(self, samples: np.ndarray, time: float) -> BargeIn | None:
        """Consume audio whose first sample is at stream `time`; return the barge-in the first time it fires.

        Pieces of any length are cut into 512-sample windows; a piece that does not follow on from the
        previous one (a gap or overlap on the stream timeline) drops the unfinished window.
        """
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        expected = self._pending_time + self._pending.size / SAMPLE_RATE
        if self._pending.size and abs(time - expected) <= 0.5 / SAMPLE_RATE:
            audio = np.concatenate([self._pending, audio])
            time = self._pending_time
        fired: BargeIn | None = None
        offset = 0
        while offset + WINDOW <= audio.size:
            event = self.process(audio[offset:offset + WINDOW], time + offset / SAMPLE_RATE)
            fired = fired or event
            offset += WINDOW
        self._pending = audio[offset:].copy()
        self._pending_time = time + offset / SAMPLE_RATE
        return fired

    def process(self, window: np.ndarray, time: float) -> BargeIn | None:
        """One 512-sample window captured at stream `time`; the barge-in the first time it fires."""
        s = self.settings
        probability = float(self._probability(window))
        estimate = self.gate.assess(window, time) if self.gate is not None else None
        if estimate is None:
            level = float(np.mean(np.square(window, dtype=np.float64)))
            clean, novel = True, level > 0.0
        else:
            clean, novel = not estimate.echo, estimate.novel
        counted = probability >= s.threshold and clean and novel
        self.last = WindowVerdict(time, probability, estimate, counted)
        if self._event is not None:
            return None
        if counted:
            if self._run_start is None:
                self._run_start = time
            self._counted += 1
            self._gap = 0
        elif probability < s.release:
            self._run_start, self._counted, self._gap = None, 0, 0
        elif self._run_start is not None:
            self._gap += 1
            if self._gap > self._max_gap:
                self._run_start, self._counted, self._gap = None, 0, 0
        if self._run_start is not None and self._counted >= self._needed:
            self._event = BargeIn(self._run_start, time + WINDOW / SAMPLE_RATE)
            return self._event
        return None
