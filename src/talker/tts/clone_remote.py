"""Zero-shot clone backends whose models the user supplies: sherpa-onnx (ZipVoice) in-process, or an HTTP server.

Each is both a clone backend (prepare: check it works and measure how close it comes) and a TTS backend
(speak a profile's sentences, prompted with the profile's reference audio and its transcript). They
return audio without phoneme timings.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import numpy as np

from talker.errors import BackendUnavailableError, ModelMissingError
from talker.frames import SpeechAudio
from talker.tts.base import Gender, Prosody, Voice
from talker.tts.clone import (
    CHECK_TEXTS,
    SIMILAR_ENOUGH,
    CloneRequest,
    CloneResult,
    Progress,
    StockVoices,
    comparison_note,
    gender_of,
    to_embedder_rate,
)
from talker.tts.effects import apply_volume, pitch_ratio, resample_for_pitch
from talker.tts.profiles import CloneInfo, Profile, ProfileStore
from talker.tts.reference import normalise_level

if TYPE_CHECKING:
    from talker.config import Settings
    from talker.text.frontend import SpokenSentence

_SPEED_RANGE = (0.5, 2.0)


class RemoteClone:
    """What the user-supplied backends share: speaking a profile, and measuring a fresh clone."""

    name = "remote"
    needs_transcript = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.speaks_with = f"clone.{self.name}"
        self._profiles: dict[str, Profile] = {}

    def generate(self, text: str, language: str, reference: Path, transcript: str,
                 speed: float = 1.0) -> tuple[np.ndarray, int]:
        """`text` in the reference's voice: mono float32 samples and their rate."""
        raise NotImplementedError

    def check_available(self) -> None:
        """Raise BackendUnavailableError saying what to install or configure; nothing if ready."""

    # As a TTS backend.
    def voices(self) -> list[Voice]:
        return [profile.voice() for profile in self._profiles.values()]

    def register_profile(self, profile: Profile) -> None:
        self._profiles[profile.name] = profile

    def synthesize(self, sentence: SpokenSentence, voice: Voice, prosody: Prosody) -> SpeechAudio:
        profile = self._profiles.get(voice.id) or ProfileStore.for_settings(self.settings).get(voice.id)
        ratio = pitch_ratio(prosody.pitch)
        speed = min(max(prosody.speed / ratio, _SPEED_RANGE[0]), _SPEED_RANGE[1])
        samples, rate = self.generate(sentence.spoken, sentence.lang, profile.reference_path, profile.transcript,
                                      speed)
        samples = apply_volume(resample_for_pitch(samples, ratio), prosody.volume)
        return SpeechAudio(samples, rate, sentence.written, voice=voice.id)

    # As a clone backend.
    def prepare(self, request: CloneRequest, progress: Progress | None = None) -> CloneResult:
        self.check_available()
        check = CHECK_TEXTS[request.language][1]
        samples, rate = self.generate(check, request.language, request.reference_path, request.transcript)
        from talker.asr.speaker import create as create_embedder

        embedder = create_embedder(self.settings)
        similarity = embedder.similarity(embedder.embed(normalise_level(to_embedder_rate(samples, rate))),
                                         request.embedding)
        nearest: str | None = None
        nearest_similarity: float | None = None
        try:
            stock = StockVoices(self.settings, embedder=embedder)
            nearest = stock.nearest(request.language, request.embedding, progress)[0][0]
            nearest_similarity = stock.check_similarity(request.language, nearest, request.embedding)
        except ModelMissingError:
            pass  # without Kokoro there is no stock voice to compare with; said in the note
        if nearest is None or nearest_similarity is None:
            note = f"similarity {similarity:.3f}; no stock voice to compare with (Kokoro is not assembled)"
        else:
            note = comparison_note(similarity, nearest, nearest_similarity)
        if similarity < SIMILAR_ENOUGH:
            note += f". Below {SIMILAR_ENOUGH} it will sound like a different person: try a longer, cleaner reference"
        info = CloneInfo(backend=self.name, similarity=round(similarity, 4), nearest_voice=nearest,
                         nearest_similarity=None if nearest_similarity is None else round(nearest_similarity, 4),
                         check_text=check, note=note)
        gender: Gender = gender_of(nearest) if nearest else "female"
        return CloneResult(info, self.speaks_with, gender)


