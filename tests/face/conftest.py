"""Face fixtures: the sample portrait analysed once, with the real MediaPipe landmarker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from talker.config import Settings
from talker.face.portrait import FaceAnalyzer, Portrait, create_analyzer

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "talker" / "data" / "sample_portrait.jpg"


@pytest.fixture(scope="session")
def analyzer(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaceAnalyzer]:
    cached = settings.model_copy(update={"cache_dir": tmp_path_factory.mktemp("cache")})
    with create_analyzer(cached) as analyzer:
        yield analyzer


@pytest.fixture(scope="session")
def portrait(analyzer: FaceAnalyzer) -> Portrait:
    return analyzer.analyze(SAMPLE)


def mouth_gap(landmarks: np.ndarray) -> float:
    """Inner lip gap over mouth width: 0 closed, ~0.4 wide open."""
    return float(np.linalg.norm(landmarks[14, :2] - landmarks[13, :2]) / np.linalg.norm(
        landmarks[291, :2] - landmarks[61, :2]))


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean lid gap over eye width for both eyes."""
    def ratio(top: int, bottom: int, inner: int, outer: int) -> float:
        gap = np.linalg.norm(landmarks[bottom, :2] - landmarks[top, :2])
        return float(gap / np.linalg.norm(landmarks[inner, :2] - landmarks[outer, :2]))

    return (ratio(159, 145, 133, 33) + ratio(386, 374, 362, 263)) / 2
