"""Kokoro through the synthesizer: timings that match the audio, prosody controls, voices."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from talker.frames import SpeechAudio
from talker.tts.base import Prosody
from talker.tts.synthesizer import Synthesizer
from tests.conftest import f0_median, rms

SENTENCES = {
    "zh": "你好，我是数字人小慧，很高兴认识你。",
    "en": "Hello, my name is Talker, and I read text aloud.",
    "mixed": "我每天用iPhone听音乐，然后去银行还钱。",
}


@pytest.fixture(scope="module")
def chunks(synthesizer: Synthesizer) -> dict[str, SpeechAudio]:
    return {name: next(synthesizer.stream(text)) for name, text in SENTENCES.items()}


@pytest.mark.parametrize("name", list(SENTENCES))
def test_chunk_states_its_format(chunks: dict[str, SpeechAudio], name: str) -> None:
    chunk = chunks[name]
    assert chunk.sample_rate == 24000 and chunk.channels == 1
    assert chunk.samples.dtype == np.float32 and chunk.samples.ndim == 1
    assert 0.5 < chunk.duration < 10 and rms(chunk.samples) > 0.01


@pytest.mark.parametrize("name", list(SENTENCES))
def test_phoneme_timings_are_monotonic_and_cover_the_audio(chunks: dict[str, SpeechAudio], name: str) -> None:
    chunk = chunks[name]
    phonemes = chunk.phonemes
    assert len(phonemes) > 10
    for a, b in itertools.pairwise(phonemes):
        assert a.start <= a.end <= b.start + 1e-6
    assert phonemes[0].start <= 0.3
    assert abs(chunk.duration - phonemes[-1].end) <= 0.3


@pytest.mark.parametrize("name", list(SENTENCES))
def test_phoneme_timings_match_voiced_regions(chunks: dict[str, SpeechAudio], name: str) -> None:
    chunk = chunks[name]
    frame = chunk.sample_rate // 100
    energy = np.array([rms(chunk.samples[i:i + frame]) for i in range(0, len(chunk.samples) - frame, frame)])
    times = (np.arange(len(energy)) + 0.5) / 100
    inside = np.zeros(len(energy), dtype=bool)
    for p in chunk.phonemes:
        inside |= (times >= p.start) & (times < p.end)
    loud = energy > 0.1 * energy.max()
    assert (loud & inside).sum() / loud.sum() >= 0.9, "loud audio outside any phoneme"
    assert energy[inside].mean() > 4 * energy[~inside].mean(), "phoneme spans are not where the sound is"


def test_word_timings_follow_the_text(chunks: dict[str, SpeechAudio]) -> None:
    words = [w.text for w in chunks["mixed"].words]
    assert "iPhone" in words and "银行" in words
    spans = chunks["mixed"].words
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(spans))


def test_default_voice_follows_the_language(chunks: dict[str, SpeechAudio]) -> None:
    assert chunks["zh"].voice == "zf_xiaoxiao"
    assert chunks["en"].voice == "af_heart"


def test_voices_list_language_and_gender(synthesizer: Synthesizer) -> None:
    voices = {v.id: v for v in synthesizer.voices()}
    assert voices["zf_xiaoxiao"].language == "zh" and voices["zf_xiaoxiao"].gender == "female"
    assert voices["zm_yunxi"].language == "zh" and voices["zm_yunxi"].gender == "male"
    assert voices["af_heart"].language == "en-us" and voices["af_heart"].gender == "female"
    assert voices["espeak_zh_m"].backend == "espeak"
    assert len(voices) >= 54


def test_speed_changes_duration(synthesizer: Synthesizer) -> None:
    text = "今天我们来聊一聊人工智能。"
    normal = next(synthesizer.stream(text, voice="zm_yunxi"))
    fast = next(synthesizer.stream(text, voice="zm_yunxi", prosody=Prosody(speed=1.5)))
    assert fast.duration < 0.8 * normal.duration
    assert fast.phonemes[-1].end < normal.phonemes[-1].end


def test_pitch_shift_raises_f0_and_keeps_duration(synthesizer: Synthesizer) -> None:
    text = "今天我们来聊一聊人工智能。"
    normal = next(synthesizer.stream(text, voice="zm_yunxi"))
    higher = next(synthesizer.stream(text, voice="zm_yunxi", prosody=Prosody(pitch=4.0)))
    ratio = f0_median(higher.samples, 24000) / f0_median(normal.samples, 24000)
    assert 1.12 < ratio < 1.45  # +4 semitones is ×1.26
    assert abs(higher.duration - normal.duration) < 0.2 * normal.duration
    assert abs(higher.duration - higher.phonemes[-1].end) <= 0.3


def test_volume_scales_loudness(synthesizer: Synthesizer) -> None:
    text = "音量测试。"
    normal = next(synthesizer.stream(text))
    quiet = next(synthesizer.stream(text, prosody=Prosody(volume=0.5)))
    assert 0.4 < rms(quiet.samples) / rms(normal.samples) < 0.6
    assert float(np.abs(next(synthesizer.stream(text, prosody=Prosody(volume=2.0))).samples).max()) <= 1.0


def test_stream_yields_one_chunk_per_sentence_on_one_timeline(synthesizer: Synthesizer) -> None:
    chunks = list(synthesizer.stream("第一句。第二句！Third one?"))
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.text for c in chunks] == ["第一句。", "第二句！", "Third one?"]
    for a, b in itertools.pairwise(chunks):
        assert b.pts == pytest.approx(a.pts + a.duration + 0.3)  # the pause between sentences
    assert {c.voice for c in chunks} == {"zf_xiaoxiao"}  # the voice stays for the whole text


def test_espeak_fallback_speaks_mixed_text_with_timings(synthesizer: Synthesizer) -> None:
    chunk = next(synthesizer.stream("你好，我叫Talker。", voice="espeak_zh_f"))
    assert chunk.sample_rate == 22050 and rms(chunk.samples) > 0.01
    assert [w.text for w in chunk.words] == ["你好", "我", "叫", "Talker"]
    assert all(a.start <= b.start for a, b in itertools.pairwise(chunk.phonemes))
    assert chunk.phonemes[0].start <= 0.3 and abs(chunk.duration - chunk.phonemes[-1].end) <= 0.3


def test_english_voice_reads_chinese_words_in_english_text(synthesizer: Synthesizer) -> None:
    chunk = next(synthesizer.stream("Tomorrow I fly to 北京 with my friend.", voice="af_heart"))
    assert [w.text for w in chunk.words] == ["Tomorrow", "I", "fly", "to", "北京", "with", "my", "friend"]
    beijing = chunk.words[4]
    assert beijing.end - beijing.start > 0.2  # two syllables really spoken, not skipped


def test_word_spans_contain_their_phonemes(chunks: dict[str, SpeechAudio]) -> None:
    for chunk in chunks.values():
        first, last = chunk.words[0], chunk.words[-1]
        assert first.start == pytest.approx(chunk.phonemes[0].start)
        assert last.end == pytest.approx(chunk.phonemes[-1].end)


def test_espeak_pitch_shift_raises_f0(synthesizer: Synthesizer) -> None:
    text = "This is a test of the pitch control."
    normal = next(synthesizer.stream(text, voice="espeak_en_m"))
    higher = next(synthesizer.stream(text, voice="espeak_en_m", prosody=Prosody(pitch=4.0)))
    ratio = f0_median(higher.samples, higher.sample_rate) / f0_median(normal.samples, normal.sample_rate)
    assert 1.12 < ratio < 1.45
    assert abs(higher.duration - normal.duration) < 0.15 * normal.duration


async def test_async_stream_keeps_the_event_loop_free(synthesizer: Synthesizer) -> None:
    import asyncio

    ticks = 0
    done = False

    async def ticker() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    chunks = [c async for c in synthesizer.astream("第一句。第二句。")]
    done = True
    await task
    assert [c.text for c in chunks] == ["第一句。", "第二句。"]
    assert ticks > 10  # the loop kept running other tasks while Kokoro worked in a thread


def test_without_kokoro_weights_auto_falls_back_to_espeak(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from talker.config import Settings

    synthesizer = Synthesizer(Settings(models_dir=tmp_path))
    chunk = next(synthesizer.stream("你好，世界。"))
    assert chunk.voice == "espeak_zh_f" and rms(chunk.samples) > 0.01
    assert "using espeak-ng" in capsys.readouterr().err
