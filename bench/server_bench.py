"""REST service: request latency (tts, asr, chat first byte), video job throughput with 4 concurrent jobs, RSS.

The server runs in this process under uvicorn (loopback, real HTTP); requests come from httpx clients.
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_section
from talker.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "src" / "talker" / "data" / "sample_portrait.jpg"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav")
RUNS = 5
SCRIPT = "大家好，我是数字人小慧。今天给大家介绍一下我们的新业务。"


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _family() -> list[int]:
    """This process and its children (the video encoders)."""
    me = os.getpid()
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:
                    children.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return [me, *children]


def _median_ms(action: Callable[[], float]) -> tuple[float, float]:
    times = [action() for _ in range(RUNS)]
    return statistics.median(times) * 1000, max(times) * 1000


def main() -> None:
    import uvicorn

    from talker.server.app import create_app

    data = Path(tempfile.mkdtemp(prefix="talker-bench-"))
    settings = Settings(data_dir=data)
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"rate_per_minute": 10**6})})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, require_keys=False), host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=300)
    idle_rss = _rss_mb(_family())

    audio = LIBRIVOX.read_bytes()
    client.post("/v1/tts", json={"text": "预热。"})
    client.post("/v1/asr", content=audio)
    client.post("/v1/knowledge/faq", json={"question": "你们几点开门？", "answer": "我们早上九点开门。"})
    session = client.post("/v1/chat/sessions").json()["id"]

    def tts() -> float:
        started = time.perf_counter()
        client.post("/v1/tts", json={"text": "你好，我是数字人小慧。"}).raise_for_status()
        return time.perf_counter() - started

    def asr() -> float:
        started = time.perf_counter()
        client.post("/v1/asr", content=audio).raise_for_status()
        return time.perf_counter() - started

    def first_piece(text: str) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            with client.stream("POST", f"/v1/chat/sessions/{session}/messages", json={"text": text}) as response:
                lines = response.iter_lines()
                seen = []
                for line in lines:
                    if line.startswith("event: piece"):
                        elapsed = time.perf_counter() - started
                        break
                    seen.append(line)
                else:
                    raise RuntimeError(f"no answer to {text!r}: {response.status_code} {seen}")
                for _ in lines:  # the rest of the answer
                    pass
            return elapsed

        return run

    first_piece("Hello!")()  # loads the LLM
    rows = [
        ("POST /v1/tts, 11 characters of Chinese (1.9 s of speech), whole WAV", *_median_ms(tts)),
        ("POST /v1/asr, 3 s LibriVox WAV, whole transcript", *_median_ms(asr)),
        ("chat, first SSE piece, answered from the FAQ", *_median_ms(first_piece("你们几点开门？"))),
        ("chat, first SSE piece, answered by the local LLM", *_median_ms(first_piece("Tell me a short joke."))),
    ]

    avatar = client.post("/v1/avatars", content=PORTRAIT.read_bytes()).json()["id"]
    peak = idle_rss
    sampling = True

    def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, _rss_mb(_family()))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    jobs = [client.post("/v1/videos", json={"avatar": avatar, "text": SCRIPT, "size": 512}).json()["id"]
            for _ in range(4)]
    finished: dict[str, dict[str, float]] = {}
    while len(finished) < len(jobs):
        for job_id in jobs:
            if job_id not in finished:
                job = client.get(f"/v1/videos/{job_id}").raise_for_status().json()
                if job["state"] in ("succeeded", "failed", "cancelled"):
                    assert job["state"] == "succeeded", job
                    finished[job_id] = job
        time.sleep(0.5)
    wall = time.perf_counter() - started
    sampling = False
    sampler.join()
    from talker.media.video import probe

    seconds = 0.0
    for job_id in jobs:
        target = data / f"{job_id}.mp4"
        target.write_bytes(client.get(f"/v1/videos/{job_id}/content").content)
        seconds += probe(target).audio_duration
    turnaround = sorted(job["finished"] - job["created"] for job in finished.values())
    server.should_exit = True

    table = "\n".join(f"| {name} | {median:.0f} ms | {worst:.0f} ms |" for name, median, worst in rows)
    body = f"""## REST service (`bench/server_bench.py`)

Real HTTP on loopback (uvicorn, one process), real models, {RUNS} requests each after a warm-up.

| request | median | worst |
|---|---|---|
{table}

**Video jobs:** 4 submitted at once (512² portrait, a {len(SCRIPT)}-character Chinese script, ~{seconds / 4:.1f} s of
video each), {settings.server.video_workers} render worker (each render uses one core and its encoder the other):
all done in {wall:.1f} s, {seconds / wall:.2f} s of video per second of wall time; turnaround from submission
{turnaround[0]:.1f} s (first) to {turnaround[-1]:.1f} s (last).

**Memory:** {idle_rss:.0f} MB RSS idle with no model loaded; peak {peak:.0f} MB (server plus encoder processes)
with every model loaded (Kokoro, Whisper, VAD, Gemma, MiniLM, the face landmarker) and 4 video jobs queued.
"""
    write_section("server", body)
    print(body)


if __name__ == "__main__":
    main()
