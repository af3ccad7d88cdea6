"""Backends by name ("tts.kokoro", "asr.whisper"…) with lazy imports and a clear missing-extra error."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from talker.errors import BackendUnavailableError


@dataclass(frozen=True)
class BackendEntry:
    """Where a backend's factory lives and which pip extra provides its dependencies."""

    target: str  # "module:function", the function takes the Settings
    extra: str
    summary: str


BACKENDS: dict[str, BackendEntry] = {
    "tts.kokoro": BackendEntry("talker.tts.kokoro:create", "tts", "Kokoro-82M int8 ONNX, zh + en, neural"),
    "tts.espeak": BackendEntry("talker.tts.espeak:create", "tts", "espeak-ng, instant, robotic"),
    "tts.clone.blend": BackendEntry("talker.tts.clone:create_blend", "tts",
                                    "mix of the nearest built-in voices (embedded)"),
    "tts.clone.sherpa": BackendEntry("talker.tts.clone_remote:create_sherpa", "tts",
                                     "ZipVoice zero-shot clone through sherpa-onnx (user-supplied model)"),
    "tts.clone.http": BackendEntry("talker.tts.clone_remote:create_http", "tts",
                                   "a GPT-SoVITS / CosyVoice clone server"),
    "llm.local": BackendEntry("talker.dialogue.llm:create_local", "mind", "Gemma 3 270M GGUF in-process (llama.cpp)"),
    "llm.openai": BackendEntry("talker.dialogue.llm:create_openai", "mind", "any OpenAI-compatible chat server"),
    "llm.echo": BackendEntry("talker.dialogue.llm:create_echo", "mind", "says the user's text back"),
    "asr.whisper": BackendEntry("talker.asr.whisper:create", "asr",
                                "faster-whisper, Whisper base int8 (or tiny.en: asr.model)"),
    "asr.vad": BackendEntry("talker.asr.vad:create", "asr", "Silero VAD (ONNX)"),
    "asr.speaker": BackendEntry("talker.asr.speaker:create", "asr", "d-vector speaker embedder (ONNX)"),
}


def factory(name: str) -> Callable[..., Any]:
    """The factory of backend `name`, importing its module only now."""
    try:
        entry = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise BackendUnavailableError(f"unknown backend {name!r}; known: {known}") from None
    module_name, attribute = entry.target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise BackendUnavailableError(
            f"backend {name} needs packages that are not installed ({error.name}): "
            f"pip install 'talker[{entry.extra}]'"
        ) from error
    return getattr(module, attribute)  # type: ignore[no-any-return]
