"""Speech out: /v1/tts (with optional timings) and the OpenAI-compatible /v1/audio/speech."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Body
from fastapi.responses import Response
from pydantic import BaseModel, Field

from talker.errors import InputError
from talker.server.audio_formats import MEDIA_TYPES, encode
from talker.server.deps import Owner, State
from talker.server.problems import Problem, unknown_voice
from talker.server.services import owner_settings

router = APIRouter(prefix="/v1")

AudioFormat = Literal["wav", "flac", "pcm", "mp3", "opus", "aac"]
# OpenAI's voice names, mapped by the voice's character onto ours; the text's language picks zh or en.
_OPENAI_MALE = frozenset({"echo", "onyx", "ash", "fable", "verse"})
_OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                            "verse"})


class SpeechRequest(BaseModel):
    """Text to speak, and how."""

    text: str = Field(min_length=1, examples=["你好，我是数字人小慧。今天气温25℃。"])
    voice: str | None = Field(None, description="a voice id or your stored voice's name; default by language",
                              examples=["zf_xiaoxiao"])
    speed: float = Field(1.0, ge=0.5, le=2.0)
    pitch: float = Field(0.0, ge=-6.0, le=6.0, description="semitones")
    volume: float = Field(1.0, ge=0.0, le=2.0)
    format: AudioFormat = "wav"
    timings: bool = Field(False, description="answer JSON with the audio (base64) and word/phoneme timings")


class Timed(BaseModel):
    text: str
    start: float
    end: float


class TimedSpeech(BaseModel):
    """Speech with its timings (when `timings` was asked for)."""

    voice: str
    sample_rate: int
    duration: float
    format: AudioFormat
    audio_base64: str
    words: list[Timed]
    phonemes: list[Timed]


class OpenAISpeechRequest(BaseModel):
    """OpenAI's `/v1/audio/speech` body. `model` is accepted and ignored; speed is held to 0.5–2."""

    model: str = Field("tts-1", examples=["tts-1"])
    input: str = Field(min_length=1, examples=["Hello! 你好！"])
    voice: str = Field("alloy", description="an OpenAI voice name (mapped onto ours) or one of our voice ids")
    response_format: AudioFormat = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)
    instructions: str | None = Field(None, description="accepted for compatibility; not used")


_AUDIO_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {} for media in sorted(set(MEDIA_TYPES.values()))},
          "description": "the speech"},
}


@router.post("/tts", tags=["speech"], summary="Speak text", response_model=TimedSpeech,
             responses=_AUDIO_RESPONSE)
async def tts(state: State, owner: Owner, request: Annotated[SpeechRequest, Body()]) -> Response:
    """Short texts, answered whole. Audio bytes by default; with `timings`, JSON with word and phoneme times."""
    speech = await _speak(state, owner, request.text, request.voice, request.speed, request.pitch, request.volume)
    audio = encode(speech.samples, speech.sample_rate, request.format)
    if not request.timings:
        # Header values are Latin-1: a voice named 小王 travels percent-encoded.
        return Response(audio, media_type=MEDIA_TYPES[request.format],
                        headers={"X-Talker-Voice": quote(speech.voice, safe="")})
    body = TimedSpeech(
        voice=speech.voice, sample_rate=speech.sample_rate, duration=round(speech.duration, 4),
        format=request.format, audio_base64=base64.b64encode(audio).decode("ascii"),
        words=[Timed(text=w.text, start=round(w.start, 4), end=round(w.end, 4)) for w in speech.words],
        phonemes=[Timed(text=p.phoneme, start=round(p.start, 4), end=round(p.end, 4)) for p in speech.phonemes],
    )
    return Response(body.model_dump_json(), media_type="application/json")


@router.post("/audio/speech", tags=["openai"], summary="Speak text (OpenAI-compatible)",
             response_class=Response, responses=_AUDIO_RESPONSE)
async def openai_speech(state: State, owner: Owner, request: Annotated[OpenAISpeechRequest, Body()]) -> Response:
    voice = None if request.voice in _OPENAI_VOICES else request.voice
    speech = await _speak(state, owner, request.input, voice, min(max(request.speed, 0.5), 2.0), 0.0, 1.0,
                          male=request.voice in _OPENAI_MALE)
    audio = encode(speech.samples, speech.sample_rate, request.response_format)
    return Response(audio, media_type=MEDIA_TYPES[request.response_format])


async def _speak(state: Any, owner: str, text: str, voice: str | None, speed: float, pitch: float,
                 volume: float, male: bool = False) -> Any:
    from talker.explainer import synthesize_speech
    from talker.text.lang import detect_language
    from talker.tts.base import Prosody

    limit = state.settings.server.max_text_chars
    if len(text) > limit:
        raise Problem(413, "Content too large", f"the text has {len(text)} characters; at most {limit} per request "
                      "(make a video job for long scripts, or split the text)")
    if not text.strip():
        raise Problem(422, "Unprocessable content", "the text is empty; send something to say")
    settings = owner_settings(state.settings, owner)
    if voice is None and male:
        voice = "zm_yunxi" if detect_language(text) == "zh" else "am_michael"
    prosody = Prosody(speed=speed, pitch=pitch, volume=volume)
    try:
        return await anyio.to_thread.run_sync(lambda: synthesize_speech(settings, text, voice, prosody))
    except InputError as error:
        if str(error).startswith("unknown voice"):
            raise unknown_voice(voice) from None
        raise
