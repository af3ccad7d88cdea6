"""`talker voice add/list/remove` and speaking with a stored voice, through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from talker.cli import main
from talker.config import Settings
from talker.tts.enroll import Enrollment


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, voice_settings: Settings) -> Path:
    """A fresh profile folder per test; the stock-voice cache is the session's (warm after the first clone)."""
    monkeypatch.setenv("TALKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALKER_CACHE_DIR", str(voice_settings.cache_dir))
    return tmp_path / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_add_list_speak_remove(data_dir: Path, zh_reference: Path, enrollment: Enrollment, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    del enrollment  # only warms the stock-voice cache
    code, out, err = _run(capsys, "voice", "add", "阿云", str(zh_reference))
    assert code == 0, err
    assert "stored voice 阿云 (zh, detected" in out and "reference.wav" in out
    assert "nearest     stock voice zm_yunxi: similarity 0." in out and "blend" in out and "took" in out
    profile = json.loads((data_dir / "voices" / "阿云" / "profile.json").read_text(encoding="utf-8"))
    assert profile["language"] == "zh" and profile["language_detected"]
    assert sum("\u4e00" <= char <= "\u9fff" for char in profile["transcript"]) >= 20  # Whisper's words, stored
    assert f"{profile['clone']['similarity']:.3f}" in out

    code, out, _ = _run(capsys, "voice", "list")
    assert code == 0 and "阿云" in out and "zm_yunxi" in out and "1 voice in" in out
    code, out, _ = _run(capsys, "voices", "--language", "zh")
    assert code == 0 and "zf_xiaoxiao" in out and "阿云" in out and "profile (blend" in out

    wav, timings = tmp_path / "hello.wav", tmp_path / "hello.json"
    code, out, err = _run(capsys, "say", "你好，很高兴认识你。", "--voice", "阿云", "-o", str(wav),
                          "--timings", str(timings))
    assert code == 0, err
    assert "voice 阿云" in out and soundfile.info(str(wav)).duration > 1.0
    assert json.loads(timings.read_text(encoding="utf-8"))["voice"] == "阿云"

    code, _, err = _run(capsys, "voice", "add", "阿云", str(zh_reference), "--language", "zh")
    assert code == 2 and "already exists" in err and "--force" in err and err.count("\n") == 1

    code, out, _ = _run(capsys, "voice", "remove", "阿云")
    assert code == 0 and "removed voice 阿云" in out
    assert not any((data_dir / "voices").iterdir())
    code, _, err = _run(capsys, "say", "你好。", "--voice", "阿云", "-o", str(wav))
    assert code == 2 and "unknown voice '阿云'" in err


def _silence(path: Path) -> Path:
    soundfile.write(str(path), np.zeros(16000 * 5, np.float32), 16000)
    return path


@pytest.mark.parametrize(("kind", "message"), [
    ("missing", "does not exist"),
    ("text", "not a readable audio file"),
    ("empty", "is empty (0 bytes)"),
    ("header only", "holds no audio"),
    ("silence", "is silent"),
    ("too short", "only 1.5 s long"),
    ("clipped", "is clipped"),
])
def test_bad_references_fail_in_one_line_and_store_nothing(
        data_dir: Path, tmp_path: Path, librivox: list[np.ndarray], capsys: pytest.CaptureFixture[str],
        kind: str, message: str) -> None:
    path = tmp_path / "sample.wav"
    if kind == "text":
        path.write_text("not audio at all\n" * 50, encoding="utf-8")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "header only":
        soundfile.write(str(path), np.zeros(0, np.float32), 16000)
    elif kind == "silence":
        _silence(path)
    elif kind == "too short":
        soundfile.write(str(path), librivox[0][:24000], 16000)
    elif kind == "clipped":
        soundfile.write(str(path), np.clip(np.concatenate(librivox[:2]) * 6, -1, 1), 16000)
    code, out, err = _run(capsys, "voice", "add", "bad", str(path), "--language", "zh")
    assert code == 2 and message in err and err.startswith("talker: error:") and err.count("\n") == 1
    assert out == ""
    assert not (data_dir / "voices").exists() or not any((data_dir / "voices").iterdir())


@pytest.mark.parametrize(("name", "message"), [
    ("../evil", "is not allowed"), ("a/b", "is not allowed"), (".x", "is not allowed"),
    ("zf_xiaoxiao", "name of a built-in voice"),
])
def test_bad_names_are_refused(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                               message: str) -> None:
    code, _, err = _run(capsys, "voice", "add", name, str(_silence(tmp_path / "s.wav")))
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (data_dir / "voices").exists() or not any((data_dir / "voices").iterdir())


def test_list_and_remove_when_empty(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "voice", "list")
    assert code == 0 and "no stored voices" in out
    code, _, err = _run(capsys, "voice", "remove", "nobody")
    assert code == 2 and "no voice profile called 'nobody'" in err and "talker voice add" in err


def test_backends_that_are_not_set_up_say_what_is_needed(data_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(_silence(tmp_path / "s.wav"))
    code, _, err = _run(capsys, "voice", "add", "remote", sample, "--backend", "http")
    assert code == 3 and "voice.http_url" in err and "TALKER_VOICE__HTTP_URL" in err and err.count("\n") == 1
    code, _, err = _run(capsys, "voice", "add", "local", sample, "--backend", "sherpa")
    assert code == 3 and "sherpa" in err and "ZipVoice" in err and err.count("\n") == 1
