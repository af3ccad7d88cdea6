"""Blinks, brows, head and breathing: determinism, plausible timing, bounds, smoothness, liveliness."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest

from talker.face.motion import (
    HEAD_LIMITS,
    MotionTrack,
    compose,
    emphasis_words,
    idle_track,
    mark_sentence_end,
    motion_track,
)
from talker.face.pose import CLOSED, FacePose, MouthShape
from talker.frames import WordTiming

ARRAYS = ("blink", "brow", "head_pitch", "head_yaw", "head_roll", "breath")
HEAD = (("head_pitch", HEAD_LIMITS[0]), ("head_yaw", HEAD_LIMITS[1]), ("head_roll", HEAD_LIMITS[2]))

# "Hello there! … Are you coming to the extraordinary party? … I hope so."
WORDS = (
    WordTiming("Hello", 0.10, 0.50),
    WordTiming("there!", 0.50, 0.90),
    WordTiming("Are", 1.40, 1.55),
    WordTiming("you", 1.55, 1.70),
    WordTiming("coming", 1.70, 2.10),
    WordTiming("to", 2.10, 2.20),
    WordTiming("the", 2.20, 2.30),
    WordTiming("extraordinary", 2.30, 3.00),
    WordTiming("party?", 3.00, 3.50),
    WordTiming("I", 4.20, 4.30),
    WordTiming("hope", 4.30, 4.60),
    WordTiming("so", 4.60, 4.90),
)


def speech(seconds: float, seed: int = 0) -> tuple[WordTiming, ...]:
    """Plausible word timings: words of 0.15–0.6 s, phrases of 3–8 words, pauses of 0.3–0.8 s."""
    rng = np.random.default_rng(seed)
    words: list[WordTiming] = []
    t, in_phrase = 0.5, 0
    while t < seconds - 1:
        duration = float(rng.uniform(0.15, 0.6))
        words.append(WordTiming(f"w{len(words)}", t, t + duration))
        t += duration
        in_phrase += 1
        if in_phrase >= rng.integers(3, 9):
            t += float(rng.uniform(0.3, 0.8))
            in_phrase = 0
    return tuple(words)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def peak_autocorrelation(x: np.ndarray, lags: range) -> float:
    x = x - x.mean()
    energy = float(np.dot(x, x))
    return max(float(np.dot(x[lag:], x[:-lag])) / energy for lag in lags)


def test_arrays_are_float32_and_frame_long() -> None:
    for track in (motion_track(250, 25, 1, WORDS), idle_track(250, 25, 1)):
        assert isinstance(track, MotionTrack) and len(track) == 250
        for name in ARRAYS:
            values = getattr(track, name)
            assert values.dtype == np.float32 and values.shape == (250,) and np.isfinite(values).all()
    assert len(motion_track(0, 25, 1)) == 0 and len(idle_track(0, 25, 1)) == 0


def test_same_seed_same_motion_and_different_seed_different() -> None:
    makers: tuple[Callable[[int], MotionTrack], ...] = (
        lambda seed: motion_track(750, 25, seed, WORDS),
        lambda seed: idle_track(750, 25, seed),
    )
    for make in makers:
        a, b, c = make(3), make(3), make(4)
        for name in ARRAYS:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert any(not np.array_equal(getattr(a, name), getattr(c, name)) for name in ARRAYS if name != "brow")


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
@pytest.mark.parametrize("seed", range(5))
def test_blinks_are_plausible(fps: float, seed: int) -> None:
    n = int(60 * fps)
    blink = motion_track(n, fps, seed, speech(60, seed)).blink
    events = runs(blink > 0.5)
    assert 8 <= len(events) <= 30
    for start, stop in events:
        assert blink[start:stop].max() >= 0.95  # every blink shows a closed frame
        assert (stop - start) / fps < 0.25
    times = (np.arange(n) + 0.5) / fps
    assert np.all(blink[times < 0.3] == 0)
    starts = np.array([start for start, _ in events]) / fps
    intervals = np.diff(starts)
    singles = intervals[intervals > 0.6]  # double blinks come 0.25–0.35 s apart
    assert len(intervals) - len(singles) <= 0.3 * len(events)
    assert np.mean((singles >= 2) & (singles <= 6)) >= 0.75


def test_blink_closes_fast_and_opens_slowly() -> None:
    fps = 200.0
    blink = idle_track(int(20 * fps), fps, 5).blink
    start, stop = runs(blink > 0.02)[0]
    peak = start + int(np.argmax(blink[start:stop]))
    assert (peak - start) < (stop - peak)


def test_emphasis_picks_phrase_starts_marked_and_long_words() -> None:
    chosen = [WORDS[i].text for i in emphasis_words(WORDS)]
    assert "there!" in chosen and "party?" in chosen
    starts = [WORDS[i].start for i in emphasis_words(WORDS)]
    assert all(b - a >= 1.5 for a, b in itertools.pairwise(starts))
    plain = tuple(WordTiming(w.text.rstrip("!?"), w.start, w.end) for w in WORDS)
    chosen = [plain[i].text for i in emphasis_words(plain)]
    assert chosen[0] == "Hello" and "extraordinary" in chosen
    assert emphasis_words(()) == []


@pytest.mark.parametrize("seed", range(4))
def test_brow_raises_peak_within_emphasised_words(seed: int) -> None:
    fps, words = 25.0, speech(30, seed)
    chosen = [words[i] for i in emphasis_words(words)]
    brow = motion_track(int(30 * fps), fps, seed, words).brow
    raises = runs(brow > 0.05)
    assert 1 <= len(raises) <= 30 / 1.5 + 1
    assert len(raises) < len(words) / 2  # not on every word
    for start, stop in raises:
        peak = (start + int(np.argmax(brow[start:stop])) + 0.5) / fps
        assert any(w.start <= peak <= w.end for w in chosen), peak
    for word in chosen:
        span = brow[int(word.start * fps) : int(word.end * fps) + 1]
        assert 0.4 * 0.9 <= span.max() <= 1.0


def test_brows_rest_without_words_and_in_the_idle_loop() -> None:
    assert not motion_track(500, 25, 1).brow.any()
    assert not idle_track(500, 25, 1).brow.any()


@pytest.mark.parametrize("seed", range(6))
def test_head_stays_in_bounds_and_moves_smoothly(seed: int) -> None:
    fps = 25.0
    n = int(60 * fps)
    for track in (
        motion_track(n, fps, seed, speech(60, seed)),
        motion_track(n, fps, seed, speaking=[True] * n),
        idle_track(n, fps, seed),
    ):
        for name, limit in HEAD:
            angle = getattr(track, name)
            assert np.abs(angle).max() <= limit
            assert np.abs(np.diff(angle)).max() < 0.5, name
            assert np.abs(angle).max() > 0.1 * limit  # it does move


@pytest.mark.parametrize("seed", range(6))
def test_head_sway_is_not_periodic(seed: int) -> None:
    fps = 25.0
    n = int(90 * fps)
    track = motion_track(n, fps, seed, speech(90, seed))
    lags = range(int(2 * fps), int(20 * fps))
    for name, _ in HEAD:
        assert peak_autocorrelation(getattr(track, name).astype(np.float64), lags) < 0.9, name


@pytest.mark.parametrize("seed", range(4))
def test_speaking_livens_the_head(seed: int) -> None:
    fps = 25.0
    n = int(30 * fps)
    talking = motion_track(n, fps, seed, speaking=[True] * n)
    idle = idle_track(n, fps, seed)
    for name, _ in HEAD:
        a, b = getattr(talking, name), getattr(idle, name)
        assert np.mean(np.abs(np.diff(a))) > 1.3 * np.mean(np.abs(np.diff(b))), name
        assert a.std() > b.std(), name


def test_speaking_mask_follows_words_by_default() -> None:
    fps = 25.0
    n = int(40 * fps)
    words = tuple(w for w in speech(40, 2) if w.end < 20)  # talk for ~20 s, then quiet
    track = motion_track(n, fps, 2, words)
    first, last = slice(int(2 * fps), int(18 * fps)), slice(int(22 * fps), n)
    motion = np.abs(np.diff(track.head_yaw)) + np.abs(np.diff(track.head_pitch))
    assert motion[first].mean() > motion[last].mean()


def test_speaking_mask_must_match_frames() -> None:
    with pytest.raises(ValueError):
        motion_track(10, 25, 0, speaking=[True] * 9)
    with pytest.raises(ValueError):
        motion_track(10, 0, 0)


def test_breathing_is_slow_and_bounded() -> None:
    fps = 25.0
    n = int(120 * fps)
    for track in (idle_track(n, fps, 9), motion_track(n, fps, 9)):
        breath = track.breath.astype(np.float64)
        assert np.abs(breath).max() <= 1 and breath.max() > 0.4
        spectrum = np.abs(np.fft.rfft(breath - breath.mean()))
        peak = np.fft.rfftfreq(n, 1 / fps)[int(np.argmax(spectrum))]
        assert 0.18 <= peak <= 0.32


@pytest.mark.parametrize("seconds", [8.0, 12.0, 30.0])
def test_idle_track_loops_seamlessly(seconds: float) -> None:
    fps = 25.0
    track = idle_track(int(seconds * fps), fps, 11)
    for name in ("head_pitch", "head_yaw", "head_roll", "breath"):
        values = getattr(track, name)
        steps = np.abs(np.diff(values))
        assert abs(float(values[0] - values[-1])) <= 1.5 * steps.max() + 1e-6, name
    # Played twice in a row, blinks across the seam keep plausible spacing.
    twice = np.concatenate([track.blink, track.blink])
    starts = np.array([start for start, _ in runs(twice > 0.5)]) / fps
    intervals = np.diff(starts)
    assert len(starts) >= 2 and np.all((intervals < 0.6) | (intervals > 1.1))


def test_compose_zips_mouth_and_motion() -> None:
    motion = motion_track(50, 25, 1, WORDS[:3])
    mouth = [MouthShape(jaw=i / 100) for i in range(50)]
    poses = compose(mouth, motion)
    assert len(poses) == 50 and all(isinstance(p, FacePose) for p in poses)
    assert poses[7].mouth == mouth[7]
    assert poses[7].head_yaw == pytest.approx(float(motion.head_yaw[7]))
    assert poses[7].blink == pytest.approx(float(motion.blink[7]))
    assert type(poses[7].breath) is float
    with pytest.raises(ValueError):
        compose([CLOSED] * 49, motion)


def test_mark_sentence_end() -> None:
    words = (WordTiming("你", 0.0, 0.2), WordTiming("好", 0.2, 0.4))
    assert mark_sentence_end(words, "你好！")[-1].text == "好！"
    assert mark_sentence_end(words, "你好？”")[-1].text == "好？"
    assert mark_sentence_end(words, "你好。") == words
    assert mark_sentence_end((), "Hi!") == ()
