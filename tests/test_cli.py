"""The command line: real speech into files, and bad input answered in one clear line."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
import soundfile

from talker.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("kit")
def test_say_writes_wav_and_timings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav, timings = tmp_path / "hello.wav", tmp_path / "hello.json"
    code, out, _ = _run(capsys, "say", "你好，我是数字人。", "-o", str(wav), "--timings", str(timings))
    assert code == 0
    info = soundfile.info(str(wav))
    assert info.samplerate == 24000 and info.channels == 1 and info.subtype == "PCM_16"
    document = json.loads(timings.read_text(encoding="utf-8"))
    assert document["sample_rate"] == 24000 and document["voice"] == "zf_xiaoxiao"
    assert document["duration"] == pytest.approx(info.frames / info.samplerate, abs=1e-3)
    [sentence] = document["sentences"]
    assert sentence["text"] == "你好，我是数字人。"
    assert [w["text"] for w in sentence["words"]] == ["你好", "我", "是", "数字", "人"]
    assert str(wav) in out and "real-time factor" in out
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.usefixtures("kit")
def test_say_reads_a_text_file_sentence_by_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "script.txt"
    text.write_text("First sentence here.\nSecond one follows!\n\nAnd a third?", encoding="utf-8")
    wav, timings = tmp_path / "script.wav", tmp_path / "script.json"
    code, _, _ = _run(capsys, "say", "--text-file", str(text), "-o", str(wav), "--timings", str(timings),
                      "--voice", "am_michael", "--speed", "1.2")
    assert code == 0
    document = json.loads(timings.read_text(encoding="utf-8"))
    assert [s["text"] for s in document["sentences"]] == ["First sentence here.", "Second one follows!",
                                                         "And a third?"]
    starts = [s["start"] for s in document["sentences"]]
    assert starts == sorted(starts) and document["voice"] == "am_michael"


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "nothing to say"), ("   ", "nothing to say"), ("。。。！！！？", "nothing to say"),
     ("😀😀🎉", "nothing to say"), ("……", "nothing to say")],
)
@pytest.mark.usefixtures("kit")
def test_nothing_to_say_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                                         message: str) -> None:
    wav = tmp_path / "out.wav"
    code, _, err = _run(capsys, "say", text, "-o", str(wav))
    assert code == 2 and message in err and err.count("\n") == 1
    assert not wav.exists() and not list(tmp_path.iterdir())


@pytest.mark.usefixtures("kit")
def test_unknown_voice_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "say", "你好。", "-o", str(tmp_path / "x.wav"), "--voice", "zz_nobody")
    assert code == 2 and "unknown voice 'zz_nobody'" in err and "talker voices" in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("where", ["missing_dir", "is_dir", "proc"])
def test_unwritable_output_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str) -> None:
    target = {"missing_dir": tmp_path / "no" / "such" / "x.wav", "is_dir": tmp_path,
              "proc": Path("/proc/talker-test.wav")}[where]
    code, _, err = _run(capsys, "say", "你好。", "-o", str(target))
    assert code == 2 and err.startswith("talker: error: cannot write") and err.count("\n") == 1


def test_out_of_range_prosody_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "say", "你好。", "-o", str(tmp_path / "x.wav"), "--speed", "5")
    assert code == 2 and "speed 5.0 is out of range" in err


@pytest.mark.usefixtures("kit")
def test_failure_midway_leaves_no_partial_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "bad.txt"
    text.write_bytes("第一句话。".encode() * 1000 + b"\xff\xfe broken")
    wav = tmp_path / "bad.wav"
    code, _, err = _run(capsys, "say", "--text-file", str(text), "-o", str(wav), "--backend", "espeak")
    assert code == 2 and "not UTF-8" in err
    assert not wav.exists() and not list(tmp_path.glob(".*partial"))


def test_full_disk_plumbing_reports_and_cleans_up(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Plumbing: the disk filling up mid-write is simulated by the WAV writer failing with ENOSPC."""
    from talker.media import audio

    def full(self: object, samples: object, sample_rate: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(audio.WavStream, "write", full)
    wav = tmp_path / "full.wav"
    code, _, err = _run(capsys, "say", "Hello there.", "-o", str(wav), "--backend", "espeak")
    assert code == 2 and "disk is full" in err
    assert not list(tmp_path.iterdir())


def test_missing_text_file_and_both_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "say", "--text-file", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "does not exist" in err
    code, _, err = _run(capsys, "say", "hi", "--text-file", str(tmp_path / "nope.txt"), "-o", str(tmp_path / "x.wav"))
    assert code == 2 and "not both" in err


@pytest.mark.usefixtures("kit")
def test_voices_lists_language_and_gender(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "voices", "--language", "zh")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["voice", "language", "gender", "backend"]
    assert any(line.split()[:3] == ["zf_xiaoxiao", "zh", "female"] for line in lines)
    assert any(line.split()[:3] == ["zm_yunxi", "zh", "male"] for line in lines)
    assert not any("af_heart" in line for line in lines)


@pytest.mark.usefixtures("kit")
def test_models_lists_status(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "models")
    assert code == 0
    for name in ("kokoro-82m", "kokoro-voices", "whisper-base"):
        assert any(line.startswith(name) and "ready" in line for line in out.splitlines())


def _peak_rss_speaking(tmp_path: Path, characters: int) -> int:
    import subprocess
    import sys

    sentence = "今天是2024年3月5日，我们讨论了第12.5%的增长。Then we moved on to the next item. "
    text = tmp_path / f"{characters}.txt"
    text.write_text(sentence * (characters // len(sentence) + 1), encoding="utf-8")
    code = (
        "import resource, sys\n"
        "from talker.cli import main\n"
        f"rc = main(['say', '--text-file', {str(text)!r}, '-o', {str(tmp_path / 'long.wav')!r},"
        " '--backend', 'espeak'])\n"
        "print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rc, rss_kb = result.stdout.split()[-2:]
    assert rc == "0", result.stderr
    return int(rss_kb)


def test_twenty_thousand_characters_stream_with_flat_memory(tmp_path: Path) -> None:
    """The real espeak-ng voice reads 20,000 characters (about 45 minutes of speech) into one WAV."""
    small = _peak_rss_speaking(tmp_path, 2_000)
    large = _peak_rss_speaking(tmp_path, 20_000)
    info = soundfile.info(str(tmp_path / "long.wav"))
    assert info.frames / info.samplerate > 30 * 60
    assert large < small * 1.15 + 20_000, f"peak RSS grew from {small} kB to {large} kB"
