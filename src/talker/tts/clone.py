"""Cloning a voice from a reference: the interface every clone backend follows, and the embedded `blend`.

`blend` cannot make a new voice; it picks the built-in Kokoro voices whose d-vectors are closest to the
reference and mixes their style arrays. Candidates are chosen on one sentence and the figures reported
are measured on another (the check sentence), for the clone and for the nearest stock voice alike, so
the comparison is not flattered by the choice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from talker.errors import TalkerError
from talker.tts.base import Gender, Prosody, Voice
from talker.tts.profiles import CloneInfo, write_array
from talker.tts.reference import normalise_level

if TYPE_CHECKING:
    from talker.asr.speaker import SpeakerEmbedder
    from talker.config import Settings
    from talker.text.frontend import SpokenSentence, TextFrontend
    from talker.tts.kokoro import KokoroBackend

Progress = Callable[[str, int, int], None]
"""Told (stage, done, total) as long work advances."""

# The first sentence chooses among candidates, the second measures the choice (about 3 s each).
CHECK_TEXTS: dict[str, tuple[str, str]] = {
    "zh": ("今天天气很好，我们一起去公园散步吧。", "请把这份文件发给我，明天上午再讨论。"),
    "en": ("The quick brown fox jumps over the lazy dog by the river.",
           "Please send me the report before the meeting starts."),
}
STYLE_FILE = "style.npy"
SIMILAR_ENOUGH = 0.7  # below this the d-vectors say "another person" (same-speaker clips score ~0.75–0.95)
_TEMPERATURES = (0.03, 0.1)  # softmax temperatures over the similarities of the nearest voices
_CACHE_VERSION = 1
_NOISE = 0.01  # cosine differences this small come and go with the sentence spoken


@dataclass(frozen=True)
class CloneRequest:
    """What a clone backend is given: the checked, normalised reference and where to keep its files."""

    name: str
    samples: np.ndarray  # 16 kHz mono, normalised
    reference_path: Path  # the same audio as a 16 kHz mono WAV
    embedding: np.ndarray
    language: str  # "zh" or "en"
    transcript: str
    folder: Path  # the profile folder being written


@dataclass(frozen=True)
class CloneResult:
    """How the clone came out, and which TTS backend speaks it."""

    info: CloneInfo
    speaks_with: str
    gender: Gender


class CloneBackend(Protocol):
    """Turns a reference into something a TTS backend can speak with, and says how close it came."""

    name: str
    needs_transcript: bool  # zero-shot models are prompted with the reference's words

    def check_available(self) -> None:
        """Raise BackendUnavailableError / ModelMissingError, saying what to install or configure."""
        ...

    def prepare(self, request: CloneRequest, progress: Progress | None = None) -> CloneResult: ...


def gender_of(voice_id: str) -> Gender:
    """Kokoro voice ids spell it: zf_ is female, zm_ male."""
    return "male" if voice_id[1:2] == "m" else "female"


class StockVoices:
    """Kokoro's built-in voices as d-vectors of fixed sentences; cached under cache_dir, keyed by the models."""

    _lock = threading.Lock()

    def __init__(self, settings: Settings, kokoro: KokoroBackend | None = None,
                 embedder: SpeakerEmbedder | None = None, frontend: TextFrontend | None = None) -> None:
        from talker.asr.speaker import create as create_embedder
        from talker.text.frontend import TextFrontend
        from talker.tts.kokoro import create as create_kokoro

        self.kokoro = kokoro or create_kokoro(settings)
        self.embedder = embedder or create_embedder(settings)
        self._frontend = frontend or TextFrontend()
        self._cache_dir = settings.cache_dir / "voice-embeddings"
        self._spoken: dict[str, SpokenSentence] = {}

    def ids(self, language: str) -> list[str]:
        """The stock voices of a language: zh voices for "zh", American and British ones for "en"."""
        prefixes = ("z",) if language == "zh" else ("a", "b")
        return [v.id for v in self.kokoro.voices() if v.id.startswith(prefixes)]

    def style(self, voice_id: str) -> np.ndarray:
        """A stock voice's style array, shape (510, 1, 256)."""
        return np.asarray(self.kokoro.model.get_voice_style(voice_id), dtype=np.float32)

    def blend(self, voice_ids: Sequence[str], weights: Sequence[float]) -> np.ndarray:
        """The weighted mean of stock style arrays (weights sum to 1)."""
        total = np.zeros_like(self.style(voice_ids[0]))
        for voice_id, weight in zip(voice_ids, weights, strict=True):
            if weight > 0:
                total += np.float32(weight) * self.style(voice_id)
        return total

    def speak(self, text: str, voice_id: str | None = None, style: np.ndarray | None = None) -> np.ndarray:
        """`text` spoken by a stock voice (or, given `style`, by that style array) as 16 kHz audio."""
        if text not in self._spoken:
            self._spoken[text] = self._frontend.prepare(text)
        spoken = self._spoken[text]
        if style is not None:
            voice_id = "_clone_candidate"
            self.kokoro.register_style(voice_id, style)
        if voice_id is None:
            raise ValueError("speak needs a voice id or a style array")
        voice = Voice(voice_id, "kokoro", spoken.lang, gender_of(voice_id))
        chunk = self.kokoro.synthesize(spoken, voice, Prosody())
        return to_embedder_rate(chunk.samples, chunk.sample_rate)

    def embed(self, samples_16k: np.ndarray) -> np.ndarray:
        return self.embedder.embed(normalise_level(samples_16k))

    def embeddings(self, text: str, voice_ids: Sequence[str],
                   progress: Progress | None = None) -> dict[str, np.ndarray]:
        """The d-vector of each voice speaking `text`; computed only when not cached."""
        path = self._cache_dir / f"{self._cache_key(text)}.npz"
        with self._lock:
            cached: dict[str, np.ndarray] = {}
            if path.is_file():
                try:
                    with np.load(path) as stored:
                        cached = {name: stored[name] for name in stored.files}
                except (OSError, ValueError):
                    cached = {}  # a damaged cache is recomputed
            missing = [v for v in voice_ids if v not in cached]
            for done, voice_id in enumerate(missing):
                if progress:
                    progress("stock voices", done, len(missing))
                cached[voice_id] = self.embed(self.speak(text, voice_id))
            if missing:
                if progress:
                    progress("stock voices", len(missing), len(missing))
                self._save(path, cached)
        return {v: cached[v] for v in voice_ids}

    def _cache_key(self, text: str) -> str:
        from talker.models.catalog import spec

        models = [f.sha256 for name in ("kokoro-82m", "kokoro-voices", "speaker-dvector") for f in spec(name).files]
        document = json.dumps([_CACHE_VERSION, models, text], ensure_ascii=False)
        return hashlib.sha256(document.encode("utf-8")).hexdigest()[:20]

    @staticmethod
    def _save(path: Path, vectors: dict[str, np.ndarray]) -> None:
        from talker.media.files import atomic_output

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(path) as stream:
                np.savez(stream, **vectors)  # type: ignore[arg-type]
        except (OSError, TalkerError):
            pass  # a cache that cannot be written only costs time on the next run

    def nearest(self, language: str, embedding: np.ndarray,
                progress: Progress | None = None) -> tuple[list[str], dict[str, float]]:
        """Stock voices of `language` from nearest to farthest (on the selection sentence), with their cosines."""
        selection = CHECK_TEXTS[language][0]
        ids = self.ids(language)
        vectors = self.embeddings(selection, ids, progress)
        similarity = {v: self.embedder.similarity(vectors[v], embedding) for v in ids}
        return sorted(ids, key=lambda v: -similarity[v]), similarity

    def check_similarity(self, language: str, voice_id: str, embedding: np.ndarray) -> float:
        """How close a stock voice speaking the check sentence comes to `embedding`."""
        check = CHECK_TEXTS[language][1]
        return self.embedder.similarity(self.embeddings(check, [voice_id])[voice_id], embedding)


