"""Error rates of recognised speech, compared in spoken (normalised) form."""

from __future__ import annotations

import re

from talker.text.normalize import normalize

# Chinese sentences full of numbers, dates, units and polyphones: what our TTS must say right.
CHINESE_SENTENCES = [
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
CHINESE_VOICES = ("zf_xiaoxiao", "zm_yunxi")


def edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


_PHONE_DIGITS = dict(zip("0123456789", "零幺二三四五六七八九", strict=True))


def zh_units(text: str) -> list[str]:
    # A long digit run is a number read digit by digit (a phone number), even when the recogniser
    # dropped a digit and the run no longer looks like one to the normaliser.
    text = re.sub(r"\d{7,}", lambda m: "".join(_PHONE_DIGITS[d] for d in m.group()), text)
    return re.findall(r"[\u4e00-\u9fff]", normalize(text, "zh"))


def en_units(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", normalize(text, "en").lower().replace("-", " "))


def error_rate(pairs: list[tuple[str, str]], language: str) -> float:
    """Character (zh) or word (en) error rate of (reference, hypothesis) pairs, over all units."""
    units = zh_units if language == "zh" else en_units
    errors = sum(edit_distance(units(reference), units(heard)) for reference, heard in pairs)
    return errors / max(sum(len(units(reference)) for reference, _ in pairs), 1)
