"""Real-time sessions end to end: a Python WebRTC client talks to the live server over loopback.

The client speaks a LibriVox sentence into its microphone track, then silence; the server hears it (partial
and final transcripts), answers with the echo LLM through Kokoro, and sends the spoken answer and the video.
Then the session is deleted and everything it held is gone. Signalling, the limit and owner isolation are
checked over HTTP like any other route.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from talker.config import Settings
from talker.models.kit import ModelKit
from talker.realtime.client import Inbox
from tests.live_server import serving

SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
PORTRAIT = Path(__file__).resolve().parents[2] / "src" / "talker" / "data" / "sample_portrait.jpg"
LIMIT = 2

pytestmark = pytest.mark.models


@dataclass(frozen=True)
class Live:
    url: str
    key_a: str
    key_b: str
    manager: Any  # the server's RealtimeSessions (same process)

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=60.0)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, settings: Settings, kit: ModelKit) -> Iterator[Live]:
    """The app under uvicorn with the echo LLM and a limit of two conversations; ICE on 127.0.0.1 only."""
    from talker.server.app import create_app, keys_path
    from talker.server.keys import KeyStore

    own = settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("realtime-data"),
        "llm": settings.llm.model_copy(update={"backend": "echo"}),
        "server": settings.server.model_copy(update={"realtime_sessions": LIMIT, "rate_per_minute": 10_000}),
    })
    store = KeyStore(keys_path(own))
    _, key_a = store.create("alice")
    _, key_b = store.create("bob")
    store.close()
    app = create_app(own, require_keys=True)
    with serving(app, loopback_ice=True) as url:
        yield Live(url, key_a, key_b, app.state.talker.extras["realtime"])


@pytest.fixture(scope="module")
def avatar(live: Live) -> str:
    with httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.key_a}"}, timeout=60) as http:
        response = http.post("/v1/avatars", content=PORTRAIT.read_bytes(), params={"name": "sample"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# ------------------------------------------------------------------------------------------------ client


def speech_48k() -> np.ndarray:
    import soundfile as sf
    import soxr

    audio, rate = sf.read(SPEECH, dtype="float32")
    lead = np.zeros(rate // 2, dtype=np.float32)  # half a second of room before the sentence
    return np.asarray(soxr.resample(np.concatenate([lead, audio]), rate, 48000), dtype=np.float32)


def speech_end(samples: np.ndarray) -> int:
    """Where the speech in `samples` (48 kHz) ends: after the last 20 ms frame above -40 dBFS."""
    frames = samples[:samples.size // 960 * 960].reshape(-1, 960)
    loud = np.flatnonzero(10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12) > -40)
    return int(loud[-1] + 1) * 960


def microphone_track(samples: np.ndarray) -> Any:
    """A client microphone playing `samples` at real time, then silence for ever; `speech_ended` is when
    (time.monotonic) the last frame of speech was handed to the sender."""
    import av
    from aiortc.mediastreams import MediaStreamTrack

    class Microphone(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._count = 0
            self._start: float | None = None
            self._end = speech_end(samples)
            self.speech_ended: float | None = None

        async def recv(self) -> av.AudioFrame:
            loop = asyncio.get_running_loop()
            self._start = self._start or loop.time()
            wait = self._start + self._count * 0.02 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            piece = samples[self._count * 960:(self._count + 1) * 960]
            pcm = np.zeros(960, dtype=np.int16)
            pcm[:piece.size] = np.round(piece * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = 48000
            frame.pts = self._count * 960
            frame.time_base = fractions.Fraction(1, 48000)
            self._count += 1
            if self.speech_ended is None and self._count * 960 >= self._end:
                self.speech_ended = time.monotonic()
            return frame

    return Microphone()


async def read_track(track: Any, inbox: Inbox) -> None:
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if track.kind == "audio":
            pcm = frame.to_ndarray().astype(np.float32) / 32768.0
            level = float(np.sqrt(np.mean(np.square(pcm))))
            if level > 0.005:
                inbox.add({"type": "_audio", "rms": level})
        else:
            inbox.add({"type": "_video", "width": frame.width, "height": frame.height})


async def connect(live: Live, session_id: str, inbox: Inbox) -> tuple[Any, Any, list[asyncio.Task[None]], Any]:
    """The browser's part of the protocol: microphone, data channel, receive-only audio and video, offer."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    readers: list[asyncio.Task[None]] = []
    pc.on("track", lambda track: readers.append(asyncio.ensure_future(read_track(track, inbox))))
    channel = pc.createDataChannel("talker")
    channel.on("message", lambda message: inbox.add(json.loads(message)))
    microphone = microphone_track(speech_48k())
    pc.addTrack(microphone)
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with live.client(live.key_a) as http:
        response = await http.post(f"/v1/realtime/sessions/{session_id}/offer",
                                   json={"type": "offer", "sdp": pc.localDescription.sdp})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["type"] == "answer" and "a=candidate" in answer["sdp"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return pc, channel, readers, microphone


def decoder_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "talker-asr-decoder")


