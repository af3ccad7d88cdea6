"""`talker chat` and `talker kb` end to end, on a temporary data directory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from talker.cli import main


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TALKER_DATA_DIR", str(tmp_path / "data"))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "branch.md").write_text("# 营业时间\n\n工作日上午九点至下午五点营业，周六上午九点半至下午四点。\n\n"
                                    "# Contact\n\nCall 400-820-5566 for card services, any time of day.\n",
                                    encoding="utf-8")
    (tmp_path / "faq.md").write_text("Q: 周日几点开门？\nA: 周日上午十点开门。\n", encoding="utf-8")
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str
         ) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_kb_add_list_search_and_faq(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(capsys, monkeypatch, "", "kb", "add", str(data_dir / "docs"))[0] == 0
    assert _run(capsys, monkeypatch, "", "kb", "faq", str(data_dir / "faq.md"))[0] == 0
    code, out, _ = _run(capsys, monkeypatch, "", "kb", "list")
    assert code == 0 and "1 documents" in out and "1 FAQ" in out
    code, out, _ = _run(capsys, monkeypatch, "", "kb", "search", "card", "hotline", "number")
    assert code == 0 and "400-820-5566" in out


def test_chat_answers_from_faq_documents_and_echo(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _run(capsys, monkeypatch, "", "kb", "faq", str(data_dir / "faq.md"))
    lines = "周日几点开门？\n周六几点营业？\nRead this back please.\n"
    code, out, err = _run(capsys, monkeypatch, lines, "chat", "--llm", "echo", "--kb", str(data_dir / "docs"))
    assert code == 0, err
    assert "周日上午十点开门。" in out and "[faq:" in out
    assert "上午九点半" in out and "[document:" in out
    assert "Read this back please." in out


def test_chat_with_unknown_session_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _run(capsys, monkeypatch, "hi\n", "chat", "--llm", "echo", "--session", "nope")
    assert code == 2 and "nope" in err and err.count("\n") == 1


def test_chat_openai_without_url_is_a_clear_error(data_dir: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _run(capsys, monkeypatch, "hi\n", "chat", "--llm", "openai")
    assert code == 2 and "base URL" in err
