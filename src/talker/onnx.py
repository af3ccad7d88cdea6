"""ONNX Runtime sessions: one per model and thread count per process, on the CPU, quiet."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from talker.threads import built_in_background

_lock = threading.Lock()
_sessions: dict[tuple[str, int], Any] = {}


def shared_session(model: Path, threads: int) -> Any:
    """The process's session for `model` with `threads` intra-op threads, created on first use."""
    key = (str(model), threads)
    with _lock:
        if key not in _sessions:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            # Idle pool threads sleep instead of spinning: on a shared CPU (the live video, the LLM, other
            # sessions) spinning threads take the cores the work needs. Measured on 2 cores with Kokoro at
            # nice 10: alone 5 % slower (637 vs 603 ms a clause); beside a busy core 2.0 s instead of 2.9 s.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            _sessions[key] = built_in_background(
                lambda: ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"]))
        return _sessions[key]
