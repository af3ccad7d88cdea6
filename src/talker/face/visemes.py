"""Phonemes to mouth shapes: a viseme per sound, blended over time by a dominance model.

Every phoneme symbol of both TTS backends (Kokoro's IPA for Chinese and English, espeak-ng's mnemonics)
maps to one or more visemes; each viseme is a `MouthShape` target. `mouth_track` turns timed phonemes
into one `MouthShape` per video frame.

Coarticulation follows the dominance model of Cohen & Massaro: every segment (a phoneme, a part of a
diphthong, or a stretch of silence) has a dominance over time, flat across the middle of its span and
falling off as a Gaussian on either side, and each mouth parameter at time t is the dominance-weighted
mean of the segments' targets. Dominance is per parameter: a /m/ dominates lip opening strongly but
lip rounding hardly (so it takes the rounding of its vowels), /ʃ/ and /u/ dominate rounding, /k/ and
/h/ dominate nothing much (they take the shape of their neighbours). Short segments are outweighed by
their neighbours and do not fully reach their targets; the strong lip dominance of bilabials keeps
even a short /m/ nearly closed. Segments are moved `ANTICIPATION` seconds earlier and rise more
slowly than they fall, so the mouth heads for a sound 60–100 ms before it is heard. Silences (before
the first phoneme, after the last, and gaps longer than `PAUSE` seconds) are segments with the
closed shape; the sound before a silence is held until it ends, then the mouth relaxes.

Frame i is shown at i/fps and held until (i+1)/fps; it is sampled at the middle of that interval,
t = (i + 0.5) / fps, which halves the worst timing error against the audio.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from enum import Enum
from functools import lru_cache

import numpy as np

from talker.face.pose import CLOSED, MouthShape
from talker.frames import PhonemeTiming

ANTICIPATION = 0.05  # s: segments are placed this much before their sound (plus a slower rise, below)
PAUSE = 0.15  # s: a gap between phonemes longer than this is a silence the mouth relaxes in
_EDGE = 0.03  # s: each side of a segment that is transition, not plateau (short segments have no plateau)
_RELAX = 0.05  # s: after speech stops, the silence takes over from this point on


class Viseme(Enum):
    """A visually distinct mouth position; several phonemes share one."""

    SILENT = "silent"  # rest, lips together
    BILABIAL = "bilabial"  # p b m: lips pressed
    LABIODENTAL = "labiodental"  # f v: lower lip to upper teeth
    DENTAL = "dental"  # θ ð: tongue between the teeth
    ALVEOLAR = "alveolar"  # t d n l s z, and the spread alveolo-palatals ɕ ʨ
    POSTALVEOLAR = "postalveolar"  # ʃ ʒ ʧ ʤ, Mandarin ʂ ꭧ: lips rounded and pushed out
    VELAR = "velar"  # k g ŋ x h: tongue back, lips free
    OPEN = "open"  # a ɑ æ
    MID = "mid"  # e ɛ ə ɜ ʌ ɤ
    CLOSE_FRONT = "close_front"  # i ɪ j: spread
    CLOSE_ROUND = "close_round"  # u ʊ w y ɥ: rounded, protruded
    MID_ROUND = "mid_round"  # o ɔ: rounded, jaw half open
    RHOTIC = "rhotic"  # ɹ ɻ ɚ ʐ: slight rounding
    APICAL = "apical"  # Mandarin ɨ (the vowel of 资 and 知): teeth nearly together, lips neutral


SHAPES: dict[Viseme, MouthShape] = {
    Viseme.SILENT: CLOSED,
    Viseme.BILABIAL: MouthShape(jaw=0.06, open=0.0, width=0.0, protrude=0.05),
    Viseme.LABIODENTAL: MouthShape(jaw=0.10, open=0.06, width=0.05, protrude=0.0),
    Viseme.DENTAL: MouthShape(jaw=0.18, open=0.20, width=0.15, protrude=0.0),
    Viseme.ALVEOLAR: MouthShape(jaw=0.14, open=0.16, width=0.20, protrude=0.0),
    Viseme.POSTALVEOLAR: MouthShape(jaw=0.12, open=0.18, width=-0.30, protrude=0.55),
    Viseme.VELAR: MouthShape(jaw=0.25, open=0.24, width=0.05, protrude=0.0),
    Viseme.OPEN: MouthShape(jaw=0.75, open=0.75, width=0.20, protrude=0.0),
    Viseme.MID: MouthShape(jaw=0.42, open=0.42, width=0.10, protrude=0.0),
    Viseme.CLOSE_FRONT: MouthShape(jaw=0.14, open=0.20, width=0.60, protrude=0.0),
    Viseme.CLOSE_ROUND: MouthShape(jaw=0.12, open=0.12, width=-0.65, protrude=0.70),
    Viseme.MID_ROUND: MouthShape(jaw=0.40, open=0.38, width=-0.45, protrude=0.45),
    Viseme.RHOTIC: MouthShape(jaw=0.22, open=0.22, width=-0.25, protrude=0.35),
    Viseme.APICAL: MouthShape(jaw=0.12, open=0.14, width=0.25, protrude=0.05),
}

# Dominance of each viseme over (jaw, open, width, protrude), and its rise / fall time constants (s).
# The rise is slower than the fall: anticipation reaches further ahead than carry-over lingers.
_DOMINANCE: dict[Viseme, tuple[tuple[float, float, float, float], float, float]] = {
    Viseme.SILENT: ((2.0, 2.0, 2.0, 2.0), 0.05, 0.06),
    Viseme.BILABIAL: ((1.5, 10.0, 0.6, 0.6), 0.05, 0.035),
    Viseme.LABIODENTAL: ((1.5, 6.0, 0.8, 0.8), 0.05, 0.035),
    Viseme.DENTAL: ((1.2, 2.0, 0.7, 0.6), 0.045, 0.035),
    Viseme.ALVEOLAR: ((1.2, 1.0, 0.4, 0.3), 0.045, 0.035),
    Viseme.POSTALVEOLAR: ((1.0, 1.2, 2.5, 3.0), 0.06, 0.04),
    Viseme.VELAR: ((0.6, 0.6, 0.3, 0.3), 0.045, 0.035),
    Viseme.OPEN: ((1.2, 1.2, 0.8, 0.8), 0.07, 0.06),
    Viseme.MID: ((1.0, 1.0, 0.7, 0.7), 0.07, 0.06),
    Viseme.CLOSE_FRONT: ((1.0, 1.0, 1.5, 1.0), 0.07, 0.06),
    Viseme.CLOSE_ROUND: ((1.0, 1.2, 2.0, 2.5), 0.08, 0.06),
    Viseme.MID_ROUND: ((1.0, 1.0, 1.8, 2.0), 0.08, 0.06),
    Viseme.RHOTIC: ((0.8, 0.8, 1.4, 1.6), 0.06, 0.05),
    Viseme.APICAL: ((0.8, 0.8, 1.0, 0.8), 0.06, 0.05),
}

_V = Viseme
# Symbols separated by spaces; Kokoro IPA and espeak-ng mnemonics (en, en-us, cmn tables) side by side.
# Upper-case letters are espeak mnemonics (Kokoro writes English in espeak's IPA, not misaki's
# upper-case diphthongs), except W and Y, which espeak's tables here do not use.
_GROUPS: dict[Viseme, str] = {
    _V.SILENT: "_ , . ! … —",
    _V.BILABIAL: "p b m ɓ ʙ ɸ β ph m- B",
    _V.LABIODENTAL: "f v ʋ ɱ v#",
    _V.DENTAL: "θ ð T D",
    _V.ALVEOLAR: (
        "t d n l s z ɾ ɫ ɬ ɮ ʦ ʣ ʨ ʥ ɕ ʑ ç ʝ ɖ ʈ ɳ ɭ ɲ ʎ ts dz tɕ dʑ "
        "t# t2 d# t[ d[ n. n^ n- l- l. l/ l/2 l/3 l^ l# L L/ s; z; z/2 z# tsh * ** C J^ S; Z; tS; tS;h dZ;"
    ),
    _V.POSTALVEOLAR: "ʃ ʒ ʧ ʤ ʂ ꭧ tʃ dʒ tʂ dʐ ʈʂ ɖʐ S Z tS dZ s. ts. ts.h",
    _V.VELAR: 'k g ɡ ŋ x ɣ χ h ɦ ʔ q ɢ ɴ ɰ c ɟ ħ ʕ kh N N- X #X1 ? J Q Q" Q^',
    _V.OPEN: "a ɑ æ ɒ ɶ ä A A: A# A~ a2 aa 0 0# 02",
    _V.MID: "e ɛ ə ɜ ʌ ɤ ɘ ɞ ɐ ᵊ E E2 E# @ @2 @5 @# @- V 3: e: e# a# a#2 o-",
    _V.CLOSE_FRONT: "i ɪ j I I2 I# I2# i: ;",
    _V.CLOSE_ROUND: "u ʊ w ɥ y ʏ ʉ ᵿ ʍ ᵝ U u: w# yu",
    _V.MID_ROUND: "o ɔ ø œ ɵ O O: O2 O~ o:",
    _V.RHOTIC: 'ɹ ɻ ɚ ɝ r ʀ ʁ ɽ ʐ r- r. r/ r" R R2 R3 @r 3 IR VR z.',
    _V.APICAL: "ɨ ɯ ɿ ʅ ᵻ i. i[",
}

# Diphthongs and other symbols that move through several shapes within their span.
_SEQUENCES: dict[str, tuple[Viseme, ...]] = {
    "aI": (_V.OPEN, _V.CLOSE_FRONT),
    "ai": (_V.OPEN, _V.CLOSE_FRONT),
    "aI3": (_V.OPEN, _V.CLOSE_FRONT, _V.RHOTIC),
    "aI@": (_V.OPEN, _V.CLOSE_FRONT, _V.RHOTIC),
    "aU": (_V.OPEN, _V.CLOSE_ROUND),
    "Au": (_V.OPEN, _V.CLOSE_ROUND),
    "W": (_V.OPEN, _V.CLOSE_ROUND),
    "aU@": (_V.OPEN, _V.CLOSE_ROUND, _V.RHOTIC),
    "eI": (_V.MID, _V.CLOSE_FRONT),
    "ei": (_V.MID, _V.CLOSE_FRONT),
    "oU": (_V.MID_ROUND, _V.CLOSE_ROUND),
    "oU#": (_V.MID_ROUND, _V.CLOSE_ROUND),
    "ou": (_V.MID_ROUND, _V.CLOSE_ROUND),
    "OI": (_V.MID_ROUND, _V.CLOSE_FRONT),
    "Y": (_V.MID_ROUND, _V.CLOSE_FRONT),
    "i@": (_V.CLOSE_FRONT, _V.MID),
    "i@3": (_V.CLOSE_FRONT, _V.RHOTIC),
    "e@": (_V.MID, _V.RHOTIC),
    "A@": (_V.OPEN, _V.RHOTIC),
    "O@": (_V.MID_ROUND, _V.RHOTIC),
    "o@": (_V.MID_ROUND, _V.RHOTIC),
    "U@": (_V.CLOSE_ROUND, _V.RHOTIC),
    "@L": (_V.MID, _V.ALVEOLAR),
    "ua": (_V.CLOSE_ROUND, _V.OPEN),
    "uA": (_V.CLOSE_ROUND, _V.OPEN),
    "uo": (_V.CLOSE_ROUND, _V.MID_ROUND),
    "uai": (_V.CLOSE_ROUND, _V.OPEN, _V.CLOSE_FRONT),
    "uei": (_V.CLOSE_ROUND, _V.MID, _V.CLOSE_FRONT),
    "u@": (_V.CLOSE_ROUND, _V.MID),
    "iA": (_V.CLOSE_FRONT, _V.OPEN),
    "iAu": (_V.CLOSE_FRONT, _V.OPEN, _V.CLOSE_ROUND),
    "iE": (_V.CLOSE_FRONT, _V.MID),
    "io": (_V.CLOSE_FRONT, _V.MID_ROUND),
    "iou": (_V.CLOSE_FRONT, _V.MID_ROUND, _V.CLOSE_ROUND),
    "ong": (_V.CLOSE_ROUND, _V.VELAR),
    "y&": (_V.CLOSE_ROUND, _V.MID),
    "yE": (_V.CLOSE_ROUND, _V.MID),
    "y@": (_V.CLOSE_ROUND, _V.MID),
    "yi": (_V.CLOSE_ROUND, _V.CLOSE_FRONT),
}

# Not sounds: stress marks, separators, espeak's syllable and length marks. A language switch such as
# espeak's "(en)" is recognised by its brackets.
_IGNORED = frozenset({"ˈ", "ˌ", "'", "%", "=", "-", ":", "|", "||", '"', "“", "”", "(", ")"})

TABLE: dict[str, tuple[Viseme, ...]] = {
    **{symbol: (viseme,) for viseme, symbols in _GROUPS.items() for symbol in symbols.split()},
    **_SEQUENCES,
}

_LEADING = "ˈˌ'%=,"
_TRAILING = "ːˑʰʲʷᵝˠˤ̃ᵊ→↓↗↘:#"  # length, aspiration, secondary articulation, tone arrows, espeak variants
_VOWEL_CHARS = frozenset("aeiouyAEIOUVY@03æɐɑɒɔəɘɚɛɜɝɞɤɨɪɯɵøœɶʉʊʌʏᵻᵿ")


@lru_cache(maxsize=1024)
def _lookup(symbol: str) -> tuple[tuple[Viseme, ...], bool]:
    """The visemes of `symbol` and whether the table knew it (False: a guess from its letters)."""
    s = symbol.strip()
    if not s or s in _IGNORED or (s.startswith("(") and s.endswith(")")):
        return (), True
    if s in TABLE:
        return TABLE[s], True
    s = s.lstrip(_LEADING) or s
    while s not in TABLE:
        shorter = "".join(c for c in s.rstrip(_TRAILING) if not unicodedata.combining(c))
        if len(shorter) > 1:
            shorter = shorter.rstrip("0123456789") or shorter
        if not shorter:
            return (), True  # a bare length, aspiration or tone mark
        if shorter == s:
            break
        s = shorter
    else:
        return TABLE[s], True
    if all(c in TABLE and len(TABLE[c]) == 1 for c in s):
        # An IPA cluster written as one symbol ("oʊ", "tʰʃ"): its letters in turn.
        letters = [TABLE[c][0] for c in s]
        return tuple(v for i, v in enumerate(letters) if i == 0 or v != letters[i - 1]), True
    return ((Viseme.MID,) if any(c in _VOWEL_CHARS for c in s) else (Viseme.ALVEOLAR,)), False


def visemes_of(symbol: str) -> tuple[Viseme, ...]:
    """The visemes a phoneme symbol passes through (one for most; none for marks that are not sounds).

    An unknown symbol never fails: it becomes a half-open vowel if it looks like a vowel, else a
    neutral consonant.
    """
    return _lookup(symbol)[0]


def is_known(symbol: str) -> bool:
    """Whether `symbol` is covered by the table (after dropping length, aspiration and stress marks)."""
    return _lookup(symbol)[1]


def _segments(phonemes: Sequence[PhonemeTiming]) -> tuple[np.ndarray, np.ndarray, list[Viseme]]:
    """Core intervals (lo, hi) of every segment, silences included, and their visemes."""
    spans: list[tuple[float, float, Viseme]] = []
    timed = [p for p in phonemes if np.isfinite(p.start) and np.isfinite(p.end)]
    for p in sorted(timed, key=lambda p: p.start):
        start, end = float(p.start), max(float(p.end), float(p.start) + 0.01)
        visemes = visemes_of(p.phoneme)
        step = (end - start) / max(len(visemes), 1)
        spans += [(start + i * step, start + (i + 1) * step, v) for i, v in enumerate(visemes)]
    if not spans:
        return np.empty(0), np.empty(0), []
    lo: list[float] = [-1e9]
    hi: list[float] = [spans[0][0] - ANTICIPATION - _EDGE]
    kinds = [Viseme.SILENT]

    def silence(after: float, until: float) -> None:
        # Nothing to anticipate before a silence: the sound before it is held until it ends.
        hi[-1] = max(hi[-1], after - _EDGE)
        lo.append(after + _RELAX)
        hi.append(until)
        kinds.append(Viseme.SILENT)

    last_end = spans[0][1]
    for start, end, viseme in spans:
        if start - last_end > PAUSE:
            silence(last_end, start - ANTICIPATION - _EDGE)
        half = (end - start) / 2
        core = max(half - _EDGE, 0.0)
        mid = start + half - ANTICIPATION
        lo.append(mid - core)
        hi.append(mid + core)
        kinds.append(viseme)
        last_end = max(last_end, end)
    silence(last_end, 1e9)
    return np.asarray(lo), np.maximum(np.asarray(hi), np.asarray(lo)), kinds


def mouth_track(phonemes: Sequence[PhonemeTiming], fps: float, n_frames: int) -> list[MouthShape]:
    """One `MouthShape` per frame for speech with these phoneme timings (seconds from frame 0's time).

    Frame i is sampled at t = (i + 0.5) / fps. Frames before the first phoneme, after the last and in
    pauses longer than `PAUSE` relax to closed.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if n_frames <= 0:
        return []
    lo, hi, kinds = _segments(phonemes)
    if not kinds:
        return [CLOSED] * n_frames
    targets = np.array([[SHAPES[k].jaw, SHAPES[k].open, SHAPES[k].width, SHAPES[k].protrude] for k in kinds])
    weights = np.array([_DOMINANCE[k][0] for k in kinds])
    rise = np.array([_DOMINANCE[k][1] for k in kinds])
    fall = np.array([_DOMINANCE[k][2] for k in kinds])

    t = (np.arange(n_frames) + 0.5) / fps
    num = np.zeros((n_frames, 4))
    den = np.zeros((n_frames, 4))
    # Only segments near a block of frames matter; blocks keep the work linear in the length.
    reach = 6.0 * max(float(rise.max()), float(fall.max()))
    block = 256
    for first in range(0, n_frames, block):
        tb = t[first : first + block]
        near = np.nonzero((lo <= tb[-1] + reach) & (hi >= tb[0] - reach))[0]
        before = (lo[near, None] - tb[None, :]) / rise[near, None]
        after = (tb[None, :] - hi[near, None]) / fall[near, None]
        distance = np.maximum(np.maximum(before, after), 0.0)
        bump = np.exp(-np.square(distance))  # (segments, frames)
        num[first : first + block] = bump.T @ (weights[near] * targets[near])
        den[first : first + block] = bump.T @ weights[near]
    values = num / np.maximum(den, 1e-12)
    values[np.abs(values) < 1e-6] = 0.0  # Gaussian tails never quite vanish; silence should be exactly closed
    values[:, :2] = np.clip(values[:, :2], 0.0, 1.0)
    values[:, 2] = np.clip(values[:, 2], -1.0, 1.0)
    values[:, 3] = np.clip(values[:, 3], 0.0, 1.0)
    return [MouthShape(jaw, opening, width, protrude) for jaw, opening, width, protrude in values.tolist()]
