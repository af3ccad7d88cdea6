"""WebRTC for one real-time conversation (aiortc): the avatar's audio and video out, the microphone in, JSON both ways.

The server answers the client's offer once its ICE candidates are gathered (no trickle) and never contacts
a STUN server: it is meant for a LAN or loopback. Audio is the master clock: the audio track hands out one
20 ms frame of the `Playout` per tick, paced at real time, silence between turns. The video track shows the
face at the audio's current position, 25 times a second, drawn ahead on a thread of its own; a frame
that is not ready in time is replaced by the previous one, so rendering can only cost video frames, never audio.
The data channel `talker` carries the protocol of `docs/REALTIME.md`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talker.realtime.conversation import Conversation
from talker.realtime.drawahead import DrawAhead, Position
from talker.realtime.playout import AudioFrame, Playout

log = logging.getLogger("talker.realtime")

PROTOCOL = "talker.realtime/1"
CHANNEL = "talker"
AUDIO_RATE = 48000
OPUS_BITRATE = 48000  # bits per second, mono: clear speech with room to spare
FRAME_SECONDS = 0.02
VIDEO_FPS = 25
RENDER_GRACE = 0.005  # seconds a tick waits for a frame drawn ahead that is not quite ready
VIDEO_CLOCK = 90000
MIC_RATE = 16000
MAX_TEXT_CHARS = 4000  # what the dialogue engine accepts
_RESYNC_AFTER = 0.2  # seconds behind real time after which the audio clock stops catching up in a burst
_OUTBOX_LIMIT = 256  # events kept while the data channel is not open yet
_OFFSETS_KEPT = 30_000  # A/V offsets remembered (20 minutes of speech at 25 fps)


class Face(Protocol):
    """What draws the avatar: an RGB uint8 image for the playout's current position."""

    def first_frame(self) -> np.ndarray: ...

    def frame(self, playout: Playout, lead: float = 0.0) -> np.ndarray: ...


@dataclass
class TrackStats:
    """What a track did (for benches and logs)."""

    frames: int = 0
    late: int = 0  # video: frames shown again because the render was late
    resyncs: int = 0  # audio: times the clock stopped catching up after a stall
    # video, while the avatar speaks: seconds of speech the audio track had sent when each frame went out,
    # minus the speech position the frame shows (how far the picture trails the sound)
    av_offsets: deque[float] = field(default_factory=lambda: deque(maxlen=_OFFSETS_KEPT))


class PlayoutAudioTrack(MediaStreamTrack):
    """The avatar's voice: the playout's 20 ms frames, Opus-encoded here (mono), paced at real time.

    The track hands aiortc encoded packets, which it sends as they are: its own encoder would run each 20 ms
    frame through a thread pool, and those round trips, not the encoding (0.2 ms), are what let the audio of
    several sessions fall behind real time on a busy machine.
    """

    kind = "audio"

    def __init__(self, playout: Playout, on_sent: Callable[[AudioFrame], None]) -> None:
        super().__init__()
        if playout.sample_rate != AUDIO_RATE or playout.frame_samples != round(AUDIO_RATE * FRAME_SECONDS):
            raise ValueError("the playout must hand out 20 ms frames at 48 kHz")
        self._playout = playout
        self._on_sent = on_sent
        self._start: float | None = None
        self._count = 0
        self._encoder: Any = None
        self.stats = TrackStats()
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._count * FRAME_SECONDS
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -_RESYNC_AFTER:  # the loop stalled: carry on from now rather than send a burst
            self._start -= wait
            self.stats.resyncs += 1
        frame = self._playout.next_frame()
        packet = self._encode(frame.samples)
        self._count += 1
        self.stats.frames += 1
        self._on_sent(frame)
        return packet

    def _encode(self, samples: np.ndarray) -> av.Packet[Any]:
        """One 20 ms frame as one Opus packet, stamped with its place on the track's clock."""
        if self._encoder is None:
            encoder = av.CodecContext.create("libopus", "w")
            encoder.bit_rate, encoder.format, encoder.layout = OPUS_BITRATE, "s16", "mono"
            encoder.sample_rate, encoder.time_base = AUDIO_RATE, self._time_base
            encoder.options = {"application": "audio"}  # the avatar's voice is speech, but synthesised cleanly
            self._encoder = encoder
        pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.time_base = AUDIO_RATE, self._time_base
        frame.pts = self._count * self._playout.frame_samples
        packets = self._encoder.encode(frame)  # libopus returns each 20 ms frame's packet at once
        packet = packets[0] if packets else av.Packet(b"")
        packet.pts = self._count * self._playout.frame_samples
        packet.time_base = self._time_base
        return packet


