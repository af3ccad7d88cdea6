"""Reference recordings for voice profiles: checked (length, speech, clipping) and normalised.

A clone is only as good as its reference, so a bad one is refused with what is wrong and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talker.errors import InputError

SAMPLE_RATE = 16000
MIN_SECONDS = 3.0
MAX_SECONDS = 30.0
MIN_SPEECH_SECONDS = 2.0
_FRAME = SAMPLE_RATE // 50  # 20 ms
_SPEECH_BELOW_PEAK_DB = 30.0  # a frame within 30 dB of the loudest one counts as speech
_SILENCE_DBFS = -50.0  # a recording whose loudest frame is quieter than this holds nothing
_FLOOR_DBFS = -70.0  # frames below this are never speech (dither, digital noise)
_MIN_SPREAD_DB = 2.5  # speech rises and falls by syllable (~6–8 dB spread); a tone or hum stays level
_NEAR_PEAK = 0.85
_MAX_NEAR_PEAK = 0.002  # speech reaches near its peak in under 0.1 % of samples; clipping piles them up
_TARGET_RMS = 0.1  # speech level the reference is normalised to (-20 dBFS)
_PEAK_CEILING = 0.95
_MARGIN_SECONDS = 0.2  # silence kept before the first and after the last speech frame
_ADVICE = "record 3–30 s of one person speaking clearly, in a quiet room"


@dataclass(frozen=True)
class ReferenceCheck:
    """What the checks measured on a usable reference."""

    duration: float
    speech_seconds: float
    peak: float
    clipped_fraction: float


def load_reference(path: Path) -> np.ndarray:
    """The file as 16 kHz mono float32 (any format, bit depth, channel count or rate); over 30 s is refused."""
    from talker.media.audio_decode import audio_blocks

    blocks: list[np.ndarray] = []
    total = 0
    for block in audio_blocks(path, SAMPLE_RATE):
        blocks.append(block)
        total += block.size
        if total > (MAX_SECONDS + 0.5) * SAMPLE_RATE:  # half a second of grace for trailing room tone
            raise InputError(f"{path} is longer than {MAX_SECONDS:g} s; cut a 3–30 s stretch of one person speaking")
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def check_reference(samples: np.ndarray, source: str = "the reference") -> ReferenceCheck:
    """Raise InputError unless `samples` (16 kHz mono) are 3–30 s, hold ≥ 2 s of speech and are not clipped.

    Speech is told from silence by level (frames within 30 dB of the loudest) and from a steady tone or
    hum by how much that level varies."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    duration = samples.size / SAMPLE_RATE
    if samples.size == 0:
        raise InputError(f"{source} holds no audio (0 s); {_ADVICE}")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{source} holds invalid samples (NaN or infinity); export it again as WAV")
    if duration < MIN_SECONDS:
        raise InputError(f"{source} is only {duration:.1f} s long; {_ADVICE}")
    if duration > MAX_SECONDS + 0.5:
        raise InputError(f"{source} is {duration:.1f} s long, over {MAX_SECONDS:g} s; cut a 3–30 s stretch of it")
    energy = frame_rms(samples)
    loudest = float(energy.max())
    if loudest <= 10 ** (_SILENCE_DBFS / 20):
        raise InputError(f"{source} is silent (loudest moment {_dbfs(loudest):.0f} dBFS); "
                         f"check the microphone and {_ADVICE}")
    speech_seconds = float(np.count_nonzero(speech_frames(energy))) * _FRAME / SAMPLE_RATE
    if speech_seconds < MIN_SPEECH_SECONDS:
        raise InputError(f"{source} holds only {speech_seconds:.1f} s of speech in {duration:.1f} s "
                         f"(the rest is silence or much quieter); {_ADVICE}")
    levels = 20 * np.log10(energy[speech_frames(energy)])
    if float(levels.std()) < _MIN_SPREAD_DB:
        raise InputError(f"{source} sounds like a steady tone or noise, not speech (its level hardly varies); "
                         f"{_ADVICE}")
    # Measured against the recording's own peak, not full scale: decoding mixes stereo down and resamples,
    # which moves a clipped plateau off ±1 but cannot undo the pile-up of samples at the top.
    magnitude = np.abs(samples)
    peak = float(magnitude.max())
    clipped = float(np.count_nonzero(magnitude >= _NEAR_PEAK * peak)) / samples.size
    if clipped > _MAX_NEAR_PEAK:
        raise InputError(f"{source} is clipped ({clipped:.1%} of samples flattened at its loudest level, so the "
                         "voice is distorted); record again with the input gain lower")
    return ReferenceCheck(duration, speech_seconds, peak, clipped)


def normalise_reference(samples: np.ndarray) -> np.ndarray:
    """Trim the silence at both ends (keeping a short margin) and bring speech to a common level.

    The speaker encoder's features are log power, so a quiet recording shifts them all; a common
    level makes a whispered-quiet reference and a loud one comparable with the stock voices.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    energy = frame_rms(samples)
    speech = np.flatnonzero(speech_frames(energy))
    if speech.size == 0:
        return samples.copy()
    margin = int(_MARGIN_SECONDS * SAMPLE_RATE)
    start = max(int(speech[0]) * _FRAME - margin, 0)
    stop = min((int(speech[-1]) + 1) * _FRAME + margin, samples.size)
    return normalise_level(samples[start:stop])


def normalise_level(samples: np.ndarray) -> np.ndarray:
    """Scale so the speech frames' RMS is -20 dBFS, without letting the peak exceed 0.95."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    energy = frame_rms(samples)
    speech = energy[speech_frames(energy)]
    if speech.size == 0:
        return samples.copy()
    level = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64))))
    peak = float(np.abs(samples).max())
    gain = min(_TARGET_RMS / max(level, 1e-9), _PEAK_CEILING / max(peak, 1e-9))
    return (samples * gain).astype(np.float32)


def frame_rms(samples: np.ndarray) -> np.ndarray:
    """RMS of each 20 ms frame (the last partial frame dropped; one frame for shorter input)."""
    count = max(samples.size // _FRAME, 1)
    padded = np.zeros(count * _FRAME, dtype=np.float64)
    usable = min(samples.size, padded.size)
    padded[:usable] = samples[:usable]
    return np.asarray(np.sqrt(np.mean(np.square(padded.reshape(count, _FRAME)), axis=1)))


def speech_frames(energy: np.ndarray) -> np.ndarray:
    """Frames loud enough to be speech: within 30 dB of the loudest and above -70 dBFS."""
    if energy.size == 0:
        return np.zeros(0, dtype=bool)
    floor = max(float(energy.max()) * 10 ** (-_SPEECH_BELOW_PEAK_DB / 20), 10 ** (_FLOOR_DBFS / 20))
    return np.asarray(energy > floor)


def _dbfs(level: float) -> float:
    return 20 * float(np.log10(max(level, 1e-10)))
