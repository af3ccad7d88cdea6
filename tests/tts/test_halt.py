"""Stopping speech synthesis mid-sentence: an ONNX run under a `Halt` ends when the halt is stopped."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from talker.onnx import Halt, HaltedError, halting

SENTENCE = "Well, I can help with that: the branch opens at nine in the morning and closes at five every weekday."


def test_a_synthesis_stopped_mid_run_ends_with_halted_and_the_next_one_is_whole(synthesizer: Any) -> None:
    halt = Halt()
    outcome: list[object] = []

    def synthesise() -> None:
        try:
            with halting(halt):
                outcome.append(list(synthesizer.stream(SENTENCE, voice="af_heart")))
        except HaltedError as error:
            outcome.append(error)

    worker = threading.Thread(target=synthesise)
    worker.start()
    while not halt.running and worker.is_alive():  # wait for the model run to begin, then stop it
        threading.Event().wait(0.001)
    halt.stop()
    worker.join()
    assert len(outcome) == 1 and isinstance(outcome[0], HaltedError), "the run went on to the end"
    assert halt.running == 0

    chunks = list(synthesizer.stream("Hello there.", voice="af_heart"))  # no halt on this thread any more
    assert chunks and np.sqrt(np.mean(np.square(chunks[0].samples))) > 0.01


def test_runs_under_a_stopped_halt_do_not_start(synthesizer: Any) -> None:
    halt = Halt()
    halt.stop()
    with halting(halt), pytest.raises(HaltedError):
        list(synthesizer.stream("你好。", voice="zf_xiaobei"))
