"""The timings file written beside speech: sentences, words and phonemes on the audio's timeline."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from talker.errors import InputError
from talker.frames import PhonemeTiming, SpeechAudio, WordTiming
from talker.media.files import atomic_output

FORMAT_VERSION = 1


class TimingsStream:
    """Writes one JSON document incrementally: a sentence entry per chunk, the totals at the end."""

    def __init__(self, out: IO[str], sample_rate: int, voice: str) -> None:
        self._out = out
        self._count = 0
        self._end = 0.0
        header = {"format": "talker.timings", "version": FORMAT_VERSION, "sample_rate": sample_rate, "voice": voice}
        # The document is written as it grows: the header's closing brace gives way to the sentence list.
        self._out.write(json.dumps(header, ensure_ascii=False)[:-1] + ', "sentences": [')

    def add(self, chunk: SpeechAudio) -> None:
        offset = chunk.pts
        entry = {
            "index": chunk.index,
            "text": chunk.text,
            "start": round(offset, 4),
            "end": round(offset + chunk.duration, 4),
            "words": [_span("text", w.text, w.start + offset, w.end + offset) for w in chunk.words],
            "phonemes": [_span("phoneme", p.phoneme, p.start + offset, p.end + offset) for p in chunk.phonemes],
        }
        self._out.write(("," if self._count else "") + "\n  " + json.dumps(entry, ensure_ascii=False))
        self._count += 1
        self._end = max(self._end, offset + chunk.duration)

    def finish(self) -> None:
        self._out.write(f'\n], "duration": {json.dumps(round(self._end, 4))}}}\n')


def _span(key: str, value: str, start: float, end: float) -> dict[str, Any]:
    return {key: value, "start": round(start, 4), "end": round(end, 4)}


@contextlib.contextmanager
def timings_writer(path: Path, sample_rate: int, voice: str) -> Iterator[TimingsStream]:
    """A timings file that appears at `path` only when complete."""
    with atomic_output(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8")
        try:
            stream = TimingsStream(text, sample_rate, voice)
            yield stream
            stream.finish()
            text.flush()
        finally:
            text.detach()


def read_timings(path: Path) -> tuple[list[PhonemeTiming], list[WordTiming], float]:
    """Phonemes, words and duration (seconds, on the audio's timeline) from a timings file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        phonemes = [PhonemeTiming(p["phoneme"], float(p["start"]), float(p["end"]))
                    for s in document["sentences"] for p in s["phonemes"]]
        words = [WordTiming(w["text"], float(w["start"]), float(w["end"]))
                 for s in document["sentences"] for w in s["words"]]
        return phonemes, words, float(document["duration"])
    except FileNotFoundError:
        raise InputError(f"timings file {path} does not exist") from None
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path} is not a talker timings file ({error})") from error
