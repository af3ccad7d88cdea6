"""The dialogue engine: one user message in, speakable answer pieces out, grounded and remembered.

Order of answers: an exact FAQ answer (verbatim), else an extractive answer from a confidently
retrieved passage (the sentence that answers, cited), else the LLM with persona, history and the best
passages as facts. A tiny model never gets to invent opening hours: facts come from the deployer's
documents, and the LLM handles conversation.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Protocol

from talker.dialogue.knowledge import FaqMatch, Hit, tokenize
from talker.dialogue.llm import Cancel, ChatRequest, Exchange, LLMBackend
from talker.dialogue.memory import MemoryStore, Turn
from talker.dialogue.persona import Persona
from talker.dialogue.shaping import speakable
from talker.errors import InputError
from talker.text.sentences import iter_sentences

Via = Literal["faq", "document", "llm"]


class Knowledge(Protocol):
    """What the engine needs of a knowledge source: ours (`KnowledgeBase`) or a LangChain retriever's."""

    def search(self, query: str, k: int = 4) -> list[Hit]: ...

    def faq_answer(self, query: str) -> FaqMatch | None: ...

MAX_MESSAGE_CHARS = 4000
# An extractive answer needs this many of the question's content tokens in one sentence of the top passage.
_MIN_OVERLAP = 2
_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=\.)\s+")
_MARKUP = re.compile(r"^[#>\-*|\s]+|[*_`|]+")


@dataclass(frozen=True)
class Citation:
    """Where an answer's facts come from."""

    kind: Literal["faq", "document"]
    title: str
    source: str
    heading: str = ""
    excerpt: str = ""


class Reply:
    """One answer in progress: iterate `pieces()`; call `finish()` once it was spoken (or cut short)."""

    def __init__(self, engine: DialogueEngine, session_id: str, text: str, history: list[Turn]) -> None:
        self._engine = engine
        self.session_id = session_id
        self.question = text
        self._history = history
        self._cancel = Cancel()
        self.text = ""
        self.via: Via = "llm"
        self.citations: list[Citation] = []
        self._finished = False
        self._committed = False

    def commit(self) -> None:
        """Store the question in the session's memory (`ask` does at once; a `prepare`d reply when it is used)."""
        if not self._committed:
            self._committed = True
            self._engine.memory.add_user(self.session_id, self.question)

    def cancel(self) -> None:
        """Stop generating (barge-in): no piece follows."""
        self._cancel.cancel()

    async def pieces(self) -> AsyncIterator[str]:
        """Speakable pieces of the answer, the first as early as possible."""
        async for piece in self._engine._answer(self, self._cancel):
            if self._cancel.cancelled:
                return
            self.text = append_piece(self.text, piece)
            yield piece

    def finish(self, heard_chars: int | None = None) -> None:
        """Store the exchange in the session's memory: the answer whole, or only the `heard_chars` actually heard."""
        if self._finished:
            return
        self._finished = True
        self.commit()
        if self.text.strip():
            self._engine.memory.add_assistant(self.session_id, self.text, heard_chars)


class DialogueEngine:
    """Answers messages of many sessions; sessions share nothing but the models and the knowledge base."""

    def __init__(self, llm: LLMBackend, memory: MemoryStore, persona: Persona,
                 knowledge: Knowledge | None = None, history_tokens: int = 600) -> None:
        self.llm = llm
        self.memory = memory
        self.persona = persona
        self.knowledge = knowledge
        self.history_tokens = history_tokens

    def warm(self) -> None:
        """Load the LLM and cache the persona's prompt ahead of the first question (blocking: call it from a
        worker thread). Loading a local model holds the interpreter lock for a second or more: done while
        conversations are live, it would stall their audio."""
        warm = getattr(self.llm, "warm", None)
        if warm is None:
            return
        warm(self._chat_request(""))

    def ask(self, session_id: str, text: str) -> Reply:
        """Start answering `text` in `session_id` (the question is stored at once)."""
        reply = self.prepare(session_id, text)
        reply.commit()
        return reply

    def prepare(self, session_id: str, text: str) -> Reply:
        """Start answering `text` before it is certain to be the question (the user may go on): nothing is
        stored until the reply is committed or finished; a cancelled, unfinished reply leaves no trace."""
        text = text.strip()
        if not text:
            raise InputError("the message is empty; say or type something")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InputError(f"the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}")
        history = self.memory.history(session_id, self.history_tokens)  # before this question is added
        return Reply(self, session_id, text, history)

    async def _answer(self, reply: Reply, cancel: Cancel) -> AsyncIterator[str]:
        # The knowledge base is searched on a worker thread: a large one (or one whose new chunks still need
        # their vectors) takes long enough to stall the audio of every live conversation on the event loop.
        knowledge = self.knowledge
        faq = await asyncio.to_thread(knowledge.faq_answer, reply.question) if knowledge else None
        if faq is not None:
            reply.via = "faq"
            reply.citations = [Citation("faq", faq.question, faq.source, excerpt=faq.answer)]
            for sentence in iter_sentences(faq.answer):
                yield sentence
            return
        hits = await asyncio.to_thread(knowledge.search, reply.question, 3) if knowledge else []
        procedure = _steps(reply.question, hits[0]) if hits else None
        if procedure is not None:
            reply.via = "document"
            reply.citations = [_cite(hits[0], procedure)]
            for sentence in iter_sentences(procedure):
                yield sentence
            return
        candidates = [(found, hit) for hit in hits[:2] if (found := _extractive(reply.question, hit))]
        if candidates:
            (extract, _), source = candidates[0]  # retrieval's ranking beats raw word overlap
            reply.via = "document"
            reply.citations = [_cite(source, extract)]
            for sentence in iter_sentences(extract):
                yield sentence
            return
        reply.citations = [_cite(hit) for hit in hits[:2]]
        async for piece in speakable(self.llm.stream(self._request(reply, hits[:2]), cancel)):
            yield piece

    def _request(self, reply: Reply, hits: list[Hit]) -> ChatRequest:
        pairs, summary = _exchanges(reply._history)
        return self._chat_request(reply.question, pairs, summary, tuple(_clean(hit.text)[:400] for hit in hits))

    def _chat_request(self, user: str, history: tuple[Exchange, ...] = (), summary: str = "",
                      passages: tuple[str, ...] = ()) -> ChatRequest:
        """The persona's request for `user`'s message (the persona's part alone is what warming caches)."""
        persona = self.persona
        return ChatRequest(
            user=user,
            language=persona.reply_language(user),
            name=persona.name, role=persona.role, style=persona.style,
            examples=tuple(Exchange(e.user, e.assistant) for e in persona.examples),
            history=history, summary=summary,
            facts=(*persona.facts, *passages),
            max_tokens=persona.max_new_tokens,
        )


