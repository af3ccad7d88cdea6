"""`talker listen`: transcribe a file or the microphone, with timestamps."""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from talker.errors import BackendUnavailableError, InputError


def add_listen_command(commands: Any) -> None:
    """Register the `listen` subcommand on the CLI's subparsers."""
    listen = commands.add_parser("listen", help="transcribe speech (a file, or the microphone) with timestamps")
    listen.add_argument("audio", nargs="?", type=Path, help="audio file (WAV, FLAC, MP3, OGG, M4A…), any length")
    listen.add_argument("--mic", action="store_true", help="listen to the microphone until Ctrl-C")
    listen.add_argument("--language", choices=("zh", "en"), help="skip language detection")
    listen.add_argument("--model", choices=("whisper-base", "whisper-tiny-en"),
                        help="recogniser (default whisper-base; tiny-en is faster, English only)")
    listen.add_argument("--words", action="store_true", help="also print each word's timing")
    listen.add_argument("--json", type=Path, help="write the transcript with word timings as JSON")
    listen.add_argument("--seconds", type=float, help="with --mic: stop after this many seconds")
    listen.set_defaults(run=_run_listen)


def _run_listen(args: argparse.Namespace) -> int:
    from talker.cli import settings_from
    from talker.config import Settings

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    asr = settings.asr.model_copy(update={
        key: value for key, value in (("language", args.language), ("model", args.model)) if value})
    settings = settings.model_copy(update={"asr": asr})
    if args.mic == (args.audio is not None):
        raise InputError("give an audio file or --mic (one of them)")
    if args.json:
        from talker.media.files import check_writable

        check_writable(args.json)
    return _listen_microphone(settings, args) if args.mic else _listen_file(settings, args)


def _listen_file(settings: Any, args: argparse.Namespace) -> int:
    from talker.asr.streaming import open_transcriber
    from talker.media.audio_decode import audio_blocks, audio_duration

    path: Path = args.audio
    duration = audio_duration(path)  # also the first check that the file is audio at all
    transcriber = open_transcriber(settings, live=False)
    started = time.perf_counter()
    segments: list[dict[str, Any]] = []
    with _progress(duration) as progress:
        for event in _finals(transcriber, audio_blocks(path), progress):
            segments.append(_segment_json(event))
            progress.write(_line(event, args.words))
    elapsed = time.perf_counter() - started
    heard = transcriber.position
    if args.json:
        _write_json(args.json, path, heard, segments)
    if not segments:
        print(f"no speech found in {path} ({heard:.1f} s of audio, {elapsed:.1f} s)")
        return 0
    languages = ", ".join(sorted({s["language"] for s in segments}))
    written = f"; wrote {args.json}" if args.json else ""
    print(f"{len(segments)} segment{'s' * (len(segments) != 1)} ({languages}) from {_clock(heard)} of audio "
          f"in {elapsed:.1f} s (real-time factor {elapsed / max(heard, 1e-9):.3f}){written}")
    return 0


def _finals(transcriber: Any, blocks: Iterator[Any], progress: Any) -> Iterator[Any]:
    for block in blocks:
        for event in transcriber.feed(block):
            if event.kind == "final":
                yield event
        progress.update(len(block) / 16000)
    yield from (event for event in transcriber.finish() if event.kind == "final")


def _listen_microphone(settings: Any, args: argparse.Namespace) -> int:
    from talker.asr.streaming import open_transcriber

    stream_module = _sounddevice()
    transcriber = open_transcriber(settings, live=True)
    blocks: queue.Queue[Any] = queue.Queue()

    def on_audio(data: Any, frames: int, when: Any, status: Any) -> None:
        blocks.put(data[:, 0].copy())

    print("listening… (Ctrl-C to stop)", file=sys.stderr)
    started = time.monotonic()
    try:
        with stream_module.InputStream(samplerate=16000, channels=1, dtype="float32", blocksize=320,
                                       callback=on_audio):
            while args.seconds is None or time.monotonic() - started < args.seconds:
                for event in transcriber.feed(blocks.get()):
                    _show_live(event)
    except KeyboardInterrupt:
        pass
    finally:
        for event in transcriber.finish():
            _show_live(event)
        transcriber.close()
    return 0


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        raise BackendUnavailableError(
            f"no microphone support here ({error}): install PortAudio (apt-get install libportaudio2) "
            "and the asr extra (pip install 'talker[asr]'), or transcribe a file: talker listen FILE") from None
    try:
        sounddevice.query_devices(kind="input")
    except Exception as error:  # PortAudio reports a missing device in several ways
        raise BackendUnavailableError(f"no microphone found ({error}); plug one in, or transcribe a file") from None
    return sounddevice


def _show_live(event: Any) -> None:
    if event.kind == "partial":
        print(f"\r… {event.text}", end="", flush=True)
    elif event.kind == "final":
        print(f"\r{_line(event, False)}", flush=True)
    elif event.kind == "end_of_turn":
        print(f"⏎ end of turn ({event.reason}) after {event.time - event.end:.2f} s of silence", flush=True)


def _line(event: Any, words: bool) -> str:
    line = f"[{_clock(event.start)} → {_clock(event.end)}] {event.language}  {event.text}"
    if words and event.words:
        line += "\n" + "\n".join(f"    {_clock(w.start)} {_clock(w.end)}  {w.text}" for w in event.words)
    return line


def _segment_json(event: Any) -> dict[str, Any]:
    return {"start": round(event.start, 3), "end": round(event.end, 3), "language": event.language,
            "text": event.text, "words": [{"text": w.text, "start": w.start, "end": w.end} for w in event.words]}


def _write_json(target: Path, source: Path, duration: float, segments: list[dict[str, Any]]) -> None:
    from talker.media.files import atomic_output

    document = {"audio": str(source), "duration": round(duration, 3), "segments": segments,
                "text": " ".join(s["text"] for s in segments)}
    with atomic_output(target) as raw:
        raw.write(json.dumps(document, ensure_ascii=False, indent=1).encode())


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{rest:05.2f}" if hours else f"{minutes}:{rest:05.2f}"


@contextlib.contextmanager
def _progress(total: float | None) -> Iterator[Any]:
    """A progress bar in seconds of audio on a terminal for long files; plain printing otherwise."""
    from tqdm import tqdm

    quiet = total is None or total < 60 or not sys.stderr.isatty()
    with tqdm(total=total, unit="s", desc="listening", disable=quiet, file=sys.stderr,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}]") as bar:
        yield _Progress(bar, quiet)


class _Progress:
    def __init__(self, bar: Any, quiet: bool) -> None:
        self._bar = bar
        self._quiet = quiet

    def update(self, seconds: float) -> None:
        self._bar.update(seconds)

    def write(self, line: str) -> None:
        if self._quiet:
            print(line, flush=True)
        else:
            self._bar.write(line)
