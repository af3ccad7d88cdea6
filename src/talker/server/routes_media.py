"""Avatars (portraits, analysed once), recordings (speech to lip-sync) and voices (built-in and your own)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from talker.server.deps import Owner, State
from talker.server.problems import Problem, not_found
from talker.server.services import owner_dir, owner_settings
from talker.server.uploads import UploadLimits, check_declared_length, receive

router = APIRouter(prefix="/v1")
IMAGE_LIMITS = UploadLimits()
RECORDING_LIMITS = UploadLimits(audio_max_seconds=600.0)
VOICE_LIMITS = UploadLimits(audio_max_seconds=60.0, audio_max_bytes=30_000_000, max_body_bytes=31_000_000)
_BINARY_BODY = {"requestBody": {"required": True, "content": {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_ANALYSIS_LOCK = threading.Lock()  # one MediaPipe landmarker at a time
_ID_ALPHABET = "0123456789abcdef"


class AvatarOut(BaseModel):
    id: str = Field(examples=["av_1f2e3d4c5b6a7980"])
    name: str
    width: int
    height: int
    faces: int = Field(description="faces found; with several, the largest speaks")
    face_box: list[float] = Field(description="x0, y0, x1, y1 of the speaking face, in pixels")
    created: float


class RecordingOut(BaseModel):
    id: str = Field(examples=["rec_1f2e3d4c5b6a7980"])
    name: str
    duration: float
    media_type: str
    created: float


class VoiceOut(BaseModel):
    id: str = Field(examples=["zf_xiaoxiao"])
    kind: Literal["builtin", "profile"]
    backend: str
    language: str
    gender: str
    similarity: float | None = Field(None, description="profiles: how close the clone came to the reference")
    nearest_voice: str | None = None
    nearest_similarity: float | None = None
    note: str = ""


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


def _valid_id(value: str, prefix: str) -> bool:
    rest = value[len(prefix):]
    return value.startswith(prefix) and len(rest) == 16 and all(c in _ID_ALPHABET for c in rest)


def avatar_dir(settings: Any, owner: str) -> Path:
    return owner_dir(settings, owner) / "avatars"


def recording_dir(settings: Any, owner: str) -> Path:
    return owner_dir(settings, owner) / "recordings"


def find_stored(directory: Path, item_id: str, prefix: str, what: str) -> tuple[Path, dict[str, Any]]:
    """A stored item's file and metadata; 404 for malformed, missing or someone else's ids alike."""
    if not _valid_id(item_id, prefix):
        raise not_found(f"{what} {item_id}")
    meta_path = directory / f"{item_id}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise not_found(f"{what} {item_id}") from None
    return directory / meta["file"], meta


def _write_meta(directory: Path, item_id: str, meta: dict[str, Any]) -> None:
    from talker.media.files import atomic_output

    with atomic_output(directory / f"{item_id}.json") as out:
        out.write(json.dumps(meta, ensure_ascii=False).encode("utf-8"))


def _listing(directory: Path) -> list[dict[str, Any]]:
    if not directory.is_dir():
        return []
    items = []
    for path in directory.glob("*.json"):
        try:
            items.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return sorted(items, key=lambda item: item["created"])


def _remove(directory: Path, item_id: str, prefix: str, what: str) -> None:
    path, _ = find_stored(directory, item_id, prefix, what)
    path.unlink(missing_ok=True)
    (directory / f"{item_id}.json").unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- avatars


@router.post("/avatars", tags=["avatars"], status_code=201, response_model=AvatarOut, openapi_extra=_BINARY_BODY,
             summary="Upload a portrait")
async def create_avatar(request: Request, state: State, owner: Owner,
                        name: Annotated[str | None, Query(max_length=100)] = None) -> AvatarOut:
    """The body is the photo (JPEG, PNG or WebP, up to 40 megapixels). It is analysed at once: a photo
    without a usable face is refused (422) and nothing is kept."""
    check_declared_length(request.headers.get("content-length"), IMAGE_LIMITS, "image")
    directory = avatar_dir(state.settings, owner)
    upload = await receive(request.stream(), "image", directory, IMAGE_LIMITS, filename=name)
    avatar_id = _new_id("av_")
    try:
        portrait = await anyio.to_thread.run_sync(lambda: _analyse(state.settings, upload.path))
        stored = upload.path.rename(directory / f"{avatar_id}{upload.extension}")
        height, width = portrait.image.shape[:2]
        meta = {"id": avatar_id, "name": upload.display_name if name else avatar_id, "file": stored.name,
                "width": width, "height": height, "faces": portrait.faces_found,
                "face_box": [round(float(v), 1) for v in portrait.face_box], "created": time.time()}
        _write_meta(directory, avatar_id, meta)
    except BaseException:
        upload.path.unlink(missing_ok=True)
        (directory / f"{avatar_id}{upload.extension}").unlink(missing_ok=True)
        raise
    return AvatarOut(**{k: v for k, v in meta.items() if k != "file"})


def _analyse(settings: Any, path: Path) -> Any:
    from talker.face.portrait import create_analyzer

    with _ANALYSIS_LOCK, create_analyzer(settings) as analyzer:
        return analyzer.analyze(path, settings.face.max_size)


@router.get("/avatars", tags=["avatars"], response_model=list[AvatarOut], summary="Your avatars")
def list_avatars(state: State, owner: Owner) -> list[AvatarOut]:
    return [AvatarOut(**{k: v for k, v in meta.items() if k != "file"})
            for meta in _listing(avatar_dir(state.settings, owner))]


@router.get("/avatars/{avatar_id}", tags=["avatars"], response_model=AvatarOut, summary="One avatar")
def get_avatar(state: State, owner: Owner, avatar_id: str) -> AvatarOut:
    _, meta = find_stored(avatar_dir(state.settings, owner), avatar_id, "av_", "avatar")
    return AvatarOut(**{k: v for k, v in meta.items() if k != "file"})


@router.get("/avatars/{avatar_id}/preview", tags=["avatars"], response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}, "description": "a JPEG, longest side ≤ 512"}},
            summary="A small preview image")
async def avatar_preview(state: State, owner: Owner, avatar_id: str) -> Response:
    path, _ = find_stored(avatar_dir(state.settings, owner), avatar_id, "av_", "avatar")
    return Response(await anyio.to_thread.run_sync(lambda: _preview(path)), media_type="image/jpeg")


def _preview(path: Path) -> bytes:
    import io

    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail((512, 512))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@router.delete("/avatars/{avatar_id}", tags=["avatars"], status_code=204, summary="Delete an avatar")
def delete_avatar(state: State, owner: Owner, avatar_id: str) -> Response:
    _remove(avatar_dir(state.settings, owner), avatar_id, "av_", "avatar")
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------- recordings


@router.post("/recordings", tags=["videos"], status_code=201, response_model=RecordingOut,
             openapi_extra=_BINARY_BODY, summary="Upload speech to lip-sync")
async def create_recording(request: Request, state: State, owner: Owner,
                           name: Annotated[str | None, Query(max_length=100)] = None) -> RecordingOut:
    """The body is the audio (WAV, FLAC, MP3, OGG/Opus, M4A, WebM), up to 10 minutes; use its id as a
    video job's `audio`."""
    check_declared_length(request.headers.get("content-length"), RECORDING_LIMITS, "audio")
    directory = recording_dir(state.settings, owner)
    upload = await receive(request.stream(), "audio", directory, RECORDING_LIMITS, filename=name)
    recording_id = _new_id("rec_")
    stored = upload.path.rename(directory / f"{recording_id}{upload.extension}")
    meta = {"id": recording_id, "name": upload.display_name if name else recording_id, "file": stored.name,
            "duration": round(upload.duration or 0.0, 3), "media_type": upload.media_type, "created": time.time()}
    _write_meta(directory, recording_id, meta)
    return RecordingOut(**{k: v for k, v in meta.items() if k != "file"})


