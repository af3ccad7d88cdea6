"""The `talker` command line. Heavy libraries are imported only by the subcommand that needs them."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from talker import __version__
from talker.errors import InputError, TalkerError

_READ_BLOCK = 4096


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 3 missing model or backend)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
        return code
    except TalkerError as error:
        print(f"talker: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("talker: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`talker listen … | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("TALKER_DEBUG"):
            raise
        print(f"talker: internal error: {type(error).__name__}: {error} (TALKER_DEBUG=1 shows details)",
              file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="talker",
        description="One portrait photo becomes an offline digital human that listens, thinks, speaks and moves.",
    )
    parser.add_argument("--version", action="version", version=f"talker {__version__}")
    parser.add_argument("--models-dir", type=Path, help="where assembled models live (env TALKER_MODELS_DIR)")
    parser.add_argument("--threads", type=int, help="CPU threads per model (env TALKER_THREADS)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    models = commands.add_parser("models", help="list, assemble or verify the offline model kit")
    models.add_argument("action", nargs="?", choices=("list", "install", "verify"), default="list")
    models.add_argument("names", nargs="*", help="models to act on (default: all)")
    models.add_argument("--force", action="store_true", help="re-assemble even if ready")
    models.add_argument("--quiet", action="store_true", help="print only when something changed or is missing")
    models.set_defaults(run=_run_models)

    say = commands.add_parser("say", help="speak text into a WAV file, with phoneme timings")
    say.add_argument("text", nargs="?", help="the text to speak (or use --text-file)")
    say.add_argument("-o", "--output", type=Path, required=True, help="WAV file to write")
    say.add_argument("--text-file", type=Path, help="read the text from this UTF-8 file ('-' for stdin)")
    say.add_argument("--timings", type=Path, help="also write sentence/word/phoneme timings as JSON")
    add_voice_options(say)
    say.set_defaults(run=_run_say)

    video = commands.add_parser("video", help="animate a portrait speaking a script (or recorded speech) into an MP4")
    video.add_argument("--portrait", type=Path, required=True, help="photo with a face (JPEG, PNG, WebP)")
    video.add_argument("--text", help="the script to speak")
    video.add_argument("--text-file", type=Path, help="read the script from this UTF-8 file ('-' for stdin)")
    video.add_argument("--audio", type=Path, help="speech to lip-sync instead of a script (any audio format; "
                       "timings are recognised from it unless --timings is given)")
    video.add_argument("--timings", type=Path, help="timings JSON of --audio, as `talker say --timings` writes")
    video.add_argument("-o", "--output", type=Path, required=True, help="MP4 file to write")
    video.add_argument("--fps", type=int, help="frames per second (default 25)")
    video.add_argument("--size", type=int, help="longest side of the video in pixels (default: the photo's, ≤ 1024)")
    video.add_argument("--seed", type=int, default=0, help="seed for blinks and head motion (same seed, same video)")
    video.add_argument("--crop", action="store_true", help="a square video around the head instead of the whole photo")
    add_voice_options(video)
    video.set_defaults(run=_run_video)

    chat = commands.add_parser("chat", help="text chat with the assistant in the terminal (streaming)")
    chat.add_argument("--kb", type=Path, help="a folder of documents (txt, md, pdf, docx, html) to answer from")
    chat.add_argument("--persona", type=Path, help="persona file (YAML or TOML), see docs/personas/")
    chat.add_argument("--llm", choices=("local", "openai", "echo"), help="LLM backend (default local)")
    chat.add_argument("--base-url", help="OpenAI-compatible endpoint for --llm openai, e.g. http://127.0.0.1:8080/v1")
    chat.add_argument("--model", help="model name for --llm openai")
    chat.add_argument("--api-key", help="API key for --llm openai (or TALKER_LLM__API_KEY)")
    chat.add_argument("--session", help="continue this session id (printed when a chat starts)")
    chat.set_defaults(run=_run_chat)

    kb = commands.add_parser("kb", help="the knowledge base: add documents and FAQs, list, search, remove")
    kb.add_argument("action", choices=("add", "list", "search", "remove", "faq"))
    kb.add_argument("args", nargs="*", help="add: files or folders; search: the query; remove: ids; faq: FAQ files")
    kb.set_defaults(run=_run_kb)

    voices = commands.add_parser("voices", help="list the voices, with language and gender")
    voices.add_argument("--language", help="only voices of this language (zh, en, …)")
    voices.add_argument("--backend", choices=("kokoro", "espeak"), help="only this backend's voices")
    voices.set_defaults(run=_run_voices)

    from talker.cli_listen import add_listen_command
    from talker.cli_server import add_server_commands
    from talker.cli_voice import add_voice_commands

    add_listen_command(commands)
    add_voice_commands(commands)
    add_server_commands(commands)
    return parser


def add_voice_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--voice", help="voice id or stored voice name (see `talker voices`); "
                                        "default: by the text's language")
    parser.add_argument("--backend", choices=("auto", "kokoro", "espeak"), help="TTS backend (default auto)")
    parser.add_argument("--speed", type=float, help="speaking rate, 0.5–2.0 (default 1.0)")
    parser.add_argument("--pitch", type=float, help="pitch shift in semitones, -6…+6 (default 0)")
    parser.add_argument("--volume", type=float, help="volume gain, 0–2 (default 1.0)")


def settings_from(args: argparse.Namespace) -> object:
    """The Settings that the environment and the global and voice flags of `args` describe."""
    from talker.config import Settings

    overrides: dict[str, object] = {}
    if args.models_dir:
        overrides["models_dir"] = args.models_dir
    if args.threads:
        overrides["threads"] = args.threads
    settings = Settings(**overrides)  # type: ignore[arg-type]
    tts = settings.tts
    for field in ("backend", "speed", "pitch", "volume"):
        value = getattr(args, field, None)
        if value is not None:
            tts = tts.model_copy(update={field: value})
    return settings.model_copy(update={"tts": tts})


def _run_models(args: argparse.Namespace) -> int:
    from talker.config import Settings
    from talker.models.kit import ModelKit

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    kit = ModelKit(settings.models_dir)
    names = args.names or None
    if args.action == "install":
        started = time.perf_counter()
        steps: list[str] = []

        def report(spec: object, step: str) -> None:
            steps.append(step)
            print(f"  {step} {getattr(spec, 'name', spec)} …", file=sys.stderr)

        results = kit.install(names, force=args.force, on_step=report)
        ready = all(r.ready for r in results)
        if steps or not ready or not args.quiet:
            _print_models(results, sys.stdout)
            print(f"model dir: {settings.models_dir} ({time.perf_counter() - started:.1f} s)")
        return 0 if ready else 3
    from talker.models.catalog import CATALOG

    statuses = [kit.status(m.name, verify=args.action == "verify") for m in CATALOG if not names or m.name in names]
    _print_models(statuses, sys.stdout)
    print(f"model dir: {settings.models_dir}")
    return 0 if all(s.ready for s in statuses) else 3


def _print_models(statuses: Sequence[object], out: TextIO) -> None:
    from talker.models.kit import ModelStatus

    print(f"{'model':<15} {'stage':<5} {'size':>8}  {'license':<11} {'state':<16} sources", file=out)
    for status in statuses:
        assert isinstance(status, ModelStatus)
        spec = status.spec
        sources = ", ".join(f"{s.package}" for s in spec.sources[:2]) + (" …" if len(spec.sources) > 2 else "")
        print(f"{spec.name:<15} {spec.stage:<5} {spec.size / 1e6:6.1f} MB  {spec.license:<11} "
              f"{status.state:<16} {sources}", file=out)
        if status.detail:
            print(f"{'':<15} → {status.detail}", file=out)


def _text_source(args: argparse.Namespace) -> tuple[Iterator[str], int]:
    """The text to speak as lazily read pieces, with its approximate length for the progress bar."""
    if args.text is not None and args.text_file is not None:
        raise InputError("give the text or --text-file, not both")
    if args.text is not None:
        return iter((args.text,)), len(args.text)
    if args.text_file is None:
        raise InputError("nothing to say: give the text, or --text-file FILE")
    if str(args.text_file) == "-":
        return _read_blocks(sys.stdin), 0
    if not args.text_file.is_file():
        raise InputError(f"text file {args.text_file} does not exist")
    size = args.text_file.stat().st_size
    return _read_blocks(args.text_file.open(encoding="utf-8")), size // 2


def _read_blocks(stream: TextIO) -> Iterator[str]:
    try:
        with stream:
            while block := stream.read(_READ_BLOCK):
                yield block
    except UnicodeDecodeError as error:
        raise InputError(f"the text file is not UTF-8 text ({error.reason} at byte {error.start})") from None


def _run_say(args: argparse.Namespace) -> int:
    from talker.config import Settings
    from talker.media.audio import wav_writer
    from talker.media.files import check_writable
    from talker.media.timings import timings_writer
    from talker.tts.synthesizer import Synthesizer

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    check_writable(args.output)
    if args.timings:
        check_writable(args.timings)
    pieces, total = _text_source(args)
    started = time.perf_counter()
    chunks = Synthesizer(settings).stream(pieces, voice=args.voice)
    first = next(chunks)
    first_audio = time.perf_counter() - started
    with contextlib.ExitStack() as stack:
        wav = stack.enter_context(wav_writer(args.output, first.sample_rate))
        timing = stack.enter_context(timings_writer(args.timings, first.sample_rate, first.voice)) \
            if args.timings else None
        progress = stack.enter_context(_progress(total))
        for chunk in itertools.chain((first,), chunks):
            wav.write_at(chunk.samples, chunk.sample_rate, chunk.pts)
            if timing is not None:
                timing.add(chunk)
            progress.update(len(chunk.text))
        duration = wav.duration
    elapsed = time.perf_counter() - started
    extra = f" and {args.timings}" if args.timings else ""
    print(f"wrote {args.output}{extra}: {duration:.2f} s of speech, voice {first.voice}, "
          f"{first.sample_rate} Hz, in {elapsed:.2f} s (real-time factor {elapsed / max(duration, 1e-9):.3f}, "
          f"first audio after {first_audio:.2f} s)")
    return 0


def _progress(total: int, unit: str = "char", desc: str = "speaking") -> Any:
    """A progress bar for long work on a terminal; a silent one otherwise."""
    from tqdm import tqdm

    quiet = total < 500 or not sys.stderr.isatty()
    return tqdm(total=total or None, unit=unit, desc=desc, file=sys.stderr, leave=False, disable=quiet)


def _run_video(args: argparse.Namespace) -> int:
    from talker.config import Settings
    from talker.explainer import load_speech, render_video, speech_from_audio, synthesize_speech
    from talker.media.files import check_writable
    from talker.tts.base import Prosody

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    sources = [name for name in ("text", "text_file", "audio") if getattr(args, name) is not None]
    if len(sources) != 1:
        raise InputError("give exactly one of --text, --text-file or --audio")
    if args.fps is not None and not 10 <= args.fps <= 60:
        raise InputError(f"--fps {args.fps} is out of range: use 10 to 60")
    if args.size is not None and not 128 <= args.size <= 4096:
        raise InputError(f"--size {args.size} is out of range: use 128 to 4096 pixels")
    if not args.portrait.is_file():
        raise InputError(f"portrait {args.portrait} does not exist")
    check_writable(args.output)
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = _progress(total if stage == "speech" else max(total, 500), unit="char" if stage == "speech"
                                    else "frame", desc="speaking" if stage == "speech" else "rendering")
        bars[stage].total = total
        bars[stage].n = done
        bars[stage].refresh()

    started = time.perf_counter()
    if args.audio is not None and args.timings is not None:
        speech = load_speech(args.audio, args.timings)
    elif args.audio is not None:
        speech = speech_from_audio(settings, args.audio)
    else:
        pieces, total = _text_source(args)
        tts = settings.tts
        speech = synthesize_speech(settings, pieces, args.voice, Prosody(tts.speed, tts.pitch, tts.volume),
                                   progress, total)
    speech_seconds = time.perf_counter() - started
    try:
        summary = render_video(settings, args.portrait, speech, args.output, fps=args.fps, size=args.size,
                               seed=args.seed, crop=args.crop, progress=progress, speech_seconds=speech_seconds)
    finally:
        for bar in bars.values():
            bar.close()
    voice = f", voice {summary.voice}" if summary.voice else ""
    if summary.faces_found > 1:
        print(f"note: the photo shows {summary.faces_found} faces; the largest one speaks", file=sys.stderr)
    print(f"wrote {summary.output}: {summary.duration:.2f} s, {summary.width}×{summary.height} at "
          f"{summary.fps} fps{voice}; speech {summary.speech_seconds:.1f} s, "
          f"render {summary.frames} frames at {summary.render_fps:.0f} fps, total {summary.total_seconds:.1f} s")
    return 0


def _knowledge(settings: object) -> Any:
    """The user's knowledge base, with sentence embeddings when the MiniLM model is assembled."""
    from talker.dialogue.embeddings import create_embedder
    from talker.dialogue.knowledge import KnowledgeBase
    from talker.errors import ModelMissingError

    directory = settings.data_dir  # type: ignore[attr-defined]
    directory.mkdir(parents=True, exist_ok=True)
    try:
        embedder = create_embedder(settings)
    except ModelMissingError:
        embedder = None  # BM25 alone still works
    return KnowledgeBase(directory / "knowledge.sqlite", embedder=embedder)


