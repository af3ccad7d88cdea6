"""The frame vocabulary that flows between stages. Frozen dataclasses and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class PhonemeTiming:
    """When one phoneme (IPA for Kokoro, espeak mnemonic for espeak) is spoken, in seconds."""

    phoneme: str
    start: float
    end: float


@dataclass(frozen=True)
class WordTiming:
    """When one written word (a Chinese word or an English word) is spoken, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True, eq=False)
class SpeechAudio:
    """Synthesised speech for one sentence: mono float32 PCM with its phoneme and word timings.

    Timings are relative to the start of `samples`; `pts` places the chunk on the stream's timeline.
    """

    samples: np.ndarray
    sample_rate: int
    text: str
    phonemes: tuple[PhonemeTiming, ...] = ()
    words: tuple[WordTiming, ...] = ()
    voice: str = ""
    index: int = 0
    pts: float = 0.0
    channels: int = 1
    turn_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate
