"""ASR speed: real-time factor per language and model, end of speech → final transcript in real time, VAD cost.

English is the five LibriVox recordings from Debian's pocketsphinx-testdata; Chinese is our own
Kokoro speech. The latency run feeds audio at real speed in 20 ms pieces (as a microphone would)
through the streaming transcriber with its worker thread, and times from the moment the last
sample of speech was fed to the moment the final transcript was known.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, write_section
from talker.asr import vad, whisper
from talker.asr.streaming import InlineDecoder, StreamingTranscriber, ThreadDecoder
from talker.config import Settings
from talker.media.audio_decode import load_audio
from talker.tts.synthesizer import Synthesizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.speech_metrics import error_rate

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CHINESE = ["你好，我想查一下我的账户余额。", "今天是2024年3月5日，星期二。", "请问你们几点开门？",
           "我昨天去银行还了2000块钱，然后回家做饭。", "人工智能正在改变我们的生活方式。"]
RATE = 16000
PIECE = 320  # 20 ms, a typical microphone block


def _speech(settings: Settings) -> dict[str, list[np.ndarray]]:
    import soxr

    synthesizer = Synthesizer(settings)
    chinese = []
    for index, sentence in enumerate(CHINESE):
        chunk = next(iter(synthesizer.stream(sentence, voice=("zf_xiaoxiao", "zm_yunxi")[index % 2])))
        chinese.append(np.asarray(soxr.resample(chunk.samples, chunk.sample_rate, RATE), dtype=np.float32))
    english = [load_audio(LIBRIVOX / f"{name}.wav") for name, _ in _librivox_transcripts()]
    return {"zh": chinese, "en": english}


def _librivox_transcripts() -> list[tuple[str, str]]:
    out = []
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words, _, name = line.rpartition("(")
        out.append((name.strip(") "), words.replace("<s>", "").replace("</s>", "").strip()))
    return out


def _rtf(recognizer: whisper.WhisperASR, clips: list[np.ndarray], language: str | None,
         references: list[str]) -> tuple[float, float, float]:
    """Real-time factor, median seconds per utterance, and error rate (CER for zh, WER for en)."""
    times, heard = [], []
    for clip in clips:
        started = time.perf_counter()
        heard.append(recognizer.transcribe(clip, language).text)
        times.append(time.perf_counter() - started)
    audio = sum(c.size for c in clips) / RATE
    spoken = "zh" if references is CHINESE else "en"
    pairs = list(zip(references, heard, strict=True))
    if spoken == "en":
        pairs = [(_plain(ref), _plain(text)) for ref, text in pairs]
    return sum(times) / audio, statistics.median(times), error_rate(pairs, spoken)


def _plain(text: str) -> str:
    return text.replace("Mr.", "mister").replace("-", " ")


def _latency(settings: Settings, model: vad.SileroModel, recognizer: whisper.WhisperASR,
             clip: np.ndarray) -> tuple[float, int]:
    """Seconds from the last speech sample fed (at real speed) to the final transcript; and partials seen."""
    silence = np.zeros(int(1.5 * RATE), dtype=np.float32)
    audio = np.concatenate([silence[:RATE // 2], clip, silence])
    speech_end = (RATE // 2 + clip.size) / RATE
    transcriber = StreamingTranscriber(model.detector(settings.asr.vad), ThreadDecoder(recognizer), settings.asr)
    partials, ended_at, final_at = 0, None, None
    started = time.perf_counter()
    try:
        for offset in range(0, audio.size, PIECE):
            due = started + offset / RATE
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            if ended_at is None and (offset + PIECE) / RATE >= speech_end:
                ended_at = time.perf_counter()
            for event in transcriber.feed(audio[offset:offset + PIECE]):
                partials += event.kind == "partial"
                if event.kind == "final" and final_at is None:
                    final_at = time.perf_counter()
        for event in transcriber.finish():
            if event.kind == "final" and final_at is None:
                final_at = time.perf_counter()
    finally:
        transcriber.close()
    assert ended_at is not None and final_at is not None
    return final_at - ended_at, partials


def _vad_cost(model: vad.SileroModel, audio: np.ndarray) -> float:
    detector = model.detector()
    started = time.perf_counter()
    for offset in range(0, audio.size, PIECE):
        detector.feed(audio[offset:offset + PIECE])
    return (time.perf_counter() - started) / (audio.size / RATE)


def main() -> None:
    settings = Settings()
    speech = _speech(settings)
    references = {"zh": CHINESE, "en": [text for _, text in _librivox_transcripts()]}
    # One recogniser at a time: once a second CTranslate2 model has run in the process, the first one runs
    # ~2.5x slower (measured) until the second is released. The server only ever loads one.
    configurations: list[tuple[str, float, list[tuple[str, str | None]]]] = [
        ("whisper-base", settings.asr.window, [("zh", None), ("en", None), ("en", "en")]),
        ("whisper-base", 10.0, [("zh", None), ("en", None)]),
        ("whisper-base", 30.0, [("zh", None), ("en", None)]),
        ("whisper-tiny-en", settings.asr.window, [("en", "en")]),
    ]
    measured: dict[tuple[str, float, str, str | None], str] = {}
    for name, window, cases in configurations:
        recognizer = whisper.create(settings.model_copy(
            update={"asr": settings.asr.model_copy(update={"model": name, "window": window})}))
        recognizer.transcribe(speech["en"][1])  # load and warm
        for language, detect in cases:
            rtf, median, errors = _rtf(recognizer, speech[language], detect, references[language])
            how = "detected" if detect is None else "given"
            measure = "CER" if language == "zh" else "WER"
            measured[name, window, language, detect] = (
                f"| {name} | {window:.0f} s | {language} (language {how}) | {rtf:.3f} | {median * 1000:.0f} ms "
                f"| {measure} {errors:.1%} |")
        del recognizer
        gc.collect()
    order: list[tuple[str, str | None]] = [("zh", None), ("en", None), ("en", "en")]
    rows = [measured[key] for key in sorted(measured, key=lambda k: (order.index((k[2], k[3])), k[0], k[1]))]
    base = whisper.create(settings)

    model = vad.create(settings)
    latencies: dict[str, list[float]] = {"zh": [], "en": []}
    partials = []
    for language, clips in speech.items():
        for clip in clips:
            seconds, seen = _latency(settings, model, base, clip)
            latencies[language].append(seconds)
            partials.append(seen)
    all_latencies = sorted(latencies["zh"] + latencies["en"])
    p90 = all_latencies[min(len(all_latencies) - 1, int(0.9 * len(all_latencies)))]

    speech_audio = np.concatenate(speech["zh"] + speech["en"])
    noise = np.random.default_rng(0).normal(0, 0.01, 10 * RATE).astype(np.float32)
    vad_speech = _vad_cost(model, speech_audio)
    vad_noise = _vad_cost(model, noise)
    vad_silence = _vad_cost(model, np.zeros(10 * RATE, dtype=np.float32))

    file_transcriber = StreamingTranscriber(model.detector(settings.asr.vad), InlineDecoder(base), settings.asr,
                                            partials=False, endpointing=False)
    long_audio = np.concatenate([np.concatenate([c, np.zeros(RATE, dtype=np.float32)]) for c in speech["en"] * 2])
    started = time.perf_counter()
    for offset in range(0, long_audio.size, RATE):
        file_transcriber.feed(long_audio[offset:offset + RATE])
    file_transcriber.finish()
    file_rtf = (time.perf_counter() - started) / (long_audio.size / RATE)

    body = f"""## ASR (`bench/asr_bench.py`)

