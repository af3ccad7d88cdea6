"""Visemes and the mouth track: targets, coarticulation, silence, smoothness, and every real symbol mapped."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from talker.config import Settings
from talker.face.pose import CLOSED, MouthShape
from talker.face.visemes import SHAPES, TABLE, Viseme, is_known, mouth_track, visemes_of
from talker.frames import PhonemeTiming
from talker.tts.synthesizer import Synthesizer


def symbols(text: str) -> list[str]:
    return text.split()


# Every symbol seen in the real outputs of both backends over a couple of dozen zh, en and mixed sentences.
KOKORO_SYMBOLS = symbols(
    "a b d e f h i iː j k kʰ l m n o p pʰ s t tʰ u uː v w x y z æ ð ŋ ɐ ɑː ɔ ɔː ɕ ə ɚ ɛ ɜː ɡ ɤ ɥ ɨ ɪ ɹ ɻ ɾ ʂ "
    "ʃ ʊ ʌ ʒ ʦ ʦʰ ʨ ʨʰ θ ᵻ ꭧ ꭧʰ"
)
ESPEAK_SYMBOLS = symbols(
    "0 3 3: ; @ @2 @L @r A A: A@ Au D E I I# I2 N O2 O: O@ S S; T U U@ V X Z a a# aI aI3 aU aa ai b d dZ eI "
    "ei f g h i i. i: i@3 iA iE i[ iou j k kh l m n o o- o@ oU ong ou p ph r r- s s. t t# tS tS; tS;h th ts "
    "ts. ts.h tsh u u: u@ ua uo v w y y& yE z z."
)
LANGUAGE_SWITCHES = ("(en)", "(cmn)")

SENTENCES = (
    "我每天用iPhone听音乐，然后去银行还钱。",
    "Please bring me my umbrella, maybe tomorrow morning?",
    "爸爸妈妈明天不忙，我们去公园散步吧！",
)


def track(phonemes: list[PhonemeTiming], fps: float = 100.0, seconds: float | None = None) -> np.ndarray:
    """The mouth track as an (n_frames, 4) array of jaw, open, width, protrude."""
    end = seconds if seconds is not None else max((p.end for p in phonemes), default=0.0) + 0.5
    shapes = mouth_track(phonemes, fps, round(end * fps))
    return np.array([[m.jaw, m.open, m.width, m.protrude] for m in shapes]).reshape(-1, 4)


def at(values: np.ndarray, t: float, fps: float = 100.0) -> np.ndarray:
    """The frame whose centre is nearest to time t."""
    frame: np.ndarray = values[round(t * fps - 0.5)]
    return frame


def spoken(*items: tuple[str, float]) -> list[PhonemeTiming]:
    """Phonemes back to back from 0.5 s, each (symbol, duration)."""
    out, t = [], 0.5
    for symbol, duration in items:
        out.append(PhonemeTiming(symbol, t, t + duration))
        t += duration
    return out


@pytest.fixture(scope="module")
def real_phonemes(synthesizer: Synthesizer, settings: Settings) -> dict[str, list[PhonemeTiming]]:
    espeak = Synthesizer(settings.model_copy(update={"tts": settings.tts.model_copy(update={"backend": "espeak"})}))
    out: dict[str, list[PhonemeTiming]] = {}
    for name, synth in (("kokoro", synthesizer), ("espeak", espeak)):
        for i, text in enumerate(SENTENCES):
            out[f"{name}-{i}"] = list(next(synth.stream(text)).phonemes)
    return out


def test_every_viseme_has_a_shape_in_range() -> None:
    assert set(SHAPES) == set(Viseme)
    for shape in SHAPES.values():
        assert 0 <= shape.jaw <= 1 and 0 <= shape.open <= 1 and -1 <= shape.width <= 1 and 0 <= shape.protrude <= 1
    assert SHAPES[Viseme.SILENT] == CLOSED


def test_silence_is_closed() -> None:
    assert mouth_track([], 25, 10) == [CLOSED] * 10
    assert mouth_track([PhonemeTiming("a", 0.0, 0.3)], 25, 0) == []
    phonemes = [PhonemeTiming("a", 1.0, 1.3), PhonemeTiming("a", 2.0, 2.3)]  # a 0.7 s pause between
    values = track(phonemes, seconds=3.5)
    for t in (0.1, 0.5, 0.75, 1.65, 3.0, 3.4):
        jaw, opening = at(values, t)[:2]
        assert jaw < 0.02 and opening < 0.02, t
    assert np.all(values[:50, :2] == 0.0)  # far from speech the mouth is exactly closed


def test_a_short_gap_does_not_close_the_mouth() -> None:
    phonemes = [PhonemeTiming("a", 0.5, 0.8), PhonemeTiming("a", 0.9, 1.2)]  # 100 ms: within a phrase
    assert at(track(phonemes), 0.85)[1] > 0.3


def test_held_open_vowel_opens() -> None:
    values = track(spoken(("a", 0.3)))
    assert at(values, 0.65)[1] > 0.5 and at(values, 0.65)[0] > 0.5


def test_the_last_sound_is_held_until_it_ends() -> None:
    values = track(spoken(("a", 0.3)))
    assert at(values, 0.78)[1] > 0.4


@pytest.mark.parametrize("symbol", ["m", "b", "p"])
def test_bilabial_between_vowels_closes_the_lips(symbol: str) -> None:
    values = track(spoken(("a", 0.3), (symbol, 0.12), ("a", 0.3)))
    assert at(values, 0.86)[1] < 0.15
    for fps in (25.0, 30.0):
        frames = track(spoken(("a", 0.3), (symbol, 0.12), ("a", 0.3)), fps)
        assert frames[int(0.8 * fps) : int(0.92 * fps) + 1, 1].min() < 0.15


def test_lips_close_in_anticipation() -> None:
    values = track(spoken(("a", 0.4), ("m", 0.12), ("a", 0.4)))
    plateau = at(values, 0.65)[1]
    m_start = 0.9
    assert at(values, m_start - 0.06)[1] < 0.9 * plateau  # moving towards /m/ 60 ms ahead
    assert at(values, m_start)[1] < 0.5 * plateau


def test_short_bilabial_closes_less_than_long_but_still_nearly() -> None:
    def least_open(duration: float) -> float:
        values = track(spoken(("a", 0.3), ("m", duration), ("a", 0.3)), fps=1000)
        return float(values[700 : int((0.8 + duration) * 1000) + 50, 1].min())

    short, long = least_open(0.04), least_open(0.15)
    assert long < short < 0.25
    assert long < 0.05


@pytest.mark.parametrize("symbol", ["u", "uː", "u:", "w", "y"])
def test_rounded_vowels_round_and_protrude(symbol: str) -> None:
    _, _, width, protrude = at(track(spoken((symbol, 0.25))), 0.62)
    assert width < 0 and protrude > 0.4


@pytest.mark.parametrize("symbol", ["i", "iː", "i:"])
def test_close_front_vowels_spread(symbol: str) -> None:
    assert at(track(spoken((symbol, 0.25))), 0.62)[2] > 0.4


def test_postalveolar_rounds_and_h_takes_its_neighbours_shape() -> None:
    values = track(spoken(("ʃ", 0.15), ("a", 0.3), ("h", 0.06), ("u", 0.3)))
    assert at(values, 0.57)[3] > 0.3
    # /h/ has no lip shape of its own: before /u/ it is already rounding.
    assert at(values, 0.98)[2] < at(values, 0.8)[2] - 0.2


def test_diphthongs_glide_through_their_parts() -> None:
    values = track(spoken(("aI", 0.4)))
    start, end = at(values, 0.58), at(values, 0.82)
    assert start[1] > end[1] + 0.2 and end[2] > start[2] + 0.2


def test_mouth_moves_smoothly() -> None:
    rng = np.random.default_rng(7)
    sounds = symbols("a m i u ʃ k t s ə o ɹ p f")
    phonemes, t = [], 0.3
    for _ in range(150):
        duration = rng.uniform(0.03, 0.15)
        phonemes.append(PhonemeTiming(str(rng.choice(sounds)), t, t + duration))
        t += duration + (0.4 if rng.random() < 0.05 else 0.0)
    fine = track(phonemes, fps=100)
    assert np.abs(np.diff(fine, axis=0)).max() < 0.2  # no jumps: continuous at 10 ms steps
    video = track(phonemes, fps=25)
    assert np.abs(np.diff(video, axis=0)).max() < 0.65


def test_values_stay_in_range_for_odd_input() -> None:
    phonemes = [
        PhonemeTiming("a", 0.5, 0.5),  # zero length
        PhonemeTiming("m", 0.45, 0.7),  # overlaps, out of order
        PhonemeTiming("☃", 0.7, 0.8),
        PhonemeTiming("", 0.8, 0.9),
        PhonemeTiming("(fr)", 0.9, 0.95),
        PhonemeTiming("i", float("nan"), 1.0),
        PhonemeTiming("oe~", 1.0, 1.2),
    ]
    values = track(phonemes)
    assert np.isfinite(values).all()
    assert values[:, :2].min() >= 0 and values[:, :2].max() <= 1


def test_frame_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        mouth_track([], 0, 10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([*KOKORO_SYMBOLS[:20], *ESPEAK_SYMBOLS[:20], "☃", "(en)", "ˈ"]),
            st.floats(0, 5),
            st.floats(0, 0.5),
        ),
        max_size=30,
    ),
    st.sampled_from([10.0, 25.0, 29.97, 60.0]),
)
def test_any_timings_give_shapes_in_range(items: list[tuple[str, float, float]], fps: float) -> None:
    phonemes = [PhonemeTiming(s, start, start + d) for s, start, d in items]
    shapes = mouth_track(phonemes, fps, int(6 * fps))
    assert len(shapes) == int(6 * fps)
    for m in shapes:
        assert isinstance(m, MouthShape)
        assert 0 <= m.jaw <= 1 and 0 <= m.open <= 1 and -1 <= m.width <= 1 and 0 <= m.protrude <= 1


@pytest.mark.parametrize("symbol", KOKORO_SYMBOLS + ESPEAK_SYMBOLS)
def test_every_sampled_symbol_is_mapped_explicitly(symbol: str) -> None:
    assert is_known(symbol) and visemes_of(symbol), symbol


def test_language_switches_and_marks_are_not_sounds() -> None:
    for symbol in (*LANGUAGE_SWITCHES, "ˈ", "ː", "ʰ", "→", " "):
        assert visemes_of(symbol) == () and is_known(symbol)


def test_unknown_symbols_fall_back_without_failing() -> None:
    assert not is_known("☃") and visemes_of("☃") == (Viseme.ALVEOLAR,)  # a neutral consonant
    assert not is_known("oe~") and visemes_of("oe~") == (Viseme.MID,)  # a half-open vowel


def test_marks_on_known_symbols_are_dropped() -> None:
    assert visemes_of("ɑː") == visemes_of("ɑ") == (Viseme.OPEN,)
    assert visemes_of("ꭧʰ") == visemes_of("ʂ") == (Viseme.POSTALVEOLAR,)
    assert visemes_of("'aI") == visemes_of("aI")
    assert visemes_of("oʊ") == (Viseme.MID_ROUND, Viseme.CLOSE_ROUND)


def test_kokoro_vocabulary_is_covered() -> None:
    kokoro_onnx = pytest.importorskip("kokoro_onnx")
    vocab = json.loads((Path(kokoro_onnx.__file__).parent / "config.json").read_text("utf-8"))["vocab"]
    assert not [symbol for symbol in vocab if not is_known(symbol)]


def _espeak_phonemes(table: str) -> set[str]:
    """The mnemonics of one espeak-ng phoneme table and the tables it includes (from the binary phontab)."""
    loader = pytest.importorskip("espeakng_loader")
    data = (Path(loader.get_data_path()) / "phontab").read_bytes()
    tables: list[tuple[str, int, list[tuple[int, str, int]]]] = []
    offset = 4
    for _ in range(data[0]):
        count, includes = data[offset], data[offset + 1]
        name = data[offset + 4 : offset + 36].split(b"\0")[0].decode()
        offset += 36
        entries = []
        for _ in range(count):
            mnemonic, _flags, _program, code, kind = struct.unpack_from("<IIHBB", data, offset)
            entries.append((code, mnemonic.to_bytes(4, "little").rstrip(b"\0").decode("latin-1"), kind))
            offset += 16
        tables.append((name, includes, entries))
    index = [name for name, _, _ in tables].index(table)
    chain = [index]
    while tables[chain[-1]][1] > 0:
        chain.append(tables[chain[-1]][1] - 1)
    by_code: dict[int, tuple[str, int]] = {}
    for i in reversed(chain):
        by_code.update({code: (mnemonic, kind) for code, mnemonic, kind in tables[i][2] if mnemonic})
    return {mnemonic for mnemonic, kind in by_code.values() if 2 <= kind <= 8}  # vowels … nasals


@pytest.mark.parametrize("table", ["en", "en-us", "cmn"])
def test_espeak_phoneme_tables_are_covered(table: str) -> None:
    phonemes = _espeak_phonemes(table)
    assert len(phonemes) > 60
    assert not sorted(p for p in phonemes if not (is_known(p) and visemes_of(p)))


def test_table_has_no_empty_entries() -> None:
    assert all(TABLE.values())


def test_real_speech_symbols_are_all_mapped(real_phonemes: dict[str, list[PhonemeTiming]]) -> None:
    unknown = {p.phoneme for phonemes in real_phonemes.values() for p in phonemes if not is_known(p.phoneme)}
    assert not unknown


def test_real_speech_closes_for_bilabials_and_moves_smoothly(real_phonemes: dict[str, list[PhonemeTiming]]) -> None:
    fps = 25.0
    for name, phonemes in real_phonemes.items():
        values = track(phonemes, fps)
        assert np.abs(np.diff(values, axis=0)).max() < 0.65, name
        assert values[-3:, :2].max() < 0.02, name  # closed once speech is over
        for p in phonemes:
            if visemes_of(p.phoneme) == (Viseme.BILABIAL,):
                span = values[int((p.start - 0.06) * fps) : int(p.end * fps) + 2, 1]
                assert span.min() < 0.15, (name, p)
        opened = values[:, 1].max()
        assert opened > 0.5, name
