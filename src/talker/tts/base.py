"""What every TTS backend provides: voices, and one sentence in, timed audio out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from talker.frames import SpeechAudio
from talker.text.frontend import SpokenSentence

Gender = Literal["female", "male"]


@dataclass(frozen=True)
class Voice:
    """A voice a backend can speak with."""

    id: str
    backend: str
    language: str  # BCP-47-ish: "zh", "en-us", "en-gb", "ja", …
    gender: Gender
    description: str = ""


@dataclass(frozen=True)
class Prosody:
    """Delivery controls: speed (×, 0.5–2), pitch (semitones, −6…+6), volume (gain, 0–2)."""

    speed: float = 1.0
    pitch: float = 0.0
    volume: float = 1.0


class TTSBackend(Protocol):
    """A synthesiser of single sentences. Models load lazily, once per process."""

    name: str

    def voices(self) -> list[Voice]: ...

    def synthesize(self, sentence: SpokenSentence, voice: Voice, prosody: Prosody) -> SpeechAudio:
        """Speak one prepared sentence with per-phoneme and per-word timings."""
        ...
