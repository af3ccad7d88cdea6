"""Face fixtures: the sample portrait analysed once, with the real MediaPipe landmarker."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "talker" / "data" / "sample_portrait.jpg"


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
