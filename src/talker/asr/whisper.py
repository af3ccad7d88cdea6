"""Whisper (faster-whisper, CTranslate2 int8) speech recognition on the kit's Whisper models.

One call encodes the audio once: the language is read off that encoder output (restricted to the
languages we serve, so a short clip is never "detected" as Welsh) and the same output is decoded.
faster-whisper's own `transcribe` would run the encoder twice when the language is unknown, and the
encoder is most of the cost.

The encoder normally sees a padded 30 s window whatever the audio's length. Utterances are short, so
by default it sees a 7 s window (longer when the audio needs it): about 4x less encoder work for a
small loss of accuracy (measured in BENCHMARKS.md; `asr.window = 30` restores Whisper's own).

Decoding is greedy at temperature 0, so the same audio always gives the same text: a streaming final
equals a batch transcription of the same samples.
"""

from __future__ import annotations

import inspect
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from talker.errors import InputError
from talker.frames import WordTiming

if TYPE_CHECKING:
    from talker.config import Settings

SAMPLE_RATE = 16000
SERVED_LANGUAGES = ("zh", "en")
MODELS = {"whisper-base": "multilingual (zh + en)", "whisper-tiny-en": "English only, faster"}
_ZH_PROMPT = "以下是普通话的句子，有标点符号。"
_FRAMES_PER_SECOND = 100
_FULL_WINDOW = 3000  # mel frames in Whisper's native 30 s window
_LEFTOVER = 1.0  # seconds: a window shorter than this after the last segment is padding, not speech
_FULL_WIDTH = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；"})
_HALF_WIDTH_AFTER_HAN = re.compile(r"(?<=[\u3400-\u9fff])[,?!:;.]")


@dataclass(frozen=True)
class Transcript:
    """What was said, in which language; Chinese always in Simplified characters.

    `words` (when asked for) are timed in seconds from the start of the transcribed samples.
    """

    text: str
    language: str
    language_probability: float
    words: tuple[WordTiming, ...] = ()


