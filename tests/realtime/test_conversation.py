"""A conversation on a scripted timeline: answers play out, barge-in cancels every stage, memory keeps what was heard.

The engine is the real one (memory in SQLite) with the echo LLM, which reads the question back, so the
answer text is known in advance; speech is a stand-in of known length per character (plumbing).
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talker.dialogue.engine import DialogueEngine
from talker.dialogue.llm import EchoLLM
from talker.dialogue.memory import MemoryStore
from talker.dialogue.persona import DEFAULT_PERSONA
from talker.frames import WordTiming
from talker.onnx import HaltedError, current_halt
from talker.realtime.conversation import Conversation
from talker.realtime.playout import Playout

SECONDS_PER_CHAR = 0.1


@dataclass(frozen=True)
class FakeChunk:
    samples: np.ndarray
    sample_rate: int
    text: str
    words: tuple[WordTiming, ...]


def fake_speak(text: str) -> Iterator[FakeChunk]:
    """Every character takes 0.1 s and is its own word (plumbing)."""
    rate = 24000
    words = tuple(WordTiming(ch, i * SECONDS_PER_CHAR, (i + 1) * SECONDS_PER_CHAR) for i, ch in enumerate(text))
    yield FakeChunk(np.full(round(len(text) * SECONDS_PER_CHAR * rate), 0.1, dtype=np.float32), rate, text, words)


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory.sqlite") as store:
        yield store


def _conversation(memory: MemoryStore, interrupter: Any = None) -> tuple[Conversation, list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    session = memory.create_session(owner="test")
    engine = DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA)
    conversation = Conversation(engine, session, fake_speak, Playout(48000), events.append,
                                interrupter=interrupter)
    return conversation, events, session


async def _play(conversation: Conversation, seconds: float) -> list[bool]:
    """The transport's side: pull a frame every 20 ms of timeline, report it, let the other tasks run."""
    sent = []
    for _ in range(round(seconds * 50)):
        frame = conversation.playout.next_frame()
        conversation.on_frame_sent(frame.turn, frame.speech)
        sent.append(frame.speech)
        await asyncio.sleep(0.001)  # let worker threads (speech synthesis) finish as they would in 20 ms
    return sent


async def _until_speaking(conversation: Conversation) -> None:
    for _ in range(1000):
        if conversation.state == "speaking":
            return
        await asyncio.sleep(0.001)  # the answer runs in a worker thread: give it a moment
    raise AssertionError("the avatar never started speaking")


def test_an_answer_plays_out_and_is_remembered_whole_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, events, session = _conversation(memory)
        await conversation.say("今天天气很好。")
        await _until_speaking(conversation)
        sent = await _play(conversation, 1.5)
        assert sum(sent) == 35  # 7 characters × 0.1 s in 20 ms frames
        assert conversation.state == "listening"
        states = [e["state"] for e in events if e["type"] == "state"]
        assert states == ["thinking", "speaking", "listening"]
        latency = next(e for e in events if e["type"] == "latency")
        assert 0 <= latency["first_piece_ms"] <= latency["first_audio_ready_ms"] <= latency["first_audio_sent_ms"]
        turns = memory.turns(session)
        assert [(t.role, t.text, t.interrupted) for t in turns] == [
            ("user", "今天天气很好。", False), ("assistant", "今天天气很好。", False)]

    asyncio.run(scenario())


