"""Stored voice profiles: one folder per voice under `data_dir/voices`, written all-or-nothing.

A folder holds `profile.json` (what the voice is and how it was cloned), `reference.wav` (the
normalised 16 kHz mono reference), `embedding.npy` (its d-vector, computed once) and whatever the
clone backend keeps (the blend's `style.npy`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from talker.errors import InputError
from talker.media.files import atomic_output
from talker.tts.base import Voice

if TYPE_CHECKING:
    from talker.asr.speaker import SpeakerEmbedder
    from talker.config import Settings

PROFILE_FILE = "profile.json"
REFERENCE_FILE = "reference.wav"
EMBEDDING_FILE = "embedding.npy"
MAX_NAME = 48
_NAME = re.compile(r"\w[\w-]*")  # Unicode letters and digits (Chinese too), '_' and '-'; no dots or slashes


class ReferenceInfo(BaseModel):
    """The stored reference recording."""

    file: str = REFERENCE_FILE
    source: str = Field(description="the user's file name (name only)")
    duration: float
    speech_seconds: float
    sha256: str


class EmbeddingInfo(BaseModel):
    """The reference's cached d-vector and the encoder it came from."""

    file: str = EMBEDDING_FILE
    model_sha256: str


class CloneInfo(BaseModel):
    """How the voice was cloned, and how close the result came (cosine of d-vectors, -1…1)."""

    backend: str
    voices: list[str] = Field(default_factory=list, description="stock voices a blend mixes")
    weights: list[float] = Field(default_factory=list)
    style_file: str | None = None
    similarity: float | None = Field(None, description="the clone speaking the check sentence vs the reference")
    nearest_voice: str | None = None
    nearest_similarity: float | None = Field(None, description="the nearest stock voice, measured the same way")
    check_text: str = ""
    note: str = ""


class Profile(BaseModel):
    """A stored voice: its reference, embedding, language, and the backend that speaks it."""

    version: int = 1
    name: str
    created: str
    language: Literal["zh", "en"]
    language_detected: bool = False
    transcript: str = ""
    gender: Literal["female", "male"] = "female"
    speaks_with: str = Field(description="the TTS backend that speaks it: kokoro, clone.sherpa, clone.http")
    reference: ReferenceInfo
    embedding: EmbeddingInfo
    clone: CloneInfo
    directory: Path = Field(Path(), exclude=True)

    @property
    def reference_path(self) -> Path:
        return self.directory / self.reference.file

    @property
    def style_path(self) -> Path | None:
        return self.directory / self.clone.style_file if self.clone.style_file else None

    def voice(self) -> Voice:
        """The profile as a voice the synthesizer can pick."""
        detail = self.clone.backend
        if self.clone.voices:
            detail += ": " + " + ".join(f"{v} {w:.2f}" for v, w in zip(self.clone.voices, self.clone.weights,
                                                                        strict=True))
        return Voice(self.name, self.speaks_with, self.language, self.gender, f"profile ({detail})")


def profile_key(name: str) -> str:
    """The folder name of a profile: the name in NFKC, case-folded. InputError for names that are not allowed."""
    normal = unicodedata.normalize("NFKC", name.strip())
    if not normal or len(normal) > MAX_NAME or not _NAME.fullmatch(normal):
        raise InputError(f"voice name {name!r} is not allowed: use letters, digits, '-' and '_' "
                         f"(up to {MAX_NAME}), starting with a letter or digit, e.g. alice or 小美")
    return normal.casefold()


