"""Thin-plate spline displacement fields with the kernel precomputed once per portrait.

For fixed control points and a fixed sampling grid, the spline's value on the grid is a linear map
of the control displacements: one (grid × controls) matrix, built once, makes every frame a matrix
product instead of a solve.
"""

from __future__ import annotations

import numpy as np


def _kernel(distance_sq: np.ndarray) -> np.ndarray:
    """U(r) = r² log r, written on r² to skip the square root (U = ½ r² log r²)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 0.5 * distance_sq * np.log(distance_sq)
    return np.asarray(np.nan_to_num(value, nan=0.0, posinf=0.0, neginf=0.0))


class SplineField:
    """Displacements at `grid_points` interpolated from displacements at `controls`."""

    def __init__(self, controls: np.ndarray, grid_points: np.ndarray, regularization: float = 1e-3) -> None:
        controls = np.asarray(controls, dtype=np.float64)
        scale = float(np.ptp(controls, axis=0).max()) or 1.0
        origin = controls.mean(axis=0)
        c = (controls - origin) / scale  # normalised coordinates keep the system well conditioned
        g = (np.asarray(grid_points, dtype=np.float64) - origin) / scale
        n = len(c)
        system = np.zeros((n + 3, n + 3))
        system[:n, :n] = _kernel(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)) + regularization * np.eye(n)
        system[:n, n] = system[n, :n] = 1.0
        system[:n, n + 1:] = c
        system[n + 1:, :n] = c.T
        inverse = np.linalg.inv(system)[:, :n]  # only displacement columns: the affine rows' targets are 0
        basis = np.empty((len(g), n + 3))
        basis[:, :n] = _kernel(((g[:, None, :] - c[None, :, :]) ** 2).sum(-1))
        basis[:, n] = 1.0
        basis[:, n + 1:] = g
        self.matrix = (basis @ inverse).astype(np.float32)  # (grid, controls)

    def evaluate(self, displacements: np.ndarray) -> np.ndarray:
        """(grid, 2) displacement at every grid point."""
        return self.matrix @ np.asarray(displacements, dtype=np.float32)
