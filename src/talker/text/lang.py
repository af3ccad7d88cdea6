"""Language of a text and its split into same-language runs (Chinese and English)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Language = Literal["zh", "en"]

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{HAN}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")
# A run is a stretch of Han characters or of Latin words (with the spaces, apostrophes and hyphens
# inside it); everything else (punctuation, spaces, digits the normaliser left) stays with its neighbour.
_RUN = re.compile(f"(?P<zh>[{HAN}]+)|(?P<en>(?:['’](?=[A-Za-z]))?[A-Za-z]+(?:[ '’\\-.]*[A-Za-z]+)*)")


@dataclass(frozen=True)
class Run:
    """A piece of text in one language."""

    lang: Language
    text: str


def has_han(text: str) -> bool:
    return _HAN_CHAR.search(text) is not None


def detect_language(text: str) -> Language:
    """Chinese unless English words clearly dominate: a brand name in Chinese text doesn't flip it.

    A Chinese character carries about as much as two thirds of an English word, hence the weight.
    """
    han = len(_HAN_CHAR.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han == 0:
        return "en"
    return "zh" if han >= 1.5 * latin else "en"


def split_runs(text: str, default: Language | None = None) -> list[Run]:
    """Split `text` into alternating Chinese and English runs; separators join the run before them."""
    if default is None:
        default = detect_language(text)
    runs: list[Run] = []
    position = 0
    for match in _RUN.finditer(text):
        lang: Language = "zh" if match.group("zh") else "en"
        gap = text[position:match.start()]
        if gap:
            _append(runs, runs[-1].lang if runs else lang, gap)
        _append(runs, lang, match.group())
        position = match.end()
    tail = text[position:]
    if tail:
        _append(runs, runs[-1].lang if runs else default, tail)
    return runs


def _append(runs: list[Run], lang: Language, text: str) -> None:
    if runs and runs[-1].lang == lang:
        runs[-1] = Run(lang, runs[-1].text + text)
    else:
        runs.append(Run(lang, text))
