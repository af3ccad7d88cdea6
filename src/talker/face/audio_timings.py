"""Phoneme timings for speech that comes without them: recorded or uploaded audio, any voice.

The face needs to know which sound is heard when. TTS output carries that; other speech does not, so it
is recovered from the audio:

1. **Words.** The file-mode streaming transcriber (Silero VAD + Whisper) gives the words with their times.
2. **Phonemes.** Each word is read in the symbol set the viseme table knows: Chinese through the project's
   G2P (pinyin → Kokoro IPA with tone arrows), English through espeak-ng IPA (kokoro-onnx's phonemizer,
   which loads no model). An English utterance is phonemised whole, so function words get their weak forms.
3. **Edges.** Whisper's word times run ahead of the sound (by ~0.13 s, measured against Kokoro's own
   timings), so they are moved later by `WHISPER_LEAD`; each word is then trimmed to where the sound is
   within its span, and edges that border a pause are pushed out to where the sound really starts or
   stops. A word with no sound under it moves nothing.
4. **Spread.** A word's phonemes share its span by weight: vowels count twice as much as consonants.

Audio in which nothing is recognised (humming, a tone, noise, mumbling Whisper cannot make out) still
moves the mouth: each loud stretch becomes open vowels, wider where louder. Silence never opens it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from talker.frames import PhonemeTiming, WordTiming

if TYPE_CHECKING:
    from kokoro_onnx.tokenizer import Tokenizer

    from talker.asr.streaming import StreamingTranscriber
    from talker.config import Settings
    from talker.text.frontend import TextFrontend

ASR_RATE = 16000
HOP = 0.01  # s: the loudness envelope's frame
VOWEL_WEIGHT = 2.0  # a vowel's share of its word's time, against 1 for a consonant
SOUND_RANGE = 35.0  # dB: frames this far below the loudest still count as sound (quiet consonants)
NOISE_MARGIN = 6.0  # dB: ... but they must stand this far above the recording's noise floor
WHISPER_LEAD = 0.13  # s: Whisper's word times run this much ahead of the sound (median over TTS speech: 0.13 s)
EXTEND = 0.25  # s: how far a word edge next to a pause may move out to where the sound starts or stops
LOUD = 10.0  # dB below the loudest: the fallback's wide-open vowel; quieter sound is a half-open one
_MIN_SOUND = 0.06  # s: fallback: shorter sounds (clicks) do not open the mouth
_BRIDGE = 0.06  # s: fallback: shorter silences inside a sound do not close it
_PIECE = 0.08  # s: fallback: the loudness is read per piece of this length

# IPA letters that are vowels (or syllabic, like Kokoro's ɚ and Mandarin ɨ); j and w are glides, not vowels.
_VOWELS = frozenset("aeiouyæɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵøœɶʉʊʌʏᵻᵿ")
_STRESS = frozenset("ˈˌ")
_TONES = frozenset("↓↘↗→˥˦˧˨˩")
_ATTACH = frozenset("ːˑʰʲʷ̃ᵊ")  # marks that belong to the symbol before them
_NOT_SOUNDS = re.compile(r"[\s,.!?:;…—\-\"“”'()]")


@dataclass(frozen=True)
class Envelope:
    """Frame levels (dBFS, one per `HOP`) of a recording and which frames hold sound."""

    levels: np.ndarray
    sound: np.ndarray  # bool per frame
    peak: float

    @classmethod
    def of(cls, samples: np.ndarray, rate: int) -> Envelope:
        hop = max(round(rate * HOP), 1)
        frames = len(samples) // hop
        if frames == 0:
            return cls(np.zeros(0), np.zeros(0, dtype=bool), -120.0)
        blocks = np.asarray(samples[: frames * hop], dtype=np.float64).reshape(frames, hop)
        levels = 10.0 * np.log10(np.mean(np.square(blocks), axis=1) + 1e-12)
        peak = float(np.partition(levels, -min(5, frames))[-min(5, frames)])  # 50 ms of it: a click is not speech
        floor = float(np.percentile(levels, 10))
        threshold = max(peak - SOUND_RANGE, min(floor + NOISE_MARGIN, peak - 20.0), -65.0)
        return cls(levels, levels > threshold, peak)

    def frame(self, seconds: float) -> int:
        return int(min(max(round(seconds / HOP), 0), len(self.sound)))


def timings_from_audio(
    settings: Settings,
    samples: np.ndarray,
    sample_rate: int,
    *,
    transcriber: StreamingTranscriber | None = None,
) -> tuple[tuple[PhonemeTiming, ...], tuple[WordTiming, ...]]:
    """Phoneme and word timings (seconds from the first sample) for mono speech at any sample rate.

    `transcriber` is a fresh file-mode transcriber to use (it is closed afterwards); by default one is
    opened from the kit (`open_transcriber(settings, live=False)`). Audio in which no words are recognised
    gets phonemes from its loudness alone; silence gets none.
    """
    audio = _mono_16k(samples, sample_rate)
    envelope = Envelope.of(audio, ASR_RATE)
    if not envelope.sound.any():
        if transcriber is not None:
            transcriber.close()
        return (), ()
    heard = recognise(settings, audio, transcriber)
    phonemes, words = phonemes_for_words(heard, envelope)
    if not phonemes:
        return loudness_phonemes(envelope), ()
    return phonemes, words


def recognise(settings: Settings, audio_16k: np.ndarray,
              transcriber: StreamingTranscriber | None = None) -> list[tuple[WordTiming, str]]:
    """Every recognised word with its language ("zh" or "en"), on the audio's timeline, in order."""
    if transcriber is None:
        from talker.asr.streaming import open_transcriber

        transcriber = open_transcriber(settings, live=False)
    heard: list[tuple[WordTiming, str]] = []
    try:
        events = []
        for first in range(0, len(audio_16k), ASR_RATE):
            events += transcriber.feed(audio_16k[first:first + ASR_RATE])
        events += transcriber.finish()
    finally:
        transcriber.close()
    for event in events:
        if event.kind == "final":
            heard += [(word, event.language) for word in event.words]
    return heard


