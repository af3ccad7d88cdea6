"""One real-time conversation: hear the user, answer, speak sentence by sentence, stop when talked over.

Transport-agnostic: microphone audio comes in through `hear`, typed text through `say`, the audio goes
out through the `Playout` the transport pulls from, and everything the page shows goes out as event
dictionaries. Every answer is a turn with its own id; interrupting cancels the LLM stream and the
speech synthesis, empties the playout, and stores in the memory only the text that was heard.

Two things win time. An answer is *prepared* as soon as the recogniser says how the turn will read if
the user stops here (`likely_end`): the LLM and the TTS of its first piece run while the endpointer is
still waiting, and the audio is released the moment the turn ends with the same words (otherwise it is
thrown away, and nothing of it is stored). While an answer is prepared, the barge-in watch listens too:
once it hears the user go on (their own voice, not the echo of an early opener), the prepared answer is
dropped at once, its speech synthesis halted mid-sentence, so the recognition of what they go on to say has
the CPU. And while the avatar speaks, a possible barge-in pauses it at once; it is cut when the barge-in is
confirmed, or goes on if it was only a cough.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from talker.onnx import Halt, HaltedError, halting
from talker.realtime.playout import Playout
from talker.text.lang import detect_language

State = Literal["listening", "thinking", "speaking"]
Emit = Callable[[dict[str, Any]], None]
log = logging.getLogger("talker.realtime")

MIC_RATE = 16000
# Endpointer reasons after which the turn usually ends: not after a trailing 嗯/"and" (the user goes on).
_PREPARE_ON = ("question", "complete", "unknown")
_ACKNOWLEDGE_ON = ("question", "complete")  # the opener goes out before the endpointer decides
_NOT_WORDS = re.compile(r"[\W_]+")


class Hearing(Protocol):
    """A streaming recogniser (`talker.asr.streaming.StreamingTranscriber`)."""

    def feed(self, samples: np.ndarray) -> list[Any]: ...

    def collect(self) -> list[Any]: ...

    def close(self) -> None: ...


class Interrupter(Protocol):
    """Says, window by window, whether the user is talking over the avatar (echo and coughs excluded):
    "clear", "candidate" (maybe: pause the avatar) or "barge-in" (stop it). If it has a `reset()`, that
    arms it afresh (a prepared answer begins to be watched)."""

    def __call__(self, samples: np.ndarray, stream_time: float) -> str: ...


Speak = Callable[[str], Iterable[Any]]  # text → speech chunks (SpeechAudio-like: samples, sample_rate, words)
Opener = Callable[[str], Any]  # language → a short spoken chunk ready at once ("嗯，"), or None


@dataclass
class TurnTimes:
    """When each stage of a turn got going (monotonic seconds); the latency figures come from these."""

    turn: int  # 0 while a prepared answer waits for the user's turn to end
    started: float  # answering began (a prepared answer: before the end of the turn was known)
    prepared: bool = False
    speech_ended: float | None = None  # the user's speech ended (None for typed text)
    transcribed: float | None = None  # the text that was answered was known
    heard: float | None = None  # the end of the user's turn was decided (typed: the message arrived)
    first_piece: float | None = None
    first_audio_ready: float | None = None
    first_audio_sent: float | None = None
    opener: float = 0.0  # seconds of opener queued before the answer (0: none)
    answer_audio_ready: float | None = None  # the answer's own first audio, after any opener
    answer_audio_sent: float | None = None
    user_spoke: float | None = None  # the user's speech over the avatar began (as the barge-in watch saw it)
    paused: float | None = None  # the avatar was paused for a possible barge-in
    interrupted_at: float | None = None
    stopped: float | None = None  # the first silent frame went out after a pause or a cut
    extra: dict[str, float] = field(default_factory=dict)


@dataclass
class _EarlyOpener:
    """The opener said when the user's words sounded finished, before the end of their turn was decided."""

    turn: int
    seconds: float
    ready: float  # clock time it was queued
    sent: float | None = None  # clock time its first frame went out


