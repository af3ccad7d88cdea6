"""Plumbing of the sentence stream: laziness and flat memory, with a stub backend standing in for a voice."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import numpy as np

from talker.config import Settings
from talker.frames import PhonemeTiming, SpeechAudio
from talker.text.frontend import SpokenSentence
from talker.tts.base import Prosody, Voice
from talker.tts.synthesizer import Synthesizer


class StubBackend:
    """Plumbing stub: 0.1 s of silence per sentence with one phoneme span; not a voice."""

    name = "stub"

    def __init__(self) -> None:
        self.calls = 0

    def voices(self) -> list[Voice]:
        return [Voice("stub_zh", "stub", "zh", "female"), Voice("stub_en", "stub", "en-us", "male")]

    def synthesize(self, sentence: SpokenSentence, voice: Voice, prosody: Prosody) -> SpeechAudio:
        self.calls += 1
        return SpeechAudio(np.zeros(1600, np.float32), 16000, sentence.written,
                           (PhonemeTiming("a", 0.0, 0.1),), voice=voice.id)


def _synthesizer() -> tuple[Synthesizer, StubBackend]:
    stub = StubBackend()
    settings = Settings()
    settings = settings.model_copy(update={"tts": settings.tts.model_copy(update={"backend": "stub"})})
    return Synthesizer(settings, backends={"stub": stub}), stub


def test_plumbing_first_chunk_before_the_text_is_read() -> None:
    synthesizer, stub = _synthesizer()
    read = 0

    def pieces() -> Iterator[str]:
        nonlocal read
        for _ in range(100):
            read += 1
            yield "这是一句话。"

    chunks = synthesizer.stream(pieces())
    first = next(chunks)
    assert first.voice == "stub_zh" and first.index == 0
    assert read <= 2 and stub.calls == 1


def test_plumbing_twenty_thousand_characters_stream_with_flat_memory() -> None:
    synthesizer, _ = _synthesizer()
    sentence = "今天是2024年3月5日，我们讨论了第12.5%的增长。Then we moved on to the next item. "
    repeats = 20_000 // len(sentence) + 1

    def pieces() -> Iterator[str]:
        for _ in range(repeats):
            yield sentence

    tracemalloc.start()
    try:
        stream = synthesizer.stream(pieces())
        for _ in range(50):
            next(stream)
        _, early_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = 50 + sum(1 for _ in stream)
        _, late_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert repeats * len(sentence) >= 20_000 and count == 2 * repeats
    assert late_peak < early_peak * 1.5 + 256 * 1024, (early_peak, late_peak)
