"""The animator on the playout's clock: real speech, the real renderer, judged by the face landmarker.

Video runs at 25 fps and the transport pulls two 20 ms audio frames per video frame, as a session does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

from talker.face.portrait import FaceAnalyzer, Portrait
from talker.face.pose import FacePose
from talker.frames import PhonemeTiming, WordTiming
from talker.realtime.animator import Animator
from talker.realtime.playout import Playout
from tests.face.conftest import eye_openness, mouth_gap

FPS = 25
RATE = 48000
SENTENCE = "大家好，今天我们来聊一聊人工智能。"
IDLE_LOOP = 6.0  # s: short, so ten seconds of listening cross the loop's seam
CLOSED_GAP = 0.07  # the rendered mouth at rest measures ~0.04 (inner lip gap over mouth width)
STEP_LIMIT = 2.0  # mean |Δpixel| between consecutive frames; the mouth opening fully in one frame is ~2.2
CLOSING_LIMIT = 2.5  # a wide-open mouth closing over two frames (a 1° head roll in one frame measures ~2.9)
IDLE_STEP_LIMIT = 0.8  # the same while listening; idle frames half a second apart differ by ~0.9


@dataclass
class Shot:
    """One video frame and what was going on when it was drawn."""

    image: np.ndarray
    pose: FacePose
    position: tuple[int, float] | None
    audio: np.ndarray  # the 40 ms of audio handed out with it


def _pull(playout: Playout, animator: Animator, frames: int) -> list[Shot]:
    shots = []
    for _ in range(frames):
        audio = np.concatenate([playout.next_frame().samples, playout.next_frame().samples])
        image = animator.frame(playout)
        assert animator.pose is not None
        shots.append(Shot(image, animator.pose, playout.position(), audio))
    return shots


def _step(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _gap(analyzer: FaceAnalyzer, image: np.ndarray) -> float:
    found = analyzer.measure(np.ascontiguousarray(image))
    assert found is not None, "the landmarker lost the face in a video frame"
    return mouth_gap(found[0])


@pytest.fixture(scope="module")
def speech(synthesizer):  # type: ignore[no-untyped-def]
    return next(iter(synthesizer.stream(SENTENCE, voice="zf_xiaoxiao")))


@pytest.fixture(scope="module")
def conversation(portrait: Portrait, speech) -> tuple[Animator, list[Shot], int, int]:  # type: ignore[no-untyped-def]
    """A second of listening, the sentence, a second and a half of listening: (animator, shots, first, last)
    where first/last are the indices of the first and last frame carrying speech."""
    animator = Animator(portrait, fps=FPS, seed=3)
    playout = Playout(RATE)
    shots = _pull(playout, animator, FPS)
    turn = playout.start_turn()
    assert playout.enqueue(turn, speech.samples, speech.sample_rate, speech.text, tuple(speech.words),
                           phonemes=tuple(speech.phonemes))
    playout.finish_turn(turn)
    shots += _pull(playout, animator, round(speech.samples.size / speech.sample_rate * FPS) + 1)
    shots += _pull(playout, animator, round(1.5 * FPS))
    spoken = [i for i, shot in enumerate(shots) if shot.position is not None]
    return animator, shots, spoken[0], spoken[-1]


# ---------------------------------------------------------------------------------------------- the playout side

def test_phonemes_and_words_are_placed_on_the_turn_timeline_plumbing() -> None:
    playout = Playout(RATE)
    turn = playout.start_turn()
    tone = np.full(int(0.5 * RATE), 0.1, dtype=np.float32)
    playout.enqueue(turn, tone, RATE, "a", (WordTiming("a", 0.1, 0.4),), phonemes=(PhonemeTiming("a", 0.1, 0.4),))
    playout.enqueue(turn, tone, RATE, "b", (WordTiming("b", 0.0, 0.3),), pause_after=0.2,
                    phonemes=(PhonemeTiming("b", 0.0, 0.1), PhonemeTiming("i", 0.1, 0.3)))
    playout.enqueue(turn, tone, RATE, "c", phonemes=(PhonemeTiming("k", 0.05, 0.1),))
    assert [(p.phoneme, round(p.start, 3), round(p.end, 3)) for p in playout.phonemes(turn)] == [
        ("a", 0.1, 0.4), ("b", 0.5, 0.6), ("i", 0.6, 0.8), ("k", 1.25, 1.3)]
    assert [(w.text, round(w.start, 3)) for w in playout.words(turn)] == [("a", 0.1), ("b", 0.5)]
    assert playout.phonemes(turn) is playout.phonemes(turn)  # unchanged until the next chunk: cheap to poll
    assert playout.phonemes(turn + 1) == () and playout.words(0) == ()


def test_position_follows_the_frames_handed_out_plumbing() -> None:
    playout = Playout(RATE)
    assert playout.position() is None and playout.elapsed == 0.0
    playout.next_frame()
    assert playout.position() is None
    turn = playout.start_turn()
    playout.enqueue(turn, np.ones(int(0.1 * RATE), dtype=np.float32), RATE, "x",
                    phonemes=(PhonemeTiming("a", 0.0, 0.1),))
    for expected in (0.02, 0.04, 0.06):
        playout.next_frame()
        position = playout.position()
        assert position is not None and position[0] == turn and position[1] == pytest.approx(expected)
    assert playout.elapsed == pytest.approx(0.08)
    cut, _ = playout.interrupt()
    position = playout.position()
    assert position is not None and position[0] == cut  # the frame already handed out still plays
    assert len(playout.phonemes(cut)) == 1  # and the cut turn can still be drawn
    playout.next_frame()
    assert playout.position() is None


# ---------------------------------------------------------------------------------------------- the face

@pytest.mark.models
def test_frames_are_rgb_of_the_portrait_size_and_the_first_goes_out_at_once(portrait: Portrait) -> None:
    animator = Animator(portrait, fps=FPS)
    first = animator.first_frame()
    width, height = portrait.size
    assert first.shape == (height, width, 3) and first.dtype == np.uint8
    playout = Playout(RATE)
    playout.next_frame()
    playout.next_frame()
    assert animator.frame(playout) is first  # the same resting pose: the frame is reused, not drawn again
    assert not first.flags.writeable


@pytest.mark.models
def test_a_frame_drawn_a_frame_ahead_is_the_frame_for_then(portrait: Portrait, speech) -> None:  # type: ignore[no-untyped-def]
    """The video track draws each frame during the frame before: with `lead`, the pose is the one the face will
    have when the audio has moved on by that much, mid-speech and while listening."""
    ahead, on_time = Animator(portrait, fps=FPS, seed=5), Animator(portrait, fps=FPS, seed=5)
    playout = Playout(RATE)
    turn = playout.start_turn()
    assert playout.enqueue(turn, speech.samples, speech.sample_rate, speech.text, tuple(speech.words),
                           phonemes=tuple(speech.phonemes))
    playout.finish_turn(turn)
    poses = []
    for _ in range(round(speech.samples.size / speech.sample_rate * FPS) + FPS):
        ahead.frame(playout, lead=1 / FPS)
        poses.append(ahead.pose)
        playout.next_frame()
        playout.next_frame()
        on_time.frame(playout)
        poses.append(on_time.pose)
    pairs = list(zip(poses[0::2], poses[1::2], strict=True))
    speaking = [pair for pair in pairs if pair[1] is not None and pair[1].mouth.open > 0.05]
    assert len(speaking) > 10
    assert sum(a == b for a, b in pairs) >= 0.9 * len(pairs), "the frame drawn ahead differs from the one on time"


@pytest.mark.models
def test_the_mouth_speaks_with_the_audio_and_rests_in_silence(
        conversation: tuple[Animator, list[Shot], int, int], analyzer: FaceAnalyzer) -> None:
    _, shots, first, last = conversation
    assert all(s.image.shape == shots[0].image.shape and s.image.dtype == np.uint8 for s in shots)
    gaps = np.array([_gap(analyzer, shot.image) for shot in shots])
    before, during, after = gaps[:first], gaps[first:last + 1], gaps[last + 1:]
    assert np.median(before) < CLOSED_GAP and before.max() < CLOSED_GAP + 0.02
    assert np.median(after) < CLOSED_GAP and after.max() < CLOSED_GAP + 0.02
    assert np.percentile(during, 90) > 0.15 and during.max() > 0.22
    # In step with the sound: the opening follows the loudness of the audio sent with each frame, best at lag 0±1.
    level = np.array([20 * np.log10(np.sqrt(np.mean(np.square(s.audio, dtype=np.float64))) + 1e-3) for s in shots])
    window = slice(first - 3, last + 4)
    opening, loudness = gaps[window], level[window]

    def correlation(lag: int) -> float:
        if lag >= 0:
            return float(np.corrcoef(opening[:len(opening) - lag], loudness[lag:])[0, 1])
        return float(np.corrcoef(opening[-lag:], loudness[:len(loudness) + lag])[0, 1])

    scores = {lag: correlation(lag) for lag in range(-4, 5)}
    best = max(scores, key=lambda lag: scores[lag])
    assert abs(best) <= 1 and scores[best] > 0.35, scores


@pytest.mark.models
def test_no_jumps_when_a_turn_starts_and_ends(conversation: tuple[Animator, list[Shot], int, int]) -> None:
    _, shots, first, _ = conversation
    steps = [_step(a.image, b.image) for a, b in itertools.pairwise(shots)]
    assert max(steps) < STEP_LIMIT, f"largest step {max(steps):.2f} at frame {int(np.argmax(steps)) + 1}"
    # The head and breath carry on smoothly through the turn's start and end (they run on the output clock);
    # poses are rounded to steps of ~0.2 px, so a frame moves at most a step or two (under half a pixel).
    for a, b in itertools.pairwise(shots):
        assert abs(a.pose.head_pitch - b.pose.head_pitch) < 0.3 and abs(a.pose.head_yaw - b.pose.head_yaw) < 0.3
        assert abs(a.pose.head_roll - b.pose.head_roll) < 0.1 and abs(a.pose.breath - b.pose.breath) < 0.4
    assert shots[first].pose.mouth.open < 0.4  # speech opens the mouth from rest, not at full width


@pytest.mark.models
def test_an_interrupted_turn_closes_the_mouth_at_once(portrait: Portrait, analyzer: FaceAnalyzer, speech) -> None:  # type: ignore[no-untyped-def]
    animator = Animator(portrait, fps=FPS, seed=5)
    playout = Playout(RATE)
    _pull(playout, animator, 5)
    turn = playout.start_turn()
    playout.enqueue(turn, speech.samples, speech.sample_rate, speech.text, tuple(speech.words),
                    phonemes=tuple(speech.phonemes))
    shots = _pull(playout, animator, 10)  # ~0.1 s in, the wide "a" of 大: cut at the most open frame after that
    while shots[-1].pose.mouth.open < 0.5 or shots[-1].pose.mouth.open < shots[-2].pose.mouth.open:
        shots += _pull(playout, animator, 1)
        assert len(shots) < 60, "the sentence never opened the mouth wide"
    open_gap = _gap(analyzer, shots[-1].image)
    playout.interrupt()
    after = _pull(playout, animator, 12)
    gaps = [_gap(analyzer, shot.image) for shot in after[:4]]
    assert open_gap > 0.2
    assert gaps[0] < open_gap and gaps[1] < CLOSED_GAP and max(gaps[1:]) < CLOSED_GAP, (open_gap, gaps)
    assert all(shot.pose.mouth.open < 0.01 for shot in after[2:])  # no word of the cut turn is mouthed later
    steps = [_step(a.image, b.image) for a, b in itertools.pairwise([shots[-1], *after])]
    assert max(steps) < CLOSING_LIMIT


@pytest.mark.models
def test_listening_keeps_moving_blinks_and_never_jumps(portrait: Portrait, analyzer: FaceAnalyzer) -> None:
    animator = Animator(portrait, fps=FPS, seed=11, idle_seconds=IDLE_LOOP)
    playout = Playout(RATE)
    shots = _pull(playout, animator, 10 * FPS)
    images = [shot.image for shot in shots]
    steps = [_step(a, b) for a, b in itertools.pairwise(images)]
    seam = round(IDLE_LOOP * FPS)  # the frame where the loop starts over
    assert max(steps) < IDLE_STEP_LIMIT, f"largest step {max(steps):.2f} at frame {int(np.argmax(steps)) + 1}"
    assert steps[seam - 1] < IDLE_STEP_LIMIT and shots[seam].pose.blink < 0.5
    # Movement goes on: never more than a second of identical frames (identical poses reuse the frame).
    longest = run = 0
    for a, b in itertools.pairwise(images):
        run = run + 1 if a is b or np.array_equal(a, b) else 0
        longest = max(longest, run)
    assert longest < FPS, f"{longest + 1} identical frames in a row"
    assert animator.reused > 0  # the still moments cost no rendering
    # At least one blink, seen by the landmarker: the eyes close to well under their usual opening.
    openness = np.array([_eye(analyzer, image) for image in images[::2]] + [_eye(analyzer, image) for image in
                        [s.image for s in shots if s.pose.blink > 0.9]])
    assert openness.min() < 0.5 * np.median(openness)


def _eye(analyzer: FaceAnalyzer, image: np.ndarray) -> float:
    found = analyzer.measure(np.ascontiguousarray(image))
    assert found is not None
    return eye_openness(found[0])
