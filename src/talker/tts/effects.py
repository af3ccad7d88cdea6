"""Pitch and volume applied to synthesised audio, keeping the timings true."""

from __future__ import annotations

import numpy as np

from talker.frames import PhonemeTiming, WordTiming


def pitch_ratio(semitones: float) -> float:
    return float(2.0 ** (semitones / 12.0))


def resample_for_pitch(samples: np.ndarray, ratio: float) -> np.ndarray:
    """Play audio `ratio` times faster at the same sample rate: pitch × ratio, duration ÷ ratio.

    Backends synthesise `ratio` times slower first, so the duration comes out as asked.
    """
    if abs(ratio - 1.0) < 1e-6:
        return samples
    import soxr

    return np.asarray(soxr.resample(samples, ratio, 1.0, quality="HQ"), dtype=np.float32)


def scale_timings(
    phonemes: tuple[PhonemeTiming, ...], words: tuple[WordTiming, ...], factor: float
) -> tuple[tuple[PhonemeTiming, ...], tuple[WordTiming, ...]]:
    if abs(factor - 1.0) < 1e-9:
        return phonemes, words
    return (
        tuple(PhonemeTiming(p.phoneme, p.start * factor, p.end * factor) for p in phonemes),
        tuple(WordTiming(w.text, w.start * factor, w.end * factor) for w in words),
    )


def apply_volume(samples: np.ndarray, gain: float) -> np.ndarray:
    """Scale by `gain`; if that would clip, scale the peak to just under full scale instead."""
    if abs(gain - 1.0) < 1e-6:
        return samples
    out = samples * np.float32(gain)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.99:
        out *= np.float32(0.99 / peak)
    return out.astype(np.float32, copy=False)
