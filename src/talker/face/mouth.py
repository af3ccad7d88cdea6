"""A synthesised mouth interior: a warp only stretches pixels, so an opening mouth needs one drawn in.

Dark cavity with depth shading, upper teeth under the upper lip, lower teeth when wide open, and a
hint of tongue, composited inside the (warped) inner lip contour with a soft edge.
"""

from __future__ import annotations

import numpy as np

from talker.face.paint import soft_region

_CAVITY_EDGE = np.array([92.0, 38.0, 40.0])
_CAVITY_DEEP = np.array([26.0, 8.0, 10.0])
_TONGUE = np.array([168.0, 82.0, 88.0])
_DEFAULT_TEETH = np.array([236.0, 230.0, 214.0])
# Tooth edges across the arch (fractions of mouth width from the centre): incisors, laterals, canines.
_TOOTH_EDGES = (0.0, 0.11, 0.2, 0.28, 0.35)


def teeth_colour(image: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The photo's own teeth colour if its mouth shows teeth, else a natural default."""
    import cv2

    polygon = np.concatenate([upper, lower[::-1]]).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    pixels = image[mask > 0].astype(np.float64)
    if len(pixels) < 20:
        return _DEFAULT_TEETH
    bright = pixels[pixels.mean(axis=1) > np.percentile(pixels.mean(axis=1), 70)]
    colour = bright.mean(axis=0)
    # Only trust it if it looks like teeth: light and not saturated.
    if colour.mean() > 150 and colour.max() - colour.min() < 60:
        return np.asarray(0.7 * colour + 0.3 * _DEFAULT_TEETH)
    return _DEFAULT_TEETH


def paint_interior(
    frame: np.ndarray, upper: np.ndarray, lower: np.ndarray, mouth_width: float, teeth: np.ndarray
) -> None:
    """Draw the interior into `frame` (in place) between the inner lip curves (each (K, 2), left → right)."""
    gaps = lower[:, 1] - upper[:, 1]
    opening = float(gaps.max(initial=0.0))
    strength = float(np.clip((opening - 0.015 * mouth_width) / (0.04 * mouth_width), 0.0, 1.0))
    if strength <= 0.0:
        return
    region = soft_region(frame.shape, np.concatenate([upper, lower[::-1]]), blur=0.7)
    if region is None:
        return
    xs, ys = region.grid()
    top = np.interp(xs, upper[:, 0], upper[:, 1])[None, :]
    bottom = np.interp(xs, lower[:, 0], lower[:, 1])[None, :]
    gap = np.maximum(bottom - top, 1e-3)
    centre = (upper[0, 0] + upper[-1, 0] + lower[0, 0] + lower[-1, 0]) / 4
    across = (xs[None, :] - centre) / (mouth_width / 2)  # -1 … 1 corner to corner

    depth = 1.0 - np.abs(2.0 * (ys - top) / gap - 1.0)  # 0 at the lips, 1 midway
    depth = np.clip(depth, 0, 1) * (1.0 - 0.5 * np.clip(np.abs(across), 0, 1) ** 2)
    interior = _CAVITY_EDGE + (_CAVITY_DEEP - _CAVITY_EDGE) * np.clip(depth, 0, 1)[..., None] ** 0.6

    # Tongue: low in the mouth, more of it the wider the mouth opens.
    tongue_top = bottom - gap * 0.35
    tongue = ((across / 0.62) ** 2 + ((ys - bottom) / np.maximum(bottom - tongue_top, 1e-3)) ** 2) < 1.0
    tongue &= ys < bottom
    shade = np.clip((ys - tongue_top) / np.maximum(bottom - tongue_top, 1e-3), 0, 1)[..., None]
    interior = np.where(tongue[..., None], _TONGUE * (0.55 + 0.35 * shade), interior)

    span = np.clip(1.0 - (np.abs(across) / 0.8) ** 4, 0, 1)  # teeth fade towards the corners
    edges = np.abs(np.abs(across) * (mouth_width / 2) / mouth_width - np.array(_TOOTH_EDGES)[:, None, None]).min(0)
    seams = 1.0 - 0.1 * np.exp(-((edges * mouth_width) / 0.9) ** 2)
    upper_height = np.minimum(0.085 * mouth_width, 0.5 * gap) * span
    in_upper = (ys >= top) & (ys < top + upper_height)
    fall = np.clip((ys - top) / np.maximum(upper_height, 1e-3), 0, 1)
    shadow = 1.0 - 0.25 * np.clip(1.0 - fall / 0.3, 0, 1)  # the upper lip shades the teeth just under it
    upper_teeth = teeth[None, None, :] * ((0.92 - 0.2 * fall) * shadow)[..., None] * (0.72 + 0.28 * span[..., None])
    upper_teeth = upper_teeth * seams[..., None]
    interior = np.where(in_upper[..., None], upper_teeth, interior)

    lower_height = np.where(gap > 0.2 * mouth_width, np.minimum(0.06 * mouth_width, 0.25 * gap), 0.0) * span
    in_lower = (ys <= bottom) & (ys > bottom - lower_height)
    lower_teeth = teeth[None, None, :] * 0.78 * seams[..., None] * (0.8 + 0.2 * span[..., None])
    interior = np.where(in_lower[..., None], lower_teeth, interior)

    region.blend(frame, interior, strength)
