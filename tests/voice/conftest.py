"""Voice fixtures: real recorded speech (LibriVox), Kokoro speech, and one cloned profile per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from talker.config import Settings
from talker.models.kit import ModelKit
from talker.tts.synthesizer import Synthesizer

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
REFERENCE_TEXT = "我们公司主要做智能客服和语音助手，欢迎大家多多指教，有问题随时联系我。"
REFERENCE_VOICE = "zm_yunxi"


@pytest.fixture(scope="session")
def librivox() -> list[np.ndarray]:
    """Five clips of one male reader, 16 kHz mono (apt package pocketsphinx-testdata)."""
    files = sorted(LIBRIVOX.glob("*.wav"))
    if len(files) < 5:
        pytest.skip(f"recorded speech is missing: apt install pocketsphinx-testdata ({LIBRIVOX})")
    return [soundfile.read(str(f), dtype="float32")[0] for f in files]


@pytest.fixture(scope="session")
def embedder(settings: Settings, kit: ModelKit):  # type: ignore[no-untyped-def]
    from talker.asr.speaker import create

    status = kit.status("speaker-dvector")
    if not status.ready:
        pytest.fail(f"speaker-dvector is {status.state}; run `talker models install speaker-dvector`")
    return create(settings)


@pytest.fixture(scope="session")
def voice_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose profiles and caches live in temporary folders shared by the session."""
    return settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("voice-data"), "cache_dir": tmp_path_factory.mktemp("voice-cache"),
        "tts": settings.tts.model_copy(update={"backend": "kokoro"}),
    })


@pytest.fixture(scope="session")
def zh_reference(synthesizer: Synthesizer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Chinese reference recording: a stock male voice reading a sentence the checks never use."""
    chunks = list(synthesizer.stream(REFERENCE_TEXT, voice=REFERENCE_VOICE))
    path = tmp_path_factory.mktemp("reference") / "reference.wav"
    soundfile.write(str(path), np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="session")
def enrollment(voice_settings: Settings, zh_reference: Path, embedder: object):  # type: ignore[no-untyped-def]
    """The reference stored as profile 小云 with the embedded blend backend."""
    from talker.tts.enroll import add_voice

    return add_voice(voice_settings, "小云", zh_reference, language="zh", backend="blend")
