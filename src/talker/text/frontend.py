"""From a written sentence to what a voice must say: normalised, split by language, Chinese read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from talker.text.g2p_zh import ZhG2P
from talker.text.lang import Language, detect_language, split_runs
from talker.text.normalize import normalize

TokenKind = Literal["zh", "en", "punct"]

# Chinese and typographic marks, as the few ASCII marks both voices pause on.
_PUNCTUATION = {
    "，": ",", "、": ",", ",": ",", "。": ".", "．": ".", ".": ".", "！": "!", "!": "!", "？": "?",
    "?": "?", "：": ":", ":": ":", "；": ";", ";": ";", "…": "…", "—": "—", "－": "—",
}
_PUNCT_RUN = re.compile(r"……|\.\.\.|[，、,。．.！!？?：:；;…—－]")
_SPEAKABLE = re.compile(r"[A-Za-z\u3400-\u9fff]")


@dataclass(frozen=True)
class Token:
    """A unit a voice says: a Chinese word with its pinyin, a run of English, or a pause mark."""

    text: str
    kind: TokenKind
    pinyin: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpokenSentence:
    """A sentence as written, as it is to be read aloud, and its tokens."""

    written: str
    spoken: str
    lang: Language
    tokens: tuple[Token, ...]

    @property
    def speakable(self) -> bool:
        return any(token.kind != "punct" for token in self.tokens)


class TextFrontend:
    """Normalisation, language runs and Chinese G2P for one sentence at a time. Thread-safe."""

    def __init__(self, g2p: ZhG2P | None = None) -> None:
        self._g2p = g2p or ZhG2P()

    def prepare(self, sentence: str) -> SpokenSentence:
        lang = detect_language(sentence)
        spoken = normalize(sentence, lang)
        tokens: list[Token] = []
        for run in split_runs(spoken, lang):
            if run.lang == "en":
                head, tail = _split_trailing_punctuation(run.text)
                if _SPEAKABLE.search(head):
                    tokens.append(Token(head.strip(), "en"))
                tokens.extend(_punctuation_tokens(tail))
                continue
            for word in self._g2p.words(run.text):
                if word.is_han:
                    tokens.append(Token(word.text, "zh", word.pinyin))
                else:
                    tokens.extend(_punctuation_tokens(word.text))
        return SpokenSentence(sentence, spoken, lang, tuple(_drop_leading_pauses(tokens)))


def _split_trailing_punctuation(text: str) -> tuple[str, str]:
    match = re.search(r"[^A-Za-z']*$", text)
    cut = match.start() if match else len(text)
    return text[:cut], text[cut:]


def _punctuation_tokens(text: str) -> list[Token]:
    tokens = []
    for match in _PUNCT_RUN.finditer(text):
        mark = match.group()
        ascii_mark = "…" if mark in ("……", "...") else _PUNCTUATION[mark]
        tokens.append(Token(ascii_mark, "punct"))
    return tokens


def _drop_leading_pauses(tokens: list[Token]) -> list[Token]:
    start = 0
    while start < len(tokens) and tokens[start].kind == "punct":
        start += 1
    return tokens[start:]
