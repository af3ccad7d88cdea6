"""MP4 output (H.264 + AAC) with audio as the master clock, and a probe to read such files back."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from talker.errors import InputError
from talker.media.files import atomic_output

if TYPE_CHECKING:
    from av.audio.stream import AudioStream
    from av.container import OutputContainer
    from av.packet import Packet
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream

#: Sample rates the AAC encoder accepts.
AAC_SAMPLE_RATES = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
AUDIO_BIT_RATE = 128_000
_SILENCE_CHUNK = 1 << 14  # samples of silence encoded at a time when the caller wrote no audio


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a media file holds; codecs are None and numbers 0 for a missing stream."""

    video_codec: str | None
    audio_codec: str | None
    width: int
    height: int
    fps: float
    video_duration: float
    audio_duration: float
    frames: int
    sample_rate: int


class _TempReader:
    """A read-only view of the file being written, with its own position (MP4 `+faststart` re-reads the output)."""

    def __init__(self, writer: IO[bytes]) -> None:
        self._writer = writer
        self._fd = writer.fileno()
        self._pos = 0

    def read(self, size: int) -> bytes:
        self._writer.flush()
        data = os.pread(self._fd, size, self._pos)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_END:
            self._writer.flush()
            offset += os.fstat(self._fd).st_size
        elif whence == os.SEEK_CUR:
            offset += self._pos
        self._pos = offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        """The writer owns the file descriptor; nothing to release."""


