"""The models behind the routes: loaded lazily, once per process, shared by every request and owner."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from talker.asr.streaming import StreamingTranscriber
    from talker.asr.vad import SileroModel
    from talker.asr.whisper import WhisperASR
    from talker.config import Settings
    from talker.tts.synthesizer import Synthesizer


class Services:
    """Lazy holders for the heavy objects; each is built on first use under a lock."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._objects: dict[str, Any] = {}

    def _get(self, name: str, build: Any) -> Any:
        with self._lock:
            if name not in self._objects:
                self._objects[name] = build()
            return self._objects[name]

    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)

    def synthesizer(self, settings: Settings | None = None) -> Synthesizer:
        """A synthesizer; with `settings` (an owner's data dir) one is made per call — they share the models."""
        from talker.tts.synthesizer import Synthesizer

        if settings is not None:
            return Synthesizer(settings)
        return self._get("synthesizer", lambda: Synthesizer(self.settings))  # type: ignore[no-any-return]

    def recognizer(self) -> WhisperASR:
        from talker.asr import whisper

        return self._get("recognizer", lambda: whisper.create(self.settings))  # type: ignore[no-any-return]

    def vad(self) -> SileroModel:
        from talker.asr import vad

        return self._get("vad", lambda: vad.create(self.settings))  # type: ignore[no-any-return]

    def file_transcriber(self, language: str | None) -> StreamingTranscriber:
        """A transcriber for one uploaded recording (finals only, decoded on the calling thread)."""
        from talker.asr.streaming import InlineDecoder, StreamingTranscriber

        asr = self.settings.asr
        return StreamingTranscriber(self.vad().detector(asr.vad), InlineDecoder(self.recognizer(), language), asr,
                                    partials=False, endpointing=False)

    def close(self) -> None:
        with self._lock:
            self._objects.clear()


def owner_settings(settings: Settings, owner: str) -> Settings:
    """The settings an owner's work runs with: their own data directory (voices, memory, knowledge)."""
    return settings.model_copy(update={"data_dir": owner_dir(settings, owner)})


def owner_dir(settings: Settings, owner: str) -> Path:
    """Where an owner's files live. Owner ids are made by the server (`key_…`, `local`), never by clients."""
    return settings.data_dir / "server" / "owners" / owner