@dataclass(eq=False)
class _Answer:
    """An answer being made: prepared ones wait at `go` until the user's turn ends with the same text."""

    text: str
    reply: Any
    times: TurnTimes
    go: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    audio_waiting: bool = False  # a prepared answer has speech ready at `go`
    halt: Halt = field(default_factory=Halt)  # stops its speech synthesis mid-sentence when it is dropped


class Conversation:
    """The session's brain stem: owns the turn, the reply in progress and the state shown to the user."""

    def __init__(self, engine: Any, session_id: str, speak: Speak, playout: Playout, emit: Emit,
                 hearing: Hearing | None = None, interrupter: Interrupter | None = None,
                 clock: Callable[[], float] = time.monotonic, prepare: bool = True,
                 opener: Opener | None = None, pool: concurrent.futures.Executor | None = None,
                 synthesis_lead: float | None = None,
                 pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._engine = engine
        self._session = session_id
        self._speak = speak
        self.playout = playout
        self._emit = emit
        self._hearing = hearing
        self._interrupter = interrupter
        self._clock = clock
        self._prepare = prepare
        self._opener = opener
        self._pool = pool  # where recognition and speech synthesis run (None: the loop's default pool)
        # Speech is synthesised at most this many seconds ahead of what is playing (None: as fast as it can):
        # a cut answer wastes no more, and other sessions' first sentences get the CPU sooner.
        self._synthesis_lead = synthesis_lead
        self._pause = pause  # waits for the playout to play some seconds (the transport drains it)
        self.state: State = "listening"
        self._answer: _Answer | None = None  # the answer of the current turn
        self._prepared: _Answer | None = None  # an answer made ahead of the end of the user's turn
        self._stream_time = 0.0
        self._arrived = 0.0  # clock time the latest microphone piece arrived (its last sample)
        self._early: _EarlyOpener | None = None  # the opener said early in the user's current turn
        self._hearing_turn = asyncio.Lock()  # what the recogniser hands out is handled in order
        self._collecting: set[asyncio.Task[None]] = set()
        self.turns: list[TurnTimes] = []

    # ------------------------------------------------------------------------------------------- input

    async def hear(self, samples_16k: np.ndarray) -> None:
        """Microphone audio (16 kHz mono float32), in pieces of any size."""
        window = np.asarray(samples_16k, dtype=np.float32).reshape(-1)
        self._arrived = self._clock()
        self._stream_time += window.size / MIC_RATE
        if self.state == "speaking" and self._interrupter is not None:
            await self._watch(self._interrupter(window, self._stream_time))
        elif self._interrupter is not None and self._awaiting_prepared() and \
                self._interrupter(window, self._stream_time) == "barge-in":
            self._went_on()
        if self._hearing is None:
            return
        async with self._hearing_turn:
            for event in await self._in_pool(self._hearing.feed, window):
                await self._on_heard(event)

    def decoded(self) -> None:
        """The recogniser finished a decode (call on the loop): its events go out now, not with the next audio."""
        if self._hearing is not None:
            task = asyncio.get_running_loop().create_task(self._collect(self._hearing))
            self._collecting.add(task)
            task.add_done_callback(self._collecting.discard)

    async def _collect(self, hearing: Hearing) -> None:
        try:
            async with self._hearing_turn:
                for event in await self._in_pool(hearing.collect):
                    await self._on_heard(event)
        except Exception:  # a failure of the recogniser itself surfaces with the next piece of audio
            log.exception("collecting a finished decode failed")

    async def say(self, text: str) -> None:
        """Typed input: answered like speech, interrupting an answer in progress."""
        if self.state != "listening":
            await self.interrupt(reason="typed")
        self._discard_prepared()
        self._emit({"type": "transcript", "final": True, "text": text, "source": "typed"})
        self._confirm(self._begin(text, prepared=False), speech_ended=None, language=None)

    async def _on_heard(self, event: Any) -> None:
        if event.kind == "speech_start" and self.state != "listening":
            return  # handled by the interrupter (it knows about echo); a VAD start alone is not enough
        if event.kind == "partial":
            self._emit({"type": "transcript", "final": False, "text": event.text, "language": event.language})
            prepared = self._prepared
            if prepared is not None and not prepared.go.is_set() and _words(event.text) not in _words(prepared.text):
                self._discard_prepared()  # the user went on: the prepared answer is for a question never asked
        elif event.kind == "likely_end":
            self._prepare_answer(event)
        elif event.kind == "final":
            self._emit({"type": "transcript", "final": True, "text": event.text, "language": event.language,
                        "source": "speech"})
        elif event.kind == "end_of_turn" and event.text.strip():
            if self.state != "listening":
                await self.interrupt(reason="new question")
            speech_ended = self._on_clock(event.end)
            prepared, self._prepared = self._prepared, None
            if prepared is not None and same_words(prepared.text, event.text):
                self._confirm(prepared, speech_ended, event.language)
                return
            if prepared is not None:
                self._cancel(prepared)
            self._confirm(self._begin(event.text, prepared=False), speech_ended, event.language)

    def _on_clock(self, stream_time: float) -> float:
        """The clock time a point of the microphone stream arrived (the stream arrives in real time)."""
        return self._arrived - max(0.0, self._stream_time - stream_time)

    async def _watch(self, verdict: str) -> None:
        """Act on the barge-in watch: pause on a candidate, stop on a barge-in, go on when it was nothing."""
        times = self._answer.times if self._answer is not None else None
        if verdict == "barge-in":
            if times is not None and times.user_spoke is None:
                times.user_spoke = self._speech_over_started()
            await self.interrupt(reason="barge-in")
        elif verdict == "candidate":
            if self.playout.hold() and times is not None:
                times.paused = self._clock()
                times.user_spoke = self._speech_over_started()
        elif self.playout.held and self.playout.release() and times is not None:
            times.paused = times.stopped = times.user_spoke = None  # a cough: the answer goes on

    def _speech_over_started(self) -> float:
        started = getattr(self._interrupter, "speech_started", None)
        return float(started) if started is not None else self._clock()

    # ------------------------------------------------------------------------------------------- output

    def _prepare_answer(self, event: Any) -> None:
        """Start answering the turn as it reads now, if it will likely end so and nothing else is going on."""
        text = event.text.strip()
        if not self._prepare or self.state != "listening" or event.reason not in _PREPARE_ON or not text:
            return
        if self._prepared is None or not same_words(self._prepared.text, text):
            self._discard_prepared()
            self._prepared = self._begin(text, prepared=True)
            reset = getattr(self._interrupter, "reset", None)
            if reset is not None:
                reset()  # from here it listens for the user going on
        if event.reason in _ACKNOWLEDGE_ON and self._early is None:
            self._acknowledge(event.language or detect_language(text))

    def _awaiting_prepared(self) -> bool:
        """An answer is prepared and the user's turn has not ended yet."""
        return self._prepared is not None and not self._prepared.go.is_set()

    def _went_on(self) -> None:
        """The user speaks again after a likely end: the prepared answer is for a question never asked, and an
        early opener was a listener's sound; the end of this longer turn gets an opener of its own."""
        self._discard_prepared()
        self._early = None

    def _acknowledge(self, language: str) -> None:
        """The words sound finished: say the opener now, in a turn of its own, before the endpointer has decided.
        The answer to the user's turn follows it in that turn if the opener came after the user's last words
        (whichever words the turn ends with: the final decode may add a last syllable or mark); if the user went
        on, it was a listener's "嗯". Once per user turn."""
        chunk = self._opener(language) if self._opener is not None else None
        if chunk is None:
            return
        turn = self.playout.start_turn()
        if self.playout.enqueue(turn, chunk.samples, chunk.sample_rate, "", (),
                                phonemes=tuple(getattr(chunk, "phonemes", ()))):
            self._early = _EarlyOpener(turn, chunk.samples.size / chunk.sample_rate, self._clock())

    def _begin(self, text: str, prepared: bool) -> _Answer:
        """Ask the engine and start making the answer's speech (it plays once confirmed)."""
        text = text.strip()
        times = TurnTimes(0, self._clock(), prepared=prepared)
        times.transcribed = times.started
        prepare = getattr(self._engine, "prepare", None)
        reply = prepare(self._session, text) if prepare is not None else self._engine.ask(self._session, text)
        answer = _Answer(text, reply, times)
        answer.task = asyncio.get_running_loop().create_task(self._run(answer))
        return answer

    def _confirm(self, answer: _Answer, speech_ended: float | None, language: str | None) -> None:
        """The user's turn ended with the prepared text (or it was typed): this answer is the turn."""
        times = answer.times
        early, self._early = self._early, None  # the user's turn is over
        opened = (early is not None and early.turn == self.playout.turn and speech_ended is not None
                  and early.ready >= speech_ended)  # the opener went out early, after the last words
        if early is not None and opened:
            times.turn, times.opener = early.turn, early.seconds
            times.first_audio_ready, times.first_audio_sent = early.ready, early.sent
        else:
            times.turn = self.playout.start_turn()
            times.opener, times.first_audio_ready = 0.0, None
        times.heard = self._clock()
        times.speech_ended = speech_ended
        commit = getattr(answer.reply, "commit", None)
        if commit is not None:
            commit()
        self._answer = answer
        self.turns.append(times)
        self._set_state("thinking")
        if opened and self.playout.speaking:
            self._set_state("speaking")
        elif not opened and not answer.audio_waiting and self._opener is not None:
            chunk = self._opener(language or detect_language(answer.text))
            if chunk is not None and self._open(times, chunk, times.turn):
                self._set_state("speaking")
        answer.go.set()

    def _open(self, times: TurnTimes, chunk: Any, turn: int) -> bool:
        """Start the turn with the opener ("嗯，") while the answer is still being made: the user hears at once
        that they were heard. It carries no text, so memory and the heard-characters count leave it out."""
        if not self.playout.enqueue(turn, chunk.samples, chunk.sample_rate, "", (),
                                    phonemes=tuple(getattr(chunk, "phonemes", ()))):
            return False
        times.opener = chunk.samples.size / chunk.sample_rate
        times.first_audio_ready = self._clock()
        return True

    async def _run(self, answer: _Answer) -> None:
        times, reply = answer.times, answer.reply
        async for piece in reply.pieces():
            if times.first_piece is None:
                times.first_piece = self._clock()
            chunks = iter(self._speak(piece))  # one chunk per sentence, synthesised as it is asked for
            shown = False
            while True:
                if times.answer_audio_ready is not None and not await self._within_lead(answer):
                    return
                if (chunk := await self._in_pool(self._synthesise_next, chunks, answer.halt)) is None:
                    break
                answer.audio_waiting = True
                await answer.go.wait()
                if not self._current(answer):
                    return
                self.playout.enqueue(times.turn, chunk.samples, chunk.sample_rate, chunk.text, tuple(chunk.words),
                                     pause_after=getattr(chunk, "pause_after", 0.0),
                                     phonemes=tuple(getattr(chunk, "phonemes", ())))
                if times.answer_audio_ready is None:
                    times.answer_audio_ready = self._clock()
                    times.first_audio_ready = times.first_audio_ready or times.answer_audio_ready
                    self._set_state("speaking")
                if not shown:  # the piece's text goes out with its first audio
                    shown = True
                    self._emit({"type": "answer", "turn": times.turn, "text": piece})
            await answer.go.wait()
            if not self._current(answer):
                return
            if not shown:
                self._emit({"type": "answer", "turn": times.turn, "text": piece})
        await answer.go.wait()
        if not self._current(answer):
            return
        self.playout.finish_turn(times.turn)
        if times.first_audio_ready is None:  # nothing to say: the turn ends here
            self._answer = None
            reply.finish()
            self._set_state("listening")
        # Otherwise the reply is stored when its audio has played out (`on_frame_sent`) or was cut short.

    async def _within_lead(self, answer: _Answer) -> bool:
        """Wait until the queued speech is within the synthesis lead; False if the answer was cut meanwhile."""
        if self._synthesis_lead is None:
            return True
        while (ahead := self.playout.queued - self._synthesis_lead) > 0:
            await self._pause(ahead)
            if not self._current(answer):
                return False
        return True

    @staticmethod
    def _synthesise_next(chunks: Iterator[Any], halt: Halt) -> Any:
        """The next chunk of speech (None when there is no more, or the answer was dropped meanwhile)."""
        with halting(halt):
            try:
                return next(chunks, None)
            except HaltedError:
                return None

    async def _in_pool(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def _past_opener(self, times: TurnTimes) -> bool:
        position = self.playout.position()
        return position is not None and position[1] > times.opener + 1e-6

    def _current(self, answer: _Answer) -> bool:
        return self._answer is answer and self.playout.turn == answer.times.turn

    def on_frame_sent(self, turn: int, speech: bool) -> None:
        """The transport reports each frame it sent: first audio out, the audio stopping, the end of a turn."""
        early = self._early
        if early is not None and early.turn == turn and speech and early.sent is None:
            early.sent = self._clock()
        times = self.turns[-1] if self.turns else None
        if times is not None:
            if speech and times.turn == turn and times.first_audio_sent is None:
                times.first_audio_sent = self._clock()
            if speech and times.turn == turn and times.answer_audio_sent is None and self._past_opener(times):
                times.answer_audio_sent = self._clock()
                self._emit({"type": "latency", "turn": turn, **self.latency(times)})
            elif not speech and times.stopped is None and (times.paused or times.interrupted_at) is not None:
                times.stopped = self._clock()
        answer = self._answer
        if not speech and self.state == "speaking" and not self.playout.speaking and answer is not None \
                and answer.task is not None and answer.task.done():
            self._answer = None
            answer.reply.finish()  # played to the end: all of it was heard
            self._set_state("listening")

    async def interrupt(self, reason: str) -> None:
        """Stop the answer everywhere: playout first (the audio stops at the next frame), then the LLM and TTS."""
        cut, heard = self.playout.interrupt()
        now = self._clock()
        answer, self._answer = self._answer, None
        self._discard_prepared()
        event: dict[str, Any] = {"type": "interrupted", "turn": cut, "reason": reason, "heard_chars": heard}
        if answer is not None:
            times = answer.times
            times.interrupted_at = now
            if times.stopped is not None and times.user_spoke is not None:
                event["stop_ms"] = round((times.stopped - times.user_spoke) * 1000, 1)
            answer.reply.cancel()
            answer.reply.finish(heard_chars=heard)
            await self._stop(answer)
        self._emit(event)
        self._set_state("listening")

    @staticmethod
    async def _stop(answer: _Answer) -> None:
        answer.halt.stop()
        task = answer.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _discard_prepared(self) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is not None:
            self._cancel(prepared)

    @staticmethod
    def _cancel(answer: _Answer) -> None:
        """Drop an answer that never became the turn: nothing of it was stored or played."""
        answer.reply.cancel()
        answer.halt.stop()
        if answer.task is not None:
            answer.task.cancel()

    def _set_state(self, state: State) -> None:
        if state != self.state:
            self.state = state
            self._emit({"type": "state", "state": state})

    @staticmethod
    def latency(times: TurnTimes) -> dict[str, Any]:
        """Milliseconds from the end of the user's speech (typed text: from its arrival) to each stage."""
        origin = times.speech_ended if times.speech_ended is not None else times.heard
        if origin is None:
            return {}
        marks = {"transcribed": times.transcribed if times.speech_ended is not None else None,
                 "end_of_turn": times.heard if times.speech_ended is not None else None,
                 "first_piece": times.first_piece, "first_audio_ready": times.first_audio_ready,
                 "first_audio_sent": times.first_audio_sent,
                 "answer_audio_ready": times.answer_audio_ready if times.opener else None,
                 "answer_audio_sent": times.answer_audio_sent if times.opener else None}
        figures: dict[str, Any] = {f"{name}_ms": round((value - origin) * 1000, 1) for name, value in marks.items()
                                   if value is not None}
        figures["prepared"] = times.prepared
        figures["opener"] = bool(times.opener)
        return figures

    async def close(self) -> None:
        self._discard_prepared()
        if self.state != "listening" or self._answer is not None:
            await self.interrupt(reason="closed")
        if self._hearing is not None:
            self._hearing.close()


def same_words(a: str, b: str) -> bool:
    """The same words, whatever the punctuation and case (a speculative decode may lack the final "?")."""
    return _words(a) == _words(b)


def _words(text: str) -> str:
    return _NOT_WORDS.sub("", text).casefold()
