"""Video jobs: a portrait and a script (or a recording) in, an MP4 out — queued, followed, cancelled, kept."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, model_validator

from talker.server.deps import Owner, State
from talker.server.jobs import JobRunner, JobStatus, JobStore, Progress
from talker.server.problems import Problem, not_found, scrub_paths, unknown_voice, unprocessable
from talker.server.routes_media import avatar_dir, find_stored, recording_dir
from talker.server.services import owner_dir, owner_settings

router = APIRouter(prefix="/v1/videos", tags=["videos"])
_SPEECH_SHARE = 30  # percent of a job spent making the speech; the rest is rendering


class VideoRequest(BaseModel):
    """What to make: one of `text` (spoken by `voice`) or `audio` (a recording's id, lip-synced)."""

    avatar: str = Field(examples=["av_1f2e3d4c5b6a7980"])
    text: str | None = Field(None, min_length=1, examples=["大家好，我是小慧。今天给大家介绍我们的新产品。"])
    audio: str | None = Field(None, examples=["rec_1f2e3d4c5b6a7980"])
    voice: str | None = Field(None, description="a voice id or your voice's name; default by the text's language")
    speed: float = Field(1.0, ge=0.5, le=2.0)
    pitch: float = Field(0.0, ge=-6.0, le=6.0)
    fps: int = Field(25, ge=10, le=60)
    size: int | None = Field(None, ge=128, le=1024, description="longest side in pixels (default: the photo's)")
    crop: bool = Field(False, description="a square video around the head")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="same seed, same blinks and head motion")

    @model_validator(mode="after")
    def _one_source(self) -> VideoRequest:
        if (self.text is None) == (self.audio is None):
            raise ValueError("give exactly one of `text` (a script) or `audio` (a recording id)")
        return self


class VideoJob(BaseModel):
    id: str = Field(examples=["job_0123456789abcdef"])
    state: str = Field(examples=["running"])
    stage: str = Field(examples=["render"])
    percent: float
    error: str | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    content: str | None = Field(None, description="where to download the MP4 once the job succeeded")


def jobs_of(state: Any) -> tuple[JobStore, JobRunner]:
    store, runner = state.extras["jobs"]
    return store, runner


def install(state: Any) -> None:
    """Create the job store and runner; they start and stop with the app."""
    store = JobStore(state.settings.data_dir / "server" / "jobs.db")
    runner = JobRunner(store, _work(state.settings, state.services), workers=state.settings.server.video_workers)
    state.extras["jobs"] = (store, runner)
    state.extras.setdefault("on_start", []).append(runner.start)

    def stop() -> None:
        runner.stop(wait=False)  # a render in progress is picked up again at the next start
        store.close()

    state.extras.setdefault("on_stop", []).append(stop)


def videos_dir(settings: Any, owner: str) -> Path:
    return owner_dir(settings, owner) / "videos"


