"""`talker voice add|list|remove`: voice profiles from reference recordings."""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path
from typing import Any


def add_voice_commands(commands: Any) -> None:
    """Register the `voice` subcommand on the CLI's subparsers."""
    voice = commands.add_parser("voice", help="voice profiles: add a voice from a recording, list, remove")
    actions = voice.add_subparsers(title="actions", metavar="ACTION")
    voice.set_defaults(run=lambda args: _help(voice))

    add = actions.add_parser("add", help="store a voice from a 3–30 s recording of one person speaking")
    add.add_argument("name", help="what to call the voice (letters, digits, - and _; e.g. alice or 小美)")
    add.add_argument("sample", type=Path, help="the recording: WAV, FLAC, MP3, OGG, M4A… (converted as needed)")
    add.add_argument("--language", choices=("zh", "en"), help="what the recording speaks (default: detected)")
    add.add_argument("--backend", dest="clone_backend", choices=("blend", "sherpa", "http"),
                     help="blend: mix of the nearest built-in voices (default); sherpa or http: a zero-shot "
                          "clone model you supply")
    add.add_argument("--transcript", help="what the recording says (zero-shot backends need it; default: transcribed)")
    add.add_argument("--force", action="store_true", help="replace a stored voice of the same name")
    add.set_defaults(run=_run_add)

    listing = actions.add_parser("list", help="list the stored voices")
    listing.set_defaults(run=_run_list)

    remove = actions.add_parser("remove", help="delete stored voices")
    remove.add_argument("names", nargs="+", help="the voices to delete")
    remove.set_defaults(run=_run_remove)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _settings(args: argparse.Namespace) -> Any:
    from talker.cli import settings_from

    return settings_from(args)


def _run_add(args: argparse.Namespace) -> int:
    from talker.tts.enroll import add_voice

    settings = _settings(args)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        from tqdm import tqdm

        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, unit="voice" if stage == "stock voices" else "blend",
                               file=sys.stderr, leave=False)
        bars[stage].n = done
        bars[stage].refresh()

    try:
        enrollment = add_voice(settings, args.name, args.sample, language=args.language,
                               backend=args.clone_backend, force=args.force, transcript=args.transcript,
                               progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    profile, check, clone = enrollment.profile, enrollment.check, enrollment.profile.clone
    how = "given" if enrollment.language_probability is None else f"detected, {enrollment.language_probability:.0%}"
    print(f"stored voice {profile.name} ({profile.language}, {how}) in {profile.directory}")
    print(f"  reference   {profile.reference.source}: {check.duration:.1f} s, {check.speech_seconds:.1f} s of speech")
    if clone.nearest_voice is not None and clone.nearest_similarity is not None:
        print(f"  nearest     stock voice {clone.nearest_voice}: similarity {clone.nearest_similarity:.3f}")
    mix = " + ".join(f"{v} {w:.2f}" for v, w in zip(clone.voices, clone.weights, strict=True))
    result = f"{clone.similarity:.3f}" if clone.similarity is not None else "not measured"
    print(f"  {clone.backend:<11} {mix + ': ' if mix else ''}similarity {result}")
    if clone.note:
        print(f"  → {clone.note}")
    sample = "你好，很高兴认识你。" if profile.language == "zh" else "Hello, nice to meet you."
    print(f"  took {enrollment.seconds:.1f} s; try: talker say \"{sample}\" --voice {profile.name} -o hello.wav")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    from talker.tts.profiles import ProfileStore

    store = ProfileStore.for_settings(_settings(args))
    profiles = store.list()
    if not profiles:
        print(f"no stored voices in {store.directory}; add one with `talker voice add NAME sample.wav`")
        return 0
    rows = [("name", "lang", "backend", "similarity", "nearest stock", "reference", "added")]
    for profile in profiles:
        clone = profile.clone
        nearest = (f"{clone.nearest_voice} {clone.nearest_similarity:.3f}"
                   if clone.nearest_voice and clone.nearest_similarity is not None else "-")
        rows.append((profile.name, profile.language, clone.backend,
                     "-" if clone.similarity is None else f"{clone.similarity:.3f}", nearest,
                     f"{profile.reference.duration:.1f} s", profile.created[:10]))
    widths = [max(width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(pad(cell, columns) for cell, columns in zip(row, widths, strict=True)).rstrip())
    print(f"{len(profiles)} voice{'s' if len(profiles) != 1 else ''} in {store.directory}")
    return 0


def _run_remove(args: argparse.Namespace) -> int:
    from talker.tts.profiles import ProfileStore

    store = ProfileStore.for_settings(_settings(args))
    for name in args.names:
        print(f"removed voice {store.remove(name)}")
    return 0


def width(text: str) -> int:
    """Columns `text` takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, columns: int) -> str:
    """`text` padded with spaces to `columns` terminal columns."""
    return text + " " * (columns - width(text))
