"""Face speed: render fps on one core at 512² and 1024² (warp / paint / encode split), and the wall time
of a 60-second explainer video end to end."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cv2
from PIL import Image

from common import peak_rss_mb, write_section
from talker.config import Settings
from talker.explainer import render_video, speaking_mask, synthesize_speech
from talker.face.motion import compose, motion_track
from talker.face.portrait import create_analyzer
from talker.face.renderer import Renderer
from talker.face.visemes import mouth_track
from talker.media.video import VideoWriter

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "src" / "talker" / "data" / "sample_portrait.jpg"
SCRIPT_60S = (
    "Hello, and welcome to this short introduction. My name is Talker, and I am a digital human made from a "
    "single photo. I can read any script you give me, in English or in Chinese, and my lips move with my voice. "
    "I blink, I raise my brows when a word matters, and my head moves a little, as people do when they speak. "
    "Everything you see and hear is made on this computer, with no graphics card and no cloud service. "
    "That means your scripts and your photos never leave your machine. Teachers use me to explain a lesson, "
    "banks use me to answer common questions, and creators use me to present their ideas. To make a video like "
    "this one, you only need a portrait and a few sentences of text. You can choose a voice, make it speak a "
    "little faster or slower, and even change its pitch. The video is written as a standard file that plays "
    "everywhere, and the same engine can also talk with you live, listening and answering in real time. "
    "Thank you for watching, and see you soon!"
)
FRAMES = 250


def render_rate(size: int, speech_phonemes: tuple, speech_words: tuple, duration: float) -> dict[str, float]:
    settings = Settings()
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "portrait.png"
        Image.open(PORTRAIT).resize((size, size), Image.Resampling.LANCZOS).save(source)
        portrait = create_analyzer(settings).analyze(source, max_size=size)
        renderer = Renderer(portrait)
        frames = min(FRAMES, int(duration * 25))
        poses = compose(mouth_track(speech_phonemes, 25, frames),
                        motion_track(frames, 25, 1, speech_words,
                                     speaking_mask(speech_phonemes, 25, frames).tolist()))
        renderer.render(poses[0])
        renderer.stage_seconds = {"warp": 0.0, "paint": 0.0}
        rendered = []
        per_frame = []
        for pose in poses:
            t0 = time.perf_counter()
            rendered.append(renderer.render(pose))
            per_frame.append(time.perf_counter() - t0)
        encode = []
        with VideoWriter(Path(scratch) / "bench.mp4", size, size, 25, 24000, threads=1) as writer:
            for frame in rendered:
                t0 = time.perf_counter()
                writer.write_frame(frame)
                encode.append(time.perf_counter() - t0)
    count = len(poses)
    return {
        "render_ms": statistics.median(per_frame) * 1000,
        "warp_ms": renderer.stage_seconds["warp"] / count * 1000,
        "paint_ms": renderer.stage_seconds["paint"] / count * 1000,
        "encode_ms": statistics.median(encode) * 1000,
        "fps": 1 / statistics.median(per_frame),
        "fps_with_encode": 1 / (statistics.median(per_frame) + statistics.median(encode)),
    }


def main() -> None:
    cv2.setNumThreads(1)  # one core for the renderer figures
    settings = Settings(threads=2)
    speech = synthesize_speech(settings, "Hello everyone, today we talk about digital humans. " * 3, voice="af_heart")
    rows = {size: render_rate(size, speech.phonemes, speech.words, speech.duration) for size in (512, 1024)}
    for size, row in rows.items():
        print(f"{size}²: render {row['render_ms']:.1f} ms ({row['fps']:.0f} fps; warp {row['warp_ms']:.1f}, paint "
              f"{row['paint_ms']:.1f}), encode {row['encode_ms']:.1f} ms", flush=True)

    cv2.setNumThreads(0)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        long_speech = synthesize_speech(settings, SCRIPT_60S, voice="af_heart")
        speech_seconds = time.perf_counter() - started
        summary = render_video(settings, PORTRAIT, long_speech, Path(scratch) / "explainer.mp4", seed=1,
                               speech_seconds=speech_seconds)
    print(f"explainer: {summary.duration:.1f} s of video in {summary.total_seconds:.1f} s "
          f"(speech {speech_seconds:.1f} s, render+encode {summary.render_seconds:.1f} s)", flush=True)

    lines = [
        "## Face and video (`bench/face_bench.py`)",
        "",
        f"Renderer on one core (`cv2.setNumThreads(1)`), {FRAMES} frames of a real mouth and motion track; encode is "
        "libx264 veryfast crf 20 on one thread. fps = 1 / median frame time.",
        "",
        "| size | render ms/frame | warp | mouth + eyelids | render fps | encode ms/frame | fps incl. encode |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, row in rows.items():
        lines.append(f"| {size}² | {row['render_ms']:.2f} | {row['warp_ms']:.2f} | {row['paint_ms']:.2f} | "
                     f"{row['fps']:.0f} | {row['encode_ms']:.2f} | {row['fps_with_encode']:.0f} |")
    lines += [
        "",
        f"End to end, a {summary.duration:.0f}-second explainer (English script, af_heart, 512², 25 fps) from text: "
        f"**{summary.total_seconds:.1f} s** wall time on 2 cores — speech {speech_seconds:.1f} s (Kokoro, 2 threads), "
        f"render + encode {summary.render_seconds:.1f} s ({summary.render_fps:.0f} fps, rendering and encoding on "
        f"two threads). Peak RSS {peak_rss_mb():.0f} MB.",
    ]
    write_section("face", "\n".join(lines))
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
