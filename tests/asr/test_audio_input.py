"""Whatever audio arrives is converted, or refused with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from talker.errors import InputError
from talker.media.audio_decode import audio_blocks, audio_duration, load_audio

RATE = 16000


def _tone(seconds: float, rate: int) -> np.ndarray:
    time = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * time)).astype(np.float32)


def _mp3(path: Path, samples: np.ndarray, rate: int) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(np.stack([samples, samples])), format="fltp",
                                           layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


def test_8_bit_stereo_44k_wav_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "old.wav"
    tone = _tone(1.0, 44100)
    soundfile.write(str(path), np.stack([tone, tone], axis=1), 44100, subtype="PCM_U8")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - RATE) <= 32
    assert 0.2 < np.abs(audio).max() < 0.35


def test_mp3_is_converted(tmp_path: Path) -> None:
    path = tmp_path / "speech.mp3"
    _mp3(path, _tone(1.0, 44100), 44100)
    audio = load_audio(path)
    assert abs(audio.size - RATE) < 0.06 * RATE  # the encoder adds a little padding
    assert audio_duration(path) == pytest.approx(1.0, abs=0.1)


def test_blocks_cover_the_file_exactly(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    soundfile.write(str(path), _tone(2.5, RATE), RATE)
    blocks = list(audio_blocks(path, block_seconds=1.0))
    assert [b.size for b in blocks] == [RATE, RATE, RATE // 2]
    assert np.allclose(np.concatenate(blocks), _tone(2.5, RATE), atol=1e-4)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("notes.wav", b"these are my meeting notes, not audio " * 20, "not a readable audio file"),
    ("empty.wav", b"", "empty"),
    ("missing.wav", None, "does not exist"),
])
def test_bad_files_get_a_clear_error(tmp_path: Path, name: str, content: bytes | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_audio(path)


def test_an_image_named_wav_is_refused(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "photo.wav"
    cv2.imwrite(str(path.with_suffix(".png")), np.full((64, 64, 3), 200, dtype=np.uint8))
    path.with_suffix(".png").rename(path)
    with pytest.raises(InputError):
        load_audio(path)


def test_header_only_wav_is_empty_audio(tmp_path: Path) -> None:
    path = tmp_path / "nothing.wav"
    soundfile.write(str(path), np.zeros(0, dtype=np.float32), RATE)
    assert load_audio(path).size == 0


def test_wav_header_promising_more_than_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    soundfile.write(str(path), _tone(2.0, RATE), RATE, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the header still says 2 s
    audio = load_audio(path)
    assert 0.9 * RATE <= audio.size <= 1.01 * RATE


def test_too_long_for_a_short_request(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    soundfile.write(str(path), _tone(3.0, RATE), RATE)
    with pytest.raises(InputError, match="longer than 2 s"):
        load_audio(path, max_seconds=2)
