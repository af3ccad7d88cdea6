"""Hostile or broken uploads over real HTTP, and a server killed in the middle of a job."""

from __future__ import annotations

import io
import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile

from tests.live_server import free_port
from tests.server.conftest import LiveServer, data_files

pytestmark = pytest.mark.models
PORTRAIT = Path(__file__).resolve().parents[2] / "src" / "talker" / "data" / "sample_portrait.jpg"


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims enormous dimensions (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _outside_files(live_server: LiveServer) -> set[Path]:
    data = live_server.settings.data_dir
    return {p for p in data_files(data.parent) if data not in p.parents}


def test_bad_uploads_are_refused_and_leave_nothing(live_server: LiveServer) -> None:
    before = _outside_files(live_server)
    jpeg = PORTRAIT.read_bytes()
    cases = [
        ("text named .jpg", "/v1/avatars", b"hello, this is not a photo" * 20, {"name": "photo.jpg"}, 415),
        ("truncated JPEG", "/v1/avatars", jpeg[: len(jpeg) // 3], {}, 422),
        ("50 megapixels", "/v1/avatars", _png_header_only(10000, 5000), {}, 413),
        ("zip-bomb PNG", "/v1/avatars", _png_header_only(100000, 100000), {}, 413),
        ("image as audio", "/v1/recordings", jpeg, {}, 415),
        ("empty body", "/v1/avatars", b"", {}, 422),
    ]
    with live_server.client(live_server.key_a) as client:
        for label, path, body, params, status in cases:
            response = client.post(path, content=body, params=params,
                                   headers={"content-type": "image/jpeg"})
            assert response.status_code == status, (label, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
        passwd = client.post("/v1/avatars", content=jpeg, params={"name": "../../etc/passwd"})
        assert passwd.status_code == 201 and passwd.json()["name"] == "passwd"
        assert client.get("/v1/health").status_code == 200
    incoming = [p for p in data_files(live_server.settings.data_dir) if p.name.endswith(".partial")]
    assert not incoming and _outside_files(live_server) == before


def test_a_gigabyte_body_is_cut_off_early(live_server: LiveServer) -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        block = b"\xff\xd8\xff\xe0" + b"\x00" * (2**20 - 4)
        for _ in range(1024):  # 1 GiB if nobody stops us
            sent += len(block)
            yield block

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    with live_server.client(live_server.key_a) as client:
        assert _declared_gigabyte(live_server).startswith(b"HTTP/1.1 413")
        try:
            response = client.post("/v1/avatars", content=endless())
            assert response.status_code == 413
        except httpx.TransportError:
            pass  # the server may close the connection once it has refused the body: also a refusal
        # An HTTP/1.1 client may push its whole body before reading the answer; the server must not keep it.
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak_before
        assert grown < 200 * 2**20, f"the process grew by {grown >> 20} MiB while refusing {sent >> 20} MiB"
        stored = [p for p in data_files(live_server.settings.data_dir) if p.stat().st_size > 30 * 2**20]
        assert not stored
        assert client.get("/v1/health").status_code == 200


def _declared_gigabyte(live_server: LiveServer) -> bytes:
    """Announce 1 GiB, send a little: the answer must come from the header alone."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(f"POST /v1/avatars HTTP/1.1\r\nHost: {address.netloc}\r\n"
                           f"Authorization: Bearer {live_server.key_a}\r\nContent-Type: image/jpeg\r\n"
                           f"Content-Length: {2**30}\r\n\r\n".encode() + b"\xff\xd8\xff" + b"\x00" * 4096)
        return connection.recv(4096)


def test_a_wav_header_lying_about_its_length(live_server: LiveServer) -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(16000, dtype=np.float32) + 0.01, 16000, format="WAV", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    data[40:44] = struct.pack("<I", 16000 * 2 * 60)  # the data chunk claims a minute
    with live_server.client(live_server.key_a) as client:
        response = client.post("/v1/recordings", content=bytes(data))
        assert response.status_code == 201 and abs(response.json()["duration"] - 1.0) < 0.05


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    environment = dict(os.environ, TALKER_DATA_DIR=str(data_dir))
    return subprocess.Popen([sys.executable, "-m", "talker", "serve", "--port", str(port), "--require-keys"],
                            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_until(check: object, seconds: float) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            result = check()  # type: ignore[operator]
        except httpx.TransportError:
            result = None
        if result:
            return result
        time.sleep(0.2)  # polling a separate process: there is nothing to wait on but time
    raise AssertionError(f"not reached within {seconds} s")


def test_a_job_survives_the_server_being_killed(tmp_path: Path) -> None:
    from talker.server.app import keys_path
    from talker.server.keys import KeyStore

    settings_dir = tmp_path / "data"
    from talker.config import Settings

    store = KeyStore(keys_path(Settings(data_dir=settings_dir)))
    _, key = store.create("restart")
    store.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    script = "。".join(["今天我们来介绍一下数字人的工作原理和使用方法"] * 3) + "。"
    server = _serve(settings_dir, port)
    try:
        _wait_until(lambda: httpx.get(f"{url}/v1/health").status_code == 200, 60)
        avatar = httpx.post(f"{url}/v1/avatars", content=PORTRAIT.read_bytes(), headers=headers, timeout=60)
        job_id = httpx.post(f"{url}/v1/videos", json={"avatar": avatar.json()["id"], "text": script, "size": 384},
                            headers=headers).json()["id"]
        _wait_until(lambda: httpx.get(f"{url}/v1/videos/{job_id}", headers=headers).json()["state"] == "running",
                    120)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        server = _serve(settings_dir, port)
        _wait_until(lambda: httpx.get(f"{url}/v1/health").status_code == 200, 60)
        final = _wait_until(lambda: (lambda job: job if job["state"] in ("succeeded", "failed") else None)(
            httpx.get(f"{url}/v1/videos/{job_id}", headers=headers).json()), 300)
        assert final["state"] == "succeeded", final  # type: ignore[index]
        video = httpx.get(f"{url}/v1/videos/{job_id}/content", headers=headers, timeout=60)
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
