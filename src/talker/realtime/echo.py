"""The avatar's own voice coming back through the microphone, measured against what was played.

The server knows every sample it sent to the speaker: `EchoReference` keeps that playback signal on
the session's stream timeline (16 kHz mono float32, each block stamped with the time it plays). The
loop microphone → server → browser → speaker → microphone has a delay that is unknown but varies
slowly, so `EchoGate` finds it by normalised cross-correlation of the recent microphone audio with the
reference (FFT, over a 0.77 s analysis window, 0–400 ms of lag, every 160 ms rather than every window)
and fits a 64-tap (4 ms) FIR filter there by least squares: the gain, the loudspeaker's colouring, the
earliest reflections and the fraction of a sample the peak falls between.

Each 32 ms microphone window then costs one short convolution and two 512-point FFTs: the predicted echo
is subtracted and the window is judged in the speech band (100–4000 Hz, where the VAD listens and where
any loudspeaker reproduces) by `residual_energy / mic_energy`. A window is *mostly echo* when the
reference is playing and the residual is small next to the window (`ratio` under `threshold`), no
louder than the background, or no louder than the room's reverberation of the echo just before it (a
decaying envelope of the predicted echo, `tail` dB down; the short filter does not model it). Before the
echo path is found, the first `max_delay` + `warmup` seconds of playback count as echo; with no
reference playing nothing is echo. Linear echo only: the browser's echo canceller is expected to have
removed most of it, and strong reverberation (direct-to-reverberant ratio under ~5 dB) is beyond this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
WINDOW = 512  # one VAD window (32 ms)
_TINY = 1e-12


def _position(time: float) -> int:
    """A stream time (seconds) as an absolute sample index."""
    return round(time * SAMPLE_RATE)


def _db(energy: float) -> float:
    """Mean-square energy as dBFS."""
    return float(10 * np.log10(energy + _TINY))


class _Timeline:
    """A ring of the most recent samples of a signal, addressed by absolute sample index.

    Samples never written (gaps, the future, or older than the ring holds) read as zeros.
    """

    def __init__(self, capacity: int) -> None:
        size = 1 << max(int(capacity) - 1, 1).bit_length()
        self._ring = np.zeros(size, dtype=np.float32)
        self._size = size
        self._end: int | None = None  # one past the newest sample written

    @property
    def end(self) -> int | None:
        return self._end

    def clear(self) -> None:
        self._ring[:] = 0.0
        self._end = None

    def write(self, start: int, samples: np.ndarray) -> None:
        data = np.asarray(samples, dtype=np.float32).reshape(-1)
        if data.size > self._size:  # only the newest part fits
            start += data.size - self._size
            data = data[-self._size:]
        if data.size == 0:
            return
        stop = start + data.size
        if self._end is None:
            self._end = start
        if start > self._end:
            if start - self._end >= self._size:
                self._ring[:] = 0.0
            else:
                self._put(self._end, np.zeros(start - self._end, dtype=np.float32))  # a gap is silence
        end = max(self._end, stop)
        low = max(start, end - self._size)  # anything older than the ring holds is dropped
        if low < stop:
            self._put(low, data[low - start:])
        self._end = end

    def read(self, start: int, length: int) -> np.ndarray:
        out = np.zeros(length, dtype=np.float32)
        if self._end is None or length <= 0:
            return out
        low = max(start, self._end - self._size)
        high = min(start + length, self._end)
        if high <= low:
            return out
        first = low % self._size
        count = high - low
        take = min(count, self._size - first)
        out[low - start:low - start + take] = self._ring[first:first + take]
        if take < count:
            out[low - start + take:high - start] = self._ring[:count - take]
        return out

    def _put(self, start: int, data: np.ndarray) -> None:
        first = start % self._size
        take = min(data.size, self._size - first)
        self._ring[first:first + take] = data[:take]
        if take < data.size:
            self._ring[:data.size - take] = data[take:]


class EchoReference:
    """What the speaker plays, on the stream timeline: 16 kHz mono float32, the last `capacity` seconds.

    `push` each block with the stream time its first sample plays (ahead of time or after the fact;
    blocks may come in any order within the capacity). Anything never pushed is silence.
    """

    def __init__(self, capacity: float = 8.0) -> None:
        self._timeline = _Timeline(int(capacity * SAMPLE_RATE))

    def push(self, samples: np.ndarray, time: float) -> None:
        self._timeline.write(_position(time), samples)

    def read(self, start: int, length: int) -> np.ndarray:
        """`length` samples from absolute sample index `start` (zeros where nothing was played)."""
        return self._timeline.read(start, length)

    def clear(self) -> None:
        self._timeline.clear()

    @property
    def end_time(self) -> float | None:
        """Where the last pushed block ends (seconds), or None if nothing was pushed."""
        end = self._timeline.end
        return None if end is None else end / SAMPLE_RATE


@dataclass(frozen=True)
class EchoSettings:
    """How the echo path is searched, fitted and judged."""

    max_delay: float = 0.4  # seconds of loop delay searched (0 … max_delay)
    analysis: float = 0.768  # seconds of microphone audio correlated against the reference
    interval: float = 0.16  # seconds between re-estimates of the delay and the filter, once found
    taps: int = 64  # FIR length (samples at 16 kHz): 4 ms of colouring and early reflections
    lead: int = 4  # taps before the correlation peak (the peak of a low-passed echo is blunt)
    ridge: float = 1e-2  # regularisation of the fit, relative to the reference's energy
    band: tuple[float, float] = (100.0, 4000.0)  # Hz: where echo and speech are compared
    coherence: float = 0.2  # normalised correlation needed to accept a delay
    switch: float = 0.1  # how much better a new delay must correlate than the current one
    threshold: float = 0.25  # residual/mic energy below which a window is mostly echo
    novelty: float = 4.0  # residual energy must exceed the background by this factor to be anything new
    floor: float = -60.0  # dBFS: the least background energy assumed (and silence for the reference)
    warmup: float = 0.3  # seconds after the reference starts during which an unfound echo path counts as echo
    tail: float = -3.5  # dB: residual this far under the recent echo (decaying) is taken for its reverberation
    tail_decay: float = 150.0  # dB per second: how fast that allowance for reverberation fades


@dataclass(frozen=True)
class EchoEstimate:
    """How much of one microphone window is the avatar's own voice.

    `ratio` is residual energy / microphone energy after subtracting the predicted echo (1.0 when no
    echo is predicted), both measured in the speech band. `echo` says the window is mostly echo (or
    echo and background only); `novel` says the residual is louder than the background, i.e. something
    other than echo made a sound. Levels are dBFS of the speech band's mean-square energy; `delay`
    (seconds) is None while the echo path is unknown; `gain` is the fitted filter's gain (dB, at its
    loudest frequency in the band); `coherence` is the normalised correlation at the delay.
    """

    time: float
    ratio: float
    echo: bool
    novel: bool
    reference_active: bool
    delay: float | None
    gain: float
    coherence: float
    mic_level: float
    echo_level: float
    residual_level: float


def _fast_size(length: int) -> int:
    """The smallest FFT size of at least `length` with no prime factor above 5."""
    best = 1 << max(length - 1, 0).bit_length()
    five = 1
    while five < best:
        three = five
        while three < best:
            size = three
            while size < length:
                size *= 2
            best = min(best, size)
            three *= 3
        five *= 5
    return best


def _band_mask(size: int, band: tuple[float, float]) -> np.ndarray:
    """Real-FFT bins of an FFT of `size` samples that lie inside `band` (Hz)."""
    frequencies = np.fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    return (frequencies >= band[0]) & (frequencies <= band[1])


class EchoGate:
    """Judges microphone windows against the playback reference; one per microphone stream."""

    def __init__(self, reference: EchoReference, settings: EchoSettings | None = None) -> None:
        self.reference = reference
        self.settings = settings or EchoSettings()
        s = self.settings
        self._max_lag = round(s.max_delay * SAMPLE_RATE)
        self._analysis = round(s.analysis * SAMPLE_RATE)
        self._interval = max(1, round(s.interval * SAMPLE_RATE))
        self._oldest = self._max_lag - s.lead + s.taps - 1  # the oldest reference lag any tap can reach
        self._span = self._oldest + s.lead  # correlation lags −lead … oldest
        self._fft_size = _fast_size(self._analysis + self._span + 1)
        self._fit_size = _fast_size(self._analysis + 2 * s.taps)
        self._search_mask = _band_mask(self._fft_size, s.band)
        self._fit_mask = _band_mask(self._fit_size, s.band)
        self._window_mask = _band_mask(WINDOW, s.band)
        self._floor = 10 ** (s.floor / 10)
        self._tail = 10 ** (s.tail / 10)
        self._decay = 10 ** (-s.tail_decay * WINDOW / SAMPLE_RATE / 10)
        self._mic = _Timeline(self._analysis + 4 * WINDOW)
        self.reset()

    def reset(self) -> None:
        """Forget the echo path and the microphone history (a new stream)."""
        self._mic.clear()
        self._lag: int | None = None  # samples between playback and its echo at the correlation peak
        self._filter = np.zeros(self.settings.taps, dtype=np.float64)
        self._gain = -120.0
        self._coherence = 0.0
        self._next_estimate: int | None = None
        self._noise = self._floor
        self._envelope = 0.0  # recent predicted echo energy, decaying like a room's reverberation
        self._active_since: int | None = None  # where the current stretch of playback began
        self._quiet_since: int | None = None

    @property
    def delay(self) -> float | None:
        """The loop delay found (seconds), or None."""
        return None if self._lag is None else self._lag / SAMPLE_RATE

    def assess(self, window: np.ndarray, time: float) -> EchoEstimate:
        """Judge one microphone window whose first sample was captured at stream `time`."""
        s = self.settings
        mic = np.asarray(window, dtype=np.float32).reshape(-1)
        start = _position(time)
        stop = start + mic.size
        self._mic.write(start, mic)
        active = self._track_activity(start, stop)
        if active and (self._next_estimate is None or stop >= self._next_estimate):
            self._estimate(stop)
        mic_spectrum = np.fft.rfft(mic.astype(np.float64), WINDOW)
        mic_energy = self._band_energy(mic_spectrum, mic.size)
        echo_energy, residual_energy = 0.0, mic_energy
        if active and self._lag is not None:
            predicted = np.fft.rfft(self._predict(start, mic.size), WINDOW)
            echo_energy = self._band_energy(predicted, mic.size)
            residual_energy = self._band_energy(mic_spectrum - predicted, mic.size)
        ratio = min(residual_energy / mic_energy, 1.0) if mic_energy > _TINY else 1.0
        self._track_noise(residual_energy)
        novel = residual_energy > s.novelty * self._noise
        echo = False
        if active:
            if self._lag is None:
                # Playback started and its echo path is not found yet: while it may still be on its way,
                # assume it is there; once the search had its chance, take it that no echo comes back.
                echo = self._warming(start)
            elif echo_energy > self._noise:
                echo = ratio < s.threshold or not novel
            self._envelope = max(echo_energy, self._envelope * self._decay)
            if self._envelope > self._noise and residual_energy < self._tail * self._envelope:
                echo = True
        else:
            self._envelope = 0.0
        return EchoEstimate(
            time=time, ratio=ratio, echo=echo, novel=novel, reference_active=active, delay=self.delay,
            gain=self._gain, coherence=self._coherence, mic_level=_db(mic_energy), echo_level=_db(echo_energy),
            residual_level=_db(residual_energy))

    def _warming(self, start: int) -> bool:
        """Is a window at `start` early enough in the playback that its echo may still be on its way?"""
        reach = self._max_lag + round(self.settings.warmup * SAMPLE_RATE)
        return self._active_since is not None and start - self._active_since < reach

    def _band_energy(self, spectrum: np.ndarray, length: int) -> float:
        """Mean-square energy of the part of a window inside the band (Parseval)."""
        power = np.square(spectrum.real[self._window_mask]) + np.square(spectrum.imag[self._window_mask])
        return 2.0 * float(np.sum(power)) / (length * WINDOW)

    def _track_activity(self, start: int, stop: int) -> bool:
        """Is any playback within the window's reach at some delay? Keeps where the playback began."""
        reach = self._oldest + 1
        reference = self.reference.read(start - reach, stop - start + reach)
        active = bool(reference.size) and float(np.max(np.abs(reference))) ** 2 > self._floor
        if active:
            self._quiet_since = None
            if self._active_since is None:
                self._active_since = start
        else:
            if self._quiet_since is None:
                self._quiet_since = start
            if start - self._quiet_since > self._analysis:
                self._active_since = None  # a long silence: the next playback starts a new warm-up
        return active

    def _track_noise(self, residual_energy: float) -> None:
        """The background: the quietest residual lately, rising slowly (about 3 dB a second)."""
        if residual_energy < self._noise:
            self._noise = max(residual_energy, self._floor)
        else:
            self._noise *= 1.0 + 0.7 * WINDOW / SAMPLE_RATE

    def _estimate(self, stop: int) -> None:
        """Find the delay by normalised cross-correlation and fit the FIR filter around it."""
        s = self.settings
        length, span, lead = self._analysis, self._span, s.lead
        mic = self._mic.read(stop - length, length).astype(np.float64)
        # reference[j] is `self._oldest - j` samples before mic[j] (lags −lead … oldest).
        reference = self.reference.read(stop - length - self._oldest, length + span).astype(np.float64)
        searching = self._lag is None and self._warming(stop - WINDOW)
        self._next_estimate = stop + (WINDOW if searching else self._interval)  # look hard while it matters
        mic_energy = float(np.dot(mic, mic))
        if mic_energy <= _TINY * length or float(np.dot(reference, reference)) <= self._floor * length:
            return
        n = self._fft_size
        spectrum = np.conj(np.fft.rfft(mic, n)) * np.fft.rfft(reference, n)
        spectrum[~self._search_mask] = 0.0
        # correlation[k] = Σ mic[i] · reference[i + k], the lag of reference[i + k] being oldest − k.
        correlation = np.fft.irfft(spectrum, n)[:span + 1]
        cumulative = np.concatenate([[0.0], np.cumsum(np.square(reference))])
        shifted_energy = cumulative[length:length + span + 1] - cumulative[:span + 1]
        lags = self._oldest - np.arange(span + 1)
        searched = (lags >= 0) & (lags <= self._max_lag)
        regulariser = 1e-2 * float(np.max(shifted_energy[searched])) + _TINY
        score = np.where(searched, np.abs(correlation) / np.sqrt(mic_energy * (shifted_energy + regulariser)), 0.0)
        best = int(np.argmax(score))
        if self._lag is not None and lags[best] != self._lag:
            current = self._oldest - self._lag
            if score[best] < score[current] + s.switch:
                best = current
        coherence = float(score[best])
        if coherence < s.coherence:
            if self._lag is None:
                self._coherence = coherence
            return
        self._lag, self._coherence = int(lags[best]), coherence
        # Taps at lags lag − lead … lag − lead + taps − 1: their cross-correlations are already known.
        newest = self._lag - lead
        first = self._oldest - newest - (s.taps - 1)
        cross = correlation[first:first + s.taps][::-1]
        piece = reference[first:first + length + s.taps - 1]
        self._fit(cross, piece)

    def _fit(self, cross: np.ndarray, piece: np.ndarray) -> None:
        """Least squares (autocorrelation method, band-limited, ridge) for the FIR taps."""
        s = self.settings
        m = self._fit_size
        power = np.square(np.abs(np.fft.rfft(piece, m)))
        power[~self._fit_mask] = 0.0
        autocorrelation = np.fft.irfft(power, m)[:s.taps]
        index = np.arange(s.taps)
        toeplitz = autocorrelation[np.abs(index[:, np.newaxis] - index[np.newaxis, :])]
        toeplitz[index, index] += s.ridge * autocorrelation[0] + _TINY
        self._filter = np.linalg.solve(toeplitz, cross)
        response = np.abs(np.fft.rfft(self._filter, WINDOW))[self._window_mask]
        self._gain = _db(float(np.max(response)) ** 2) if response.size else -120.0

    def _predict(self, start: int, length: int) -> np.ndarray:
        """The echo expected in the microphone samples start … start + length."""
        assert self._lag is not None
        taps = self.settings.taps
        oldest = self._lag - self.settings.lead + taps - 1
        segment = self.reference.read(start - oldest, length + taps - 1).astype(np.float64)
        return np.convolve(segment, self._filter, mode="valid")