Whisper int8 through faster-whisper (CTranslate2), 2 threads, greedy, one encoder pass per call (the
language is read from the same encoder output). English: the five LibriVox recordings; Chinese: five
Kokoro sentences (two voices). The encoder window is the audio context Whisper's encoder sees: 30 s
is Whisper's own (padded), the default {settings.asr.window:.0f} s costs far less; error rates on these few
clips show what it costs in accuracy (the test suite's larger Chinese set: see `tests/asr`).

| model | encoder window | speech | real-time factor | median per utterance | errors |
|---|---|---|---|---|---|
{chr(10).join(rows)}

**End of speech → final transcript**, audio fed at real speed in 20 ms blocks through the streaming
transcriber, from the clip's last sample (the recordings end in a short silence of their own; the
speculative decode starts one VAD window into the pause and is the final if the pause stays quiet, before the
{settings.asr.vad.hangover * 1000:.0f} ms VAD hang-over ends the speech):
median {statistics.median(all_latencies) * 1000:.0f} ms, p90
{p90 * 1000:.0f} ms (zh median {statistics.median(latencies['zh']) * 1000:.0f} ms, en median
{statistics.median(latencies['en']) * 1000:.0f} ms; {statistics.median(partials):.0f} partials per utterance,
spaced at least {settings.asr.partial_interval:.1f} s after the previous one finished).

**File transcription** (VAD-segmented, finals only, whisper-base): real-time factor {file_rtf:.3f}.

**VAD** (Silero, 32 ms windows, 1 thread): {vad_speech * 1000:.2f} ms per second of speech
({vad_speech * 100:.2f} % of real time), {vad_noise * 1000:.2f} ms per second of noise,
{vad_silence * 1000:.3f} ms per second of digital silence (skipped below {settings.asr.vad.energy_floor:.0f} dBFS).

Peak RSS of the benchmark process: {peak_rss_mb():.0f} MB.
"""
    write_section("asr", body)
    print(body)


if __name__ == "__main__":
    main()
