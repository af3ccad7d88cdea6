"""Speech in: /v1/asr (the body is the audio) and OpenAI's multipart /v1/audio/transcriptions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from talker.server.deps import Owner, State
from talker.server.problems import unprocessable
from talker.server.services import owner_dir
from talker.server.uploads import UploadLimits, check_declared_length, receive

router = APIRouter(prefix="/v1")
ASR_LIMITS = UploadLimits(audio_max_seconds=600.0, audio_max_bytes=60_000_000, max_body_bytes=61_000_000)
_AUDIO_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}


class WordOut(BaseModel):
    text: str
    start: float
    end: float


class SegmentOut(BaseModel):
    start: float
    end: float
    text: str
    language: str
    words: list[WordOut]


class TranscriptOut(BaseModel):
    text: str
    language: str | None
    duration: float
    segments: list[SegmentOut]


@router.post("/asr", tags=["speech"], response_model=TranscriptOut, summary="Transcribe speech",
             openapi_extra=_AUDIO_BODY)
async def asr(request: Request, state: State, owner: Owner,
              language: Annotated[Literal["zh", "en"] | None, Query()] = None) -> TranscriptOut:
    """The body is the audio (WAV, FLAC, MP3, OGG/Opus, M4A, WebM; any rate, mono or stereo), up to 10 minutes.
    Chinese comes out in Simplified characters; every segment and word is timed."""
    check_declared_length(request.headers.get("content-length"), ASR_LIMITS, "audio")
    upload = await receive(request.stream(), "audio", _incoming(state, owner), ASR_LIMITS)
    try:
        return await anyio.to_thread.run_sync(lambda: transcribe_file(state, upload.path, language))
    finally:
        upload.path.unlink(missing_ok=True)


@router.post("/audio/transcriptions", tags=["openai"], summary="Transcribe speech (OpenAI-compatible)",
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}, "model": {"type": "string"},
                     "language": {"type": "string"}, "response_format": {"type": "string", "enum": [
                         "json", "text", "verbose_json", "srt", "vtt"]}}}}}}})
async def transcriptions(request: Request, state: State, owner: Owner) -> Response:
    from talker.server.multipart import receive_form

    upload, fields = await receive_form(request, "audio", _incoming(state, owner), ASR_LIMITS)
    try:
        form = {name: values[-1] for name, values in fields.items()}
        language = form.get("language") or None
        if language not in (None, "zh", "en"):
            raise unprocessable(f"language {language!r} is not served; use zh or en, or leave it out")
        response_format = form.get("response_format", "json")
        if response_format not in ("json", "text", "verbose_json", "srt", "vtt"):
            raise unprocessable("response_format must be json, text, verbose_json, srt or vtt")
        transcript = await anyio.to_thread.run_sync(lambda: transcribe_file(state, upload.path, language))
    finally:
        upload.path.unlink(missing_ok=True)
    return _openai_format(transcript, response_format)


def transcribe_file(state: Any, path: Path, language: str | None) -> TranscriptOut:
    """Every utterance of a stored recording (VAD-segmented Whisper), as the API returns it."""
    from talker.asr.streaming import join_texts
    from talker.asr.whisper import Transcript
    from talker.media.audio_decode import audio_blocks

    transcriber = state.services.file_transcriber(language)
    segments: list[SegmentOut] = []
    finals: list[Transcript] = []
    for block in audio_blocks(path):
        events = transcriber.feed(block)
        finals += _collect(events, segments)
    finals += _collect(transcriber.finish(), segments)
    text = join_texts(finals)
    return TranscriptOut(text=text, language=finals[0].language if finals else language,
                         duration=round(transcriber.position, 3), segments=segments)


def _collect(events: list[Any], segments: list[SegmentOut]) -> list[Any]:
    from talker.asr.whisper import Transcript

    found = []
    for event in events:
        if event.kind != "final":
            continue
        segments.append(SegmentOut(start=round(event.start, 3), end=round(event.end, 3), text=event.text,
                                   language=event.language,
                                   words=[WordOut(text=w.text, start=w.start, end=w.end) for w in event.words]))
        found.append(Transcript(event.text, event.language, 1.0))
    return found


def _openai_format(transcript: TranscriptOut, response_format: str) -> Response:
    if response_format == "text":
        return PlainTextResponse(transcript.text)
    if response_format in ("srt", "vtt"):
        return PlainTextResponse(_subtitles(transcript, response_format), media_type="text/plain")
    if response_format == "json":
        return JSONResponse({"text": transcript.text})
    words = [{"word": w.text, "start": w.start, "end": w.end} for s in transcript.segments for w in s.words]
    return JSONResponse({
        "task": "transcribe", "language": {"zh": "chinese", "en": "english"}.get(transcript.language or "", ""),
        "duration": transcript.duration, "text": transcript.text, "words": words,
        "segments": [{"id": index, "start": s.start, "end": s.end, "text": s.text}
                     for index, s in enumerate(transcript.segments)],
    })


def _subtitles(transcript: TranscriptOut, kind: str) -> str:
    def stamp(seconds: float) -> str:
        milliseconds = round(seconds * 1000)  # whole milliseconds first, so 0.9996 s cannot print ",1000"
        hours, rest = divmod(milliseconds, 3_600_000)
        minutes, rest = divmod(rest, 60_000)
        secs, millis = divmod(rest, 1000)
        separator = "," if kind == "srt" else "."
        return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"

    lines = ["WEBVTT", ""] if kind == "vtt" else []
    for index, segment in enumerate(transcript.segments, 1):
        if kind == "srt":
            lines.append(str(index))
        lines += [f"{stamp(segment.start)} --> {stamp(segment.end)}", segment.text, ""]
    return "\n".join(lines)


def _incoming(state: Any, owner: str) -> Path:
    return owner_dir(state.settings, owner) / "incoming"

