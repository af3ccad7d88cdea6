"""A Python client of `talker.realtime/1` (docs/REALTIME.md): what the web page does, for programs and benches.

It makes a session over the REST API, connects over WebRTC with a microphone track that plays the clips it
is given at real time (silence in between), and collects the server's events and the avatar's audio levels,
each stamped with `time.monotonic()` on arrival.

    async with RealtimeClient("http://127.0.0.1:8000", key) as client:
        await client.start(avatar_id, language="en")
        client.microphone.play(samples_48k)
        event = await client.inbox.wait_for(lambda e: e["type"] == "latency", within=30)
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import queue
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from talker.realtime.transport import AUDIO_RATE, CHANNEL, FRAME_SECONDS, PROTOCOL

FRAME = round(AUDIO_RATE * FRAME_SECONDS)
_LOUD_DB = -40.0  # a microphone frame at least this loud is speech, for the clip's start and end marks


class ClientError(RuntimeError):
    """The server refused a request or the connection did not come up."""


@dataclass
class Clip:
    """Audio the microphone plays; `started`/`ended` are when its first and last loud frames were sent."""

    samples: np.ndarray
    started: float | None = None
    ended: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Microphone(MediaStreamTrack):
    """48 kHz mono: queued clips one after another at real time, silence when there is none."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._clips: deque[Clip] = deque()
        self._offset = 0
        self._count = 0
        self._start: float | None = None
        self._time_base = fractions.Fraction(1, AUDIO_RATE)

    def play(self, samples_48k: np.ndarray) -> Clip:
        """Queue a clip (float32 in [-1, 1]); it starts after those queued before it."""
        clip = Clip(np.asarray(samples_48k, dtype=np.float32).reshape(-1))
        self._clips.append(clip)
        return clip

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._count * FRAME_SECONDS - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        pcm = np.zeros(FRAME, dtype=np.float32)
        if self._clips:
            self._fill(pcm)
        frame = av.AudioFrame.from_ndarray(
            np.round(np.clip(pcm, -1, 1) * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._count * FRAME
        frame.time_base = self._time_base
        self._count += 1
        return frame

    def _fill(self, pcm: np.ndarray) -> None:
        clip = self._clips[0]
        piece = clip.samples[self._offset:self._offset + FRAME]
        pcm[:piece.size] = piece
        self._offset += FRAME
        now = time.monotonic()
        if piece.size and 10 * np.log10(float(np.mean(np.square(piece))) + 1e-12) >= _LOUD_DB:
            clip.started = clip.started or now
            clip.ended = now + FRAME_SECONDS
        if self._offset >= clip.samples.size:
            self._clips.popleft()
            self._offset = 0
            clip.done.set()


class Inbox:
    """The server's events in order of arrival, each with `_at` (monotonic seconds)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    def add(self, event: dict[str, Any]) -> None:
        event["_at"] = time.monotonic()
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], within: float,
                       since: int = 0) -> dict[str, Any]:
        """The first event from index `since` on that matches, waiting up to `within` seconds."""
        return self.events[await self.first(predicate, within, since)]

    async def first(self, predicate: Callable[[dict[str, Any]], bool], within: float, since: int = 0) -> int:
        """The index of the first event from `since` on that matches, waiting up to `within` seconds."""
        async def scan() -> int:
            while True:
                for index in range(since, len(self.events)):
                    if predicate(self.events[index]):
                        return index
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(scan(), within)
        except TimeoutError:
            raise TimeoutError(f"no such event within {within} s; got {[e.get('type') for e in self.events]}") \
                from None


@dataclass
class Levels:
    """The avatar's audio as received: (monotonic arrival, RMS) per 20 ms, and video frames decoded."""

    audio: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=50 * 600))
    video_frames: int = 0
    video_size: tuple[int, int] | None = None

    def loud_since(self, moment: float, rms: float = 0.005) -> bool:
        return any(at >= moment and level > rms for at, level in self.audio)


