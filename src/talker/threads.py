"""Thread priorities: heavy inference yields the CPU to what must not stutter (live audio and video).

On a laptop's two cores, speech synthesis, the LLM and recognition of several live conversations can ask for
more CPU than there is. Their threads run at a lower priority (a higher nice value), so the event loop, which
paces the audio, the avatar's renderers and the video encoders are scheduled first; the inference simply takes
a little longer. Threads that native libraries start (ONNX Runtime's, CTranslate2's and llama.cpp's pools)
inherit the value of the thread that created them, so models are loaded on a background thread
(`built_in_background`). Linux only: elsewhere the call would reprioritise the whole process, so it does
nothing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

BACKGROUND_NICE = 10
# Recognition ranks between: the end of the user's turn should not wait for another session's answer.
RECOGNITION_NICE = 5
# llama.cpp runs each op of a token on OpenMP threads; an idle one spins ~300 000 times before it sleeps. Alone
# that saves a wake-up between ops; with several live sessions on two cores, a thread spinning at a barrier for
# one that was preempted burns the time that one needs. Measured (bench/realtime_bench.py --load 4, Gemma 3 270M):
# answers at four sessions 24 s median by default, 16 s at 10 000, 14 s at 3 000, 12 s at 1 000; a token alone
# 17.9 ms by default, 17.4 ms at 3 000, 19.5 ms at 1 000, 34 ms with no spin at all.
LLM_OPENMP_SPIN = 3000
_SPIN_VARIABLES = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
_openmp_loading = threading.Lock()


def lower_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and the threads it starts from now on) at `nice`, if the platform allows."""
    if sys.platform != "linux":
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except OSError:  # not permitted here: run at the normal priority
        pass


@contextlib.contextmanager
def loading_openmp(spin: int | None) -> Iterator[None]:
    """Import a native library whose own OpenMP runtime (GNU libgomp) loads with it, spinning `spin` times at
    most before an idle thread sleeps (None: the runtime's default). The runtime reads this once, as it loads,
    so it only counts for a library's first import; a spin count or wait policy the user set always wins."""
    with _openmp_loading:  # one library at a time: the setting must not leak into another's load
        if spin is None or any(name in os.environ for name in _SPIN_VARIABLES):
            yield
            return
        os.environ["GOMP_SPINCOUNT"] = str(spin)
        try:
            yield
        finally:
            os.environ.pop("GOMP_SPINCOUNT", None)


def background_pool(workers: int, name: str) -> concurrent.futures.ThreadPoolExecutor:
    """A thread pool whose threads run at the background priority."""
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=lower_priority)


def built_in_background(build: Callable[[], T], nice: int = BACKGROUND_NICE) -> T:
    """Run `build` (a model load) on a fresh thread at the background priority (or `nice`), return what it made.

    Native pools (ONNX Runtime's intra-op threads, CTranslate2's workers, llama.cpp's threads) are started by
    the thread that loads the model and keep its priority for the life of the process: a model first loaded
    by a request handler at the normal priority would compete with live audio ever after.
    """
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        lower_priority(nice)
        try:
            result.append(build())
        except BaseException as error:  # handed to the caller
            failure.append(error)

    thread = threading.Thread(target=run, name="talker-load", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
