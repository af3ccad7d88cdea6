"""The models' Python objects kept out of the garbage collector's way.

Loading the models leaves ~400 000 long-lived Python objects behind (dictionaries of the phonemizers and
segmenters, tokenizers, settings). Every full collection walked all of them: 30-60 ms with the interpreter
lock held, measured under four live sessions, so every audio and video tick of every session waited.
Frozen objects are never examined again; what is allocated later is collected as usual.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what is garbage now, then freeze what is left (call after loading models, not per request).

    Only the first call walks the big heap; later ones see just what was allocated since.
    """
    gc.collect()
    gc.freeze()
