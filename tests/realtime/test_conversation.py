"""A conversation on a scripted timeline: answers play out, barge-in cancels every stage, memory keeps what was heard.

The engine is the real one (memory in SQLite) with the echo LLM, which reads the question back, so the
answer text is known in advance; speech is a stand-in of known length per character (plumbing).
"""

from __future__ import annotations

import asyncio
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
        await asyncio.sleep(0)
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

    def interrupter(samples: np.ndarray, stream_time: float) -> bool:
        return talking_over["now"]

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

    def interrupter(samples: np.ndarray, stream_time: float) -> bool:
        heard_windows.append(stream_time)
        return False  # what the echo gate says when the microphone hears only the avatar

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
