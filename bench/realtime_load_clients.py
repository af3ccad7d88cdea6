"""The (d) load of `realtime_bench.py`: N clients asking spoken questions back to back, in a process of their own.

The server under test then has its process to itself (its event loop, its GIL), as with browsers: only the CPU
is shared. Protocol on stdio: prints `{"sessions": [ids]}` once every client is connected, then
`{"done": true}` when the talking time is over, and closes the clients when its stdin closes (the bench reads
the server's counters in between).

    python bench/realtime_load_clients.py URL AVATAR SESSIONS SECONDS CLIPS.npz [NICE]

At NICE (10 by default) the clients leave the machine's cores to the server first, as browsers on the users'
own machines would; they are only here because the bench has one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

ANSWER_LISTEN = 1.5  # seconds of each answer listened to before moving on (as in realtime_bench.py)
CLIENT_NICE = 10  # the clients' default priority: background


async def ask(client: Any, clip: np.ndarray, within: float = 60.0) -> tuple[Any, int, bool]:
    """Speak a question; returns the clip (with its marks) once the answer's first audio went out, or once the
    avatar is listening again without having said anything (the model gave an empty answer): the flag says."""
    since = len(client.inbox.events)
    played = client.microphone.play(clip)
    thought = await client.inbox.wait_for(lambda e: e.get("type") == "state" and e["state"] == "thinking",
                                          within, since)
    after = client.inbox.events.index(thought)
    event = await client.inbox.wait_for(lambda e: e.get("type") == "latency" or
                                        (e.get("type") == "state" and e["state"] == "listening"), within, after)
    return played, since, event["type"] == "latency"


async def wait_listening(client: Any, since: int, within: float = 60.0) -> None:
    await client.inbox.wait_for(lambda e: e.get("type") == "state" and e["state"] == "listening", within, since)


async def quiet(client: Any) -> None:
    """Stop the avatar if it is still talking and wait until it listens."""
    since = len(client.inbox.events)
    if (await client.info())["state"] != "listening":
        await client.interrupt()
        await wait_listening(client, since)


async def run(url: str, avatar: str, sessions: int, seconds: float, clips: list[np.ndarray]) -> None:
    from talker.realtime.client import RealtimeClient

    clients = [RealtimeClient(url, decode_video=False) for _ in range(sessions)]
    try:
        for client in clients:
            await client.start(avatar)
        print(json.dumps({"sessions": [client.session_id for client in clients]}), flush=True)
        await asyncio.sleep(1.0)  # the bench takes its first reading of the counters now
        started = time.monotonic()

        async def talk(client: Any, offset: int) -> tuple[int, list[float]]:
            """Questions asked, and for each one answered: end of speech → the answer's first audio, ms."""
            index, answers = offset, []
            while time.monotonic() - started < seconds:
                with contextlib.suppress(TimeoutError):
                    _, since, spoke = await ask(client, clips[index % len(clips)], within=seconds)
                    if spoke:
                        latency = [e for e in client.inbox.events[since:] if e.get("type") == "latency"][-1]
                        answers.append(latency["answer_audio_sent_ms"])
                    await asyncio.sleep(ANSWER_LISTEN)
                    await quiet(client)
                index += 1
            return index - offset, answers

        counts = await asyncio.wait_for(asyncio.gather(*(talk(c, i) for i, c in enumerate(clients))), seconds + 90)
        print(json.dumps({"done": True, "asked": [asked for asked, _ in counts],
                          "answers_ms": [answers for _, answers in counts]}), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the bench has read the server's counters
    finally:
        for client in clients:
            await client.close()


def main() -> None:
    import aioice.ice

    url, avatar, sessions, seconds, clips_path = sys.argv[1:6]
    os.nice(int(sys.argv[6]) if len(sys.argv) > 6 else CLIENT_NICE)  # before any thread starts: they inherit it
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only
    with np.load(clips_path) as stored:
        clips = [stored[name] for name in sorted(stored.files, key=int)]
    asyncio.run(run(url, avatar, int(sessions), float(seconds), clips))


if __name__ == "__main__":
    main()
