"""Reference recordings: every bad input refused with what is wrong; odd formats converted, not refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from talker.errors import InputError
from talker.tts.reference import check_reference, frame_rms, load_reference, normalise_reference

RATE = 16000


def _speech(librivox: list[np.ndarray], seconds: float) -> np.ndarray:
    joined = np.concatenate(librivox)
    return np.resize(joined, int(seconds * RATE)).astype(np.float32)


def test_recorded_speech_passes(librivox: list[np.ndarray]) -> None:
    check = check_reference(np.concatenate(librivox[0:2]))
    assert check.duration == pytest.approx(10.09, abs=0.01)
    assert 5.0 < check.speech_seconds <= check.duration and check.clipped_fraction < 0.002


@pytest.mark.parametrize(("case", "message"), [
    ("empty", "holds no audio"),
    ("silence", "is silent"),
    ("hiss", "is silent"),
    ("too short", "only 2.0 s long"),
    ("too long", "over 30 s"),
    ("little speech", r"only \d\.\d s of speech in 7\.0 s"),
    ("tone", "steady tone or noise"),
    ("noise", "steady tone or noise"),
    ("clipped", "is clipped"),
    ("nan", "invalid samples"),
])
def test_bad_references_are_refused_with_a_reason(librivox: list[np.ndarray], case: str, message: str) -> None:
    seconds = np.arange(6 * RATE) / RATE
    samples = {
        "empty": lambda: np.zeros(0, np.float32),
        "silence": lambda: np.zeros(6 * RATE, np.float32),
        "hiss": lambda: np.random.default_rng(0).normal(0, 1e-4, 6 * RATE),
        "too short": lambda: _speech(librivox, 2.0),
        "too long": lambda: _speech(librivox, 35.0),
        "little speech": lambda: np.concatenate([np.zeros(3 * RATE), librivox[1][RATE:2 * RATE], np.zeros(3 * RATE)]),
        "tone": lambda: 0.3 * np.sin(2 * np.pi * 220 * seconds),
        "noise": lambda: np.random.default_rng(1).normal(0, 0.1, 6 * RATE),
        "clipped": lambda: np.clip(_speech(librivox, 8.0) * 6, -1, 1),
        "nan": lambda: np.where(np.arange(6 * RATE) == 5, np.nan, _speech(librivox, 6.0)),
    }[case]()
    with pytest.raises(InputError, match=message) as error:
        check_reference(np.asarray(samples, dtype=np.float32), "ref.wav")
    assert str(error.value).startswith("ref.wav")


@pytest.mark.parametrize(("content", "message"), [
    (b"", "is empty"),
    (b"this is a text file, not audio\n" * 20, "not a readable audio file"),
    (None, "holds no audio"),  # a WAV header and no samples
])
def test_unreadable_files_are_refused(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "sample.wav"
    if content is None:
        soundfile.write(str(path), np.zeros(0, np.float32), RATE)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        check_reference(load_reference(path), str(path))


def test_a_file_over_30_s_is_refused_while_reading(librivox: list[np.ndarray], tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    soundfile.write(str(path), _speech(librivox, 40.0), RATE)
    with pytest.raises(InputError, match="longer than 30 s"):
        load_reference(path)


def _write_mp3(path: Path, stereo: np.ndarray, rate: int) -> None:
    import av

    with av.open(str(path), "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(stereo.T), format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


@pytest.mark.parametrize("kind", ["8-bit stereo 44.1 kHz WAV", "MP3 stereo 44.1 kHz"])
def test_other_formats_are_converted(librivox: list[np.ndarray], embedder: object, tmp_path: Path,
                                     kind: str) -> None:
    import soxr

    original = np.concatenate(librivox[2:4])
    high = soxr.resample(original, RATE, 44100).astype(np.float32)
    stereo = np.stack([high, 0.8 * high], axis=1)
    if kind.startswith("MP3"):
        path = tmp_path / "sample.mp3"
        _write_mp3(path, stereo, 44100)
    else:
        path = tmp_path / "sample.wav"
        soundfile.write(str(path), stereo, 44100, subtype="PCM_U8")
        assert soundfile.info(str(path)).subtype == "PCM_U8"
    samples = load_reference(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert samples.size / RATE == pytest.approx(original.size / RATE, abs=0.1)
    check_reference(samples, str(path))
    similarity = embedder.similarity(embedder.embed(normalise_reference(samples)),  # type: ignore[attr-defined]
                                     embedder.embed(normalise_reference(original)))  # type: ignore[attr-defined]
    assert similarity > 0.9, f"{kind} converted to a different-sounding speaker ({similarity:.3f})"


def test_normalise_trims_silence_and_sets_the_level(librivox: list[np.ndarray]) -> None:
    quiet = np.concatenate([np.zeros(2 * RATE), 0.05 * librivox[0], np.zeros(2 * RATE)]).astype(np.float32)
    normal = normalise_reference(quiet)
    assert normal.size < quiet.size - 3 * RATE  # most of the 4 s of silence is gone
    assert np.abs(normal).max() <= 0.95 + 1e-6
    energy = frame_rms(normal)
    loud = energy[energy > energy.max() * 10 ** (-30 / 20)]
    level, peak = float(np.sqrt(np.mean(loud ** 2))), float(np.abs(normal).max())
    assert level == pytest.approx(0.1, rel=0.2) or (level < 0.1 and peak == pytest.approx(0.95, abs=1e-3))
    assert level > 0.05  # from 0.003: twenty times louder
