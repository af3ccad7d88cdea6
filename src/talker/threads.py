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
import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

BACKGROUND_NICE = 10
# Recognition ranks between: the end of the user's turn should not wait for another session's answer.
RECOGNITION_NICE = 5


def lower_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and the threads it starts from now on) at `nice`, if the platform allows."""
    if sys.platform != "linux":
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except OSError:  # not permitted here: run at the normal priority
        pass


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
