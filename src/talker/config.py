"""One typed settings tree. CLI flags, environment (TALKER_*) and REST requests all produce it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_models_dir() -> Path:
    """Where assembled model weights live unless TALKER_MODELS_DIR says otherwise."""
    return Path(user_cache_dir("talker")) / "models"


def default_cache_dir() -> Path:
    """Where derived, re-computable data (portrait analyses) is cached."""
    return Path(user_cache_dir("talker"))


def default_data_dir() -> Path:
    """Where per-user data (voices, sessions, jobs) lives."""
    return Path(user_data_dir("talker"))


class TTSSettings(BaseModel):
    """Text-to-speech defaults."""

    backend: str = Field(
        "auto", description="tts backend: kokoro (neural), espeak (instant, robotic), auto (kokoro if assembled)"
    )
    voice: str | None = Field(None, description="voice id; None picks one by the text's language")
    voice_zh: str = "zf_xiaoxiao"
    voice_en: str = "af_heart"
    speed: float = Field(1.0, ge=0.5, le=2.0)
    pitch: float = Field(0.0, ge=-6.0, le=6.0, description="semitones")
    volume: float = Field(1.0, ge=0.0, le=2.0)
    sentence_pause: float = Field(0.3, ge=0.0, le=2.0, description="silence after each sentence, seconds")
    max_sentence_chars: int = Field(
        120, ge=20, le=400, description="longer sentences are split at clauses for streaming"
    )


class VADSettings(BaseModel):
    """Voice activity detection: when speech starts and stops."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="speech probability that starts speech")
    release: float = Field(0.35, gt=0.0, lt=1.0, description="probability below which a window counts as silence")
    min_speech: float = Field(0.15, ge=0.0, le=2.0, description="seconds of speech before speech-start fires")
    hangover: float = Field(0.25, ge=0.05, le=3.0, description="seconds of silence before speech-end fires")
    pad: float = Field(0.2, ge=0.0, le=1.0, description="audio kept before the start and after the end, seconds")
    energy_floor: float = Field(-65.0, le=0.0, description="dBFS below which a window is silence without a model call")


class EndpointSettings(BaseModel):
    """End of turn: how long to wait after speech ends before the user is taken to have finished."""

    complete_wait: float = Field(0.25, ge=0.0, le=5.0, description="after a question or a complete sentence")
    default_wait: float = Field(0.6, ge=0.0, le=5.0, description="when the text gives no hint")
    hesitant_wait: float = Field(1.2, ge=0.0, le=10.0, description="after a trailing 嗯/那个/'and'")
    max_wait: float = Field(2.0, ge=0.0, le=10.0, description="never wait longer than this")


class ASRSettings(BaseModel):
    """Speech recognition defaults."""

    model: str = Field("whisper-base", description="whisper-base (zh + en) or whisper-tiny-en (English, faster)")
    beam_size: int = Field(1, ge=1, le=10)
    language: str | None = Field(None, description="zh or en; None detects it per utterance")
    partial_interval: float = Field(
        0.8, ge=0.1, le=10.0, description="least seconds of new speech between partial re-decodes"
    )
    word_timestamps: bool = Field(True, description="word timings in final transcripts")
    speculative_pad: float = Field(
        0.032, ge=0.0, le=1.0,
        description="seconds of a pause the speculative decode at its start takes in; that decode is the final "
                    "when the rest of the pause stays quiet",
    )
    window: float = Field(
        7.0, ge=5.0, le=30.0,
        description="seconds of audio context the Whisper encoder sees (30 is Whisper's own; shorter is faster)",
    )
    vad: VADSettings = VADSettings()
    endpoint: EndpointSettings = EndpointSettings()


class VoiceSettings(BaseModel):
    """Voice profiles and cloning."""

    clone_backend: str = Field(
        "blend", description="blend (nearest built-in voices, embedded), sherpa (user model), http (clone server)"
    )
    blend_voices: int = Field(3, ge=1, le=8, description="how many nearest built-in voices a blend mixes")
    sherpa_model_dir: Path | None = Field(None, description="sherpa-onnx zero-shot TTS model files (user-supplied)")
    http_url: str = Field("", description="a CosyVoice / GPT-SoVITS style clone server, e.g. http://127.0.0.1:9880")
    http_timeout: float = Field(60.0, gt=0)
    http_api: Literal["gpt-sovits", "cosyvoice"] = Field(
        "gpt-sovits", description="gpt-sovits: JSON to /tts, the reference by path; cosyvoice: form upload"
    )
    http_sample_rate: int = Field(22050, ge=8000, le=48000, description="rate of raw PCM replies (CosyVoice)")


class FaceSettings(BaseModel):
    """Portrait animation and video defaults."""

    fps: int = Field(25, ge=10, le=60)
    max_size: int = Field(1024, ge=128, le=4096, description="longest output side in pixels (even)")
    min_face_px: int = Field(80, ge=32, description="narrowest face (pixels across) that can be animated")
    crf: int = Field(20, ge=0, le=51, description="H.264 quality (lower is better)")


class LLMSettings(BaseModel):
    """Which LLM answers, and how."""

    backend: str = Field("local", description="local (embedded GGUF), openai (any compatible server), echo")
    threads: int = Field(2, ge=1, le=64)
    context: int = Field(4096, ge=512, le=131072, description="context window of the local model, tokens")
    base_url: str = Field("", description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    model: str = ""
    api_key: str = ""
    timeout: float = Field(30.0, gt=0)
    history_tokens: int = Field(600, ge=0, description="how much conversation history goes into a prompt")


class ServerSettings(BaseModel):
    """The REST service."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    require_keys: bool | None = Field(
        None, description="API keys required? None: yes unless listening on loopback only"
    )
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed by CORS; empty: none")
    rate_per_minute: int = Field(120, ge=1, description="requests per minute per key (bursts up to a quarter)")
    max_json_bytes: int = Field(1_000_000, ge=1024, description="largest JSON request body")
    max_text_chars: int = Field(20_000, ge=100, description="longest text for speech or a video script")
    video_workers: int = Field(1, ge=1, le=16, description="video jobs rendered at once")
    realtime_sessions: int = Field(
        default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=64,
        description="live real-time conversations at once (default: one per CPU core; more than that, all "
                    "talking at once, drop video frames and audio: see BENCHMARKS.md)",
    )
    realtime_idle_timeout: float = Field(
        120.0, gt=0, description="seconds without speech or messages before a real-time session ends"
    )
    realtime_opener: bool = Field(
        True, description="start each spoken answer with a short acknowledgement (嗯， / Well,) made ahead, so the "
                          "user hears at once that they were heard while the answer is still being made"
    )


class Settings(BaseSettings):
    """Everything talker can be told. Stages receive the part they need; none reads env itself."""

    model_config = SettingsConfigDict(env_prefix="TALKER_", env_nested_delimiter="__", extra="ignore")

    models_dir: Path = Field(default_factory=default_models_dir)
    data_dir: Path = Field(default_factory=default_data_dir)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    threads: int = Field(2, ge=1, le=64, description="CPU threads per model (ONNX, CTranslate2)")
    tts: TTSSettings = TTSSettings()
    asr: ASRSettings = ASRSettings()
    voice: VoiceSettings = VoiceSettings()
    face: FaceSettings = FaceSettings()
    llm: LLMSettings = LLMSettings()
    server: ServerSettings = ServerSettings()
