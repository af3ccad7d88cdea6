"""End of turn: how long to wait, after speech stops, before the user is taken to have finished.

Silence alone is a poor judge: people pause mid-thought. The words so far say more. A question or a
complete sentence ends the turn soon; a trailing filler or conjunction (嗯, 那个, 然后, "and", "um")
means more is coming, so the wait is longer. Every wait is bounded by `max_wait`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from talker.config import EndpointSettings

Reason = Literal["complete", "question", "hesitant", "unknown"]

_SENTENCE_END = "。！？!?.…"
_QUESTION_END = ("？", "?")
_ZH_QUESTION_PARTICLES = ("吗", "呢", "吧", "嘛", "么")
# Whisper often ends a Chinese question with 。: its question words still say what it is.
_ZH_QUESTION_WORDS = ("什么", "怎么", "哪", "谁", "几", "多少", "是否", "能不能", "可不可以", "有没有", "是不是")
# Trailing words that promise more: fillers, conjunctions, prepositions, articles.
_ZH_HESITANT = ("嗯", "呃", "额", "那个", "这个", "就是", "然后", "还有", "因为", "所以", "但是", "可是",
                "而且", "或者", "和", "跟", "与", "的话", "比如", "如果", "我想", "我要")
_EN_HESITANT = frozenset({
    "and", "or", "but", "so", "because", "um", "uh", "er", "erm", "hmm", "like", "the", "a", "an", "to", "of",
    "with", "for", "if", "then", "that", "my", "your", "is", "was", "i", "we", "in", "on", "at", "about",
})
_TRAILING_MARKS = re.compile(r"[\s,，、;；:：\-—\"'“”‘’)]+$")
_ELLIPSIS = ("...", "…", "，", ",", "、")


@dataclass(frozen=True)
class EndpointDecision:
    """How many seconds of silence after the end of speech end the turn, and why."""

    wait: float
    reason: Reason


class Endpointer:
    """Turns the transcript so far into a silence budget."""

    def __init__(self, settings: EndpointSettings | None = None) -> None:
        self.settings = settings or EndpointSettings()

    def decide(self, text: str) -> EndpointDecision:
        reason = classify(text)
        wait = {
            "complete": self.settings.complete_wait,
            "question": self.settings.complete_wait,
            "hesitant": self.settings.hesitant_wait,
            "unknown": self.settings.default_wait,
        }[reason]
        return EndpointDecision(min(wait, self.settings.max_wait), reason)


def classify(text: str) -> Reason:
    """What the end of `text` says about whether the speaker has finished."""
    stripped = text.strip()
    if not stripped:
        return "unknown"
    if stripped.endswith(_ELLIPSIS):
        return "hesitant"
    core = _TRAILING_MARKS.sub("", stripped.rstrip(_SENTENCE_END))
    if _ends_hesitant(core):
        return "hesitant"
    if stripped.endswith(_QUESTION_END) or core.endswith(_ZH_QUESTION_PARTICLES):
        return "question"
    if any(word in core for word in _ZH_QUESTION_WORDS) and stripped.endswith(("。", ".")):
        return "question"
    if stripped.endswith(tuple(_SENTENCE_END)):
        return "complete"
    return "unknown"


def _ends_hesitant(core: str) -> bool:
    if core.endswith(_ZH_HESITANT):
        return True
    words = re.findall(r"[A-Za-z']+", core[-24:])
    return bool(words) and core.endswith(words[-1]) and words[-1].lower() in _EN_HESITANT
