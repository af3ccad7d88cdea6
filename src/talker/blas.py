"""OpenBLAS held to one thread for the whole process.

numpy's OpenBLAS starts a pool of threads for any matrix product big enough, and those threads spin for
about a tenth of a second after each one before they sleep. On two cores that spin takes a core from the
model running next: Whisper's encoder ran 4x slower (150 ms instead of 35 ms) right after the mel
spectrogram's product had woken the pool. Our models run on their own pools with explicit thread counts
(ONNX Runtime, CTranslate2, llama.cpp), and the products numpy does for us are small, so one BLAS thread
is faster everywhere. The setting is process-wide: every model that does numpy products on a hot path asks
for it when it loads.
"""

from __future__ import annotations


def use_one_thread() -> bool:
    """Hold every BLAS loaded so far to one thread from now on; False without threadpoolctl.

    Call it when a model loads (it scans the loaded libraries, a few ms), not per call.
    """
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a core dependency
        return False
    ThreadpoolController().limit(limits=1, user_api="blas")
    return True
