"""Language detection and the split into Chinese and English runs."""

import pytest

from talker.text.lang import Run, detect_language, split_runs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("你好，世界", "zh"),
        ("Hello, world", "en"),
        ("我用iPhone拍照", "zh"),
        ("I love 北京", "en"),
        ("我在Google工作，很开心", "zh"),
        ("123", "en"),
        ("请打开Microsoft Word", "zh"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("我用iPhone拍照。", [Run("zh", "我用"), Run("en", "iPhone"), Run("zh", "拍照。")]),
        ("Hello 北京!", [Run("en", "Hello "), Run("zh", "北京!")]),
        ("打开Microsoft Word文档", [Run("zh", "打开"), Run("en", "Microsoft Word"), Run("zh", "文档")]),
        ("It's 周杰伦's song.", [Run("en", "It's "), Run("zh", "周杰伦"), Run("en", "'s song.")]),
        ("纯中文。", [Run("zh", "纯中文。")]),
        ("Plain English.", [Run("en", "Plain English.")]),
    ],
)
def test_split_runs(text: str, runs: list[Run]) -> None:
    assert split_runs(text) == runs
    assert "".join(r.text for r in split_runs(text)) == text