class ProfileStore:
    """Voice profiles in one folder; every change replaces a whole profile folder by a rename."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_settings(cls, settings: Settings) -> ProfileStore:
        return cls(settings.data_dir / "voices")

    def find(self, name: str) -> Profile | None:
        """The profile called `name` (case-insensitive), or None; a name that cannot be a profile is None too."""
        try:
            key = profile_key(name)
        except InputError:
            return None
        folder = self.directory / key
        return self._load(folder) if (folder / PROFILE_FILE).is_file() else None

    def get(self, name: str) -> Profile:
        profile = self.find(name)
        if profile is None:
            profile_key(name)  # a bad name gets its own message
            known = ", ".join(p.name for p in self.list()) or "none yet"
            raise InputError(f"no voice profile called {name!r} (stored: {known}); "
                             "add one with `talker voice add NAME sample.wav`")
        return profile

    def list(self) -> list[Profile]:
        """Every readable profile, by name. Half-written folders (dot names) are not profiles."""
        if not self.directory.is_dir():
            return []
        profiles = []
        for folder in sorted(self.directory.iterdir()):
            if folder.name.startswith(".") or not (folder / PROFILE_FILE).is_file():
                continue
            with contextlib.suppress(InputError):
                profiles.append(self._load(folder))
        return sorted(profiles, key=lambda p: p.name.casefold())

    def remove(self, name: str) -> str:
        """Delete a profile (a damaged one too) and return its name; the folder is renamed away first."""
        folder = self.directory / profile_key(name)
        if not folder.is_dir():
            self.get(name)  # raises the "no such profile" error listing the stored ones
        try:
            shown = self._load(folder).name
        except InputError:
            shown = name
        trash = self.directory / f".{folder.name}.{uuid.uuid4().hex[:8]}.removed"
        try:
            os.rename(folder, trash)
        except OSError as error:
            raise InputError(f"cannot remove voice {name!r}: {error.strerror} ({folder})") from error
        shutil.rmtree(trash, ignore_errors=True)
        return shown

    @contextlib.contextmanager
    def staging(self, name: str, force: bool = False) -> Iterator[Path]:
        """A scratch folder for a new profile, moved into place only if the block succeeds.

        An existing profile of that name is an error unless `force`, which replaces it.
        """
        key = profile_key(name)
        target = self.directory / key
        if (target / PROFILE_FILE).is_file() and not force:
            raise InputError(f"a voice called {name!r} already exists; pick another name, "
                             f"or add --force to replace it (`talker voice remove {name}` deletes it)")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".partial", dir=self.directory))
        except OSError as error:
            raise InputError(f"cannot write voice profiles in {self.directory}: {error.strerror}") from error
        try:
            yield temp
            if not (temp / PROFILE_FILE).is_file():
                raise RuntimeError("a profile folder was staged without its profile.json")
            self._commit(temp, target, name)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def _commit(self, temp: Path, target: Path, name: str) -> None:
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.replaced")
            os.rename(target, old)
        try:
            os.rename(temp, target)
        except OSError as error:
            if old is not None:
                os.rename(old, target)
            raise InputError(f"cannot store voice {name!r}: {error.strerror} ({target})") from error
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def embedding(self, profile: Profile, embedder: SpeakerEmbedder, model_sha256: str) -> np.ndarray:
        """The profile's d-vector: the cached one, or (after the encoder changed) computed again and cached."""
        path = profile.directory / profile.embedding.file
        if profile.embedding.model_sha256 == model_sha256 and path.is_file():
            return np.asarray(np.load(path), dtype=np.float32)
        from talker.media.audio import read_audio

        samples, _ = read_audio(profile.reference_path, embedder.sample_rate)
        vector = embedder.embed(samples)
        write_array(path, vector)
        updated = profile.model_copy(update={"embedding": EmbeddingInfo(file=path.name, model_sha256=model_sha256)})
        write_profile(updated, profile.directory)
        return vector

    def _load(self, folder: Path) -> Profile:
        path = folder / PROFILE_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return Profile.model_validate({**document, "directory": folder})
        except (OSError, ValueError, ValidationError) as error:
            raise InputError(f"voice profile {path} is damaged ({type(error).__name__}); "
                             f"remove it with `talker voice remove {folder.name}` and add it again") from error


def write_profile(profile: Profile, folder: Path) -> None:
    """Write `profile.json` into `folder` atomically."""
    text = json.dumps(profile.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"
    with atomic_output(folder / PROFILE_FILE) as stream:
        stream.write(text.encode("utf-8"))


def write_array(path: Path, array: np.ndarray) -> None:
    """Save one array as .npy atomically."""
    with atomic_output(path) as stream:
        np.save(stream, np.asarray(array))