def to_embedder_rate(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample speech to the speaker encoder's 16 kHz."""
    from talker.asr.speaker import SAMPLE_RATE

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if rate == SAMPLE_RATE:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, rate, SAMPLE_RATE), dtype=np.float32)


def weightings(similarities: Sequence[float]) -> list[tuple[float, ...]]:
    """Candidate blends of the nearest voices: the nearest alone, softmaxes at a few temperatures, equal parts."""
    count = len(similarities)
    candidates = [tuple(1.0 if i == 0 else 0.0 for i in range(count))]
    if count > 1:
        values = np.asarray(similarities, dtype=np.float64)
        for temperature in _TEMPERATURES:
            exponent = np.exp((values - values.max()) / temperature)
            candidates.append(tuple(float(w) for w in exponent / exponent.sum()))
        candidates.append(tuple(1.0 / count for _ in range(count)))
    distinct: list[tuple[float, ...]] = []
    for candidate in candidates:
        if all(max(abs(a - b) for a, b in zip(candidate, kept, strict=True)) > 0.02 for kept in distinct):
            distinct.append(candidate)
    return distinct


class BlendCloner:
    """The embedded clone: a mix of the nearest built-in voices, spoken by Kokoro."""

    name = "blend"
    needs_transcript = False

    def __init__(self, settings: Settings, stock: StockVoices | None = None) -> None:
        self._settings = settings
        self._stock = stock

    def check_available(self) -> None:
        from talker.models.kit import ModelKit

        kit = ModelKit(self._settings.models_dir)
        for model in ("kokoro-82m", "kokoro-voices", "speaker-dvector"):
            kit.path(model)  # a clear ModelMissingError if not assembled

    @property
    def stock(self) -> StockVoices:
        if self._stock is None:
            self._stock = StockVoices(self._settings)
        return self._stock

    def prepare(self, request: CloneRequest, progress: Progress | None = None) -> CloneResult:
        stock = self.stock
        selection, check = CHECK_TEXTS[request.language]
        ranked, similarity = stock.nearest(request.language, request.embedding, progress)
        nearest = ranked[0]
        # A blend across genders sounds like neither speaker, whatever the cosine says.
        top = [v for v in ranked if gender_of(v) == gender_of(nearest)][:self._settings.voice.blend_voices]
        candidates = weightings([similarity[v] for v in top])
        scores: list[float] = []
        for done, weights in enumerate(candidates):
            if progress:
                progress("blends", done, len(candidates))
            if weights[0] == 1.0:
                scores.append(similarity[nearest])
                continue
            audio = stock.speak(selection, style=stock.blend(top, weights))
            scores.append(stock.embedder.similarity(stock.embed(audio), request.embedding))
        if progress:
            progress("blends", len(candidates), len(candidates))
        chosen = int(np.argmax(scores))
        if scores[chosen] <= scores[0] + _NOISE:
            chosen = 0  # a blend must clearly beat the nearest voice alone to be worth its mixing
        best = candidates[chosen]
        style = stock.blend(top, best)
        nearest_similarity = stock.check_similarity(request.language, nearest, request.embedding)
        if best[0] == 1.0:
            result_similarity = nearest_similarity
        else:
            audio = stock.speak(check, style=style)
            result_similarity = stock.embedder.similarity(stock.embed(audio), request.embedding)
        write_array(request.folder / STYLE_FILE, style)
        kept = [(v, w) for v, w in zip(top, best, strict=True) if w > 0.005]
        info = CloneInfo(
            backend=self.name, voices=[v for v, _ in kept], weights=[round(w, 4) for _, w in kept],
            style_file=STYLE_FILE, similarity=round(result_similarity, 4), nearest_voice=nearest,
            nearest_similarity=round(nearest_similarity, 4), check_text=check,
            note=blend_note(result_similarity, nearest, nearest_similarity, alone=best[0] == 1.0),
        )
        dominant = max(kept, key=lambda item: item[1])[0]
        return CloneResult(info, "kokoro", gender_of(dominant))


