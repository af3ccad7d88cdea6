"""Intelligibility: what Kokoro says, Whisper base hears, compared in spoken (normalised) form."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soxr

from talker.text.normalize import normalize
from talker.tts.synthesizer import Synthesizer

CHINESE = [
    "今天是2024年3月5日，星期二。",
    "这件衣服打完折以后是199元。",
    "我昨天去银行还了2000块钱。",
    "重庆的火锅非常有名，也很重要。",
    "孩子们都长大了，个子很高。",
    "会议在下午3:30开始，请准时参加。",
    "他的电话号码是13812345678。",
    "今年的销售额增长了12.5%。",
    "这条路的长度大约是5公里。",
    "我喜欢听音乐，这让我很快乐。",
    "你还是先休息一下吧，明天再说。",
    "室外温度是-5℃，记得多穿衣服。",
]
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


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


_PHONE_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))


def _zh_units(text: str) -> list[str]:
    # A long digit run is a number read digit by digit (a phone number), even when the recogniser
    # dropped a digit and the run no longer looks like one to the normaliser.
    text = re.sub(r"\d{7,}", lambda m: "".join(_PHONE_DIGITS[d] for d in m.group()), text)
    return re.findall(r"[\u4e00-\u9fff]", normalize(text, "zh"))


def _en_units(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", normalize(text, "en").lower().replace("-", " "))


def _error_rate(synthesizer: Synthesizer, whisper: object, sentences: list[str], language: str,
                voices: list[str]) -> tuple[float, list[tuple[str, str]]]:
    errors = total = 0
    report = []
    units = _zh_units if language == "zh" else _en_units
    for index, sentence in enumerate(sentences):
        chunks = list(synthesizer.stream(sentence, voice=voices[index % len(voices)]))
        audio = np.concatenate([c.samples for c in chunks])
        heard = whisper.transcribe(soxr.resample(audio, 24000, 16000), language=language)  # type: ignore[attr-defined]
        reference, hypothesis = units(sentence), units(heard.text)
        errors += _edit_distance(reference, hypothesis)
        total += len(reference)
        report.append((sentence, heard.text))
    return errors / total, report


@pytest.mark.models
def test_chinese_character_error_rate(synthesizer: Synthesizer, whisper: object) -> None:
    cer, report = _error_rate(synthesizer, whisper, CHINESE, "zh", ["zf_xiaoxiao", "zm_yunxi"])
    assert cer <= 0.08, f"CER {cer:.1%}: {report}"


@pytest.mark.models
def test_english_word_error_rate(synthesizer: Synthesizer, whisper: object) -> None:
    wer, report = _error_rate(synthesizer, whisper, ENGLISH, "en", ["af_heart", "am_michael"])
    assert wer <= 0.08, f"WER {wer:.1%}: {report}"
