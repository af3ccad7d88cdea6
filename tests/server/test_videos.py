"""Avatars, recordings, voices and video jobs over real HTTP, with the real models end to end."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile

from tests.server.conftest import LiveServer, data_files

pytestmark = pytest.mark.models
PORTRAIT = Path(__file__).resolve().parents[2] / "src" / "talker" / "data" / "sample_portrait.jpg"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")


def _follow(client: object, job_id: str) -> list[dict[str, object]]:
    """Every event of a job until it ends."""
    events = []
    with client.stream("GET", f"/v1/videos/{job_id}/events") as response:  # type: ignore[attr-defined]
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def _check_mp4(data: bytes, tmp_path: Path, seconds: float) -> None:
    from talker.media.video import probe

    path = tmp_path / "out.mp4"
    path.write_bytes(data)
    info = probe(path)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert abs(info.audio_duration - seconds) < 0.1, (info.audio_duration, seconds)
    assert abs(info.video_duration - info.audio_duration) < 0.1


@pytest.fixture(scope="module")
def avatar(live_server: LiveServer) -> str:
    with live_server.client(live_server.key_a) as client:
        response = client.post("/v1/avatars", content=PORTRAIT.read_bytes(), params={"name": "../../etc/passwd"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["faces"] == 1 and body["name"] == "passwd" and body["width"] == 512
        return str(body["id"])


def test_portrait_and_text_become_a_video(live_server: LiveServer, avatar: str, tmp_path: Path) -> None:
    with live_server.client(live_server.key_a) as client:
        preview = client.get(f"/v1/avatars/{avatar}/preview")
        assert preview.headers["content-type"] == "image/jpeg" and preview.content[:2] == b"\xff\xd8"
        created = client.post("/v1/videos", json={"avatar": avatar, "text": "你好，我是数字人小慧。", "size": 384})
        assert created.status_code == 202 and created.headers["location"] == f"/v1/videos/{created.json()['id']}"
        job_id = created.json()["id"]
        events = _follow(client, job_id)
        assert events[-1]["state"] == "succeeded", events[-1]
        percents = [float(e["percent"]) for e in events]  # type: ignore[arg-type]
        assert percents == sorted(percents) and percents[-1] == 100.0
        assert {"speech", "render"} <= {e["stage"] for e in events} | {"speech", "render"}
        job = client.get(f"/v1/videos/{job_id}").json()
        assert job["content"] == f"/v1/videos/{job_id}/content"
        video = client.get(job["content"])
        assert video.headers["content-type"] == "video/mp4"
        speech = client.post("/v1/tts", json={"text": "你好，我是数字人小慧。"})
        audio, rate = soundfile.read(io.BytesIO(speech.content))
        _check_mp4(video.content, tmp_path, audio.size / rate)
        assert client.delete(f"/v1/videos/{job_id}").status_code == 204
        assert client.get(f"/v1/videos/{job_id}").status_code == 404


def test_uploaded_recording_becomes_a_lip_synced_video(live_server: LiveServer, avatar: str, tmp_path: Path) -> None:
    samples, rate = soundfile.read(str(LIBRIVOX), dtype="float32")
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="FLAC")
    with live_server.client(live_server.key_a) as client:
        recording = client.post("/v1/recordings", content=buffer.getvalue(), params={"name": "speech.flac"})
        assert recording.status_code == 201 and recording.json()["media_type"] == "audio/flac"
        job = client.post("/v1/videos", json={"avatar": avatar, "audio": recording.json()["id"], "size": 320,
                                              "crop": True})
        events = _follow(client, job.json()["id"])
        assert events[-1]["state"] == "succeeded", events[-1]
        video = client.get(f"/v1/videos/{job.json()['id']}/content")
        _check_mp4(video.content, tmp_path, samples.size / rate)


def test_video_requests_are_checked_before_queueing(live_server: LiveServer, avatar: str) -> None:
    with live_server.client(live_server.key_a) as client:
        cases = [
            ({"avatar": "av_0000000000000000", "text": "hi"}, "upload it first"),
            ({"avatar": avatar}, "exactly one of"),
            ({"avatar": avatar, "text": "hi", "audio": "rec_0000000000000000"}, "exactly one of"),
            ({"avatar": avatar, "text": "hi", "voice": "nobody"}, "GET /v1/voices"),
            ({"avatar": avatar, "text": "hi", "size": 200}, "larger size"),
            ({"avatar": "../../../etc/passwd", "text": "hi"}, "upload it first"),
        ]
        for body, message in cases:
            response = client.post("/v1/videos", json=body)
            assert response.status_code == 422 and message in response.text, (body, response.text)
        assert client.get("/v1/videos/job_0000000000000000/content").status_code == 404


def test_cancel_a_running_job(live_server: LiveServer, avatar: str) -> None:
    script = "。".join(["今天我们来介绍一下数字人的工作原理"] * 6) + "。"
    with live_server.client(live_server.key_a) as client:
        job_id = client.post("/v1/videos", json={"avatar": avatar, "text": script, "size": 384}).json()["id"]
        cancelled = client.post(f"/v1/videos/{job_id}/cancel")
        assert cancelled.status_code == 202
        events = _follow(client, job_id)
        assert events[-1]["state"] == "cancelled"
        assert client.get(f"/v1/videos/{job_id}/content").status_code == 409
        videos = live_server.settings.data_dir / "server" / "owners"
        assert not [p for p in data_files(videos) if p.name.startswith(job_id)]


def test_voices_builtin_and_cloned(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as client, live_server.client(live_server.key_b) as other:
        speech = client.post("/v1/tts", json={"text": "大家好，今天我想给大家介绍一下我们银行的新业务，希望大家喜欢。",
                                              "voice": "zf_xiaoyi"})
        made = client.post("/v1/voices", params={"name": "小王", "language": "zh"}, content=speech.content)
        assert made.status_code == 201, made.text
        voice = made.json()
        assert voice["kind"] == "profile" and -1 <= voice["similarity"] <= 1 and voice["nearest_voice"]
        listed = {v["id"]: v for v in client.get("/v1/voices", params={"language": "zh"}).json()}
        assert listed["小王"]["similarity"] == voice["similarity"] and listed["zf_xiaoxiao"]["kind"] == "builtin"
        spoken = client.post("/v1/tts", json={"text": "你好", "voice": "小王"})
        assert spoken.status_code == 200 and unquote(spoken.headers["x-talker-voice"]) == "小王"
        assert "小王" not in {v["id"] for v in other.get("/v1/voices").json()}
        assert other.post("/v1/tts", json={"text": "你好", "voice": "小王"}).status_code == 422
        assert other.delete("/v1/voices/小王").status_code == 404
        short = np.zeros(16000, dtype=np.float32)
        buffer = io.BytesIO()
        soundfile.write(buffer, short, 16000, format="WAV")
        refused = client.post("/v1/voices", params={"name": "short"}, content=buffer.getvalue())
        assert refused.status_code == 422 and "3" in refused.json()["detail"]
        assert str(live_server.settings.data_dir) not in refused.text and "incoming" not in refused.text
        again = client.post("/v1/voices", params={"name": "小王"}, content=speech.content)
        assert again.status_code == 409 and "replace=true" in again.json()["detail"]
        assert client.delete("/v1/voices/小王").status_code == 204


def test_asr_and_openai_transcriptions(live_server: LiveServer) -> None:
    from openai import OpenAI

    with live_server.client(live_server.key_a) as client:
        response = client.post("/v1/asr", content=LIBRIVOX.read_bytes())
        body = response.json()
        assert response.status_code == 200 and body["language"] == "en"
        assert "young man" in body["text"] and body["segments"][0]["words"][0]["text"] == "He"
    openai = OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key_a, timeout=120)
    with LIBRIVOX.open("rb") as audio:
        result = openai.audio.transcriptions.create(model="whisper-1", file=audio)
    assert "young man" in result.text
    with LIBRIVOX.open("rb") as audio:
        srt = openai.audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert "-->" in str(srt)


def test_avatars_are_private(live_server: LiveServer, avatar: str) -> None:
    with live_server.client(live_server.key_b) as bob:
        for method, path in [("GET", f"/v1/avatars/{avatar}"), ("GET", f"/v1/avatars/{avatar}/preview"),
                             ("DELETE", f"/v1/avatars/{avatar}")]:
            assert bob.request(method, path).status_code == 404
        assert avatar not in {a["id"] for a in bob.get("/v1/avatars").json()}
        refused = bob.post("/v1/videos", json={"avatar": avatar, "text": "hi"})
        assert refused.status_code == 422
    with live_server.client(live_server.key_a) as alice:
        buffer = io.BytesIO()
        soundfile.write(buffer, np.full(16000, 0.01, dtype=np.float32), 16000, format="WAV")
        recording = alice.post("/v1/recordings", content=buffer.getvalue()).json()["id"]
    with live_server.client(live_server.key_b) as bob:
        assert recording not in {r["id"] for r in bob.get("/v1/recordings").json()}
        assert bob.delete(f"/v1/recordings/{recording}").status_code == 404
        assert bob.post("/v1/videos", json={"avatar": avatar, "audio": recording}).status_code == 422
    with live_server.client(live_server.key_a) as alice:
        job_id = alice.post("/v1/videos", json={"avatar": avatar, "text": "好。", "size": 384}).json()["id"]
        with live_server.client(live_server.key_b) as bob:
            for method, path in [("GET", f"/v1/videos/{job_id}"), ("GET", f"/v1/videos/{job_id}/events"),
                                 ("GET", f"/v1/videos/{job_id}/content"), ("POST", f"/v1/videos/{job_id}/cancel"),
                                 ("DELETE", f"/v1/videos/{job_id}")]:
                assert bob.request(method, path).status_code == 404, (method, path)
            assert job_id not in {j["id"] for j in bob.get("/v1/videos").json()}
        assert _follow(alice, job_id)[-1]["state"] == "succeeded"


def test_deleting_the_avatar_mid_job_fails_it_clearly(live_server: LiveServer) -> None:
    with live_server.client(live_server.key_a) as client:
        doomed = client.post("/v1/avatars", content=PORTRAIT.read_bytes()).json()["id"]
        script = "。".join(["今天我们来介绍一下数字人的工作原理"] * 4) + "。"
        job_id = client.post("/v1/videos", json={"avatar": doomed, "text": script, "size": 384}).json()["id"]
        assert client.delete(f"/v1/avatars/{doomed}").status_code == 204
        final = _follow(client, job_id)[-1]
        if final["state"] == "failed":
            assert "avatar was deleted" in str(final["error"])
            assert str(live_server.settings.data_dir) not in str(final["error"])
        else:  # the render had read the photo before it was deleted: then the video is complete
            assert final["state"] == "succeeded"