def blend_note(similarity: float, nearest: str, nearest_similarity: float, alone: bool = False) -> str:
    """One honest sentence on how the blend compares with the nearest stock voice."""
    if alone:
        return (f"no blend came closer than {nearest} alone, so the voice is {nearest}'s"
                + remote_hint(nearest_similarity))
    note = comparison_note(similarity, nearest, nearest_similarity)
    if similarity <= nearest_similarity + _NOISE:
        note += "; the blend is kept because it was clearly closer on the selection sentence"
    return note + remote_hint(max(similarity, nearest_similarity))


def comparison_note(similarity: float, nearest: str, nearest_similarity: float) -> str:
    """Whether the clone beats the nearest stock voice on the check sentence, in words and figures."""
    figures = f"{similarity:.3f} vs {nearest_similarity:.3f}"
    if similarity > nearest_similarity + _NOISE:
        return f"closer to the reference than the nearest stock voice {nearest} ({figures})"
    if similarity < nearest_similarity - _NOISE:
        return f"NOT closer to the reference than the nearest stock voice {nearest} ({figures})"
    return f"about as close to the reference as the nearest stock voice {nearest} ({figures}, within noise)"


def remote_hint(similarity: float) -> str:
    """A pointer to real cloning when the built-in voices are all far from the speaker."""
    if similarity >= SIMILAR_ENOUGH:
        return ""
    return (f". Below {SIMILAR_ENOUGH} it will sound like a different person: "
            "a zero-shot clone backend (--backend sherpa or http) can come closer")


def create_blend(settings: Settings) -> BlendCloner:
    return BlendCloner(settings)
