"""Speech as bytes in the formats clients ask for (the OpenAI speech API's set)."""

from __future__ import annotations

import io
from typing import Any, Literal

import numpy as np

AudioFormat = Literal["wav", "flac", "pcm", "mp3", "opus", "aac"]
MEDIA_TYPES: dict[str, str] = {
    "wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/L16", "mp3": "audio/mpeg", "opus": "audio/ogg",
    "aac": "audio/aac",
}
# (container, codec, sample rate the codec accepts)
_COMPRESSED = {"mp3": ("mp3", "mp3", None), "opus": ("ogg", "libopus", 48000), "aac": ("adts", "aac", None)}


def encode(samples: np.ndarray, sample_rate: int, audio_format: str) -> bytes:
    """Mono float32 samples as a complete file (pcm: raw 16-bit little-endian at `sample_rate`)."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if audio_format == "pcm":
        return (clipped * 32767).astype("<i2").tobytes()
    if audio_format in ("wav", "flac"):
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, clipped, sample_rate, format=audio_format.upper(),
                        subtype="PCM_16")
        return buffer.getvalue()
    return _compressed(clipped, sample_rate, audio_format)


def _compressed(samples: np.ndarray, sample_rate: int, audio_format: str) -> bytes:
    import av

    container_format, codec, codec_rate = _COMPRESSED[audio_format]
    if codec_rate and codec_rate != sample_rate:
        import soxr

        samples = np.asarray(soxr.resample(samples, sample_rate, codec_rate), dtype=np.float32)
        sample_rate = codec_rate
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=sample_rate)
        stream.layout = "mono"
        frame_size = 960 if codec == "libopus" else 1152
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=sample_rate)
        for start in range(0, max(samples.size, 1), frame_size):
            piece = samples[start:start + frame_size]
            frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = sample_rate
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
