"""Live real-time sessions: one conversation and one peer connection each, per owner, capped, closed when idle.

A session is made in two steps, as the protocol does it: `create` builds the conversation (the owner's
dialogue engine and a fresh memory session, the owner's synthesizer with the chosen voice, a live
transcriber on the process-wide Whisper and VAD, the avatar's face) and `offer` answers the client's
WebRTC offer. Everything runs on the server's event loop; the heavy set-up runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from talker import __version__
from talker.heap import settle
from talker.realtime.playout import Playout
from talker.server.problems import Problem, not_found, unknown_voice, unprocessable
from talker.threads import background_pool, lower_priority

if TYPE_CHECKING:
    from talker.config import Settings
    from talker.realtime.conversation import Conversation
    from talker.realtime.transport import Face, PeerTransport

log = logging.getLogger("talker.realtime")

ID_PREFIX = "rt_"
VIDEO_SIZE = 512  # longest side of the video, pixels
_WARM_UP = {"zh": "你好。", "en": "Hello."}
OPENERS = {"zh": "嗯，", "en": "Well,"}
SYNTHESIS_LEAD = 3.0  # seconds of an answer's speech synthesised ahead of what is playing (a sentence or two)
INFERENCE_THREADS = 16  # recognition and speech of all live sessions (most of them wait, not compute)
SPEECH_DB = -45.0  # a microphone frame at least this loud (dBFS) counts as the user being there


# ---------------------------------------------------------------------------------------------- the face


def load_face(settings: Settings, portrait: Path) -> Face:
    """The face that speaks in the video (called in a worker thread; `frame` is then called from one render
    thread): the portrait animated at the audio's position (talker.realtime.animator)."""
    from talker.realtime.animator import Animator

    return Animator(analyse(settings, portrait), fps=25)


def analyse(settings: Settings, portrait: Path) -> Any:
    """The avatar's photo at video size with its face analysis (MediaPipe; cached by the image's hash)."""
    from talker.face.portrait import create_analyzer

    with create_analyzer(settings) as analyzer:
        return analyzer.analyze(portrait, VIDEO_SIZE)


# ---------------------------------------------------------------------------------------------- parts


class GuardedHearing:
    """The live transcriber, safe to close while a feed is in flight on a worker thread.

    `Conversation.close` calls `close()` on the event loop; joining the decoder thread there could stall the
    audio for a whole Whisper decode, so that call only stops feeding, and the session calls `shutdown()`
    from a worker thread.
    """

    def __init__(self, transcriber: Any) -> None:
        self._transcriber = transcriber
        self._lock = threading.Lock()
        self._closed = False

    def feed(self, samples: np.ndarray) -> list[Any]:
        with self._lock:
            if self._closed:
                return []
            return list(self._transcriber.feed(samples))

    def collect(self) -> list[Any]:
        with self._lock:
            if self._closed:
                return []
            return list(self._transcriber.collect())

    def close(self) -> None:
        self._closed = True

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
        self._transcriber.close()


