"""Turn shaping: LLM text deltas cut into speakable pieces, so TTS can start on the first clause."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from talker.text.sentences import is_abbreviation

_ENDS = "。！？!?；;…"
_CLAUSES = "，,、：:"


async def speakable(
    deltas: AsyncIterator[str],
    first_min_chars: int = 2,
    min_chars: int = 10,
    max_wait: float = 0.6,
) -> AsyncIterator[str]:
    """Yield pieces of the answer as soon as each can be spoken.

    A piece ends at a sentence mark; the first piece may also end at a clause mark once it has
    `first_min_chars` (the avatar starts talking early), later ones once they have `min_chars`. If no
    mark comes within `max_wait` seconds of a piece's first text, it is cut at the last space (or
    taken whole) so speech never stalls behind a slow or unpunctuated model.
    """
    buffer = ""
    started = 0.0
    first = True
    async for delta in deltas:
        if not buffer:
            started = time.monotonic()
        buffer += delta
        while True:
            cut = _cut(buffer, first_min_chars if first else min_chars)
            if cut is None and buffer.strip() and time.monotonic() - started > max_wait:
                cut = _late_cut(buffer)
            if cut is None:
                break
            piece, buffer = buffer[:cut].strip(), buffer[cut:]
            started = time.monotonic()
            if piece:
                first = False
                yield piece
        await asyncio.sleep(0)
    if buffer.strip():
        yield buffer.strip()


def _cut(text: str, min_chars: int) -> int | None:
    for index, char in enumerate(text):
        if char in _ENDS or (char == "." and (index + 1 == len(text) or text[index + 1].isspace())
                             and not text[max(index - 1, 0)].isdigit()
                             and not is_abbreviation(text[:index + 1], text[index + 1:])):
            end = index + 1
            while end < len(text) and text[end] in _ENDS + "\"'”’」）)":
                end += 1
            return end
        if char in _CLAUSES and len(text[:index].strip()) >= min_chars:
            return index + 1
    return None


def _late_cut(text: str) -> int:
    space = text.rstrip().rfind(" ")
    return space + 1 if space > 0 else len(text)
