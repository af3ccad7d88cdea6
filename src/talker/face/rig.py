"""The face rig: which landmarks move, and how a FacePose moves them (pixels, on the rest portrait).

Indices are MediaPipe face-mesh landmarks. Distances scale with the mouth width W and the eye
openings measured on the photo, so the rig fits any face size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talker.face.pose import FacePose

LIP_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIP_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIP_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIP_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
JAW_LINE = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)
CHIN_LINE = (18, 200, 199, 175)  # from below the lower lip down to the chin
# Lower cheeks (follow the jaw) and mid cheeks (lift when the lips spread), left then right.
CHEEKS_LOW = (207, 216, 427, 436)
CHEEKS_MID = (205, 187, 425, 411)
EYE_UPPER = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
EYE_LOWER = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (263, 249, 390, 373, 374, 380, 381, 382, 362))
LID_CREASE = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
BROWS = ((70, 63, 105, 66, 107, 46, 53, 52, 65, 55), (300, 293, 334, 296, 336, 276, 283, 282, 295, 285))
ANCHORS = (1, 2, 4, 5, 6, 168, 197, 195, 98, 327, 33, 133, 263, 362, 10, 151, 9, 234, 454, 93, 323, 127, 356)

# Largest movements, as fractions of the mouth width W.
_GAP_MAX = 0.42  # inner lip gap of a wide-open "a"
_JAW_MAX = 0.30  # chin drop at jaw = 1
_SPREAD = 0.07  # each corner moves out this much at width = +1 (in at -1)
_PURSE = 0.06  # extra inward corner movement at protrude = 1
_POUT = 0.03  # lips thicken outward at protrude = 1


@dataclass(frozen=True, eq=False)
class Rig:
    """Control points of one portrait: rest positions and the geometry the displacements scale with."""

    points: np.ndarray  # (N, 2) rest positions of all control landmarks, pixels
    indices: np.ndarray  # (N,) landmark index of each control point
    mouth_width: float
    center_x: float  # mouth centre
    rest_gap: np.ndarray  # inner lip gap at each inner-lip column (len(LIP_INNER_UPPER))
    eye_gap: tuple[np.ndarray, np.ndarray]  # per upper-lid point, distance down to the lower lid
    brow_room: float  # distance brow → upper lid

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> Rig:
        xy = landmarks[:, :2].astype(np.float64)
        groups = (LIP_OUTER_UPPER + LIP_OUTER_LOWER + LIP_INNER_UPPER + LIP_INNER_LOWER + JAW_LINE + CHIN_LINE
                  + CHEEKS_LOW + CHEEKS_MID
                  + sum(EYE_UPPER, ()) + sum(EYE_LOWER, ()) + sum(LID_CREASE, ()) + sum(BROWS, ()) + ANCHORS)
        indices = np.array(list(dict.fromkeys(groups)))
        width = float(np.linalg.norm(xy[291] - xy[61]))
        rest_gap = np.maximum(xy[list(LIP_INNER_LOWER), 1] - xy[list(LIP_INNER_UPPER), 1], 0.0)
        eye_gaps = tuple(_lid_gap(xy, upper, lower) for upper, lower in zip(EYE_UPPER, EYE_LOWER, strict=True))
        brow_room = float(np.mean([xy[105, 1] - xy[159, 1], xy[334, 1] - xy[386, 1]]) * -1)
        return cls(xy[indices], indices, width, float((xy[61, 0] + xy[291, 0]) / 2), rest_gap,
                   (eye_gaps[0], eye_gaps[1]), max(brow_room, 1.0))

    def displacements(self, pose: FacePose) -> np.ndarray:
        """(N, 2) pixel displacement of every control point for `pose` (head motion excluded)."""
        moves: dict[int, np.ndarray] = {}
        self._mouth(pose, moves)
        self._eyes(pose, moves)
        self._brows(pose, moves)
        out = np.zeros_like(self.points)
        for row, index in enumerate(self.indices):
            if index in moves:
                out[row] = moves[index]
        return out

    def _u(self, index: int) -> float:
        """Horizontal position across the mouth, -1 (left corner) … 1 (right corner)."""
        row = int(np.flatnonzero(self.indices == index)[0])
        return float(np.clip((self.points[row, 0] - self.center_x) / (self.mouth_width / 2), -1, 1))

    def _mouth(self, pose: FacePose, moves: dict[int, np.ndarray]) -> None:
        mouth, w = pose.mouth, self.mouth_width
        corner = (mouth.width * _SPREAD - mouth.protrude * _PURSE) * w
        target = np.clip(mouth.open, 0, 1) * _GAP_MAX * w
        for column, (up, low) in enumerate(zip(LIP_INNER_UPPER, LIP_INNER_LOWER, strict=True)):
            u = self._u(up)
            shape = (1 - u * u) ** 0.7
            change = target * shape - self.rest_gap[column]
            # Opening drops mostly the lower lip (the jaw); closing meets in the middle.
            lower_share = 0.75 if change > 0 else 0.5
            dx = u * corner
            moves[up] = np.array([dx, -change * (1 - lower_share)])
            moves[low] = np.array([dx, change * lower_share])
        for up, low in zip(LIP_OUTER_UPPER, LIP_OUTER_LOWER, strict=True):
            u = self._u(up)
            inner_up, inner_low = moves[LIP_INNER_UPPER[LIP_OUTER_UPPER.index(up)]], moves[
                LIP_INNER_LOWER[LIP_OUTER_LOWER.index(low)]]
            pout = mouth.protrude * _POUT * w * (1 - u * u)
            moves[up] = np.array([u * corner, inner_up[1] * 0.8 - pout])
            moves[low] = np.array([u * corner, inner_low[1] * 0.9 + pout])
        drop = np.clip(mouth.jaw, 0, 1) * _JAW_MAX * w
        lower_lip_drop = float(moves[14][1])
        for index in CHIN_LINE:
            moves[index] = np.array([0.0, 0.5 * (drop + max(lower_lip_drop, 0.0))])
        for index in JAW_LINE:
            u = self._u(index)
            moves[index] = np.array([0.0, drop * (1.0 - 0.65 * min(abs(u) / 2.0, 1.0) ** 1.5)])
        spread = float(np.clip(mouth.width, -1, 1))
        for index in CHEEKS_LOW + CHEEKS_MID:
            side = float(np.sign(self._u(index)))
            follow = 0.35 if index in CHEEKS_LOW else 0.12  # skin over the jaw stretches with it
            lift = (0.025 if index in CHEEKS_MID else 0.012) * w * max(spread, 0.0)
            moves[index] = np.array([side * 0.015 * w * spread, follow * drop - lift])

    def _eyes(self, pose: FacePose, moves: dict[int, np.ndarray]) -> None:
        close = float(np.clip(pose.blink, 0, 1))
        for side in range(2):
            gaps = self.eye_gap[side]
            for index, gap in zip(EYE_UPPER[side], gaps, strict=True):
                moves[index] = np.array([0.0, 0.92 * close * gap])
            for index, gap in zip(LID_CREASE[side], gaps, strict=True):
                moves[index] = np.array([0.0, 0.45 * close * gap])
            for index in EYE_LOWER[side][1:-1]:
                moves[index] = np.array([0.0, -0.06 * close * float(np.mean(gaps))])

    def _brows(self, pose: FacePose, moves: dict[int, np.ndarray]) -> None:
        lift = float(np.clip(pose.brow, 0, 1)) * 0.28 * self.brow_room
        for brow in BROWS:
            for index in brow:
                moves[index] = np.array([0.0, -lift])


def _lid_gap(xy: np.ndarray, upper: tuple[int, ...], lower: tuple[int, ...]) -> np.ndarray:
    """For each upper-lid point, how far down the lower lid is at the same x."""
    low = xy[list(lower)]
    order = np.argsort(low[:, 0])
    under = np.interp(xy[list(upper), 0], low[order, 0], low[order, 1])
    return np.asarray(np.maximum(under - xy[list(upper), 1], 0.0))