class FaceVideoTrack(MediaStreamTrack):
    """The avatar's face at 25 fps, drawn ahead (`talker.realtime.drawahead`): each tick sends the frame drawn
    during the last period for where the audio is at this tick. A frame that is not ready in time is replaced
    by the previous image, so rendering can only cost video frames, never audio."""

    kind = "video"

    def __init__(self, face: Face, playout: Playout, first: np.ndarray, fps: int = VIDEO_FPS) -> None:
        super().__init__()
        self._face = face
        self._playout = playout
        self._fps = fps
        self._image = to_i420(first)  # what the encoder takes: converting here spares it a slower conversion
        self._shown: Position | None = None  # the playout position the current image shows
        self._ahead: DrawAhead | None = None
        self._count = 0
        self.stats = TrackStats()
        self._time_base = fractions.Fraction(1, VIDEO_CLOCK)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._ahead is None:
            self._ahead = DrawAhead(self._draw, self._fps, time.monotonic(), asyncio.get_running_loop())
        wait = self._ahead.due(self._count) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -1.0 / self._fps:  # behind by more than a frame: skip the ticks that are already past
            self._count += int(-wait * self._fps)
        if self._count > 0:
            drawn = self._ahead.take(self._count) or await self._ahead.wait(self._count, RENDER_GRACE)
            if drawn is not None:
                self._image, self._shown = drawn.image, drawn.shows
            else:
                self.stats.late += 1
        self._measure_offset()
        out = av.VideoFrame.from_ndarray(self._image, format="yuv420p")
        out.pts = self._count * VIDEO_CLOCK // self._fps
        out.time_base = self._time_base
        self._count += 1
        self.stats.frames += 1
        return out

    def _draw(self, lead: float) -> tuple[np.ndarray, Position | None]:
        position = self._playout.position()
        image = to_i420(self._face.frame(self._playout, lead))
        return image, None if position is None else (position[0], position[1] + lead)

    def _measure_offset(self) -> None:
        sounding, shown = self._playout.position(), self._shown
        if sounding is not None and shown is not None and sounding[0] == shown[0]:
            self.stats.av_offsets.append(sounding[1] - shown[1])

    def stop(self) -> None:
        super().stop()
        if self._ahead is not None:
            self._ahead.stop()


def sendonly_slot(pc: RTCPeerConnection, kind: str) -> RTCRtpTransceiver | None:
    """The client's receive-only transceiver of `kind` (no track comes from the client on it), if it made one."""
    for transceiver in pc.getTransceivers():
        if transceiver.kind == kind and transceiver.sender.track is None and transceiver.receiver.track is None:
            return transceiver
    return None


def shorten_jitter_buffer(pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
    """Hand the microphone's packets to the decoder as they arrive (talker.realtime.micbuffer): aiortc's audio
    jitter buffer holds each one back until the next has come (and four more by default), which delayed hearing
    both the end of the user's speech and a barge-in.
    aiortc 1.16 has no setting for it: its receiver's buffer (a private attribute) is replaced before the first
    packet arrives."""
    from talker.realtime.micbuffer import MicrophoneBuffer

    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if receiver.track is track and hasattr(receiver, "_RTCRtpReceiver__jitter_buffer"):
            receiver._RTCRtpReceiver__jitter_buffer = MicrophoneBuffer()


def to_i420(rgb: np.ndarray) -> np.ndarray:
    """An RGB image as planar YUV 4:2:0 (BT.601, video range), what the VP8 encoder takes. OpenCV converts in
    0.2 ms what the encoder's own conversion takes 1.4 ms for (512 × 512)."""
    import cv2

    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420))


def level_db(samples: np.ndarray) -> float:
    """RMS level in dBFS (-120 for silence)."""
    if samples.size == 0:
        return -120.0
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return 10.0 * float(np.log10(max(power, 1e-12)))


class OfferError(ValueError):
    """The client's offer cannot be answered (malformed SDP, nothing we can send or receive)."""