def test_barge_in_stops_the_audio_at_once_and_memory_keeps_what_was_heard_plumbing(memory: MemoryStore) -> None:
    talking_over = {"now": False}

    def interrupter(samples: np.ndarray, stream_time: float) -> str:
        return "barge-in" if talking_over["now"] else "clear"

    async def scenario() -> None:
        conversation, events, session = _conversation(memory, interrupter)
        question = "我想了解一下你们银行的理财产品有哪些。"
        await conversation.say(question)
        await _until_speaking(conversation)
        before = await _play(conversation, 0.45)  # "我想了解" heard, "一" cut mid-word
        assert all(before)
        talking_over["now"] = True
        await conversation.hear(np.zeros(320, dtype=np.float32))
        after = await _play(conversation, 1.0)
        assert not any(after), "audio went on after the barge-in"
        interrupted = next(e for e in events if e["type"] == "interrupted")
        assert interrupted["reason"] == "barge-in" and interrupted["heard_chars"] == 4
        assert conversation.state == "listening"
        turns = memory.turns(session)
        assert turns[-1].role == "assistant" and turns[-1].interrupted and turns[-1].text.startswith("我想了解")
        assert "理财" not in turns[-1].text
        await asyncio.sleep(0.05)  # a chunk synthesised after the cut must not come back
        assert not any(await _play(conversation, 0.5))

    asyncio.run(scenario())


def test_echo_of_the_avatar_does_not_interrupt_plumbing(memory: MemoryStore) -> None:
    heard_windows = []

    def interrupter(samples: np.ndarray, stream_time: float) -> str:
        heard_windows.append(stream_time)
        return "clear"  # what the echo gate says when the microphone hears only the avatar

    async def scenario() -> None:
        conversation, _, session = _conversation(memory, interrupter)
        await conversation.say("好的。")
        await _until_speaking(conversation)
        for _ in range(10):
            await conversation.hear(np.full(320, 0.1, dtype=np.float32))
            await _play(conversation, 0.02)
        await _play(conversation, 1.0)
        assert heard_windows and memory.turns(session)[-1].text == "好的。"
        assert not memory.turns(session)[-1].interrupted

    asyncio.run(scenario())


def test_a_new_question_replaces_the_answer_in_progress_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, events, session = _conversation(memory)
        await conversation.say("第一个问题很长很长很长。")
        await _until_speaking(conversation)
        await _play(conversation, 0.2)
        await conversation.say("第二个。")
        await _until_speaking(conversation)
        await _play(conversation, 1.0)
        texts = [(t.role, t.text, t.interrupted) for t in memory.turns(session)]
        assert texts[0] == ("user", "第一个问题很长很长很长。", False)
        assert texts[1][0] == "assistant" and texts[1][2] and texts[1][1] == "第一"
        assert texts[2:] == [("user", "第二个。", False), ("assistant", "第二个。", False)]
        assert [e["reason"] for e in events if e["type"] == "interrupted"] == ["typed"]

    asyncio.run(scenario())


def test_a_possible_barge_in_pauses_the_answer_and_a_cough_lets_it_go_on_plumbing(memory: MemoryStore) -> None:
    verdict = {"now": "clear"}

    def interrupter(samples: np.ndarray, stream_time: float) -> str:
        return verdict["now"]

    async def scenario() -> None:
        conversation, events, session = _conversation(memory, interrupter)
        await conversation.say("我们明天见。")
        await _until_speaking(conversation)
        assert all(await _play(conversation, 0.2))
        verdict["now"] = "candidate"
        await conversation.hear(np.zeros(320, dtype=np.float32))
        paused = await _play(conversation, 0.3)
        assert not any(paused), "the avatar went on speaking over a possible barge-in"
        times = conversation.turns[-1]
        assert times.paused is not None and times.stopped is not None
        verdict["now"] = "clear"  # it was a cough
        await conversation.hear(np.zeros(320, dtype=np.float32))
        rest = await _play(conversation, 1.0)
        assert sum(rest) == 30 - 10, "the answer did not go on from where it paused"
        assert conversation.state == "listening" and not any(e["type"] == "interrupted" for e in events)
        last = memory.turns(session)[-1]
        assert (last.role, last.text, last.interrupted) == ("assistant", "我们明天见。", False)

    asyncio.run(scenario())


@dataclass(frozen=True)
class Heard:
    """A recogniser event as `talker.asr.streaming.ListenEvent` has it (plumbing)."""

    kind: str
    text: str = ""
    reason: str = ""
    end: float = 0.0
    language: str = "zh"


