"""Running the app for real in a test: uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(app: Any, loopback_ice: bool = False) -> Iterator[str]:
    """The app's base URL while it serves; with `loopback_ice`, WebRTC offers 127.0.0.1 only (no LAN traffic)."""
    import pytest
    import uvicorn

    with pytest.MonkeyPatch.context() as patch:
        if loopback_ice:
            import aioice.ice

            patch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, name="test-server", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)  # uvicorn has no start event to wait on
        assert server.started, "the test server did not start"
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(timeout=30)
