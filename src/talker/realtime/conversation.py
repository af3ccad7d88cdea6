"""One real-time conversation: hear the user, answer, speak sentence by sentence, stop when talked over.

Transport-agnostic: microphone audio comes in through `hear`, typed text through `say`, the audio goes
out through the `Playout` the transport pulls from, and everything the page shows goes out as event
dictionaries. Every answer is a turn with its own id; interrupting cancels the LLM stream and the
speech synthesis, empties the playout, and stores in the memory only the text that was heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from talker.realtime.playout import Playout

State = Literal["listening", "thinking", "speaking"]
Emit = Callable[[dict[str, Any]], None]


class Hearing(Protocol):
    """A streaming recogniser (`talker.asr.streaming.StreamingTranscriber`)."""

    def feed(self, samples: np.ndarray) -> list[Any]: ...

    def close(self) -> None: ...


class Interrupter(Protocol):
    """Decides, window by window, whether the user is talking over the avatar (echo and coughs excluded)."""

    def __call__(self, samples: np.ndarray, stream_time: float) -> bool: ...


Speak = Callable[[str], Iterable[Any]]  # text → speech chunks (SpeechAudio-like: samples, sample_rate, words)


@dataclass
class TurnTimes:
    """When each stage of a turn got going (monotonic seconds); the latency figures come from these."""

    turn: int
    heard: float  # the end of the user's speech was known (or text was typed)
    first_piece: float | None = None
    first_audio_ready: float | None = None
    first_audio_sent: float | None = None
    stopped: float | None = None
    interrupted_at: float | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Conversation:
    """The session's brain stem: owns the turn, the reply in progress and the state shown to the user."""

    def __init__(self, engine: Any, session_id: str, speak: Speak, playout: Playout, emit: Emit,
                 hearing: Hearing | None = None, interrupter: Interrupter | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._session = session_id
        self._speak = speak
        self.playout = playout
        self._emit = emit
        self._hearing = hearing
        self._interrupter = interrupter
        self._clock = clock
        self.state: State = "listening"
        self._reply: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stream_time = 0.0
        self.turns: list[TurnTimes] = []

    # ------------------------------------------------------------------------------------------- input

    async def hear(self, samples_16k: np.ndarray) -> None:
        """Microphone audio (16 kHz mono float32), in pieces of any size."""
        window = np.asarray(samples_16k, dtype=np.float32).reshape(-1)
        self._stream_time += window.size / 16000
        if self.state == "speaking" and self._interrupter is not None and \
                self._interrupter(window, self._stream_time):
            await self.interrupt(reason="barge-in")
        if self._hearing is None:
            return
        for event in await asyncio.to_thread(self._hearing.feed, window):
            await self._on_heard(event)

    async def say(self, text: str) -> None:
        """Typed input: answered like speech, interrupting an answer in progress."""
        if self.state != "listening":
            await self.interrupt(reason="typed")
        self._emit({"type": "transcript", "final": True, "text": text, "source": "typed"})
        self._start_answer(text)

    async def _on_heard(self, event: Any) -> None:
        if event.kind == "speech_start" and self.state != "listening":
            return  # handled by the interrupter (it knows about echo); a VAD start alone is not enough
        if event.kind == "partial":
            self._emit({"type": "transcript", "final": False, "text": event.text, "language": event.language})
        elif event.kind == "final":
            self._emit({"type": "transcript", "final": True, "text": event.text, "language": event.language,
                        "source": "speech"})
        elif event.kind == "end_of_turn" and event.text.strip():
            if self.state != "listening":
                await self.interrupt(reason="new question")
            self._start_answer(event.text)

    # ------------------------------------------------------------------------------------------- output

    def _start_answer(self, text: str) -> None:
        turn = self.playout.start_turn()
        self.turns.append(TurnTimes(turn, self._clock()))
        self._set_state("thinking")
        self._task = asyncio.get_running_loop().create_task(self._answer(text, turn))

    async def _answer(self, text: str, turn: int) -> None:
        times = self.turns[-1]
        reply = self._reply = self._engine.ask(self._session, text)
        async for piece in reply.pieces():
            if self.playout.turn != turn:
                return
            if times.first_piece is None:
                times.first_piece = self._clock()
            chunks = await asyncio.to_thread(self._spoken, piece)
            if self.playout.turn != turn:
                return
            for chunk in chunks:
                self.playout.enqueue(turn, chunk.samples, chunk.sample_rate, chunk.text, tuple(chunk.words),
                                     pause_after=getattr(chunk, "pause_after", 0.0),
                                     phonemes=tuple(getattr(chunk, "phonemes", ())))
            if times.first_audio_ready is None:
                times.first_audio_ready = self._clock()
                self._set_state("speaking")
            self._emit({"type": "answer", "turn": turn, "text": piece})
        self.playout.finish_turn(turn)
        if times.first_audio_ready is None:  # nothing to say: the turn ends here
            self._reply = None
            reply.finish()
            self._set_state("listening")
        # Otherwise the reply is stored when its audio has played out (`on_frame_sent`) or was cut short.

    def _spoken(self, piece: str) -> list[Any]:
        return list(self._speak(piece))

    def on_frame_sent(self, turn: int, speech: bool) -> None:
        """The transport reports each frame it sent: first audio out, and the end of a spoken turn."""
        times = self.turns[-1] if self.turns else None
        if speech and times is not None and times.turn == turn and times.first_audio_sent is None:
            times.first_audio_sent = self._clock()
            self._emit({"type": "latency", "turn": turn, **self.latency(times)})
        if not speech and self.state == "speaking" and not self.playout.speaking and self._task_done():
            reply, self._reply = self._reply, None
            if reply is not None:
                reply.finish()  # played to the end: all of it was heard
            self._set_state("listening")

    def _task_done(self) -> bool:
        return self._task is None or self._task.done()

    async def interrupt(self, reason: str) -> None:
        """Stop the answer everywhere: playout first (the audio stops at the next frame), then the LLM and TTS."""
        cut, heard = self.playout.interrupt()
        now = self._clock()
        if self.turns and self.turns[-1].turn == cut:
            self.turns[-1].interrupted_at = now
        reply, self._reply = self._reply, None
        if reply is not None:
            reply.cancel()
            reply.finish(heard_chars=heard)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._emit({"type": "interrupted", "turn": cut, "reason": reason, "heard_chars": heard})
        self._set_state("listening")

    def _set_state(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self._emit({"type": "state", "state": state})

    @staticmethod
    def latency(times: TurnTimes) -> dict[str, float]:
        """Milliseconds from the end of the user's turn to each stage."""
        marks = {"first_piece": times.first_piece, "first_audio_ready": times.first_audio_ready,
                 "first_audio_sent": times.first_audio_sent}
        return {f"{name}_ms": round((value - times.heard) * 1000, 1) for name, value in marks.items()
                if value is not None}

    async def close(self) -> None:
        if self.state != "listening" or self._reply is not None:
            await self.interrupt(reason="closed")
        if self._hearing is not None:
            self._hearing.close()
