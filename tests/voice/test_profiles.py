"""The profile store: names, all-or-nothing writes, listing, removal, damaged files."""

from __future__ import annotations

from pathlib import Path

import pytest

from talker.errors import InputError
from talker.tts.profiles import (
    CloneInfo,
    EmbeddingInfo,
    Profile,
    ProfileStore,
    ReferenceInfo,
    profile_key,
    write_profile,
)


def _profile(name: str) -> Profile:
    return Profile(name=name, created="2025-01-01T00:00:00+00:00", language="zh", speaks_with="kokoro",
                   reference=ReferenceInfo(source="a.wav", duration=5.0, speech_seconds=4.0, sha256="0" * 64),
                   embedding=EmbeddingInfo(model_sha256="1" * 64),
                   clone=CloneInfo(backend="blend", voices=["zf_xiaoni"], weights=[1.0], similarity=0.8,
                                   nearest_voice="zf_xiaoni", nearest_similarity=0.8))


def _add(store: ProfileStore, name: str, force: bool = False) -> None:
    with store.staging(name, force) as folder:
        write_profile(_profile(name), folder)


@pytest.mark.parametrize("name", ["alice", "Bob_2", "x-y", "小美", "李雷2号", "Zoë"])
def test_good_names(name: str) -> None:
    assert profile_key(name) == profile_key(name.upper())


@pytest.mark.parametrize("name", ["", "  ", "../x", "a/b", "a\\b", ".hidden", "-flag", "a b", "a.b", "x" * 49,
                                  "名字?", "nul\x00"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InputError, match="is not allowed"):
        profile_key(name)


def test_add_find_list_remove(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "voices")
    assert store.list() == [] and store.find("alice") is None
    _add(store, "Alice")
    _add(store, "小美")
    assert [p.name for p in store.list()] == ["Alice", "小美"]
    found = store.find("alice")  # names are case-insensitive
    assert found is not None and found.name == "Alice" and found.directory == tmp_path / "voices" / "alice"
    assert found.voice().id == "Alice" and found.voice().backend == "kokoro"
    assert store.find("../voices") is None
    assert store.remove("ALICE") == "Alice"
    assert [p.name for p in store.list()] == ["小美"]
    with pytest.raises(InputError, match=r"no voice profile called 'alice'.*小美"):
        store.remove("alice")


def test_duplicates_need_force(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    _add(store, "alice")
    with pytest.raises(InputError, match=r"already exists.*--force"):
        _add(store, "ALICE")
    _add(store, "ALICE", force=True)
    assert [p.name for p in store.list()] == ["ALICE"]
    assert [p.name for p in tmp_path.iterdir()] == ["alice"]  # nothing left over


def test_a_failed_add_leaves_nothing(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    _add(store, "alice")
    with pytest.raises(RuntimeError, match="boom"), store.staging("alice", force=True) as folder:
        (folder / "reference.wav").write_bytes(b"half")
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match=r"without its profile.json"), store.staging("bob") as folder:
        (folder / "reference.wav").write_bytes(b"half")
    assert [p.name for p in tmp_path.iterdir()] == ["alice"]
    assert sorted(p.name for p in (tmp_path / "alice").iterdir()) == ["profile.json"]  # the old one, intact


def test_a_damaged_profile_is_reported_and_can_be_removed(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    _add(store, "alice")
    _add(store, "bob")
    (tmp_path / "bob" / "profile.json").write_text("{not json", encoding="utf-8")
    assert [p.name for p in store.list()] == ["alice"]
    with pytest.raises(InputError, match=r"damaged.*talker voice remove bob"):
        store.get("bob")
    assert store.remove("bob") == "bob"
    assert [p.name for p in tmp_path.iterdir()] == ["alice"]
