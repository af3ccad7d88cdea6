"""Sentence splitting: where sentences end, and that it streams."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from talker.text.sentences import iter_sentences

CASES = [
    ("你好，我是数字人。今天天气很好！", ["你好，我是数字人。", "今天天气很好！"]),
    ("你吃了吗？吃了。", ["你吃了吗？", "吃了。"]),
    ("他说：“好的。”然后走了。", ["他说：“好的。”", "然后走了。"]),
    ("Hello world. How are you?", ["Hello world.", "How are you?"]),
    ("Dr. Smith paid $3.50 for it. He left.", ["Dr. Smith paid $3.50 for it.", "He left."]),
    ("It costs 3.14 dollars. Yes.", ["It costs 3.14 dollars.", "Yes."]),
    ("J. K. Rowling wrote it. Fine.", ["J. K. Rowling wrote it.", "Fine."]),
    ("Apples, pears, etc. are fruit.", ["Apples, pears, etc. are fruit."]),
    ("We sell apples, pears etc. The shop opens at nine.", ["We sell apples, pears etc.", "The shop opens at nine."]),
    ("Really?! Yes… OK.", ["Really?!", "Yes…", "OK."]),
    ("第一行\n第二行", ["第一行", "第二行"]),
    ("wrapped English\nline goes on.", ["wrapped English line goes on."]),
    ("Paragraph one\n\nParagraph two", ["Paragraph one", "Paragraph two"]),
    ("没有句号的结尾", ["没有句号的结尾"]),
    ("  ", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split(text: str, expected: list[str]) -> None:
    assert list(iter_sentences(text)) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_is_the_same_when_text_arrives_one_character_at_a_time(text: str, expected: list[str]) -> None:
    assert list(iter_sentences(iter(text))) == expected


def test_long_sentence_is_cut_at_clauses_within_the_limit() -> None:
    text = "，".join(["这是一个很长的从句"] * 30) + "。"
    pieces = list(iter_sentences(text, max_chars=40))
    assert len(pieces) > 5
    assert all(len(p) <= 40 for p in pieces)
    assert "".join(pieces) == text


def test_run_on_text_without_punctuation_is_cut_anyway() -> None:
    pieces = list(iter_sentences("字" * 1000, max_chars=100))
    assert all(len(p) <= 100 for p in pieces) and "".join(pieces) == "字" * 1000


def test_first_sentence_comes_out_before_the_rest_is_read() -> None:
    read: list[str] = []

    def pieces() -> Iterator[str]:
        for piece in ["第一句话。", "第二句", "话。", "第三句话。"]:
            read.append(piece)
            yield piece

    stream = iter_sentences(pieces())
    assert next(stream) == "第一句话。"
    assert read == ["第一句话。", "第二句"]  # one piece of look-ahead, not the whole text
    assert list(stream) == ["第二句话。", "第三句话。"]


def test_twenty_thousand_characters_stream_in_bounded_pieces() -> None:
    consumed = 0

    def blocks() -> Iterator[str]:
        nonlocal consumed
        for _ in range(2000):
            consumed += 1
            yield "今天的会议很重要。"[:9] + "x"  # 10 chars, one sentence end per block

    stream = iter_sentences(blocks())
    for _ in range(10):
        next(stream)
    assert consumed <= 12
