"""Tests for the espeak-ng engine, against the real library from espeakng-loader."""

from __future__ import annotations

import ctypes
import itertools
import threading

import numpy as np
import pytest

pytest.importorskip("espeakng_loader")

from talker.tts.espeak_engine import (
    EspeakEngine,
    EspeakEvent,
    EspeakResult,
    _Event,
    base_phoneme,
    is_pause,
    phonemes_of,
)

SR = 22050


@pytest.fixture(scope="module")
def engine() -> EspeakEngine:
    return EspeakEngine()


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _median_f0(samples: np.ndarray, sr: int) -> float:
    """Median pitch of voiced 40 ms frames by normalised autocorrelation (60-400 Hz)."""
    n = int(0.04 * sr)
    lo, hi = int(sr / 400), int(sr / 60)
    f0s = []
    for start in range(0, len(samples) - n, n // 2):
        frame = samples[start : start + n].astype(np.float64)
        frame -= frame.mean()
        if _rms(frame) < 0.05:
            continue
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        ac /= ac[0]
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5:
            f0s.append(sr / lag)
    assert len(f0s) >= 5, "too few voiced frames to estimate pitch"
    return float(np.median(f0s))


def test_event_struct_matches_64bit_layout() -> None:
    assert ctypes.sizeof(ctypes.c_void_p) == 8
    assert _Event.audio_position.offset == 16
    assert _Event.user_data.offset == 24
    assert _Event.id.offset == 32
    assert ctypes.sizeof(_Event) == 40


def test_construction_is_lazy() -> None:
    engine = EspeakEngine()
    assert engine._library is None


def test_voices_include_english_and_pinyin(engine: EspeakEngine) -> None:
    voices = engine.voices()
    assert "en-us" in voices
    assert "cmn-latn-pinyin" in voices
    assert engine.sample_rate == SR


def test_english_hello_world(engine: EspeakEngine) -> None:
    text = "Hello world."
    result = engine.synthesize(text)
    assert result.sample_rate == SR == engine.sample_rate
    assert result.samples.dtype == np.float32
    assert result.samples.ndim == 1
    assert 0.3 < result.duration < 3.0
    assert float(np.abs(result.samples).max()) > 0.1
    assert float(np.abs(result.samples).max()) <= 1.0

    phoneme_times = [e.time for e in result.events if e.kind == "phoneme"]
    assert phoneme_times == sorted(phoneme_times)
    all_times = [e.time for e in result.events]
    assert all_times == sorted(all_times)
    assert all(0.0 <= t <= result.duration for t in all_times)

    spans = phonemes_of(result)
    assert [base_phoneme(p) for p, _, _ in spans] == ["h", "@", "l", "oU", "w", "3:", "l", "d"]
    assert spans[0][1] <= 0.3
    assert abs(result.duration - spans[-1][2]) <= 0.3
    assert all(start < end for _, start, end in spans)
    assert all(a[2] <= b[1] for a, b in itertools.pairwise(spans))

    words = [e for e in result.events if e.kind == "word"]
    assert len(words) == len(text.split())
    assert [text[w.text_position : w.text_position + w.length] for w in words] == ["Hello", "world"]
    assert [e.kind for e in result.events].count("sentence") == 1
    assert result.events[-1].kind == "end"


def test_utf8_text_positions_are_characters(engine: EspeakEngine) -> None:
    text = "naïve café, world."
    result = engine.synthesize(text)
    words = [text[w.text_position : w.text_position + w.length] for w in result.events if w.kind == "word"]
    assert words == ["naïve", "café", "world"]


def test_chinese_pinyin(engine: EspeakEngine) -> None:
    result = engine.synthesize("ni3 hao3 .", voice="cmn-latn-pinyin")
    assert result.sample_rate == SR
    assert result.duration > 0.2
    assert float(np.abs(result.samples).max()) > 0.1
    spans = phonemes_of(result)
    assert [p for p, _, _ in spans] == ["n", "'i", "X", "'Au"]
    assert len([e for e in result.events if e.kind == "word"]) == 2
    # Tones shape the pitch contour; they do not appear as phoneme events.
    assert not any(ch.isdigit() for p, _, _ in spans for ch in p)


def test_higher_rate_gives_shorter_audio(engine: EspeakEngine) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    slow = engine.synthesize(text, rate_wpm=120)
    fast = engine.synthesize(text, rate_wpm=300)
    assert fast.duration < 0.7 * slow.duration
    assert phonemes_of(fast)[-1][2] < phonemes_of(slow)[-1][2]


def test_maximum_rate_keeps_events_in_order(engine: EspeakEngine) -> None:
    result = engine.synthesize("The quick brown fox jumps over the lazy dog.", rate_wpm=450)
    times = [e.time for e in result.events]
    assert times == sorted(times)
    assert abs(result.duration - phonemes_of(result)[-1][2]) <= 0.3


def test_pitch_moves_f0(engine: EspeakEngine) -> None:
    text = "Hello world, this is a pitch test."
    low = _median_f0(engine.synthesize(text, pitch=10).samples, SR)
    mid = _median_f0(engine.synthesize(text, pitch=50).samples, SR)
    high = _median_f0(engine.synthesize(text, pitch=90).samples, SR)
    assert low * 1.1 < mid
    assert mid * 1.1 < high


def test_volume_scales_amplitude(engine: EspeakEngine) -> None:
    quiet = engine.synthesize("Hello world.", volume=30)
    loud = engine.synthesize("Hello world.", volume=100)
    assert _rms(quiet.samples) < 0.6 * _rms(loud.samples)


def test_unknown_voice_raises(engine: EspeakEngine) -> None:
    with pytest.raises(ValueError, match="unknown espeak-ng voice 'no-such-voice'"):
        engine.synthesize("Hello.", voice="no-such-voice")
    # A failed voice change leaves the engine usable.
    assert engine.synthesize("Hello.").duration > 0.1


@pytest.mark.parametrize(
    ("rate_wpm", "pitch", "volume", "name"),
    [(20, 50, 100, "rate_wpm"), (175, 101, 100, "pitch"), (175, 50, -1, "volume")],
)
def test_out_of_range_parameters_raise(
    engine: EspeakEngine, rate_wpm: int, pitch: int, volume: int, name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        engine.synthesize("Hello.", rate_wpm=rate_wpm, pitch=pitch, volume=volume)


def test_empty_text(engine: EspeakEngine) -> None:
    result = engine.synthesize("")
    assert result.samples.dtype == np.float32
    assert result.duration < 0.1
    assert phonemes_of(result) == []


def test_two_threads_at_once(engine: EspeakEngine) -> None:
    jobs = [
        ("Hello world, from the first thread.", "en-us"),
        ("ni3 hao3 , wo3 shi4 shu4 zi4 ren2 .", "cmn-latn-pinyin"),
    ]
    solo = [phonemes_of(engine.synthesize(text, voice)) for text, voice in jobs]
    barrier = threading.Barrier(len(jobs))
    results: dict[int, list[EspeakResult]] = {}
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            barrier.wait()
            text, voice = jobs[index]
            results[index] = [engine.synthesize(text, voice) for _ in range(5)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    for index, expected in enumerate(solo):
        for result in results[index]:
            assert [p for p, _, _ in phonemes_of(result)] == [p for p, _, _ in expected]
            assert float(np.abs(result.samples).max()) > 0.1


def test_energy_inside_phonemes_exceeds_gaps(engine: EspeakEngine) -> None:
    result = engine.synthesize("Hello, world.")
    spans = phonemes_of(result)
    sr = result.sample_rate
    inside = np.zeros(len(result.samples), dtype=bool)
    for _, start, end in spans:
        inside[int(start * sr) : int(end * sr)] = True
    gap = ~inside
    assert gap.sum() > 0.1 * sr  # the comma leaves a pause between the two words
    assert _rms(result.samples[inside]) > 20 * _rms(result.samples[gap])


def test_isolated_from_phonemizer(engine: EspeakEngine) -> None:
    pytest.importorskip("phonemizer")
    import espeakng_loader
    from phonemizer.backend import EspeakBackend
    from phonemizer.backend.espeak.wrapper import EspeakWrapper

    EspeakWrapper.set_library(espeakng_loader.get_library_path())
    EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
    backend = EspeakBackend("en-us", with_stress=True)
    before = backend.phonemize(["Hello world."])
    ours = phonemes_of(engine.synthesize("ni3 hao3 .", voice="cmn-latn-pinyin"))
    assert backend.phonemize(["Hello world."]) == before
    english = engine.synthesize("Hello world.")
    assert [base_phoneme(p) for p, _, _ in phonemes_of(english)][:2] == ["h", "@"]
    again = phonemes_of(engine.synthesize("ni3 hao3 .", voice="cmn-latn-pinyin"))
    assert [p for p, _, _ in again] == [p for p, _, _ in ours]
    assert all(abs(a[1] - b[1]) < 0.005 and abs(a[2] - b[2]) < 0.005 for a, b in zip(again, ours, strict=True))


def test_phonemes_of_pauses_and_end() -> None:
    events = (
        EspeakEvent("sentence", 0.0, 0, 0, ""),
        EspeakEvent("word", 0.0, 0, 2, ""),
        EspeakEvent("phoneme", 0.01, 0, 0, "h"),
        EspeakEvent("phoneme", 0.05, 0, 0, "'a"),
        EspeakEvent("phoneme", 0.20, 2, 0, "_:"),
        EspeakEvent("phoneme", 0.35, 2, 0, "_"),
        EspeakEvent("word", 0.35, 3, 2, ""),
        EspeakEvent("phoneme", 0.35, 3, 0, "b"),
        EspeakEvent("phoneme", 0.40, 3, 0, "i"),
    )
    result = EspeakResult(np.zeros(int(0.5 * SR), dtype=np.float32), SR, events)
    assert phonemes_of(result) == [("h", 0.01, 0.05), ("'a", 0.05, 0.20), ("b", 0.35, 0.40), ("i", 0.40, 0.5)]
    assert is_pause("_:") and is_pause("_") and is_pause("_!") and is_pause("_|")
    assert not is_pause("'a")
    assert base_phoneme(",V") == "V"