def _mono(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples.reshape(-1)


class _SharedSherpa:
    """sherpa-onnx zero-shot TTS engines, one per model folder and thread count, loaded once."""

    _lock = threading.Lock()
    _loaded: ClassVar[dict[tuple[str, int], Any]] = {}

    @classmethod
    def get(cls, files: dict[str, Path], threads: int) -> Any:
        key = (str(files["tokens"].parent), threads)
        with cls._lock:
            if key not in cls._loaded:
                sherpa_onnx = importlib.import_module("sherpa_onnx")
                config = sherpa_onnx.OfflineTtsConfig(
                    model=sherpa_onnx.OfflineTtsModelConfig(
                        zipvoice=sherpa_onnx.OfflineTtsZipvoiceModelConfig(
                            tokens=str(files["tokens"]), text_model=str(files["text model"]),
                            flow_matching_model=str(files["flow-matching model"]),
                            data_dir=str(files["espeak-ng data"]), pinyin_dict=str(files["pinyin dictionary"]),
                            vocoder=str(files["vocoder"]),
                        ),
                        num_threads=threads,
                    ),
                    max_num_sentences=1,
                )
                if not config.validate():
                    raise ModelMissingError(f"sherpa-onnx refused the model files in {key[0]}; "
                                            "check they belong to one ZipVoice release")
                cls._loaded[key] = sherpa_onnx.OfflineTts(config)
            return cls._loaded[key]


class SherpaClone(RemoteClone):
    """ZipVoice through sherpa-onnx, in-process, from model files in `voice.sherpa_model_dir`."""

    name = "sherpa"
    # What a ZipVoice release folder (e.g. sherpa-onnx-zipvoice-distill-zh-en-emilia) holds, by role.
    FILES: ClassVar[dict[str, tuple[str, ...]]] = {
        "text model": ("text_encoder*.onnx", "encoder*.onnx"),
        "flow-matching model": ("fm_decoder*.onnx", "decoder*.onnx"),
        "vocoder": ("vocos*.onnx",),
        "tokens": ("tokens.txt",),
        "pinyin dictionary": ("pinyin.raw",),
        "espeak-ng data": ("espeak-ng-data",),
    }
    STEPS = 4

    def check_available(self) -> None:
        self._files()

    def _files(self) -> dict[str, Path]:
        problems = []
        if importlib.util.find_spec("sherpa_onnx") is None:
            problems.append("the sherpa-onnx package is not installed (pip install sherpa-onnx)")
        folder = self.settings.voice.sherpa_model_dir
        found: dict[str, Path] = {}
        if folder is None:
            problems.append("no model folder is set (TALKER_VOICE__SHERPA_MODEL_DIR)")
        elif not folder.is_dir():
            problems.append(f"the model folder {folder} does not exist")
        else:
            for role, patterns in self.FILES.items():
                match = next((p for pattern in patterns for p in sorted(folder.glob(pattern))), None)
                if match is None:
                    problems.append(f"{folder} has no {role} ({' or '.join(patterns)})")
                else:
                    found[role] = match
        if problems:
            raise BackendUnavailableError(
                "the sherpa clone backend is not ready: " + "; ".join(problems) + ". It needs sherpa-onnx and a "
                "ZipVoice model folder you download yourself (e.g. sherpa-onnx-zipvoice-distill-zh-en-emilia from "
                "the sherpa-onnx tts-models releases, plus vocos_24khz.onnx) with text_encoder.onnx, fm_decoder.onnx, "
                "vocos_24khz.onnx, tokens.txt, pinyin.raw and espeak-ng-data/; or use --backend blend"
            )
        return found

    def generate(self, text: str, language: str, reference: Path, transcript: str,
                 speed: float = 1.0) -> tuple[np.ndarray, int]:
        import soundfile

        engine = _SharedSherpa.get(self._files(), self.settings.threads)
        prompt, rate = soundfile.read(str(reference), dtype="float32", always_2d=True)
        audio = engine.generate(text, transcript, _mono(prompt), rate, speed=speed, num_steps=self.STEPS)
        samples = np.asarray(audio.samples, dtype=np.float32)
        if samples.size == 0:
            raise BackendUnavailableError(f"sherpa-onnx produced no audio for {text[:40]!r}; see its messages above")
        return samples, int(audio.sample_rate)


class HttpClone(RemoteClone):
    """A clone server: GPT-SoVITS (api_v2, JSON, the reference by path) or CosyVoice (form upload)."""

    name = "http"

    def check_available(self) -> None:
        if not self.settings.voice.http_url:
            raise BackendUnavailableError(
                "the http clone backend has no server: set voice.http_url (e.g. TALKER_VOICE__HTTP_URL="
                "http://127.0.0.1:9880 for GPT-SoVITS api_v2, or a CosyVoice server with "
                "TALKER_VOICE__HTTP_API=cosyvoice); or use --backend blend"
            )

    def endpoint(self) -> str:
        """The server URL; a bare host gets the API's usual path."""
        url = self.settings.voice.http_url.rstrip("/")
        if urlsplit(url).path:
            return url
        return url + ("/tts" if self.settings.voice.http_api == "gpt-sovits" else "/inference_zero_shot")

    def generate(self, text: str, language: str, reference: Path, transcript: str,
                 speed: float = 1.0) -> tuple[np.ndarray, int]:
        import httpx

        self.check_available()
        voice = self.settings.voice
        url = self.endpoint()
        try:
            if voice.http_api == "gpt-sovits":
                # GPT-SoVITS reads the reference from its own disk: the server must see this path.
                response = httpx.post(url, timeout=voice.http_timeout, json={
                    "text": text, "text_lang": language, "ref_audio_path": str(reference.resolve()),
                    "prompt_text": transcript, "prompt_lang": language, "media_type": "wav",
                    "streaming_mode": False, "speed_factor": speed,
                })
            else:
                with reference.open("rb") as handle:
                    response = httpx.post(url, timeout=voice.http_timeout,
                                          data={"tts_text": text, "prompt_text": transcript, "speed": str(speed)},
                                          files={"prompt_wav": ("reference.wav", handle, "audio/wav")})
        except httpx.TimeoutException:
            raise BackendUnavailableError(f"the clone server at {url} did not answer within {voice.http_timeout:g} s; "
                                          "check it is running, or raise voice.http_timeout") from None
        except httpx.HTTPError as error:
            raise BackendUnavailableError(f"cannot reach the clone server at {url} ({error}); start it, "
                                          "or check voice.http_url") from None
        if response.status_code != 200:
            detail = " ".join(response.text.split())[:200]
            raise BackendUnavailableError(f"the clone server at {url} refused the request "
                                          f"(HTTP {response.status_code}: {detail})")
        return self._decode(response.content, response.headers.get("content-type", ""), url)

    def _decode(self, body: bytes, content_type: str, url: str) -> tuple[np.ndarray, int]:
        """A WAV reply; CosyVoice's server streams raw 16-bit PCM instead, at `voice.http_sample_rate`."""
        samples: np.ndarray
        if body[:4] == b"RIFF":
            import soundfile

            try:
                data, rate = soundfile.read(io.BytesIO(body), dtype="float32", always_2d=True)
            except (soundfile.LibsndfileError, RuntimeError) as error:
                raise BackendUnavailableError(f"the clone server at {url} sent a damaged WAV ({error})") from None
            samples = _mono(data)
        elif self.settings.voice.http_api == "cosyvoice" and body and len(body) % 2 == 0:
            samples = np.frombuffer(body, dtype="<i2").astype(np.float32) / 32768.0
            rate = self.settings.voice.http_sample_rate
        else:
            raise BackendUnavailableError(f"the clone server at {url} sent no audio (content-type "
                                          f"{content_type or 'unknown'}, {len(body)} bytes); check voice.http_api")
        if samples.size == 0:
            raise BackendUnavailableError(f"the clone server at {url} sent empty audio")
        return samples, int(rate)


def create_sherpa(settings: Settings) -> SherpaClone:
    return SherpaClone(settings)


def create_http(settings: Settings) -> HttpClone:
    return HttpClone(settings)
