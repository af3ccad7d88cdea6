"""TTS speed: real-time factor per language and backend, and time to the first audio chunk."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import peak_rss_mb, write_section
from talker.config import Settings
from talker.tts.synthesizer import Synthesizer

SENTENCES = {
    "zh": ["你好，我是数字人小慧。", "今天是2024年3月5日，气温25℃。", "我昨天去银行还了2000块钱，然后回家做饭。",
           "人工智能正在改变我们的生活方式，也带来了新的挑战。", "请问您需要办理什么业务？"],
    "en": ["Hello, I am Talker.", "The meeting starts at 3:30 pm on March 5, 2024.",
           "Artificial intelligence is changing the way we live and work every day.",
           "Please call 555-1234 if you have any questions.", "How can I help you today?"],
}
PARAGRAPH = {
    "zh": "好的。" + "".join(SENTENCES["zh"][1:]),
    "en": "Sure. " + " ".join(SENTENCES["en"][1:]),
}
# (backend, language, threads) -> voice
CASES = {("kokoro", "zh", 2): "zf_xiaoxiao", ("kokoro", "en", 2): "af_heart",
         ("kokoro", "zh", 1): "zf_xiaoxiao", ("kokoro", "en", 1): "af_heart",
         ("espeak", "zh", 1): "espeak_zh_f", ("espeak", "en", 1): "espeak_en_f"}
RUNS = 3


def main() -> None:
    synthesizers = {threads: Synthesizer(Settings(threads=threads)) for threads in (1, 2)}
    started = time.perf_counter()
    next(synthesizers[2].stream("预热。", voice="zf_xiaoxiao"))
    next(synthesizers[2].stream("Warm up.", voice="af_heart"))
    next(synthesizers[2].stream("预热。", voice="espeak_zh_f"))
    warmup = time.perf_counter() - started
    next(synthesizers[1].stream("预热。", voice="zf_xiaoxiao"))

    rows = []
    for (backend, language, threads), voice in CASES.items():
        synthesizer = synthesizers[threads]
        rtfs, firsts, durations = [], [], []
        for _ in range(RUNS):
            for sentence in SENTENCES[language]:
                t0 = time.perf_counter()
                chunk = next(synthesizer.stream(sentence, voice=voice))
                elapsed = time.perf_counter() - t0
                rtfs.append(elapsed / chunk.duration)
                durations.append(chunk.duration)
            t0 = time.perf_counter()
            next(synthesizer.stream(PARAGRAPH[language], voice=voice))
            firsts.append(time.perf_counter() - t0)
        rows.append((backend, language, threads, voice, statistics.median(rtfs), max(rtfs),
                     statistics.median(firsts), statistics.median(durations)))
        print(f"{backend:7} {language} {threads} thread(s) {voice:12} RTF median {rows[-1][4]:.3f} "
              f"(max {rows[-1][5]:.3f}), first chunk {rows[-1][6] * 1000:.0f} ms", flush=True)

    lines = [
        "## TTS (`bench/tts_bench.py`)",
        "",
        "Real-time factor = synthesis time / audio duration, per sentence "
        f"({len(SENTENCES['zh'])} sentences × {RUNS} runs); first chunk = time from `stream()` to the first "
        "sentence's audio for a paragraph that opens with a short sentence (models already loaded).",
        "",
        "| backend | language | threads | voice | RTF median | RTF max | first chunk (median) | median sentence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend, language, threads, voice, rtf, rtf_max, first, duration in rows:
        lines.append(f"| {backend} | {language} | {threads} | {voice} | {rtf:.3f} | {rtf_max:.3f} "
                     f"| {first * 1000:.0f} ms | {duration:.1f} s |")
    lines += ["", f"Model load + warm-up (Kokoro, jieba, espeak-ng): {warmup:.1f} s. "
              f"Peak RSS of the benchmark process: {peak_rss_mb():.0f} MB."]
    write_section("tts", "\n".join(lines))
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