class VideoWriter:
    """Context manager. Frames (RGB uint8, H×W×3, even W and H) and audio (mono float32 at sample_rate) are fed
    in any interleaving; the file at `path` appears only when the writer closes without error.

    Audio is the master clock: on close the video is padded with its last frame, or cut after the audio's end,
    so both streams last the same time to within one frame. Frames and audio are encoded as they come; the
    compressed packets of whichever stream runs ahead are held until the other catches up (video frames the
    audio never reaches are dropped), so memory grows only with that lead, by a few kB per frame or 16 kB per
    second of audio.
    """

    def __init__(self, path: Path, width: int, height: int, fps: int = 25, sample_rate: int = 24000,
                 crf: int = 20, preset: str = "veryfast", threads: int = 1) -> None:
        for name, size in (("width", width), ("height", height)):
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0 or size % 2:
                raise InputError(f"video {name} must be a positive even number of pixels, not {size!r}")
        if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 240:
            raise InputError(f"video frame rate must be a whole number of frames per second (1-240), not {fps!r}")
        if sample_rate not in AAC_SAMPLE_RATES:
            raise InputError(f"AAC audio cannot be written at {sample_rate} Hz; use one of "
                             + ", ".join(str(rate) for rate in AAC_SAMPLE_RATES))
        if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
            raise InputError(f"H.264 quality (crf) must be a whole number from 0 to 51, not {crf!r}")
        if preset not in X264_PRESETS:
            raise InputError(f"unknown H.264 preset {preset!r}; use one of {', '.join(X264_PRESETS)}")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InputError(f"encoder threads must be at least 1, not {threads!r}")
        self.path = Path(path)
        self.width, self.height, self.fps, self.sample_rate = width, height, fps, sample_rate
        self.crf, self.preset, self.threads = crf, preset, threads
        self._output: contextlib.AbstractContextManager[IO[bytes]] | None = None
        self._container: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._audio: AudioStream | None = None
        self._used = False
        self._frames = 0  # frames given to the encoder (the caller's, then padding)
        self._samples = 0  # audio samples received (the caller's, then silence)
        self._encoded_samples = 0
        self._pending = np.zeros(0, dtype=np.float32)  # < one AAC frame of audio not encoded yet
        self._frame_size = 1024
        self._last: VideoFrame | None = None
        # Encoded packets wait here until the other stream has caught up, so the file is interleaved whatever the
        # order of writes, and video past the audio's end can still be dropped.
        self._held_video: collections.deque[Packet[Any]] = collections.deque()
        self._held_audio: collections.deque[Packet[Any]] = collections.deque()
        self._video_limit = 0  # video packets with pts (frames) below this are muxed: the audio has reached them
        self._audio_limit: int | None = 0  # audio packets with pts (samples) below this are muxed; None: all

    @property
    def frames_written(self) -> int:
        """Video frames written so far; after a successful close, the number of frames in the file."""
        return self._frames

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio received so far."""
        return self._samples / self.sample_rate

    def __enter__(self) -> VideoWriter:
        if self._used:
            raise RuntimeError("a VideoWriter can be entered only once")
        self._used = True
        output = atomic_output(self.path)
        raw = output.__enter__()
        try:
            self._open(raw)
        except BaseException as error:
            output.__exit__(type(error), error, error.__traceback__)
            raise
        self._output = output
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        output, self._output = self._output, None
        if output is None:
            return
        try:
            if exc is None:
                try:
                    self._finish()
                except BaseException as error:
                    output.__exit__(type(error), error, error.__traceback__)
                    raise
                output.__exit__(None, None, None)
            else:
                output.__exit__(exc_type, exc, tb)  # removes the temp file; the exception goes on
        finally:
            # After a failure the temp file is closed already, so PyAV skips the trailer.
            container, self._container = self._container, None
            if container is not None:
                with contextlib.suppress(Exception):
                    container.close()
            self._held_video.clear()
            self._held_audio.clear()
            self._last = None

    def write_frame(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 frame of shape (height, width, 3)."""
        import av

        video = self._require_open()[1]
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.shape != (self.height, self.width, 3):
            got = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
            raise InputError(f"video frame must be a uint8 RGB array of shape ({self.height}, {self.width}, 3), "
                             f"got a {got}")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")  # a copy: kept to pad the video at the end
        self._encode_frame(video, frame)
        self._last = frame

    def write_audio(self, samples: np.ndarray) -> None:
        """Encode mono float samples in [-1, 1] at the writer's sample rate (louder samples are clipped)."""
        self._require_open()
        if not isinstance(samples, np.ndarray) or samples.ndim != 1 or samples.dtype.kind != "f":
            got = (f"{samples.dtype} array of shape {samples.shape}" if isinstance(samples, np.ndarray)
                   else type(samples).__name__)
            raise InputError(f"audio must be a 1-D float array of mono samples, got a {got}")
        if not np.isfinite(samples).all():
            raise InputError("audio contains NaN or infinite samples; check the synthesis output")
        self._add_audio(np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False))

    # internals

    def _require_open(self) -> tuple[OutputContainer, VideoStream, AudioStream]:
        if self._container is None or self._video is None or self._audio is None:
            raise RuntimeError("VideoWriter is not open; use it in a `with` block")
        return self._container, self._video, self._audio

    def _open(self, raw: IO[bytes]) -> None:
        import av
        from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

        def reopen_for_reading(url: str, flags: int, options: dict[str, str]) -> _TempReader:
            return _TempReader(raw)

        container = av.open(raw, mode="w", format="mp4", options={"movflags": "+faststart"},
                            io_open=reopen_for_reading)
        try:
            video = container.add_stream("libx264", rate=self.fps)
            video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
            video.time_base = Fraction(1, self.fps)
            context = video.codec_context
            context.time_base = Fraction(1, self.fps)
            context.thread_count = self.threads
            context.max_b_frames = 0  # decode order = display order, so surplus frames can be cut off the end
            context.options = {"crf": str(self.crf), "preset": self.preset}
            # swscale's RGB → YUV default is BT.601 limited range; say so in the stream.
            context.colorspace, context.color_range = Colorspace.SMPTE170M, ColorRange.MPEG
            context.color_primaries, context.color_trc = ColorPrimaries.SMPTE170M, ColorTrc.SMPTE170M
            audio = container.add_stream("aac", rate=self.sample_rate, layout="mono")
            audio.time_base = Fraction(1, self.sample_rate)
            audio.codec_context.bit_rate = AUDIO_BIT_RATE
            container.start_encoding()  # opens the encoders now, so setup errors come before any work
        except BaseException:
            with contextlib.suppress(Exception):
                container.close()
            raise
        self._frame_size = audio.codec_context.frame_size or 1024
        self._container, self._video, self._audio = container, video, audio

    def _encode_frame(self, video: VideoStream, frame: VideoFrame) -> None:
        frame.pts = self._frames
        frame.time_base = Fraction(1, self.fps)
        self._held_video.extend(video.encode(frame))
        self._frames += 1
        self._audio_limit = self._frames * self.sample_rate // self.fps if self._audio_limit is not None else None
        self._release()

    def _release(self) -> None:
        """Mux the held packets the other stream has caught up with."""
        container = self._require_open()[0]
        while self._held_video and (self._held_video[0].pts or 0) < self._video_limit:
            container.mux(self._held_video.popleft())
        while self._held_audio and (self._audio_limit is None or (self._held_audio[0].pts or 0) < self._audio_limit):
            container.mux(self._held_audio.popleft())

    def _add_audio(self, samples: np.ndarray) -> None:
        audio = self._require_open()[2]
        if not samples.size:
            return
        data = np.concatenate((self._pending, samples)) if self._pending.size else samples
        received = self._samples - self._pending.size  # samples before `data`
        self._samples += samples.size
        full = data.size - data.size % self._frame_size
        for start in range(0, full, self._frame_size):
            self._encode_audio(audio, data[start:start + self._frame_size])
            self._video_limit = (received + start + self._frame_size) * self.fps // self.sample_rate
            self._release()
        self._pending = data[full:].copy()
        self._video_limit = self._samples * self.fps // self.sample_rate
        self._release()

    def _encode_audio(self, audio: AudioStream, chunk: np.ndarray) -> None:
        import av

        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk)[np.newaxis, :], format="fltp", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._encoded_samples
        frame.time_base = Fraction(1, self.sample_rate)
        self._held_audio.extend(audio.encode(frame))
        self._encoded_samples += chunk.size

    def _finish(self) -> None:
        """Match the video's length to the audio's, flush both encoders and write the trailer."""
        import av

        container, video, audio = self._require_open()
        if not self._frames and not self._samples:
            raise InputError(f"nothing to write to {self.path}: no video frames and no audio were given")
        if self._samples:
            target = max(1, (2 * self._samples * self.fps + self.sample_rate) // (2 * self.sample_rate))
        else:
            target = self._frames
            silence = np.zeros(_SILENCE_CHUNK, dtype=np.float32)
            remaining = (2 * self._frames * self.sample_rate + self.fps) // (2 * self.fps)
            while remaining:
                step = min(remaining, silence.size)
                self._add_audio(silence[:step])
                remaining -= step
        if self._last is None:
            black = np.zeros((self.height, self.width, 3), dtype=np.uint8)
            self._last = av.VideoFrame.from_ndarray(black, format="rgb24")
        while self._frames < target:
            self._encode_frame(video, self._last)
        self._video_limit = target
        self._held_video.extend(video.encode(None))
        self._release()
        self._held_video.clear()  # frames past the audio's end
        if self._pending.size:
            self._encode_audio(audio, self._pending)  # a short last frame: AAC pads it, the edit list trims
            self._pending = self._pending[:0]
        self._held_audio.extend(audio.encode(None))
        self._audio_limit = None
        self._release()
        self._frames = target
        self._container = None
        container.close()


def probe(path: Path) -> VideoInfo:
    """Codecs, size, rate, durations and frame count of a media file, read with PyAV."""
    import av

    if not Path(path).is_file():
        raise InputError(f"media file {path} does not exist")
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            info = VideoInfo(
                video_codec=video.codec_context.name if video else None,
                audio_codec=audio.codec_context.name if audio else None,
                width=video.codec_context.width if video else 0,
                height=video.codec_context.height if video else 0,
                fps=float(video.average_rate or video.guessed_rate or 0) if video else 0.0,
                video_duration=_seconds(video.duration, video.time_base) if video else 0.0,
                audio_duration=_seconds(audio.duration, audio.time_base) if audio else 0.0,
                frames=video.frames if video else 0,
                sample_rate=audio.codec_context.sample_rate if audio else 0,
            )
    except av.FFmpegError as error:
        raise InputError(f"{path} is not a readable media file ({error})") from error
    return info


def _seconds(duration: int | None, time_base: Fraction | None) -> float:
    return float(duration * time_base) if duration is not None and time_base is not None else 0.0
