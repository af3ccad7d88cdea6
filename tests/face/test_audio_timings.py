"""Timings recovered from audio alone, judged against the TTS's own timings and on recorded speech."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from talker.config import Settings
from talker.face.audio_timings import (
    Envelope,
    ipa_symbols,
    loudness_phonemes,
    spread,
    timings_from_audio,
    word_symbols,
)
from talker.face.visemes import is_known, mouth_track
from talker.frames import PhonemeTiming

FPS = 25
PAD = 0.6  # s of silence around the synthesised sentences
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def _transcriber(settings: Settings, whisper: Any) -> Any:
    """A file-mode transcriber on the session's Whisper (what `open_transcriber(live=False)` builds)."""
    from talker.asr import vad
    from talker.asr.streaming import InlineDecoder, StreamingTranscriber

    detector = vad.create(settings).detector(settings.asr.vad)
    return StreamingTranscriber(detector, InlineDecoder(whisper, settings.asr.language), settings.asr,
                                partials=False, endpointing=False)


def _opening(phonemes: tuple[PhonemeTiming, ...] | list[PhonemeTiming], seconds: float) -> np.ndarray:
    return np.array([shape.open for shape in mouth_track(phonemes, FPS, round(seconds * FPS))])


def _check_order(phonemes: tuple[PhonemeTiming, ...], duration: float) -> None:
    assert all(0.0 <= p.start < p.end <= duration + 1e-6 for p in phonemes)
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(phonemes))


@pytest.mark.parametrize(
    ("text", "voice"),
    [("今天天气很好，我们一起去公园散步吧。", "zf_xiaoxiao"),
     ("Please tell me how I can reset my password quickly.", "am_adam")],
    ids=["zh", "en"],
)
def test_mouth_from_audio_alone_follows_the_true_timings(settings: Settings, synthesizer: Any, whisper: Any,
                                                         text: str, voice: str) -> None:
    chunk = next(iter(synthesizer.stream(text, voice=voice)))
    rate = chunk.sample_rate
    silence = np.zeros(round(PAD * rate), dtype=np.float32)
    audio = np.concatenate([silence, chunk.samples, silence])
    duration = len(audio) / rate
    truth = [PhonemeTiming(p.phoneme, p.start + PAD, p.end + PAD) for p in chunk.phonemes]

    phonemes, words = timings_from_audio(settings, audio, rate, transcriber=_transcriber(settings, whisper))

    assert words and phonemes
    _check_order(phonemes, duration)
    assert all(is_known(p.phoneme) for p in phonemes)
    derived, true = _opening(phonemes, duration), _opening(truth, duration)
    r = float(np.corrcoef(derived, true)[0, 1])
    agree = float(np.mean((derived > 0.05) == (true > 0.05)))
    assert r > 0.6, r  # measured: zh 0.84, en 0.90
    assert agree >= 0.85, agree  # measured: zh 0.94, en 0.96
    edge = round(0.4 * FPS)  # the first and last 0.4 s are silence: the mouth is closed there
    assert derived[:edge].max() < 0.02 and derived[-edge:].max() < 0.02
    assert truth[0].start - 0.1 <= phonemes[0].start and phonemes[-1].end <= truth[-1].end + 0.15


@pytest.mark.parametrize("clip", ["0880", "0930"])
def test_recorded_speech_is_covered_and_its_leading_silence_is_not(settings: Settings, whisper: Any,
                                                                   clip: str) -> None:
    import soundfile

    path = LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{clip}.wav"
    if not path.is_file():
        pytest.skip("Debian's pocketsphinx test data is not installed")
    audio, rate = soundfile.read(str(path), dtype="float32")
    phonemes, words = timings_from_audio(settings, audio, rate, transcriber=_transcriber(settings, whisper))

    assert len(words) >= 6
    _check_order(phonemes, len(audio) / rate)
    envelope = Envelope.of(audio, rate)
    loud = envelope.levels > envelope.peak - 25.0  # clearly speech, not breath or room noise
    onset = int(np.flatnonzero(np.convolve(loud, np.ones(5), "valid") >= 5)[0]) * 0.01  # 50 ms of it
    assert phonemes[0].start >= onset - 0.05
    times = (np.arange(loud.size) + 0.5) * 0.01
    covered = np.zeros(loud.size, dtype=bool)
    for p in phonemes:
        covered |= (times >= p.start - 0.05) & (times < p.end + 0.05)
    assert covered[loud].mean() >= 0.9  # measured 0.95 on both
    opening = _opening(phonemes, len(audio) / rate)
    assert opening[: max(round((onset - 0.1) * FPS), 0)].max(initial=0.0) < 0.02
    assert opening.max() > 0.4


