"""The outgoing audio timeline of a real-time session: turn ids, 20 ms frames, instant interruption.

Audio is the master clock. Speech chunks of the current turn are cut into fixed frames and handed out
one per tick by the transport; between turns the ticks carry silence (the line never stalls). A chunk
stamped with an older turn id is dropped on arrival. Interrupting bumps the turn id and empties the
queue at once, and remembers how far the cut turn had played, so the dialogue keeps only what was heard.
Holding pauses the turn where it is (silence goes out, nothing is dropped) until it is released or cut:
the avatar falls silent the moment the user may be taking the turn, before that is certain.

The animator reads the video side from here too: `position()` is the turn and the time on that turn's speech
timeline of the frame most recently handed out, `phonemes(turn)` and `words(turn)` the timings queued so far on
the same timeline, and `elapsed` the session's output clock. A few turns are remembered after they end, so a
frame already handed out can still be drawn after an interruption.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from talker.frames import PhonemeTiming, WordTiming


@dataclass(frozen=True)
class AudioFrame:
    """One tick of output. `turn` is 0 for silence between turns; `pts` is on the session's output timeline."""

    turn: int
    pts: float
    samples: np.ndarray
    speech: bool


@dataclass
class _Spoken:
    """A queued chunk's text and word timings, placed on its turn's speech timeline (seconds)."""

    text: str
    first_char: int
    start: float
    duration: float
    words: tuple[WordTiming, ...]


@dataclass
class _Turn:
    id: int
    text: str = ""
    speech_seconds: float = 0.0  # how much audio this turn has queued so far
    played_seconds: float = 0.0
    spoken: list[_Spoken] = field(default_factory=list)
    # Timings on the turn's speech timeline; tuples replaced (never mutated) so readers can keep them.
    phonemes: tuple[PhonemeTiming, ...] = ()
    words: tuple[WordTiming, ...] = ()


_REMEMBERED_TURNS = 4  # turns whose timings stay readable after they end


