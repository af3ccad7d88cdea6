"""Everything on the face besides the mouth: blinks, brows, head sway and nods, breathing.

All tracks are sampled at frame centres, t = (i + 0.5) / fps, like the mouth track, and are fully
determined by the seed: each part (blinks, brows, head, breath) draws from its own child generator of
`numpy.random.default_rng(seed)`, so changing one part's draws leaves the others alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talker.face.pose import FacePose, MouthShape
from talker.frames import WordTiming

# Blinks: fast close, short hold, slower open; intervals log-normal around BLINK_MEDIAN_GAP.
BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.05, 0.02, 0.10
BLINK_MEDIAN_GAP = 3.5
DOUBLE_BLINK = 0.15  # share of blinks followed by a second one
NO_BLINK_BEFORE = 0.3
# Brows: raised for emphasised words, at most one raise per BROW_SPACING seconds.
BROW_ATTACK, BROW_RELEASE, BROW_SPACING = 0.12, 0.30, 1.5
PAUSE = 0.25  # s of silence before a word that makes it "after a pause"
# Head: bounds in degrees (pitch, yaw, roll) and how lively it is when idle / between phrases / speaking.
HEAD_LIMITS = (3.0, 4.0, 2.0)
IDLE_LEVEL, PAUSE_LEVEL, SPEAKING_LEVEL = 0.5, 0.65, 1.0
BREATH_HZ = 0.25

_ARRAYS = ("blink", "brow", "head_pitch", "head_yaw", "head_roll", "breath")
_MARKS = frozenset("!?！？")


@dataclass(frozen=True, eq=False)
class MotionTrack:
    """Per-frame float32 arrays of equal length: blink and brow 0…1, head angles in degrees, breath -1…1."""

    fps: float
    blink: np.ndarray
    brow: np.ndarray
    head_pitch: np.ndarray
    head_yaw: np.ndarray
    head_roll: np.ndarray
    breath: np.ndarray

    def __len__(self) -> int:
        return len(self.blink)


def motion_track(
    n_frames: int,
    fps: float,
    seed: int,
    words: Sequence[WordTiming] = (),
    speaking: Sequence[bool] | None = None,
) -> MotionTrack:
    """Motion for a stretch of speech: blinks, brow raises on emphasised words, head sway and nods.

    `speaking` marks the frames with speech (default: derived from the word timings); the head moves
    more while speaking. Word times are seconds from frame 0's time.
    """
    _check(n_frames, fps)
    t = _frame_times(n_frames, fps)
    if speaking is None:
        talk = _speaking_from_words(words, t)
    else:
        if len(speaking) != n_frames:
            raise ValueError(f"speaking has {len(speaking)} entries for {n_frames} frames")
        talk = np.asarray(speaking, dtype=np.float64)
    level = PAUSE_LEVEL + (SPEAKING_LEVEL - PAUSE_LEVEL) * _gauss_smooth(talk, 0.25 * fps)
    blink_rng, brow_rng, head_rng, nod_rng, breath_rng = np.random.default_rng(seed).spawn(5)
    pitch, yaw, roll = _head(head_rng, t, level, period=None)
    return _track(
        fps,
        blink=_blinks(blink_rng, t, fps, period=None),
        brow=_brows(brow_rng, words, t),
        head=(pitch + _nods(nod_rng, words, t), yaw, roll),
        breath=_breath(breath_rng, t, fps, 1.0 - 0.5 * _gauss_smooth(talk, 0.5 * fps), period=None),
    )


def idle_track(n_frames: int, fps: float, seed: int) -> MotionTrack:
    """A seamless listening loop: blinks, breathing and a calm head sway, no brow raises.

    The last frame runs into the first as smoothly as any two neighbours, so the track can be repeated;
    loops of ten seconds or more look least repetitive.
    """
    _check(n_frames, fps)
    if n_frames == 0:
        return motion_track(0, fps, seed)
    t = _frame_times(n_frames, fps)
    period = n_frames / fps
    blink_rng, _, head_rng, _, breath_rng = np.random.default_rng(seed).spawn(5)
    return _track(
        fps,
        blink=_blinks(blink_rng, t, fps, period=period),
        brow=np.zeros(n_frames),
        head=_head(head_rng, t, np.full(n_frames, IDLE_LEVEL), period=period),
        breath=_breath(breath_rng, t, fps, np.ones(n_frames), period=period),
    )


def compose(mouth: Sequence[MouthShape], motion: MotionTrack) -> list[FacePose]:
    """One `FacePose` per frame from a mouth track and a motion track of the same length."""
    if len(mouth) != len(motion):
        raise ValueError(f"mouth track has {len(mouth)} frames, motion track {len(motion)}")
    columns = [getattr(motion, name).tolist() for name in _ARRAYS]
    return [
        FacePose(shape, blink, brow, pitch, yaw, roll, breath)
        for shape, blink, brow, pitch, yaw, roll, breath in zip(mouth, *columns, strict=True)
    ]


def emphasis_words(words: Sequence[WordTiming]) -> list[int]:
    """Indices of the words that get a brow raise, in time order.

    Candidates: the first word after a pause, words ending in ! or ? (the TTS words carry no marks;
    see `mark_sentence_end`), and the longest fifth of the words. The strongest candidates win
    (the longer word on a tie), at most one per `BROW_SPACING` seconds.
    """
    scores = _emphasis_scores(words)
    chosen: list[int] = []
    for i in sorted(scores, key=lambda i: (-scores[i], words[i].start - words[i].end, words[i].start)):
        if all(abs(words[i].start - words[j].start) >= BROW_SPACING for j in chosen):
            chosen.append(i)
    return sorted(chosen)


def mark_sentence_end(words: Sequence[WordTiming], text: str) -> tuple[WordTiming, ...]:
    """The words with the sentence's final ! or ? (also ！？) appended to the last one."""
    mark = text.rstrip(" \t\n\"'”’」』)）")[-1:]
    if not words or mark not in _MARKS:
        return tuple(words)
    last = words[-1]
    return (*words[:-1], WordTiming(last.text + mark, last.start, last.end))


