"""Drawing into frames: a soft-edged polygon region, and blending a painted patch through it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SHIFT = 3  # polygons are drawn with 1/8 pixel precision for smooth edges


@dataclass(frozen=True, eq=False)
class SoftRegion:
    """The box around a polygon and the polygon's anti-aliased, slightly blurred coverage inside it."""

    x0: int
    y0: int
    x1: int
    y1: int
    alpha: np.ndarray  # (h, w, 1) float32 in [0, 1]

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates of the box: xs as a row (w,), ys as a column (h, 1)."""
        xs = np.arange(self.x0, self.x1, dtype=np.float64) + 0.5
        ys = np.arange(self.y0, self.y1, dtype=np.float64)[:, None] + 0.5
        return xs, ys

    def blend(self, frame: np.ndarray, paint: np.ndarray, strength: float) -> None:
        """Mix `paint` (h, w, 3) into `frame` in place, by coverage × `strength`."""
        region = frame[self.y0:self.y1, self.x0:self.x1].astype(np.float32)
        mixed = region + (paint.astype(np.float32) - region) * (self.alpha * strength)
        frame[self.y0:self.y1, self.x0:self.x1] = np.clip(mixed, 0, 255).astype(np.uint8)


def soft_region(frame_shape: tuple[int, ...], polygon: np.ndarray, blur: float) -> SoftRegion | None:
    """The soft region of `polygon` within a frame of `frame_shape`, or None if it is too small to draw."""
    import cv2

    x0, y0 = np.floor(polygon.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(polygon.max(axis=0)).astype(int) + 3
    height, width = frame_shape[:2]
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)
    if x1 - x0 < 3 or y1 - y0 < 2:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    points = np.round((polygon - [x0, y0]) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [points], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (3, 3), blur)[..., None]
    return SoftRegion(x0, y0, x1, y1, alpha)