def _exchanges(turns: list[Turn]) -> tuple[tuple[Exchange, ...], str]:
    pairs: list[Exchange] = []
    summary = ""
    pending: str | None = None
    for turn in turns:
        if turn.role == "summary":
            summary = turn.text
        elif turn.role == "user":
            pending = turn.text
        elif pending is not None:
            pairs.append(Exchange(pending, turn.text))
            pending = None
    return tuple(pairs), summary


_HOW = re.compile(r"怎么办|怎么做|怎么弄|如何|怎样|步骤|流程|\bhow (?:do|can|should)\b|\bwhat should\b|\bsteps?\b",
                  re.IGNORECASE)
_STEP = re.compile(r"^\s*(?:\d{1,2}[.、)）]|[（(]\d{1,2}[)）]|第[一二三四五六七八九十]+步)\s*")


def _steps(question: str, hit: Hit) -> str | None:
    """For a "how do I …" question, the numbered steps of the passage (up to four), if it has them."""
    if not _HOW.search(question):
        return None
    steps = [_STEP.sub("", line).strip() for line in hit.text.splitlines() if _STEP.match(line)]
    if len(steps) < 2:
        return None
    return " ".join(step if step[-1:] in "。.!！?？" else step + ("。" if _is_cjk(step[-1:]) else ".")
                    for step in steps[:4])


def _extractive(question: str, hit: Hit) -> tuple[str, int] | None:
    """The sentences of `hit` that answer `question` and how many of its words they share: the best
    sentence, with a neighbour or the runner-up when they carry the question's words too. None if no
    sentence shares enough. Headings and title-like lines are never answers."""
    wanted = set(tokenize(question))
    heading = _clean(hit.heading)
    sentences = [part.strip() for line in hit.text.splitlines() if not _is_title(line, heading)
                 for part in _SENTENCE_END.split(_clean(line)) if part.strip()]
    overlaps = [len(wanted & set(tokenize(sentence))) for sentence in sentences]
    if not overlaps or max(overlaps) < _MIN_OVERLAP:
        return None
    best = overlaps.index(max(overlaps))
    chosen = {best}
    runner_up = sorted(range(len(sentences)), key=lambda i: overlaps[i], reverse=True)[1:2]
    chosen.update(i for i in runner_up if overlaps[i] >= max(_MIN_OVERLAP, overlaps[best] - 1))
    for neighbour in (best - 1, best + 1):  # an answer often runs over into the sentence next to it
        if 0 <= neighbour < len(sentences) and overlaps[neighbour] >= 1:
            chosen.add(neighbour)
    answer = " ".join(sentences[i] for i in sorted(chosen))
    return (answer, overlaps[best]) if len(answer) >= 4 else None


def _is_title(line: str, heading: str) -> bool:
    text = _clean(line)
    if line.lstrip().startswith("#") or text == heading:
        return True
    return len(text) < 16 and not re.search(r"[。！？!?.:：；;，,0-9]", text)


def _clean(text: str) -> str:
    return " ".join(_MARKUP.sub("", line).strip() for line in text.splitlines() if line.strip())


def _cite(hit: Hit, excerpt: str = "") -> Citation:
    return Citation("document", hit.title, hit.source, hit.heading, excerpt or _clean(hit.text)[:200])


def append_piece(text: str, piece: str) -> str:
    """Join spoken pieces as they read: no space before Chinese, one before anything else."""
    return text + ("" if not text or _is_cjk(piece[:1]) else " ") + piece


def _is_cjk(char: str) -> bool:
    return bool(char) and "\u3000" <= char <= "\u9fff"