def phonemes_for_words(
    heard: Sequence[tuple[WordTiming, str]], envelope: Envelope
) -> tuple[tuple[PhonemeTiming, ...], tuple[WordTiming, ...]]:
    """Phonemes spread over the words' spans, after the spans are fitted to where the sound is."""
    symbols = _read(heard)
    spans = _fit_spans([word for word, _ in heard], envelope)
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    for (word, _), span, sounds in zip(heard, spans, symbols, strict=True):
        if span is None or not sounds:
            continue
        words.append(WordTiming(word.text, *span))
        phonemes += spread(sounds, *span)
    return tuple(phonemes), tuple(words)


def spread(symbols: Sequence[str], start: float, end: float) -> list[PhonemeTiming]:
    """The symbols one after another across [start, end], vowels `VOWEL_WEIGHT` times as long as consonants."""
    weights = np.array([VOWEL_WEIGHT if is_vowel(s) else 1.0 for s in symbols])
    if weights.size == 0 or end <= start:
        return []
    edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [PhonemeTiming(s, round(float(a), 4), round(float(b), 4))
            for s, a, b in zip(symbols, edges[:-1], edges[1:], strict=True)]


def is_vowel(symbol: str) -> bool:
    return symbol[:1] in _VOWELS


def ipa_symbols(ipa: str) -> list[str]:
    """Kokoro-style IPA cut into phoneme symbols: stress, tones, spaces and punctuation dropped,
    length and aspiration marks kept with the symbol before them ("tʰ", "ɔː")."""
    out: list[str] = []
    for char in ipa:
        if char in _STRESS or char in _TONES or _NOT_SOUNDS.match(char):
            continue
        if char in _ATTACH:
            if out:
                out[-1] += char
            continue
        out.append(char)
    return out


def word_symbols(text: str) -> list[str]:
    """The phoneme symbols of one written word (or short phrase), Chinese or English."""
    from talker.text.g2p_zh import pinyin_to_kokoro

    out: list[str] = []
    for token in _frontend().prepare(text).tokens:
        if token.kind == "zh":
            out += ipa_symbols("".join(pinyin_to_kokoro(p) for p in token.pinyin))
        elif token.kind == "en":
            out += ipa_symbols(_phonemize(token.text))
    return out


def loudness_phonemes(envelope: Envelope) -> tuple[PhonemeTiming, ...]:
    """Open vowels wherever there is sound: "a" where it is loud, "ə" where it is quieter; nothing in silence."""
    sound = envelope.sound.copy()
    _bridge_gaps(sound, round(_BRIDGE / HOP))
    _drop_short(sound, round(_MIN_SOUND / HOP))
    piece = max(round(_PIECE / HOP), 1)
    out: list[PhonemeTiming] = []
    for first, last in _runs(sound):
        for start in range(first, last, piece):
            stop = min(start + piece, last)
            if last - stop < piece // 2:
                stop = last  # a short remainder joins the piece before it
            level = float(np.max(envelope.levels[start:stop]))
            symbol = "a" if level >= envelope.peak - LOUD else "ə"
            if out and out[-1].phoneme == symbol and abs(out[-1].end - start * HOP) < 1e-6:
                out[-1] = PhonemeTiming(symbol, out[-1].start, round(stop * HOP, 4))
            else:
                out.append(PhonemeTiming(symbol, round(start * HOP, 4), round(stop * HOP, 4)))
            if stop == last:
                break
    return tuple(out)