def _hum(t: np.ndarray) -> np.ndarray:
    phase = 2 * np.pi * np.cumsum(150.0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / 16000
    return np.asarray(0.3 * np.sum([np.sin(k * phase) / k for k in range(1, 8)], axis=0))


def _noise(t: np.ndarray) -> np.ndarray:
    return 0.1 * np.random.default_rng(0).standard_normal(t.size)


@pytest.mark.parametrize("sound", [_hum, _noise], ids=["hum", "noise"])
def test_sound_without_words_moves_the_mouth_only_while_it_lasts(settings: Settings, whisper: Any,
                                                                 sound: Any) -> None:
    t = np.arange(3 * 16000) / 16000
    audio = np.where((t >= 1.0) & (t < 2.0), sound(t), 0.0).astype(np.float32)
    phonemes, words = timings_from_audio(settings, audio, 16000, transcriber=_transcriber(settings, whisper))

    assert words == () and phonemes
    assert all(0.95 <= p.start < p.end <= 2.05 for p in phonemes)
    opening = _opening(phonemes, 3.0)
    times = (np.arange(opening.size) + 0.5) / FPS
    assert opening[(times > 1.2) & (times < 1.8)].min() > 0.3
    assert opening[(times < 0.8) | (times > 2.3)].max() < 0.02


def test_silence_gives_no_phonemes(settings: Settings) -> None:
    dither = np.random.default_rng(1).standard_normal(32000).astype(np.float32) * 1e-5  # −100 dBFS
    for audio in (np.zeros(32000, dtype=np.float32), dither, np.zeros(0, dtype=np.float32)):
        assert timings_from_audio(settings, audio, 16000) == ((), ())


def test_loudness_fallback_opens_wider_where_louder_and_closes_in_gaps() -> None:
    rate = 16000
    t = np.arange(2 * rate) / rate
    tone = np.sin(2 * np.pi * 200 * t)
    level = np.select([t < 0.5, t < 1.0, t < 1.3, t < 1.8], [0.5, 0.05, 0.0, 0.5], 0.0)
    audio = (tone * level).astype(np.float32)
    audio[round(0.2 * rate):round(0.2 * rate) + 400] = 0.0  # a 25 ms gap inside the sound is bridged
    phonemes = loudness_phonemes(Envelope.of(audio, rate))
    assert [p.phoneme for p in phonemes] == ["a", "ə", "a"]
    assert phonemes[0].start == 0.0 and phonemes[1].end == pytest.approx(1.0, abs=0.02)
    assert phonemes[2].start == pytest.approx(1.3, abs=0.02) and phonemes[2].end == pytest.approx(1.8, abs=0.02)


def test_symbols_and_spreading() -> None:
    assert ipa_symbols("tʰjɛ→n") == ["tʰ", "j", "ɛ", "n"]
    assert ipa_symbols("wˈɔːk, ɪnðə") == ["w", "ɔː", "k", "ɪ", "n", "ð", "ə"]
    for text in ("你好", "数字人", "password", "GPT", "2024年", "Hello,"):
        symbols = word_symbols(text)
        assert symbols and all(is_known(s) for s in symbols), (text, symbols)
    timed = spread(["k", "a", "t"], 1.0, 1.4)  # 1 : 2 : 1
    assert [(p.start, p.end) for p in timed] == [(1.0, 1.1), (1.1, 1.3), (1.3, 1.4)]
    assert spread([], 0.0, 1.0) == [] and spread(["a"], 1.0, 1.0) == []


@pytest.mark.usefixtures("kit")
def test_video_cli_from_audio_without_timings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import soundfile

    from talker.cli import main
    from talker.media.video import probe
    from tests.face.conftest import SAMPLE

    source = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # 3.0 s of a reader
    if not source.is_file():
        pytest.skip("Debian's pocketsphinx test data is not installed")
    audio, rate = soundfile.read(str(source), dtype="float32")
    flac, out = tmp_path / "speech.flac", tmp_path / "speech.mp4"
    soundfile.write(str(flac), audio, rate)  # any format, not only WAV
    code = main(["video", "--portrait", str(SAMPLE), "--audio", str(flac), "-o", str(out), "--size", "320"])
    assert code == 0, capsys.readouterr().err
    info = probe(out)
    assert (info.video_codec, info.audio_codec, info.sample_rate) == ("h264", "aac", rate)
    assert abs(info.audio_duration - len(audio) / rate) < 0.1
    assert abs(info.video_duration - info.audio_duration) <= 1 / 25 + 1e-3