# ------------------------------------------------------------------------------------------------ tests


async def test_a_spoken_question_is_heard_answered_and_the_session_freed(live: Live, avatar: str) -> None:
    threads_before = decoder_threads()
    async with live.client(live.key_a) as http:
        response = await http.post("/v1/realtime/sessions", json={"avatar": avatar, "language": "en"})
        assert response.status_code == 201, response.text
        created = response.json()
        assert created["id"].startswith("rt_") and len(created["id"]) == 19
        assert created["ice_servers"] == [] and created["idle_timeout"] == 120
        assert created["voice"] == "af_heart"
    session_id = created["id"]
    server_session = live.manager.find(session_id)
    inbox = Inbox()
    pc, channel, readers, microphone = await connect(live, session_id, inbox)
    try:
        hello = inbox.events[await inbox.first(lambda e: e["type"] == "hello", 20)]
        assert hello["protocol"] == "talker.realtime/1" and hello["session"] == session_id
        assert hello["audio"] == {"codec": "opus", "rate": 48000} and hello["video"]["fps"] == 25
        channel.send(json.dumps({"type": "hello", "protocol": "talker.realtime/1", "client": "pytest/1"}))

        await inbox.first(lambda e: e["type"] == "_video", 20)
        partial = await inbox.first(lambda e: e["type"] == "transcript" and not e["final"], 30)
        final = await inbox.first(lambda e: e["type"] == "transcript" and e["final"], 30)
        heard = inbox.events[final]
        assert heard["source"] == "speech" and "disposed" in heard["text"].lower(), heard
        assert partial < final
        answer = await inbox.first(lambda e: e["type"] == "answer", 30)
        assert "disposed" in inbox.events[answer]["text"].lower()  # the echo LLM says the question back
        loud = await inbox.first(lambda e: e["type"] == "_audio", 30)
        # The opener may go out before the final transcript (when the words sound finished), never before the
        # user has stopped speaking.
        assert inbox.events[loud]["_at"] > microphone.speech_ended, "the avatar made sound while the user spoke"
        latency = inbox.events[await inbox.first(lambda e: e["type"] == "latency", 30)]
        assert latency["first_audio_sent_ms"] >= latency["first_audio_ready_ms"] >= 0
        assert latency["opener"] is True  # "Well," while the answer is made
        assert latency["answer_audio_sent_ms"] >= latency["answer_audio_ready_ms"] >= latency["first_piece_ms"] >= 0
        assert latency["answer_audio_sent_ms"] > latency["first_audio_sent_ms"]
        await inbox.first(lambda e: e["type"] == "state" and e["state"] == "listening", 30)
        video = [e for e in inbox.events if e["type"] == "_video"]
        assert (video[-1]["width"], video[-1]["height"]) == (hello["video"]["width"], hello["video"]["height"])
        assert len(video) > 25, "about a second of video or more"

        turns = server_session.conversation.turns
        heard_ms = (inbox.events[loud]["_at"] - microphone.speech_ended) * 1000
        transport = server_session.transport
        print(f"\nend of turn known → {server_session.conversation.latency(turns[0])}; end of the client's speech → "
              f"first loud answer audio at the client: {heard_ms:.0f} ms; server audio {transport.audio.stats}, "
              f"video {transport.video.stats}")

        async with live.client(live.key_a) as http:
            listed = (await http.get("/v1/realtime/sessions")).json()
            assert [s["id"] for s in listed] == [session_id] and listed[0]["connection"] == "connected"
            assert listed[0]["turns"] == 1 and listed[0]["latency"]["first_audio_sent_ms"] > 0
            assert (await http.delete(f"/v1/realtime/sessions/{session_id}")).status_code == 204
            assert (await http.get("/v1/realtime/sessions")).json() == []
            history = (await http.get(f"/v1/chat/sessions/{listed[0]['memory_session']}")).json()["history"]
            assert [turn["role"] for turn in history] == ["user", "assistant"]
        assert len(live.manager) == 0
        assert server_session.transport.pc.connectionState == "closed"
        assert server_session.transport.audio.readyState == "ended"
        assert server_session.transport.video.readyState == "ended"
        assert decoder_threads() <= threads_before
    finally:
        await pc.close()
        for reader in readers:
            reader.cancel()