class WhisperASR:
    """Batch transcription. The model loads once, on first use; calls are serialised by a lock."""

    def __init__(self, model_dir: Path, threads: int = 2, beam_size: int = 1,
                 languages: tuple[str, ...] = SERVED_LANGUAGES, window: float = 30.0) -> None:
        self._model_dir = model_dir
        self._window = window
        self._threads = threads
        self._beam_size = beam_size
        self.languages = languages
        self._model: Any = None
        self._converter: Any = None
        self._defaults: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def multilingual(self) -> bool:
        return len(self.languages) > 1

    def load(self) -> None:
        """Load the model now instead of on the first call."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._model is None:
            from talker.blas import use_one_thread
            from talker.threads import RECOGNITION_NICE, built_in_background, loading_openmp

            # CTranslate2's OpenMP keeps its default spin: a shorter one costs each decode alone ~5-50 ms
            # (talker.threads.LLM_OPENMP_SPIN is llama.cpp's).
            with loading_openmp(None):
                from faster_whisper import WhisperModel

            use_one_thread()  # the mel spectrogram's product would wake OpenBLAS's pool to spin beside the encoder
            self._model = built_in_background(lambda: WhisperModel(
                str(self._model_dir), device="cpu", compute_type="int8", cpu_threads=self._threads, num_workers=1),
                RECOGNITION_NICE)
            self._defaults = {name: parameter.default
                              for name, parameter in inspect.signature(self._model.transcribe).parameters.items()
                              if parameter.default is not inspect.Parameter.empty}
        return self._model

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
        """Transcribe 16 kHz mono float32 audio; `language` ("zh", "en") skips detection."""
        if language is not None and language not in self.languages:
            served = ", ".join(self.languages)
            raise InputError(f"this recogniser understands {served}, not {language!r}; "
                             "use whisper-base for Chinese (TALKER_ASR__MODEL=whisper-base)")
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if audio.size == 0:
            return Transcript("", language or self.languages[0], 0.0)
        with self._lock:
            model = self._load()
            text, detected, probability, words = self._decode(model, audio, language, word_timestamps)
        if detected == "zh":
            text = chinese_punctuation(self._to_simplified(text))
            words = tuple(WordTiming(chinese_punctuation(self._to_simplified(w.text)), w.start, w.end)
                          for w in words)
        return Transcript(text, detected, probability, words)

    def _decode(self, model: Any, audio: np.ndarray, language: str | None,
                word_timestamps: bool) -> tuple[str, str, float, tuple[WordTiming, ...]]:
        from faster_whisper.audio import pad_or_trim
        from faster_whisper.tokenizer import Tokenizer

        features = model.feature_extractor(audio)
        encoder_output = model.encode(pad_or_trim(features, self._encoder_frames(features.shape[-1])))
        if language is None and self.multilingual:
            language, probability = self._detect(model, encoder_output)
        else:
            language, probability = language or self.languages[0], 1.0
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language)
        # A bound on tokens per window stops a repetition loop early (speech is at most ~8 tokens a second).
        max_tokens = min(int(24 + 12 * audio.size / SAMPLE_RATE), 220)
        options = self._options(tokenizer, language, word_timestamps, max_tokens)
        segments = model.generate_segments(features, tokenizer, options, False, encoder_output)
        duration = audio.size / SAMPLE_RATE
        texts: list[str] = []
        words: list[WordTiming] = []
        for segment in segments:
            texts.append(segment.text)
            words += [WordTiming(w.word.strip(), float(w.start), float(w.end)) for w in segment.words or ()]
            if segment.end >= duration - _LEFTOVER:
                # Whisper would go on to decode the last fraction of a second (padding) as a window of its own,
                # where it invents text ("请问您的设计设计…"). Asking for the next segment is what starts it.
                break
        return "".join(texts).strip(), language, probability, tuple(w for w in words if w.text)

    def _encoder_frames(self, frames: int) -> int:
        """Mel frames the encoder sees: the configured window, longer if the audio (plus 1 s) needs it."""
        needed = -(-(frames + _FRAMES_PER_SECOND) // _FRAMES_PER_SECOND) * _FRAMES_PER_SECOND
        return min(max(round(self._window * _FRAMES_PER_SECOND), needed), _FULL_WINDOW)

    def _detect(self, model: Any, encoder_output: Any) -> tuple[str, float]:
        """The most likely of the served languages, with its share of their probability."""
        scores = {token[2:-2]: float(p) for token, p in model.model.detect_language(encoder_output)[0]}
        served = {code: scores.get(code, 0.0) for code in self.languages}
        best = max(served, key=lambda code: served[code])
        total = sum(served.values())
        return best, served[best] / total if total > 0 else 0.0

    def _options(self, tokenizer: Any, language: str, word_timestamps: bool, max_tokens: int | None = None) -> Any:
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        values = dict(self._defaults)
        values.update(
            beam_size=self._beam_size, best_of=1, temperatures=[0.0], condition_on_previous_text=False,
            initial_prompt=_ZH_PROMPT if language == "zh" else None, word_timestamps=word_timestamps,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), multilingual=False,
            max_new_tokens=max_tokens,
        )
        fields = TranscriptionOptions.__dataclass_fields__
        return TranscriptionOptions(**{name: values[name] for name in fields})

    def _to_simplified(self, text: str) -> str:
        if self._converter is None:
            import opencc

            self._converter = opencc.OpenCC("t2s")
        return str(self._converter.convert(text))


def chinese_punctuation(text: str) -> str:
    """Full-width marks after Chinese characters (Whisper often writes "," and "." there)."""
    return _HALF_WIDTH_AFTER_HAN.sub(lambda m: "。" if m.group() == "." else m.group().translate(_FULL_WIDTH), text)


def create(settings: Settings) -> WhisperASR:
    """The configured Whisper model from the kit; a clear error if it is unknown or not assembled."""
    from talker.models.kit import ModelKit

    name = settings.asr.model
    if name not in MODELS:
        known = ", ".join(f"{model} ({what})" for model, what in MODELS.items())
        raise InputError(f"unknown speech recognition model {name!r}; choose one of {known}")
    languages = ("en",) if name.endswith("-en") else SERVED_LANGUAGES
    return WhisperASR(ModelKit(settings.models_dir).path(name), settings.threads, settings.asr.beam_size, languages,
                      settings.asr.window)