def _documents(paths: Sequence[Path]) -> list[Path]:
    from talker.dialogue.ingest import supported_extensions

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in supported_extensions())
        elif path.exists():
            found.append(path)
        else:
            raise InputError(f"{path} does not exist")
    return found


def _run_kb(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    with _knowledge(settings) as base:
        if args.action == "add":
            if not args.args:
                raise InputError("give the files or folders to add")
            for path in _documents([Path(a) for a in args.args]):
                info = base.add(path)
                print(f"{info.id:>4}  {info.title}  ({info.chunks} chunks, {path})")
            base.index_vectors()
        elif args.action == "faq":
            for path in [Path(a) for a in args.args]:
                print(f"{len(base.import_faq(path))} questions from {path}")
        elif args.action == "list":
            for info in base.list():
                print(f"{info.id:>4}  {info.title}  ({info.kind}, {info.chunks} chunks, {info.source})")
            stats = base.stats()
            print(f"{stats.documents} documents, {stats.chunks} chunks, {stats.faqs} FAQ answers")
        elif args.action == "search":
            if not args.args:
                raise InputError("give the search query")
            for hit in base.search(" ".join(args.args)):
                where = f"{hit.title} § {hit.heading}" if hit.heading else hit.title
                print(f"[{hit.score:.2f}] {where}: {' '.join(hit.text.split())[:160]}")
        else:
            for doc_id in args.args:
                base.remove(int(doc_id))
                print(f"removed {doc_id}")
    return 0


def _run_chat(args: argparse.Namespace) -> int:
    import asyncio

    from talker.config import Settings
    from talker.dialogue.engine import DialogueEngine
    from talker.dialogue.memory import MemoryStore
    from talker.dialogue.persona import DEFAULT_PERSONA, load_persona
    from talker.registry import factory

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    llm_settings = settings.llm.model_copy(update={k: v for k, v in {
        "backend": args.llm, "base_url": args.base_url, "model": args.model, "api_key": args.api_key}.items() if v})
    settings = settings.model_copy(update={"llm": llm_settings})
    persona = load_persona(args.persona) if args.persona else DEFAULT_PERSONA
    llm = factory(f"llm.{settings.llm.backend}")(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with MemoryStore(settings.data_dir / "memory.sqlite") as memory, _knowledge(settings) as base:
        if args.kb:
            for path in _documents([args.kb]):
                base.add(path)
            base.index_vectors()
        session = args.session or memory.create_session(owner="cli")
        memory.session(session)  # an unknown --session is a clear error, not a new session
        engine = DialogueEngine(llm, memory, persona, base, settings.llm.history_tokens)
        interactive = sys.stdin.isatty()
        if interactive:
            print(f"{persona.name}: {persona.greeting}  (session {session}; Ctrl-C stops an answer, Ctrl-D quits)")
        for line in sys.stdin:
            if not line.strip():
                continue
            reply = engine.ask(session, line)
            shown = asyncio.run(_show_reply(reply, persona.name))
            reply.finish(heard_chars=shown)
            if reply.citations:
                sources = "; ".join(f"{c.title}" + (f" § {c.heading}" if c.heading else "") for c in reply.citations)
                print(f"   [{reply.via}: {sources}]")
    return 0


async def _show_reply(reply: Any, name: str) -> int:
    """Print the answer as it streams; Ctrl-C stops it. Returns how many characters were shown."""
    print(f"{name}: ", end="", flush=True)
    shown = 0
    try:
        async for _ in reply.pieces():
            print(reply.text[shown:], end="", flush=True)  # the reply joins pieces as they read
            shown = len(reply.text)
    except KeyboardInterrupt:
        reply.cancel()
        print(" [stopped]", end="")
    print()
    return shown


def _run_voices(args: argparse.Namespace) -> int:
    from talker.cli_voice import pad
    from talker.config import Settings
    from talker.tts.profiles import ProfileStore
    from talker.tts.synthesizer import Synthesizer

    settings = settings_from(args)
    assert isinstance(settings, Settings)
    synthesizer = Synthesizer(settings)
    backends = (args.backend,) if args.backend else ("kokoro", "espeak")
    voices = [v for v in synthesizer.voices(backends)
              if not args.language or v.language.startswith(args.language.lower())]
    profiles = [p.voice() for p in ProfileStore.for_settings(settings).list()
                if (not args.language or p.language.startswith(args.language.lower()))
                and (not args.backend or p.speaks_with == args.backend)]
    if not voices and not profiles:
        raise InputError("no voices match; `talker voices` without filters lists them all")
    print(f"{'voice':<16} {'language':<8} {'gender':<7} backend")
    for voice in voices:
        print(f"{voice.id:<16} {voice.language:<8} {voice.gender:<7} {voice.backend}")
    for voice in profiles:  # stored profiles (`talker voice add`)
        print(f"{pad(voice.id, 16)} {voice.language:<8} {voice.gender:<7} {voice.backend}, {voice.description}")
    return 0