@router.get("/recordings", tags=["videos"], response_model=list[RecordingOut], summary="Your recordings")
def list_recordings(state: State, owner: Owner) -> list[RecordingOut]:
    return [RecordingOut(**{k: v for k, v in meta.items() if k != "file"})
            for meta in _listing(recording_dir(state.settings, owner))]


@router.delete("/recordings/{recording_id}", tags=["videos"], status_code=204, summary="Delete a recording")
def delete_recording(state: State, owner: Owner, recording_id: str) -> Response:
    _remove(recording_dir(state.settings, owner), recording_id, "rec_", "recording")
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------- voices


@router.get("/voices", tags=["voices"], response_model=list[VoiceOut], summary="Built-in voices and yours")
def list_voices(state: State, owner: Owner,
                language: Annotated[str | None, Query(max_length=8)] = None) -> list[VoiceOut]:
    from talker.tts.profiles import ProfileStore

    settings = owner_settings(state.settings, owner)
    voices = [VoiceOut(id=v.id, kind="builtin", backend=v.backend, language=v.language, gender=v.gender)
              for v in state.services.synthesizer().voices()]
    for profile in ProfileStore.for_settings(settings).list():
        clone = profile.clone
        voices.append(VoiceOut(id=profile.name, kind="profile", backend=profile.speaks_with,
                               language=profile.language, gender=profile.gender, similarity=clone.similarity,
                               nearest_voice=clone.nearest_voice, nearest_similarity=clone.nearest_similarity,
                               note=clone.note))
    return [v for v in voices if not language or v.language.startswith(language.lower())]


