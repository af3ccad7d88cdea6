"""The service over real HTTP with the real models: speech, chat, knowledge, OpenAI clients, keys."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import soundfile

from talker.config import Settings
from tests.server.conftest import LiveServer

pytestmark = pytest.mark.models


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in str(body) and "/src/talker" not in str(body)
    return body


def test_health_needs_no_key_but_everything_else_does(live_server: LiveServer) -> None:
    with live_server.client(None) as anonymous:
        assert anonymous.get("/v1/health").json()["status"] == "ok"
        missing = anonymous.get("/v1/info")
        assert "talker keys create" in str(_problem(missing, 401)["detail"])
        assert missing.headers["www-authenticate"] == "Bearer"
    with live_server.client("tk-not-a-real-key") as wrong:
        _problem(wrong.get("/v1/info"), 401)
    with live_server.client(live_server.key_a) as client:
        info = client.get("/v1/info").json()
        assert info["keys_required"] is True
        assert {m["name"] for m in info["models"] if m["ready"]} >= {"kokoro-82m", "whisper-base", "silero-vad"}


def test_tts_returns_wav_or_timed_json(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as client:
        response = client.post("/v1/tts", json={"text": "你好，我是数字人。", "voice": "zf_xiaoxiao"})
        assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
        audio, rate = soundfile.read(io.BytesIO(response.content), dtype="float32")
        assert rate == 24000 and 0.8 < audio.size / rate < 4 and np.abs(audio).max() > 0.05
        timed = client.post("/v1/tts", json={"text": "Hello there, friend.", "timings": True, "format": "flac"})
        body = timed.json()
        assert body["voice"] == "af_heart" and body["format"] == "flac"
        assert [w["text"] for w in body["words"]] == ["Hello", "there", "friend"]
        flac, _ = soundfile.read(io.BytesIO(base64.b64decode(body["audio_base64"])), dtype="float32")
        assert abs(flac.size / body["sample_rate"] - body["duration"]) < 0.01
        assert body["phonemes"][-1]["end"] <= body["duration"] + 1e-3


def test_tts_bad_requests_are_problems(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as client:
        assert "unknown voice" in str(_problem(client.post("/v1/tts", json={"text": "hi", "voice": "nobody"}),
                                               422)["detail"])
        body = _problem(client.post("/v1/tts", json={"text": ""}), 422)
        assert body["errors"] == [{"field": "text", "problem": "String should have at least 1 character"}]
        _problem(client.post("/v1/tts", json={"text": "字" * 20001}), 413)
        _problem(client.post("/v1/tts", json={"text": "hi", "speed": 9}), 422)
        _problem(client.post("/v1/tts", content=b"{not json", headers={"content-type": "application/json"}), 422)
        big = json.dumps({"text": "x" * 1_100_000})
        _problem(client.post("/v1/tts", content=big, headers={"content-type": "application/json"}), 413)
        _problem(client.get("/v1/no-such-route"), 404)


def test_openai_client_streams_chat_and_speaks(live_server: LiveServer) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key_a, timeout=120)
    stream = client.chat.completions.create(
        model="talker", messages=[{"role": "user", "content": "Hello! Who are you?"}], stream=True)
    deltas = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert len([d for d in deltas if d]) >= 1 and "".join(deltas).strip()
    whole = client.chat.completions.create(model="talker", messages=[{"role": "user", "content": "Hi there"}])
    assert whole.choices[0].message.content and whole.choices[0].finish_reason == "stop"
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="Good morning!", response_format="wav")
    audio, rate = soundfile.read(io.BytesIO(speech.read()), dtype="float32")
    assert rate == 24000 and audio.size > rate // 2
    mp3 = client.audio.speech.create(model="tts-1", voice="onyx", input="你好", response_format="mp3")
    assert mp3.read()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert {m.id for m in client.models.list()} >= {"talker", "tts-1", "whisper-1"}


def test_chat_session_streams_answers_from_faq_and_documents(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as client:
        question = {"question": "你们的客服电话是多少？", "answer": "客服电话是95588。"}
        faq = client.post("/v1/knowledge/faq", json=question)
        assert faq.status_code == 201
        document = client.post("/v1/knowledge/documents", params={"name": "hours.md"},
                               content="# 营业时间\n\n本行周六上午九点到下午五点营业，周日休息。\n".encode(),
                               headers={"content-type": "text/markdown"})
        assert document.status_code == 201 and document.json()["title"] == "营业时间"
        session = client.post("/v1/chat/sessions").json()["id"]
        with client.stream("POST", f"/v1/chat/sessions/{session}/messages", json={"text": "周六营业吗？"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [line for line in response.iter_lines() if line.startswith("event:")]
        assert events[0] == "event: piece" and events[-1] == "event: done"
        answer = client.post(f"/v1/chat/sessions/{session}/messages",
                             json={"text": "你们的客服电话是多少？", "stream": False}).json()
        citation = {"kind": "faq", "title": "你们的客服电话是多少？", "source": "api", "heading": ""}
        assert answer == {"text": "客服电话是95588。", "via": "faq", "citations": [citation]}
        history = client.get(f"/v1/chat/sessions/{session}").json()["history"]
        assert [t["role"] for t in history][:4] == ["user", "assistant", "user", "assistant"]
        assert "九点" in history[1]["text"]
        pets = client.post("/v1/knowledge/faq", json={"question": "可以带宠物吗？\n能带狗吗？",
                                                      "answer": "欢迎带宠物，室外座位区可以。"}).json()
        assert pets["questions"] == ["可以带宠物吗？", "能带狗吗？"]
        for phrasing in pets["questions"]:
            heard = client.post(f"/v1/chat/sessions/{session}/messages", json={"text": phrasing, "stream": False})
            assert heard.json()["via"] == "faq" and heard.json()["text"] == "欢迎带宠物，室外座位区可以。"
        hits = client.get("/v1/knowledge/search", params={"q": "周日开门吗"}).json()
        assert hits and hits[0]["title"] == "营业时间"


def test_keys_see_only_their_own_sessions_and_documents(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as alice, live_server.client(live_server.key_b) as bob:
        session = alice.post("/v1/chat/sessions").json()["id"]
        alice.post(f"/v1/chat/sessions/{session}/messages", json={"text": "我的账号是 123456", "stream": False})
        document = alice.post("/v1/knowledge/documents", params={"title": "Alice 的秘密"},
                              content="Alice 的保险箱密码是 7391。".encode(), headers={"content-type": "text/plain"})
        doc_id = document.json()["id"]
        birthday = {"question": "Alice 的生日？", "answer": "五月一日。"}
        faq_id = alice.post("/v1/knowledge/faq", json=birthday).json()["id"]
        for path in (f"/v1/chat/sessions/{session}",):
            _problem(bob.get(path), 404)
            _problem(bob.delete(path), 404)
        _problem(bob.post(f"/v1/chat/sessions/{session}/messages", json={"text": "hi"}), 404)
        assert session not in {s["id"] for s in bob.get("/v1/chat/sessions").json()}
        assert all("Alice" not in d["title"] for d in bob.get("/v1/knowledge/documents").json())
        assert all("7391" not in h["text"] for h in bob.get("/v1/knowledge/search", params={"q": "保险箱密码"}).json())
        assert all(f["answer"] != "五月一日。" for f in bob.get("/v1/knowledge/faq").json())
        _problem(bob.delete(f"/v1/knowledge/documents/{doc_id}"), 404)
        _problem(bob.delete(f"/v1/knowledge/faq/{faq_id}"), 404)
        bob_answer = bob.post("/v1/chat/completions", json={
            "model": "talker", "messages": [{"role": "user", "content": "Alice 的生日？"}]}).json()
        assert "五月一日" not in bob_answer["choices"][0]["message"]["content"]
        # Alice still has everything.
        assert alice.get(f"/v1/chat/sessions/{session}").status_code == 200
        assert alice.delete(f"/v1/knowledge/documents/{doc_id}").status_code == 204
        assert alice.delete(f"/v1/chat/sessions/{session}").status_code == 204
        _problem(alice.get(f"/v1/chat/sessions/{session}"), 404)


def test_rate_limit_per_key(settings: Settings, tmp_path: object) -> None:
    from fastapi.testclient import TestClient

    from talker.server.app import create_app

    limited = settings.model_copy(update={
        "data_dir": tmp_path, "server": settings.server.model_copy(update={"rate_per_minute": 6})})
    with TestClient(create_app(limited, require_keys=False)) as client:
        codes = [client.get("/v1/info").status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and codes[-1] == 429
        limited_response = client.get("/v1/info")
        assert int(limited_response.headers["retry-after"]) >= 1
        assert client.get("/v1/health").status_code == 200  # health is never limited


def test_cors_is_closed_unless_configured(settings: Settings, tmp_path: object) -> None:
    from fastapi.testclient import TestClient

    from talker.server.app import create_app

    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    closed = settings.model_copy(update={"data_dir": tmp_path})
    with TestClient(create_app(closed, require_keys=False)) as client:
        assert "access-control-allow-origin" not in client.options("/v1/tts", headers=preflight).headers
    opened = closed.model_copy(update={"server": closed.server.model_copy(
        update={"cors_origins": ["https://example.com"]})})
    with TestClient(create_app(opened, require_keys=False)) as client:
        allowed = client.options("/v1/tts", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://example.com"
        other = client.options("/v1/tts", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
