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
    right = np.linalg.norm(landmarks[145, :2] - landmarks[159, :2]) / np.linalg.norm(landmarks[133, :2] - landmarks[33, :2])
    left = np.linalg.norm(landmarks[374, :2] - landmarks[386, :2]) / np.linalg.norm(landmarks[362, :2] - landmarks[263, :2])
    return float((right + left) / 2)
