"""Voice activity detection: Silero VAD (ONNX, from the kit) on 32 ms windows, with start and end events.

`SileroModel` is the process-wide ONNX session; each audio stream gets its own `SpeechDetector`, which
keeps the network's recurrent state and turns per-window speech probabilities into events with
hysteresis (`threshold` to start, `release` to count as silence), a minimum speech length (so a click
or a cough is not a turn) and a hang-over (so a short pause inside a sentence is not an end).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from talker.config import VADSettings

if TYPE_CHECKING:
    from talker.config import Settings

SAMPLE_RATE = 16000
WINDOW = 512  # samples per model call at 16 kHz (32 ms)
_CONTEXT = 64  # the model sees the previous window's last 64 samples before each window
_STATE_SHAPE = (2, 1, 128)
_CONFIRM = 3  # windows a loud burst may hold back an end while the network catches up
_FADING_BELOW_SPEECH = 0.25  # a window 12 dB under the running speech level: the voice is trailing off

EventKind = Literal["start", "end"]


@dataclass(frozen=True)
class VadEvent:
    """Speech started or ended. `time` is where on the stream it happened; `fired` is when it was known."""

    kind: EventKind
    time: float
    fired: float


@dataclass(frozen=True)
class SpeechSegment:
    """One stretch of speech on the stream's timeline (seconds), padding not included."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


class SileroModel:
    """The Silero VAD ONNX session, loaded once per process and shared by every detector."""

    def __init__(self, model_path: Path) -> None:
        self._path = model_path

    def session(self) -> Any:
        from talker.onnx import shared_session

        # One window is a few microseconds of work: threads would cost more than they save.
        return shared_session(self._path, 1)

    def detector(self, settings: VADSettings | None = None) -> SpeechDetector:
        """A fresh detector for one audio stream."""
        return SpeechDetector(self, settings or VADSettings())


