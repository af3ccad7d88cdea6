"""Real-time conversations: answer latency by stage, barge-in stop time, A/V offset and fps with 1, 2, 4 sessions.

The server runs in this process under uvicorn (loopback, real HTTP and WebRTC), with the default kit: Whisper
base, Silero, Gemma 3 270M, Kokoro, the sample portrait. Clients are `talker.realtime.client` over aiortc. For
(a)-(c) one client runs in the same process, on the same clock: its microphone plays spoken questions at real
time, so the end of the user's speech is known exactly (the last loud 20 ms frame the client sent) and every
server mark is on the same monotonic clock. For (d) the clients run in a process of their own
(realtime_load_clients.py), so they do not take the server's event loop and GIL. The bench clients do not
decode the avatar's video (the server still renders and encodes every frame); a browser on the same laptop
would add that decoding.

(a) end of the user's speech → first avatar audio frame sent, by stage; (b) the user starting to talk over the
avatar → the first silent frame sent; (c) A/V offset of the video frames sent while speaking; (d) fps sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, write_section
from realtime_load_clients import ANSWER_LISTEN, CLIENT_NICE, ask, quiet
from talker.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "src" / "talker" / "data" / "sample_portrait.jpg"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
ENGLISH = ["sense_and_sensibility_01_austen_64kb-0880.wav", "sense_and_sensibility_01_austen_64kb-0930.wav",
           "sense_and_sensibility_01_austen_64kb-0890.wav"]
CHINESE = ["请问你们几点开门？", "你好，介绍一下你自己。", "今天天气怎么样？", "我想办一张银行卡。", "你会说英语吗？"]
QUESTION_VOICE = "zm_yunxi"  # the user's voice (the avatar answers in its own)
INTERRUPTION = "等一下，我还有一个问题。"
LOAD_SECONDS = 30.0  # how long each concurrency level runs
# (b): seconds into the answer's own speech when the user starts talking over it. Gemma 270M's answers are
# often a word or two ("好的。", under a second): later, many would be over before the user's first syllable.
TALK_OVER_AFTER = 0.25


Level = tuple[int, int]  # (d): (sessions, the clients' nice value)


@dataclass
class LoadResult:
    """(d) at one level, per session: frames sent and fresh frames per second, answers heard."""

    fresh: list[float]
    sent: list[float]
    answers_ms: list[float]  # every session's: end of speech → the answer's first audio sent
    asked: int
    resyncs: int
    cpu: float  # the server process's CPU time / wall time


@dataclass
class Samples:
    answer: list[dict[str, float]] = field(default_factory=list)  # stage → ms from the end of speech
    stop: list[float] = field(default_factory=list)  # (b), ms
    stop_server: list[float] = field(default_factory=list)  # (b) from the server's own detection of the speech
    offsets: list[float] = field(default_factory=list)  # (c), ms
    load: dict[Level, LoadResult] = field(default_factory=dict)  # (d)
    missed: list[str] = field(default_factory=list)
    prepared: int = 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server(settings: Settings) -> Iterator[tuple[str, Any]]:
    import aioice.ice
    import uvicorn

    from talker.server.app import create_app

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only
    app = create_app(settings, require_keys=False)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app.state.talker
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def _questions(state: Any) -> tuple[list[np.ndarray], np.ndarray]:
    """Spoken questions at 48 kHz: Chinese from Kokoro in a male voice, English from LibriVox; and the interruption."""
    import soundfile as sf
    import soxr

    synthesizer = state.services.synthesizer()

    def spoken(text: str) -> np.ndarray:
        chunks = list(synthesizer.stream(text, voice=QUESTION_VOICE))
        audio = np.concatenate([c.samples for c in chunks])
        return np.asarray(soxr.resample(audio, chunks[0].sample_rate, 48000), dtype=np.float32)

    clips = [spoken(text) for text in CHINESE]
    for name in ENGLISH:
        audio, rate = sf.read(LIBRIVOX / name, dtype="float32")
        clips.append(np.asarray(soxr.resample(audio, rate, 48000), dtype=np.float32))
    return clips, spoken(INTERRUPTION)


def _server_session(state: Any, session_id: str) -> Any:
    return state.extras["realtime"].find(session_id)


def _stages(times: Any, speech_end: float) -> dict[str, float]:
    marks = {"server heard the end": times.speech_ended, "text known (ASR)": times.transcribed,
             "end of turn decided": times.heard, "first audio sent (the opener)": times.first_audio_sent,
             "answer: first piece (LLM)": times.first_piece,
             "answer: first audio ready (TTS)": times.answer_audio_ready,
             "answer: first audio sent": times.answer_audio_sent}
    return {name: (value - speech_end) * 1000 for name, value in marks.items() if value is not None}


async def measure_answers(url: str, state: Any, avatar: str, clips: list[np.ndarray], interruption: np.ndarray,
                          samples: Samples, rounds: int) -> None:
    """(a) and (b) on one session, then (c) from its video track."""
    from talker.realtime.client import RealtimeClient

    async with RealtimeClient(url, decode_video=False) as client:
        await client.start(avatar)
        server = _server_session(state, client.session_id)
        for _ in range(rounds):
            for clip in clips:
                played, _, spoke = await ask(client, clip)
                times = server.conversation.turns[-1]
                if not spoke:
                    samples.missed.append("an empty answer")
                elif played.ended is not None:
                    samples.answer.append(_stages(times, played.ended))
                    samples.prepared += times.prepared
                await asyncio.sleep(ANSWER_LISTEN)
                await quiet(client)
        for clip in clips[: len(clips) // 2 + 1] * rounds:
            await _barge_in(client, server, clip, interruption, samples)
        samples.offsets += [offset * 1000 for offset in server.transport.video.stats.av_offsets]


async def _barge_in(client: Any, server: Any, clip: np.ndarray, interruption: np.ndarray, samples: Samples) -> None:
    """Ask, let the avatar say a word of its answer, talk over it: (b) lasts until the first silent frame sent."""
    _, since, _ = await ask(client, clip)
    await asyncio.sleep(TALK_OVER_AFTER)
    if server.conversation.state != "speaking" or not server.conversation.playout.speaking:
        samples.missed.append("answer too short to talk over")
        await quiet(client)
        return
    times = server.conversation.turns[-1]
    over = client.microphone.play(interruption)
    try:
        await client.inbox.wait_for(lambda e: e.get("type") == "interrupted", 10, since)
    except TimeoutError:
        await over.done.wait()
        ended = [e["_at"] for e in client.inbox.events[since:] if e.get("type") == "state" and
                 e["state"] == "listening"]
        early = bool(ended and over.started is not None and ended[0] < over.started + 0.3)
        samples.missed.append("the answer ended before 0.2 s of talking over it" if early else
                              "a barge-in not detected")
    await over.done.wait()
    if times.stopped is not None and over.started is not None and times.interrupted_at is not None:
        samples.stop.append((times.stopped - over.started) * 1000)
        if times.user_spoke is not None:
            samples.stop_server.append((times.stopped - times.user_spoke) * 1000)
    await asyncio.sleep(ANSWER_LISTEN)  # the interruption is a question too: let its answer start
    await quiet(client)


async def measure_load(url: str, state: Any, avatar: str, clips: list[np.ndarray], level: Level,
                       samples: Samples) -> None:
    """(d): `sessions` conversations at once, each asking spoken questions back to back for LOAD_SECONDS. The
    clients run in a process of their own (realtime_load_clients.py), so the server has its event loop and GIL
    to itself, as with browsers; at `nice` they also leave the CPU to it first, as browsers on the users' own
    machines would."""
    sessions, nice = level
    with tempfile.TemporaryDirectory() as folder:
        clips_path = Path(folder) / "clips.npz"
        np.savez(clips_path, **{str(index): clip for index, clip in enumerate(clips)})
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("realtime_load_clients.py")), url, avatar, str(sessions),
            str(LOAD_SECONDS), str(clips_path), str(nice),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        try:
            ids = json.loads(await asyncio.wait_for(process.stdout.readline(), 120))["sessions"]
            servers = [_server_session(state, session_id) for session_id in ids]
            await asyncio.sleep(1.0)
            before = [(s.transport.video.stats.frames, s.transport.video.stats.late,
                       s.transport.audio.stats.resyncs) for s in servers]
            started, cpu = time.monotonic(), _cpu_seconds()
            line = await asyncio.wait_for(process.stdout.readline(), LOAD_SECONDS + 120)
            if not line:
                raise RuntimeError("the load clients stopped early (their error is above)")
            elapsed = time.monotonic() - started
            cpu = (_cpu_seconds() - cpu) / elapsed
            done = json.loads(line)
            fresh, sent, resyncs = [], [], 0
            for server, (frames, late, resync) in zip(servers, before, strict=True):
                stats = server.transport.video.stats
                sent.append((stats.frames - frames) / elapsed)
                fresh.append(((stats.frames - frames) - (stats.late - late)) / elapsed)
                resyncs += server.transport.audio.stats.resyncs - resync
            answers = [ms for session in done["answers_ms"] for ms in session]
            samples.load[level] = LoadResult(fresh, sent, answers, sum(done["asked"]), resyncs, cpu)
        finally:
            process.stdin.close()
            await process.wait()


def _cpu_seconds() -> float:
    """CPU time of this process so far (every thread: the server's, native pools included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def report(samples: Samples, rounds: int) -> str:
    stage_names = ["server heard the end", "text known (ASR)", "end of turn decided", "first audio sent (the opener)",
                   "answer: first piece (LLM)", "answer: first audio ready (TTS)", "answer: first audio sent"]
    rows = []
    for name in stage_names:
        values = [a[name] for a in samples.answer if name in a]
        rows.append(f"| {name} | {statistics.median(values):.0f} ms | {_pct(values, 0.9):.0f} ms |"
                    if values else f"| {name} | – | – |")
    offsets = [abs(o) for o in samples.offsets]
    fps_rows = [f"| {n} | {'background' if nice else 'normal'} | {statistics.median(r.sent):.1f} | "
                f"{min(r.fresh):.1f} – {max(r.fresh):.1f} | {len(r.answers_ms)} of {r.asked} | "
                f"{statistics.median(r.answers_ms) / 1000 if r.answers_ms else float('nan'):.1f} s | {r.resyncs} | "
                f"{r.cpu:.0%} |" for (n, nice), r in sorted(samples.load.items(), key=lambda kv: (kv[0][0], -kv[0][1]))]
    counted = collections.Counter(samples.missed)
    missed = (" Missed: " + ", ".join(f"{why} ({n}×)" if n > 1 else why for why, n in counted.items()) + "."
              if counted else "")
    return f"""## Real time (`bench/realtime_bench.py`)

One server process (uvicorn, aiortc on loopback) with the default kit; Python WebRTC clients (in the same
process for (a)–(c), in a second process for (d)) whose microphones speak the questions at real time
({len(CHINESE)} Chinese questions from Kokoro's `{QUESTION_VOICE}`, {len(ENGLISH)} LibriVox sentences;
× {rounds}). All marks are on one monotonic clock; the end of the user's speech is the last loud 20 ms frame
the client sent. The avatar answers with Gemma 3 270M and
Kokoro; the clients do not decode the video (the server renders and encodes every frame).

**(a) End of the user's speech → each stage** ({len(samples.answer)} answers, {samples.prepared} of them prepared
before the turn ended; target: first audio sent ≤ 300 ms). The opener (嗯， / Well,) is spoken ahead; it goes out
as soon as the recogniser's words sound finished (a question or a complete sentence), else when the end of the
turn is decided; the answer itself follows.

| stage | median | p90 |
|---|---|---|
{chr(10).join(rows)}

**(b) The user talks over the avatar → its audio stops** (first silent frame sent; {len(samples.stop)} barge-ins,
each {TALK_OVER_AFTER} s into the answer's own speech; target ≤ 150 ms): median \
{statistics.median(samples.stop) if samples.stop else float('nan'):.0f} ms, p90
{_pct(samples.stop, 0.9):.0f} ms from the first loud frame the client sent; from the server's own detection of
the speech, median {statistics.median(samples.stop_server) if samples.stop_server else float('nan'):.0f} ms.
The answer is cut (memory keeps what was heard) once 0.2 s of speech confirm it. The bench's microphones carry
no echo of the avatar; the echo case is in tests/realtime/test_watch.py.{missed}

**(c) A/V offset of the video frames sent while the avatar spoke** (speech the audio track had sent minus the
speech position the frame shows; {len(offsets)} frames; target ≤ 40 ms): median {_pct(offsets, 0.5):.0f} ms,
p90 {_pct(offsets, 0.9):.0f} ms, max {max(offsets) if offsets else float('nan'):.0f} ms.

**(d) Video frame rate with concurrent sessions**, each asking spoken questions back to back for
{LOAD_SECONDS:.0f} s (target 25 fps; *fresh* frames are newly rendered, the rest repeat the previous image).
The clients stand in for browsers on the users' own machines but share this machine's two cores with the
server (~0.3 core for four): at *background* priority (nice {CLIENT_NICE}) they leave the CPU to the server
first, as remote browsers would; the *normal* row shows what they take from it at the server's priority.
*Answers* counts the questions whose answer started (within the level's time), of those asked; *answer*
is the median time from the end of a question to its answer's first audio (the opener goes out before it).

| sessions | clients' priority | fps sent (median) | fresh fps (min – max over sessions) | answers | answer \
| audio clock resyncs | server CPU (of one core) |
|---|---|---|---|---|---|---|---|
{chr(10).join(fps_rows)}

Peak RSS of the process (server, every model, clients): {peak_rss_mb():.0f} MB."""


async def run(url: str, state: Any, rounds: int, levels: list[Level]) -> Samples:
    """(a)-(c) over `rounds` of the questions (none if 0), then (d) at each number of sessions in `levels`."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        response = await http.post("/v1/avatars", content=PORTRAIT.read_bytes(), params={"name": "bench"})
        response.raise_for_status()
        avatar = response.json()["id"]
    clips, interruption = await asyncio.to_thread(_questions, state)
    silence = np.zeros(24000, dtype=np.float32)
    clips = [np.concatenate([silence, clip, silence]) for clip in clips]
    samples = Samples()
    if rounds:
        print("(a)-(c): one session …", flush=True)
        await measure_answers(url, state, avatar, clips, interruption, samples, rounds)
    for level in levels:
        print(f"(d): {level[0]} session(s), clients at nice {level[1]} …", flush=True)
        await measure_load(url, state, avatar, clips, level, samples)
    return samples


def _level(text: str) -> Level:
    sessions, _, nice = text.partition(":")
    return int(sessions), int(nice) if nice else CLIENT_NICE


def main() -> None:
    """`--quick`: one round and one session, BENCHMARKS.md untouched; `--load 2,4`: only (d), at those levels
    (`4:0`: four sessions with the clients at normal priority)."""
    load = next((sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == "--load"), None)
    quick = "--quick" in sys.argv or load is not None
    levels: list[Level] = [(1, CLIENT_NICE)]
    if not quick:
        levels += [(2, CLIENT_NICE), (4, CLIENT_NICE), (4, 0)]
    rounds = 1 if quick else 2
    if load is not None:
        rounds, levels = 0, [_level(text) for text in load.split(",")]
    with tempfile.TemporaryDirectory() as data:
        base = Settings()
        settings = base.model_copy(update={
            "data_dir": Path(data),
            "server": base.server.model_copy(update={"rate_per_minute": 100_000, "realtime_sessions": 4}),
        })
        started = time.monotonic()
        with _server(settings) as (url, state):
            samples = asyncio.run(run(url, state, rounds, levels))
        body = report(samples, rounds)
    print(body)
    if not quick:
        write_section("realtime", body)
    print(f"\nrealtime bench done in {time.monotonic() - started:.0f} s" + ("" if quick else "; BENCHMARKS.md updated"))


if __name__ == "__main__":
    main()
