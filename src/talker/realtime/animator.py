"""The video side of a real-time session: the face for whatever the audio timeline is playing now.

Audio is the master clock. Each call to `Animator.frame(playout)` reads the playout's clock and position and
draws the face there: the mouth from the current turn's phoneme timings at the playing position, on top of an
idle motion that never stops (blinks, breathing, a calm head sway) and runs on the output clock, so a dropped
video frame skips motion instead of slowing it down.

* **Idle motion** is one seamless loop (`idle_track`, `idle_seconds` long) indexed by the output clock; the
  head gets a livelier sway while speaking, a second loop whose weight eases in and out, so nothing jumps
  when a turn starts or ends.
* **Mouth**: per turn, `mouth_track` of the turn's phonemes sampled at 100 Hz (so any 20 ms audio position
  can be drawn) and read by linear interpolation; recomputed when the turn's phonemes grow or the turn changes.
  Brow raises on emphasised words come from `motion_track` of the turn's words, rate-limited so a cut or a
  re-chosen emphasis never snaps.
* **After speech** (the turn ran out or was interrupted) the mouth follows a release track: the phonemes up to
  the last position handed out, then silence, so it closes within a frame or two instead of jumping shut,
  and never mouths the words that were cut.
* **Reuse**: poses are rounded to steps that move the image by well under a pixel; a pose equal to the last
  one returns the last frame itself (the arrays are read-only) without rendering.

A video frame covers the `1 / fps` seconds of audio handed out last: it is drawn at their middle, half a video
frame before the playout's position (so with two 20 ms audio frames pulled per 25 fps video frame, the face
matches the audio it is sent with, the convention of `mouth_track`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from talker.blas import use_one_thread
from talker.face.motion import HEAD_LIMITS, idle_track, motion_track
from talker.face.portrait import Portrait
from talker.face.pose import CLOSED, FacePose, MouthShape
from talker.face.renderer import Renderer
from talker.face.visemes import mouth_track
from talker.frames import PhonemeTiming, WordTiming
from talker.realtime.playout import Playout

MOUTH_RATE = 100.0  # Hz: the mouth track's sampling rate (positions come in 20 ms steps)
SPEAKING_HANGOVER = 0.15  # s around a phoneme that count as speaking (for the livelier head)
SPEAKING_EASE = 0.4  # s: time constant of the head's move between calm and lively
TALK_HEAD = 0.6  # weight of the lively head loop while speaking
RELEASE = 0.6  # s after the last position of a turn during which the mouth follows the release track
_RELEASE_CONTEXT = 2.0  # s of phonemes before the cut that shape the release
_BROW_RATE = 6.0  # brow units per second at most (a full natural raise takes ~0.12 s for ~0.75)
_CROSSFADE = 2.0  # s: the lively loop's end is blended into its start over this much
_PIXEL = 0.2  # px: pose rounding moves the image by at most about this much


@dataclass(frozen=True, eq=False)
class _TurnTrack:
    """A turn's mouth (rows of jaw, open, width, protrude at 100 Hz from `start`), speaking mask and brows."""

    turn: int
    phonemes: tuple[PhonemeTiming, ...]
    words: tuple[WordTiming, ...]
    start: float
    mouth: np.ndarray  # (n, 4)
    speaking: np.ndarray  # (n,) float 0/1
    brow: np.ndarray  # (m,) at fps, from time 0

    def at(self, t: float, fps: float) -> tuple[MouthShape, bool, float]:
        if not len(self.mouth):
            return CLOSED, False, 0.0
        x = (t - self.start) * MOUTH_RATE - 0.5
        mouth = _lerp(self.mouth, x)
        speaking = bool(_lerp(self.speaking[:, None], x)[0] > 0.5)
        brow = float(_lerp(self.brow[:, None], t * fps - 0.5)[0]) if len(self.brow) else 0.0
        return MouthShape(*(float(v) for v in mouth)), speaking, brow


