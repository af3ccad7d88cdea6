"""Health, version and capability information, and the OpenAI-style model list."""

from __future__ import annotations

import platform
import time
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from talker import __version__
from talker.server.deps import Owner, State

router = APIRouter(prefix="/v1", tags=["service"])
_STARTED = time.time()


class Health(BaseModel):
    status: str = Field(examples=["ok"])
    version: str = Field(examples=[__version__])


class ModelStatus(BaseModel):
    name: str = Field(examples=["whisper-base"])
    stage: str = Field(examples=["asr"])
    ready: bool
    detail: str = ""


class Info(BaseModel):
    version: str
    python: str
    keys_required: bool
    loaded: list[str] = Field(description="models loaded in this process so far (they load on first use)")
    backends: dict[str, str]
    models: list[ModelStatus]
    uptime_seconds: float


class ModelCard(BaseModel):
    id: str = Field(examples=["talker"])
    object: str = "model"
    created: int = 0
    owned_by: str = "talker"


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


@router.get("/health", response_model=Health, summary="Is the server up?")
def health() -> Health:
    """No key needed; cheap enough for a load balancer to poll."""
    return Health(status="ok", version=__version__)


@router.get("/info", response_model=Info, summary="Versions, backends and model status")
def info(state: State, _owner: Owner) -> Info:
    from talker.models.catalog import CATALOG
    from talker.models.kit import ModelKit
    from talker.registry import BACKENDS

    kit = ModelKit(state.settings.models_dir)
    models = [ModelStatus(name=s.spec.name, stage=s.spec.stage, ready=s.ready, detail="" if s.ready else s.detail)
              for s in (kit.status(spec.name) for spec in CATALOG)]
    settings = state.settings
    backends = {"tts": settings.tts.backend, "asr": settings.asr.model, "llm": settings.llm.backend,
                "clone": settings.voice.clone_backend}
    backends.update({name: entry.summary for name, entry in BACKENDS.items()})
    return Info(version=__version__, python=platform.python_version(), keys_required=state.auth.required,
                loaded=state.services.loaded(), backends=backends, models=models,
                uptime_seconds=round(time.time() - _STARTED, 1))


@router.get("/models", response_model=ModelList, summary="Models, as OpenAI clients list them",
            tags=["openai"])
def models(_owner: Owner) -> dict[str, Any]:
    names = ["talker", "talker-tts", "talker-asr", "tts-1", "whisper-1"]
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "talker"}
                                        for name in names]}
