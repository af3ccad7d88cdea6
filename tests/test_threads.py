"""Inference threads run below the priority of live audio and video (Linux)."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from talker.config import Settings
from talker.threads import BACKGROUND_NICE, background_pool, built_in_background


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
def test_a_background_pool_runs_its_threads_at_the_background_priority() -> None:
    def nice_of_this_thread() -> tuple[int, int]:
        return threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with background_pool(1, "test-background") as pool:
        tid, nice = pool.submit(nice_of_this_thread).result()
    assert nice >= BACKGROUND_NICE
    assert tid != threading.get_native_id()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICE, "the caller was lowered too"


def _thread_nices() -> dict[int, int]:
    nices = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        nices[int(tid)] = int(fields[16])  # the 19th field of stat: nice
    return nices


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread priorities are a Linux feature")
@pytest.mark.models
def test_a_model_loaded_from_a_normal_thread_gets_its_pool_at_the_background_priority(settings: Settings) -> None:
    """ONNX Runtime starts its intra-op threads when the session is made; made on a request handler's thread,
    they would run at the normal priority for good. Built in the background, they run below live audio."""
    import onnxruntime  # noqa: F401  (its import starts an idle thread of its own, not the session's pool)

    from talker.models.kit import ModelKit
    from talker.onnx import shared_session

    before = _thread_nices()
    session = shared_session(ModelKit(settings.models_dir).path("silero-vad"), 3)  # a pool of two threads
    started = {tid: nice for tid, nice in _thread_nices().items() if tid not in before}
    assert session is not None and len(started) >= 2, started
    assert all(nice >= BACKGROUND_NICE for nice in started.values()), started
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < BACKGROUND_NICE, "the caller was lowered too"


def test_a_failed_background_build_raises_in_the_caller() -> None:
    def broken() -> None:
        raise ValueError("no such model")

    with pytest.raises(ValueError, match="no such model"):
        built_in_background(broken)
    assert built_in_background(lambda: 42) == 42



_LOAD_BOTH = """
import os
from talker.threads import LLM_OPENMP_SPIN, loading_openmp
with loading_openmp(LLM_OPENMP_SPIN):
    import xllamacpp
with loading_openmp(None):
    import ctranslate2
print("left:", os.environ.get("GOMP_SPINCOUNT"))
"""


def _spin_counts_shown(extra_env: dict[str, str]) -> tuple[list[str], str]:
    """Each OpenMP runtime's spin count as it reports it on loading (OMP_DISPLAY_ENV), and what the script printed."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(OMP_DISPLAY_ENV="VERBOSE", **extra_env)
    done = subprocess.run([sys.executable, "-c", _LOAD_BOTH], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    counts = [line.split("=")[1].strip().strip("'") for line in done.stderr.splitlines()
              if line.strip().startswith("GOMP_SPINCOUNT")]
    return counts, done.stdout.strip()


def test_llama_cpps_openmp_spins_briefly_and_ctranslate2s_keeps_its_default() -> None:
    from talker.threads import LLM_OPENMP_SPIN

    counts, printed = _spin_counts_shown({})
    assert counts[0] == str(LLM_OPENMP_SPIN), counts  # xllamacpp's runtime loaded first
    assert len(counts) == 2 and int(counts[1]) > 10 * LLM_OPENMP_SPIN, counts
    assert printed == "left: None", "the setting leaked out of the import"


def test_a_spin_count_the_user_set_wins() -> None:
    counts, _ = _spin_counts_shown({"GOMP_SPINCOUNT": "12345"})
    assert counts == ["12345", "12345"]
