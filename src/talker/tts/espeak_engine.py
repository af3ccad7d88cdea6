"""espeak-ng speech synthesis through ctypes: PCM audio plus word and phoneme timings.

The library comes from the ``espeakng-loader`` wheel. espeak-ng keeps process-global state and
``phonemizer`` (used by kokoro-onnx) drives the same library, so this module loads a private copy of
the shared object and serialises every call into it with one process-wide lock.
"""

from __future__ import annotations

import atexit
import ctypes
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from talker.errors import BackendUnavailableError

EventKind = Literal["word", "sentence", "phoneme", "end"]

# Values from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_EE_NOT_FOUND = 2
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_KINDS: dict[int, EventKind] = {1: "word", 2: "sentence", 5: "end", 6: "end", 7: "phoneme"}
_EVENT_PHONEME = 7
_EVENT_MSG_TERMINATED = 6
# Stress marks espeak prefixes to a vowel's mnemonic in phoneme events: primary, secondary, unstressed.
_STRESS_MARKS = "',%"

RATE_RANGE = (80, 450)
# From 450 wpm espeak-ng switches to its sonic speed-up, whose event times drift from the audio.
_RATE_EXACT_TIMING_MAX = 449
PITCH_RANGE = (0, 100)
VOLUME_RANGE = (0, 200)

# One lock for every call into any espeak-ng instance we own; the library is not thread-safe.
_LOCK = threading.Lock()


class _EventId(ctypes.Union):
    _fields_ = (
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_ubyte * 8),
    )


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


class _Voice(ctypes.Structure):
    _fields_ = (
        ("name", ctypes.c_char_p),
        # A packed list of (priority byte, NUL-terminated language) pairs, so not a c_char_p.
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class EspeakEvent:
    """One timing event of an utterance."""

    kind: EventKind
    time: float  # seconds from start of this utterance
    text_position: int  # 0-based character offset into the synthesised text
    length: int  # characters covered (words); 0 where espeak gives none
    phoneme: str  # the espeak phoneme mnemonic for phoneme events ("" otherwise)


@dataclass(frozen=True)
class EspeakResult:
    """Synthesised audio and its events."""

    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int
    events: tuple[EspeakEvent, ...]

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass
class _Capture:
    chunks: list[bytes] = field(default_factory=list)
    # (type, text_position, length, audio_position_ms, phoneme bytes)
    events: list[tuple[int, int, int, int, bytes]] = field(default_factory=list)
    error: BaseException | None = None


class _Library:
    """A private, initialised copy of libespeak-ng. Use only while holding ``_LOCK``."""

    def __init__(self, library_path: Path, data_path: Path, buffer_ms: int) -> None:
        self._tmpdir = Path(tempfile.mkdtemp(prefix="talker-espeak-"))
        atexit.register(shutil.rmtree, self._tmpdir, True)
        # A distinct file (new inode) makes the dynamic loader map an independent instance with its own
        # globals, so phonemizer's instance of the same library is untouched.
        copy = self._tmpdir / library_path.name
        shutil.copy2(library_path, copy)
        lib = ctypes.CDLL(str(copy), mode=ctypes.RTLD_LOCAL)
        self._declare(lib)
        rate = int(
            lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, str(data_path).encode(), _INITIALIZE_PHONEME_EVENTS
            )
        )
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise with data at {data_path}")
        self.lib = lib
        self.sample_rate = rate
        self.voice: str | None = None
        self.capture: _Capture | None = None
        self._callback = _SynthCallback(self._on_synth)  # kept referenced for the library's lifetime
        lib.espeak_SetSynthCallback(self._callback)

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = (_SynthCallback,)
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = (
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        )
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = ()
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = (ctypes.c_void_p,)
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))

    def _on_synth(
        self, wav: ctypes._Pointer[ctypes.c_short], count: int, events: ctypes._Pointer[_Event]
    ) -> int:
        capture = self.capture
        if capture is None:
            return 0
        try:
            if wav and count > 0:
                capture.chunks.append(ctypes.string_at(wav, count * ctypes.sizeof(ctypes.c_short)))
            if events:
                i = 0
                while (event := events[i]).type != _EVENT_LIST_TERMINATED:
                    raw = bytes(event.id.string) if event.type == _EVENT_PHONEME else b""
                    capture.events.append(
                        (event.type, event.text_position, event.length, event.audio_position, raw)
                    )
                    i += 1
        except BaseException as exc:  # an exception must not unwind through C; report it after Synth
            capture.error = exc
            return 1
        return 0


