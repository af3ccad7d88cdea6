"""MiniLM sentence embeddings in numpy, checked against the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import time

import numpy as np
import pytest

from talker.config import Settings
from talker.dialogue.embeddings import MiniLMEmbedder, create_embedder, erf_approx, read_safetensors
from talker.models.kit import ModelKit


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> MiniLMEmbedder:
    status = ModelKit(settings.models_dir).status("minilm-l6")
    if not status.ready:
        pytest.fail(f"minilm-l6 is {status.state}: {status.detail}")
    return create_embedder(settings)


def cosine(embedder: MiniLMEmbedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


def test_vectors_are_unit_length_float32(embedder: MiniLMEmbedder) -> None:
    texts = ["How do I reset my password?", "", "短句", "word " * 400]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_identical_texts_give_identical_vectors(embedder: MiniLMEmbedder) -> None:
    a, b, c = embedder.embed(["The office opens at nine.", "Something else entirely.", "The office opens at nine."])
    assert np.array_equal(a, c)
    assert not np.allclose(a, b)


def test_batching_and_padding_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = ["Hi.", "Where can I park my car when I visit the main building on a weekday morning?",
             "Refunds take five to seven working days.", "ok", "The printer on the third floor is out of toner."]
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    for batch_size in (2, 3, 32):
        assert np.max(np.abs(embedder.embed(texts, batch_size=batch_size) - alone)) < 1e-4


def test_long_texts_are_truncated_to_256_tokens(embedder: MiniLMEmbedder) -> None:
    head = "The quick brown fox jumps over the lazy dog. " * 30  # well over 256 tokens
    long_a, long_b = embedder.embed([head + "Cats are great.", head + "Completely different ending here."])
    assert np.max(np.abs(long_a - long_b)) < 1e-6  # the endings fall beyond the window


@pytest.mark.parametrize(("query", "near", "far"), [
    ("How do I reset my password?", "Steps to change a forgotten password", "The weather is sunny today"),
    ("When does the library open?", "Opening hours of the library are 9am to 6pm", "How to cook rice"),
    ("My laptop will not turn on", "Troubleshooting a computer that does not power up",
     "Our cafeteria serves lunch at noon"),
    ("Can I get a refund for my order?", "Returning a purchase and getting your money back",
     "The train to the airport leaves every ten minutes"),
    ("Where can I park my car?", "Visitor parking is behind building B", "Please submit your tax forms by April"),
])
def test_paraphrases_are_closer_than_unrelated_sentences(
    embedder: MiniLMEmbedder, query: str, near: str, far: str
) -> None:
    q, n, f = embedder.embed([query, near, far])
    assert float(q @ n) > float(q @ f) + 0.2


def test_matches_published_sentence_transformers_scores(embedder: MiniLMEmbedder) -> None:
    """Scores printed for all-MiniLM-L6-v2 in the sentence-transformers documentation (4 decimals)."""
    weather = embedder.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    sims = weather @ weather.T
    assert sims[0, 1] == pytest.approx(0.6660, abs=2e-4)
    assert sims[0, 2] == pytest.approx(0.1046, abs=2e-4)
    assert sims[1, 2] == pytest.approx(0.1411, abs=2e-4)
    food = cosine(embedder, "A man is eating food.", "A man is eating a piece of bread.")
    horse = cosine(embedder, "A man is eating food.", "A man is riding a horse.")
    assert food > 0.6 and horse < food - 0.3
    query, *corpus = embedder.embed(["A man is eating pasta.", "A man is eating food.",
                                     "A man is eating a piece of bread.", "A man is riding a horse."])
    assert np.allclose(np.stack(corpus) @ query, [0.7035, 0.5272, 0.1889], atol=2e-4)


def test_safetensors_reader_and_erf_fallback(embedder: MiniLMEmbedder) -> None:
    from scipy.special import erf

    tensors = read_safetensors(embedder.model_dir / "model.safetensors")
    assert tensors["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert tensors["encoder.layer.5.intermediate.dense.weight"].shape == (1536, 384)
    x = np.linspace(-6, 6, 2001, dtype=np.float32)
    assert np.max(np.abs(erf_approx(x) - erf(x))) < 5e-7


def test_throughput_one_thread_is_reported(embedder: MiniLMEmbedder, capsys: pytest.CaptureFixture[str]) -> None:
    """Speed is reported, never asserted (see BENCHMARKS.md)."""
    one = MiniLMEmbedder(embedder.model_dir, threads=1)
    topics = ("parking permit", "library card", "gym membership", "travel pass")
    sentences = [f"Customer {i} asked how to renew a {topics[i % 4]} online before it expires "
                 f"at the end of next month, and whether a fee applies." for i in range(64)]
    one.embed(sentences[:2])  # load outside the timing
    start = time.perf_counter()
    vectors = one.embed(sentences)
    elapsed = time.perf_counter() - start
    assert vectors.shape == (64, 384)
    with capsys.disabled():
        print(f"\nMiniLM, 1 thread: {64 / elapsed:.0f} sentences/s (64 × ~20 words)")
