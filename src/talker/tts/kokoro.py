"""Kokoro-82M (int8 ONNX) backend: Chinese and English from one model, with per-phoneme timings."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from talker.errors import InputError
from talker.frames import PhonemeTiming, SpeechAudio, WordTiming
from talker.text.frontend import SpokenSentence, Token
from talker.text.g2p_zh import pinyin_to_kokoro
from talker.tts.base import Gender, Prosody, Voice
from talker.tts.effects import apply_volume, pitch_ratio, resample_for_pitch, scale_timings

if TYPE_CHECKING:
    from kokoro_onnx import Kokoro

    from talker.config import Settings
    from talker.tts.profiles import Profile as VoiceProfile

SAMPLE_RATE = 24000
STYLE_SHAPE = (510, 1, 256)
_LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja",
              "p": "pt-br", "z": "zh"}
_TONES = frozenset("↓↘↗→")
_ATTACH_TO_PREVIOUS = frozenset("ːʰʲ̃ᵊ") | _TONES  # marks that belong to the phoneme before them
_STRESS = frozenset("ˈˌ")  # marks that belong to the vowel after them
_PAUSES = frozenset(" ,.!?:;…—()“”\"")
_SPEED_RANGE = (0.5, 2.0)


@dataclass(frozen=True)
class _Piece:
    """A stretch of the phoneme string and the word it voices (None for spaces and marks)."""

    phonemes: str
    word: str | None


class _SharedModel:
    """The ONNX session and voices, loaded once per process under a lock."""

    _lock = threading.Lock()
    _loaded: ClassVar[dict[tuple[str, str, int], Kokoro]] = {}

    @classmethod
    def get(cls, model: Path, voices: Path, threads: int) -> Kokoro:
        key = (str(model), str(voices), threads)
        with cls._lock:
            if key not in cls._loaded:
                from kokoro_onnx import Kokoro

                from talker.onnx import shared_session

                cls._loaded[key] = Kokoro.from_session(shared_session(model, threads), str(voices))
            return cls._loaded[key]


class KokoroBackend:
    """Neural TTS. Chinese words are read through our own G2P, English runs through espeak-ng IPA."""

    name = "kokoro"

    def __init__(self, model_path: Path, voices_path: Path, threads: int = 2) -> None:
        self._model_path = model_path
        self._voices_path = voices_path
        self._threads = threads
        self._voice_ids: list[str] | None = None
        self._styles: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Kokoro:
        return _SharedModel.get(self._model_path, self._voices_path, self._threads)

    def voices(self) -> list[Voice]:
        if self._voice_ids is None:
            with np.load(self._voices_path) as packs:
                self._voice_ids = sorted(packs.files)
        out = []
        for voice_id in self._voice_ids:
            gender: Gender = "male" if voice_id[1:2] == "m" else "female"
            language = _LANGUAGES.get(voice_id[:1], "en-us")
            out.append(Voice(voice_id, self.name, language, gender, voice_id.split("_", 1)[-1]))
        return out

    def register_style(self, voice_id: str, style: np.ndarray) -> None:
        """Speak `voice_id` with this style array (a blend of voice packs, shape (510, 1, 256))."""
        style = np.asarray(style, dtype=np.float32)
        if style.shape != STYLE_SHAPE or not np.all(np.isfinite(style)):
            raise InputError(f"voice {voice_id!r} has an unusable style array of shape {style.shape}; "
                             f"expected {STYLE_SHAPE}; add the voice again")
        self._styles[voice_id] = style

    def register_profile(self, profile: VoiceProfile) -> None:
        """Make a stored blend profile speakable by its name."""
        path = profile.style_path
        if path is None or not path.is_file():
            raise InputError(f"voice {profile.name!r} has no style file; add it again with `talker voice add --force`")
        self.register_style(profile.name, np.load(path))

    def synthesize(self, sentence: SpokenSentence, voice: Voice, prosody: Prosody) -> SpeechAudio:
        model = self.model
        pieces = self._pieces(sentence.tokens, model)
        phonemes = "".join(p.phonemes for p in pieces)
        if not phonemes.strip(" ,.!?:;…—"):
            raise InputError(f"nothing to say in {sentence.written!r}")
        ratio = pitch_ratio(prosody.pitch)
        speed = min(max(prosody.speed / ratio, _SPEED_RANGE[0]), _SPEED_RANGE[1])
        style = self._styles.get(voice.id)
        audio, rate, timings = model.create_timed(phonemes, voice.id if style is None else style, speed=speed,
                                                  is_phonemes=True)
        samples = np.asarray(audio, dtype=np.float32)
        phone_timings, owners, words = _align(pieces, model.tokenizer.vocab, timings)
        phone_timings = snap_to_sound(phone_timings, samples, rate)
        word_timings = _word_spans(phone_timings, owners, words)
        samples = resample_for_pitch(samples, ratio)
        phone_timings, word_timings = scale_timings(phone_timings, word_timings, 1.0 / ratio)
        samples = apply_volume(samples, prosody.volume)
        return SpeechAudio(samples, rate, sentence.written, phone_timings, word_timings, voice=voice.id)

    def _pieces(self, tokens: tuple[Token, ...], model: Kokoro) -> list[_Piece]:
        pieces: list[_Piece] = []
        for token in tokens:
            if token.kind == "punct":
                if pieces and pieces[-1].word is None and pieces[-1].phonemes == " ":
                    pieces.pop()
                pieces += [_Piece(token.text, None), _Piece(" ", None)]
                continue
            if pieces and pieces[-1].phonemes != " ":
                pieces.append(_Piece(" ", None))
            if token.kind == "zh":
                ipa = "".join(pinyin_to_kokoro(p) for p in token.pinyin)
                if ipa:
                    pieces.append(_Piece(ipa, token.text))
            else:
                pieces += _english_pieces(token.text, model)
        while pieces and pieces[-1].phonemes == " ":
            pieces.pop()
        return pieces


def _english_pieces(text: str, model: Kokoro) -> list[_Piece]:
    """espeak-ng IPA for an English run, one piece per word when the word counts line up."""
    ipa = model.tokenizer.phonemize(text, "en-us")
    words = text.split()
    spoken = ipa.split()
    if len(words) != len(spoken):
        return [_Piece(ipa, text)]
    out: list[_Piece] = []
    for index, (word, phones) in enumerate(zip(words, spoken, strict=True)):
        if index:
            out.append(_Piece(" ", None))
        out.append(_Piece(phones, word.strip(",.!?;:\"'()")))
    return out


def snap_to_sound(
    phonemes: tuple[PhonemeTiming, ...], samples: np.ndarray, rate: int, reach: float = 0.1
) -> tuple[PhonemeTiming, ...]:
    """Move phoneme edges that border a pause to where the sound really starts or stops.

    Kokoro's durations are in 25 ms frames and its onsets often begin a frame or two before the first
    phoneme's boundary; the energy envelope places the edges next to silence more exactly.
    """
    if not phonemes or samples.size == 0:
        return phonemes
    hop = rate // 100
    usable = len(samples) // hop * hop
    envelope = np.sqrt(np.mean(np.square(samples[:usable].reshape(-1, hop)), axis=1))
    threshold = 0.1 * float(envelope.max()) if envelope.size else 0.0
    loud = envelope > threshold
    out = list(phonemes)
    for index, phoneme in enumerate(out):
        gap_before = phoneme.start - (out[index - 1].end if index else 0.0)
        if gap_before > 1e-3 or index == 0:
            first = int(max(phoneme.start - min(reach, gap_before if index else reach), 0) * 100)
            frames = np.flatnonzero(loud[first:int(phoneme.start * 100)])
            if frames.size:
                out[index] = PhonemeTiming(phoneme.phoneme, (first + frames[0]) / 100, phoneme.end)
        following = out[index + 1].start if index + 1 < len(out) else len(samples) / rate
        gap_after = following - out[index].end
        if gap_after > 1e-3:
            stop = min(out[index].end + min(reach, gap_after), following)
            frames = np.flatnonzero(loud[int(out[index].end * 100):int(stop * 100)])
            if frames.size:
                current = out[index]
                new_end = min(int(current.end * 100) + frames[-1] + 1, int(stop * 100)) / 100
                out[index] = PhonemeTiming(current.phoneme, current.start, max(current.end, new_end))
    return tuple(out)


def _align(
    pieces: list[_Piece], vocab: dict[str, int], timings: list[Any]
) -> tuple[tuple[PhonemeTiming, ...], list[int | None], list[str]]:
    """Pair Kokoro's per-symbol timings with our phonemes; also say which word each phoneme voices.

    Kokoro times every symbol it knows, marks and spaces included; tone and length marks extend the
    phoneme before them, stress marks move the next phoneme's start earlier.
    """
    expected: list[tuple[str, int | None]] = []
    words: list[str] = []
    for piece in pieces:
        word_index = None
        if piece.word is not None:
            words.append(piece.word)
            word_index = len(words) - 1
        expected += [(char, word_index) for char in piece.phonemes if char in vocab]

    phonemes: list[PhonemeTiming] = []
    owners: list[int | None] = []
    cursor = 0
    pending_start: float | None = None
    for timing in timings:
        while cursor < len(expected) and expected[cursor][0] != timing.phoneme:
            cursor += 1
        if cursor >= len(expected):
            break
        char, word_index = expected[cursor]
        cursor += 1
        start, end = float(timing.start), float(timing.end)
        if char == " " and phonemes and pending_start is None:
            # A word boundary is not a pause: speech runs on, so each neighbour takes half of it.
            middle = (start + end) / 2
            last = phonemes[-1]
            phonemes[-1] = PhonemeTiming(last.phoneme, last.start, max(last.end, middle))
            pending_start = middle
            continue
        if char in _PAUSES:
            pending_start = None
            continue
        if char in _STRESS:
            pending_start = start if pending_start is None else pending_start
            continue
        if char in _ATTACH_TO_PREVIOUS and phonemes:
            last = phonemes[-1]
            symbol = last.phoneme if char in _TONES else last.phoneme + char
            phonemes[-1] = PhonemeTiming(symbol, last.start, max(last.end, end))
            continue
        if pending_start is not None:
            start, pending_start = pending_start, None
        phonemes.append(PhonemeTiming(char, start, end))
        owners.append(word_index)
    return tuple(phonemes), owners, words


def _word_spans(
    phonemes: tuple[PhonemeTiming, ...], owners: list[int | None], words: list[str]
) -> tuple[WordTiming, ...]:
    """Each word spans from its first phoneme's start to its last phoneme's end."""
    spans: dict[int, tuple[float, float]] = {}
    for phoneme, owner in zip(phonemes, owners, strict=True):
        if owner is not None:
            start, end = spans.get(owner, (phoneme.start, phoneme.end))
            spans[owner] = (min(start, phoneme.start), max(end, phoneme.end))
    return tuple(WordTiming(words[i], start, end) for i, (start, end) in sorted(spans.items()))


def create(settings: Settings) -> KokoroBackend:
    """A Kokoro backend on the kit's weights; a clear error if they are not assembled."""
    from talker.models.kit import ModelKit

    kit = ModelKit(settings.models_dir)
    return KokoroBackend(kit.path("kokoro-82m"), kit.path("kokoro-voices"), settings.threads)
