"""Inference threads run below the priority of live audio and video (Linux)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from talker.threads import BACKGROUND_NICE, background_pool


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
def test_a_background_pool_runs_its_threads_at_the_background_priority() -> None:
    def nice_of_this_thread() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with background_pool(1, "test-background") as pool:
        tid, nice = pool.submit(nice_of_this_thread).result()
    assert nice >= BACKGROUND_NICE
    assert tid != threading.get_native_id()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICE, "the caller was lowered too"
