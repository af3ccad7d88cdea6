"""Chinese grapheme-to-phoneme: words (jieba), pinyin with polyphones resolved, and IPA for Kokoro."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from talker.text.lang import HAN
from talker.text.polyphones import WORD_READINGS, resolve

_HAN_ONLY = re.compile(f"^[{HAN}]+$")
# misaki's IPA writes tones as Chao numerals; Kokoro v1.0 was trained on them as arrows.
_TONE_ARROWS = (("˧˩˧", "↓"), ("˧˥", "↗"), ("˥˩", "↘"), ("˥", "→"))
_SYLLABIC_MARK = chr(809)  # combining vertical line below (ɹ̩, ɻ̩): Kokoro writes these apical vowels as ɨ
_NONSYLLABIC_MARK = chr(815)


@dataclass(frozen=True)
class ZhWord:
    """A segmented word: its characters and, for Chinese words, one pinyin (TONE3, 5 = neutral) each."""

    text: str
    pinyin: tuple[str, ...] = ()

    @property
    def is_han(self) -> bool:
        return bool(self.pinyin)


class ZhG2P:
    """Word segmentation and pinyin. jieba's dictionary loads once, on first use, under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            self._loaded = True

    def words(self, text: str) -> list[ZhWord]:
        """Segment `text` and read every Han word, resolving polyphones by their context."""
        self._load()
        import jieba
        from pypinyin import Style, pinyin
        from pypinyin.constants import PHRASES_DICT

        tokens = [t for t in jieba.lcut(text, HMM=True) if t]
        out: list[ZhWord] = []
        offset = 0
        for token in tokens:
            start = offset
            offset += len(token)
            if not _HAN_ONLY.match(token):
                out.append(ZhWord(token))
                continue
            if token in WORD_READINGS:
                out.append(ZhWord(token, WORD_READINGS[token]))
                continue
            readings = [p[0] for p in pinyin(token, style=Style.TONE3, neutral_tone_with_five=True,
                                             errors="ignore")]
            if len(readings) != len(token):
                readings = [_char_reading(c) for c in token]
            if len(token) == 1 or token not in PHRASES_DICT:
                for index, char in enumerate(token):
                    better = resolve(char, text[: start + index], text[start + index + 1:])
                    if better:
                        readings[index] = better
            out.append(ZhWord(token, tuple(readings)))
        return out


def _char_reading(char: str) -> str:
    from pypinyin import Style, pinyin

    found = pinyin(char, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
    return found[0][0] if found else ""


@lru_cache(maxsize=4096)
def pinyin_to_kokoro(syllable: str) -> str:
    """IPA with tone arrows for one pinyin syllable, in the form Kokoro v1.0's Chinese voices know."""
    from misaki.transcription import pinyin_to_ipa

    candidates = [syllable]
    if syllable[:-1].endswith("r") and len(syllable) > 2 and syllable[:-1] != "er":
        candidates.append(syllable[:-2] + syllable[-1])  # erhua: read the base syllable
    for candidate in candidates:
        try:
            phones = pinyin_to_ipa(candidate)[0]
        except (ValueError, KeyError, IndexError):
            continue
        ipa = "".join(phones)
        for chao, arrow in _TONE_ARROWS:
            ipa = ipa.replace(chao, arrow)
        ipa = re.sub(f"[ɹɻʐz]{_SYLLABIC_MARK}", "ɨ", ipa)
        return ipa.replace(_NONSYLLABIC_MARK, "").replace(_SYLLABIC_MARK, "")
    return ""
