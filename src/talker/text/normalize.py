"""Text normalisation entry point: pick the language, rewrite numbers and symbols as spoken words."""

from __future__ import annotations

import re

from talker.text.normalize_en import normalize_en
from talker.text.normalize_zh import normalize_zh

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize(text: str, lang: str | None = None) -> str:
    """Normalise ``text`` for speech; ``lang`` "zh" or "en", or None for "zh" when any Han is present."""
    if lang is None:
        lang = "zh" if _HAN.search(text) else "en"
    base = lang.lower().replace("_", "-").split("-")[0]
    if base == "zh":
        return normalize_zh(text)
    if base == "en":
        return normalize_en(text)
    raise ValueError(f"unsupported language for text normalisation: {lang!r} (use 'zh' or 'en')")
