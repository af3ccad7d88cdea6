"""Recognition accuracy: real recorded English (LibriVox) and Chinese spoken by our own TTS.

Both run through the path users get: VAD segmentation, language detection, Whisper base int8.
"""

from __future__ import annotations

import numpy as np
import pytest

from talker.asr.streaming import InlineDecoder, StreamingTranscriber, finals, join_texts
from talker.asr.vad import SileroModel
from talker.asr.whisper import Transcript, WhisperASR, create
from talker.config import Settings
from talker.errors import InputError
from tests.asr.conftest import RATE, Recording
from tests.speech_metrics import edit_distance, en_units, error_rate

pytestmark = pytest.mark.models


def _transcribe(settings: Settings, vad_model: SileroModel, recognizer: WhisperASR, audio: np.ndarray) -> str:
    transcriber = StreamingTranscriber(vad_model.detector(settings.asr.vad), InlineDecoder(recognizer), settings.asr,
                                       partials=False, endpointing=False)
    silence = np.zeros(RATE // 4, dtype=np.float32)
    blocks = np.array_split(np.concatenate([silence, audio, silence]), 8)
    heard = [Transcript(e.text, e.language, 1.0) for e in finals(transcriber, blocks)]
    assert all(t.language == heard[0].language for t in heard)
    return join_texts(heard)


def _spoken_english(text: str) -> list[str]:
    # LibriVox transcripts spell titles out and split hyphenated words; so does the comparison.
    return en_units(text.replace("Mr.", "mister").replace("Mrs.", "missus").replace("-", " "))


def _librivox_wer(settings: Settings, vad_model: SileroModel, recognizer: WhisperASR,
                  librivox: list[Recording]) -> tuple[float, list[tuple[str, str]]]:
    pairs = [(r.transcript, _transcribe(settings, vad_model, recognizer, r.audio)) for r in librivox]
    words = sum(len(_spoken_english(ref)) for ref, _ in pairs)
    assert len(pairs) == 5 and words > 60
    errors = sum(edit_distance(_spoken_english(ref), _spoken_english(heard)) for ref, heard in pairs)
    return errors / words, [(ref, heard) for ref, heard in pairs if _spoken_english(ref) != _spoken_english(heard)]


def test_librivox_word_error_rate(settings: Settings, vad_model: SileroModel, whisper: WhisperASR,
                                  librivox: list[Recording]) -> None:
    wer, differences = _librivox_wer(settings, vad_model, whisper, librivox)
    assert wer <= 0.05, f"WER {wer:.1%}; differences: {differences}"


def test_chinese_character_error_rate_with_language_detection(
    settings: Settings, vad_model: SileroModel, whisper: WhisperASR, chinese_speech: list[tuple[str, np.ndarray]]
) -> None:
    pairs = [(sentence, _transcribe(settings, vad_model, whisper, audio)) for sentence, audio in chinese_speech]
    assert len(pairs) >= 10
    cer = error_rate(pairs, "zh")
    assert cer <= 0.08, f"CER {cer:.1%}: {pairs}"
    punctuated = [heard for _, heard in pairs if any(mark in heard for mark in "，。？！")]
    assert len(punctuated) >= 0.75 * len(pairs), f"punctuation was lost: {pairs}"


def test_tiny_english_model_is_a_faster_english_backend(settings: Settings, vad_model: SileroModel,
                                                        librivox: list[Recording]) -> None:
    tiny = create(settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": "whisper-tiny-en"})}))
    wer, differences = _librivox_wer(settings, vad_model, tiny, librivox)
    assert wer <= 0.08, f"WER {wer:.1%}; differences: {differences}"
    assert tiny.transcribe(librivox[4].audio).language == "en"
    with pytest.raises(InputError, match="whisper-base"):
        tiny.transcribe(librivox[4].audio, language="zh")