class ScriptedHearing:
    """Hands out the events queued by the test on the next `feed` (plumbing for the recogniser)."""

    def __init__(self) -> None:
        self.queued: list[Heard] = []
        self.decoded: list[Heard] = []  # what a decode finished between two pieces of audio hands out

    def feed(self, samples: np.ndarray) -> list[Heard]:
        events, self.queued = self.queued, []
        return events

    def collect(self) -> list[Heard]:
        events, self.decoded = self.decoded, []
        return events

    def close(self) -> None:
        pass


def _listening(memory: MemoryStore, opener: bool = False, speak: Any = fake_speak, interrupter: Any = None,
               ) -> tuple[Conversation, ScriptedHearing, list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    session = memory.create_session(owner="test")
    hearing = ScriptedHearing()
    engine = DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA)
    conversation = Conversation(engine, session, speak, Playout(48000), events.append, hearing=hearing,
                                opener=_openers() if opener else None, interrupter=interrupter)
    return conversation, hearing, events, session


def _openers() -> Any:
    opener = next(fake_speak("嗯"))  # 0.1 s, made ahead

    def openers(language: str) -> FakeChunk | None:
        return opener if language == "zh" else None

    return openers


async def _hear(conversation: Conversation, hearing: ScriptedHearing, *events: Heard) -> None:
    hearing.queued = list(events)
    await conversation.hear(np.zeros(320, dtype=np.float32))


async def _until_prepared(conversation: Conversation) -> None:
    for _ in range(1000):
        prepared = conversation._prepared
        if prepared is not None and prepared.times.first_piece is not None:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("the answer was never prepared")