class Animator:
    """Frames of one portrait for a real-time session. Call from one thread (the renderer is not thread-safe).

    `idle_seconds` is the idle loop's length. OpenBLAS is held to one thread (`talker.blas`): the spline's
    small matrix product runs twice as fast on one thread as on two spinning ones.
    """

    def __init__(self, portrait: Portrait, fps: int = 25, seed: int = 0, idle_seconds: float = 60.0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self.seed = seed
        self.renderer = Renderer(portrait)
        n = max(round(idle_seconds * fps), 1)
        idle = idle_track(n, fps, seed)
        self._blink, self._breath = idle.blink, idle.breath
        self._idle_head = np.stack([idle.head_pitch, idle.head_yaw, idle.head_roll], axis=1)
        fade = min(round(_CROSSFADE * fps), n)
        lively = motion_track(n + fade, fps, seed + 1, speaking=[True] * (n + fade))
        self._talk_head = _loop(np.stack([lively.head_pitch, lively.head_yaw, lively.head_roll], axis=1), n)
        self._steps = _pose_steps(self.renderer)
        self._track: _TurnTrack | None = None
        self._release: _TurnTrack | None = None
        self._spoken: tuple[int, float, float] | None = None  # (turn, position, clock) of the last speech seen
        self._level = 0.0  # 0 calm … 1 lively head
        self._brow = 0.0
        self._clock: float | None = None
        self._pose: FacePose | None = None
        self._frame: np.ndarray | None = None
        self.rendered = 0  # frames drawn (the rest were reused)
        self.reused = 0
        use_one_thread()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return self.renderer.size

    @property
    def pose(self) -> FacePose | None:
        """The (rounded) pose of the frame returned last."""
        return self._pose

    def first_frame(self) -> np.ndarray:
        """The resting face at the start of the session (listening, mouth closed): for the hello."""
        return self._draw(self._motion(0.0, CLOSED, 0.0))

    def frame(self, playout: Playout, lead: float = 0.0) -> np.ndarray:
        """The face for the audio the playout handed out last (or `lead` seconds further on, for a frame drawn
        ahead of when it is sent): an H×W×3 uint8 RGB array, read-only."""
        clock = playout.elapsed + lead
        position = playout.position()
        if position is not None:
            position = (position[0], position[1] + lead)
        dt = 0.0 if self._clock is None else max(clock - self._clock, 0.0)
        self._clock = clock
        mouth, speaking, brow = CLOSED, False, 0.0
        if position is not None:
            turn, end = position
            track = self._turn_track(playout, turn)
            mouth, speaking, brow = track.at(end - 0.5 / self.fps, self.fps)
            if not track.phonemes:
                speaking = True  # speech without timings: at least the head knows
            self._spoken = (turn, end, clock)
            self._release = None
        elif self._spoken is not None:
            mouth, brow = self._released(playout, clock)
        self._level += (float(speaking) - self._level) * (1.0 - math.exp(-dt / SPEAKING_EASE))
        limit = _BROW_RATE * dt
        self._brow = float(np.clip(brow, self._brow - limit, self._brow + limit))
        return self._draw(self._motion(clock, mouth, self._brow))

    def _turn_track(self, playout: Playout, turn: int) -> _TurnTrack:
        phonemes, words = playout.phonemes(turn), playout.words(turn)
        track = self._track
        if track is None or track.turn != turn or track.phonemes is not phonemes or track.words is not words:
            end = max((p.end for p in phonemes), default=0.0)
            track = _build(turn, phonemes, words, 0.0, end + RELEASE, self.fps, self.seed)
            self._track = track
        return track

    def _released(self, playout: Playout, clock: float) -> tuple[MouthShape, float]:
        """Mouth and brow after the turn's audio stopped: the phonemes up to where it stopped, then silence."""
        assert self._spoken is not None
        turn, end, since = self._spoken
        t = end - 0.5 / self.fps + (clock - since)
        if t > end + RELEASE:
            self._spoken = self._release = None
            return CLOSED, 0.0
        if self._release is None or self._release.turn != turn:
            cut = tuple(PhonemeTiming(p.phoneme, p.start, min(p.end, end)) for p in playout.phonemes(turn)
                        if p.start < end and p.end > end - _RELEASE_CONTEXT)
            self._release = _build(turn, cut, (), end - _RELEASE_CONTEXT, end + RELEASE, self.fps, self.seed)
        mouth, _, _ = self._release.at(t, self.fps)
        return mouth, 0.0

    def _motion(self, clock: float, mouth: MouthShape, brow: float) -> FacePose:
        """The pose at output time `clock`: idle loop (+ lively head by the speaking level), this mouth and brow."""
        index = max(math.ceil(clock * self.fps - 1e-6) - 1, 0) % len(self._blink)
        head = self._idle_head[index] + self._level * TALK_HEAD * self._talk_head[index]
        pitch, yaw, roll = (limit * math.tanh(float(a) / limit) for a, limit in zip(head, HEAD_LIMITS, strict=True))
        return FacePose(mouth, float(self._blink[index]), brow, pitch, yaw, roll, float(self._breath[index]))

    def _draw(self, pose: FacePose) -> np.ndarray:
        pose = _rounded(pose, self._steps)
        if self._frame is not None and pose == self._pose:
            self.reused += 1
            return self._frame
        frame = self.renderer.render(pose)
        frame.flags.writeable = False
        self._pose, self._frame = pose, frame
        self.rendered += 1
        return frame


def _build(turn: int, phonemes: tuple[PhonemeTiming, ...], words: tuple[WordTiming, ...], start: float,
           end: float, fps: float, seed: int) -> _TurnTrack:
    """The turn's tracks from `start` to `end` seconds of its speech timeline."""
    n = max(math.ceil((end - start) * MOUTH_RATE), 1)
    shifted = [PhonemeTiming(p.phoneme, p.start - start, p.end - start) for p in phonemes]
    mouth = np.array([[m.jaw, m.open, m.width, m.protrude] for m in mouth_track(shifted, MOUTH_RATE, n)],
                     dtype=np.float64).reshape(n, 4)
    speaking = np.zeros(n)
    for p in shifted:
        first = max(int((p.start - SPEAKING_HANGOVER) * MOUTH_RATE), 0)
        speaking[first:max(math.ceil((p.end + SPEAKING_HANGOVER) * MOUTH_RATE), first)] = 1.0
    brow = motion_track(math.ceil(end * fps), fps, seed, words).brow.astype(np.float64) if words else np.zeros(0)
    return _TurnTrack(turn, phonemes, words, start, mouth, speaking, brow)


def _lerp(rows: np.ndarray, x: float) -> np.ndarray:
    """Row `x` of `rows` (fractional: linear between neighbours; held beyond either end)."""
    last = len(rows) - 1
    x = min(max(x, 0.0), float(last))
    low = int(x)
    high = min(low + 1, last)
    frac = x - low
    value: np.ndarray = rows[low] * (1.0 - frac) + rows[high] * frac
    return value


def _loop(values: np.ndarray, n: int) -> np.ndarray:
    """The first `n` rows of `values` made periodic: the rows past `n` are crossfaded into the first ones."""
    fade = len(values) - n
    out = values[:n].copy()
    if fade > 0:
        weight = (np.arange(fade) + 0.5) / fade
        weight = (weight * weight * (3.0 - 2.0 * weight))[:, None]
        out[:fade] = weight * values[:fade] + (1.0 - weight) * values[n:n + fade]
    return out


@dataclass(frozen=True)
class _Steps:
    mouth: float
    blink: float
    brow: float
    shift_deg: float  # pitch, yaw
    roll_deg: float
    breath: float


def _pose_steps(renderer: Renderer) -> _Steps:
    """Rounding steps that move the portrait's pixels by at most about `_PIXEL` each (see Renderer._head_matrix)."""
    _, top, _, bottom = renderer.portrait.face_box
    face_h = max(bottom - top, 1.0)
    per_degree = math.radians(1.0)
    return _Steps(
        mouth=0.005, blink=0.01, brow=0.01,
        shift_deg=_PIXEL / (0.45 * face_h * per_degree),
        roll_deg=_PIXEL / (1.6 * face_h * per_degree),  # the crown is about 1.6 face heights above the pivot
        breath=_PIXEL / (0.006 * face_h),
    )


def _rounded(pose: FacePose, steps: _Steps) -> FacePose:
    def q(value: float, step: float) -> float:
        return round(value / step) * step

    m = pose.mouth
    return FacePose(
        MouthShape(q(m.jaw, steps.mouth), q(m.open, steps.mouth), q(m.width, steps.mouth), q(m.protrude, steps.mouth)),
        q(pose.blink, steps.blink), q(pose.brow, steps.brow), q(pose.head_pitch, steps.shift_deg),
        q(pose.head_yaw, steps.shift_deg), q(pose.head_roll, steps.roll_deg), q(pose.breath, steps.breath),
    )
