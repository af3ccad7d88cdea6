"""MP4 writing with real PyAV encoding and decoding: durations, audio as master clock, content, failures."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from talker.errors import InputError
from talker.media.video import VideoInfo, VideoWriter, probe

FPS = 25
RATE = 24000
W, H = 128, 96


def pattern(index: int, width: int = W, height: int = H) -> np.ndarray:
    """A moving RGB test pattern."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([(2 * xx + 5 * index) % 256, (2 * yy + 3 * index) % 256, np.full_like(xx, 128)],
                    axis=-1).astype(np.uint8)


def tone(samples: int, start: int = 0, hz: float = 440.0) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * hz * np.arange(start, start + samples) / RATE)).astype(np.float32)


def write(path: Path, frames: int, audio: int, order: str = "video-first") -> VideoInfo:
    """Write `frames` pattern frames and `audio` tone samples in the given order, then probe."""
    with VideoWriter(path, W, H, fps=FPS, sample_rate=RATE) as writer:
        if order == "video-first":
            for i in range(frames):
                writer.write_frame(pattern(i))
            writer.write_audio(tone(audio))
        elif order == "audio-first":
            writer.write_audio(tone(audio))
            for i in range(frames):
                writer.write_frame(pattern(i))
        else:  # small interleaved pieces, not aligned to frames or AAC blocks
            piece, done, i = 333, 0, 0
            while i < frames or done < audio:
                if done < audio:
                    n = min(piece, audio - done)
                    writer.write_audio(tone(n, done))
                    done += n
                if i < frames and (i % 3 or done >= audio):
                    writer.write_frame(pattern(i))
                    i += 1
        assert writer.frames_written == frames
        assert writer.audio_seconds == pytest.approx(audio / RATE)
    return probe(path)


def assert_matched(info: VideoInfo, seconds: float) -> None:
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert (info.width, info.height, info.fps, info.sample_rate) == (W, H, FPS, RATE)
    assert info.video_duration == pytest.approx(seconds, abs=1 / FPS)
    assert info.audio_duration == pytest.approx(seconds, abs=0.05)
    assert abs(info.video_duration - info.audio_duration) <= 1 / FPS + 1e-9
    assert info.frames == round(info.video_duration * FPS)


