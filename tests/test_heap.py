"""The models' objects leave the garbage collector's walk once loaded."""

from __future__ import annotations

import gc
import weakref

from talker.heap import settle


class _Node:
    """Something that can sit in a reference cycle and be watched."""

    me: _Node | None = None


def test_settled_objects_are_no_longer_walked_by_collections_and_garbage_is_collected_first() -> None:
    loaded = [{"entry": index} for index in range(20_000)]  # like a phonemizer's dictionary
    garbage = _Node()
    garbage.me = garbage  # a cycle nothing refers to: only a collection frees it
    watched = weakref.ref(garbage)
    del garbage
    try:
        settle()
        assert watched() is None  # collected, not frozen for good
        assert gc.get_freeze_count() >= len(loaded)
        walked = {id(o) for o in gc.get_objects()}
        assert id(loaded) not in walked and id(loaded[0]) not in walked
    finally:
        gc.unfreeze()
