"""Barge-in on a live session's clock: what was played is the echo reference for what the microphone hears."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from talker.config import Settings
from talker.realtime.playout import Playout
from talker.realtime.watch import BargeInWatch

pytestmark = pytest.mark.models


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _speech(synthesizer: object, text: str, voice: str) -> tuple[np.ndarray, int]:
    chunk = next(iter(synthesizer.stream(text, voice=voice)))  # type: ignore[attr-defined]
    return chunk.samples, chunk.sample_rate


def _run(settings: Settings, synthesizer: object, user_speaks: bool) -> tuple[list[str], BargeInWatch]:
    """The watch's verdicts, one per 20 ms tick, until it calls a barge-in (or the answer ends); and the watch."""
    from talker.asr.vad import create

    clock = Clock()
    playout = Playout(48000)
    watch = BargeInWatch(create(settings).detector().probability, playout, clock)
    turn = playout.start_turn()
    avatar, rate = _speech(synthesizer, "我们明天早上九点在公司门口集合，然后一起坐车去机场。", "zf_xiaoxiao")
    playout.enqueue(turn, avatar, rate)
    played = soxr.resample(avatar, rate, 16000).astype(np.float32)
    user = np.zeros_like(played)
    if user_speaks:
        voice, voice_rate = _speech(synthesizer, "等一下，我想问别的问题。", "am_adam")
        spoken = soxr.resample(voice, voice_rate, 16000).astype(np.float32)
        user[16000:16000 + spoken.size] = spoken[: user.size - 16000]
    delay = 3200  # the loop delay: 200 ms at 16 kHz
    echo = 0.3 * np.concatenate([np.zeros(delay, dtype=np.float32), played])[: played.size]
    mic = echo + user + np.random.default_rng(0).normal(0, 0.003, played.size).astype(np.float32)
    verdicts = []
    for step in range(played.size // 320):  # 20 ms ticks: a frame out, a piece of microphone in
        clock.now += 0.02
        watch.played(playout.next_frame())
        verdicts.append(watch(mic[step * 320:(step + 1) * 320], 0.0))
        if verdicts[-1] == "barge-in":
            break
    return verdicts, watch


def test_the_avatars_own_echo_neither_interrupts_nor_pauses(settings: Settings, synthesizer: object) -> None:
    verdicts, _ = _run(settings, synthesizer, user_speaks=False)
    assert set(verdicts) == {"clear"}


def test_the_user_talking_over_the_echo_pauses_the_avatar_then_interrupts(settings: Settings,
                                                                          synthesizer: object) -> None:
    verdicts, _ = _run(settings, synthesizer, user_speaks=True)
    assert verdicts[-1] == "barge-in"
    first_candidate = verdicts.index("candidate")
    assert first_candidate >= 50, "paused before the user spoke (at 1 s)"
    # The pause comes well before the barge-in is certain (0.2 s of speech): that is what stops the avatar fast.
    assert len(verdicts) - 1 - first_candidate >= 5


def test_a_reset_watch_forgets_the_barge_in_it_heard(settings: Settings, synthesizer: object) -> None:
    """Armed afresh in the same turn (a prepared answer begins to be watched), an earlier barge-in no longer counts."""
    verdicts, watch = _run(settings, synthesizer, user_speaks=True)
    assert verdicts[-1] == "barge-in"
    assert watch(np.zeros(320, dtype=np.float32), 0.0) == "barge-in", "a barge-in holds for the rest of its turn"
    watch.reset()
    assert watch(np.zeros(320, dtype=np.float32), 0.0) == "clear"
