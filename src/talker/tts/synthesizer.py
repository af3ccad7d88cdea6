"""Text in, a stream of timed speech chunks out: one chunk per sentence, the first out first."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import replace

from talker.config import Settings
from talker.errors import InputError, ModelMissingError
from talker.frames import SpeechAudio
from talker.registry import factory
from talker.text.frontend import TextFrontend
from talker.text.sentences import iter_sentences
from talker.tts.base import Prosody, TTSBackend, Voice

_BACKENDS = ("kokoro", "espeak")


class Synthesizer:
    """Chooses a backend and voice, and streams a text sentence by sentence through it."""

    def __init__(
        self,
        settings: Settings,
        frontend: TextFrontend | None = None,
        backends: dict[str, TTSBackend] | None = None,
    ) -> None:
        self.settings = settings
        self.frontend = frontend or TextFrontend()
        self._backends: dict[str, TTSBackend] = dict(backends or {})
        self._names = tuple(dict.fromkeys([*_BACKENDS, *self._backends]))
        self._lock = threading.Lock()

    def backend(self, name: str) -> TTSBackend:
        with self._lock:
            if name not in self._backends:
                self._backends[name] = factory(f"tts.{name}")(self.settings)
            return self._backends[name]

    def default_backend(self) -> str:
        """The configured backend; "auto" is Kokoro when its weights are assembled, else espeak-ng."""
        wanted = self.settings.tts.backend
        if wanted != "auto":
            if wanted not in self._names:
                raise InputError(f"unknown TTS backend {wanted!r}; choose one of: auto, {', '.join(self._names)}")
            return wanted
        try:
            self.backend("kokoro")
            return "kokoro"
        except ModelMissingError as error:
            print(f"talker: using espeak-ng, Kokoro is unavailable ({error})", file=sys.stderr)
            return "espeak"

    def voices(self, backends: Iterable[str] | None = None) -> list[Voice]:
        """Every voice of the named backends (default: all) that can load here."""
        out: list[Voice] = []
        for name in self._names if backends is None else backends:
            try:
                out += self.backend(name).voices()
            except ModelMissingError:
                continue
        return out

    def voice(self, voice_id: str | None, language: str) -> Voice:
        """The voice called `voice_id`, or the default voice for `language` ("zh" or "en")."""
        if voice_id is None:
            name = self.default_backend()
            backend_voices = self.backend(name).voices()  # a missing model raises its own clear error
            if name == "kokoro":
                wanted = self.settings.tts.voice_zh if language == "zh" else self.settings.tts.voice_en
                candidates = [v for v in backend_voices if v.id == wanted]
            else:
                candidates = [v for v in backend_voices if v.language.startswith(language)]
            if candidates:
                return candidates[0]
            voice_id = self.settings.tts.voice_zh if language == "zh" else self.settings.tts.voice_en
        profile = self._profile_voice(voice_id)
        if profile is not None:
            return profile
        unavailable: list[str] = []
        for name in self._names:
            try:
                for voice in self.backend(name).voices():
                    if voice.id == voice_id:
                        return voice
            except ModelMissingError as error:
                unavailable.append(f"{name} is unavailable: {error}")
        known = ", ".join(v.id for v in self.voices()[:8])
        why = f" ({'; '.join(unavailable)})" if unavailable else ""
        raise InputError(f"unknown voice {voice_id!r}; `talker voices` lists them (e.g. {known}), "
                         f"`talker voice list` the stored profiles{why}")

    def _profile_voice(self, voice_id: str) -> Voice | None:
        """A stored voice profile called `voice_id`, made speakable by its backend; None if there is none."""
        from talker.tts.profiles import ProfileStore

        profile = ProfileStore.for_settings(self.settings).find(voice_id)
        if profile is None:
            return None
        backend = self.backend(profile.speaks_with)
        register = getattr(backend, "register_profile", None)
        if register is not None:
            register(profile)
        return profile.voice()

    def stream(
        self,
        text: str | Iterable[str],
        voice: str | None = None,
        prosody: Prosody | None = None,
    ) -> Iterator[SpeechAudio]:
        """Synthesise `text` (a string or pieces of one, read lazily) as one chunk per sentence.

        Each chunk's `pts` places it on the stream's timeline; the gap before the next chunk is the
        pause between sentences, which writers fill with silence.

        A voice given by name is checked before anything is read; without one, the first sentence's
        language picks the default voice. Sentences with nothing to say (emoji, marks) are skipped.
        """
        prosody = prosody or Prosody(self.settings.tts.speed, self.settings.tts.pitch, self.settings.tts.volume)
        _check_prosody(prosody)
        voice_id = voice or self.settings.tts.voice
        chosen = self.voice(voice_id, "zh") if voice_id else None
        pts = 0.0
        index = 0
        for sentence in iter_sentences(text, self.settings.tts.max_sentence_chars):
            spoken = self.frontend.prepare(sentence)
            if not spoken.speakable:
                continue
            if chosen is None:
                chosen = self.voice(None, spoken.lang)
            chunk = self.backend(chosen.backend).synthesize(spoken, chosen, prosody)
            yield replace(chunk, index=index, pts=pts)
            pts += chunk.duration + _pause_after(spoken.written, self.settings.tts.sentence_pause)
            index += 1
        if index == 0:
            raise InputError("nothing to say: the text has no words (only spaces, punctuation or emoji)")

    async def astream(
        self,
        text: str | Iterable[str],
        voice: str | None = None,
        prosody: Prosody | None = None,
    ) -> AsyncIterator[SpeechAudio]:
        """`stream`, with every sentence synthesised in a worker thread so the event loop stays free.

        Stopping the iteration stops synthesis after the sentence in progress.
        """
        chunks = self.stream(text, voice, prosody)
        while True:
            chunk = await asyncio.to_thread(next, chunks, None)
            if chunk is None:
                return
            yield chunk


_CLAUSE_END = frozenset("，,、：:—")


def _pause_after(text: str, pause: float) -> float:
    """The silence a speaker leaves after this sentence (half as much after a clause cut).

    Chunks hold speech only; the pause lives on the timeline, as the gap to the next chunk's pts."""
    return pause / 2 if text.rstrip()[-1:] in _CLAUSE_END else pause


def _check_prosody(prosody: Prosody) -> None:
    if not 0.5 <= prosody.speed <= 2.0:
        raise InputError(f"speed {prosody.speed} is out of range: use 0.5 to 2.0")
    if not -6.0 <= prosody.pitch <= 6.0:
        raise InputError(f"pitch {prosody.pitch} is out of range: use -6 to +6 semitones")
    if not 0.0 <= prosody.volume <= 2.0:
        raise InputError(f"volume {prosody.volume} is out of range: use 0 to 2")
