"""Closed eyelids drawn in: the warp brings the lids together, the paint hides what is left of the eye."""

from __future__ import annotations

import numpy as np

from talker.face.paint import soft_region

_LASHES = np.array([58.0, 40.0, 34.0])


def lid_skin_colour(image: np.ndarray, crease: np.ndarray, lid: np.ndarray) -> np.ndarray:
    """Colour of the upper eyelid skin (between the crease and the lid margin) in the photo.

    Lashes and the crease's shadow share that strip, so the lighter part of it is taken."""
    import cv2

    polygon = np.concatenate([crease, lid[::-1]]).astype(np.int32)
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [polygon], 255)
    pixels = image[mask > 0]
    if len(pixels) < 10:
        return np.asarray(np.median(image.reshape(-1, 3), axis=0), dtype=np.float64)
    luminance = pixels.astype(np.float64).mean(axis=1)
    lighter = pixels[luminance >= np.percentile(luminance, 65)]
    return np.asarray(np.median(lighter, axis=0), dtype=np.float64)


def paint_closed_lid(frame: np.ndarray, upper: np.ndarray, lower: np.ndarray, skin: np.ndarray,
                     amount: float) -> None:
    """Cover the eye opening between `upper` and `lower` lid curves (left → right) with lid skin."""
    if amount <= 0.0:
        return
    region = soft_region(frame.shape, np.concatenate([upper, lower[::-1]]), blur=0.8)
    if region is None:
        return
    xs, ys = region.grid()
    top = np.interp(xs, upper[:, 0], upper[:, 1])[None, :]
    bottom = np.interp(xs, lower[:, 0], lower[:, 1])[None, :]
    down = np.clip((ys - top) / np.maximum(bottom - top, 1e-3), 0, 1)[..., None]
    paint = skin * (1.0 - 0.12 * down)  # the lid curves away from the light towards its margin
    lash = np.exp(-(((ys - bottom) / 1.2) ** 2))[..., None]
    paint = paint * (1 - 0.8 * lash) + _LASHES * 0.8 * lash
    region.blend(frame, paint, amount)