def test_an_answer_prepared_before_the_end_of_the_turn_is_used_when_the_turn_ends_so_plumbing(
        memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, session = _listening(memory)
        await _hear(conversation, hearing, Heard("likely_end", "几点开门？", "question"))
        await _until_prepared(conversation)
        assert conversation.state == "listening" and not memory.turns(session), "prepared answers stay unseen"
        assert not any(await _play(conversation, 0.1))
        await _hear(conversation, hearing, Heard("end_of_turn", "几点开门？", "question", end=0.0))
        await _until_speaking(conversation)
        assert sum(await _play(conversation, 1.0)) == 25
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["prepared"] is True
        assert latency["first_piece_ms"] <= latency["end_of_turn_ms"] <= latency["first_audio_sent_ms"]
        assert [(t.role, t.text) for t in memory.turns(session)] == [
            ("user", "几点开门？"), ("assistant", "几点开门？")]

    asyncio.run(scenario())


def test_a_decode_that_finishes_between_two_pieces_of_audio_is_acted_on_at_once_plumbing(
        memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, _ = _listening(memory)
        hearing.decoded = [Heard("likely_end", "几点开门？", "question")]
        conversation.decoded()  # what the decoder's thread asks the loop to do when a decode is done
        await _until_prepared(conversation)
        hearing.decoded = [Heard("end_of_turn", "几点开门？", "question", end=0.0)]
        conversation.decoded()
        await _until_speaking(conversation)
        assert sum(await _play(conversation, 1.0)) == 25
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["prepared"] is True

    asyncio.run(scenario())


def test_a_prepared_answer_is_dropped_when_the_user_goes_on_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, session = _listening(memory)
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下。", "complete"))
        await _until_prepared(conversation)
        await _hear(conversation, hearing, Heard("partial", "我想问一下明天"))
        assert conversation._prepared is None
        await _hear(conversation, hearing, Heard("end_of_turn", "我想问一下明天下雨吗？", "question"))
        await _until_speaking(conversation)
        sent = await _play(conversation, 1.5)
        assert sum(sent) == 55  # 11 characters: the whole question read back, nothing of the dropped answer
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["prepared"] is False
        assert [(t.role, t.text) for t in memory.turns(session)] == [
            ("user", "我想问一下明天下雨吗？"), ("assistant", "我想问一下明天下雨吗？")]

    asyncio.run(scenario())


def test_a_prepared_answer_for_other_words_is_not_played_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, _, session = _listening(memory)
        await _hear(conversation, hearing, Heard("likely_end", "你好。", "complete"))
        await _until_prepared(conversation)
        await _hear(conversation, hearing, Heard("end_of_turn", "你好吗？", "question"))
        await _until_speaking(conversation)
        assert sum(await _play(conversation, 1.0)) == 20
        assert [t.text for t in memory.turns(session)] == ["你好吗？", "你好吗？"]

    asyncio.run(scenario())


def test_chunks_of_a_cut_turn_are_dropped_when_they_arrive_late_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, _, _ = _conversation(memory)
        await conversation.say("第一句话。")
        await _until_speaking(conversation)
        old_turn = conversation.playout.turn
        await conversation.interrupt(reason="stopped")
        late = conversation.playout.enqueue(old_turn, np.full(4800, 0.1, dtype=np.float32), 48000, "迟到")
        assert late is False
        assert not any(await _play(conversation, 0.5)), "a frame of the cut turn went out"

    asyncio.run(scenario())


def test_a_prepared_answer_is_used_when_only_the_punctuation_changed_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, _ = _listening(memory)
        await _hear(conversation, hearing, Heard("likely_end", "What time do you open", "unknown"))
        await _until_prepared(conversation)
        await _hear(conversation, hearing, Heard("end_of_turn", "What time do you open?", "question"))
        await _until_speaking(conversation)
        await _play(conversation, 0.1)
        assert next(e for e in events if e["type"] == "latency")["prepared"] is True

    asyncio.run(scenario())


def _with_opener(memory: MemoryStore) -> tuple[Conversation, list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    session = memory.create_session(owner="test")
    engine = DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA)
    conversation = Conversation(engine, session, fake_speak, Playout(48000), events.append, opener=_openers())
    return conversation, events, session


def test_the_opener_plays_first_and_stays_out_of_memory_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, events, session = _with_opener(memory)
        await conversation.say("好的。")
        assert conversation.state == "speaking", "the opener should make the avatar speak at once"
        sent = await _play(conversation, 1.0)
        assert sum(sent) == 5 + 15  # the opener (0.1 s), then the answer (0.3 s)
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["opener"] is True
        assert latency["first_audio_sent_ms"] <= latency["answer_audio_sent_ms"]
        assert [(t.role, t.text) for t in memory.turns(session)] == [("user", "好的。"), ("assistant", "好的。")]

    asyncio.run(scenario())


def test_a_barge_in_during_the_opener_leaves_no_answer_in_memory_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, events, session = _with_opener(memory)
        await conversation.say("你们几点开门？")
        await _play(conversation, 0.04)
        await conversation.interrupt(reason="stopped")
        assert next(e for e in events if e["type"] == "interrupted")["heard_chars"] == 0
        assert [t.role for t in memory.turns(session)] == ["user"]

    asyncio.run(scenario())


async def _answered_after_the_early_opener(conversation: Conversation, hearing: ScriptedHearing,
                                          events: list[dict[str, Any]], memory: MemoryStore, session: str,
                                          text: str, reason: str) -> None:
    """The user's turn ends with `text` (spoken before the early opener went out): the echoed answer follows the
    opener in its turn (5 frames a character, no second opener), prepared, and both sides are stored."""
    await _hear(conversation, hearing, Heard("end_of_turn", text, reason, end=0.0))
    await _until_speaking(conversation)
    assert sum(await _play(conversation, 1.0)) == 5 * len(text), "the answer, and no second opener"
    latency = next(e for e in events if e["type"] == "latency")
    assert latency["prepared"] is True and latency["opener"] is True
    assert latency["first_audio_sent_ms"] <= latency["end_of_turn_ms"] <= latency["answer_audio_sent_ms"]
    assert [(t.role, t.text) for t in memory.turns(session)] == [("user", text), ("assistant", text)]


def test_the_opener_goes_out_when_the_words_sound_finished_and_the_answer_follows_in_its_turn_plumbing(
        memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, session = _listening(memory, opener=True)
        await _hear(conversation, hearing, Heard("likely_end", "几点开门？", "question"))
        early = await _play(conversation, 0.2)
        assert sum(early) == 5, "the opener should go out before the end of the turn is decided"
        assert conversation.state == "listening" and not memory.turns(session)
        await _until_prepared(conversation)
        await _answered_after_the_early_opener(conversation, hearing, events, memory, session, "几点开门？", "question")

    asyncio.run(scenario())


def test_an_early_opener_is_a_listeners_sound_when_the_user_goes_on_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, session = _listening(memory, opener=True)
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下。", "complete"))
        assert sum(await _play(conversation, 0.2)) == 5
        await _hear(conversation, hearing, Heard("partial", "我想问一下明天"))
        assert conversation._prepared is None
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下明天下雨吗？", "question"))
        assert not any(await _play(conversation, 0.2)), "one early opener per turn of the user"
        for _ in range(1000):  # its speech is ready: no opener at the end of the turn either
            if conversation._prepared is not None and conversation._prepared.audio_waiting:
                break
            await asyncio.sleep(0.001)
        said_until = conversation._stream_time  # the user's last words came after the early opener
        await _hear(conversation, hearing, Heard("end_of_turn", "我想问一下明天下雨吗？", "question", end=said_until))
        await _until_speaking(conversation)
        assert sum(await _play(conversation, 1.5)) == 55
        assert next(e for e in events if e["type"] == "latency")["opener"] is False
        assert [(t.role, t.text) for t in memory.turns(session)] == [
            ("user", "我想问一下明天下雨吗？"), ("assistant", "我想问一下明天下雨吗？")]
        await _hear(conversation, hearing, Heard("likely_end", "好的。", "complete"))
        assert sum(await _play(conversation, 0.2)) == 5, "the next turn of the user gets its own"

    asyncio.run(scenario())


def test_an_early_opener_stays_the_turns_when_the_final_decode_adds_a_soft_last_syllable_plumbing(
        memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, session = _listening(memory, opener=True)
        # Decoded one window into the pause, the last syllable was cut off; over the whole pause, it is there.
        await _hear(conversation, hearing, Heard("likely_end", "他下午需要。", "complete"))
        assert sum(await _play(conversation, 0.2)) == 5
        await _hear(conversation, hearing, Heard("partial", "他下午需要看。"),
                    Heard("likely_end", "他下午需要看。", "complete"))
        await _until_prepared(conversation)
        await _answered_after_the_early_opener(conversation, hearing, events, memory, session,
                                               "他下午需要看。", "complete")

    asyncio.run(scenario())


def test_words_that_promise_more_get_no_early_opener_plumbing(memory: MemoryStore) -> None:
    async def scenario() -> None:
        conversation, hearing, events, _ = _listening(memory, opener=True)
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下", "unknown"))
        assert not any(await _play(conversation, 0.2))
        await _hear(conversation, hearing, Heard("end_of_turn", "我想问一下", "unknown"))
        await _until_speaking(conversation)
        await _play(conversation, 1.0)
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["end_of_turn_ms"] <= latency["first_audio_sent_ms"]

    asyncio.run(scenario())


def test_speech_is_synthesised_only_a_lead_ahead_of_what_plays_plumbing(memory: MemoryStore) -> None:
    """Each sentence after the first is synthesised once the queued speech is within the lead: the pause (the
    session's clock, injected) lets the transport play the surplus first. The whole answer still plays."""
    lead = 1.0
    queued_when_asked: list[float] = []
    playout = Playout(48000)

    def speak_by_sentence(text: str) -> Iterator[FakeChunk]:
        for sentence in filter(None, text.split("。")):
            queued_when_asked.append(playout.queued)
            yield from fake_speak(sentence + "。")  # 0.1 s a character: 1.3 s a sentence

    async def pause(seconds: float) -> None:  # the transport sends `seconds` of audio meanwhile
        for _ in range(math.ceil(seconds * 50)):
            frame = playout.next_frame()
            conversation.on_frame_sent(frame.turn, frame.speech)

    async def scenario() -> None:
        await conversation.say("第一句话说完了。第二句话说完了。第三句话说完了。")
        await _until_speaking(conversation)
        sent = await _play(conversation, 3.0)
        assert len(queued_when_asked) == 3
        assert queued_when_asked[0] == 0.0
        assert all(queued <= lead + 1e-9 for queued in queued_when_asked[1:]), queued_when_asked
        assert conversation.state == "listening"
        assert [t.text for t in memory.turns(session)][-1] == "第一句话说完了。第二句话说完了。第三句话说完了。"
        assert sum(sent) > 0

    session = memory.create_session(owner="test")
    engine = DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA)
    conversation = Conversation(engine, session, speak_by_sentence, playout, [].append, synthesis_lead=lead,
                                pause=pause)
    asyncio.run(scenario())


class WatchedVoice:
    """An interrupter (plumbing for the barge-in watch): "barge-in" once the user's own voice is heard again."""

    def __init__(self) -> None:
        self.talking = False
        self.resets = 0

    def __call__(self, samples: np.ndarray, stream_time: float) -> str:
        return "barge-in" if self.talking else "clear"

    def reset(self) -> None:
        self.resets += 1
        self.talking = False


def test_when_the_user_goes_on_the_prepared_speech_is_halted_and_the_end_gets_its_own_opener_plumbing(
        memory: MemoryStore) -> None:
    """The first likely end's answer is being synthesised when the watch hears the user again: that synthesis
    stops mid-sentence (like an ONNX run under the answer's halt), the answer is dropped, and the real end of
    the turn gets an early opener of its own, with the answer right after it in its turn."""
    synthesising = threading.Event()
    halted = threading.Event()

    def speak(text: str) -> Iterator[FakeChunk]:
        if text == "我想问一下。":  # a long sentence still being synthesised when the user goes on
            synthesising.set()
            halt = current_halt()
            for _ in range(10_000):
                if halt is not None and halt.stopped:
                    halted.set()
                    raise HaltedError("stopped")
                threading.Event().wait(0.001)
        yield from fake_speak(text)

    async def until(flag: threading.Event) -> None:
        for _ in range(2000):
            if flag.is_set():
                return
            await asyncio.sleep(0.001)
        raise AssertionError("it did not happen")

    async def scenario() -> None:
        voice = WatchedVoice()
        conversation, hearing, events, session = _listening(memory, opener=True, speak=speak, interrupter=voice)
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下。", "complete"))
        assert sum(await _play(conversation, 0.2)) == 5, "the early opener"
        await until(synthesising)
        assert voice.resets == 1, "the watch is armed afresh for the prepared answer"
        await _hear(conversation, hearing)  # the user's voice, but nothing the watch counts yet
        assert conversation._prepared is not None
        voice.talking = True
        await _hear(conversation, hearing)
        assert conversation._prepared is None, "the prepared answer outlived the user going on"
        await until(halted)
        await _hear(conversation, hearing, Heard("likely_end", "我想问一下明天下雨吗？", "question"))
        assert sum(await _play(conversation, 0.2)) == 5, "the end of the longer turn gets its own opener"
        await _until_prepared(conversation)
        said_until = conversation._stream_time - 0.1  # the user's last words came before that opener
        await _hear(conversation, hearing, Heard("end_of_turn", "我想问一下明天下雨吗？", "question", end=said_until))
        await _until_speaking(conversation)
        assert sum(await _play(conversation, 1.5)) == 55, "the answer follows, with no second opener"
        latency = next(e for e in events if e["type"] == "latency")
        assert latency["prepared"] is True and latency["opener"] is True
        assert [(t.role, t.text) for t in memory.turns(session)] == [
            ("user", "我想问一下明天下雨吗？"), ("assistant", "我想问一下明天下雨吗？")]

    asyncio.run(scenario())