def _check(n_frames: int, fps: float) -> None:
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if n_frames < 0:
        raise ValueError(f"n_frames must not be negative, got {n_frames}")


def _frame_times(n_frames: int, fps: float) -> np.ndarray:
    return (np.arange(n_frames, dtype=np.float64) + 0.5) / fps


def _track(
    fps: float, blink: np.ndarray, brow: np.ndarray, head: tuple[np.ndarray, ...], breath: np.ndarray
) -> MotionTrack:
    def f32(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32)

    # tanh keeps the head inside its limits without a flat edge: near-linear in the middle.
    pitch, yaw, roll = (limit * np.tanh(angle / limit) for angle, limit in zip(head, HEAD_LIMITS, strict=True))
    return MotionTrack(fps, f32(blink), f32(brow), f32(pitch), f32(yaw), f32(roll), f32(np.clip(breath, -1, 1)))


def _kernel(sigma: float) -> np.ndarray:
    radius = max(int(np.ceil(3 * sigma)), 1)
    kernel: np.ndarray = np.exp(-0.5 * np.square(np.arange(-radius, radius + 1) / sigma))
    kernel /= kernel.sum()
    return kernel


def _gauss_smooth(x: np.ndarray, sigma: float, wrap: bool = False) -> np.ndarray:
    """`x` convolved with a unit-sum Gaussian of `sigma` samples (edges held, or wrapped around)."""
    if len(x) == 0 or sigma <= 0:
        return x.astype(np.float64)
    kernel = _kernel(sigma)
    radius = len(kernel) // 2
    if wrap:
        padded = np.take(x, np.arange(-radius, len(x) + radius), mode="wrap")
    else:
        padded = np.pad(x.astype(np.float64), radius, mode="edge")
    return np.convolve(padded, kernel, mode="valid")


def _noise(rng: np.random.Generator, t: np.ndarray, sigma: float, period: float | None) -> np.ndarray:
    """Unit-variance smooth random signal at times `t`: white noise on a grid, Gaussian-smoothed over
    `sigma` seconds. Independent of the frame rate; periodic with `period` if one is given."""
    if period is not None:
        count = max(round(4 * period / sigma), 4)
        knots = np.arange(count) * (period / count)
        width = sigma * count / period
        smooth = _gauss_smooth(rng.standard_normal(count), width, wrap=True)
    else:
        step, width = sigma / 4, 4.0
        end = float(t[-1]) if len(t) else 0.0
        knots = np.arange(-1, int(end / step) + 2) * step
        radius = len(_kernel(width)) // 2
        smooth = _gauss_smooth(rng.standard_normal(len(knots) + 2 * radius), width)[radius:-radius]
    # Smoothing white noise shrinks its variance by the kernel's energy; undo that analytically, so the
    # scale does not depend on the track's length.
    smooth = smooth / np.sqrt(np.square(_kernel(width)).sum())
    values: np.ndarray = np.interp(t, knots, smooth, period=period)
    return values


def _speaking_from_words(words: Sequence[WordTiming], t: np.ndarray) -> np.ndarray:
    talk = np.zeros(len(t))
    spans = sorted((w.start, w.end) for w in words)
    merged: list[list[float]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] < PAUSE:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        talk[(t >= start) & (t < end)] = 1.0
    return talk


def _ramp(x: np.ndarray) -> np.ndarray:
    """Smoothstep from 0 (x ≤ 0) to 1 (x ≥ 1)."""
    x = np.clip(x, 0.0, 1.0)
    y: np.ndarray = x * x * (3.0 - 2.0 * x)
    return y