class Playout:
    """Thread-safe: producers enqueue from worker threads, the transport pulls frames from its own."""

    def __init__(self, sample_rate: int = 48000, frame_ms: int = 20) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = sample_rate * frame_ms // 1000
        self._frames: deque[np.ndarray] = deque()
        self._pending = np.zeros(0, dtype=np.float32)
        self._turn = _Turn(0)
        self._next_id = 1
        self._ticks = 0
        self._position: tuple[int, float] | None = None
        self._recent: dict[int, _Turn] = {}
        self._held = False
        self._lock = threading.Lock()

    @property
    def turn(self) -> int:
        return self._turn.id

    @property
    def speaking(self) -> bool:
        with self._lock:
            return bool(self._frames) or self._pending.size > 0

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> bool:
        """Pause the current turn at the next frame (True if it was playing and is now held)."""
        with self._lock:
            if self._held or self._turn.id == 0 or not (self._frames or self._pending.size):
                return False
            self._held = True
            return True

    def release(self) -> bool:
        """Go on from where the hold paused the turn (True if it was held)."""
        with self._lock:
            was, self._held = self._held, False
            return was

    @property
    def queued(self) -> float:
        """Seconds of speech queued and not yet handed out."""
        with self._lock:
            return (len(self._frames) * self.frame_samples + self._pending.size) / self.sample_rate

    @property
    def elapsed(self) -> float:
        """Seconds of output (speech or silence) handed out so far: the session's clock."""
        with self._lock:
            return self._ticks * self.frame_samples / self.sample_rate

    def start_turn(self) -> int:
        """A new answer begins: anything still queued from the previous one is dropped."""
        with self._lock:
            self._new_turn()
            self._frames.clear()
            self._pending = np.zeros(0, dtype=np.float32)
            return self._turn.id

    def _new_turn(self) -> None:
        self._held = False
        self._turn = _Turn(self._next_id)
        self._next_id += 1
        self._recent[self._turn.id] = self._turn
        while len(self._recent) > _REMEMBERED_TURNS:
            del self._recent[min(self._recent)]

    def enqueue(self, turn: int, samples: np.ndarray, sample_rate: int, text: str = "",
                words: tuple[WordTiming, ...] = (), pause_after: float = 0.0,
                phonemes: tuple[PhonemeTiming, ...] = ()) -> bool:
        """Queue a speech chunk of `turn`; False (and nothing queued) if that turn is no longer current.

        `words` and `phonemes` are timed from the chunk's start; they are placed on the turn's timeline."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate and audio.size:
            import soxr

            audio = np.asarray(soxr.resample(audio, sample_rate, self.sample_rate), dtype=np.float32)
        if pause_after > 0:
            audio = np.concatenate([audio, np.zeros(round(pause_after * self.sample_rate), dtype=np.float32)])
        with self._lock:
            if turn != self._turn.id or turn == 0:
                return False
            current = self._turn
            offset = current.speech_seconds
            current.spoken.append(_Spoken(text, len(current.text), offset, audio.size / self.sample_rate, words))
            current.words += tuple(WordTiming(w.text, w.start + offset, w.end + offset) for w in words)
            current.phonemes += tuple(PhonemeTiming(p.phoneme, p.start + offset, p.end + offset) for p in phonemes)
            current.text += text
            current.speech_seconds += audio.size / self.sample_rate
            joined = np.concatenate([self._pending, audio])
            whole = joined.size // self.frame_samples * self.frame_samples
            for start in range(0, whole, self.frame_samples):
                self._frames.append(joined[start:start + self.frame_samples])
            self._pending = joined[whole:]
            return True

    def finish_turn(self, turn: int) -> None:
        """The turn has no more audio: its last partial frame is padded out and queued."""
        with self._lock:
            if turn == self._turn.id and self._pending.size:
                padded = np.zeros(self.frame_samples, dtype=np.float32)
                padded[:self._pending.size] = self._pending
                self._frames.append(padded)
                self._pending = np.zeros(0, dtype=np.float32)

    def next_frame(self) -> AudioFrame:
        """The next 20 ms to send: the current turn's speech, or silence (between turns, or while held)."""
        with self._lock:
            pts = self._ticks * self.frame_samples / self.sample_rate
            self._ticks += 1
            if self._frames and not self._held:
                frame = self._frames.popleft()
                self._turn.played_seconds += self.frame_samples / self.sample_rate
                self._position = (self._turn.id, self._turn.played_seconds)
                return AudioFrame(self._turn.id, pts, frame, True)
            self._position = None
            return AudioFrame(0, pts, np.zeros(self.frame_samples, dtype=np.float32), False)

    def position(self) -> tuple[int, float] | None:
        """What the frame most recently handed out carries: (turn id, seconds of that turn's speech handed out up
        to the frame's end), or None if it was silence. The frame itself spans the last 20 ms before that time."""
        with self._lock:
            return self._position

    def phonemes(self, turn: int) -> tuple[PhonemeTiming, ...]:
        """The phoneme timings queued so far for `turn`, on its speech timeline (empty for a turn long gone).
        The same tuple is returned until the turn's next chunk arrives."""
        with self._lock:
            found = self._recent.get(turn)
            return found.phonemes if found else ()

    def words(self, turn: int) -> tuple[WordTiming, ...]:
        """The word timings queued so far for `turn`, on its speech timeline."""
        with self._lock:
            found = self._recent.get(turn)
            return found.words if found else ()

    def interrupt(self) -> tuple[int, int]:
        """Stop at once: drop every queued frame and bump the turn. Returns (cut turn id, characters heard)."""
        with self._lock:
            cut = self._turn
            heard = heard_chars(cut)
            self._frames.clear()
            self._pending = np.zeros(0, dtype=np.float32)
            self._new_turn()
            return cut.id, heard

    def heard(self) -> int:
        """Characters of the current turn's text the listener has heard so far."""
        with self._lock:
            return heard_chars(self._turn)


def heard_chars(turn: _Turn) -> int:
    """How much of a turn's text was heard: whole chunks before the play position, and within the chunk being
    played, the words that ended before it (a word cut in the middle counts as not heard)."""
    played = turn.played_seconds
    starts = [s.start for s in turn.spoken]
    index = bisect.bisect_right(starts, played) - 1
    if index < 0:
        return 0
    chunk = turn.spoken[index]
    into = played - chunk.start
    if into >= chunk.duration - 1e-6:
        return chunk.first_char + len(chunk.text)
    heard_until = 0
    cursor = 0
    for word in chunk.words:
        found = chunk.text.find(word.text, cursor)
        if found < 0:
            continue
        cursor = found + len(word.text)
        if word.end <= into + 1e-6:  # played time adds up 20 ms at a time: allow for rounding
            heard_until = cursor
    return chunk.first_char + heard_until
