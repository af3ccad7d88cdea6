"""The outgoing audio timeline on a scripted clock: turn ids, stale chunks, instant interruption, what was heard."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from talker.frames import WordTiming
from talker.realtime.playout import AudioFrame, Playout

RATE = 48000
FRAME = RATE // 50


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    return (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _play(playout: Playout, seconds: float) -> list[AudioFrame]:
    return [playout.next_frame() for _ in range(round(seconds * 50))]


def test_frames_are_20_ms_with_steady_timestamps_and_silence_between_turns_plumbing() -> None:
    playout = Playout(RATE)
    silent = _play(playout, 0.1)
    turn = playout.start_turn()
    assert playout.enqueue(turn, _tone(0.1), RATE, "嗯。")
    playout.finish_turn(turn)
    frames = silent + _play(playout, 0.3)
    assert all(f.samples.size == FRAME for f in frames)
    assert [round(f.pts, 3) for f in frames] == [round(i * 0.02, 3) for i in range(len(frames))]
    assert [f.speech for f in frames] == [False] * 5 + [True] * 5 + [False] * 10
    assert {f.turn for f in frames if f.speech} == {turn}


def test_chunks_of_an_old_turn_are_dropped_plumbing() -> None:
    playout = Playout(RATE)
    old = playout.start_turn()
    new = playout.start_turn()
    assert not playout.enqueue(old, _tone(0.2), RATE, "old")
    assert playout.enqueue(new, _tone(0.2), RATE, "new")
    assert {f.turn for f in _play(playout, 0.2)} == {new}


def test_interruption_stops_the_audio_at_the_next_frame_plumbing() -> None:
    playout = Playout(RATE)
    turn = playout.start_turn()
    playout.enqueue(turn, _tone(2.0), RATE, "a long answer")
    _play(playout, 0.5)
    cut, _ = playout.interrupt()
    assert cut == turn and not playout.speaking
    after = playout.next_frame()
    assert not after.speech and not np.any(after.samples)
    assert not playout.enqueue(turn, _tone(0.5), RATE, "late chunk of the cut turn")
    assert not any(f.speech for f in _play(playout, 0.5))


def test_heard_text_ends_at_the_last_word_that_finished_playing_plumbing() -> None:
    playout = Playout(RATE)
    turn = playout.start_turn()
    first, second = "你好。", "今天天气很好。"
    playout.enqueue(turn, _tone(0.6), RATE, first, (WordTiming("你好", 0.05, 0.5),))
    words = (WordTiming("今天", 0.0, 0.4), WordTiming("天气", 0.4, 0.8), WordTiming("很", 0.8, 1.0),
             WordTiming("好", 1.0, 1.3))
    playout.enqueue(turn, _tone(1.4), RATE, second, words)
    _play(playout, 0.4)
    assert playout.heard() == 0  # "你好" still playing
    _play(playout, 0.2)
    assert playout.heard() == len(first)
    _play(playout, 0.9)  # 1.5 s in: 0.9 s into the second chunk, "今天天气" done, "很" cut
    _, heard = playout.interrupt()
    assert (first + second)[:heard] == "你好。今天天气"


@pytest.mark.models
def test_heard_text_with_real_speech(synthesizer: object) -> None:
    chunk = next(iter(synthesizer.stream("我们明天早上九点在公司门口集合。", voice="zf_xiaoxiao")))
    playout = Playout(RATE)
    turn = playout.start_turn()
    playout.enqueue(turn, chunk.samples, chunk.sample_rate, chunk.text, chunk.words)
    halfway = chunk.words[len(chunk.words) // 2]
    _play(playout, halfway.end + 0.03)
    _, heard = playout.interrupt()
    said = chunk.text[:heard]
    assert said.endswith(halfway.text) and len(said) < len(chunk.text)


def test_producer_and_consumer_threads_lose_nothing_plumbing() -> None:
    playout = Playout(RATE)
    turn = playout.start_turn()
    pieces = [_tone(0.05 + 0.01 * i) for i in range(20)]

    def produce() -> None:
        for piece in pieces:
            playout.enqueue(turn, piece, RATE, "x")
        playout.finish_turn(turn)

    producer = threading.Thread(target=produce)
    producer.start()
    received = 0
    while producer.is_alive() or playout.speaking:
        frame = playout.next_frame()
        received += frame.samples.size if frame.speech else 0
    producer.join()
    total = sum(p.size for p in pieces)
    assert total <= received < total + FRAME
