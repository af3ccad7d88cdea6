"""Explainer videos: a portrait and a script (or recorded speech, with or without timings) in, an MP4 out.

The batch driver of the same stages the real-time path uses: TTS (phoneme timings) → visemes and
motion → renderer → H.264/AAC. Audio is the master clock: frame i shows the face at time i / fps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talker.config import Settings
from talker.errors import InputError
from talker.frames import PhonemeTiming, WordTiming
from talker.media.files import check_writable
from talker.tts.base import Prosody

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass(frozen=True)
class Speech:
    """Mono audio with its phoneme and word timings on the audio's own timeline."""

    samples: np.ndarray
    sample_rate: int
    phonemes: tuple[PhonemeTiming, ...]
    words: tuple[WordTiming, ...]
    voice: str = ""

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class RenderSummary:
    """What was made and how fast."""

    output: Path
    duration: float
    frames: int
    fps: int
    width: int
    height: int
    voice: str
    faces_found: int
    speech_seconds: float
    render_seconds: float
    total_seconds: float

    @property
    def render_fps(self) -> float:
        return self.frames / max(self.render_seconds, 1e-9)


def synthesize_speech(settings: Settings, text: str | Iterable[str], voice: str | None = None,
                      prosody: Prosody | None = None, progress: Progress | None = None,
                      total_chars: int = 0) -> Speech:
    """Speak a script sentence by sentence and join the chunks (timings moved onto one timeline)."""
    from talker.face.motion import mark_sentence_end
    from talker.tts.synthesizer import Synthesizer

    parts: list[np.ndarray] = []
    phonemes: list[PhonemeTiming] = []
    words: list[WordTiming] = []
    rate, spoken_voice, done, length = 0, "", 0, 0
    for chunk in Synthesizer(settings).stream(text, voice=voice, prosody=prosody):
        rate, spoken_voice = chunk.sample_rate, chunk.voice
        gap = round(chunk.pts * rate) - length  # the pause between sentences
        if gap > 0:
            parts.append(np.zeros(gap, dtype=np.float32))
        parts.append(chunk.samples)
        length += max(gap, 0) + len(chunk.samples)
        phonemes += [PhonemeTiming(p.phoneme, p.start + chunk.pts, p.end + chunk.pts) for p in chunk.phonemes]
        marked = mark_sentence_end(chunk.words, chunk.text)  # a final ! or ? makes the last word emphatic
        words += [WordTiming(w.text, w.start + chunk.pts, w.end + chunk.pts) for w in marked]
        done += len(chunk.text)
        if progress:
            progress("speech", done, max(total_chars, done))
    return Speech(np.concatenate(parts), rate, tuple(phonemes), tuple(words), spoken_voice)


def load_speech(audio: Path, timings: Path) -> Speech:
    """Recorded or earlier synthesised speech, with the timings file `talker say --timings` writes."""
    from talker.media.audio import read_audio
    from talker.media.timings import read_timings

    samples, rate = read_audio(audio)
    if samples.size == 0:
        raise InputError(f"{audio} holds no audio")
    phonemes, words, duration = read_timings(timings)
    actual = len(samples) / rate
    if abs(duration - actual) > 0.5:
        raise InputError(f"the timings in {timings} cover {duration:.1f} s but {audio} lasts {actual:.1f} s; "
                         "give the timings written together with this audio")
    return Speech(samples, rate, tuple(phonemes), tuple(words))


def speech_from_audio(settings: Settings, audio: Path, transcriber: Any = None) -> Speech:
    """Recorded speech in any format without a timings file: the timings are recovered from the audio
    (words by Whisper, phonemes by the G2P, spread over each word; loudness alone if no words are heard).

    The audio keeps the file's own sample rate when AAC can carry it (else 48 kHz). A server passes a
    `transcriber` built on its already loaded recogniser.
    """
    from talker.face.audio_timings import timings_from_audio
    from talker.media.audio_decode import load_audio

    rate = _speech_rate(audio)
    samples = load_audio(audio, rate)
    if samples.size == 0:
        raise InputError(f"{audio} holds no audio")
    phonemes, words = timings_from_audio(settings, samples, rate, transcriber=transcriber)
    return Speech(samples, rate, phonemes, words)