class SpeechDetector:
    """Streaming VAD over 16 kHz mono float32 audio fed in pieces of any length."""

    def __init__(self, model: SileroModel, settings: VADSettings) -> None:
        self._session = model.session()
        self.settings = settings
        self._sample_rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self._floor = 10 ** (settings.energy_floor / 20)
        self._min_speech_windows = max(1, round(settings.min_speech * SAMPLE_RATE / WINDOW))
        self._hangover_windows = max(1, round(settings.hangover * SAMPLE_RATE / WINDOW))
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next sample is time 0 of a new stream."""
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._windows = 0  # windows consumed so far
        self._speaking = False
        self._run_start: int | None = None  # first window of a candidate speech run (or silence run)
        self._run_length = 0
        self._suspect_until: int | None = None
        self._noise_rms = self._floor
        self._speech_rms = 0.0
        self._rms = 0.0
        self.last_probability = 0.0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def pause_started(self) -> float | None:
        """While speaking: where the current run of silence began, which is the end if it lasts."""
        if self._speaking and self._run_start is not None:
            return self._seconds(self._run_start)
        return None

    @property
    def fading(self) -> bool:
        """While speaking: the last window was well under the speech level (often a pause beginning, which the
        network hears a window or two later)."""
        return self._speaking and self._rms < _FADING_BELOW_SPEECH * self._speech_rms

    @property
    def position(self) -> float:
        """Seconds of audio consumed (whole windows)."""
        return self._windows * WINDOW / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[VadEvent]:
        """Consume audio; return the events it completes, in order."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._pending.size:
            audio = np.concatenate([self._pending, audio])
        usable = audio.size // WINDOW * WINDOW
        self._pending = audio[usable:].copy()
        windows = audio[:usable].reshape(-1, WINDOW)
        levels = np.sqrt(np.einsum("ij,ij->i", windows, windows) / WINDOW)
        events: list[VadEvent] = []
        for window, level in zip(windows, levels.tolist(), strict=True):
            event = self._step(window, level)
            if event is not None:
                events.append(event)
        return events

    def flush(self) -> list[VadEvent]:
        """The stream has ended: close a segment still open."""
        if not self._speaking:
            return []
        self._speaking = False
        end = self._seconds(self._run_start if self._run_start is not None else self._windows)
        self._run_start, self._run_length = None, 0
        return [VadEvent("end", end, self.position)]

    def probability(self, window: np.ndarray, level: float | None = None) -> float:
        """Speech probability of one 512-sample window (of RMS `level`), advancing the recurrent state."""
        self._rms = float(np.sqrt(np.mean(np.square(window)))) if level is None else level
        if self._rms < self._floor:
            # Digital silence or near it: no need to ask the network, and its state stays as it was.
            self._context = window[-_CONTEXT:].copy()
            return 0.0
        frame = np.concatenate([self._context, window])[np.newaxis, :]
        output, self._state = self._session.run(
            None, {"input": frame, "state": self._state, "sr": self._sample_rate})
        self._context = window[-_CONTEXT:].copy()
        return float(output.reshape(-1)[0])

    def _step(self, window: np.ndarray, level: float) -> VadEvent | None:
        probability = self.probability(window, level)
        self.last_probability = probability
        self._track_levels(probability)
        index = self._windows
        self._windows += 1
        if not self._speaking:
            return self._while_silent(index, probability)
        return self._while_speaking(index, probability)

    def _track_levels(self, probability: float) -> None:
        """Running loudness of speech and of the background, to tell a restart from noise."""
        if probability >= self.settings.threshold:
            self._speech_rms = self._rms if self._speech_rms == 0.0 else 0.9 * self._speech_rms + 0.1 * self._rms
        elif probability < self.settings.release:
            falling = self._rms < self._noise_rms
            self._noise_rms = self._rms if falling else 0.98 * self._noise_rms + 0.02 * self._rms

    def _sounds_like_restart(self) -> bool:
        """A window the network calls silence but that is loud next to the background and near speech level.

        The network needs a window or two to notice speech resuming after a pause; a burst of energy
        holds the end back for up to `_CONFIRM` windows so that lag cannot split a sentence.
        """
        return self._rms > max(4 * self._noise_rms, 0.25 * self._speech_rms, self._floor)

    def _while_silent(self, index: int, probability: float) -> VadEvent | None:
        if probability >= self.settings.threshold:
            if self._run_start is None:
                self._run_start, self._run_length = index, 0
            self._run_length += 1
            if self._run_length >= self._min_speech_windows:
                start = self._seconds(self._run_start)
                self._speaking = True
                self._run_start, self._run_length = None, 0
                return VadEvent("start", start, self.position)
        elif probability < self.settings.release:
            self._run_start, self._run_length = None, 0
        return None

    def _while_speaking(self, index: int, probability: float) -> VadEvent | None:
        if probability >= self.settings.release:
            self._run_start, self._run_length, self._suspect_until = None, 0, None
            return None
        if self._run_start is None:
            self._run_start, self._run_length = index, 0
        self._run_length += 1
        if self._suspect_until is None and self._run_length > 1 and self._sounds_like_restart():
            self._suspect_until = index + _CONFIRM
        if self._suspect_until is not None and index >= self._suspect_until:
            self._suspect_until = None  # the network never agreed: it was noise
        if self._run_length < self._hangover_windows or self._suspect_until is not None:
            return None
        end = self._seconds(self._run_start)
        self._speaking = False
        self._run_start, self._run_length = None, 0
        return VadEvent("end", end, self.position)

    @staticmethod
    def _seconds(window_index: int) -> float:
        return window_index * WINDOW / SAMPLE_RATE


def speech_segments(detector: SpeechDetector, blocks: Iterator[np.ndarray]) -> Iterator[SpeechSegment]:
    """Every stretch of speech in a stream of audio blocks, as soon as each one ends."""
    start: float | None = None
    for block in blocks:
        for event in detector.feed(block):
            if event.kind == "start":
                start = event.time
            elif start is not None:
                yield SpeechSegment(start, event.time)
                start = None
    for event in detector.flush():
        if start is not None and event.kind == "end":
            yield SpeechSegment(start, event.time)


def create(settings: Settings) -> SileroModel:
    """Silero VAD from the kit; a clear error if it is not assembled."""
    from talker.models.kit import ModelKit

    return SileroModel(ModelKit(settings.models_dir).path("silero-vad"))
