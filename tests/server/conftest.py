"""A real server for protocol tests: the app under uvicorn on a free port, with two API keys."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from talker.config import Settings


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Settings:
    data = tmp_path_factory.mktemp("server-data")
    return settings.model_copy(update={"data_dir": data, "cache_dir": settings.cache_dir})


@pytest.fixture(scope="session")
def live_server(server_settings: Settings) -> Iterator[LiveServer]:
    import uvicorn

    from talker.server.app import create_app, keys_path
    from talker.server.keys import KeyStore

    store = KeyStore(keys_path(server_settings))
    _, key_a = store.create("alice")
    _, key_b = store.create("bob")
    store.close()
    port = _free_port()
    app = create_app(server_settings, require_keys=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(200):
        if server.started:
            started.set()
            break
        started.wait(0.05)
    assert server.started, "the test server did not start"
    yield LiveServer(f"http://127.0.0.1:{port}", server_settings, key_a, key_b)
    server.should_exit = True
    thread.join(timeout=30)


def data_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}
