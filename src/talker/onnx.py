"""ONNX Runtime sessions: one per model and thread count per process, on the CPU, quiet."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

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
            _sessions[key] = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        return _sessions[key]
