"""Portrait analysis, once per photo: the image as talker animates it, and its face landmarks.

Results are cached on disk by the image's sha256, so a portrait is analysed once however often it
speaks.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talker.errors import InputError

_MAX_PIXELS = 60_000_000  # beyond this an upload is a decompression bomb, not a portrait
_CACHE_VERSION = 1


@dataclass(frozen=True, eq=False)
class Portrait:
    """An RGB photo (H×W×3 uint8, even sides) and the analysis of its main face."""

    image: np.ndarray
    landmarks: np.ndarray  # (478, 3) float32: x, y in pixels of `image`, z in the same scale
    blendshapes: dict[str, float]
    head_pose: np.ndarray  # (4, 4) facial transformation matrix
    sha256: str
    faces_found: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    @property
    def face_box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) of the landmarks."""
        xy = self.landmarks[:, :2]
        return float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max())

    @property
    def face_width(self) -> float:
        x0, _, x1, _ = self.face_box
        return x1 - x0


def load_image(source: Path | bytes, max_size: int) -> np.ndarray:
    """Decode a photo as RGB uint8: EXIF rotation applied, alpha flattened on white, grey expanded,
    scaled so the longest side is at most `max_size`, sides made even (video needs them even)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = _MAX_PIXELS
    name = str(source) if isinstance(source, Path) else "the upload"
    try:
        raw = source.read_bytes() if isinstance(source, Path) else source
    except FileNotFoundError:
        raise InputError(f"portrait {name} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"portrait {name} is a directory, not an image") from None
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except Image.DecompressionBombError:
        raise InputError(f"{name} is too large (over {_MAX_PIXELS // 1_000_000} megapixels)") from None
    except UnidentifiedImageError:
        raise InputError(f"{name} is not an image (use a JPEG, PNG or WebP photo)") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"{name} is a corrupt or truncated image ({error})") from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    scale = min(1.0, max_size / max(image.size))
    width, height = (max(2, round(side * scale) // 2 * 2) for side in image.size)
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


class FaceAnalyzer:
    """MediaPipe FaceLandmarker (from the model kit), loaded once per process, with a disk cache."""

    def __init__(self, model_path: Path, cache_dir: Path | None, min_face_px: int = 80) -> None:
        self._model_path = model_path
        self._cache_dir = cache_dir
        self._min_face_px = min_face_px
        self._landmarker: Any = None
        self._lock = threading.Lock()

    def analyze(self, source: Path | bytes, max_size: int = 1024) -> Portrait:
        """Load and analyse a photo; raises InputError with advice when it cannot be animated."""
        image = load_image(source, max_size)
        digest = hashlib.sha256(image.tobytes() + repr(image.shape).encode()).hexdigest()
        cached = self._read_cache(digest)
        if cached is not None:
            landmarks, blendshapes, pose, faces = cached
        else:
            landmarks, blendshapes, pose, faces = self._detect(image)
            self._write_cache(digest, landmarks, blendshapes, pose, faces)
        portrait = Portrait(image, landmarks, blendshapes, pose, digest, faces)
        if portrait.face_width < self._min_face_px:
            scaled = " at this output size (use a larger --size)" if max(image.shape) >= max_size else ""
            raise InputError(
                f"the face is too small to animate{scaled}: {portrait.face_width:.0f} px across, the minimum is "
                f"{self._min_face_px} px; use a closer or larger photo"
            )
        return portrait

    def measure(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float]] | None:
        """Landmarks and blendshapes of the largest face in an RGB array, or None: for checking renders."""
        try:
            landmarks, blendshapes, _, _ = self._detect(np.ascontiguousarray(image))
        except InputError:
            return None
        return landmarks, blendshapes

    def __enter__(self) -> FaceAnalyzer:
        """Keep one landmarker open for many calls (MediaPipe's must be closed before shutdown)."""
        with self._lock:
            if self._landmarker is None:
                self._landmarker = _create_landmarker(self._model_path)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the landmarker."""
        with self._lock:
            if self._landmarker is not None:
                self._landmarker.close()
                self._landmarker = None

    def _detect(self, image: np.ndarray) -> tuple[np.ndarray, dict[str, float], np.ndarray, int]:
        import mediapipe as mp

        with self._lock:
            if self._landmarker is not None:
                result = self._landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
            else:  # outside a `with analyzer:` block the landmarker lives for this one call
                with _create_landmarker(self._model_path) as landmarker:
                    result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=image))
        if not result.face_landmarks:
            raise InputError("no face found in the photo; use a portrait with the face clearly visible, looking "
                             "roughly at the camera")
        height, width = image.shape[:2]
        faces = [np.array([[p.x * width, p.y * height, p.z * width] for p in face], dtype=np.float32)
                 for face in result.face_landmarks]
        widths = [float(f[:, 0].max() - f[:, 0].min()) for f in faces]
        main = int(np.argmax(widths))
        blendshapes = {b.category_name: float(b.score) for b in result.face_blendshapes[main]}
        pose = np.asarray(result.facial_transformation_matrixes[main], dtype=np.float32)
        return faces[main], blendshapes, pose, len(faces)

    def _cache_path(self, digest: str) -> Path | None:
        return self._cache_dir / "portraits" / f"{digest}.v{_CACHE_VERSION}.npz" if self._cache_dir else None

    def _read_cache(self, digest: str) -> tuple[np.ndarray, dict[str, float], np.ndarray, int] | None:
        path = self._cache_path(digest)
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path) as data:
                names = [str(n) for n in data["blend_names"]]
                blendshapes = dict(zip(names, (float(v) for v in data["blend_values"]), strict=True))
                return data["landmarks"].copy(), blendshapes, data["pose"].copy(), int(data["faces"])
        except (OSError, ValueError, KeyError):
            return None  # a damaged cache entry is simply recomputed

    def _write_cache(self, digest: str, landmarks: np.ndarray, blendshapes: dict[str, float],
                     pose: np.ndarray, faces: int) -> None:
        path = self._cache_path(digest)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(temp, landmarks=landmarks, pose=pose, faces=faces,
                     blend_names=np.array(list(blendshapes)), blend_values=np.array(list(blendshapes.values())))
            temp.replace(path)
        except OSError:
            pass  # caching is an optimisation; a read-only or full cache dir must not fail the render


def _create_landmarker(model_path: Path) -> Any:
    """FaceLandmarker in image mode, with MediaPipe's start-up logging kept off the user's terminal."""
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        running_mode=vision.RunningMode.IMAGE,
        num_faces=4,
        output_face_blendshapes=True,
        output_facial_transformation_matrixes=True,
    )
    with _quiet_stderr():
        return vision.FaceLandmarker.create_from_options(options)


class _quiet_stderr:  # noqa: N801 - used like contextlib's lower-case context managers
    """Silence native (C++) logging written straight to file descriptor 2."""

    def __enter__(self) -> None:
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc: object) -> None:
        os.dup2(self._saved, 2)
        os.close(self._saved)


def create_analyzer(settings: Any) -> FaceAnalyzer:
    """The analyser on the kit's FaceLandmarker; a clear error if the model is not assembled."""
    from talker.models.kit import ModelKit

    model = ModelKit(settings.models_dir).path("face-landmarker")
    return FaceAnalyzer(model, settings.cache_dir, settings.face.min_face_px)