def _work(settings: Any, services: Any) -> Any:
    def work(job: JobStatus, progress: Progress) -> str:
        from talker.errors import InputError, TalkerError

        portrait = avatar_dir(settings, job.owner) / job.params["avatar_file"]
        try:
            return make_video(job, progress)
        except TalkerError as error:
            if not portrait.is_file():
                raise InputError("the avatar was deleted while the video was being made; upload it again") from None
            roots = (settings.data_dir, settings.cache_dir, settings.models_dir)
            raise type(error)(scrub_paths(str(error), roots)) from None

    def make_video(job: JobStatus, progress: Progress) -> str:
        from talker.explainer import render_video, synthesize_speech
        from talker.tts.base import Prosody

        params = job.params
        own = owner_settings(settings, job.owner)
        portrait = avatar_dir(settings, job.owner) / params["avatar_file"]
        if not portrait.is_file():
            from talker.errors import InputError

            raise InputError("the avatar was deleted before the video was made; upload it again")
        progress("speech", 0, 100)
        if params.get("text"):
            total = len(params["text"])
            speech = synthesize_speech(
                own, params["text"], params.get("voice"), Prosody(speed=params["speed"], pitch=params["pitch"]),
                progress=lambda _stage, done, _total: progress("speech", _SPEECH_SHARE * done // max(total, 1), 100),
                total_chars=total)
        else:
            from talker.explainer import speech_from_audio

            speech = speech_from_audio(own, recording_dir(settings, job.owner) / params["audio_file"],
                                       transcriber=services.file_transcriber(None))
        output = videos_dir(settings, job.owner) / f"{job.id}.mp4"
        output.parent.mkdir(parents=True, exist_ok=True)

        def rendered(_stage: str, done: int, frames: int) -> None:
            progress("render", _SPEECH_SHARE + (100 - _SPEECH_SHARE) * done // max(frames, 1), 100)

        render_video(own, portrait, speech, output, fps=params["fps"], size=params.get("size"),
                     seed=params["seed"], crop=params["crop"], progress=rendered)
        return output.name

    return work


def _out(job: JobStatus) -> VideoJob:
    content = f"/v1/videos/{job.id}/content" if job.state == "succeeded" else None
    return VideoJob(id=job.id, state=job.state, stage=job.stage, percent=round(job.percent, 1), error=job.error,
                    created=job.created, started=job.started, finished=job.finished, content=content)


def _job(state: Any, owner: str, job_id: str) -> JobStatus:
    store, _ = jobs_of(state)
    job = store.get(owner, job_id) if len(job_id) < 64 else None
    if job is None:
        raise not_found(f"video job {job_id}")
    return job


@router.post("", status_code=202, response_model=VideoJob, summary="Make a video",
             responses={202: {"description": "queued; follow it at /v1/videos/{id} or /v1/videos/{id}/events"}})
def create_video(state: State, owner: Owner, request: Annotated[VideoRequest, Body()]) -> JSONResponse:
    """Queues the job and answers at once (202). Poll `GET /v1/videos/{id}` or follow
    `GET /v1/videos/{id}/events` (server-sent events); download from `content` when it succeeded."""
    from talker.errors import InputError

    _, avatar_meta = _referenced(find_stored, avatar_dir(state.settings, owner), request.avatar, "av_", "avatar")
    if request.size is not None:
        scale = request.size / max(avatar_meta["width"], avatar_meta["height"])
        x0, _, x1, _ = avatar_meta["face_box"]
        if (x1 - x0) * min(scale, 1.0) < state.settings.face.min_face_px:
            needed = state.settings.face.min_face_px
            raise unprocessable(f"at size {request.size} the face would be {(x1 - x0) * scale:.0f} px across, below "
                                f"the {needed} px needed; ask for a larger size (or leave it out)")
    params: dict[str, Any] = request.model_dump(exclude={"avatar", "audio"})
    params["avatar_file"] = avatar_meta["file"]
    if request.audio is not None:
        _, recording_meta = _referenced(find_stored, recording_dir(state.settings, owner), request.audio, "rec_",
                                        "recording")
        params["audio_file"] = recording_meta["file"]
    elif request.text is not None:
        limit = state.settings.server.max_text_chars
        if len(request.text) > limit:
            raise Problem(413, "Content too large", f"the script has {len(request.text)} characters; at most {limit}")
        if not request.text.strip():
            raise unprocessable("the script is empty; give the text to speak")
        try:  # an unknown voice is the client's mistake: say so now, not when the job runs
            state.services.synthesizer(owner_settings(state.settings, owner)).voice(request.voice, "zh") \
                if request.voice else None
        except InputError:
            raise unknown_voice(request.voice) from None
    store, runner = jobs_of(state)
    job = store.create(owner, "video", params)
    runner.submit(job)
    return JSONResponse(_out(job).model_dump(), status_code=202, headers={"Location": f"/v1/videos/{job.id}"})


def _referenced(find: Any, directory: Path, item_id: str, prefix: str, what: str) -> tuple[Path, dict[str, Any]]:
    try:
        return find(directory, item_id, prefix, what)  # type: ignore[no-any-return]
    except Problem as problem:
        raise unprocessable(f"{what} {item_id} does not exist; upload it first") from problem


@router.get("", response_model=list[VideoJob], summary="Your video jobs, newest first")
def list_videos(state: State, owner: Owner) -> list[VideoJob]:
    store, _ = jobs_of(state)
    return [_out(job) for job in store.list(owner)]


@router.get("/{job_id}", response_model=VideoJob, summary="A video job's state and progress")
def get_video(state: State, owner: Owner, job_id: str) -> VideoJob:
    return _out(_job(state, owner, job_id))


@router.get("/{job_id}/events", summary="Follow a job (server-sent events)",
            responses={200: {"content": {"text/event-stream": {}}, "description": "`progress` events, then `end`"}})
async def follow_video(request: Request, state: State, owner: Owner, job_id: str) -> StreamingResponse:
    _job(state, owner, job_id)
    _, runner = jobs_of(state)

    async def events() -> AsyncIterator[str]:
        async for job in runner.follow(owner, job_id):
            if await request.is_disconnected():
                return
            kind = "end" if job.terminal else "progress"
            yield f"event: {kind}\ndata: {json.dumps(_out(job).model_dump())}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.get("/{job_id}/content", response_class=FileResponse, summary="Download the MP4",
            responses={200: {"content": {"video/mp4": {}}, "description": "H.264 + AAC"}})
def video_content(state: State, owner: Owner, job_id: str) -> FileResponse:
    job = _job(state, owner, job_id)
    if job.state != "succeeded" or not job.output:
        raise Problem(409, "Conflict", f"the video is not ready (the job is {job.state}); follow its progress")
    path = videos_dir(state.settings, owner) / job.output
    if not path.is_file():
        raise Problem(410, "Gone", "the video file is no longer on the server; make the video again")
    return FileResponse(path, media_type="video/mp4", filename=f"{job.id}.mp4")


@router.post("/{job_id}/cancel", status_code=202, response_model=VideoJob, summary="Cancel a job")
def cancel_video(state: State, owner: Owner, job_id: str) -> VideoJob:
    store, _ = jobs_of(state)
    job = store.request_cancel(owner, job_id)
    if job is None:
        raise not_found(f"video job {job_id}")
    return _out(job)


@router.delete("/{job_id}", status_code=204, summary="Delete a finished job and its video")
def delete_video(state: State, owner: Owner, job_id: str) -> Response:
    from talker.server.jobs import JobStateError

    store, _ = jobs_of(state)
    _job(state, owner, job_id)
    try:
        job = store.delete(owner, job_id)
    except JobStateError as error:
        raise Problem(409, "Conflict", str(error)) from None
    if job is not None and job.output:
        (videos_dir(state.settings, owner) / job.output).unlink(missing_ok=True)
    return Response(status_code=204)
