"""`talker video`: real explainer videos end to end, and bad input answered in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from talker.cli import main
from talker.media.video import probe
from tests.face.conftest import SAMPLE


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("kit")
def test_video_from_text_is_h264_aac_with_matching_lengths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hello.mp4"
    code, stdout, _ = _run(capsys, "video", "--portrait", str(SAMPLE), "--text", "你好，我是数字人。", "-o", str(out),
                           "--size", "384")
    assert code == 0, stdout
    info = probe(out)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, round(info.fps)) == (384, 384, 25)
    assert info.audio_duration > 1.0
    assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 1e-3
    assert "render" in stdout and "fps" in stdout and str(out) in stdout


@pytest.mark.usefixtures("kit")
def test_video_from_recorded_audio_and_timings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav, timings, out = tmp_path / "s.wav", tmp_path / "s.json", tmp_path / "s.mp4"
    assert _run(capsys, "say", "Hello there, nice to meet you.", "-o", str(wav), "--timings", str(timings))[0] == 0
    code, _, err = _run(capsys, "video", "--portrait", str(SAMPLE), "--audio", str(wav), "--timings", str(timings),
                        "-o", str(out), "--fps", "20", "--size", "320")
    assert code == 0, err
    info = probe(out)
    assert round(info.fps) == 20 and abs(info.video_duration - info.audio_duration) <= 1 / 20 + 1e-3


@pytest.mark.usefixtures("kit")
def test_same_seed_same_video_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for name in ("a.mp4", "b.mp4"):
        out = tmp_path / name
        assert _run(capsys, "video", "--portrait", str(SAMPLE), "--text", "Same seed.", "-o", str(out), "--size",
                    "320", "--seed", "3", "--voice", "af_heart")[0] == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def _tiny_face(path: Path) -> None:
    Image.open(SAMPLE).resize((200, 200)).save(path, format="PNG")


@pytest.mark.parametrize(
    ("setup", "extra", "message"),
    [
        (lambda d: (d / "p.jpg").write_text("not an image"), [], "is not an image"),
        (lambda d: (d / "p.jpg").write_bytes(SAMPLE.read_bytes()[:2500]), [], "corrupt or truncated"),
        (lambda d: Image.new("RGB", (300, 300), (50, 90, 160)).save(d / "p.jpg"), [], "no face found"),
        (lambda d: _tiny_face(d / "p.jpg"), [], "too small to animate"),
        (lambda d: None, [], "does not exist"),
        (lambda d: (d / "p.jpg").write_bytes(SAMPLE.read_bytes()), ["--audio", "nope.wav"], "does not exist"),
        (lambda d: (d / "p.jpg").write_bytes(SAMPLE.read_bytes()), ["--fps", "500"], "out of range"),
        (lambda d: (d / "p.jpg").write_bytes(SAMPLE.read_bytes()), ["--voice", "zz_nobody"], "unknown voice"),
    ],
    ids=["not-image", "truncated", "no-face", "tiny-face", "missing", "audio-missing", "fps", "voice"],
)
@pytest.mark.usefixtures("kit")
def test_bad_input_is_one_clear_line_and_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: object,
                                                 extra: list[str], message: str) -> None:
    setup(tmp_path)  # type: ignore[operator]
    out = tmp_path / "out.mp4"
    args = ["video", "--portrait", str(tmp_path / "p.jpg"), "-o", str(out)]
    args += extra if "--audio" in extra else ["--text", "你好。", *extra]
    code, _, err = _run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


@pytest.mark.usefixtures("kit")
def test_timings_that_do_not_match_the_audio_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short_wav, short_json = tmp_path / "a.wav", tmp_path / "a.json"
    long_wav = tmp_path / "b.wav"
    _run(capsys, "say", "Hi.", "-o", str(short_wav), "--timings", str(short_json))
    _run(capsys, "say", "This is a much longer sentence than the other one, by far.", "-o", str(long_wav))
    code, _, err = _run(capsys, "video", "--portrait", str(SAMPLE), "--audio", str(long_wav), "--timings",
                        str(short_json), "-o", str(tmp_path / "x.mp4"))
    assert code == 2 and "timings" in err and not (tmp_path / "x.mp4").exists()


def test_unwritable_video_output_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "video", "--portrait", str(SAMPLE), "--text", "你好。", "-o",
                        str(tmp_path / "missing" / "x.mp4"))
    assert code == 2 and "cannot write" in err


@pytest.mark.usefixtures("kit")
def test_face_crop_and_several_faces_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = Image.open(SAMPLE)
    canvas = Image.new("RGB", (960, 512), (200, 200, 200))
    canvas.paste(photo, (0, 0))
    canvas.paste(photo.resize((440, 440)), (520, 72))
    canvas.save(tmp_path / "two.jpg", quality=92)
    out = tmp_path / "crop.mp4"
    code, _, err = _run(capsys, "video", "--portrait", str(tmp_path / "two.jpg"), "--text", "Hi there.", "-o",
                        str(out), "--crop", "--size", "960")
    assert code == 0, err
    assert "2 faces" in err and "largest" in err
    info = probe(out)
    assert info.width == info.height and 300 <= info.width < 512  # a square around the bigger face
