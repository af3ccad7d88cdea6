"""Chat: sessions with memory, answers streamed as server-sent events; and OpenAI's /v1/chat/completions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from talker.server.deps import Owner, State
from talker.server.problems import Problem, not_found

router = APIRouter(prefix="/v1")
SSE = "text/event-stream"


class SessionOut(BaseModel):
    id: str = Field(examples=["gymp0caAjR42NjbGQEc3BQ"])
    created: float
    updated: float
    turns: int


class TurnOut(BaseModel):
    role: str = Field(examples=["user"])
    text: str
    created: float
    interrupted: bool = False


class SessionDetail(SessionOut):
    history: list[TurnOut]


class Message(BaseModel):
    text: str = Field(min_length=1, max_length=4000, examples=["周六营业吗？"])
    stream: bool = Field(True, description="server-sent events (`piece`, then `done`); false: one JSON answer")


class CitationOut(BaseModel):
    kind: str
    title: str
    source: str
    heading: str = ""


class Answer(BaseModel):
    text: str
    via: str = Field(description="faq, document or llm: where the answer came from")
    citations: list[CitationOut]


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion body; `model` and sampling options are accepted and ignored."""

    model: str = Field("talker", examples=["talker"])
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)


def _mind(state: Any, owner: str) -> Any:
    minds = state.extras.get("minds")
    if minds is None:
        from talker.server.minds import Minds

        minds = state.extras.setdefault("minds", Minds(state.settings))
        state.extras.setdefault("on_stop", []).append(minds.close)
    return minds.get(owner)


def _session(mind: Any, session_id: str) -> Any:
    from talker.errors import InputError

    try:
        return mind.memory.session(session_id)
    except InputError:
        raise not_found(f"session {session_id}") from None


@router.post("/chat/sessions", tags=["chat"], status_code=201, response_model=SessionOut,
             summary="Start a conversation")
def create_session(state: State, owner: Owner) -> SessionOut:
    mind = _mind(state, owner)
    info = mind.memory.session(mind.memory.create_session(owner=owner))
    return SessionOut(id=info.id, created=info.created, updated=info.updated, turns=info.turns)


@router.get("/chat/sessions", tags=["chat"], response_model=list[SessionOut], summary="Your conversations")
def list_sessions(state: State, owner: Owner) -> list[SessionOut]:
    return [SessionOut(id=s.id, created=s.created, updated=s.updated, turns=s.turns)
            for s in _mind(state, owner).memory.sessions()]


@router.get("/chat/sessions/{session_id}", tags=["chat"], response_model=SessionDetail,
            summary="A conversation and its history")
def get_session(state: State, owner: Owner, session_id: str) -> SessionDetail:
    mind = _mind(state, owner)
    info = _session(mind, session_id)
    turns = [TurnOut(role=t.role, text=t.text, created=t.created, interrupted=t.interrupted)
             for t in mind.memory.turns(session_id)]
    return SessionDetail(id=info.id, created=info.created, updated=info.updated, turns=info.turns, history=turns)


@router.delete("/chat/sessions/{session_id}", tags=["chat"], status_code=204, summary="Forget a conversation")
def delete_session(state: State, owner: Owner, session_id: str) -> Response:
    mind = _mind(state, owner)
    _session(mind, session_id)
    mind.memory.delete_session(session_id)
    return Response(status_code=204)


@router.post("/chat/sessions/{session_id}/messages", tags=["chat"], response_model=Answer,
             responses={200: {"content": {SSE: {}}, "description": "the answer (SSE unless stream is false)"}},
             summary="Say something; the answer streams back")
async def send_message(request: Request, state: State, owner: Owner, session_id: str,
                       message: Annotated[Message, Body()]) -> Response:
    mind = _mind(state, owner)
    _session(mind, session_id)
    reply = mind.engine.ask(session_id, message.text)
    if not message.stream:
        async for _ in reply.pieces():
            pass
        reply.finish()
        return JSONResponse(_answer(reply).model_dump())
    return StreamingResponse(_events(request, reply), media_type=SSE, headers={"Cache-Control": "no-store"})


async def _events(request: Request, reply: Any) -> AsyncIterator[str]:
    """`piece` events as the answer is written, then `done`; a client that leaves stops the answer."""
    sent = 0
    try:
        async for piece in reply.pieces():
            if await request.is_disconnected():
                reply.cancel()
                break
            sent = len(reply.text)
            yield _sse("piece", {"text": piece})
        else:
            yield _sse("done", _answer(reply).model_dump())
    finally:
        reply.finish(heard_chars=None if sent == len(reply.text) else sent)


def _answer(reply: Any) -> Answer:
    return Answer(text=reply.text, via=reply.via,
                  citations=[CitationOut(kind=c.kind, title=c.title, source=c.source, heading=c.heading)
                             for c in reply.citations])


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/chat/completions", tags=["openai"], summary="Chat (OpenAI-compatible)",
             responses={200: {"content": {SSE: {}}, "description": "a completion, or chunks when streaming"}})
async def chat_completions(request: Request, state: State, owner: Owner,
                           body: Annotated[ChatCompletionRequest, Body()]) -> Response:
    """The last user message is answered with the conversation before it as history, grounded in your
    knowledge base like every other answer. Nothing is kept afterwards: OpenAI clients send the history."""
    mind = _mind(state, owner)
    texts = [(m.role, _content(m.content)) for m in body.messages if m.role in ("user", "assistant")]
    if not texts or texts[-1][0] != "user" or not texts[-1][1].strip():
        raise Problem(422, "Unprocessable content", "the last message must be a non-empty user message")
    session_id = mind.memory.create_session(owner=f"{owner}:openai")
    for role, text in texts[:-1]:
        if text.strip():
            (mind.memory.add_user if role == "user" else mind.memory.add_assistant)(session_id, text[:4000])
    reply = mind.engine.ask(session_id, texts[-1][1][:4000])
    completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    if body.stream:
        return StreamingResponse(_openai_chunks(request, mind, session_id, reply, completion_id, created, body.model),
                                 media_type=SSE)
    try:
        async for _ in reply.pieces():
            pass
    finally:
        mind.memory.delete_session(session_id)
    return JSONResponse({
        "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    })


async def _openai_chunks(request: Request, mind: Any, session_id: str, reply: Any, completion_id: str,
                         created: int, model: str) -> AsyncIterator[str]:
    def chunk(delta: dict[str, str], finish: str | None = None) -> str:
        document = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(document, ensure_ascii=False)}\n\n"

    try:
        yield chunk({"role": "assistant", "content": ""})
        shown = 0
        async for _ in reply.pieces():
            if await request.is_disconnected():
                reply.cancel()
                return
            yield chunk({"content": reply.text[shown:]})
            shown = len(reply.text)
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"
    finally:
        mind.memory.delete_session(session_id)


def _content(content: str | list[dict[str, Any]] | None) -> str:
    """Message content as text (OpenAI allows a list of parts; text parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")
