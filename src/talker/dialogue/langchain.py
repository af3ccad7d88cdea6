"""LangChain both ways: the dialogue engine as a `Runnable`, and LangChain chat models and retrievers
as talker backends. Needs the `langchain` extra (langchain-core)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from talker.dialogue.engine import DialogueEngine, Reply
from talker.dialogue.knowledge import FaqMatch, Hit
from talker.dialogue.llm import Cancel, ChatRequest, OpenAICompatibleLLM
from talker.errors import BackendUnavailableError, InputError

try:
    from langchain_core.runnables import Runnable, RunnableConfig
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise BackendUnavailableError("LangChain support needs langchain-core: pip install 'talker[langchain]'") from error


class DialogueRunnable(Runnable[Any, str]):
    """The engine as a LangChain Runnable. Input: the message, or {"message": …, "session_id": …}; a
    session id may also come from `config["configurable"]["session_id"]`. Output: the answer text."""

    def __init__(self, engine: DialogueEngine, session_id: str | None = None) -> None:
        self.engine = engine
        self.session_id = session_id

    def _parse(self, value: Any, config: RunnableConfig | None) -> tuple[str, str]:
        message = value.get("message") if isinstance(value, dict) else value
        if not isinstance(message, str):
            raise InputError("the input must be the message text or {'message': …, 'session_id': …}")
        configured = (config or {}).get("configurable", {}).get("session_id")
        session = (value.get("session_id") if isinstance(value, dict) else None) or configured or self.session_id
        if session is None:
            session = self.session_id = self.engine.memory.create_session(owner="langchain")
        return str(session), message

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[str]:
        reply = self._ask(input, config)
        async for piece in reply.pieces():
            yield piece
        reply.finish()

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        reply = self._ask(input, config)
        async for _ in reply.pieces():
            pass
        reply.finish()
        return reply.text

    def _ask(self, input: Any, config: RunnableConfig | None) -> Reply:
        session, message = self._parse(input, config)
        return self.engine.ask(session, message)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return asyncio.run(self.ainvoke(input, config))

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        yield self.invoke(input, config)


class LangChainLLM:
    """Any LangChain chat model as a talker LLM backend (streaming; cancel stops reading the stream)."""

    name = "langchain"

    def __init__(self, chat_model: Any) -> None:
        self.chat_model = chat_model

    async def stream(self, request: ChatRequest, cancel: Cancel) -> AsyncIterator[str]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        messages = [kinds[m["role"]](content=m["content"]) for m in OpenAICompatibleLLM("-").messages(request)]
        async for chunk in self.chat_model.astream(messages):
            if cancel.cancelled:
                return
            text = chunk.content if isinstance(chunk.content, str) else ""
            if text:
                yield text


class RetrieverKnowledge:
    """Any LangChain retriever as the engine's knowledge source (no FAQ layer: it never answers verbatim)."""

    def __init__(self, retriever: Any) -> None:
        self.retriever = retriever

    def search(self, query: str, k: int = 4) -> list[Hit]:
        documents = self.retriever.invoke(query)[:k]
        return [Hit(doc_id=index, title=str(doc.metadata.get("title", doc.metadata.get("source", ""))),
                    source=str(doc.metadata.get("source", "")), chunk_index=0,
                    heading=str(doc.metadata.get("heading", "")), text=doc.page_content,
                    score=float(len(documents) - index))
                for index, doc in enumerate(documents)]

    def faq_answer(self, query: str) -> FaqMatch | None:
        return None

