"""Lip sync judged from the finished MP4 alone: the landmarker's mouth opening vs the audio's loudness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talker.config import Settings
from talker.explainer import render_video, synthesize_speech
from talker.face.portrait import FaceAnalyzer
from tests.face.conftest import SAMPLE, mouth_gap

FPS = 25
MAX_LAG = 5


def _decode(path: Path) -> tuple[list[np.ndarray], np.ndarray, int]:
    import av

    frames: list[np.ndarray] = []
    audio: list[np.ndarray] = []
    with av.open(str(path)) as container:
        rate = container.streams.audio[0].rate
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
        container.seek(0)
        for chunk in container.decode(audio=0):
            audio.append(chunk.to_ndarray().mean(axis=0))
    return frames, np.concatenate(audio).astype(np.float32), rate


def _loudness(audio: np.ndarray, rate: int, frames: int) -> np.ndarray:
    """RMS of the audio in the frame's 40 ms around its time (frame i is shown at i / fps)."""
    half = rate // (2 * FPS)
    out = np.zeros(frames)
    for i in range(frames):
        centre = int(i * rate / FPS)
        window = audio[max(centre - half, 0):centre + half]
        out[i] = float(np.sqrt(np.mean(window.astype(np.float64) ** 2))) if window.size else 0.0
    return out


def _correlation(a: np.ndarray, b: np.ndarray, lag: int) -> float:
    """Pearson correlation of a[i] with b[i + lag]."""
    if lag >= 0:
        x, y = a[: len(a) - lag], b[lag:]
    else:
        x, y = a[-lag:], b[: len(b) + lag]
    return float(np.corrcoef(x, y)[0, 1])


@pytest.fixture(scope="module")
def video(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("lipsync") / "speech.mp4"
    speech = synthesize_speech(settings, "大家好，今天我们来聊一聊人工智能。Hello everyone, welcome to the show!",
                               voice="zf_xiaoxiao")
    render_video(settings, SAMPLE, speech, output, fps=FPS, seed=7)
    return output


def test_mouth_opening_follows_the_loudness_with_no_lag(video: Path, analyzer: FaceAnalyzer) -> None:
    frames, audio, rate = _decode(video)
    openings = []
    for frame in frames:
        found = analyzer.measure(frame)
        assert found is not None, "the landmarker lost the face in the video"
        openings.append(mouth_gap(found[0]))
    opening = np.array(openings)
    loudness = _loudness(audio, rate, len(frames))
    level = 20 * np.log10(loudness + 1e-3)  # loudness is heard on a log scale: compare in dB
    scores = {lag: _correlation(opening, level, lag) for lag in range(-MAX_LAG, MAX_LAG + 1)}
    best = max(scores, key=lambda lag: scores[lag])
    assert abs(best) <= 1, f"best lag {best} frames: {scores}"
    assert scores[best] > 0.35, f"correlation {scores[best]:.2f}: {scores}"
    quiet = loudness < 0.05 * loudness.max()
    silence = np.convolve(quiet, np.ones(5), mode="same") >= 5  # quiet for 200 ms around the frame
    assert silence.sum() >= 3, "the test speech should contain a pause"
    assert np.median(opening[silence]) < 0.06  # closed in silence
    assert np.percentile(opening[~quiet], 90) > 0.15  # and clearly open while speaking
