"""The microphone's receive buffer hands each packet on at once, in order, across the sequence wrap."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from talker.realtime.micbuffer import MicrophoneBuffer


def _packet(sequence: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=sequence, timestamp=960 * sequence)
    packet._data = bytes([sequence % 256])  # type: ignore[attr-defined]  # what the receiver depayloaded
    return packet


def test_each_packet_is_a_frame_at_once() -> None:
    buffer = MicrophoneBuffer()
    for sequence in (10, 11, 13):  # 12 was lost: skipped, not waited for
        pli, frame = buffer.add(_packet(sequence))
        assert not pli
        assert frame is not None and frame.data == bytes([sequence]) and frame.timestamp == 960 * sequence


def test_late_and_repeated_packets_are_dropped() -> None:
    buffer = MicrophoneBuffer()
    buffer.add(_packet(20))
    buffer.add(_packet(22))
    assert buffer.add(_packet(21)) == (False, None)  # older than one handed on already
    assert buffer.add(_packet(22)) == (False, None)
    assert buffer.dropped == 2
    assert buffer.add(_packet(23))[1] is not None


def test_the_sequence_number_wraps() -> None:
    buffer = MicrophoneBuffer()
    buffer.add(_packet(65534))
    assert buffer.add(_packet(65535))[1] is not None
    assert buffer.add(_packet(0))[1] is not None
    assert buffer.add(_packet(1))[1] is not None
    assert buffer.add(_packet(65535))[1] is None