class RealtimeClient:
    """One conversation with a talker server. `decode_video=False` skips decoding the avatar's video (benches
    that run many clients on the server's own machine); its packets still arrive and are counted by the server."""

    def __init__(self, url: str, key: str | None = None, decode_video: bool = True) -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.AsyncClient(base_url=url, headers=headers, timeout=120.0)
        self._decode_video = decode_video
        self.microphone = Microphone()
        self.inbox = Inbox()
        self.levels = Levels()
        self.session: dict[str, Any] | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: Any = None
        self._readers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RealtimeClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await self.close()

    @property
    def session_id(self) -> str:
        if self.session is None:
            raise ClientError("no session yet: call start() first")
        return str(self.session["id"])

    async def start(self, avatar: str, voice: str | None = None, language: str | None = None,
                    within: float = 60.0) -> dict[str, Any]:
        """Make a session, connect, exchange hellos; returns the server's hello."""
        body = {"avatar": avatar, **({"voice": voice} if voice else {}), **({"language": language} if language else {})}
        response = await self._http.post("/v1/realtime/sessions", json=body)
        if response.status_code != 201:
            raise ClientError(f"the session was refused ({response.status_code}): {response.text[:300]}")
        self.session = response.json()
        pc = self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("track", self._on_track)
        self._channel = pc.createDataChannel(CHANNEL)
        self._channel.on("message", self._on_message)
        self._channel.on("open", lambda: self._send({"type": "hello", "protocol": PROTOCOL,
                                                     "client": "talker-python/1"}))
        pc.addTrack(self.microphone)
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        response = await self._http.post(f"/v1/realtime/sessions/{self.session_id}/offer",
                                         json={"type": "offer", "sdp": pc.localDescription.sdp})
        if response.status_code != 200:
            raise ClientError(f"the offer was refused ({response.status_code}): {response.text[:300]}")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=response.json()["sdp"], type="answer"))
        return await self.inbox.wait_for(lambda e: e.get("type") == "hello", within)

    async def say(self, text: str) -> None:
        """Type a message, as the page's text box does."""
        self._send({"type": "text", "text": text})

    async def interrupt(self) -> None:
        self._send({"type": "interrupt"})

    async def info(self) -> dict[str, Any]:
        """The session's resource (state, turns, the last answer's latency)."""
        response = await self._http.get(f"/v1/realtime/sessions/{self.session_id}")
        response.raise_for_status()
        return dict(response.json())

    async def close(self) -> None:
        """Say bye, delete the session and close the connection (idempotent)."""
        if self._channel is not None and self._channel.readyState == "open":
            self._send({"type": "bye"})
        if self.session is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._http.delete(f"/v1/realtime/sessions/{self.session_id}")
        for task in self._readers:
            task.cancel()
        if self._pc is not None:
            await self._pc.close()
            self._pc = None
        self.microphone.stop()
        await self._http.aclose()

    def _send(self, event: dict[str, Any]) -> None:
        if self._channel is None or self._channel.readyState != "open":
            raise ClientError("the data channel is not open")
        self._channel.send(json.dumps(event, ensure_ascii=False))

    def _on_message(self, message: str | bytes) -> None:
        with contextlib.suppress(ValueError):
            event = json.loads(message)
            if isinstance(event, dict):
                self.inbox.add(event)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and not self._decode_video and self._pc is not None:
            _skip_decoding(self._pc, track)
        self._readers.append(asyncio.ensure_future(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.AudioFrame):
                pcm = frame.to_ndarray().astype(np.float32) / 32768.0
                self.levels.audio.append((time.monotonic(), float(np.sqrt(np.mean(np.square(pcm))))))
            elif isinstance(frame, av.VideoFrame):
                self.levels.video_frames += 1
                self.levels.video_size = (frame.width, frame.height)


class _Discarding(queue.Queue[Any]):
    """A decoder queue that lets only the end-of-stream marker through."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)


def _skip_decoding(pc: RTCPeerConnection, track: MediaStreamTrack) -> None:
    """Stop aiortc decoding a received video track. aiortc has no switch for it; its receiver's decoder queue
    (aiortc 1.16, a private attribute) is swapped before the decoder thread starts, which is when the
    connection comes up, after the `track` event."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if receiver.track is track and hasattr(receiver, "_RTCRtpReceiver__decoder_queue"):
            receiver._RTCRtpReceiver__decoder_queue = _Discarding()
