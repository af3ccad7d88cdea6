"""Decoding any audio file (WAV of any bit depth, FLAC, MP3, Opus, M4A…) to mono float32 at one rate.

Files are decoded as a stream of blocks, so a two-hour recording never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from talker.errors import InputError

_FORMATS_HINT = "use WAV, FLAC, OGG/Opus, MP3 or M4A"


def audio_blocks(path: Path, sample_rate: int = 16000, block_seconds: float = 1.0) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks of about `block_seconds` at `sample_rate`, converting whatever the file holds."""
    import av

    container = _open(path)
    try:
        streams = container.streams.audio
        if not streams:
            raise InputError(f"{path} holds no audio track; {_FORMATS_HINT}")
        # Channels are averaged here rather than by FFmpeg's downmix, which sums stereo at -3 dB (louder).
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        block = max(int(block_seconds * sample_rate), 1)
        pending: list[np.ndarray] = []
        pending_length = 0
        for frame in _frames(container, streams[0], path):
            for converted in resampler.resample(frame):
                pending.append(_samples(converted))
                pending_length += pending[-1].size
            while pending_length >= block:
                joined = np.concatenate(pending)
                yield joined[:block]
                pending, pending_length = [joined[block:]], joined.size - block
        for converted in resampler.resample(None):
            pending.append(_samples(converted))
        rest = np.concatenate(pending) if pending else np.zeros(0, np.float32)
        if rest.size:
            yield rest
    finally:
        container.close()


def audio_duration(path: Path) -> float | None:
    """The file's length in seconds when its header says (None if it does not); errors if it is not audio."""
    container = _open(path)
    try:
        if not container.streams.audio:
            raise InputError(f"{path} holds no audio track; {_FORMATS_HINT}")
        stream = container.streams.audio[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return container.duration / 1_000_000 if container.duration else None
    finally:
        container.close()


def load_audio(path: Path, sample_rate: int = 16000, max_seconds: float | None = None) -> np.ndarray:
    """All of a (short) file as mono float32; longer than `max_seconds` is an error, not a truncation."""
    blocks: list[np.ndarray] = []
    total = 0
    for block in audio_blocks(path, sample_rate):
        blocks.append(block)
        total += block.size
        if max_seconds is not None and total > max_seconds * sample_rate:
            raise InputError(f"{path} is longer than {max_seconds:g} s; trim it or use a streaming command")
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def _open(path: Path) -> Any:
    import av

    if not path.is_file():
        raise InputError(f"audio file {path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes); record or export the audio again")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise InputError(f"{path} is not a readable audio file ({_reason(error)}); {_FORMATS_HINT}") from None


def _frames(container: Any, stream: Any, path: Path) -> Iterator[Any]:
    import av

    try:
        yield from container.decode(stream)
    except av.error.EOFError:
        return  # a header promising more data than the file holds: keep what was there
    except av.error.FFmpegError as error:
        raise InputError(f"{path} is damaged ({_reason(error)}); export it again") from None


def _samples(frame: Any) -> np.ndarray:
    planes = np.asarray(frame.to_ndarray(), dtype=np.float32)
    return planes.mean(axis=0) if planes.shape[0] > 1 else planes.reshape(-1)


def _reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error).strip() or type(error).__name__
