"""Per-owner dialogue: each owner has their own memory and knowledge base; the LLM is shared."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from talker.server.services import owner_dir

if TYPE_CHECKING:
    from talker.config import Settings
    from talker.dialogue.engine import DialogueEngine
    from talker.dialogue.knowledge import KnowledgeBase
    from talker.dialogue.memory import MemoryStore


class Mind:
    """One owner's memory, knowledge base and dialogue engine (opened on first use)."""

    def __init__(self, settings: Settings, owner: str, llm: Any, embedder: Any) -> None:
        from talker.dialogue.engine import DialogueEngine
        from talker.dialogue.knowledge import KnowledgeBase
        from talker.dialogue.memory import MemoryStore
        from talker.dialogue.persona import DEFAULT_PERSONA

        directory = owner_dir(settings, owner)
        directory.mkdir(parents=True, exist_ok=True)
        self.memory: MemoryStore = MemoryStore(directory / "memory.sqlite")
        self.knowledge: KnowledgeBase = KnowledgeBase(directory / "knowledge.sqlite", embedder=embedder)
        self.engine: DialogueEngine = DialogueEngine(llm, self.memory, DEFAULT_PERSONA, self.knowledge,
                                                     settings.llm.history_tokens)
        self.lock = threading.Lock()  # knowledge writes (ingest, vector index) one at a time

    def close(self) -> None:
        self.memory.close()
        self.knowledge.close()


class Minds:
    """The owners' minds, created lazily; the LLM and the sentence embedder load once for all."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._minds: dict[str, Mind] = {}
        self._llm: Any = None
        self._embedder: Any = None
        self._lock = threading.Lock()

    def get(self, owner: str) -> Mind:
        with self._lock:
            if owner not in self._minds:
                self._minds[owner] = Mind(self._settings, owner, self._shared_llm(), self._shared_embedder())
            return self._minds[owner]

    def _shared_llm(self) -> Any:
        if self._llm is None:
            from talker.registry import factory

            self._llm = factory(f"llm.{self._settings.llm.backend}")(self._settings)
        return self._llm

    def _shared_embedder(self) -> Any:
        if self._embedder is None:
            from talker.dialogue.embeddings import create_embedder
            from talker.errors import ModelMissingError

            try:
                self._embedder = create_embedder(self._settings)
            except ModelMissingError:
                self._embedder = False  # BM25 alone still answers
        return self._embedder or None

    def close(self) -> None:
        with self._lock:
            for mind in self._minds.values():
                mind.close()
            self._minds.clear()
