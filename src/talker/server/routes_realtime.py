"""Real-time conversations over WebRTC: the signalling (sessions, offer → answer); the protocol is docs/REALTIME.md."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from talker.server.deps import Owner, State

router = APIRouter(prefix="/v1/realtime", tags=["realtime"])


class RealtimeRequest(BaseModel):
    """Who speaks: an avatar of yours, optionally a voice and the language of the conversation."""

    avatar: str = Field(max_length=64, examples=["av_1f2e3d4c5b6a7980"])
    voice: str | None = Field(None, max_length=100, description="a voice id or your voice's name; "
                              "default: the language's default voice (or the first answer's language)",
                              examples=["zf_xiaoxiao"])
    language: Literal["zh", "en"] | None = Field(None, description="what the user speaks; default: detected "
                                                 "per utterance")


class RealtimeCreated(BaseModel):
    id: str = Field(examples=["rt_1f2e3d4c5b6a7980"])
    ice_servers: list[dict[str, Any]] = Field(default_factory=list,
                                              description="for the client's RTCPeerConnection (none: LAN/loopback)")
    idle_timeout: float = Field(description="seconds without speech or messages after which the session ends")
    avatar: str
    voice: str | None = Field(None, description="the voice answers are spoken in (null: chosen by the first answer)")
    language: str | None = None


class RealtimeSessionOut(BaseModel):
    id: str = Field(examples=["rt_1f2e3d4c5b6a7980"])
    avatar: str
    voice: str | None
    language: str | None
    created: float
    connection: str = Field(description="waiting (for the offer), new, connecting, connected, failed or closed",
                            examples=["connected"])
    state: str = Field(description="listening, thinking or speaking", examples=["listening"])
    turns: int = Field(description="answers started so far")
    latency: dict[str, float | bool] = Field(
        default_factory=dict,
        description="the last answer's milliseconds from the end of the user's speech (typed text: its arrival) to "
                    "each stage: text known, end of turn decided, first piece, first audio ready, first audio sent; "
                    "`prepared`: the answer was made before the turn ended",
        examples=[{"transcribed_ms": 310.0, "end_of_turn_ms": 352.3, "first_piece_ms": 455.1,
                   "first_audio_ready_ms": 640.4, "first_audio_sent_ms": 652.0, "prepared": True}])
    memory_session: str = Field(description="the chat session holding this conversation's history "
                                "(GET /v1/chat/sessions/{id})")


class SessionDescription(BaseModel):
    """An SDP offer or answer, as `RTCPeerConnection.localDescription` gives it (ICE gathering complete)."""

    type: Literal["offer", "answer"] = Field(examples=["offer"])
    sdp: str = Field(min_length=1, max_length=200_000)


def install(state: Any) -> None:
    """Create the session manager; its sessions close with the app."""
    from talker.realtime.sessions import RealtimeSessions

    manager = RealtimeSessions(state)
    state.extras["realtime"] = manager
    state.extras.setdefault("on_stop", []).append(manager.close_all)


def _sessions(state: Any) -> Any:
    return state.extras["realtime"]


def _out(session: Any) -> RealtimeSessionOut:
    conversation = session.conversation
    latency = conversation.latency(conversation.turns[-1]) if conversation.turns else {}
    return RealtimeSessionOut(id=session.id, avatar=session.avatar, voice=session.voice, language=session.language,
                              created=session.created, connection=session.state, state=conversation.state,
                              turns=len(conversation.turns), latency=latency, memory_session=session.memory_session)


@router.post("/sessions", status_code=201, response_model=RealtimeCreated, summary="Start a real-time conversation",
             responses={201: {"description": "send the WebRTC offer to /v1/realtime/sessions/{id}/offer next"}})
async def create_session(state: State, owner: Owner, request: Annotated[RealtimeRequest, Body()]) -> JSONResponse:
    """Prepares the conversation (the avatar, the voice, the recogniser, a new memory session). An unknown
    avatar or voice is refused (422); when the server already runs its limit of conversations, 503."""
    manager = _sessions(state)
    session = await manager.create(owner, request.avatar, request.voice, request.language)
    body = RealtimeCreated(id=session.id, ice_servers=[], idle_timeout=manager.idle_timeout, avatar=session.avatar,
                           voice=session.voice, language=session.language)
    return JSONResponse(body.model_dump(), status_code=201, headers={"Location": f"/v1/realtime/sessions/{session.id}"})


@router.get("/sessions", response_model=list[RealtimeSessionOut], summary="Your live conversations")
async def list_sessions(state: State, owner: Owner) -> list[RealtimeSessionOut]:
    return [_out(session) for session in _sessions(state).list(owner)]


@router.get("/sessions/{session_id}", response_model=RealtimeSessionOut, summary="One live conversation")
async def get_session(state: State, owner: Owner, session_id: str) -> RealtimeSessionOut:
    return _out(_sessions(state).get(owner, session_id))


@router.post("/sessions/{session_id}/offer", response_model=SessionDescription, summary="Connect: offer → answer")
async def offer(state: State, owner: Owner, session_id: str,
                description: Annotated[SessionDescription, Body()]) -> SessionDescription:
    """The client's SDP offer (after its ICE gathering completed) → the server's answer, with every candidate.
    One connection per session (409 for a second offer); an unusable offer is refused (400) and ends the session."""
    from talker.server.problems import bad_request

    if description.type != "offer":
        raise bad_request("send the client's offer here (`type` must be \"offer\")")
    sdp = await _sessions(state).offer(owner, session_id, description.sdp)
    return SessionDescription(type="answer", sdp=sdp)


@router.delete("/sessions/{session_id}", status_code=204, summary="End a conversation")
async def delete_session(state: State, owner: Owner, session_id: str) -> Response:
    """Closes the connection and frees the session; its history stays in its memory session."""
    await _sessions(state).close(owner, session_id)
    return Response(status_code=204)
