"""Hybrid retrieval: BM25 fused with the bundled MiniLM embeddings (English), on the real models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from talker.config import Settings
from talker.dialogue.embeddings import MiniLMEmbedder, create_embedder
from talker.dialogue.knowledge import KnowledgeBase
from tests.dialogue import test_knowledge
from tests.dialogue.test_knowledge import QUESTIONS, SHEET_FILES, rank_of

sheet_dir = test_knowledge.sheet_dir  # the fact sheet fixture, shared with the knowledge tests


@pytest.fixture(scope="module")
def embedder(settings: Settings) -> MiniLMEmbedder:
    return create_embedder(settings)


@pytest.fixture(scope="module")
def hybrid(sheet_dir: Path, embedder: MiniLMEmbedder, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[KnowledgeBase]:
    base = KnowledgeBase(tmp_path_factory.mktemp("hybrid") / "kb.sqlite", embedder=embedder)
    for name in SHEET_FILES:
        base.add(sheet_dir / name)
    assert base.index_vectors() == base.stats().chunks
    yield base
    base.close()


def test_fusion_keeps_the_fact_sheet_ranking(hybrid: KnowledgeBase) -> None:
    ranks = [rank_of(hybrid.search(question, k=3), expected) for question, expected in QUESTIONS]
    misses = [(q, r) for (q, _), r in zip(QUESTIONS, ranks, strict=True) if r != 1]
    assert all(r is not None for r in ranks), misses
    assert sum(r == 1 for r in ranks) >= 18, misses


def test_a_paraphrase_with_no_shared_words_is_found_by_meaning(embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    texts = {
        "wifi": "The lobby offers complimentary internet access for guests while they wait.",
        "parking": "Vehicles may be left in the underground garage at no charge for two hours.",
        "pets": "Guide dogs are welcome; other animals must stay outside the building.",
    }
    with KnowledgeBase(tmp_path / "plain.sqlite") as plain, KnowledgeBase(tmp_path / "hybrid.sqlite",
                                                                        embedder=embedder) as hybrid:
        for title, text in texts.items():
            plain.add_text(title, text)
            hybrid.add_text(title, text)
        question = "Can I get online for free?"
        assert not plain.search(question) or plain.search(question)[0].title != "wifi"  # no shared words
        assert hybrid.search(question)[0].title == "wifi"
        assert hybrid.search("Where do I leave my car?")[0].title == "parking"


def test_vectors_follow_removals(embedder: MiniLMEmbedder, tmp_path: Path) -> None:
    with KnowledgeBase(tmp_path / "kb.sqlite", embedder=embedder) as base:
        keep = base.add_text("keep", "Our branch opens at nine in the morning.")
        gone = base.add_text("gone", "Free coffee is served in the lobby every afternoon.")
        assert base.search("Is coffee served here?")[0].title == "gone"
        base.remove(gone.id)
        assert all(hit.doc_id == keep.id for hit in base.search("Is coffee served here?"))
