"""Barge-in on real speech: the avatar's echo never takes the turn, the user speaking over it does, a cough doesn't.

The avatar's reply is spoken by Kokoro; the user is a LibriVox reader (real recordings from Debian) or a
second Kokoro voice. The microphone hears the reply come back delayed, attenuated and coloured by a small
room, with background noise, and the user on top or not. Silero VAD is the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from talker.asr.vad import SileroModel
from talker.config import Settings
from talker.realtime.bargein import BargeIn, BargeInDetector, BargeInSettings
from talker.realtime.echo import WINDOW, EchoGate, EchoReference

pytestmark = pytest.mark.models

RATE = 16000
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
READERS = ("0880", "0890", "0930")
PIECE = 320  # the microphone arrives in 20 ms pieces, like a WebRTC/WebSocket stream
LEAD = 1.0  # seconds of quiet before the avatar starts speaking
AVATAR_LEVEL = -18.0  # dBFS while speaking
USER_LEVEL = -22.0
NOISE_LEVEL = -50.0


@dataclass(frozen=True)
class Voice:
    name: str
    audio: np.ndarray
    onset: float  # seconds into `audio` where the speech really starts


def _frame_levels(audio: np.ndarray, frame: int = 160) -> np.ndarray:
    frames = audio[:audio.size // frame * frame].reshape(-1, frame).astype(np.float64)
    return np.asarray(10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-12))


def _normalised(audio: np.ndarray, dbfs: float) -> np.ndarray:
    """The audio with its speech (10 ms frames within 30 dB of the loudest) at `dbfs`."""
    levels = _frame_levels(audio)
    speech = levels[levels > levels.max() - 30]
    level = 10 * np.log10(np.mean(10 ** (speech / 10)))
    return np.asarray(audio * 10 ** ((dbfs - level) / 20), dtype=np.float32)


def _onset(audio: np.ndarray) -> float:
    """Where speech starts: the first 10 ms frame 15 dB over the background and within 40 dB of the peak."""
    levels = _frame_levels(audio)
    floor = float(np.percentile(levels, 10))
    return float(np.argmax(levels > max(floor + 15, levels.max() - 40))) * 0.01


def _voice(name: str, audio: np.ndarray, dbfs: float) -> Voice:
    audio = _normalised(audio, dbfs)
    return Voice(name, audio, _onset(audio))


def _spoken(synthesizer, text: str, voice: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    import soxr

    chunks = list(synthesizer.stream(text, voice=voice))
    audio = np.concatenate([c.samples for c in chunks])
    return np.asarray(soxr.resample(audio, chunks[0].sample_rate, RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def vad_model(settings: Settings) -> SileroModel:
    from talker.asr.vad import create

    return create(settings)


@pytest.fixture(scope="module")
def avatar(synthesizer) -> Voice:  # type: ignore[no-untyped-def]
    """The avatar's reply (the playback reference)."""
    text = "我们的营业时间是每天早上九点到晚上六点，周末也照常营业，有什么可以帮您的吗？"
    return _voice("avatar", _spoken(synthesizer, text, "zf_xiaoxiao"), AVATAR_LEVEL)