class _EmptyReply:
    """An answer that says nothing (the question could not be answered; the client was told why)."""

    text = ""

    async def pieces(self) -> AsyncIterator[str]:
        return
        yield  # pragma: no cover - makes this an async generator

    def cancel(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def finish(self, heard_chars: int | None = None) -> None:
        pass


class _SafeReply:
    """A reply whose failure mid-answer ends the answer (with an error event) instead of the conversation."""

    def __init__(self, reply: Any, report: Any) -> None:
        self._reply = reply
        self._report = report

    @property
    def text(self) -> str:
        return str(self._reply.text)

    async def pieces(self) -> AsyncIterator[str]:
        try:
            async for piece in self._reply.pieces():
                yield piece
        except Exception as error:
            self._report(error)

    def cancel(self) -> None:
        self._reply.cancel()

    def commit(self) -> None:
        self._reply.commit()

    def finish(self, heard_chars: int | None = None) -> None:
        self._reply.finish(heard_chars)


class SafeEngine:
    """The owner's dialogue engine as the conversation sees it: errors become `error` events, not dead turns."""

    def __init__(self, engine: Any, report: Any) -> None:
        self._engine = engine
        self._report = report

    def ask(self, session_id: str, text: str) -> Any:
        reply = self.prepare(session_id, text)
        reply.commit()
        return reply

    def prepare(self, session_id: str, text: str) -> Any:
        try:
            return _SafeReply(self._engine.prepare(session_id, text), self._report)
        except Exception as error:
            self._report(error)
            return _EmptyReply()


class Speaker:
    """The owner's synthesizer speaking answer pieces in one voice (called in worker threads).

    Without a chosen voice, the first piece's language picks it and it stays for the session, so a mixed
    answer does not switch voices between sentences.
    """

    def __init__(self, synthesizer: Any, voice: str | None, report: Any) -> None:
        self._synthesizer = synthesizer
        self.voice = voice
        self.report = report
        self._openers: dict[tuple[str, str], Any] = {}
        self._fallback_voice: dict[str, str] = {}  # language → the voice answers take while none is chosen

    def make_openers(self, languages: list[str]) -> None:
        """Speak the openers ahead, in the voice each language's answers will use (a worker thread)."""
        from talker.errors import TalkerError

        for language in languages:
            voice = self.voice or self._synthesizer.voice(None, language).id
            if self.voice is None:
                self._fallback_voice[language] = voice
            try:
                chunk = next(iter(self._synthesizer.stream(OPENERS[language], voice=voice)), None)
            except TalkerError as error:
                log.warning("the %s opener could not be spoken: %s", language, error)
                continue
            self._openers[voice, language] = chunk

    def _openers_for_voice(self) -> None:
        """The session's voice was just chosen (by its first answer): make the openers it lacks in that voice,
        on a thread of their own, so the next answers in either language open in the same voice."""
        missing = [language for language in OPENERS if (self.voice, language) not in self._openers]
        if self._openers and missing:
            threading.Thread(target=self._make_openers_in_background, args=(missing,), name="talker-openers",
                             daemon=True).start()

    def _make_openers_in_background(self, languages: list[str]) -> None:
        lower_priority()
        self.make_openers(languages)

    def opener(self, language: str) -> Any:
        """The opener made ahead for `language` in the voice the answer will use (None: none, say nothing)."""
        voice = self.voice or self._fallback_voice.get(language)
        return self._openers.get((voice, language)) if voice else None

    def __call__(self, piece: str) -> Iterator[Any]:
        from talker.errors import InputError
        from talker.onnx import HaltedError

        try:
            for chunk in self._synthesizer.stream(piece, voice=self.voice):
                if self.voice is None and getattr(chunk, "voice", None):
                    self.voice = str(chunk.voice)
                    self._openers_for_voice()
                yield chunk
        except InputError:
            return  # nothing speakable in this piece (marks, emoji)
        except HaltedError:
            raise  # the answer was dropped: its conversation knows
        except Exception as error:
            self.report(error)


# ---------------------------------------------------------------------------------------------- sessions


@dataclass
class RealtimeSession:
    """One live conversation of one owner."""

    id: str
    owner: str
    avatar: str
    voice: str | None
    language: str | None
    memory_session: str
    created: float
    conversation: Conversation
    hearing: GuardedHearing
    transport: PeerTransport
    face: Face
    last_activity: float = field(default_factory=time.monotonic)
    closed: bool = False

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    @property
    def state(self) -> str:
        """waiting (for the offer), new, connecting, connected, failed or closed."""
        return "closed" if self.closed else self.transport.state


@dataclass
class _Parts:
    portrait: Path
    voice: str | None
    synthesizer: Any
    transcriber: Any
    decoder: Any  # the transcriber's ThreadDecoder
    engine: Any
    memory_session: str
    face: Face
    first_frame: np.ndarray
    speaker: Speaker


class RealtimeSessions:
    """The live sessions of every owner. `state` is the server's `ServerState`."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self.settings: Settings = state.settings
        self.limit = self.settings.server.realtime_sessions
        self.idle_timeout = self.settings.server.realtime_idle_timeout
        self._sessions: dict[str, RealtimeSession] = {}
        self._reserved = 0  # sessions being built (they count against the limit)
        self._reaper: asyncio.Task[None] | None = None
        self._warm: set[str] = set()
        # Recognition, speech synthesis and session set-up of every live session, below the audio's priority.
        self._pool = background_pool(INFERENCE_THREADS, "talker-inference")

    def __len__(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------------------------------ create

    async def create(self, owner: str, avatar_id: str, voice: str | None = None,
                     language: str | None = None) -> RealtimeSession:
        """A new session for `owner` (422 for an unknown avatar or voice, 503 at the limit)."""
        if importlib.util.find_spec("aiortc") is None:
            raise Problem(503, "Service unavailable", "real-time conversations need aiortc on the server; "
                          "install talker[server]")
        if len(self._sessions) + self._reserved >= self.limit:
            raise Problem(503, "Service unavailable", f"the server is at its limit of {self.limit} conversations; "
                          "try again shortly", headers={"Retry-After": "10"})
        self._reserved += 1
        try:
            parts = await asyncio.get_running_loop().run_in_executor(
                self._pool, self._build, owner, avatar_id, voice, language)
            try:
                session = self._assemble(owner, avatar_id, language, parts)
            except BaseException:
                await asyncio.to_thread(parts.transcriber.close)
                raise
        finally:
            self._reserved -= 1
        self._sessions[session.id] = session
        self._ensure_reaper()
        log.info("real-time session %s for %s started", session.id, owner)
        return session

    def _build(self, owner: str, avatar_id: str, voice: str | None, language: str | None) -> _Parts:
        """The heavy part of a new session (a worker thread): look up, check and load what it needs."""
        from talker.asr.streaming import StreamingTranscriber, ThreadDecoder
        from talker.errors import InputError
        from talker.server.routes_media import avatar_dir, find_stored
        from talker.server.services import owner_settings

        settings = self.settings
        try:
            portrait, _ = find_stored(avatar_dir(settings, owner), avatar_id, "av_", "avatar")
        except Problem:
            raise unprocessable(f"avatar {avatar_id} does not exist; upload it first") from None
        if not portrait.is_file():
            raise unprocessable(f"avatar {avatar_id} has no photo any more; upload it again")
        synthesizer = self._state.services.synthesizer(owner_settings(settings, owner))
        try:
            if voice is not None:
                voice = synthesizer.voice(voice, language or "zh").id
            elif language is not None:
                voice = synthesizer.voice(None, language).id
        except InputError:
            if voice is None:
                raise
            raise unknown_voice(voice) from None
        speaker = Speaker(synthesizer, voice, report=lambda error: None)  # the session's report is wired later
        if settings.server.realtime_opener:  # speaking them also warms up the TTS for each language
            speaker.make_openers([language] if language else ["zh", "en"])
        else:
            self._warm_up(synthesizer, voice, language)
        face = load_face(settings, portrait)
        first = face.first_frame()
        services = self._state.services
        recognizer = services.recognizer()
        recognizer.load()  # the first words should not wait for Whisper to load
        detector = services.vad().detector(settings.asr.vad)
        # The conversation answers the words; their timings would only make each decode slower.
        decoder = ThreadDecoder(recognizer, language or settings.asr.language)
        transcriber = StreamingTranscriber(detector, decoder,
                                           settings.asr.model_copy(update={"word_timestamps": False}))
        try:
            mind = _minds(self._state).get(owner)
            try:  # once per process, before any audio is live: loading stalls the whole process
                mind.engine.warm()
            except Exception as error:  # each answer will say what is wrong
                log.warning("the LLM could not be loaded ahead of the first question: %s", error)
            memory_session = mind.memory.create_session(owner=owner)
        except BaseException:
            transcriber.close()
            raise
        settle()  # the models just loaded stay out of every later garbage collection (talker.heap)
        return _Parts(portrait, voice, synthesizer, transcriber, decoder, mind.engine, memory_session, face, first,
                      speaker)

    def _warm_up(self, synthesizer: Any, voice: str | None, language: str | None) -> None:
        """Speak a word in each language the session may answer in, once per process and language, so the
        first answer does not wait for the TTS model, its phonemizers and dictionaries to load (seconds)."""
        from talker.errors import TalkerError

        for lang in [language] if language else ["zh", "en"]:
            if lang in self._warm:
                continue
            try:
                list(synthesizer.stream(_WARM_UP[lang], voice=voice))
            except TalkerError as error:  # the first answer will report it
                log.warning("warming up speech (%s) failed: %s", lang, error)
            self._warm.add(lang)

    def _assemble(self, owner: str, avatar_id: str, language: str | None, parts: _Parts) -> RealtimeSession:
        """Wire the parts together on the event loop."""
        from talker.realtime.conversation import Conversation
        from talker.realtime.transport import PROTOCOL, VIDEO_FPS, PeerTransport
        from talker.realtime.watch import BargeInWatch

        session_id = ID_PREFIX + secrets.token_hex(8)
        holder: dict[str, RealtimeSession] = {}

        def emit(event: dict[str, Any]) -> None:
            if "session" in holder:
                holder["session"].transport.send(event)

        def report(error: BaseException) -> None:
            from talker.errors import TalkerError

            if isinstance(error, TalkerError):
                detail = str(error)
            else:
                log.error("real-time session %s: %s", session_id, error, exc_info=error)
                detail = "the answer failed on the server; it has been logged"
            emit({"type": "error", "detail": _scrub(self.settings, detail)})

        hearing = GuardedHearing(parts.transcriber)
        playout = Playout(48000)
        # Barge-in has its own VAD state: the transcriber's detector is busy following the user's turns.
        watch = BargeInWatch(self._state.services.vad().detector(self.settings.asr.vad).probability, playout)
        parts.speaker.report = report
        conversation = Conversation(SafeEngine(parts.engine, report), parts.memory_session, parts.speaker, playout,
                                    emit, hearing=hearing, interrupter=watch, opener=parts.speaker.opener,
                                    pool=self._pool, synthesis_lead=SYNTHESIS_LEAD)
        loop = asyncio.get_running_loop()
        parts.decoder.on_done = lambda: loop.call_soon_threadsafe(conversation.decoded)
        height, width = parts.first_frame.shape[:2]
        hello = {"type": "hello", "protocol": PROTOCOL, "session": session_id, "server": __version__,
                 "audio": {"codec": "opus", "rate": 48000},
                 "video": {"fps": VIDEO_FPS, "width": width, "height": height}}

        async def closed(reason: str) -> None:
            await self._close(session_id, reason)

        def activity() -> None:
            if "session" in holder:
                holder["session"].touch()

        transport = PeerTransport(conversation, parts.face, parts.first_frame, hello, activity, closed,
                                  speech_db=SPEECH_DB, on_audio_sent=watch.played)
        session = RealtimeSession(session_id, owner, avatar_id, parts.voice, language, parts.memory_session,
                                  time.time(), conversation, hearing, transport, parts.face)
        holder["session"] = session
        return session

    # ------------------------------------------------------------------------------------------ use

    def get(self, owner: str, session_id: str) -> RealtimeSession:
        """The owner's live session; 404 for missing, closed or another owner's ids alike."""
        session = self._sessions.get(session_id) if len(session_id) < 64 else None
        if session is None or session.owner != owner or session.closed:
            raise not_found(f"real-time session {session_id}")
        return session

    def find(self, session_id: str) -> RealtimeSession | None:
        """Any owner's live session (benches and tests; routes use `get`)."""
        return self._sessions.get(session_id)

    def list(self, owner: str) -> list[RealtimeSession]:
        return sorted((s for s in self._sessions.values() if s.owner == owner and not s.closed),
                      key=lambda s: s.created)

    async def offer(self, owner: str, session_id: str, sdp: str) -> str:
        """Answer the client's offer (409 if the session already has a connection, 400 for an unusable offer)."""
        from talker.realtime.transport import OfferError

        session = self.get(owner, session_id)
        if session.transport.pc is not None:
            raise Problem(409, "Conflict", "this session already has a connection; start a new session to reconnect")
        session.touch()
        try:
            return await session.transport.answer(sdp)
        except OfferError as error:
            await self._close(session_id, "bad offer")
            raise Problem(400, "Bad request", f"{error}; the session was closed, start a new one") from None

    async def close(self, owner: str, session_id: str) -> None:
        self.get(owner, session_id)
        await self._close(session_id, "closed by the client")

    async def _close(self, session_id: str, reason: str) -> None:
        session = self._sessions.get(session_id)
        if session is None or session.closed:
            return
        session.closed = True
        try:
            with contextlib.suppress(Exception):
                await session.conversation.close()
            with contextlib.suppress(Exception):
                await session.transport.close()
            await asyncio.to_thread(session.hearing.shutdown)
            close_face = getattr(session.face, "close", None)
            if close_face is not None:
                close_face()
        finally:
            self._sessions.pop(session_id, None)
            log.info("real-time session %s ended (%s)", session_id, reason)

    async def close_all(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        for session_id in list(self._sessions):
            await self._close(session_id, "server stopping")
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------------------------------ idle

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        """Close sessions that heard neither speech nor a message for `idle_timeout` seconds."""
        while self._sessions:
            await asyncio.sleep(min(1.0, self.idle_timeout / 4))
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if session.conversation.state != "listening":
                    session.touch()  # the avatar is answering: the user is listening, not gone
                elif now - session.last_activity > self.idle_timeout:
                    session.transport.send({"type": "error", "detail": f"the conversation ended after "
                                            f"{self.idle_timeout:g} s without speech or messages"})
                    await self._close(session.id, "idle")


def _minds(state: Any) -> Any:
    """The owners' minds (shared with the chat routes: the same object under the same key)."""
    minds = state.extras.get("minds")
    if minds is None:
        from talker.server.minds import Minds

        minds = state.extras.setdefault("minds", Minds(state.settings))
        state.extras.setdefault("on_stop", []).append(minds.close)
    return minds


def _scrub(settings: Settings, text: str) -> str:
    from talker.server.problems import scrub_paths

    return scrub_paths(text, (settings.data_dir, settings.cache_dir, settings.models_dir))
