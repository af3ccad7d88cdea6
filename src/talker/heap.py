"""The models' Python objects kept out of the garbage collector's way.

Loading the models leaves ~400 000 long-lived Python objects behind (dictionaries of the phonemizers and
segmenters, tokenizers, settings). Every full collection walked all of them: 30-60 ms with the interpreter
lock held, measured under four live sessions, so every audio and video tick of every session waited.
Frozen objects are never examined again; what is allocated later is collected as usual.
"""

from __future__ import annotations

import atexit
import gc

_released_at_exit = False


def settle() -> None:
    """Collect what is garbage now, then freeze what is left (call after loading models, not per request).

    Only the first call walks the big heap; later ones see just what was allocated since.
    """
    global _released_at_exit
    gc.collect()
    gc.freeze()
    if not _released_at_exit:
        # Frozen cycles are never finalised at exit otherwise: native resamplers and sessions built
        # before the freeze would be reported as leaked and their destructors skipped.
        atexit.register(gc.unfreeze)
        _released_at_exit = True
