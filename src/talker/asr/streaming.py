"""Streaming recognition: Whisper made incremental by the VAD.

Audio flows in as pieces of any size. While the user speaks, the growing segment is re-decoded at a
bounded rate (partials). When the VAD first hears silence, the segment up to that point (and one VAD window
of the pause, `speculative_pad`) is decoded at once, speculatively: if the silence lasts into a speech end
and stays quiet (no word tail the VAD missed), that decode already is the final (unless its words end
with no mark at all: the whole pause is then decoded again, as Whisper cut short often drops a "?"), so
the words are known about 0.2 s sooner than by a decode after the end. If speech resumes, the result is
shown as a partial; if the silence is still on when it arrives, it also comes as `likely_end`: the turn's
text as it stands if the user stops here, so an answer can be prepared while the endpointer waits (the
final text comes as `likely_end` too when the endpointer still waits for more silence after it). After
the end, the endpointer decides from the words when the turn is over.

Decoding runs on a `Decoder`: `InlineDecoder` decodes on the caller's thread (files, and tests that run
on stream time), `ThreadDecoder` on one worker thread so audio keeps flowing in real time.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from talker.asr.endpoint import Endpointer, classify
from talker.asr.vad import SAMPLE_RATE, SpeechDetector, VadEvent
from talker.asr.whisper import Transcript
from talker.config import ASRSettings
from talker.frames import WordTiming

if TYPE_CHECKING:
    from talker.config import Settings

EventKind = Literal["speech_start", "partial", "likely_end", "speech_end", "final", "end_of_turn"]
JobKind = Literal["partial", "speculative", "final"]
MAX_SEGMENT = 25.0  # seconds; Whisper sees 30 s at a time, and re-decoding a longer segment costs too much
_MIN_PARTIAL_AUDIO = 0.5  # seconds of speech before a first partial is worth a decode
_NO_AUDIO = np.zeros(0, dtype=np.float32)
_QUIET_WINDOW = 256  # samples (16 ms) over which the rest of a pause is checked for a missed word tail
# That rest is quiet when no window of it is within 12 dB of the speech (the VAD's own test of a restart): a
# fading syllable stays under that, a word the VAD missed does not.
_QUIET_BELOW_SPEECH = 0.25


@dataclass(frozen=True)
class ListenEvent:
    """Something heard. `time` is the stream position (seconds of audio fed) when it became known.

    For transcripts, `start`/`end` is the stretch of audio that was decoded (speech plus padding) and
    word timings are on the stream's timeline; for speech_start/speech_end they are the VAD's times.
    """

    kind: EventKind
    time: float
    start: float = 0.0
    end: float = 0.0
    text: str = ""
    language: str = ""
    words: tuple[WordTiming, ...] = ()
    reason: str = ""
    segment: int = 0


class Recognizer(Protocol):
    """A batch recogniser, such as `WhisperASR`."""

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript: ...


@dataclass(eq=False)
class DecodeJob:
    """One stretch of audio to decode, and (once done) what it said."""

    kind: JobKind
    segment: int
    start: int  # sample index on the stream
    end: int
    audio: np.ndarray
    words: bool
    result: Transcript | None = field(default=None, repr=False)
    collected: bool = False  # its result has been turned into an event
    error: Exception | None = None
    full_end: int | None = None  # a short speculative decode kept as the final: where the final would have ended


class Decoder(Protocol):
    """Runs decode jobs; `busy` means a new partial would only queue up behind others."""

    @property
    def busy(self) -> bool: ...

    def submit(self, job: DecodeJob) -> None: ...

    def poll(self) -> list[DecodeJob]: ...

    def drain(self) -> list[DecodeJob]: ...

    def close(self) -> None: ...


class InlineDecoder:
    """Decodes each job as it is submitted, on the caller's thread."""

    def __init__(self, recognizer: Recognizer, language: str | None = None) -> None:
        self._recognizer = recognizer
        self._language = language
        self._done: list[DecodeJob] = []

    @property
    def busy(self) -> bool:
        return False

    def submit(self, job: DecodeJob) -> None:
        job.result = self._recognizer.transcribe(job.audio, self._language, word_timestamps=job.words)
        self._done.append(job)

    def poll(self) -> list[DecodeJob]:
        done, self._done = self._done, []
        return done

    def drain(self) -> list[DecodeJob]:
        return self.poll()

    def close(self) -> None:
        self._done = []


