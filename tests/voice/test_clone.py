"""The embedded `blend` clone on a real (Kokoro-made) Chinese reference: honest figures, stored, speakable."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from talker.asr.speaker import SpeakerEmbedder
from talker.config import Settings
from talker.errors import BackendUnavailableError
from talker.media.audio import read_audio
from talker.tts.clone import CHECK_TEXTS, to_embedder_rate, weightings
from talker.tts.enroll import Enrollment, clone_backend
from talker.tts.profiles import ProfileStore
from talker.tts.synthesizer import Synthesizer
from tests.voice.conftest import REFERENCE_VOICE


def test_clone_figures_are_reported_and_stored(enrollment: Enrollment) -> None:
    profile = enrollment.profile
    clone = profile.clone
    assert clone.backend == "blend" and profile.speaks_with == "kokoro" and profile.language == "zh"
    for figure in (clone.similarity, clone.nearest_similarity):
        assert figure is not None and math.isfinite(figure) and -1.0 <= figure <= 1.0
    assert clone.check_text == CHECK_TEXTS["zh"][1] and clone.note
    assert clone.voices and all(v.startswith("z") for v in clone.voices)
    assert sum(clone.weights) == pytest.approx(1.0, abs=0.02)
    # The blend is closer than the nearest stock voice, or the note says it is not.
    assert clone.similarity >= clone.nearest_similarity or any(  # type: ignore[operator]
        phrase in clone.note for phrase in ("NOT closer", "about as close", "no blend came closer"))
    stored = json.loads((profile.directory / "profile.json").read_text(encoding="utf-8"))
    assert stored["clone"]["similarity"] == clone.similarity
    assert stored["clone"]["nearest_similarity"] == clone.nearest_similarity
    assert stored["clone"]["nearest_voice"] == clone.nearest_voice
    assert np.load(profile.directory / "style.npy").shape == (510, 1, 256)


def test_the_nearest_stock_voice_is_the_one_that_spoke(enrollment: Enrollment) -> None:
    """The reference was read by a stock voice (another sentence): the d-vectors find it, and it is close."""
    clone = enrollment.profile.clone
    assert clone.nearest_voice == REFERENCE_VOICE
    assert clone.nearest_similarity is not None and clone.nearest_similarity > 0.8
    assert enrollment.profile.gender == "male"


def test_reference_is_stored_normalised_and_its_embedding_cached(enrollment: Enrollment,
                                                                embedder: SpeakerEmbedder) -> None:
    profile = enrollment.profile
    samples, rate = read_audio(profile.reference_path)
    assert rate == 16000 and samples.ndim == 1
    assert abs(samples.size / rate - enrollment.check.duration) < 1.0  # only the ends' silence is trimmed
    cached = np.load(profile.directory / "embedding.npy")
    assert embedder.similarity(cached, embedder.embed(samples)) > 0.99

    class Refuses:
        sample_rate = 16000

        def embed(self, samples: np.ndarray) -> np.ndarray:
            raise AssertionError("the cached embedding should have been used")

    vector = ProfileStore(profile.directory.parent).embedding(profile, Refuses(),  # type: ignore[arg-type]
                                                             profile.embedding.model_sha256)
    np.testing.assert_array_equal(vector, cached)


def test_embedding_is_recomputed_once_when_the_encoder_changes(enrollment: Enrollment, embedder: SpeakerEmbedder,
                                                              tmp_path: Path) -> None:
    shutil.copytree(enrollment.profile.directory, tmp_path / "小云")
    store = ProfileStore(tmp_path)
    profile = store.get("小云")
    vector = store.embedding(profile, embedder, "a-newer-encoder")
    assert embedder.similarity(vector, np.load(enrollment.profile.directory / "embedding.npy")) > 0.99
    updated = store.get("小云")
    assert updated.embedding.model_sha256 == "a-newer-encoder"
    np.testing.assert_array_equal(np.load(tmp_path / "小云" / "embedding.npy"), vector)


def test_a_profile_speaks_in_its_voice(enrollment: Enrollment, voice_settings: Settings,
                                       embedder: SpeakerEmbedder) -> None:
    synthesizer = Synthesizer(voice_settings)
    voice = synthesizer.voice("小云", "zh")
    assert voice.id == "小云" and voice.backend == "kokoro" and "blend" in voice.description
    chunks = list(synthesizer.stream("这是我的新声音，听起来怎么样？", voice="小云"))
    assert chunks[0].voice == "小云" and chunks[0].phonemes and chunks[0].words
    audio = to_embedder_rate(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate)
    reference = np.load(enrollment.profile.directory / "embedding.npy")
    assert embedder.similarity(embedder.embed(audio), reference) > 0.7


def test_weightings_start_with_the_nearest_alone() -> None:
    candidates = weightings([0.8, 0.7, 0.6])
    assert candidates[0] == (1.0, 0.0, 0.0)
    assert all(sum(c) == pytest.approx(1.0) for c in candidates)
    assert candidates[-1] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert weightings([0.5]) == [(1.0,)]


@pytest.mark.skipif(importlib.util.find_spec("sherpa_onnx") is not None, reason="sherpa-onnx is installed")
def test_sherpa_without_sherpa_onnx_says_what_to_install(voice_settings: Settings) -> None:
    cloner = clone_backend(voice_settings, "sherpa")
    with pytest.raises(BackendUnavailableError) as error:
        cloner.check_available()
    message = str(error.value)
    assert "pip install sherpa-onnx" in message and "TALKER_VOICE__SHERPA_MODEL_DIR" in message
    assert "fm_decoder.onnx" in message and "tokens.txt" in message