def _blinks(rng: np.random.Generator, t: np.ndarray, fps: float, period: float | None) -> np.ndarray:
    """Blink peaks at frame centres, so every blink shows one fully closed frame."""
    duration = len(t) / fps
    peaks: list[float] = []
    when = NO_BLINK_BEFORE + BLINK_CLOSE + rng.uniform(0.2, 3.0)
    # In a loop the gap from the last blink round to the first must be a plausible interval too.
    limit = duration if period is None else duration + when - 1.5
    while when < limit:
        peaks.append(when)
        if rng.random() < DOUBLE_BLINK:
            peaks.append(when + rng.uniform(0.25, 0.35))
        when = peaks[-1] + float(np.clip(rng.lognormal(np.log(BLINK_MEDIAN_GAP), 0.25), 1.8, 7.0))
    blink = np.zeros(len(t))
    if not len(t):
        return blink
    shifts = (0.0,) if period is None else (-period, 0.0, period)
    for peak in peaks:
        centre = (np.floor(peak * fps) + 0.5) / fps
        if period is None and centre - BLINK_HOLD / 2 - BLINK_CLOSE < NO_BLINK_BEFORE:
            continue
        for shift in shifts:
            dt = t - (centre + shift)
            closing = _ramp((dt + BLINK_HOLD / 2 + BLINK_CLOSE) / BLINK_CLOSE)
            opening = 1.0 - _ramp((dt - BLINK_HOLD / 2) / BLINK_OPEN)
            blink = np.maximum(blink, np.where(dt < 0, closing, opening))
    return blink


def _emphasis_scores(words: Sequence[WordTiming]) -> dict[int, float]:
    if not words:
        return {}
    durations = np.array([w.end - w.start for w in words])
    long_enough = max(float(np.quantile(durations, 0.8)), 0.2)
    scores: dict[int, float] = {}
    for i, word in enumerate(words):
        score = 0.0
        if i == 0 or word.start - words[i - 1].end >= PAUSE:
            score += 1.0
        if word.text.rstrip()[-1:] in _MARKS:
            score += 1.2
        if len(words) >= 3 and durations[i] >= long_enough:
            score += 0.8
        if score > 0:
            scores[i] = score
    return scores


def _brows(rng: np.random.Generator, words: Sequence[WordTiming], t: np.ndarray) -> np.ndarray:
    brow = np.zeros(len(t))
    scores = _emphasis_scores(words)
    for i in emphasis_words(words):
        word = words[i]
        amplitude = float(np.clip(rng.uniform(0.4, 0.75) + 0.15 * (scores[i] - 1.0), 0.4, 1.0))
        peak = word.start + min(BROW_ATTACK / 2, (word.end - word.start) / 2)
        hold_end = max(peak, min(word.end, word.start + 0.6))
        rise = _ramp((t - (peak - BROW_ATTACK)) / BROW_ATTACK)
        fall = 1.0 - _ramp((t - hold_end) / BROW_RELEASE)
        brow = np.maximum(brow, amplitude * np.minimum(rise, fall))
    return brow


def _head(
    rng: np.random.Generator, t: np.ndarray, level: np.ndarray, period: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pitch, yaw, roll: a few slow sines at unrelated frequencies plus smooth noise, scaled by `level`,
    plus quicker noise that grows with speech."""
    axes = []
    for limit in HEAD_LIMITS:
        sway = np.zeros(len(t))
        # One sine per band, so the frequencies stay apart; lower ones swing wider, as heads do.
        for low, high in ((0.05, 0.11), (0.11, 0.24), (0.24, 0.5)):
            freq = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            if period is not None:
                freq = round(freq * period) / period  # whole cycles per loop
            weight = rng.uniform(0.6, 1.0) * np.sqrt(0.1 / max(freq, 0.05)) if freq > 0 else 0.0
            sway += weight * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        sway = 0.5 * sway / 1.4 + 0.55 * _noise(rng, t, 1.0, period)
        lively = _noise(rng, t, 0.3, period)
        speech = np.clip((level - PAUSE_LEVEL) / (SPEAKING_LEVEL - PAUSE_LEVEL), 0.0, 1.0)
        axes.append(limit * (0.42 * level * sway + 0.12 * speech * lively))
    return axes[0], axes[1], axes[2]


def _nods(rng: np.random.Generator, words: Sequence[WordTiming], t: np.ndarray) -> np.ndarray:
    """Small downward nods (positive pitch) at some words that start a phrase."""
    nods = np.zeros(len(t))
    last = -np.inf
    for i, word in enumerate(words):
        after_pause = i == 0 or word.start - words[i - 1].end >= PAUSE
        if not after_pause or rng.random() > 0.6 or word.start - last < 2.0:
            continue
        last = word.start
        start, length = word.start - 0.05, rng.uniform(0.5, 0.7)
        x = np.clip((t - start) / length, 0.0, 1.0)
        nods += rng.uniform(0.8, 1.5) * 0.5 * (1.0 - np.cos(2 * np.pi * x))
    return nods


def _breath(rng: np.random.Generator, t: np.ndarray, fps: float, depth: np.ndarray, period: float | None) -> np.ndarray:
    """A slow sine whose rate and depth drift a little from breath to breath."""
    if not len(t):
        return np.zeros(0)
    base = BREATH_HZ if period is None else max(round(BREATH_HZ * period), 1) / period
    drift = 0.12 * _noise(rng, t, 2.0, period)
    if period is not None:
        drift -= drift.mean()  # whole breaths per loop
    phase = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(base * (1.0 + drift)) / fps
    amplitude = np.clip(0.85 + 0.1 * _noise(rng, t, 3.0, period), 0.6, 1.0)
    return depth * amplitude * np.sin(phase)
