"""`talker listen`: a transcript with timestamps from any audio file; clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from talker.cli import main

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.models
@pytest.mark.usefixtures("kit")
def test_listen_prints_timed_segments_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    speech, _ = soundfile.read(str(LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"), dtype="float32")
    gap = np.zeros(16000, dtype=np.float32)
    recording = tmp_path / "two.flac"
    soundfile.write(str(recording), np.concatenate([gap, speech, gap, speech, gap]), 16000)
    transcript = tmp_path / "two.json"
    code, out, err = _run(capsys, "listen", str(recording), "--json", str(transcript), "--words")
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert len(lines) == 2 and all("young man" in line for line in lines)
    assert "2 segments (en)" in out and "real-time factor" in out
    document = json.loads(transcript.read_text(encoding="utf-8"))
    first, second = document["segments"]
    assert 0.8 <= first["start"] < first["end"] < second["start"] < second["end"] <= document["duration"]
    assert [w["text"] for w in first["words"]][:3] == ["He", "was", "not"]
    assert second["words"][0]["start"] > first["end"]


@pytest.mark.usefixtures("kit")
def test_silence_only_is_a_clear_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quiet = tmp_path / "quiet.wav"
    soundfile.write(str(quiet), np.zeros(3 * 16000, dtype=np.float32), 16000)
    code, out, _ = _run(capsys, "listen", str(quiet))
    assert code == 0 and "no speech found" in out and "3.0 s of audio" in out


@pytest.mark.usefixtures("kit")
def test_header_only_wav_is_no_speech(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(str(empty), np.zeros(0, dtype=np.float32), 16000)
    code, out, _ = _run(capsys, "listen", str(empty))
    assert code == 0 and "no speech found" in out


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 3, "not a readable audio file"),
])
def test_bad_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes,
                                       message: str) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    code, _, err = _run(capsys, "listen", str(bad))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_file_or_microphone_not_both(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "listen")
    assert code == 2 and "--mic" in err


def test_microphone_without_one_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
        pytest.skip("this machine has a microphone")
    except Exception:  # no PortAudio, or no input device: what this test is about
        pass
    code, _, err = _run(capsys, "listen", "--mic", "--seconds", "1")
    assert code == 3 and "microphone" in err and len(err.strip().splitlines()) == 1
