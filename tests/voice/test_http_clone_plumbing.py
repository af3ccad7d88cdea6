"""Plumbing of the `http` clone backend against a tiny local server that echoes the reference back.

The server is a stub (no clone model runs here): these tests check the requests, the replies' decoding,
the stored profile and the errors, not the voice.
"""

from __future__ import annotations

import email.parser
import email.policy
import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr

from talker.cli import main
from talker.config import Settings
from talker.tts.clone import CHECK_TEXTS
from talker.tts.enroll import Enrollment

TRANSCRIPT = "我们公司主要做智能客服和语音助手。"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        mode = self.server.mode
        if mode == "error":
            self._reply(500, b"model not loaded", "text/plain")
            return
        if mode == "gpt-sovits":
            request = json.loads(body)
            reference, rate = soundfile.read(request.pop("ref_audio_path"), dtype="float32")
            self.server.requests.append((self.path, request))
            reply = io.BytesIO()
            soundfile.write(reply, soxr.resample(reference, rate, 32000), 32000, format="WAV", subtype="PCM_16")
            self._reply(200, reply.getvalue(), "audio/wav")
            return
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in message.iter_parts()}
        reference, rate = soundfile.read(io.BytesIO(fields.pop("prompt_wav")), dtype="float32")
        self.server.requests.append((self.path, {k: v.decode() for k, v in fields.items()}))
        pcm = (np.clip(soxr.resample(reference, rate, 22050), -1, 1) * 32767).astype("<i2")
        self._reply(200, pcm.tobytes(), "application/octet-stream")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    mode = "gpt-sovits"
    requests: list[tuple[str, dict[str, Any]]]


@pytest.fixture
def server() -> Iterator[_Server]:
    stub = _Server(("127.0.0.1", 0), _Handler)
    stub.requests = []
    thread = threading.Thread(target=stub.serve_forever, daemon=True)
    thread.start()
    yield stub
    stub.shutdown()
    stub.server_close()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, voice_settings: Settings,
             enrollment: Enrollment) -> Path:
    del enrollment  # warms the stock-voice cache the clone is compared with
    monkeypatch.setenv("TALKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALKER_CACHE_DIR", str(voice_settings.cache_dir))
    return tmp_path / "data"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("api", ["gpt-sovits", "cosyvoice"])
def test_http_clone_plumbing_add_and_speak(server: _Server, data_dir: Path, zh_reference: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                           api: str) -> None:
    server.mode = api
    monkeypatch.setenv("TALKER_VOICE__HTTP_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("TALKER_VOICE__HTTP_API", api)
    code, out, err = _run(capsys, "voice", "add", "远程", str(zh_reference), "--backend", "http",
                          "--language", "zh", "--transcript", TRANSCRIPT)
    assert code == 0, err
    profile = json.loads((data_dir / "voices" / "远程" / "profile.json").read_text(encoding="utf-8"))
    assert profile["speaks_with"] == "clone.http" and profile["transcript"] == TRANSCRIPT
    similarity = profile["clone"]["similarity"]
    assert -1 <= similarity <= 1 and f"similarity {similarity:.3f}" in out
    assert profile["clone"]["nearest_voice"] == "zm_yunxi" and profile["clone"]["nearest_similarity"] is not None

    wav = tmp_path / "out.wav"
    code, out, err = _run(capsys, "say", "你好，我有3个问题。", "--voice", "远程", "-o", str(wav))
    assert code == 0, err
    assert "voice 远程" in out and soundfile.info(str(wav)).samplerate == (32000 if api == "gpt-sovits" else 22050)

    (check_path, check), (say_path, say) = server.requests
    if api == "gpt-sovits":
        assert check_path == say_path == "/tts"
        assert check == {"text": CHECK_TEXTS["zh"][1], "text_lang": "zh", "prompt_text": TRANSCRIPT,
                         "prompt_lang": "zh", "media_type": "wav", "streaming_mode": False, "speed_factor": 1.0}
        assert say["text"] == "你好，我有三个问题。"  # the spoken form
    else:
        assert check_path == say_path == "/inference_zero_shot"
        assert check == {"tts_text": CHECK_TEXTS["zh"][1], "prompt_text": TRANSCRIPT, "speed": "1.0"}
        assert say["tts_text"] == "你好，我有三个问题。"


def test_http_clone_plumbing_server_errors_are_one_line(server: _Server, data_dir: Path, zh_reference: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    server.mode = "error"
    monkeypatch.setenv("TALKER_VOICE__HTTP_URL", f"http://127.0.0.1:{server.server_port}")
    argv = ("voice", "add", "远程", str(zh_reference), "--backend", "http", "--language", "zh",
            "--transcript", TRANSCRIPT)
    code, _, err = _run(capsys, *argv)
    assert code == 3 and "refused the request (HTTP 500: model not loaded)" in err and err.count("\n") == 1

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("TALKER_VOICE__HTTP_URL", f"http://127.0.0.1:{port}")
    code, _, err = _run(capsys, *argv)
    assert code == 3 and "cannot reach the clone server" in err and err.count("\n") == 1
    assert not any((data_dir / "voices").iterdir())
