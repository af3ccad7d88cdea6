"""The renderer, judged by the face landmarker on its own output, not by the renderer's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from talker.face.portrait import FaceAnalyzer, Portrait
from talker.face.pose import FacePose, MouthShape
from talker.face.renderer import Renderer
from tests.face.conftest import eye_openness, mouth_gap

OPEN = FacePose(MouthShape(jaw=0.8, open=0.8, width=0.1))
SILENT = FacePose()


@pytest.fixture(scope="module")
def renderer(portrait: Portrait) -> Renderer:
    return Renderer(portrait)


def _measure(analyzer: FaceAnalyzer, frame: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    found = analyzer.measure(frame)
    assert found is not None, "the landmarker lost the face in a rendered frame"
    return found


def test_open_mouth_is_seen_open_and_silence_closed(analyzer: FaceAnalyzer, portrait: Portrait,
                                                     renderer: Renderer) -> None:
    photo_gap = mouth_gap(portrait.landmarks)
    open_gap = mouth_gap(_measure(analyzer, renderer.render(OPEN))[0])
    silent_gap = mouth_gap(_measure(analyzer, renderer.render(SILENT))[0])
    assert open_gap > 0.25 and open_gap > 2 * photo_gap
    assert silent_gap < 0.05 < photo_gap  # the photo smiles with parted lips; silence closes them


def test_mouth_opening_grows_with_the_pose(analyzer: FaceAnalyzer, renderer: Renderer) -> None:
    gaps = [mouth_gap(_measure(analyzer, renderer.render(FacePose(MouthShape(jaw=a, open=a))))[0])
            for a in (0.0, 0.3, 0.6, 0.9)]
    assert gaps == sorted(gaps) and gaps[-1] - gaps[0] > 0.2


def test_rounded_mouth_is_narrower_than_spread(analyzer: FaceAnalyzer, renderer: Renderer) -> None:
    def width(shape: MouthShape) -> float:
        landmarks = _measure(analyzer, renderer.render(FacePose(shape)))[0]
        return float(np.linalg.norm(landmarks[291, :2] - landmarks[61, :2]))

    rounded = width(MouthShape(jaw=0.3, open=0.3, width=-0.8, protrude=0.8))
    spread = width(MouthShape(jaw=0.2, open=0.25, width=0.8))
    assert rounded < 0.85 * spread


def test_eyes_close_in_a_blink(analyzer: FaceAnalyzer, renderer: Renderer) -> None:
    open_eyes, open_shapes = _measure(analyzer, renderer.render(SILENT))
    closed_eyes, closed_shapes = _measure(analyzer, renderer.render(FacePose(blink=1.0)))
    assert eye_openness(closed_eyes) < 0.4 * eye_openness(open_eyes)
    blink = (closed_shapes["eyeBlinkLeft"] + closed_shapes["eyeBlinkRight"]) / 2
    assert blink > 0.4 > (open_shapes["eyeBlinkLeft"] + open_shapes["eyeBlinkRight"]) / 2


def test_brows_rise(analyzer: FaceAnalyzer, renderer: Renderer) -> None:
    def brow_height(pose: FacePose) -> float:
        landmarks = _measure(analyzer, renderer.render(pose))[0]
        return float(landmarks[159, 1] - landmarks[105, 1] + landmarks[386, 1] - landmarks[334, 1])

    assert brow_height(FacePose(brow=1.0)) > brow_height(SILENT) + 2.0


def test_pixels_far_from_the_face_stay_put(portrait: Portrait, renderer: Renderer) -> None:
    moving = FacePose(MouthShape(jaw=0.9, open=0.9), blink=1.0, brow=1.0, head_yaw=4, head_pitch=3, head_roll=2,
                      breath=1.0)
    frame = renderer.render(moving).astype(int)
    x0, y0, x1, y1 = portrait.face_box
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    ys, xs = np.mgrid[0:frame.shape[0], 0:frame.shape[1]]
    far = np.hypot(xs - centre[0], ys - centre[1]) > 1.6 * max(x1 - x0, y1 - y0)
    assert far.mean() > 0.1
    assert np.abs(frame[far] - portrait.image.astype(int)[far]).max() <= 3
    assert np.abs(frame - portrait.image.astype(int)).max() > 60  # while the face really moved


def test_same_pose_same_pixels(renderer: Renderer, portrait: Portrait) -> None:
    pose = FacePose(MouthShape(jaw=0.5, open=0.5, width=0.2), blink=0.3, head_roll=1.5)
    np.testing.assert_array_equal(renderer.render(pose), Renderer(portrait).render(pose))


def test_open_mouth_shows_an_interior_not_a_smear(portrait: Portrait, renderer: Renderer) -> None:
    frame = renderer.render(OPEN)
    lower, upper = portrait.landmarks[14, :2], portrait.landmarks[13, :2]
    x = round((lower[0] + upper[0]) / 2)
    column = frame[int(upper[1]):int(upper[1] + 0.3 * renderer.rig.mouth_width), x].astype(int)
    brightness = column.mean(axis=1)
    assert brightness.max() > 170  # teeth under the upper lip
    assert brightness.min() < 60  # a dark cavity below them
