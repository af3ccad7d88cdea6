"""Plumbing of the `sherpa` clone backend with a stub engine in place of sherpa-onnx (not installed here).

The stub echoes the prompt audio: these tests check model-file discovery, the calls made, the stored
profile and speaking through the synthesizer, not the voice.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talker.config import Settings
from talker.errors import BackendUnavailableError
from talker.tts.enroll import Enrollment, add_voice, clone_backend
from talker.tts.synthesizer import Synthesizer

TRANSCRIPT = "我们公司主要做智能客服和语音助手。"
MODEL_FILES = ("text_encoder.onnx", "fm_decoder.onnx", "vocos_24khz.onnx", "tokens.txt", "pinyin.raw")


def _stub_module(calls: list[dict[str, Any]]) -> types.ModuleType:
    module = types.ModuleType("sherpa_onnx")
    module.__spec__ = importlib.machinery.ModuleSpec("sherpa_onnx", None)

    class Config(types.SimpleNamespace):
        def validate(self) -> bool:
            return True

    class OfflineTts:
        def __init__(self, config: Config) -> None:
            calls.append({"config": config})

        def generate(self, text: str, prompt_text: str, prompt_samples: np.ndarray, sample_rate: int,
                     speed: float, num_steps: int) -> types.SimpleNamespace:
            calls.append({"text": text, "prompt_text": prompt_text, "rate": sample_rate, "speed": speed,
                          "prompt_seconds": len(prompt_samples) / sample_rate})
            return types.SimpleNamespace(samples=list(prompt_samples), sample_rate=sample_rate)

    module.OfflineTtsConfig = Config  # type: ignore[attr-defined]
    module.OfflineTtsModelConfig = types.SimpleNamespace  # type: ignore[attr-defined]
    module.OfflineTtsZipvoiceModelConfig = types.SimpleNamespace  # type: ignore[attr-defined]
    module.OfflineTts = OfflineTts  # type: ignore[attr-defined]
    return module


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "zipvoice"
    (folder / "espeak-ng-data").mkdir(parents=True)
    for name in MODEL_FILES:
        (folder / name).write_bytes(b"stub")
    return folder


def test_sherpa_clone_plumbing_add_and_speak(voice_settings: Settings, enrollment: Enrollment, zh_reference: Path,
                                             model_dir: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    del enrollment  # warms the stock-voice cache the clone is compared with
    calls: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "sherpa_onnx", _stub_module(calls))
    settings = voice_settings.model_copy(update={
        "data_dir": tmp_path / "data", "voice": voice_settings.voice.model_copy(update={"sherpa_model_dir": model_dir}),
    })
    profile = add_voice(settings, "本地", zh_reference, language="zh", backend="sherpa",
                        transcript=TRANSCRIPT).profile
    assert profile.speaks_with == "clone.sherpa" and profile.clone.backend == "sherpa"
    assert profile.clone.similarity is not None and profile.clone.nearest_voice == "zm_yunxi"
    config = calls[0]["config"].model.zipvoice
    assert Path(config.text_model).name == "text_encoder.onnx" and Path(config.vocoder).name == "vocos_24khz.onnx"
    assert calls[1]["prompt_text"] == TRANSCRIPT and calls[1]["rate"] == 16000

    chunks = list(Synthesizer(settings).stream("你好，我有3个问题。", voice="本地"))
    assert chunks[0].voice == "本地" and chunks[0].sample_rate == 16000 and chunks[0].samples.size > 0
    assert calls[-1]["text"] == "你好，我有三个问题。" and calls[-1]["speed"] == 1.0


def test_sherpa_clone_plumbing_names_the_missing_files(voice_settings: Settings, model_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sherpa_onnx", _stub_module([]))
    (model_dir / "tokens.txt").unlink()
    settings = voice_settings.model_copy(update={
        "voice": voice_settings.voice.model_copy(update={"sherpa_model_dir": model_dir})})
    with pytest.raises(BackendUnavailableError) as error:
        clone_backend(settings, "sherpa").check_available()
    assert f"{model_dir} has no tokens (tokens.txt)" in str(error.value)
    assert "pip install" not in str(error.value)  # the package is there
