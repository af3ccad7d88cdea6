"""Sentence splitting that streams: a sentence is yielded as soon as its end has been read."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_TERMINAL = "。！？!?；;…"
_CLOSERS = "\"'”’」』）)】》"
_CLAUSE = "，,、：:—"
# Words after which a full stop does not end the sentence.
_ABBREVIATIONS = frozenset(
    [
        "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "approx", "fig",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc", "ltd",
        "co", "corp", "dept", "est", "mt",
    ]
)
_WORD_BEFORE = re.compile(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)\.$")
_HAN = re.compile("[\u3400-\u9fff]")


def iter_sentences(pieces: Iterable[str] | str, max_chars: int = 120) -> Iterator[str]:
    """Yield the sentences of text arriving in `pieces`, each at most about `max_chars` long.

    Reading stops as soon as a sentence is complete, so the first sentence is out before the rest of
    the text is read. Over-long sentences are cut at clause marks, then at spaces, then anywhere.
    """
    if isinstance(pieces, str):
        pieces = (pieces,)
    buffer = ""
    for piece in pieces:
        buffer += piece
        while True:
            cut = _boundary(buffer, final=False)
            if cut is None:
                break
            yield from _emit(buffer[:cut], max_chars)
            buffer = buffer[cut:]
        if len(buffer) > 2 * max_chars:
            # No end in sight: release all but the last clause so memory stays flat on run-on text.
            cut = _clause_cut(buffer, max_chars)
            yield from _emit(buffer[:cut], max_chars)
            buffer = buffer[cut:]
    while buffer.strip():
        cut = _boundary(buffer, final=True)
        if cut is None:
            cut = len(buffer)
        yield from _emit(buffer[:cut], max_chars)
        buffer = buffer[cut:]


def _boundary(text: str, final: bool) -> int | None:
    """Index just past the first sentence end in `text`, or None if none is certain yet."""
    index = 0
    length = len(text)
    while index < length:
        char = text[index]
        end: int | None = None
        if char in _TERMINAL:
            end = index + 1
        elif char == "\n":
            if index + 1 < length and text[index + 1] == "\n":
                end = index + 2
            elif index + 1 >= length and not final:
                return None  # a blank line may follow
            elif _line_ends_sentence(text[:index]):
                end = index + 1
        elif char == ".":
            if index + 1 >= length:
                if not final:
                    return None  # "3." may go on as "3.14"
                end = index + 1
            elif (text[index + 1].isspace() or text[index + 1] in _CLOSERS) and not is_abbreviation(
                text[: index + 1], text[index + 1:]
            ):
                end = index + 1
        if end is not None:
            while end < length and (text[end] in _TERMINAL or text[end] in _CLOSERS or text[end] == "."):
                end += 1
            if end >= length and not final:
                return None  # more closing marks may follow
            return end
        index += 1
    return None


def _line_ends_sentence(before: str) -> bool:
    """A single newline ends a sentence after Chinese text or a mark, not inside wrapped English."""
    stripped = before.rstrip()
    if not stripped:
        return False
    last = stripped[-1]
    return bool(_HAN.match(last)) or last in _TERMINAL or last in _CLOSERS or last in _CLAUSE or last == "."


def is_abbreviation(before: str, after: str) -> bool:
    """Whether the "." after `before` ends an abbreviation or an initial rather than a sentence."""
    match = _WORD_BEFORE.search(before)
    if not match:
        return False
    word = match.group(1)
    if len(word) == 1 and word.isupper():
        return True  # an initial, as in "J. K. Rowling"
    if word.lower() not in _ABBREVIATIONS:
        return False
    following = after.lstrip()
    # "etc." and friends do end a sentence when a capitalised word follows
    return not (word.lower() in {"etc", "inc", "ltd", "co", "corp"} and following[:1].isupper())


def _clause_cut(text: str, max_chars: int) -> int:
    """Where to cut an over-long stretch: last clause mark, else last space, else `max_chars`."""
    window = text[:max_chars]
    for marks in (_CLAUSE, " \t\n"):
        best = max(window.rfind(mark) for mark in marks)
        if best >= max_chars // 4:
            return best + 1
    return max_chars


def _emit(sentence: str, max_chars: int) -> Iterator[str]:
    text = " ".join(sentence.split()) if not _HAN.search(sentence) else _squeeze(sentence)
    while len(text) > max_chars:
        cut = _clause_cut(text, max_chars)
        head, text = text[:cut].strip(), text[cut:].strip()
        if head:
            yield head
    if text:
        yield text


def _squeeze(text: str) -> str:
    """Drop line breaks inside Chinese text (they are layout, not pauses) and collapse spaces."""
    text = re.sub(r"\s*\n\s*", lambda m: "" if m.group().count("\n") else " ", text.strip())
    return re.sub(r"[ \t]+", " ", text)
