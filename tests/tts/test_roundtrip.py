"""Intelligibility: what Kokoro says, Whisper base hears, compared in spoken (normalised) form."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from talker.tts.synthesizer import Synthesizer
from tests.speech_metrics import edit_distance, en_units, error_rate, zh_units

ENGLISH = [
    "The meeting starts at 3:30 pm on March 5, 2024.",
    "The jacket costs $49.99 after a 20% discount.",
    "Please call 555-1234 before ten in the morning.",
    "Doctor Smith lives on the 21st floor of that building.",
    "We drove 120 km in 2 hours without a break.",
    "About 3/4 of the students passed the final exam.",
    "The temperature dropped to -5 degrees last night.",
    "She was born in 1998 and moved to London later.",
    "The new laptop has 16GB of memory and a fast screen.",
    "Our team won the championship for the second time.",
    "I will read the book again tomorrow morning.",
]


def _error_rate(synthesizer: Synthesizer, whisper: object, sentences: list[str], language: str,
                voices: list[str]) -> tuple[float, list[tuple[str, str]]]:
    errors = total = 0
    report = []
    units = zh_units if language == "zh" else en_units
    for index, sentence in enumerate(sentences):
        chunks = list(synthesizer.stream(sentence, voice=voices[index % len(voices)]))
        audio = np.concatenate([c.samples for c in chunks])
        heard = whisper.transcribe(soxr.resample(audio, 24000, 16000), language=language)  # type: ignore[attr-defined]
        reference, hypothesis = units(sentence), units(heard.text)
        errors += edit_distance(reference, hypothesis)
        total += len(reference)
        report.append((sentence, heard.text))
    return errors / total, report


@pytest.mark.models
def test_chinese_character_error_rate(chinese_speech: list[tuple[str, np.ndarray]], whisper: object) -> None:
    report = [(sentence, whisper.transcribe(audio, language="zh").text)  # type: ignore[attr-defined]
              for sentence, audio in chinese_speech]
    cer = error_rate(report, "zh")
    assert cer <= 0.08, f"CER {cer:.1%}: {report}"


@pytest.mark.models
def test_english_word_error_rate(synthesizer: Synthesizer, whisper: object) -> None:
    wer, report = _error_rate(synthesizer, whisper, ENGLISH, "en", ["af_heart", "am_michael"])
    assert wer <= 0.08, f"WER {wer:.1%}: {report}"
