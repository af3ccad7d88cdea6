"""The dialogue engine with the real local model, the real knowledge base and memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from talker.config import Settings
from talker.dialogue.engine import DialogueEngine, Reply
from talker.dialogue.knowledge import KnowledgeBase
from talker.dialogue.llm import LocalLLM, create_local
from talker.dialogue.memory import MemoryStore
from talker.dialogue.persona import DEFAULT_PERSONA
from talker.errors import InputError
from tests.dialogue import test_knowledge
from tests.dialogue.test_knowledge import QUESTIONS, SHEET_FILES

sheet_dir = test_knowledge.sheet_dir  # the fact sheet fixture, shared with the knowledge tests


@pytest.fixture(scope="module")
def local(settings: Settings) -> LocalLLM:
    return create_local(settings)


@pytest.fixture(scope="module")
def knowledge(sheet_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase(tmp_path_factory.mktemp("kb") / "kb.sqlite")
    for name in SHEET_FILES:
        base.add(sheet_dir / name)
    base.add_faq("周日几点开门？", "周日上午十点开门，下午四点关门。", source="faq.md")
    yield base
    base.close()


@pytest.fixture()
def engine(local: LocalLLM, knowledge: KnowledgeBase, tmp_path: Path) -> Iterator[DialogueEngine]:
    memory = MemoryStore(tmp_path / "memory.sqlite")
    yield DialogueEngine(local, memory, DEFAULT_PERSONA, knowledge)
    memory.close()


async def _say(reply: Reply) -> str:
    pieces = [piece async for piece in reply.pieces()]
    reply.finish()
    return "".join(pieces)


async def test_factual_questions_get_the_fact_with_a_citation(engine: DialogueEngine) -> None:
    session = engine.memory.create_session()
    misses = []
    for question, facts in QUESTIONS:
        reply = engine.ask(session, question)
        answer = await _say(reply)
        if not any(fact in answer for fact in facts) or not reply.citations:
            misses.append((question, answer, reply.via))
    assert len(misses) <= 2, misses  # ≥ 90 % of 20


async def test_faq_answer_is_verbatim_and_cited(engine: DialogueEngine) -> None:
    session = engine.memory.create_session()
    reply = engine.ask(session, "请问周日几点开门？")
    assert await _say(reply) == "周日上午十点开门，下午四点关门。"
    assert reply.via == "faq" and reply.citations[0].source == "faq.md"


async def test_small_talk_goes_to_the_llm_in_the_users_language(engine: DialogueEngine) -> None:
    session = engine.memory.create_session()
    reply = engine.ask(session, "你好，很高兴认识你！")
    answer = await _say(reply)
    assert reply.via == "llm" and answer.strip()


async def test_sessions_never_see_each_others_history(engine: DialogueEngine) -> None:
    alice, bob = engine.memory.create_session(), engine.memory.create_session()
    await _say(engine.ask(alice, "My name is Alice and my account number is 123456."))
    reply = engine.ask(bob, "What is my name?")
    request = engine._request(reply, [])
    assert all("Alice" not in turn.user and "123456" not in turn.user for turn in request.history)
    assert "Alice" not in request.summary
    await _say(reply)
    assert engine.memory.turns(bob)[0].text == "What is my name?"
    assert all("Alice" not in t.text for t in engine.memory.turns(bob) if t.role == "user")


async def test_interrupted_answer_is_stored_as_heard(engine: DialogueEngine) -> None:
    session = engine.memory.create_session()
    reply = engine.ask(session, "What time does the branch close on weekdays?")
    pieces = [piece async for piece in reply.pieces()]
    assert pieces and len(reply.text) > 20
    heard = reply.text.index(" ", 12)  # the user talked over it after a dozen characters
    reply.finish(heard_chars=heard)
    stored = engine.memory.turns(session)[-1]
    assert stored.role == "assistant" and stored.interrupted
    assert stored.text == reply.text[:heard].rstrip() and len(stored.text) < len(reply.text)


@pytest.mark.parametrize("text", ["", "   ", "x" * 100_000], ids=["empty", "blank", "100KB"])
def test_bad_messages_are_refused_and_nothing_is_stored(engine: DialogueEngine, text: str) -> None:
    session = engine.memory.create_session()
    with pytest.raises(InputError):
        engine.ask(session, text)
    assert engine.memory.turns(session) == []


async def test_warming_loads_the_model_once_before_the_first_question(local: LocalLLM, tmp_path: Path) -> None:
    memory = MemoryStore(tmp_path / "memory.sqlite")
    engine = DialogueEngine(local, memory, DEFAULT_PERSONA)
    try:
        engine.warm()
        server = local._server
        assert server is not None, "warming should load the model"
        calls: list[object] = []

        class Counting:  # plumbing: sees whether a second warm-up asks the model anything
            def handle_completions(self, *args: object) -> object:
                calls.append(args)
                return server.handle_completions(*args)

        local._server = Counting()
        try:
            engine.warm()
        finally:
            local._server = server
        assert calls == [], "the persona prefix is cached once per process"
        answer = await _say(engine.ask(memory.create_session(), "你好！"))
        assert answer.strip()
    finally:
        memory.close()
