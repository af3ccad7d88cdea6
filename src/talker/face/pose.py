"""What the animator tells the renderer for one video frame: mouth shape, eyes, brows, head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MouthShape:
    """Articulatory targets of the mouth.

    jaw: jaw drop, 0 closed … 1 wide open. open: vertical gap between the lips, 0 sealed … 1 wide.
    width: lip spread, -1 narrow/rounded … 0 neutral … +1 spread (as in "ee", 一). protrude: lip
    protrusion, 0 … 1 (rounded vowels "oo", 乌, and ʃ/ʒ).
    """

    jaw: float = 0.0
    open: float = 0.0
    width: float = 0.0
    protrude: float = 0.0


CLOSED = MouthShape()


@dataclass(frozen=True)
class FacePose:
    """Everything that moves in one frame. Angles in degrees; breath is a small vertical offset (-1…1)."""

    mouth: MouthShape = CLOSED
    blink: float = 0.0  # 0 eyes open … 1 closed
    brow: float = 0.0  # 0 neutral … 1 raised
    head_pitch: float = 0.0  # + looks down (nod)
    head_yaw: float = 0.0  # + turns to the viewer's right
    head_roll: float = 0.0  # + tilts clockwise
    breath: float = 0.0
