"""What the tracks hand aiortc: Opus packets of the avatar's voice and video frames already in YUV 4:2:0."""

from __future__ import annotations

import asyncio
import fractions
import threading

import av
import numpy as np

from talker.realtime.playout import Playout
from talker.realtime.transport import FaceVideoTrack, PlayoutAudioTrack, to_i420


def test_rgb_becomes_the_yuv_the_encoder_would_have_made() -> None:
    y, x = np.mgrid[0:64, 0:96]  # smooth colour ramps: the two chroma subsamplers differ only on fine detail
    rgb = np.stack([x * 255 // 95, y * 255 // 63, (x + y) * 255 // 158], axis=-1).astype(np.uint8)
    ours = to_i420(rgb)
    theirs = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()
    assert ours.shape == theirs.shape == (96, 96)
    assert np.abs(ours[:64].astype(int) - theirs[:64].astype(int)).max() <= 2  # luma
    assert np.abs(ours[64:].astype(int) - theirs[64:].astype(int)).max() <= 4  # chroma
    frame = av.VideoFrame.from_ndarray(ours, format="yuv420p")
    assert (frame.width, frame.height) == (96, 64)


def test_the_voice_goes_out_as_opus_packets_that_decode_back_to_it() -> None:
    playout = Playout(48000)
    seconds = 0.6
    t = np.arange(round(48000 * seconds)) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    turn = playout.start_turn()
    assert playout.enqueue(turn, tone, 48000, "", ())
    playout.finish_turn(turn)
    sent: list[object] = []
    track = PlayoutAudioTrack(playout, sent.append)

    async def packets() -> list[av.Packet]:  # type: ignore[type-arg]
        return [await track.recv() for _ in range(40)]

    out = asyncio.run(packets())
    assert len(sent) == 40 and [p.pts for p in out] == [960 * i for i in range(40)]
    assert all(p.time_base == fractions.Fraction(1, 48000) for p in out)
    decoder = av.CodecContext.create("libopus", "r")
    frames = [frame for packet in out for frame in decoder.decode(av.Packet(bytes(packet)))]
    decoded = np.concatenate([_first_channel(frame) for frame in frames])
    heard = decoded[2400:round(48000 * seconds) - 2400]  # inside the tone, past the codec's delay
    level = float(np.sqrt(np.mean(np.square(heard))))
    assert 0.15 < level < 0.3, level  # the tone's RMS is 0.21
    spectrum = np.abs(np.fft.rfft(heard))
    assert abs(np.argmax(spectrum) * 48000 / heard.size - 330) < 10
    quiet = decoded[round(48000 * seconds) + 4800:]  # silence after the turn
    assert float(np.sqrt(np.mean(np.square(quiet)))) < 0.01


def _first_channel(frame: av.AudioFrame) -> np.ndarray:
    samples = frame.to_ndarray()
    first = samples[0] if frame.format.is_planar else samples.reshape(-1, len(frame.layout.channels))[:, 0]
    return first.astype(np.float32) / (32768.0 if samples.dtype == np.int16 else 1.0)


class _NumberedFace:
    """A stand-in face (plumbing): frame n is a flat grey of value 10 n; the frame `stuck` never finishes in time."""

    def __init__(self, stuck: int) -> None:
        self.drawn = 0
        self.stuck = stuck
        self.release = threading.Event()

    def first_frame(self) -> np.ndarray:
        return np.zeros((16, 16, 3), dtype=np.uint8)

    def frame(self, playout: Playout, lead: float = 0.0) -> np.ndarray:
        self.drawn += 1
        if self.drawn == self.stuck:
            self.release.wait(10)
        return np.full((16, 16, 3), 10 * self.drawn, dtype=np.uint8)


def test_the_face_track_sends_frames_drawn_ahead_and_repeats_the_last_image_when_one_is_late() -> None:
    face = _NumberedFace(stuck=3)
    track = FaceVideoTrack(face, Playout(48000), face.first_frame())

    async def frames() -> list[av.VideoFrame]:
        out = [await track.recv() for _ in range(4)]
        face.release.set()
        return out + [await track.recv() for _ in range(3)]

    try:
        out = asyncio.run(frames())
    finally:
        face.release.set()
        track.stop()
    assert [f.pts for f in out] == [3600 * i for i in range(7)]
    luma = [int(f.to_ndarray()[0, 0]) for f in out]
    grey = [int(to_i420(np.full((16, 16, 3), 10 * n, dtype=np.uint8))[0, 0]) for n in range(6)]
    # The first image, frames 1 and 2, then the stuck render: its ticks repeat frame 2. Once it is let go the
    # stream picks up at the tick it can still make, never showing a frame late.
    assert luma[:4] == [grey[0], grey[1], grey[2], grey[2]]
    assert track.stats.late >= 1 and track.stats.frames == 7
    assert luma[4:] == sorted(luma[4:]) and grey[3] not in luma[:4]