class ThreadDecoder:
    """Decodes jobs in order on one worker thread, so feeding audio never waits for Whisper.

    `on_done`, if set, is called on that thread after each decode: a live caller can then `collect` the result
    at once rather than with the next piece of audio (up to 20 ms later).
    """

    def __init__(self, recognizer: Recognizer, language: str | None = None) -> None:
        self._recognizer = recognizer
        self._language = language
        self.on_done: Callable[[], None] | None = None
        self._jobs: queue.Queue[DecodeJob | None] = queue.Queue()
        self._done: list[DecodeJob] = []
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        with self._idle:
            return self._pending > 0

    def submit(self, job: DecodeJob) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="talker-asr-decoder", daemon=True)
            self._thread.start()
        with self._idle:
            self._pending += 1
        self._jobs.put(job)

    def poll(self) -> list[DecodeJob]:
        with self._idle:
            done, self._done = self._done, []
        return done

    def drain(self) -> list[DecodeJob]:
        """Wait for every submitted job, then return the finished ones."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)
        return self.poll()

    def close(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        from talker.threads import RECOGNITION_NICE, lower_priority

        lower_priority(RECOGNITION_NICE)  # live audio and video come first, answers after (talker.threads)
        while (job := self._jobs.get()) is not None:
            try:
                job.result = self._recognizer.transcribe(job.audio, self._language, word_timestamps=job.words)
            except Exception as error:  # a failed decode must not kill the stream: it becomes an empty result
                job.result = Transcript("", self._language or "", 0.0)
                job.error = error
            with self._idle:
                self._done.append(job)
                self._pending -= 1
                self._idle.notify_all()
            if self.on_done is not None:
                self.on_done()


class StreamingTranscriber:
    """Audio in, `ListenEvent`s out: speech start/end, partials, finals and the end of each turn."""

    def __init__(
        self,
        detector: SpeechDetector,
        decoder: Decoder,
        settings: ASRSettings | None = None,
        *,
        partials: bool = True,
        endpointing: bool = True,
    ) -> None:
        self.settings = settings or ASRSettings()
        self._detector = detector
        self._decoder = decoder
        self._partials = partials
        self._endpointing = endpointing
        self._endpointer = Endpointer(self.settings.endpoint)
        vad = self.settings.vad
        self._pad = _samples(min(vad.pad, vad.hangover))
        self._speculative_pad = min(_samples(self.settings.speculative_pad), self._pad)
        self._keep_idle = _samples(vad.pad + vad.min_speech + 0.5)
        self._interval = _samples(self.settings.partial_interval)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._base = 0  # stream index of _buffer[0]
        self._fed = 0  # samples fed so far
        self._segment = 0
        self._speech_start: int | None = None  # while speaking: where the speech began
        self._audio_start = 0  # while speaking: where the segment's audio (with padding) begins
        self._last_partial = 0
        self._speculative: DecodeJob | None = None
        self._short_final: DecodeJob | None = None  # a short speculative decode still decoding as the final
        self._finals_due = 0
        self._turn: list[Transcript] = []
        self._turn_end: float | None = None
        self._offered: str | None = None  # the turn's text last offered as a likely end

    @property
    def position(self) -> float:
        """Seconds of audio fed so far."""
        return self._fed / SAMPLE_RATE

    def feed(self, samples: np.ndarray) -> list[ListenEvent]:
        """Consume 16 kHz mono float32 audio; return what it completed."""
        audio = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, audio]) if self._buffer.size else audio.copy()
        self._fed += audio.size
        events: list[ListenEvent] = []
        for vad_event in self._detector.feed(audio):
            events += self._on_vad(vad_event)
        events += self._schedule()
        events += self._collect(self._decoder.poll())
        events += self._check_turn(stream_ended=False)
        self._trim()
        return events

    def collect(self) -> list[ListenEvent]:
        """What decodes finished since the last call complete, with no new audio."""
        return self.feed(_NO_AUDIO)

    def finish(self) -> list[ListenEvent]:
        """The stream has ended: close open speech, wait for every decode, end the turn."""
        events: list[ListenEvent] = []
        for vad_event in self._detector.flush():
            events += self._on_vad(vad_event)
        while done := self._decoder.drain():  # a collected final may ask for one more decode
            events += self._collect(done)
        events += self._check_turn(stream_ended=True)
        return events

    def close(self) -> None:
        self._decoder.close()

    def _on_vad(self, event: VadEvent) -> list[ListenEvent]:
        at = _samples(event.time)
        if event.kind == "start":
            self._segment += 1
            self._speech_start = at
            self._audio_start = max(at - self._pad, self._base)
            self._last_partial = at
            self._turn_end = None  # the user goes on: the turn is not over
            return [ListenEvent("speech_start", self.position, event.time, event.time, segment=self._segment)]
        if self._speech_start is None:
            return []
        events = [ListenEvent("speech_end", self.position, _seconds(self._speech_start), event.time,
                              segment=self._segment)]
        events += self._close_segment(min(at + self._pad, self._fed), pause=at)
        self._turn_end = event.time
        return events

    def _close_segment(self, end: int, pause: int | None = None) -> list[ListenEvent]:
        """Decode the finished segment, reusing the speculative decode when it covered the same speech: it ended
        a little way into the pause that ended the speech, and the rest of that pause was quiet."""
        job = self._speculative
        speech_start = self._speech_start
        self._speculative = None
        self._speech_start = None
        self._finals_due += 1
        if job is not None and job.segment == self._segment and job.start == self._audio_start and (
                job.end == end or (pause is not None and speech_start is not None
                                   and job.end == pause + self._speculative_pad
                                   and self._quiet(job.end, end, speech_start, pause))):
            job.kind = "final"  # still decoding: it will be collected as the final
            job.full_end = end if job.end != end else None
            if job.collected:  # already shown as a partial: the same text is the final
                job.collected = False
                return self._collect([job])
            self._short_final = job if job.full_end is not None else None
            return []
        self._submit("final", self._audio_start, end, words=self.settings.word_timestamps)
        return []

    def _quiet(self, start: int, end: int, speech_start: int, speech_end: int) -> bool:
        """Whether the audio in [start, end) is well below the speech before it (no word tail the VAD missed)."""
        tail = self._buffer[max(start - self._base, 0):max(end - self._base, 0)]
        speech = self._buffer[max(speech_start - self._base, 0):max(speech_end - self._base, 0)]
        if not tail.size or not speech.size:
            return True
        windows = tail[:tail.size // _QUIET_WINDOW * _QUIET_WINDOW].reshape(-1, _QUIET_WINDOW)
        loudest = float(np.sqrt(np.max(np.mean(np.square(windows), axis=1)))) if windows.size else 0.0
        return loudest <= _QUIET_BELOW_SPEECH * float(np.sqrt(np.mean(np.square(speech))))

    def _schedule(self) -> list[ListenEvent]:
        if self._speech_start is None:
            return []
        if self._fed - self._audio_start >= _samples(MAX_SEGMENT):
            return self._split()
        if not self._partials:
            return []
        pause = self._detector.pause_started
        if pause is not None:
            end = _samples(pause) + self._speculative_pad
            fresh = self._speculative is None or self._speculative.end != end
            if self._fed >= end and fresh and not self._decoder.busy:
                self._speculative = self._submit("speculative", self._audio_start, end,
                                                 words=self.settings.word_timestamps)
        elif (not self._decoder.busy and not self._detector.fading and self._fed - self._last_partial >= self._interval
              and self._fed - self._speech_start >= _samples(_MIN_PARTIAL_AUDIO)):
            # Not while the voice trails off: a pause may be beginning, and its speculative decode (what the
            # answer waits for) would have to wait for this one.
            self._last_partial = self._fed
            self._submit("partial", self._audio_start, self._fed, words=False)
        return []

    def _split(self) -> list[ListenEvent]:
        """Speech longer than Whisper's window: finalise what there is and go on in a new segment."""
        end = self._fed
        events = self._close_segment(end)
        self._segment += 1
        self._speech_start = end
        self._audio_start = end
        self._last_partial = end
        return events

    def _submit(self, kind: JobKind, start: int, end: int, words: bool) -> DecodeJob:
        audio = self._buffer[start - self._base:end - self._base].copy()
        job = DecodeJob(kind, self._segment, start, end, audio, words)
        self._decoder.submit(job)
        return job

    def _collect(self, jobs: Iterable[DecodeJob]) -> list[ListenEvent]:
        events: list[ListenEvent] = []
        for job in jobs:
            result = job.result
            if result is None or job.collected:
                continue
            job.collected = True
            if job is self._short_final:
                self._short_final = None
            if job.kind == "final" and job.full_end is not None and _unfinished(result.text):
                # Cut one window into the pause, Whisper often leaves the closing mark off ("… open" for "… open?"),
                # and the endpointer would then wait the longest. Decoding the whole pad costs less than that wait.
                again = DecodeJob("final", job.segment, job.start, job.full_end,
                                  self._buffer[job.start - self._base:job.full_end - self._base].copy(), job.words)
                self._decoder.submit(again)
                continue
            if job.kind == "final":
                self._finals_due -= 1
                if result.text:
                    self._turn.append(result)
                    events.append(self._event("final", job, result))
            else:
                # Partials are spaced from when the last one finished, not started: the decoder then has idle
                # time, so a speculative decode at the next pause rarely waits behind a partial.
                self._last_partial = max(self._last_partial, self._fed)
                if job.segment == self._segment and self._speech_start is not None and result.text:
                    events.append(self._event("partial", job, result))
                    if job.kind == "speculative" and self._still_paused(job):
                        events.append(self._likely_end(job, result))
        return events

    def _event(self, kind: EventKind, job: DecodeJob, result: Transcript) -> ListenEvent:
        offset = job.start / SAMPLE_RATE
        words = tuple(WordTiming(w.text, round(w.start + offset, 3), round(w.end + offset, 3))
                      for w in result.words)
        return ListenEvent(kind, self.position, offset, job.end / SAMPLE_RATE, result.text, result.language,
                           words, segment=job.segment)

    def _still_paused(self, job: DecodeJob) -> bool:
        pause = self._detector.pause_started
        return pause is not None and job.end == _samples(pause) + self._speculative_pad

    def _likely_end(self, job: DecodeJob, result: Transcript) -> ListenEvent:
        """The turn's text if the pause the speculative decode ended at turns out to end it."""
        text = join_texts([*self._turn, result])
        reason = self._endpointer.decide(text).reason
        self._offered = text
        return ListenEvent("likely_end", self.position, job.start / SAMPLE_RATE, job.end / SAMPLE_RATE, text,
                           result.language, reason=reason, segment=job.segment)

    def _check_turn(self, stream_ended: bool) -> list[ListenEvent]:
        if self._turn_end is None or self._finals_due > 0 or self._speech_start is not None:
            return []
        if not self._turn:
            self._turn_end = None if stream_ended else self._turn_end
            return []
        text = join_texts(self._turn)
        decision = self._endpointer.decide(text)
        language = self._turn[-1].language
        if not stream_ended and self.position - self._turn_end < decision.wait:
            if not self._endpointing or text == self._offered:
                return []
            self._offered = text  # the words are final; only the silence is still being waited for
            return [ListenEvent("likely_end", self.position, self._turn_end, self._turn_end, text, language,
                                reason=decision.reason, segment=self._segment)]
        if not self._endpointing and not stream_ended:
            return []
        event = ListenEvent("end_of_turn", self.position, self._turn_end, self._turn_end, text, language,
                            reason=decision.reason, segment=self._segment)
        self._turn, self._turn_end, self._offered = [], None, None
        return [event]

    def _trim(self) -> None:
        keep_from = self._audio_start if self._speech_start is not None else self._fed - self._keep_idle
        for job in (self._speculative, self._short_final):
            if job is not None:
                keep_from = min(keep_from, job.start)
        drop = keep_from - self._base
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._base += drop


