"""Whisper (faster-whisper, CTranslate2 int8) speech recognition on the kit's Whisper base model."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from talker.config import Settings

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Transcript:
    """What was said, in which language; Chinese always in Simplified characters."""

    text: str
    language: str
    language_probability: float


class WhisperASR:
    """Batch transcription. The model loads once, on first use; calls are serialised by a lock."""

    def __init__(self, model_dir: Path, threads: int = 2, beam_size: int = 1) -> None:
        self._model_dir = model_dir
        self._threads = threads
        self._beam_size = beam_size
        self._model: Any = None
        self._converter: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(str(self._model_dir), device="cpu", compute_type="int8",
                                       cpu_threads=self._threads, num_workers=1)
        return self._model

    def transcribe(self, samples: np.ndarray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono float32 audio; `language` ("zh", "en") skips detection."""
        with self._lock:
            model = self._load()
            segments, info = model.transcribe(
                np.asarray(samples, dtype=np.float32), language=language, beam_size=self._beam_size,
                vad_filter=False, condition_on_previous_text=False,
                initial_prompt="以下是普通话的句子。" if language == "zh" else None,
            )
            text = "".join(segment.text for segment in segments).strip()
        if info.language == "zh":
            text = self._to_simplified(text)
        return Transcript(text, info.language, float(info.language_probability))

    def _to_simplified(self, text: str) -> str:
        if self._converter is None:
            import opencc

            self._converter = opencc.OpenCC("t2s")
        return str(self._converter.convert(text))


def create(settings: Settings) -> WhisperASR:
    """Whisper base from the kit; a clear error if it is not assembled."""
    from talker.models.kit import ModelKit

    return WhisperASR(ModelKit(settings.models_dir).path("whisper-base"), settings.threads, settings.asr.beam_size)