_libraries: dict[tuple[Path, Path, int], _Library] = {}


def _default_paths() -> tuple[Path, Path]:
    try:
        import espeakng_loader
    except ImportError as exc:
        raise BackendUnavailableError(
            "espeak-ng is not available: install the 'espeakng-loader' package (pip install 'talker[tts]')."
        ) from exc
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def _languages(address: int | None) -> list[str]:
    """Decode a voice's packed language list: (priority byte, NUL-terminated name)*, then a zero byte."""
    languages: list[str] = []
    while address and ctypes.string_at(address, 1) != b"\0":
        name = ctypes.string_at(address + 1)
        languages.append(name.decode("utf-8", errors="replace"))
        address += len(name) + 2
    return languages


def _decode_phoneme(raw: bytes) -> str:
    # The 8-byte field is NUL-terminated unless the mnemonic fills it.
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def _check_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= value <= high:
        raise ValueError(f"{name} must be within {low}..{high}, got {value}")


class EspeakEngine:
    """Synthesises speech with espeak-ng, loaded lazily on first use.

    Engines with the same library, data and buffer settings share one private library instance.
    """

    def __init__(
        self,
        library_path: str | Path | None = None,
        data_path: str | Path | None = None,
        buffer_ms: int = 100,
    ) -> None:
        self._library_path = Path(library_path) if library_path is not None else None
        self._data_path = Path(data_path) if data_path is not None else None
        self._buffer_ms = buffer_ms
        self._library: _Library | None = None

    def _lib(self) -> _Library:
        """Return the initialised library; the caller must hold ``_LOCK``."""
        if self._library is None:
            lib_path, data_path = self._library_path, self._data_path
            if lib_path is None or data_path is None:
                default_lib, default_data = _default_paths()
                lib_path = lib_path or default_lib
                data_path = data_path or default_data
            key = (lib_path.resolve(), data_path.resolve(), self._buffer_ms)
            if key not in _libraries:
                _libraries[key] = _Library(key[0], key[1], self._buffer_ms)
            self._library = _libraries[key]
        return self._library

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz, as reported by ``espeak_Initialize``."""
        with _LOCK:
            return self._lib().sample_rate

    def voices(self) -> list[str]:
        """Language codes of the installed voices (e.g. ``"en-us"``, ``"cmn-latn-pinyin"``), sorted.

        Each is a valid ``voice`` for :meth:`synthesize`.
        """
        names: set[str] = set()
        with _LOCK:
            listing = self._lib().lib.espeak_ListVoices(None)
            i = 0
            while listing[i]:
                names.update(_languages(listing[i].contents.languages))
                i += 1
        return sorted(names)

    def synthesize(
        self, text: str, voice: str = "en-us", rate_wpm: int = 175, pitch: int = 50, volume: int = 100
    ) -> EspeakResult:
        """Speak ``text`` (UTF-8, no SSML) and return the audio with word, sentence and phoneme events.

        Chinese is spoken with voice ``"cmn-latn-pinyin"`` from tone-numbered pinyin, e.g. ``"ni3 hao3 ."``.
        Raises ``ValueError`` for an unknown voice or an out-of-range parameter.
        """
        _check_range("rate_wpm", rate_wpm, RATE_RANGE)
        _check_range("pitch", pitch, PITCH_RANGE)
        _check_range("volume", volume, VOLUME_RANGE)
        data = text.replace("\0", " ").encode("utf-8") + b"\0"
        with _LOCK:
            library = self._lib()
            lib = library.lib
            if voice != library.voice:
                library.voice = None
                status = int(lib.espeak_SetVoiceByName(voice.encode("utf-8")))
                if status == _EE_NOT_FOUND:
                    raise ValueError(
                        f"unknown espeak-ng voice {voice!r}; use one of EspeakEngine().voices(), "
                        "e.g. 'en-us' or 'cmn-latn-pinyin'"
                    )
                if status != _EE_OK:
                    raise RuntimeError(f"espeak-ng failed to load voice {voice!r} (status {status})")
                library.voice = voice
            rate = min(rate_wpm, _RATE_EXACT_TIMING_MAX)
            for parameter, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_VOLUME, volume)):
                if int(lib.espeak_SetParameter(parameter, value, 0)) != _EE_OK:
                    raise RuntimeError(f"espeak-ng rejected parameter {parameter}={value}")
            capture = _Capture()
            library.capture = capture
            try:
                status = int(lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None))
                if status == _EE_OK:
                    status = int(lib.espeak_Synchronize())
            finally:
                library.capture = None
            sample_rate = library.sample_rate
        if capture.error is not None:
            raise RuntimeError("espeak-ng synthesis callback failed") from capture.error
        if status != _EE_OK:
            raise RuntimeError(f"espeak-ng synthesis failed with status {status}")
        pcm = np.frombuffer(b"".join(capture.chunks), dtype=np.int16)
        samples = pcm.astype(np.float32) / np.float32(32768.0)
        duration_ms = 1000.0 * len(samples) / sample_rate
        return EspeakResult(
            samples=samples,
            sample_rate=sample_rate,
            events=_convert_events(capture.events, len(text), duration_ms),
        )


def _convert_events(
    raw: list[tuple[int, int, int, int, bytes]], text_length: int, duration_ms: float
) -> tuple[EspeakEvent, ...]:
    events: list[EspeakEvent] = []
    for kind_code, position, length, audio_ms, phoneme in raw:
        kind = _EVENT_KINDS.get(kind_code)
        if kind is None:
            continue
        # espeak counts characters from 1; MSG_TERMINATED carries no position.
        offset = min(max(position - 1, 0), text_length) if kind_code != _EVENT_MSG_TERMINATED else text_length
        time = min(max(audio_ms, 0), duration_ms) / 1000.0
        events.append(
            EspeakEvent(
                kind=kind,
                time=time,
                text_position=offset,
                length=max(length, 0),
                phoneme=_decode_phoneme(phoneme),
            )
        )
    return tuple(events)


def is_pause(phoneme: str) -> bool:
    """True for espeak's pause and boundary mnemonics (``_``, ``_:``, ``_!``, ``_|`` ...): no sound."""
    return not phoneme or phoneme.startswith("_")


def base_phoneme(phoneme: str) -> str:
    """The mnemonic without its leading stress mark (``"'oU"`` -> ``"oU"``, ``",V"`` -> ``"V"``)."""
    return phoneme.lstrip(_STRESS_MARKS)


def phonemes_of(result: EspeakResult) -> list[tuple[str, float, float]]:
    """Turn phoneme events into ``(phoneme, start, end)`` spans in seconds, pauses dropped.

    A phoneme ends where the next phoneme, word or end event starts (the end of the audio for the last
    one); pauses leave gaps between spans.
    """
    audio_end = result.duration
    boundaries = [e for e in result.events if e.kind in ("phoneme", "word", "end")]
    spans: list[tuple[str, float, float]] = []
    for i, event in enumerate(boundaries):
        if event.kind != "phoneme" or is_pause(event.phoneme):
            continue
        end = next((later.time for later in boundaries[i + 1 :] if later.time > event.time), audio_end)
        start = min(event.time, audio_end)
        spans.append((event.phoneme, start, max(min(end, audio_end), start)))
    return spans