async def test_typed_text_is_answered_and_can_be_stopped(live: Live, avatar: str) -> None:
    async with live.client(live.key_a) as http:
        created = (await http.post("/v1/realtime/sessions", json={"avatar": avatar, "voice": "af_heart"})).json()
    inbox = Inbox()
    pc, channel, readers, _ = await connect(live, created["id"], inbox)
    try:
        await inbox.first(lambda e: e["type"] == "hello", 20)
        channel.send(json.dumps({"type": "future-thing"}))  # ignored
        channel.send(json.dumps({"type": "text", "text": "Please tell me a long story about the sea and ships."}))
        await inbox.first(lambda e: e["type"] == "transcript" and e.get("source") == "typed", 20)
        await inbox.first(lambda e: e["type"] == "state" and e["state"] == "speaking", 30)
        channel.send(json.dumps({"type": "interrupt"}))
        cut = inbox.events[await inbox.first(lambda e: e["type"] == "interrupted", 20)]
        assert cut["reason"] == "stopped" and cut["heard_chars"] >= 0
        channel.send(json.dumps({"type": "bye"}))
        async with live.client(live.key_a) as http:
            for _ in range(200):  # bye closes the session on the server: wait for it (bounded)
                if len(live.manager) == 0:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get("/v1/realtime/sessions")).json() == []
        assert len(live.manager) == 0
    finally:
        await pc.close()
        for reader in readers:
            reader.cancel()


async def test_limit_owners_and_bad_requests(live: Live, avatar: str) -> None:
    async with live.client(live.key_a) as alice, live.client(live.key_b) as bob:
        assert (await alice.post("/v1/realtime/sessions", json={"avatar": "av_0000000000000000"})).status_code == 422
        unknown = await alice.post("/v1/realtime/sessions", json={"avatar": avatar, "voice": "no_such_voice"})
        assert unknown.status_code == 422 and "voice" in unknown.json()["detail"]
        assert (await alice.post("/v1/realtime/sessions", json={"avatar": avatar, "language": "fr"})).status_code \
            == 422
        assert (await bob.post("/v1/realtime/sessions", json={"avatar": avatar})).status_code == 422  # not bob's

        ids = []
        for _ in range(LIMIT):
            response = await alice.post("/v1/realtime/sessions", json={"avatar": avatar})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        full = await alice.post("/v1/realtime/sessions", json={"avatar": avatar})
        assert full.status_code == 503
        assert full.json()["detail"] == f"the server is at its limit of {LIMIT} conversations; try again shortly"

        offer = {"type": "offer", "sdp": "v=0\r\n"}
        assert (await bob.post(f"/v1/realtime/sessions/{ids[0]}/offer", json=offer)).status_code == 404
        assert (await bob.delete(f"/v1/realtime/sessions/{ids[0]}")).status_code == 404
        assert (await bob.get(f"/v1/realtime/sessions/{ids[0]}")).status_code == 404
        assert (await bob.get("/v1/realtime/sessions")).json() == []
        assert (await alice.get(f"/v1/realtime/sessions/{ids[0]}")).json()["connection"] == "waiting"

        bad = await alice.post(f"/v1/realtime/sessions/{ids[0]}/offer", json=offer)  # not an SDP offer
        assert bad.status_code == 400, bad.text
        assert (await alice.get(f"/v1/realtime/sessions/{ids[0]}")).status_code == 404  # it ended
        assert (await alice.delete(f"/v1/realtime/sessions/{ids[1]}")).status_code == 204
        assert (await alice.delete(f"/v1/realtime/sessions/{ids[1]}")).status_code == 404
        assert (await alice.get("/v1/realtime/sessions")).json() == []
    assert len(live.manager) == 0


async def test_an_idle_session_is_closed(live: Live, avatar: str) -> None:
    live.manager.idle_timeout = 0.5
    try:
        async with live.client(live.key_a) as http:
            session_id = (await http.post("/v1/realtime/sessions", json={"avatar": avatar})).json()["id"]
            for _ in range(200):  # the reaper looks every idle_timeout / 4 (bounded wait)
                if live.manager.find(session_id) is None:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get(f"/v1/realtime/sessions/{session_id}")).status_code == 404
    finally:
        live.manager.idle_timeout = 120.0
    assert len(live.manager) == 0


async def test_closing_the_peer_connection_ends_the_session(live: Live, avatar: str) -> None:
    async with live.client(live.key_a) as http:
        session_id = (await http.post("/v1/realtime/sessions", json={"avatar": avatar})).json()["id"]
    inbox = Inbox()
    pc, _, readers, _ = await connect(live, session_id, inbox)
    await inbox.first(lambda e: e["type"] == "hello", 20)
    started = time.monotonic()
    await pc.close()
    for reader in readers:
        reader.cancel()
    for _ in range(600):  # bounded wait: the server notices the closed connection
        if live.manager.find(session_id) is None:
            break
        await asyncio.sleep(0.05)
    assert live.manager.find(session_id) is None
    print(f"\nsession ended {time.monotonic() - started:.2f} s after the client closed its connection")
