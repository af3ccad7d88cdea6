"""espeak-ng backend: instant and robotic, the fallback when Kokoro's weights are absent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from talker.errors import InputError
from talker.frames import PhonemeTiming, SpeechAudio, WordTiming
from talker.text.frontend import SpokenSentence, Token
from talker.tts.base import Gender, Prosody, Voice
from talker.tts.effects import pitch_ratio, resample_for_pitch, scale_timings
from talker.tts.espeak_engine import EspeakEngine, base_phoneme, phonemes_of

if TYPE_CHECKING:
    from talker.config import Settings

_VOICES: tuple[tuple[str, str, Gender], ...] = (
    ("espeak_zh_f", "zh", "female"),
    ("espeak_zh_m", "zh", "male"),
    ("espeak_en_f", "en-us", "female"),
    ("espeak_en_m", "en-us", "male"),
)
# espeak-ng reads Chinese from pinyin with tone numbers through this voice, English through en-us.
_ESPEAK_LANGUAGE = {"zh": "cmn-latn-pinyin", "en": "en-us"}
_BASE_RATE_WPM = 175


@dataclass
class _Run:
    lang: str
    text: str
    words: list[tuple[str, int]]  # each word and how many word events espeak reports for it (syllables)


class EspeakBackend:
    """espeak-ng via ctypes; each language run is spoken with its own espeak voice, timings joined."""

    name = "espeak"

    def __init__(self, engine: EspeakEngine | None = None) -> None:
        self._engine = engine or EspeakEngine()

    def voices(self) -> list[Voice]:
        return [Voice(v, self.name, lang, gender, f"espeak-ng {lang} {gender}") for v, lang, gender in _VOICES]

    def synthesize(self, sentence: SpokenSentence, voice: Voice, prosody: Prosody) -> SpeechAudio:
        runs = _runs(sentence.tokens)
        if not runs:
            raise InputError(f"nothing to say in {sentence.written!r}")
        variant = "+f3" if voice.gender == "female" else ""
        # Pitch the same way as Kokoro (slower by r, resampled by r) so a semitone means a semitone.
        ratio = pitch_ratio(prosody.pitch)
        rate = int(min(max(_BASE_RATE_WPM * prosody.speed / ratio, 80), 449))
        volume = int(min(max(prosody.volume * 100, 0), 200))
        parts: list[np.ndarray] = []
        phonemes: list[PhonemeTiming] = []
        words: list[WordTiming] = []
        offset = 0.0
        sample_rate = self._engine.sample_rate
        for run in runs:
            result = self._engine.synthesize(
                run.text, voice=_ESPEAK_LANGUAGE[run.lang] + variant, rate_wpm=rate, volume=volume
            )
            spans = phonemes_of(result)
            phonemes += [PhonemeTiming(base_phoneme(p), offset + s, offset + e) for p, s, e in spans]
            word_starts = [e.time for e in result.events if e.kind == "word"]
            event = 0
            for text, count in run.words:
                if event >= len(word_starts):
                    break
                start = word_starts[event]
                event += count
                following = word_starts[event] if event < len(word_starts) else result.duration
                ends = [e for _, s, e in spans if start <= s < following]
                words.append(WordTiming(text, offset + start, offset + (max(ends) if ends else start)))
            parts.append(result.samples)
            offset += result.duration
        samples = resample_for_pitch(np.concatenate(parts).astype(np.float32), ratio)
        timed_phonemes, timed_words = scale_timings(tuple(phonemes), tuple(words), 1.0 / ratio)
        return SpeechAudio(samples, sample_rate, sentence.written, timed_phonemes, timed_words, voice=voice.id)


def _runs(tokens: tuple[Token, ...]) -> list[_Run]:
    runs: list[_Run] = []
    for token in tokens:
        if token.kind == "punct":
            if runs:
                runs[-1].text += f" {token.text}"
            continue
        if token.kind == "zh":
            text, words = " ".join(token.pinyin), [(token.text, len(token.pinyin))]
        else:
            text, words = token.text, [(word, 1) for word in token.text.split()]
        if runs and runs[-1].lang == token.kind:
            runs[-1].text += f" {text}"
            runs[-1].words += words
        else:
            runs.append(_Run(token.kind, text, list(words)))
    return runs



def create(settings: Settings) -> EspeakBackend:
    """The espeak-ng backend; it needs no assembled model."""
    return EspeakBackend()
