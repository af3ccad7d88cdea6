"""Adding a voice: reference file → checked, normalised audio → d-vector → language → clone → stored profile."""

from __future__ import annotations

import hashlib
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from talker.errors import InputError, ModelMissingError
from talker.tts.clone import CloneBackend, CloneRequest, Progress
from talker.tts.profiles import (
    REFERENCE_FILE,
    EmbeddingInfo,
    Profile,
    ProfileStore,
    ReferenceInfo,
    profile_key,
    write_array,
    write_profile,
)
from talker.tts.reference import ReferenceCheck, check_reference, load_reference, normalise_reference

if TYPE_CHECKING:
    from talker.config import Settings

CLONE_BACKENDS = ("blend", "sherpa", "http")
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Enrollment:
    """A stored profile and what adding it measured."""

    profile: Profile
    check: ReferenceCheck
    language_probability: float | None  # None when the language was given
    seconds: float


def clone_backend(settings: Settings, name: str | None = None) -> CloneBackend:
    """The clone backend called `name` (default: `voice.clone_backend`)."""
    from talker.registry import factory

    name = name or settings.voice.clone_backend
    if name not in CLONE_BACKENDS:
        raise InputError(f"unknown clone backend {name!r}; choose one of: {', '.join(CLONE_BACKENDS)}")
    return cast(CloneBackend, factory(f"tts.clone.{name}")(settings))


def add_voice(settings: Settings, name: str, source: Path, *, language: str | None = None,
              backend: str | None = None, force: bool = False, transcript: str | None = None,
              progress: Progress | None = None) -> Enrollment:
    """Store `source` as voice `name`; every check runs before anything is written."""
    started = time.perf_counter()
    name = unicodedata.normalize("NFKC", name.strip())
    profile_key(name)
    if language is not None and language not in LANGUAGES:
        raise InputError(f"language {language!r} is not supported for voices; use zh or en")
    store = ProfileStore.for_settings(settings)
    if store.find(name) is not None and not force:
        raise InputError(f"a voice called {name!r} already exists; pick another name, "
                         f"or add --force to replace it (`talker voice remove {name}` deletes it)")
    cloner = clone_backend(settings, backend)
    cloner.check_available()
    _check_not_stock(settings, name)
    samples = load_reference(source)
    check = check_reference(samples, str(source))
    reference = normalise_reference(samples)

    from talker.asr.speaker import create as create_embedder
    from talker.models.catalog import spec

    embedding = create_embedder(settings).embed(reference)
    language, probability, words = _language_and_words(settings, reference, language, transcript,
                                                       cloner.needs_transcript)
    with store.staging(name, force) as folder:
        from talker.media.audio import wav_writer

        with wav_writer(folder / REFERENCE_FILE, 16000) as wav:
            wav.write(reference, 16000)
        embedding_info = EmbeddingInfo(model_sha256=spec("speaker-dvector").files[0].sha256)
        write_array(folder / embedding_info.file, embedding)
        request = CloneRequest(name, reference, folder / REFERENCE_FILE, embedding, language, words, folder)
        result = cloner.prepare(request, progress)
        profile = Profile(
            name=name, created=datetime.now(UTC).isoformat(timespec="seconds"), language=language,
            language_detected=probability is not None, transcript=words, gender=result.gender,
            speaks_with=result.speaks_with,
            reference=ReferenceInfo(source=source.name, duration=round(check.duration, 3),
                                    speech_seconds=round(check.speech_seconds, 3), sha256=_sha256(source)),
            embedding=embedding_info, clone=result.info,
        )
        write_profile(profile, folder)
    return Enrollment(store.get(name), check, probability, time.perf_counter() - started)


def _check_not_stock(settings: Settings, name: str) -> None:
    """A profile may not shadow a built-in voice."""
    from talker.tts.synthesizer import Synthesizer

    key = profile_key(name)
    if any(voice.id.casefold() == key for voice in Synthesizer(settings).voices()):
        raise InputError(f"{name!r} is the name of a built-in voice; pick another name for yours")


def _language_and_words(settings: Settings, samples: np.ndarray, language: str | None, transcript: str | None,
                        needs_transcript: bool) -> tuple[str, float | None, str]:
    """The reference's language (given, or detected by Whisper) and its words (given, or transcribed)."""
    if language is not None and (transcript or not needs_transcript):
        return language, None, transcript or ""
    from talker.registry import factory

    try:
        whisper = factory("asr.whisper")(settings)
        heard = whisper.transcribe(samples, language=language)
    except ModelMissingError as error:
        raise ModelMissingError(f"cannot {'transcribe' if language else 'detect the language of'} the reference "
                                f"without Whisper ({error}); give --language zh|en"
                                + ("" if language else " (and --transcript for this backend)")) from error
    if language is None and heard.language not in LANGUAGES:
        raise InputError(f"the reference sounds like language {heard.language!r}; voices speak zh or en: "
                         "give --language zh or --language en if that is wrong")
    return language or heard.language, None if language else heard.language_probability, transcript or heard.text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
