"""The renderer: one FacePose in, one RGB frame out, by a landmark-driven warp of the portrait.

Per portrait (once): the rig's control points, a thin-plate spline matrix on a coarse grid over the
head region, soft masks for the face and head. Per frame: control displacements → spline field →
inverse map (one fixed-point step) → cv2.remap of the head region only, head motion as a small
rotation/translation faded out by the head mask, then a synthesised mouth interior. Pixels outside
the head region are the photo's own.
"""

from __future__ import annotations

import time

import numpy as np

from talker.face.eyelids import lid_skin_colour, paint_closed_lid
from talker.face.mouth import paint_interior, teeth_colour
from talker.face.portrait import Portrait
from talker.face.pose import FacePose
from talker.face.rig import EYE_LOWER, EYE_UPPER, LID_CREASE, LIP_INNER_LOWER, LIP_INNER_UPPER, Rig
from talker.face.tps import SplineField

_INVERSE_STEPS = 3
_RING = 24  # anchor points on the ellipse around the face that hold the warp at zero


class Renderer:
    """Renders frames of one portrait. Not thread-safe; make one per worker."""

    def __init__(self, portrait: Portrait) -> None:
        import cv2

        self.portrait = portrait
        self.image = portrait.image
        height, width = self.image.shape[:2]
        landmarks = portrait.landmarks[:, :2].astype(np.float64)
        self.rig = Rig.from_landmarks(portrait.landmarks)
        x0f, y0f, x1f, y1f = portrait.face_box
        face_w, face_h = x1f - x0f, y1f - y0f
        self._face_h = face_h
        center = np.array([(x0f + x1f) / 2, (y0f + y1f) / 2 - 0.1 * face_h])
        inner = np.array([0.62 * face_w, 0.72 * face_h])
        outer = inner * 1.55
        x0, y0 = np.maximum(np.floor(center - outer).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(center + outer).astype(int) + 1, [width, height])
        self.box = (int(x0), int(y0), int(x1), int(y1))
        roi_w, roi_h = int(x1 - x0), int(y1 - y0)

        step = max(4, round(face_w / 40))
        grid_w, grid_h = max(roi_w // step, 2), max(roi_h // step, 2)
        gx = x0 + (np.arange(grid_w) + 0.5) * roi_w / grid_w - 0.5
        gy = y0 + (np.arange(grid_h) + 0.5) * roi_h / grid_h - 0.5
        grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
        angles = np.linspace(0, 2 * np.pi, _RING, endpoint=False)
        ring = center + np.stack([np.cos(angles), np.sin(angles)], axis=1) * inner * 1.12
        corners = np.array([[x0, y0], [x1 - 1, y0], [x0, y1 - 1], [x1 - 1, y1 - 1]], dtype=np.float64)
        self._anchors = len(ring) + len(corners)
        self.spline = SplineField(np.concatenate([self.rig.points, ring, corners]), grid)
        self._grid_shape = (grid_h, grid_w)
        # Grid sample centres as cv2.resize places them when it upsamples to the region's size.
        centres_x = x0 + (np.arange(grid_w) + 0.5) * roi_w / grid_w - 0.5
        centres_y = y0 + (np.arange(grid_h) + 0.5) * roi_h / grid_h - 0.5
        self._grid_x, self._grid_y = (a.astype(np.float32) for a in np.meshgrid(centres_x, centres_y))
        self._to_grid = (grid_w / roi_w, grid_h / roi_h)  # region pixels → grid index (for remap)

        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
        radius = np.sqrt(((xs - center[0]) / inner[0]) ** 2 + ((ys - center[1]) / inner[1]) ** 2)
        self._head_weight = _falloff(radius, 1.0, outer[0] / inner[0] * 0.97)
        grid_radius = np.sqrt(((gx[None, :] - center[0]) / inner[0]) ** 2 + ((gy[:, None] - center[1]) / inner[1]) ** 2)
        self._face_weight = _falloff(grid_radius, 1.1, outer[0] / inner[0] * 0.97)[..., None].astype(np.float32)
        self._grid_head_weight = _falloff(grid_radius, 1.0, outer[0] / inner[0] * 0.97).astype(np.float32)
        chin = landmarks[152]
        self._pivot = np.array([chin[0], chin[1] + 0.3 * face_h])
        self._inner_upper = landmarks[list(LIP_INNER_UPPER)]
        self._inner_lower = landmarks[list(LIP_INNER_LOWER)]
        self._upper_rows = self._rows(LIP_INNER_UPPER)
        self._lower_rows = self._rows(LIP_INNER_LOWER)
        self.teeth = teeth_colour(self.image, self._inner_upper, self._inner_lower)
        self.stage_seconds = {"warp": 0.0, "paint": 0.0}  # accumulated per stage, read by bench/
        self._lids = [
            (landmarks[list(upper)], landmarks[list(lower)], self._rows(upper), self._rows(lower),
             lid_skin_colour(self.image, landmarks[list(crease)], landmarks[list(upper)]))
            for upper, lower, crease in zip(EYE_UPPER, EYE_LOWER, LID_CREASE, strict=True)
        ]
        self._cv2 = cv2

    def _rows(self, indices: tuple[int, ...]) -> list[int]:
        return [int(np.flatnonzero(self.rig.indices == i)[0]) for i in indices]

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def render(self, pose: FacePose) -> np.ndarray:
        """The portrait in `pose`, as a new H×W×3 uint8 RGB frame."""
        cv2 = self._cv2
        started = time.perf_counter()
        x0, y0, x1, y1 = self.box
        moves = self.rig.displacements(pose)
        controls = np.concatenate([moves, np.zeros((self._anchors, 2))])
        field = self.spline.evaluate(controls).reshape(*self._grid_shape, 2) * self._face_weight
        # Backward map: output point y shows source x with x + F(x) = y', where y' is y with the head motion
        # undone (affine, faded by the head mask). Fixed-point steps x ← y' - F(x) run on the coarse grid the
        # field lives on, then the map is upsampled and gets one full-resolution step, which puts the lip
        # and lid edges (moving far over short distances) back where they belong.
        target = np.stack([self._grid_x, self._grid_y], axis=-1)
        head = self._head_matrix(pose)
        if head is not None:
            inverse = np.linalg.inv(np.vstack([head, [0, 0, 1]]))[:2]
            back = target @ inverse[:, :2].T.astype(np.float32) + inverse[:, 2].astype(np.float32)
            target = target + self._grid_head_weight[..., None] * (back - target)
        source = target - field
        for _ in range(_INVERSE_STEPS):
            index_x = (source[..., 0] - x0 + 0.5) * self._to_grid[0] - 0.5
            index_y = (source[..., 1] - y0 + 0.5) * self._to_grid[1] - 0.5
            pulled = cv2.remap(field, index_x, index_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            source = target - pulled
        size = (x1 - x0, y1 - y0)
        target_full = cv2.resize(target.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        source_full = cv2.resize(source.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
        field_full = cv2.resize(field, size, interpolation=cv2.INTER_LINEAR)
        pulled = cv2.remap(field_full, source_full[..., 0] - x0, source_full[..., 1] - y0, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)
        map_x = np.ascontiguousarray(target_full[..., 0] - pulled[..., 0])
        map_y = np.ascontiguousarray(target_full[..., 1] - pulled[..., 1])
        region = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped = time.perf_counter()

        upper = self._inner_upper + moves[self._upper_rows]
        lower = self._inner_lower + moves[self._lower_rows]
        if head is not None:
            upper, lower = self._move_with_head(upper, head), self._move_with_head(lower, head)
        paint_interior(region, upper - [x0, y0], lower - [x0, y0], self.rig.mouth_width, self.teeth)
        lid_paint = float(np.clip((pose.blink - 0.1) / 0.25, 0.0, 1.0))
        for lid_rest, lid_lower, upper_rows, _, skin in self._lids if lid_paint > 0 else ():
            # The lid slides down over the eye: skin from its resting line to its moving edge.
            edge = lid_rest + moves[upper_rows]
            rest = lid_rest.copy()
            if head is not None:
                edge, rest = self._move_with_head(edge, head), self._move_with_head(rest, head)
            corners = lid_lower[[0, -1]]
            if head is not None:
                corners = self._move_with_head(corners, head)
            top = np.concatenate([corners[:1], rest, corners[1:]])
            bottom = np.concatenate([corners[:1], edge, corners[1:]])
            order = np.argsort(top[:, 0])
            paint_closed_lid(region, top[order] - [x0, y0], bottom[order] - [x0, y0], skin, lid_paint)

        frame = self.image.copy()
        frame[y0:y1, x0:x1] = region
        self.stage_seconds["warp"] += warped - started
        self.stage_seconds["paint"] += time.perf_counter() - warped
        return frame

    def _head_matrix(self, pose: FacePose) -> np.ndarray | None:
        """Forward 2×3 transform of the head: roll about the neck, yaw/pitch/breath as small shifts."""
        if not (pose.head_roll or pose.head_yaw or pose.head_pitch or pose.breath):
            return None
        angle = np.radians(pose.head_roll)
        cos, sin = np.cos(angle), np.sin(angle)
        shift = np.array([
            np.radians(pose.head_yaw) * 0.45 * self._face_h,
            np.radians(pose.head_pitch) * 0.45 * self._face_h + pose.breath * 0.006 * self._face_h,
        ])
        rotation = np.array([[cos, -sin], [sin, cos]])
        offset = self._pivot - rotation @ self._pivot + shift
        return np.hstack([rotation, offset[:, None]])

    def _move_with_head(self, points: np.ndarray, head: np.ndarray) -> np.ndarray:
        x0, y0 = self.box[:2]
        rows = np.clip(np.round(points[:, 1] - y0).astype(int), 0, self._head_weight.shape[0] - 1)
        cols = np.clip(np.round(points[:, 0] - x0).astype(int), 0, self._head_weight.shape[1] - 1)
        weight = self._head_weight[rows, cols][:, None]
        moved = points @ head[:, :2].T + head[:, 2]
        return np.asarray(points + weight * (moved - points))


def _falloff(radius: np.ndarray, start: float, stop: float) -> np.ndarray:
    """1 inside `start`, 0 beyond `stop`, smoothstep between (radius in ellipse units)."""
    t = np.clip((radius - start) / max(stop - start, 1e-6), 0.0, 1.0)
    return (1.0 - t * t * (3.0 - 2.0 * t)).astype(np.float32)
