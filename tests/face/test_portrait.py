"""Portrait analysis on real photos: landmarks, the cache, every kind of bad photo."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from talker.errors import InputError
from talker.face.portrait import FaceAnalyzer, Portrait, load_image
from tests.face.conftest import SAMPLE


def _save(image: Image.Image, path: Path, **options: object) -> Path:
    image.save(path, **options)
    return path


def test_sample_portrait_has_one_animatable_face(portrait: Portrait) -> None:
    assert portrait.landmarks.shape == (478, 3)
    assert portrait.faces_found == 1 and portrait.face_width > 120
    assert portrait.image.shape == (512, 512, 3) and portrait.head_pose.shape == (4, 4)
    assert portrait.blendshapes["mouthSmileLeft"] > 0.5  # she smiles in the photo


def test_analysis_is_cached_by_image_hash(analyzer: FaceAnalyzer, portrait: Portrait) -> None:
    again = analyzer.analyze(SAMPLE)
    assert again.sha256 == portrait.sha256
    np.testing.assert_array_equal(again.landmarks, portrait.landmarks)
    assert analyzer._cache_path(portrait.sha256) is not None
    assert analyzer._cache_path(portrait.sha256).is_file()  # type: ignore[union-attr]


def test_exif_rotation_is_applied(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    upright = Image.open(SAMPLE).crop((0, 0, 512, 400))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a sideways camera writes …
    exif = Image.Exif()
    exif[0x0112] = 6  # … with the tag that says "rotate 90° clockwise to view"
    path = _save(stored, tmp_path / "sideways.jpg", exif=exif, quality=95)
    result = analyzer.analyze(path)
    assert result.image.shape[:2] == (400, 512) and result.face_width > 120


def test_alpha_and_greyscale_photos_work(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    rgba = Image.open(SAMPLE).convert("RGBA")
    alpha = Image.new("L", rgba.size, 255)
    alpha.paste(0, (0, 0, 60, 60))  # a transparent corner
    rgba.putalpha(alpha)
    with_alpha = analyzer.analyze(_save(rgba, tmp_path / "alpha.png"))
    assert with_alpha.image.shape == (512, 512, 3)
    assert with_alpha.image[5, 5].tolist() == [255, 255, 255]  # transparency flattened on white
    grey = analyzer.analyze(_save(Image.open(SAMPLE).convert("L"), tmp_path / "grey.png"))
    assert grey.image.shape == (512, 512, 3) and grey.face_width > 120


def test_very_large_photo_is_scaled_to_the_size_limit(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    big = Image.open(SAMPLE).resize((3001, 3001))
    result = analyzer.analyze(_save(big, tmp_path / "big.jpg", quality=80), max_size=1024)
    assert result.image.shape == (1024, 1024, 3)


def test_odd_sizes_become_even() -> None:
    buffer = io.BytesIO()
    Image.open(SAMPLE).crop((0, 0, 301, 257)).save(buffer, format="PNG")
    assert load_image(buffer.getvalue(), 1024).shape == (256, 300, 3)


def test_several_faces_animate_the_largest(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    photo = Image.open(SAMPLE)
    canvas = Image.new("RGB", (960, 512), (200, 200, 200))
    canvas.paste(photo, (0, 0))
    canvas.paste(photo.resize((440, 440)), (520, 72))
    result = analyzer.analyze(_save(canvas, tmp_path / "two.jpg", quality=92), max_size=960)
    assert result.faces_found == 2
    assert result.face_box[2] < 480  # the bigger face, on the left


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("hello, not a photo"), "is not an image"),
        (lambda p: p.write_bytes(SAMPLE.read_bytes()[:3000]), "corrupt or truncated"),
        (lambda p: Image.new("RGB", (400, 300), (90, 140, 200)).save(p, format="PNG"), "no face found"),
        (lambda p: _small_face(p), "too small to animate"),
    ],
    ids=["text-file", "truncated-jpeg", "no-face", "tiny-face"],
)
def test_bad_photos_get_clear_errors(analyzer: FaceAnalyzer, tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "bad.img"
    make(path)  # type: ignore[operator]
    with pytest.raises(InputError, match=message):
        analyzer.analyze(path)


def test_missing_photo_is_a_clear_error(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        analyzer.analyze(tmp_path / "nowhere.jpg")


def _small_face(path: Path) -> None:
    Image.open(SAMPLE).resize((200, 200)).save(path, format="PNG")  # a face about 60 px across
