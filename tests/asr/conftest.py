"""Speech for the ASR tests: real recordings (LibriVox, from Debian) and our own TTS with word timings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from talker.config import Settings

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
RATE = 16000


@dataclass(frozen=True)
class Recording:
    """A real utterance and what was said."""

    name: str
    audio: np.ndarray
    transcript: str


@dataclass(frozen=True)
class Utterance:
    """Synthesised speech with the time (s) each word starts, and where the speech really ends."""

    text: str
    audio: np.ndarray
    word_starts: tuple[float, ...]
    speech_end: float


@pytest.fixture(scope="session")
def librivox() -> list[Recording]:
    from talker.media.audio_decode import load_audio

    listing = LIBRIVOX / "transcription"
    if not listing.is_file():
        pytest.fail(f"{LIBRIVOX} is missing: run `make test` (it installs Debian's pocketsphinx-testdata)")
    recordings = []
    for line in listing.read_text().splitlines():
        words, _, name = line.rpartition("(")
        name = name.strip(") ")
        text = words.replace("<s>", "").replace("</s>", "").strip()
        recordings.append(Recording(name, load_audio(LIBRIVOX / f"{name}.wav"), text))
    return recordings


@pytest.fixture(scope="session")
def vad_model(settings: Settings):  # type: ignore[no-untyped-def]
    from talker.asr.vad import create

    return create(settings)


@pytest.fixture(scope="session")
def utterances(synthesizer) -> list[Utterance]:  # type: ignore[no-untyped-def]
    import soxr

    spoken = [
        ("我们明天早上九点在公司门口集合，然后一起坐车去机场。", "zf_xiaoxiao"),
        ("请把这份报告发给王经理，他下午需要看。", "zm_yunxi"),
        ("The meeting starts at nine tomorrow morning, so please bring the report.", "af_heart"),
        ("I would like to open a savings account for my daughter.", "am_adam"),
    ]
    out = []
    for text, voice in spoken:
        chunk = next(iter(synthesizer.stream(text, voice=voice)))
        audio = np.asarray(soxr.resample(chunk.samples, chunk.sample_rate, RATE), dtype=np.float32)
        out.append(Utterance(text, audio, tuple(w.start for w in chunk.words), chunk.phonemes[-1].end))
    return out


def level_db(audio: np.ndarray, at: float, span: float = 0.05) -> float:
    """Loudness (dBFS) of the audio around `at` seconds."""
    piece = audio[max(int((at - span) * RATE), 0):int((at + span) * RATE)]
    return float(20 * np.log10(np.sqrt(np.mean(np.square(piece))) + 1e-9)) if piece.size else -200.0