def open_transcriber(settings: Settings, *, live: bool) -> StreamingTranscriber:
    """The configured VAD and recogniser from the kit, as a transcriber for one audio stream.

    `live`: a microphone or a call — partials, end-of-turn events, decoding on a worker thread.
    Otherwise a file: finals only, decoded inline (as fast as the machine allows).
    """
    from talker.asr import vad, whisper

    recognizer = whisper.create(settings)
    detector = vad.create(settings).detector(settings.asr.vad)
    if live:
        recognizer.load()
        return StreamingTranscriber(detector, ThreadDecoder(recognizer, settings.asr.language), settings.asr)
    return StreamingTranscriber(detector, InlineDecoder(recognizer, settings.asr.language), settings.asr,
                                partials=False, endpointing=False)


def join_texts(transcripts: Iterable[Transcript]) -> str:
    """One text from consecutive transcripts: Chinese runs on, English gets spaces."""
    out = ""
    for transcript in transcripts:
        text = transcript.text.strip()
        if out and text and not (transcript.language == "zh" and not out[-1].isascii()):
            out += " "
        out += text
    return out


def finals(transcriber: StreamingTranscriber, blocks: Iterable[np.ndarray]) -> Iterator[ListenEvent]:
    """Every final transcript of a stream of audio blocks, in order, as soon as each is known."""
    for block in blocks:
        yield from (event for event in transcriber.feed(block) if event.kind == "final")
    yield from (event for event in transcriber.finish() if event.kind == "final")


def _unfinished(text: str) -> bool:
    """No closing mark and no word that says how the turn goes on: the endpointer could only wait the longest."""
    return classify(text) == "unknown"


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _seconds(samples: int) -> float:
    return samples / SAMPLE_RATE
