"""Who is speaking: a 256-d d-vector per recording (the kit's LSTM speaker encoder), compared by cosine.

The encoder was trained on 40-band log10 power mel spectrograms of 16 kHz audio (25 ms Hamming
windows, 10 ms hop), read in 80-frame (0.8 s) windows. The front-end is plain numpy, so no librosa
(and its numba compile) is needed at run time; a test checks it against librosa once.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talker.errors import InputError

if TYPE_CHECKING:
    from talker.config import Settings

SAMPLE_RATE = 16000
N_FFT = 512
WIN_LENGTH = 400
HOP = 160
N_MELS = 40
WINDOW_FRAMES = 80
WINDOW_STRIDE = 40
EMBEDDING_SIZE = 256
_LOG_FLOOR = 1e-10


@cache
def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """Triangular mel filters on the Slaney scale, area-normalised, shape (n_mels, n_fft // 2 + 1)."""
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2)
    edges = _mel_to_hz(mels)
    bins = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def _hz_to_mel(hz: float | np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log, linear)


@cache
def _window() -> np.ndarray:
    """A periodic Hamming window of WIN_LENGTH, zero-padded centred into N_FFT."""
    n = np.arange(WIN_LENGTH)
    hamming = 0.54 - 0.46 * np.cos(2 * np.pi * n / WIN_LENGTH)
    left = (N_FFT - WIN_LENGTH) // 2
    window = np.zeros(N_FFT)
    window[left:left + WIN_LENGTH] = hamming
    return window


def mel_power(samples: np.ndarray) -> np.ndarray:
    """Mel power spectrogram, shape (N_MELS, frames), frames starting at 0 every HOP samples (no centring)."""
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    if samples.size < N_FFT:
        return np.zeros((N_MELS, 0), dtype=np.float32)
    count = 1 + (samples.size - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(samples, N_FFT)[::HOP][:count]
    spectrum: np.ndarray = np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2
    mel: np.ndarray = mel_filterbank().astype(np.float64) @ spectrum.T
    return mel.astype(np.float32)


def log_mel(samples: np.ndarray) -> np.ndarray:
    """The encoder's features: log10 mel power, shape (frames, N_MELS)."""
    return np.asarray(np.log10(mel_power(samples) + _LOG_FLOOR).T)


def windows(features: np.ndarray) -> np.ndarray:
    """80-frame windows every 40 frames, shape (n, 80, 40); a short input is repeated to fill one."""
    if features.shape[0] == 0:
        raise InputError("the audio is too short to tell who is speaking (under 0.03 s)")
    if features.shape[0] < WINDOW_FRAMES:
        features = np.resize(features, (WINDOW_FRAMES, features.shape[1]))
    starts = range(0, features.shape[0] - WINDOW_FRAMES + 1, WINDOW_STRIDE)
    return np.stack([features[s:s + WINDOW_FRAMES] for s in starts]).astype(np.float32)


class SpeakerEmbedder:
    """Unit-length d-vectors of 16 kHz mono speech; the same speaker scores a higher cosine."""

    sample_rate = SAMPLE_RATE
    _batch = 64  # windows per ONNX call: bounds memory on long recordings

    def __init__(self, model_path: Path, threads: int = 2) -> None:
        self.model_path = model_path
        self._threads = threads

    def embed(self, samples_16k: np.ndarray) -> np.ndarray:
        """The speaker's d-vector (float32, L2-normalised, 256-d): the mean of per-window unit vectors."""
        batches = windows(log_mel(samples_16k))
        from talker.onnx import shared_session

        session = shared_session(self.model_path, self._threads)
        parts = [session.run(["embedding"], {"mel_window": batches[i:i + self._batch]})[0]
                 for i in range(0, len(batches), self._batch)]
        per_window = np.concatenate(parts).astype(np.float64)
        per_window /= np.maximum(np.linalg.norm(per_window, axis=1, keepdims=True), 1e-12)
        return _unit(per_window.mean(axis=0))

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        """Cosine similarity of two embeddings, in [-1, 1]."""
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        denominator = float(np.linalg.norm(a) * np.linalg.norm(b))
        if denominator == 0.0:
            return 0.0
        return float(np.clip(np.dot(a, b) / denominator, -1.0, 1.0))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def create(settings: Settings) -> SpeakerEmbedder:
    """The kit's d-vector encoder; a clear error if it is not assembled."""
    from talker.models.kit import ModelKit

    return SpeakerEmbedder(ModelKit(settings.models_dir).path("speaker-dvector"), settings.threads)
