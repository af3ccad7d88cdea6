"""Silero VAD: speech start/end events on constructed audio — pauses, noise, music, silence."""

from __future__ import annotations

import numpy as np
import pytest

from talker.asr.vad import SileroModel, VadEvent, speech_segments
from talker.config import VADSettings
from tests.asr.conftest import RATE, Utterance, level_db

pytestmark = pytest.mark.models


def _events(model: SileroModel, audio: np.ndarray, piece: int = 320, **settings: float) -> list[VadEvent]:
    detector = model.detector(VADSettings(**settings))  # type: ignore[arg-type]
    events: list[VadEvent] = []
    for offset in range(0, audio.size, piece):
        events += detector.feed(audio[offset:offset + piece])
    return events + detector.flush()


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def _with_pauses(utterance: Utterance, count: int, pause: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The utterance with `count` pauses cut into running speech (not at commas); returns audio and true end."""
    inside = [t for t in utterance.word_starts[1:]
              if min(level_db(utterance.audio, t - 0.15), level_db(utterance.audio, t + 0.15)) > -35]
    cuts = sorted(rng.choice(inside, size=min(count, len(inside)), replace=False))
    parts, previous = [_silence(0.5)], 0
    for cut in (int(t * RATE) for t in cuts):
        parts += [utterance.audio[previous:cut], _silence(pause)]
        previous = cut
    parts.append(utterance.audio[previous:int(utterance.speech_end * RATE)])
    true_end = sum(p.size for p in parts) / RATE
    return np.concatenate([*parts, _silence(1.0)]), true_end


@pytest.mark.parametrize("noise_dbfs", [None, -50.0, -40.0])
def test_end_of_speech_is_found_within_300_ms_and_never_inside_a_200_ms_pause(
    vad_model: SileroModel, utterances: list[Utterance], noise_dbfs: float | None
) -> None:
    rng = np.random.default_rng(7)
    for utterance in utterances:
        for _ in range(2):
            audio, true_end = _with_pauses(utterance, 2, 0.2, rng)
            if noise_dbfs is not None:
                audio = audio + rng.normal(0, 10 ** (noise_dbfs / 20), audio.size).astype(np.float32)
            ends = [e for e in _events(vad_model, audio) if e.kind == "end"]
            early = [e for e in ends if e.fired < true_end]
            assert not early, f"{utterance.text!r}: end fired inside a 200 ms pause at {early[0].fired:.2f} s"
            assert ends, f"{utterance.text!r}: no end of speech"
            assert ends[0].fired - true_end <= 0.3, \
                f"{utterance.text!r}: end known {ends[0].fired - true_end:.3f} s after the speech ended"


@pytest.mark.parametrize("pause", [0.1, 0.2, 0.5, 1.0])
def test_pauses_of_varying_length(vad_model: SileroModel, utterances: list[Utterance], pause: float) -> None:
    utterance = utterances[2]
    cut = next(t for t in utterance.word_starts[3:]
               if min(level_db(utterance.audio, t - 0.15), level_db(utterance.audio, t + 0.15)) > -35)
    head = utterance.audio[:int(cut * RATE)]
    tail = utterance.audio[int(cut * RATE):int(utterance.speech_end * RATE)]
    audio = np.concatenate([_silence(0.4), head, _silence(pause), tail, _silence(1.0)])
    pause_start = 0.4 + head.size / RATE
    events = _events(vad_model, audio)
    kinds = [e.kind for e in events]
    if pause <= 0.2:
        assert kinds == ["start", "end"], f"a {pause} s pause split the speech: {events}"
        return
    assert kinds == ["start", "end", "start", "end"], events
    end = events[1]
    assert pause_start - 0.3 <= end.time <= pause_start + 0.05
    assert 0 <= end.fired - pause_start <= 0.3
    assert pause_start + pause - 0.1 <= events[2].time <= pause_start + pause + 0.3


def test_silence_noise_and_music_are_not_speech(vad_model: SileroModel) -> None:
    rng = np.random.default_rng(3)
    time = np.arange(6 * RATE) / RATE
    chords = np.zeros_like(time)
    for index, pitch in enumerate((220.0, 277.2, 329.6, 440.0)):
        gate = np.sin(2 * np.pi * (index + 1) * 0.5 * time) > 0  # notes coming and going
        for harmonic in range(1, 5):
            chords += gate * np.sin(2 * np.pi * pitch * harmonic * time) / harmonic
    music = (0.2 * chords / np.abs(chords).max()).astype(np.float32)
    hiss = rng.normal(0, 10 ** (-30 / 20), time.size).astype(np.float32)
    hum = (0.05 * np.sin(2 * np.pi * 50 * time)).astype(np.float32)
    for name, audio in [("silence", _silence(10)), ("white noise", hiss), ("music", music), ("mains hum", hum)]:
        assert _events(vad_model, audio) == [], f"{name} was taken for speech"


def test_events_do_not_depend_on_how_the_audio_is_cut(vad_model: SileroModel, utterances: list[Utterance]) -> None:
    audio = np.concatenate([_silence(0.3), utterances[0].audio, _silence(0.8)])
    assert _events(vad_model, audio, piece=160) == _events(vad_model, audio, piece=4001)


def test_a_click_is_shorter_than_min_speech(vad_model: SileroModel, utterances: list[Utterance]) -> None:
    word = utterances[3].audio[int(0.05 * RATE):int(0.15 * RATE)]  # 100 ms of speech
    audio = np.concatenate([_silence(0.5), word, _silence(1.0)])
    assert _events(vad_model, audio, min_speech=0.25) == []


def test_segments_of_a_stream(vad_model: SileroModel, utterances: list[Utterance]) -> None:
    audio = np.concatenate([_silence(0.5), utterances[0].audio, _silence(1.0), utterances[2].audio, _silence(0.5)])
    blocks = (audio[i:i + RATE] for i in range(0, audio.size, RATE))
    segments = list(speech_segments(vad_model.detector(), blocks))
    assert len(segments) == 2
    first_end = 0.5 + utterances[0].audio.size / RATE
    assert 0.4 <= segments[0].start <= 0.8 and segments[0].end <= first_end + 0.05
    assert segments[1].start >= first_end + 0.5


def test_the_voice_is_heard_fading_before_the_network_hears_the_pause(
    vad_model: SileroModel, utterances: list[Utterance]
) -> None:
    """`fading` (no partial starts then) comes on in the last syllable's fade, before `pause_started`."""
    ahead = 0
    for utterance in utterances:
        audio = np.concatenate([utterance.audio, _silence(1.0)])
        detector = vad_model.detector()
        fading_at = pause_at = None
        for offset in range(0, audio.size, 512):
            detector.feed(audio[offset:offset + 512])
            position = (offset + 512) / RATE
            if position < utterance.speech_end - 0.3:
                continue
            if fading_at is None and detector.fading:
                fading_at = position
            if pause_at is None and detector.pause_started is not None:
                pause_at = position
        assert fading_at is not None and pause_at is not None, utterance.text
        ahead += fading_at < pause_at
    assert ahead >= len(utterances) // 2
