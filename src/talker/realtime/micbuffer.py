"""The microphone's receive buffer: each audio packet goes to the decoder the moment it arrives.

aiortc's audio jitter buffer hands a packet on only once the next one has come (it cannot tell a frame is
complete before), and by default holds four more back for reordering: 20 ms, or 100 ms, before the recogniser
hears anything. A microphone feeding a recogniser needs no smoothing (nothing plays it), and an Opus packet is
a whole frame, so this buffer releases each packet at once. A packet that arrives after a newer one was handed
on is dropped (20 ms of audio lost, which the recogniser survives); a gap is simply skipped.
"""

from __future__ import annotations

from typing import Any

_NEWER = 0x8000  # sequence numbers wrap at 2**16: a step forward is less than half the circle


class MicrophoneBuffer:
    """Drop-in for aiortc's `JitterBuffer` on an audio receiver: `add(packet)` → (send a PLI?, frame or None)."""

    capacity = 16

    def __init__(self) -> None:
        self._last: int | None = None  # sequence number of the packet handed on last
        self.dropped = 0  # packets that came too late or twice

    def add(self, packet: Any) -> tuple[bool, Any]:
        from aiortc.jitterbuffer import JitterFrame

        sequence = int(packet.sequence_number)
        if self._last is not None and not 0 < (sequence - self._last) % 0x10000 < _NEWER:
            self.dropped += 1
            return False, None
        self._last = sequence
        return False, JitterFrame(data=packet._data, timestamp=packet.timestamp)
