"""Audio files: streaming WAV output and reading any common format as mono float32."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from talker.errors import InputError
from talker.media.files import atomic_output


class WavStream:
    """Append-only 16-bit PCM WAV writing, chunk by chunk, so long texts keep memory flat."""

    def __init__(self, sound_file: object, sample_rate: int) -> None:
        self._file = sound_file
        self.sample_rate = sample_rate
        self.frames = 0

    def write(self, samples: np.ndarray, sample_rate: int) -> None:
        if sample_rate != self.sample_rate:
            raise ValueError(f"chunk at {sample_rate} Hz written to a {self.sample_rate} Hz file")
        self._file.write(np.clip(samples, -1.0, 1.0))  # type: ignore[attr-defined]
        self.frames += len(samples)

    def write_at(self, samples: np.ndarray, sample_rate: int, pts: float) -> None:
        """Write `samples` to start at `pts` seconds, filling any gap before it with silence."""
        gap = round(pts * self.sample_rate) - self.frames
        if gap > 0:
            self.write(np.zeros(gap, dtype=np.float32), sample_rate)
        self.write(samples, sample_rate)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


@contextlib.contextmanager
def wav_writer(path: Path, sample_rate: int, channels: int = 1) -> Iterator[WavStream]:
    """Write a WAV file that appears at `path` only when complete."""
    import soundfile

    with atomic_output(path) as raw, soundfile.SoundFile(
        raw, mode="w", samplerate=sample_rate, channels=channels, format="WAV", subtype="PCM_16"
    ) as sound:
        yield WavStream(sound, sample_rate)


def read_audio(path: Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples of an audio file, resampled to `sample_rate` when given."""
    import soundfile

    if not path.is_file():
        raise InputError(f"audio file {path} does not exist")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as error:
        raise InputError(f"{path} is not a readable audio file ({error}); use WAV, FLAC, OGG or MP3") from error
    samples = data.mean(axis=1).astype(np.float32)
    if sample_rate is not None and rate != sample_rate and samples.size:
        import soxr

        samples = np.asarray(soxr.resample(samples, rate, sample_rate), dtype=np.float32)
        rate = sample_rate
    return samples, int(rate)
