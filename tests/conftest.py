"""Shared fixtures: settings, and the real models loaded once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talker.config import Settings
from talker.models.kit import ModelKit

SAMPLE_PORTRAIT = Path(__file__).resolve().parents[1] / "src" / "talker" / "data" / "sample_portrait.jpg"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings(threads=2)


@pytest.fixture(scope="session")
def kit(settings: Settings) -> ModelKit:
    kit = ModelKit(settings.models_dir)
    not_ready = [s for s in (kit.status(m) for m in ("kokoro-82m", "kokoro-voices", "whisper-base")) if not s.ready]
    if not_ready:
        pytest.fail("models not assembled; run `make test` (or `talker models install`): "
                    + "; ".join(f"{s.spec.name}: {s.state}" for s in not_ready))
    return kit


@pytest.fixture(scope="session")
def synthesizer(settings: Settings, kit: ModelKit):  # type: ignore[no-untyped-def]
    from talker.tts.synthesizer import Synthesizer

    return Synthesizer(settings.model_copy(update={"tts": settings.tts.model_copy(update={"backend": "kokoro"})}))


@pytest.fixture(scope="session")
def whisper(settings: Settings, kit: ModelKit):  # type: ignore[no-untyped-def]
    from talker.asr.whisper import create

    return create(settings)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def f0_median(samples: np.ndarray, rate: int) -> float:
    """Median fundamental frequency (Hz) of the voiced 40 ms frames, by autocorrelation."""
    frame = int(0.04 * rate)
    lo, hi = int(rate / 400), int(rate / 60)
    loud = rms(samples) * 0.5
    estimates = []
    for start in range(0, len(samples) - frame, frame):
        x = samples[start:start + frame].astype(np.float64)
        if rms(x) < loud:
            continue
        x = x - x.mean()
        corr = np.correlate(x, x, mode="full")[frame - 1:]
        lag = lo + int(np.argmax(corr[lo:hi]))
        if corr[lag] > 0.3 * corr[0]:
            estimates.append(rate / lag)
    return float(np.median(estimates)) if estimates else 0.0


@pytest.fixture(scope="session")
def chinese_speech(synthesizer) -> list[tuple[str, np.ndarray]]:  # type: ignore[no-untyped-def]
    """The Chinese test sentences spoken by Kokoro (voices alternating), as 16 kHz audio; made once."""
    import soxr

    from tests.speech_metrics import CHINESE_SENTENCES, CHINESE_VOICES

    spoken = []
    for index, sentence in enumerate(CHINESE_SENTENCES):
        chunks = list(synthesizer.stream(sentence, voice=CHINESE_VOICES[index % len(CHINESE_VOICES)]))
        audio = np.concatenate([c.samples for c in chunks])
        spoken.append((sentence, np.asarray(soxr.resample(audio, chunks[0].sample_rate, 16000), dtype=np.float32)))
    return spoken


@pytest.fixture(scope="session")
def analyzer(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The MediaPipe landmarker, opened once for the whole run (a fresh analysis cache)."""
    from talker.face.portrait import create_analyzer

    cached = settings.model_copy(update={"cache_dir": tmp_path_factory.mktemp("cache")})
    with create_analyzer(cached) as face_analyzer:
        yield face_analyzer


@pytest.fixture(scope="session")
def portrait(analyzer: Any) -> Any:
    """The sample portrait, analysed once."""
    return analyzer.analyze(SAMPLE_PORTRAIT)