@router.post("/voices", tags=["voices"], status_code=201, response_model=VoiceOut, openapi_extra=_BINARY_BODY,
             summary="Make a voice from 3–30 s of speech")
async def create_voice(request: Request, state: State, owner: Owner,
                       name: Annotated[str, Query(min_length=1, max_length=48, examples=["anna"])],
                       language: Annotated[Literal["zh", "en"] | None, Query()] = None,
                       replace: bool = False) -> VoiceOut:
    """The body is the reference recording. It is checked (3–30 s, enough speech, not clipped), its speaker
    embedding computed, and the nearest built-in voices blended; the similarity figures say how close it came.
    The first voice of a language takes longer (the built-in voices are measured once)."""
    from talker.tts.enroll import add_voice
    from talker.tts.profiles import ProfileStore

    check_declared_length(request.headers.get("content-length"), VOICE_LIMITS, "audio")
    if not replace and ProfileStore.for_settings(owner_settings(state.settings, owner)).find(name) is not None:
        raise Problem(409, "Conflict", f"you already have a voice named {name}; send replace=true to replace it, "
                      f"or DELETE /v1/voices/{name} first")
    incoming = owner_dir(state.settings, owner) / "incoming"
    upload = await receive(request.stream(), "audio", incoming, VOICE_LIMITS)
    settings = owner_settings(state.settings, owner)
    try:
        enrollment = await anyio.to_thread.run_sync(
            lambda: add_voice(settings, name, upload.path, language=language, force=replace))
    finally:
        upload.path.unlink(missing_ok=True)
    profile = enrollment.profile
    clone = profile.clone
    return VoiceOut(id=profile.name, kind="profile", backend=profile.speaks_with, language=profile.language,
                    gender=profile.gender, similarity=clone.similarity, nearest_voice=clone.nearest_voice,
                    nearest_similarity=clone.nearest_similarity, note=clone.note)


@router.delete("/voices/{name}", tags=["voices"], status_code=204, summary="Delete one of your voices")
def delete_voice(state: State, owner: Owner, name: str) -> Response:
    from talker.errors import InputError
    from talker.tts.profiles import ProfileStore

    store = ProfileStore.for_settings(owner_settings(state.settings, owner))
    try:
        if store.find(name) is None:
            raise not_found(f"voice {name}")
        store.remove(name)
    except InputError:
        raise not_found(f"voice {name}") from None
    return Response(status_code=204)

