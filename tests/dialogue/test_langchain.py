"""LangChain integration: the engine as a Runnable (real model), LangChain models/retrievers as backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda

from talker.config import Settings
from talker.dialogue.engine import DialogueEngine
from talker.dialogue.knowledge import KnowledgeBase
from talker.dialogue.langchain import DialogueRunnable, LangChainLLM, RetrieverKnowledge
from talker.dialogue.llm import EchoLLM, create_local
from talker.dialogue.memory import MemoryStore
from talker.dialogue.persona import DEFAULT_PERSONA


@pytest.fixture()
def memory(tmp_path: Path) -> Iterator[MemoryStore]:
    store = MemoryStore(tmp_path / "memory.sqlite")
    yield store
    store.close()


async def test_engine_as_runnable_answers_from_the_knowledge_base(settings: Settings, memory: MemoryStore,
                                                                  tmp_path: Path) -> None:
    with KnowledgeBase(tmp_path / "kb.sqlite") as base:
        base.add_text("Branch", "Opening hours: Monday to Friday 9:00 to 17:00. Closed on Sundays.")
        runnable = DialogueRunnable(DialogueEngine(create_local(settings), memory, DEFAULT_PERSONA, base))
        answer = await runnable.ainvoke("What time do you close on weekdays?")
        assert "17:00" in answer
        chain = runnable | RunnableLambda(lambda text: text.upper())
        assert "17:00" in await chain.ainvoke({"message": "When do you close on weekdays?"})
        pieces = [piece async for piece in runnable.astream("When do you open on Monday?")]
        assert pieces and "9:00" in "".join(pieces)
        assert runnable.session_id is not None
        assert len([t for t in memory.turns(runnable.session_id) if t.role == "user"]) == 3  # one session throughout


def test_runnable_keeps_sessions_apart_by_config(memory: MemoryStore) -> None:
    runnable = DialogueRunnable(DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA))
    first, second = memory.create_session(), memory.create_session()
    assert runnable.invoke("hello one", {"configurable": {"session_id": first}}) == "hello one"
    assert runnable.invoke("hello two", {"configurable": {"session_id": second}}) == "hello two"
    assert [t.text for t in memory.turns(first)] == ["hello one", "hello one"]
    assert [t.text for t in memory.turns(second)] == ["hello two", "hello two"]


async def test_plumbing_langchain_chat_model_as_backend(memory: MemoryStore) -> None:
    """Plumbing: LangChain's own fake chat model stands in for a real one (e.g. ChatOpenAI)."""
    model = GenericFakeChatModel(messages=iter([AIMessage(content="你好！我们九点开门。")]))
    engine = DialogueEngine(LangChainLLM(model), memory, DEFAULT_PERSONA)
    reply = engine.ask(memory.create_session(), "你们几点开门？")
    pieces = [piece async for piece in reply.pieces()]
    assert "".join(pieces) == "你好！我们九点开门。" and len(pieces) >= 2


class _ListRetriever(BaseRetriever):
    """Plumbing: a retriever over a fixed list (any LangChain retriever plugs in the same way)."""

    documents: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: object) -> list[Document]:
        words = set(query.lower().split())
        return sorted(self.documents, key=lambda d: -len(words & set(d.page_content.lower().split())))


async def test_plumbing_langchain_retriever_as_knowledge(memory: MemoryStore) -> None:
    retriever = _ListRetriever(documents=[
        Document(page_content="Parking is free for two hours in the tower garage.", metadata={"source": "p.md"}),
        Document(page_content="The lobby has free wifi called Guest.", metadata={"source": "w.md"}),
    ])
    engine = DialogueEngine(EchoLLM(), memory, DEFAULT_PERSONA, RetrieverKnowledge(retriever))
    reply = engine.ask(memory.create_session(), "Is parking free in the garage?")
    answer = "".join([piece async for piece in reply.pieces()])
    assert "two hours" in answer and reply.citations[0].source == "p.md"
