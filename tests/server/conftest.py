"""A real server for protocol tests: the app under uvicorn on a free port, with two API keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from talker.config import Settings
from tests.live_server import serving


@dataclass(frozen=True)
class LiveServer:
    """Where the server listens, its settings, and two keys that must never see each other's data."""

    url: str
    settings: Settings
    key_a: str
    key_b: str

    def client(self, key: str | None, timeout: float = 120.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Settings:
    data = tmp_path_factory.mktemp("server-data")
    return settings.model_copy(update={"data_dir": data, "cache_dir": settings.cache_dir})


@pytest.fixture(scope="session")
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    from talker.server.app import create_app, keys_path
    from talker.server.keys import KeyStore

    store = KeyStore(keys_path(server_settings))
    _, key_a = store.create("alice")
    _, key_b = store.create("bob")
    store.close()
    with serving(create_app(server_settings, require_keys=True)) as url:
        yield LiveServer(url, server_settings, key_a, key_b)


def data_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}
