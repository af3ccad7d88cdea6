"""The models' objects leave the garbage collector's walk once loaded."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from pathlib import Path

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


def test_what_was_frozen_is_still_finalised_when_the_process_exits(tmp_path: Path) -> None:
    script = tmp_path / "frozen_cycle.py"
    script.write_text(
        "from talker.heap import settle\n"
        "class Node:\n"
        "    def __del__(self):\n"
        "        print('finalised', flush=True)\n"
        "node = Node()\n"
        "node.me = node\n"
        "settle()\n"
        "del node\n"
    )
    finished = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.strip() == "finalised"
