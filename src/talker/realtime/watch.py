"""Barge-in for a live session: the detector fed with the microphone, the echo gate fed with what was played.

Both sides are stamped with the same clock (monotonic seconds when a microphone piece arrived, when an
audio frame was sent), so the echo gate's delay search covers the whole loop: network, the browser's
jitter buffer, the loudspeaker, the room and the microphone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from talker.realtime.bargein import BargeInDetector, Verdict
from talker.realtime.echo import EchoGate, EchoReference
from talker.realtime.playout import AudioFrame, Playout

_MIC_RATE = 16000
_REANCHOR = 0.1  # seconds of drift between the microphone's own timeline and the clock before re-anchoring


class BargeInWatch:
    """A `Conversation` interrupter: whether the user is talking over the current answer (echo excluded)."""

    def __init__(self, probability: Callable[[np.ndarray], float], playout: Playout,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import soxr

        self._reference = EchoReference()
        self._detector = BargeInDetector(probability, EchoGate(self._reference))
        self._playout = playout
        self._clock = clock
        self._turn = playout.turn
        self._mic_time: float | None = None
        self._played_time: float | None = None
        self._downsample: Any = soxr.ResampleStream(playout.sample_rate, _MIC_RATE, 1, dtype="float32")
        self._lock = threading.Lock()  # frames are reported from the audio track, the microphone from the loop

    def played(self, frame: AudioFrame) -> None:
        """An audio frame was sent: its speech becomes the echo reference."""
        if not frame.speech:
            return
        with self._lock:
            samples = np.asarray(self._downsample.resample_chunk(frame.samples), dtype=np.float32)
            if not samples.size:
                return
            # The resampler hands out a few samples more or less each time: lay them end to end, and
            # re-anchor to the clock only after a gap (a new answer) or drift.
            sent = self._clock()
            if self._played_time is None or abs(sent - self._played_time) > _REANCHOR:
                self._played_time = sent
            self._reference.push(samples, self._played_time)
            self._played_time += samples.size / _MIC_RATE

    def reset(self) -> None:
        """Arm afresh: what it heard before does not count (a prepared answer begins to be watched)."""
        with self._lock:
            self._turn = self._playout.turn
            self._detector.reset()

    def __call__(self, samples: np.ndarray, stream_time: float) -> Verdict:
        with self._lock:
            if self._playout.turn != self._turn:  # a new answer: arm the detector again
                self._turn = self._playout.turn
                self._detector.reset()
            duration = samples.size / _MIC_RATE
            arrived = self._clock() - duration
            # Pieces arrive with network jitter: keep the microphone's timeline contiguous and re-anchor it
            # to the clock only when it has drifted, so the detector sees one unbroken stream.
            if self._mic_time is None or abs(arrived - self._mic_time) > _REANCHOR:
                self._mic_time = arrived
            start = self._mic_time
            self._mic_time += duration
            self._detector.feed(samples, start)
            return self._detector.verdict

    @property
    def speech_started(self) -> float | None:
        """Clock time the user's speech over this answer began (a candidate or a barge-in), if it did."""
        with self._lock:
            event = self._detector.event
            return event.start if event is not None else self._detector.candidate
