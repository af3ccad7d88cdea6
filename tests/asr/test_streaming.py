"""Streaming recognition: partials while speaking, a final that equals batch, long input in flat memory."""

from __future__ import annotations

import itertools
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from talker.asr.streaming import (
    MAX_SEGMENT,
    DecodeJob,
    InlineDecoder,
    ListenEvent,
    Recognizer,
    StreamingTranscriber,
    ThreadDecoder,
)
from talker.asr.vad import SileroModel
from talker.asr.whisper import Transcript, WhisperASR
from talker.config import Settings
from tests.asr.conftest import RATE, Utterance


class CountingRecognizer:
    """The real recogniser, remembering which stretches of audio it was asked to decode."""

    def __init__(self, whisper: WhisperASR) -> None:
        self.whisper = whisper
        self.calls: list[int] = []

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
        self.calls.append(samples.size)
        return self.whisper.transcribe(samples, language, word_timestamps)


class RecordingDecoder(InlineDecoder):
    """The inline decoder, remembering the kind of each job and where on the stream it was asked for."""

    def __init__(self, recognizer: Recognizer) -> None:
        super().__init__(recognizer)
        self.jobs: list[tuple[str, float]] = []

    def submit(self, job: DecodeJob) -> None:
        self.jobs.append((job.kind, job.end / RATE))
        super().submit(job)


def _feed(transcriber: StreamingTranscriber, audio: np.ndarray, piece: int = 320) -> list[ListenEvent]:
    """Audio in pieces as a live stream brings it; the events handed out on the way."""
    events: list[ListenEvent] = []
    for offset in range(0, audio.size, piece):
        events += transcriber.feed(audio[offset:offset + piece])
    return events


def _run(transcriber: StreamingTranscriber, audio: np.ndarray, piece: int = 320) -> list[ListenEvent]:
    return _feed(transcriber, audio, piece) + transcriber.finish()


