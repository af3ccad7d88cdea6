"""Thread priorities: heavy inference yields the CPU to what must not stutter (live audio and video).

On a laptop's two cores, speech synthesis, the LLM and recognition of several live conversations can ask for
more CPU than there is. Their threads run at a lower priority (a higher nice value), so the event loop, which
paces the audio, and the media encoders are scheduled first; the inference simply takes a little longer.
Threads that native libraries start (ONNX Runtime's and llama.cpp's pools) inherit the value of the thread
that created them. Linux only: elsewhere the call would reprioritise the whole process, so it does nothing.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading

BACKGROUND_NICE = 10
VIDEO_NICE = 5  # drawing the avatar: a late frame repeats the last image, a late audio frame is a gap


def lower_priority(nice: int = BACKGROUND_NICE) -> None:
    """Run the calling thread (and the threads it starts from now on) at `nice`, if the platform allows."""
    if sys.platform != "linux":
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), nice))
    except OSError:  # not permitted here: run at the normal priority
        pass


def background_pool(workers: int, name: str, nice: int = BACKGROUND_NICE) -> concurrent.futures.ThreadPoolExecutor:
    """A thread pool whose threads run at a lower priority (the background one by default)."""
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name, initializer=lower_priority,
                                                 initargs=(nice,))