def decode(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
    return frames, audio


def test_two_seconds_of_video_and_audio(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    info = write(path, frames=50, audio=2 * RATE)
    assert_matched(info, 2.0)
    assert info.frames == 50
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_moov_atom_is_at_the_front(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    write(path, frames=10, audio=RATE // 2)
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        boxes.append(kind)
        offset += size
    assert boxes[0] == b"ftyp"
    assert boxes.index(b"moov") < boxes.index(b"mdat")


@pytest.mark.parametrize("order", ["video-first", "audio-first", "interleaved"])
def test_video_is_padded_to_longer_audio(tmp_path: Path, order: str) -> None:
    path = tmp_path / "out.mp4"
    assert_matched(write(path, frames=30, audio=2 * RATE, order=order), 2.0)
    frames, _ = decode(path)
    assert len(frames) == 50
    # the padding repeats the last frame written
    assert np.abs(frames[-1].astype(int) - pattern(29).astype(int)).mean() < 4
    assert np.abs(frames[29].astype(int) - frames[-1].astype(int)).mean() < 2


@pytest.mark.parametrize("order", ["video-first", "audio-first", "interleaved"])
def test_video_is_cut_at_the_end_of_shorter_audio(tmp_path: Path, order: str) -> None:
    path = tmp_path / "out.mp4"
    assert_matched(write(path, frames=60, audio=RATE, order=order), 1.0)
    frames, _ = decode(path)
    assert len(frames) == 25
    assert np.abs(frames[-1].astype(int) - pattern(24).astype(int)).mean() < 4


def test_silence_is_written_when_no_audio_was_given(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    info = write(path, frames=40, audio=0)
    assert_matched(info, 1.6)
    _, audio = decode(path)
    assert np.abs(audio).max() < 1e-3


def test_black_video_when_only_audio_was_given(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    assert_matched(write(path, frames=0, audio=RATE, order="audio-first"), 1.0)
    frames, _ = decode(path)
    assert len(frames) == 25 and frames[0].mean() < 3


@pytest.mark.parametrize("video_first", [True, False])
def test_streams_are_interleaved_in_the_file_whatever_was_written_first(tmp_path: Path, video_first: bool) -> None:
    import av

    path = tmp_path / "out.mp4"
    seconds = 12  # longer than FFmpeg's own 10 s interleaving window
    with VideoWriter(path, 32, 32, fps=FPS, sample_rate=RATE) as writer:
        if not video_first:
            writer.write_audio(tone(seconds * RATE))
        frame = np.zeros((32, 32, 3), dtype=np.uint8)
        for _ in range(seconds * FPS):
            writer.write_frame(frame)
        if video_first:
            writer.write_audio(tone(seconds * RATE))
    with av.open(str(path)) as container:
        placed = sorted((packet.pos, float(packet.pts * packet.time_base))
                        for packet in container.demux() if packet.size and packet.pts is not None)
    times = [time for _, time in placed]
    latest = np.maximum.accumulate(times)
    assert (latest - np.array(times)).max() < 1.0


def test_decoded_colour_and_tone_match_what_was_written(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    colour = np.array([200, 60, 30], dtype=np.uint8)
    with VideoWriter(path, W, H, fps=FPS, sample_rate=RATE) as writer:
        for _ in range(25):
            writer.write_frame(np.broadcast_to(colour, (H, W, 3)))
        writer.write_audio(tone(RATE))
    frames, audio = decode(path)
    mean = frames[12].reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - colour).max() < 4, mean
    segment = audio[RATE // 4:RATE // 4 + 16384].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size)))
    peak = np.argmax(spectrum) * RATE / segment.size
    assert peak == pytest.approx(440, abs=5)


def test_an_error_inside_the_block_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, W, H) as writer:
        for i in range(10):
            writer.write_frame(pattern(i))
        writer.write_audio(tone(RATE))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_survives_a_failed_write(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    with pytest.raises(InputError), VideoWriter(path, W, H) as writer:
        writer.write_frame(np.zeros((H, W), dtype=np.uint8))
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_nothing_written_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no video frames and no audio"), VideoWriter(tmp_path / "out.mp4", W, H):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("width", "height"), [(127, 96), (128, 95), (0, 96), (128, 0), (-2, 96)])
def test_invalid_sizes_are_refused(tmp_path: Path, width: int, height: int) -> None:
    with pytest.raises(InputError, match="positive even"):
        VideoWriter(tmp_path / "out.mp4", width, height)


@pytest.mark.parametrize("options", [{"fps": 0}, {"sample_rate": 23000}, {"crf": 60}, {"preset": "fastest"},
                                     {"threads": 0}])
def test_invalid_options_are_refused(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(InputError):
        VideoWriter(tmp_path / "out.mp4", W, H, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("frame", [
    np.zeros((H, W), dtype=np.uint8),
    np.zeros((W, H, 3), dtype=np.uint8),
    np.zeros((H, W, 4), dtype=np.uint8),
    np.zeros((H, W, 3), dtype=np.float32),
    [[0]],
])
def test_bad_frames_are_refused(tmp_path: Path, frame: np.ndarray) -> None:
    with pytest.raises(InputError, match="uint8 RGB"), VideoWriter(tmp_path / "out.mp4", W, H) as writer:
        writer.write_frame(frame)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("samples", "message"), [
    (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
    (np.array([0.0, np.inf], dtype=np.float32), "NaN or infinite"),
    (np.zeros((10, 2), dtype=np.float32), "1-D float"),
    (np.zeros(10, dtype=np.int16), "1-D float"),
])
def test_bad_audio_is_refused(tmp_path: Path, samples: np.ndarray, message: str) -> None:
    with pytest.raises(InputError, match=message), VideoWriter(tmp_path / "out.mp4", W, H) as writer:
        writer.write_audio(samples)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"), VideoWriter(tmp_path / "nope" / "out.mp4", W, H):
        pass


def test_writing_outside_the_block_is_a_programming_error(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", W, H)
    with pytest.raises(RuntimeError, match="not open"):
        writer.write_frame(pattern(0))


def test_probe_refuses_missing_and_non_media_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        probe(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match="not a readable media file"):
        probe(junk)


def test_process_writer_matches_the_in_process_writer(tmp_path: Path) -> None:
    from talker.media.encoder_process import ProcessVideoWriter

    frames = [np.full((96, 128, 3), (i * 5) % 255, np.uint8) for i in range(50)]
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 24000)).astype(np.float32)
    for name, writer_type in (("in.mp4", VideoWriter), ("out.mp4", ProcessVideoWriter)):
        with writer_type(tmp_path / name, 128, 96, 25, 24000) as writer:
            writer.write_audio(tone)
            for frame in frames:
                writer.write_frame(frame)
    assert (tmp_path / "in.mp4").read_bytes() == (tmp_path / "out.mp4").read_bytes()


def test_process_writer_failure_leaves_no_file_and_no_child(tmp_path: Path) -> None:
    from talker.media.encoder_process import ProcessVideoWriter

    target = tmp_path / "broken.mp4"
    with pytest.raises(ValueError, match="render failed"), ProcessVideoWriter(target, 64, 64) as writer:
        writer.write_frame(np.zeros((64, 64, 3), np.uint8))
        raise ValueError("render failed")
    assert not target.exists() and not list(tmp_path.iterdir())
    assert not writer._process.is_alive()
    with pytest.raises(InputError, match="shape"), ProcessVideoWriter(tmp_path / "x.mp4", 64, 64) as writer:
        writer.write_frame(np.zeros((32, 64, 3), np.uint8))
    assert not list(tmp_path.iterdir())