class PeerTransport:
    """One peer connection: tracks, the microphone reader, the data channel and the protocol on it.

    `activity` is called on every client message and every microphone frame louder than `speech_db`;
    `closed` once when the peer connection fails or closes, or the client says bye.
    """

    def __init__(self, conversation: Conversation, face: Face, first_frame: np.ndarray, hello: dict[str, Any],
                 activity: Callable[[], None], closed: Callable[[str], Awaitable[None]],
                 speech_db: float = -45.0, on_audio_sent: Callable[[AudioFrame], None] | None = None) -> None:
        self.conversation = conversation
        self._on_audio_sent = on_audio_sent
        self._face = face
        self._first_frame = first_frame
        self._hello = hello
        self._activity = activity
        self._closed = closed
        self._speech_db = speech_db
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.pc: RTCPeerConnection | None = None
        self.audio: PlayoutAudioTrack | None = None
        self.video: FaceVideoTrack | None = None
        self._channel: RTCDataChannel | None = None
        self._outbox: deque[dict[str, Any]] = deque(maxlen=_OUTBOX_LIMIT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._ending = False
        self.client: str | None = None
        self.mic_seconds = 0.0

    @property
    def state(self) -> str:
        """waiting (no offer yet), or the peer connection's state."""
        return "waiting" if self.pc is None else self.pc.connectionState

    # ----------------------------------------------------------------------------------------- signalling

    async def answer(self, sdp: str) -> str:
        """Answer the client's offer; the answer carries every ICE candidate (gathering is complete)."""
        if self.pc is not None:
            raise RuntimeError("this session already has a peer connection")
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("datachannel", self._on_channel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as error:  # aiortc raises ValueError, InternalError, … for a bad or unusable SDP
            raise OfferError(f"the offer could not be used ({error or type(error).__name__})") from None
        if not pc.getTransceivers() and not pc.sctp:
            raise OfferError("the offer has neither media nor a data channel")
        playout = self.conversation.playout
        self.audio = PlayoutAudioTrack(playout, self._on_frame_sent)
        self.video = FaceVideoTrack(self._face, playout, self._first_frame)
        for track in (self.audio, self.video):
            slot = sendonly_slot(pc, track.kind)
            if slot is not None:
                slot.sender.replaceTrack(track)
                slot.direction = "sendrecv"
            else:
                pc.addTrack(track)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # aiortc gathers every candidate here
        return pc.localDescription.sdp

    # ----------------------------------------------------------------------------------------- media

    def _on_frame_sent(self, frame: AudioFrame) -> None:
        if self._on_audio_sent is not None:
            self._on_audio_sent(frame)
        self.conversation.on_frame_sent(frame.turn, frame.speech)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self.pc is not None:
            shorten_jitter_buffer(self.pc, track)
        reader = self._read_microphone(track) if track.kind == "audio" else self._discard(track)
        self._spawn(reader)

    async def _read_microphone(self, track: MediaStreamTrack) -> None:
        """The client's microphone → 16 kHz mono float32 → the conversation."""
        resampler = av.AudioResampler(format="flt", layout="mono", rate=MIC_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            for part in resampler.resample(frame):
                samples = np.ascontiguousarray(part.to_ndarray(), dtype=np.float32).reshape(-1)
                self.mic_seconds += samples.size / MIC_RATE
                if level_db(samples) >= self._speech_db:
                    self._activity()
                try:
                    await self.conversation.hear(samples)
                except Exception:
                    log.exception("hearing the microphone failed")
                    self.send({"type": "error", "detail": "the server could not process the microphone audio"})
                    return

    async def _discard(self, track: MediaStreamTrack) -> None:
        """Media we do not use (a camera) is read and dropped, so it does not pile up."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    def _on_state(self) -> None:
        if self.pc is not None and self.pc.connectionState in ("failed", "closed") and not self._ending:
            self._spawn(self._closed(f"connection {self.pc.connectionState}"))

    # ----------------------------------------------------------------------------------------- data channel

    def _on_channel(self, channel: RTCDataChannel) -> None:
        if channel.label != CHANNEL or self._channel is not None:
            return
        self._channel = channel
        channel.on("message", self._on_message)
        self._deliver(self._hello)
        while self._outbox:
            self._deliver(self._outbox.popleft())

    def send(self, event: dict[str, Any]) -> None:
        """Send an event to the client (from any thread); held until the data channel opens."""
        if threading.get_ident() != self._loop_thread:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
                self._loop.call_soon_threadsafe(self.send, event)
            return
        if self._channel is None:
            self._outbox.append(event)
        else:
            self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        try:
            channel.send(json.dumps(event, ensure_ascii=False))
        except Exception:  # closing under our feet: the event is lost with the connection
            log.debug("could not send %s", event.get("type"))

    def _on_message(self, message: str | bytes) -> None:
        self._activity()
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            self.send({"type": "error", "detail": "messages must be JSON objects (see talker.realtime/1)"})
            return
        if not isinstance(event, dict):
            self.send({"type": "error", "detail": "messages must be JSON objects (see talker.realtime/1)"})
            return
        self._spawn(self._handle(event))

    async def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "hello":
            self.client = str(event.get("client", ""))[:100]
            if event.get("protocol") != PROTOCOL:
                self.send({"type": "error", "detail": f"this server speaks {PROTOCOL}; "
                                                      f"got {str(event.get('protocol'))[:40]!r}"})
        elif kind == "text":
            text = event.get("text")
            if not isinstance(text, str) or not text.strip():
                self.send({"type": "error", "detail": "a text message needs non-empty `text`"})
            elif len(text) > MAX_TEXT_CHARS:
                self.send({"type": "error", "detail": f"the message has {len(text)} characters; "
                                                      f"at most {MAX_TEXT_CHARS}"})
            else:
                await self.conversation.say(text.strip())
        elif kind == "interrupt":
            if self.conversation.state != "listening" or self.conversation.playout.speaking:
                await self.conversation.interrupt(reason="stopped")
        elif kind == "bye":
            await self._closed("bye")
        # other types: ignored (forward compatible)

    # ----------------------------------------------------------------------------------------- lifetime

    def _spawn(self, work: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("real-time session task failed")

        task = self._loop.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the tracks and tasks and close the peer connection (idempotent)."""
        self._ending = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for track in (self.audio, self.video):
            if track is not None:
                track.stop()
        if self.pc is not None:
            await self.pc.close()
        self._channel = None