def _read(heard: Sequence[tuple[WordTiming, str]]) -> list[list[str]]:
    """Each word's phoneme symbols. A run of plain English words is phonemised as one text when espeak keeps
    the word count (weak forms, linking); otherwise, and for Chinese or numbers, word by word."""
    out: list[list[str] | None] = [None] * len(heard)
    latin = [_latin(word.text) if language == "en" else "" for word, language in heard]
    index = 0
    while index < len(heard):
        stop = index
        while stop < len(heard) and latin[stop]:
            stop += 1
        if stop > index:
            spoken = _phonemize(" ".join(latin[index:stop])).split()
            if len(spoken) == stop - index:
                out[index:stop] = [ipa_symbols(ipa) for ipa in spoken]
        index = stop + 1
    return [symbols if symbols is not None else word_symbols(word.text)
            for symbols, (word, _) in zip(out, heard, strict=True)]


def _latin(text: str) -> str:
    """A plain English word without its punctuation, or "" if it is anything else (numbers, Han, symbols)."""
    word = text.strip(" ,.!?;:\"'()“”‘’…-—")
    return word if re.fullmatch(r"[A-Za-z]+(?:['’][A-Za-z]+)*", word) else ""


def _fit_spans(words: Sequence[WordTiming], envelope: Envelope) -> list[tuple[float, float] | None]:
    """Each word's span trimmed to the sound inside it, then its edges next to a pause moved out to where
    that sound really starts or ends. None for a word with no sound under it."""
    sound = envelope.sound
    trimmed: list[tuple[int, int] | None] = []
    for word in words:
        first, last = envelope.frame(word.start + WHISPER_LEAD), envelope.frame(word.end + WHISPER_LEAD)
        inside = np.flatnonzero(sound[first:last])
        trimmed.append((first + int(inside[0]), first + int(inside[-1]) + 1) if inside.size else None)
    reach = round(EXTEND / HOP)
    fitted: list[tuple[int, int] | None] = list(trimmed)
    previous_end = 0
    for index, span in enumerate(trimmed):
        if span is None:
            continue
        first, last = span
        first = max(first, previous_end)
        if last <= first:
            fitted[index] = None
            continue
        following = next((s[0] for s in trimmed[index + 1:] if s is not None), len(sound))
        limit = min(following, last + reach)
        while last < limit and sound[last]:
            last += 1
        limit = max(previous_end, first - reach)
        while first > limit and sound[first - 1]:
            first -= 1
        fitted[index] = (first, last)
        previous_end = last
    return [(round(s[0] * HOP, 4), round(s[1] * HOP, 4)) if s is not None else None for s in fitted]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of every run of True, last exclusive."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    changes = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(changes[::2], changes[1::2], strict=True)]


def _bridge_gaps(mask: np.ndarray, shorter_than: int) -> None:
    """Fill the gaps inside sound that are shorter than `shorter_than` frames (silence at the edges stays)."""
    for first, last in _runs(~mask):
        if last - first < shorter_than and first > 0 and last < len(mask):
            mask[first:last] = True


def _drop_short(mask: np.ndarray, shorter_than: int) -> None:
    """Clear the sounds shorter than `shorter_than` frames."""
    for first, last in _runs(mask):
        if last - first < shorter_than:
            mask[first:last] = False


def _mono_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1 if audio.shape[1] < audio.shape[0] else 0)
    audio = audio.reshape(-1)
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if rate != ASR_RATE and audio.size:
        import soxr

        audio = np.asarray(soxr.resample(audio, rate, ASR_RATE), dtype=np.float32)
    return np.ascontiguousarray(audio)


@lru_cache(maxsize=1)
def _frontend() -> TextFrontend:
    from talker.text.frontend import TextFrontend

    return TextFrontend()


@lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    from kokoro_onnx.tokenizer import Tokenizer

    return Tokenizer()


def _phonemize(text: str) -> str:
    """espeak-ng IPA (US English) as Kokoro's English voices read it; no model is loaded."""
    return str(_tokenizer().phonemize(text, "en-us"))