def _speech(utterances: list[Utterance]) -> np.ndarray:
    silence = np.zeros(RATE // 2, dtype=np.float32)
    return np.concatenate([silence, utterances[0].audio, silence, silence, utterances[3].audio, silence, silence])


@pytest.mark.models
def test_partials_come_before_the_end_and_the_final_equals_batch(
    settings: Settings, vad_model: SileroModel, whisper: WhisperASR, utterances: list[Utterance]
) -> None:
    audio = _speech(utterances)
    recognizer = CountingRecognizer(whisper)
    decoder = RecordingDecoder(recognizer)
    transcriber = StreamingTranscriber(vad_model.detector(settings.asr.vad), decoder, settings.asr)
    events = _run(transcriber, audio)
    # Partial re-decodes come at most once per interval of new speech after the previous decode of any kind.
    for (_, before), (kind, at) in itertools.pairwise(decoder.jobs):
        assert kind != "partial" or at - before >= settings.asr.partial_interval - 0.05, decoder.jobs
    ends = [e for e in events if e.kind == "speech_end"]
    finals = [e for e in events if e.kind == "final"]
    assert len(ends) == len(finals) == 2, [(e.kind, e.text) for e in events]
    for end, final in zip(ends, finals, strict=True):
        partials = [e for e in events if e.kind == "partial" and e.segment == end.segment]
        assert len([p for p in partials if p.time < end.end]) >= 2, "no partials while the user was speaking"
        batch = whisper.transcribe(audio[round(final.start * RATE):round(final.end * RATE)])
        assert final.text == batch.text and final.language == batch.language
        assert final.time == pytest.approx(end.time)  # known the moment the VAD ended the speech
        assert final.words and all(final.start <= w.start <= w.end <= final.end + 0.05 for w in final.words)
    assert finals[0].language == "zh" and "机场" in finals[0].text
    assert finals[1].language == "en" and "account" in finals[1].text
    # The speculative decode at the start of the silence became the final: that audio was decoded once.
    final_sizes = [round((f.end - f.start) * RATE) for f in finals]
    assert all(recognizer.calls.count(size) == 1 for size in final_sizes), recognizer.calls
    turns = [e for e in events if e.kind == "end_of_turn"]
    assert [t.text for t in turns] == [f.text for f in finals]
    # Each turn's words were offered as its likely end during the silence, before the VAD ended the speech.
    for end, turn in zip(ends, turns, strict=True):
        likely = [e for e in events if e.kind == "likely_end" and e.segment == end.segment]
        assert likely and likely[-1].text == turn.text and likely[-1].time < end.time
        assert likely[-1].reason == turn.reason


@pytest.mark.models
def test_a_worker_thread_gives_the_same_finals(
    settings: Settings, vad_model: SileroModel, whisper: WhisperASR, utterances: list[Utterance]
) -> None:
    audio = _speech(utterances)
    inline = StreamingTranscriber(vad_model.detector(settings.asr.vad), InlineDecoder(whisper), settings.asr,
                                  partials=False)
    threaded = StreamingTranscriber(vad_model.detector(settings.asr.vad), ThreadDecoder(whisper), settings.asr)
    try:
        expected = [(e.start, e.end, e.text) for e in _run(inline, audio) if e.kind == "final"]
        got = [(e.start, e.end, e.text) for e in _run(threaded, audio, piece=1600) if e.kind == "final"]
    finally:
        threaded.close()
    assert got == expected and len(got) == 2


class GatedRecognizer:
    """Whisper behind a gate: no decode finishes before the test opens it."""

    def __init__(self, whisper: WhisperASR) -> None:
        self.whisper = whisper
        self.gate = threading.Event()

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
        self.gate.wait(60)
        return self.whisper.transcribe(samples, language, word_timestamps)


@pytest.mark.models
def test_a_finished_decode_is_collected_at_once_without_more_audio(
    settings: Settings, vad_model: SileroModel, whisper: WhisperASR, utterances: list[Utterance]
) -> None:
    recognizer = GatedRecognizer(whisper)
    decoder = ThreadDecoder(recognizer)
    decoded = threading.Event()
    decoder.on_done = decoded.set
    transcriber = StreamingTranscriber(vad_model.detector(settings.asr.vad), decoder, settings.asr, partials=False)
    silence = np.zeros(RATE // 2, dtype=np.float32)
    try:
        audio = np.concatenate([silence, utterances[3].audio, silence])
        fed = _feed(transcriber, audio)
        assert [e.kind for e in fed] == ["speech_start", "speech_end"]  # the final is still decoding
        recognizer.gate.set()
        assert decoded.wait(60)
        collected = transcriber.collect()
    finally:
        recognizer.gate.set()
        transcriber.close()
    finals = [e for e in collected if e.kind == "final"]
    assert len(finals) == 1 and "savings account" in finals[0].text
    assert transcriber.collect() == []  # handed out once


class AlwaysSpeaking:
    """A stand-in detector that hears one endless stretch of speech (plumbing only)."""

    pause_started = None
    fading = False

    def feed(self, samples: np.ndarray) -> list[object]:
        if getattr(self, "started", False):
            return []
        self.started = True
        from talker.asr.vad import VadEvent

        return [VadEvent("start", 0.0, 0.032)]

    def flush(self) -> list[object]:
        from talker.asr.vad import VadEvent

        return [VadEvent("end", 70.0, 70.0)]


class LengthRecognizer:
    """A stand-in recogniser that says how long its audio was (plumbing only)."""

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
        return Transcript(f"{samples.size / RATE:.2f}", "en", 1.0)


def test_long_speech_is_cut_into_whisper_sized_segments_plumbing() -> None:
    transcriber = StreamingTranscriber(AlwaysSpeaking(), InlineDecoder(LengthRecognizer()),  # type: ignore[arg-type]
                                       partials=False)
    events = _run(transcriber, np.zeros(70 * RATE, dtype=np.float32), piece=RATE)
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 3
    assert all(float(f.text) <= MAX_SEGMENT for f in finals)
    assert [f.start for f in finals[1:]] == [f.end for f in finals[:-1]]  # contiguous, no audio twice
    assert finals[0].start == 0.0 and finals[-1].end == pytest.approx(70.0)


@pytest.mark.parametrize("fading", [False, True])
def test_no_partial_starts_while_the_voice_trails_off_plumbing(fading: bool) -> None:
    """A partial started as a pause begins would hold up the pause's speculative decode, which the answer waits
    for: while the detector hears the voice fading, none starts."""
    detector = AlwaysSpeaking()
    detector.fading = fading
    decoder = RecordingDecoder(LengthRecognizer())
    transcriber = StreamingTranscriber(detector, decoder, Settings().asr)  # type: ignore[arg-type]
    for _ in range(3 * RATE // 320):
        transcriber.feed(np.zeros(320, dtype=np.float32))
    partials = [kind for kind, _ in decoder.jobs if kind == "partial"]
    assert (partials == []) == fading, decoder.jobs


def test_a_failed_decode_does_not_stop_the_stream_plumbing() -> None:
    class Failing:
        def transcribe(self, samples: np.ndarray, language: str | None = None,
                       word_timestamps: bool = False) -> Transcript:
            raise RuntimeError("decoder exploded")

    decoder = ThreadDecoder(Failing())
    job = DecodeJob("final", 1, 0, 16, np.zeros(16, dtype=np.float32), False)
    decoder.submit(job)
    done = decoder.drain()
    decoder.close()
    assert done == [job] and job.result is not None and job.result.text == "" and job.error is not None


@pytest.mark.models
def test_a_two_hour_recording_streams_in_flat_memory(
    tmp_path: Path, settings: Settings, vad_model: SileroModel, whisper: WhisperASR, utterances: list[Utterance]
) -> None:
    import soundfile

    from talker.media.audio_decode import audio_blocks

    path = tmp_path / "two_hours.wav"
    minute = np.zeros(60 * RATE, dtype=np.float32)
    with soundfile.SoundFile(str(path), "w", samplerate=RATE, channels=1, subtype="PCM_16") as sound:
        for index in range(120):
            sound.write(minute)
            if index % 40 == 20:
                sound.write(utterances[2].audio)
    transcriber = StreamingTranscriber(vad_model.detector(settings.asr.vad), InlineDecoder(whisper), settings.asr,
                                       partials=False, endpointing=False)
    tracemalloc.start()
    try:
        finals = [e for e in _run_blocks(transcriber, audio_blocks(path)) if e.kind == "final"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert transcriber.position >= 7200
    assert len(finals) == 3 and all("meeting" in f.text.lower() for f in finals)
    assert peak < 40 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB for a {path.stat().st_size >> 20} MiB file"


def _run_blocks(transcriber: StreamingTranscriber, blocks: object) -> list[ListenEvent]:
    events: list[ListenEvent] = []
    for block in blocks:  # type: ignore[attr-defined]
        events += transcriber.feed(block)
    return events + transcriber.finish()


class OneUtterance:
    """A stand-in detector: speech from 0.5 s to 1.5 s, ended after a 0.25 s hang-over (plumbing only)."""

    pause_started = None
    fading = False

    def __init__(self) -> None:
        self.fed = 0.0

    def feed(self, samples: np.ndarray) -> list[object]:
        from talker.asr.vad import VadEvent

        before, self.fed = self.fed, self.fed + samples.size / RATE
        events: list[object] = []
        if before < 0.5 <= self.fed:
            events.append(VadEvent("start", 0.5, self.fed))
        if before < 1.75 <= self.fed:
            events.append(VadEvent("end", 1.5, self.fed))
        return events

    def flush(self) -> list[object]:
        return []


class Saying:
    """A stand-in recogniser that always hears the same words (plumbing only)."""

    def __init__(self, text: str, language: str = "en") -> None:
        self.text = text
        self.language = language

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   word_timestamps: bool = False) -> Transcript:
        return Transcript(self.text, self.language, 1.0)


def test_the_final_words_are_offered_as_a_likely_end_while_the_endpointer_waits_plumbing(settings: Settings) -> None:
    # No final punctuation: the endpointer waits 0.6 s of silence; an answer can be prepared meanwhile.
    transcriber = StreamingTranscriber(OneUtterance(), InlineDecoder(Saying("I want to open an account")),  # type: ignore[arg-type]
                                       settings.asr, partials=False)
    events = _run(transcriber, np.zeros(3 * RATE, dtype=np.float32))
    kinds = [(e.kind, e.text) for e in events if e.kind in ("final", "likely_end", "end_of_turn")]
    assert kinds == [("final", "I want to open an account"), ("likely_end", "I want to open an account"),
                     ("end_of_turn", "I want to open an account")]
    likely, turn = (next(e for e in events if e.kind == kind) for kind in ("likely_end", "end_of_turn"))
    assert likely.reason == turn.reason == "unknown" and likely.time < turn.time


class ScriptedPause:
    """A stand-in detector (plumbing only): speech from 0.5 s, a pause from 1.5 s, the end fired 0.25 s later."""

    def __init__(self) -> None:
        self.position = 0.0
        self.started = False
        self.ended = False

    @property
    def pause_started(self) -> float | None:
        return 1.5 if self.position >= 1.532 and not self.ended else None

    fading = False

    def feed(self, samples: np.ndarray) -> list[object]:
        from talker.asr.vad import VadEvent

        self.position += samples.size / RATE
        events: list[object] = []
        if not self.started and self.position >= 0.65:
            self.started = True
            events.append(VadEvent("start", 0.5, self.position))
        if not self.ended and self.position >= 1.75:
            self.ended = True
            events.append(VadEvent("end", 1.5, self.position))
        return events

    def flush(self) -> list[object]:
        return []


class DecodesAtTheEnd(RecordingDecoder):
    """Finishes nothing until drained, as a busy worker thread would (plumbing only)."""

    def __init__(self, recognizer: Recognizer) -> None:
        super().__init__(recognizer)
        self._queued: list[DecodeJob] = []

    def submit(self, job: DecodeJob) -> None:
        self.jobs.append((job.kind, job.end / RATE))
        self._queued.append(job)

    def poll(self) -> list[DecodeJob]:
        return []

    def drain(self) -> list[DecodeJob]:
        queued, self._queued = self._queued, []
        for job in queued:
            InlineDecoder.submit(self, job)
        return InlineDecoder.poll(self)


@pytest.mark.parametrize("text, tail_db, late, final_decodes", [
    ("几点开门？", -30.0, False, 0),  # decoded one window into the pause: that is the final
    ("几点开门？", -6.0, False, 1),  # a loud tail the VAD called silence: a word may have been missed
    ("几点开门", -30.0, False, 1),  # no closing mark: the whole pause may bring it back
    ("几点开门？", -30.0, True, 0),  # the same, when the speculative decode finishes after the end
    ("几点开门", -30.0, True, 1),
])
def test_the_speculative_decode_is_the_final_when_the_pause_stayed_quiet_and_the_words_closed_plumbing(
        text: str, tail_db: float, late: bool, final_decodes: int) -> None:
    """One VAD window into the pause is decoded at once; the final is decoded again over the whole pad only when
    the rest of the pause was loud or the words ended without a mark."""
    settings = Settings().asr
    decoder = (DecodesAtTheEnd if late else RecordingDecoder)(Saying(text, "zh"))
    transcriber = StreamingTranscriber(ScriptedPause(), decoder, settings)  # type: ignore[arg-type]
    audio = np.zeros(3 * RATE, dtype=np.float32)
    speech = np.sin(np.arange(RATE) * 0.3).astype(np.float32) * 0.3  # 0.5–1.5 s
    audio[RATE // 2:RATE // 2 + RATE] = speech
    tail = slice(round(1.6 * RATE), round(1.65 * RATE))
    audio[tail] = speech[:tail.stop - tail.start] * 10 ** (tail_db / 20)
    events = _run(transcriber, audio)
    speculative_end = 1.5 + settings.speculative_pad
    likely = [e for e in events if e.kind == "likely_end"]
    assert late or (likely and likely[0].end == pytest.approx(speculative_end, abs=1e-3))
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 1 and [kind for kind, _ in decoder.jobs].count("final") == final_decodes, decoder.jobs
    expected_end = speculative_end if final_decodes == 0 else 1.5 + min(settings.vad.pad, settings.vad.hangover)
    assert finals[0].end == pytest.approx(expected_end, abs=1e-3)
    assert [e.text for e in events if e.kind == "end_of_turn"] == [text]