@pytest.fixture(scope="module")
def users(synthesizer) -> list[Voice]:  # type: ignore[no-untyped-def]
    """The user: three LibriVox readings and a second Kokoro voice."""
    import soundfile

    if not LIBRIVOX.is_dir():
        pytest.fail(f"{LIBRIVOX} is missing: run `make test` (it installs Debian's pocketsphinx-testdata)")
    voices = []
    for reader in READERS:
        audio, rate = soundfile.read(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{reader}.wav", dtype="float32")
        assert rate == RATE
        voices.append(_voice(f"librivox-{reader}", audio, USER_LEVEL))
    voices.append(_voice("kokoro-zm_yunxi", _spoken(synthesizer, "等一下，我想问一下退货的事情。", "zm_yunxi"),
                         USER_LEVEL))
    return voices


def _room(rng: np.random.Generator, cutoff: float) -> np.ndarray:
    """A loudspeaker and a small room: a low-pass at `cutoff` Hz, three early reflections, a 20 ms decaying tail."""
    taps = np.arange(-7, 8)
    low_pass = np.sinc(2 * cutoff / RATE * taps) * np.hanning(taps.size)
    low_pass /= low_pass.sum()
    response = np.zeros(800)
    for at, gain in ((0, 1.0), (48, 0.3), (131, -0.18), (214, 0.1)):
        response[at:at + low_pass.size] += gain * low_pass
    tail = rng.normal(0.0, 1.0, response.size) * np.exp(-np.arange(response.size) / (0.02 * RATE))
    tail[:30] = 0.0
    tail *= np.sqrt(np.sum(np.square(low_pass)) / np.sum(np.square(tail))) * 10 ** (-15 / 20)
    return response + tail


def _timeline(avatar: Voice) -> np.ndarray:
    """What the server plays: quiet, the avatar's reply, quiet."""
    return np.concatenate([np.zeros(int(LEAD * RATE)), avatar.audio, np.zeros(RATE // 2)]).astype(np.float32)


def _microphone(playback: np.ndarray | None, length: int, rng: np.random.Generator, delay: float = 0.15,
                gain_db: float = -12.0, cutoff: float = 4000.0) -> np.ndarray:
    """Background noise plus, if something plays, its echo `delay` s later, `gain_db` down, through a room."""
    mic = rng.normal(0.0, 10 ** (NOISE_LEVEL / 20), length)
    if playback is not None:
        echo = np.convolve(playback, _room(rng, cutoff))[:playback.size] * 10 ** (gain_db / 20)
        shift = round(delay * RATE)
        mic[shift:playback.size] += echo[:max(playback.size - shift, 0)][:length - shift]
    return mic.astype(np.float32)


def _add(mic: np.ndarray, sound: np.ndarray, at: float) -> np.ndarray:
    out = mic.copy()
    start = round(at * RATE)
    piece = sound[:max(out.size - start, 0)]
    out[start:start + piece.size] += piece
    return out


def _listen(model: SileroModel, mic: np.ndarray, playback: np.ndarray | None,
            settings: BargeInSettings | None = None) -> tuple[BargeIn | None, BargeInDetector]:
    """Stream the microphone in 20 ms pieces; each playback piece is pushed as it is sent to the speaker."""
    reference = EchoReference()
    detector = BargeInDetector(model.detector().probability, EchoGate(reference), settings)
    fired: BargeIn | None = None
    for offset in range(0, mic.size, PIECE):
        time = offset / RATE
        if playback is not None and offset < playback.size:
            reference.push(playback[offset:offset + PIECE], time)
        event = detector.feed(mic[offset:offset + PIECE], time)
        if event is not None:
            assert fired is None, "fired twice in one turn"
            fired = event
    return fired, detector


# The avatar's reply comes back at these loop delays (s), attenuations (dB) and loudspeaker bandwidths (Hz).
ECHOES = [(0.08, -6.0, 4000.0), (0.08, -20.0, 6000.0), (0.15, -12.0, 3000.0), (0.2, -6.0, 6000.0),
          (0.25, -12.0, 4000.0), (0.25, -20.0, 3000.0)]


@pytest.mark.parametrize(("delay", "gain_db", "cutoff"), ECHOES)
def test_the_avatars_own_voice_never_barges_in(vad_model: SileroModel, avatar: Voice, delay: float,
                                               gain_db: float, cutoff: float) -> None:
    rng = np.random.default_rng(round(delay * 1000 - gain_db))
    playback = _timeline(avatar)
    mic = _microphone(playback, playback.size, rng, delay, gain_db, cutoff)
    ratios, speechlike = [], 0
    reference = EchoReference()
    gate = EchoGate(reference)
    detector = BargeInDetector(vad_model.detector().probability, gate)
    for offset in range(0, mic.size - WINDOW + 1, WINDOW):
        reference.push(playback[offset:offset + WINDOW], offset / RATE)
        event = detector.process(mic[offset:offset + WINDOW], offset / RATE)
        assert event is None, f"echo alone fired at {event.fired:.2f} s (delay {delay}, {gain_db} dB)"
        verdict = detector.last
        assert verdict is not None and verdict.echo is not None
        if verdict.probability >= 0.5 and verdict.echo.mic_level > NOISE_LEVEL + 10:
            speechlike += 1
            ratios.append(verdict.echo.ratio)
    assert speechlike > 50, "the echo should sound like speech to the VAD, or this test proves nothing"
    # The loop delay is found (the loudspeaker's low-pass adds 7 samples), and the echo mostly cancelled.
    assert gate.delay is not None and abs(gate.delay - (delay + 7 / RATE)) <= 0.001
    assert float(np.median(ratios)) < 0.1, f"echo residual ratio median {np.median(ratios):.3f}"


@pytest.mark.parametrize(("delay", "gain_db", "cutoff"), ECHOES)
def test_the_user_speaking_over_the_avatar_barges_in_quickly(vad_model: SileroModel, avatar: Voice,
                                                             users: list[Voice], delay: float, gain_db: float,
                                                             cutoff: float) -> None:
    playback = _timeline(avatar)
    at = LEAD + 1.2  # well into the reply, the echo path long found
    for user in users:
        rng = np.random.default_rng(len(user.name))
        mic = _add(_microphone(playback, playback.size, rng, delay, gain_db, cutoff), user.audio, at)
        event, _ = _listen(vad_model, mic, playback)
        speech_start = at + user.onset
        assert event is not None, f"{user.name}: speaking over the echo ({delay} s, {gain_db} dB) did not barge in"
        # An echo as loud as the user (−6 dB of the reply) hides a few windows of the user: a little more time.
        allowed = 0.3 if gain_db <= -12 else 0.4
        assert event.fired - speech_start <= allowed, \
            f"{user.name}: barge-in {event.fired - speech_start:.3f} s after the speech began ({gain_db} dB echo)"
        assert speech_start - 0.1 <= event.start <= speech_start + 0.2, \
            f"{user.name}: speech said to start at {event.start:.3f} s, really {speech_start:.3f} s"
        assert event.latency == pytest.approx(event.fired - event.start)


def _cough(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """A cough-like burst: coloured noise with a 10 ms attack and a fast decay."""
    n = round(seconds * RATE)
    noise = np.convolve(rng.normal(0.0, 1.0, n), np.hanning(9), mode="same")
    envelope = np.minimum(1.0, np.arange(n) / (0.01 * RATE)) * np.exp(-np.arange(n) / (0.04 * RATE))
    return _normalised(noise * envelope, -15.0)


def _snippet(user: Voice, start: float, seconds: float) -> np.ndarray:
    """`seconds` cut from inside the user's speech, with 5 ms fades."""
    piece = user.audio[round(start * RATE):round((start + seconds) * RATE)].copy()
    fade = np.minimum(1.0, np.minimum(np.arange(piece.size), np.arange(piece.size)[::-1]) / 80)
    return np.asarray(piece * fade, dtype=np.float32)


def test_a_cough_or_a_word_fragment_of_100_ms_does_not_barge_in(vad_model: SileroModel, avatar: Voice,
                                                                   users: list[Voice]) -> None:
    rng = np.random.default_rng(5)
    playback = _timeline(avatar)
    length = round(3.5 * RATE)
    bursts = [("cough", _cough(rng, 0.1)), ("loud cough", 4 * _cough(rng, 0.1)),
              ("click", np.asarray(rng.normal(0.0, 10 ** (-10 / 20), 80), dtype=np.float32))]
    for user in users:
        for start in (0.35, 0.6, 0.85):
            snippet = _snippet(user, user.onset + start, 0.1)
            if np.max(np.abs(snippet)) > 10 ** ((USER_LEVEL - 10) / 20):  # a loud bit, not a pause
                bursts.append((f"{user.name} at {start} s", snippet))
    assert len(bursts) >= 10
    heard = 0
    for name, burst in bursts:
        for echo in (False, True):
            played = playback[:length] if echo else None
            mic = _add(_microphone(played, length, rng), burst, LEAD + 1.5)
            event, detector = _listen(vad_model, mic, played)
            assert event is None, f"a 100 ms {name} ({'over the echo' if echo else 'alone'}) barged in"
            heard += detector.last is not None
    assert heard == 2 * len(bursts)


def test_with_nothing_playing_the_user_barges_in_like_plain_vad(vad_model: SileroModel, users: list[Voice]) -> None:
    for user in users:
        rng = np.random.default_rng(3)
        mic = _add(_microphone(None, round((1.0 + user.audio.size / RATE) * RATE), rng), user.audio, 1.0)
        reference = EchoReference()
        gate = EchoGate(reference)
        for offset in range(0, mic.size - WINDOW + 1, WINDOW):
            estimate = gate.assess(mic[offset:offset + WINDOW], offset / RATE)
            assert not estimate.echo and not estimate.reference_active and estimate.ratio == 1.0
        event, _ = _listen(vad_model, mic, None)
        speech_start = 1.0 + user.onset
        assert event is not None, f"{user.name}: no barge-in with nothing playing"
        assert event.fired - speech_start <= 0.3, f"{user.name}: {event.fired - speech_start:.3f} s"
        assert event.latency == pytest.approx(0.224, abs=0.001)  # 7 windows of 32 ms: min_speech 0.2 s


class _Script:
    """A stand-in for the VAD: the probabilities it returns, in order."""

    def __init__(self, probabilities: list[float]) -> None:
        self.probabilities = list(probabilities)
        self.calls = 0

    def __call__(self, window: np.ndarray) -> float:
        assert window.shape == (WINDOW,)
        value = self.probabilities[self.calls] if self.calls < len(self.probabilities) else 0.0
        self.calls += 1
        return value


def _windows(count: int, level: float = 0.1) -> list[np.ndarray]:
    return [np.full(WINDOW, level, dtype=np.float32) for _ in range(count)]


def test_hysteresis_reset_and_pieces_plumbing() -> None:
    step = WINDOW / RATE
    settings = BargeInSettings(threshold=0.5, release=0.35, min_speech=0.2, max_gap=0.1)  # 7 windows, gap ≤ 3
    # Six speech windows, then silence: not enough.
    script = _Script([0.9] * 6 + [0.1] * 4)
    detector = BargeInDetector(script, settings=settings)
    assert all(detector.process(w, i * step) is None for i, w in enumerate(_windows(10)))
    assert detector.candidate is None
    # Speech with a short dip between release and threshold (tolerated, not counted), then the 7th speech window.
    script = _Script([0.2, 0.9, 0.9, 0.4, 0.4, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    detector = BargeInDetector(script, settings=settings)
    events = [detector.process(w, i * step) for i, w in enumerate(_windows(12))]
    assert detector.event is not None and events[9] == detector.event
    assert [i for i, e in enumerate(events) if e is not None] == [9], "fires exactly once"
    assert detector.event.start == pytest.approx(1 * step) and detector.event.fired == pytest.approx(10 * step)
    assert detector.event.latency == pytest.approx(9 * step)
    assert detector.candidate is None
    # A dip below release breaks the run; a dip longer than max_gap does too.
    for dip in ([0.1], [0.4] * 4):
        script = _Script([0.9] * 4 + dip + [0.9] * 6 + [0.1])
        detector = BargeInDetector(script, settings=settings)
        results = [detector.process(w, i * step) for i, w in enumerate(_windows(len(script.probabilities)))]
        assert not any(results), f"dip {dip} should have broken the run"
        script.probabilities, script.calls = [0.9] * 4 + dip + [0.9] * 7, 0
        detector.reset()
        results = [detector.process(w, i * step) for i, w in enumerate(_windows(len(script.probabilities)))]
        assert any(results) and detector.event is not None
        assert detector.event.start == pytest.approx((4 + len(dip)) * step)
    # Digital silence never counts, whatever the stand-in says.
    detector = BargeInDetector(_Script([1.0] * 20), settings=settings)
    assert all(detector.process(w, i * step) is None for i, w in enumerate(_windows(20, level=0.0)))
    # reset() re-arms after a barge-in; feed() cuts odd pieces into windows on the right times.
    script = _Script([0.9] * 40)
    detector = BargeInDetector(script, settings=settings)
    audio = np.full(20 * WINDOW, 0.1, dtype=np.float32)
    fired = [e for offset in range(0, audio.size, 300)
             if (e := detector.feed(audio[offset:offset + 300], 5.0 + offset / RATE)) is not None]
    assert len(fired) == 1 and fired[0].start == pytest.approx(5.0) and fired[0].fired == pytest.approx(5.0 + 7 * step)
    assert script.calls == audio.size // WINDOW
    detector.reset()
    assert detector.event is None
    again = detector.feed(np.full(7 * WINDOW, 0.1, dtype=np.float32), 10.0)
    assert again is not None and again.start == 10.0 and again.fired == pytest.approx(10.0 + 7 * step)


def test_echo_gate_plumbing() -> None:
    """White noise through a known path: the delay and gain are found, echo is echo, a second source is not."""
    rng = np.random.default_rng(11)
    seconds, delay, gain = 3.0, 0.123, 0.4
    played = rng.normal(0.0, 0.1, round(seconds * RATE)).astype(np.float32)
    shift = round(delay * RATE)
    echo = np.concatenate([np.zeros(shift), gain * played[:-shift]]).astype(np.float32)
    other = rng.normal(0.0, 0.04, played.size).astype(np.float32)  # as loud as the echo
    reference = EchoReference()
    reference.push(played, 0.0)  # all of it ahead of time
    only_echo, with_other = EchoGate(reference), EchoGate(reference)
    for offset in range(0, played.size - WINDOW + 1, WINDOW):
        time = offset / RATE
        a = only_echo.assess(echo[offset:offset + WINDOW], time)
        b = with_other.assess(echo[offset:offset + WINDOW] + other[offset:offset + WINDOW], time)
        if time > 1.0:
            assert a.echo and a.ratio < 0.01 and a.reference_active
            assert not b.echo and 0.3 < b.ratio < 0.7 and b.novel
    assert only_echo.delay == pytest.approx(delay, abs=0.5 / RATE)
    assert a.gain == pytest.approx(20 * np.log10(gain), abs=0.5)
    # The timeline: gaps are silence, the far future and the forgotten past read as zeros.
    timeline = EchoReference(capacity=1.0)
    timeline.push(np.ones(100, dtype=np.float32), 1.0)
    timeline.push(np.full(100, 2.0, dtype=np.float32), 1.1)
    assert timeline.end_time == pytest.approx(1.1 + 100 / RATE)
    got = timeline.read(RATE - 10, 1800)
    assert not got[:10].any() and (got[10:110] == 1).all() and not got[110:1610].any() and (got[1610:1710] == 2).all()
    assert not got[1710:].any()
    timeline.push(np.full(10, 3.0, dtype=np.float32), 5.0)  # far ahead: everything older is forgotten
    assert not timeline.read(RATE, 2000).any() and (timeline.read(5 * RATE, 10) == 3).all()
