"""End of turn: the words decide how long the silence must last."""

from __future__ import annotations

import numpy as np
import pytest

from talker.asr.endpoint import Endpointer, classify
from talker.asr.streaming import InlineDecoder, ListenEvent, StreamingTranscriber
from talker.config import EndpointSettings, Settings


@pytest.mark.parametrize(("text", "reason"), [
    ("请问你们几点开门？", "question"),
    ("你们几点开门。", "question"),
    ("这个卡能用吗", "question"),
    ("What time do you open?", "question"),
    ("我想办一张银行卡。", "complete"),
    ("I need to check my balance.", "complete"),
    ("我想问一下那个", "hesitant"),
    ("我想问一下那个。", "hesitant"),
    ("嗯……", "hesitant"),
    ("我要转账，然后", "hesitant"),
    ("I would like to open an account and...", "hesitant"),
    ("I would like to open an account and.", "hesitant"),
    ("I need to check my balance, um", "hesitant"),
    ("so I went to the", "hesitant"),
    ("我想办一张银行卡", "unknown"),
    ("", "unknown"),
])
def test_classify(text: str, reason: str) -> None:
    assert classify(text) == reason


def test_waits_follow_the_reason_and_are_bounded() -> None:
    endpointer = Endpointer(EndpointSettings(complete_wait=0.2, default_wait=0.6, hesitant_wait=3.0, max_wait=1.5))
    assert endpointer.decide("好的。").wait == 0.2
    assert endpointer.decide("好的").wait == 0.6
    assert endpointer.decide("好的，然后").wait == 1.5  # hesitant, but never longer than max_wait


def _turn_end(settings: Settings, vad_model: object, whisper: object, audio: np.ndarray) -> tuple[ListenEvent, float]:
    transcriber = StreamingTranscriber(vad_model.detector(settings.asr.vad),  # type: ignore[attr-defined]
                                       InlineDecoder(whisper), settings.asr)  # type: ignore[arg-type]
    events: list[ListenEvent] = []
    for offset in range(0, audio.size, 320):
        events += transcriber.feed(audio[offset:offset + 320])
    speech_end = next(e for e in events if e.kind == "speech_end")
    turn = [e for e in events if e.kind == "end_of_turn"]
    assert len(turn) == 1, events
    return turn[0], turn[0].time - speech_end.end


@pytest.mark.models
def test_a_trailing_filler_waits_longer_than_a_question(settings: Settings, synthesizer: object,
                                                        vad_model: object, whisper: object) -> None:
    import soxr

    waits = {}
    for text, voice in [("请问你们几点开门？", "zf_xiaoxiao"), ("我想问一下那个", "zm_yunxi"),
                        ("What time do you open?", "af_heart"), ("I would like to open an account and", "af_heart")]:
        chunk = next(iter(synthesizer.stream(text, voice=voice)))  # type: ignore[attr-defined]
        speech = soxr.resample(chunk.samples, chunk.sample_rate, 16000).astype(np.float32)
        silence = np.zeros(int(2.5 * 16000), dtype=np.float32)
        turn, waited = _turn_end(settings, vad_model, whisper, np.concatenate([silence[:8000], speech, silence]))
        waits[text] = (turn.reason, waited)
    endpoint = settings.asr.endpoint
    for question in ("请问你们几点开门？", "What time do you open?"):
        reason, waited = waits[question]
        assert reason == "question" and waited <= settings.asr.vad.hangover + 0.05, waits
    for hesitant in ("我想问一下那个", "I would like to open an account and"):
        reason, waited = waits[hesitant]
        assert reason == "hesitant" and endpoint.hesitant_wait - 0.05 <= waited <= endpoint.max_wait + 0.05, waits