def _speech_rate(audio: Path) -> int:
    """The file's sample rate if the video's AAC track can use it as it is, else 48 kHz."""
    import av

    from talker.media.video import AAC_SAMPLE_RATES

    try:
        with av.open(str(audio), mode="r") as container:
            streams = container.streams.audio
            rate = int(streams[0].rate or 0) if streams else 0
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return 48000  # unreadable: load_audio says why
    return rate if rate in AAC_SAMPLE_RATES and 8000 <= rate <= 48000 else 48000


def face_crop(face_box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A square around the head (hair and chin included), inside the image, with even sides."""
    fx0, fy0, fx1, fy1 = face_box
    side = min(int(2.2 * max(fx1 - fx0, fy1 - fy0)), *size) // 2 * 2
    centre_x, centre_y = (fx0 + fx1) / 2, (fy0 + fy1) / 2 - 0.08 * (fy1 - fy0)
    x0 = int(min(max(centre_x - side / 2, 0), size[0] - side))
    y0 = int(min(max(centre_y - side / 2, 0), size[1] - side))
    return x0, y0, x0 + side, y0 + side


def speaking_mask(phonemes: tuple[PhonemeTiming, ...], fps: int, frames: int, hangover: float = 0.15) -> np.ndarray:
    """Per frame: is speech going on (a phoneme within `hangover` seconds)?"""
    mask = np.zeros(frames, dtype=bool)
    for phoneme in phonemes:
        first = max(int((phoneme.start - hangover) * fps), 0)
        last = min(math.ceil((phoneme.end + hangover) * fps), frames)
        mask[first:last] = True
    return mask


def render_video(
    settings: Settings,
    portrait_path: Path,
    speech: Speech,
    output: Path,
    *,
    fps: int | None = None,
    size: int | None = None,
    seed: int = 0,
    crop: bool = False,
    progress: Progress | None = None,
    speech_seconds: float = 0.0,
) -> RenderSummary:
    """Animate the portrait to `speech` and write an H.264 + AAC MP4 that appears only when complete."""
    from talker.blas import use_one_thread
    from talker.face.motion import compose, motion_track
    from talker.face.portrait import create_analyzer
    from talker.face.renderer import Renderer
    from talker.face.visemes import mouth_track
    from talker.media.encoder_process import ProcessVideoWriter

    started = time.perf_counter()
    check_writable(output)
    fps = fps or settings.face.fps
    portrait = create_analyzer(settings).analyze(portrait_path, size or settings.face.max_size)
    renderer = Renderer(portrait)
    frames = max(1, math.ceil(speech.duration * fps))
    mouth = mouth_track(speech.phonemes, fps, frames)
    motion = motion_track(frames, fps, seed, speech.words, speaking_mask(speech.phonemes, fps, frames).tolist())
    poses = compose(mouth, motion)
    x0, y0, x1, y1 = face_crop(portrait.face_box, renderer.size) if crop else (0, 0, *renderer.size)
    width, height = x1 - x0, y1 - y0
    render_started = time.perf_counter()
    # The encoder runs in a child process, on the other core, while this one renders. OpenBLAS's own
    # thread pool (the spline's matrix product) would spin on that core too: one BLAS thread here.
    use_one_thread()
    with ProcessVideoWriter(
        output, width, height, fps, speech.sample_rate, crf=settings.face.crf, threads=1
    ) as writer:
        writer.write_audio(speech.samples)
        for done, pose in enumerate(poses, 1):
            writer.write_frame(np.ascontiguousarray(renderer.render(pose)[y0:y1, x0:x1]))
            if progress and (done % 10 == 0 or done == frames):
                progress("render", done, frames)
    rendered = time.perf_counter() - render_started
    return RenderSummary(output, speech.duration, frames, fps, width, height, speech.voice, portrait.faces_found,
                         speech_seconds, rendered,
                         time.perf_counter() - started + speech_seconds)
