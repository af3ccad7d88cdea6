"""The d-vector speaker embedder: features as the encoder was trained on, and who-is-speaking by cosine."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from talker.asr.speaker import N_MELS, SpeakerEmbedder, log_mel, mel_filterbank, mel_power
from talker.errors import InputError
from talker.tts.clone import to_embedder_rate
from talker.tts.synthesizer import Synthesizer

EN = ("The quick brown fox jumps over the lazy dog, then runs into the woods.",
      "Please send me the report before the meeting starts tomorrow morning.")
ZH = "今天天气很好，我们一起去公园散步，顺便买点水果回家。"


def test_features_match_librosa(librivox: list[np.ndarray]) -> None:
    librosa = pytest.importorskip("librosa")
    samples = librivox[1]
    expected = librosa.feature.melspectrogram(
        y=samples, sr=16000, n_fft=512, win_length=400, hop_length=160, window="hamming", center=False,
        n_mels=40, power=2.0, htk=False, norm="slaney")
    ours = mel_power(samples)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(np.log10(ours + 1e-10), np.log10(expected + 1e-10), atol=1e-4)
    np.testing.assert_allclose(mel_filterbank(), librosa.filters.mel(sr=16000, n_fft=512, n_mels=40), atol=1e-6)


def test_features_have_the_encoder_shape(librivox: list[np.ndarray]) -> None:
    features = log_mel(librivox[0])
    assert features.shape == (1 + (librivox[0].size - 512) // 160, N_MELS) and features.dtype == np.float32
    assert np.all(np.isfinite(features))


def test_embedding_is_a_unit_vector_and_deterministic(embedder: SpeakerEmbedder, librivox: list[np.ndarray]) -> None:
    first = embedder.embed(librivox[0])
    assert first.shape == (256,) and first.dtype == np.float32
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(embedder.embed(librivox[0]), first, atol=1e-6)
    assert embedder.similarity(first, first) == pytest.approx(1.0, abs=1e-5)
    assert embedder.similarity(first, -first) == pytest.approx(-1.0, abs=1e-5)
    assert embedder.similarity(first, np.zeros(256)) == 0.0


def test_short_and_empty_input(embedder: SpeakerEmbedder, librivox: list[np.ndarray]) -> None:
    short = embedder.embed(librivox[0][:8000])  # half a second: under one 0.8 s window
    assert np.all(np.isfinite(short)) and np.linalg.norm(short) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(InputError, match="too short"):
        embedder.embed(np.zeros(100, np.float32))


@pytest.fixture(scope="module")
def speakers(librivox: list[np.ndarray], synthesizer: Synthesizer) -> dict[str, tuple[str, np.ndarray]]:
    """Clips by speaker: one real reader (three recordings) and three Kokoro voices (am_adam twice)."""

    def say(text: str, voice: str) -> np.ndarray:
        chunks = list(synthesizer.stream(text, voice=voice))
        return to_embedder_rate(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate)

    return {
        "reader a": ("reader", np.concatenate(librivox[0:2])),
        "reader b": ("reader", np.concatenate(librivox[2:4])),
        "reader c": ("reader", librivox[4]),
        "adam 1": ("am_adam", say(EN[0], "am_adam")),
        "adam 2": ("am_adam", say(EN[1], "am_adam")),
        "heart": ("af_heart", say(EN[0], "af_heart")),
        "xiaoxiao": ("zf_xiaoxiao", say(ZH, "zf_xiaoxiao")),
    }


def test_same_speaker_scores_higher_than_different_speakers(
        embedder: SpeakerEmbedder, speakers: dict[str, tuple[str, np.ndarray]]) -> None:
    vectors = {name: embedder.embed(samples) for name, (_, samples) in speakers.items()}
    same, different = [], []
    for a, b in itertools.combinations(speakers, 2):
        score = embedder.similarity(vectors[a], vectors[b])
        (same if speakers[a][0] == speakers[b][0] else different).append((score, a, b))
    # Every pair of one speaker's clips (real recordings, or one Kokoro voice on two sentences) beats
    # every pair of two speakers' clips.
    assert min(same) > max(different), f"same {sorted(same)[:2]} vs different {sorted(different)[-2:]}"
    reader = embedder.similarity(vectors["reader a"], vectors["reader b"])
    assert reader > embedder.similarity(vectors["reader a"], vectors["adam 1"]) + 0.2
    adam = embedder.similarity(vectors["adam 1"], vectors["adam 2"])
    assert adam > embedder.similarity(vectors["adam 1"], vectors["heart"]) + 0.2
