"""The default corpus: real English and Chinese text with planted copies and junk, the same bytes for
the same seed, and the truth of what was planted."""

from __future__ import annotations

import random

from fullchain.pipelines.real_text.config import CorpusConfig
from fullchain.pipelines.real_text.corpus import documents_of, read_planted, write_corpus
from fullchain.pipelines.real_text.planting import Original, plant
from fullchain.pipelines.real_text.sources import Source, jargon_file, python_docs


def test_the_shipped_english_sources_are_real_prose_of_some_size():
    jargon, docs = jargon_file(), python_docs()
    assert jargon.licence == "public domain" and jargon.chars > 1_000_000
    assert docs.chars > 100_000
    assert any("hacker" in p for p in jargon.passages)


def test_documents_join_passages_to_about_the_asked_size():
    source = Source("s", "en", "x", "y", [f"Passage number {i} of the source text. " * 3 for i in range(60)])
    docs = documents_of(source, doc_chars=500)
    assert all(len(d.text) >= 500 for d in docs[:-1])
    assert "".join(d.text for d in docs).count("Passage number") == 3 * 60


def test_planting_makes_the_asked_share_of_copies_each_of_an_original_of_its_own():
    originals = [Original(" ".join(f"Sentence {i} {j} of this text." for j in range(20)), "en", "s")
                 for i in range(100)]
    planted = plant(random.Random(0), originals, 0.05, 0.1, 0.05)
    kinds = [p.kind for p in planted]
    assert kinds.count("exact_duplicate") == 5 and kinds.count("near_duplicate") == 10
    assert sum(k.startswith("junk_") for k in kinds) == 5
    copies = [p.original for p in planted if p.original >= 0]
    assert len(set(copies)) == len(copies)
    for p in planted:
        if p.kind == "exact_duplicate":
            assert p.text.split() == originals[p.original].text.split()
        elif p.kind == "near_duplicate":
            assert p.text != originals[p.original].text


def test_the_template_corpus_is_the_same_bytes_for_the_same_seed_and_records_its_truth(tmp_path):
    cfg = CorpusConfig(source="template", documents=200)
    first = write_corpus(cfg, str(tmp_path / "a"))
    second = write_corpus(cfg, str(tmp_path / "b"))
    assert first["files"] == second["files"]
    rows = read_planted(str(tmp_path / "a"))
    assert {r["kind"] for r in rows} >= {"exact_duplicate", "near_duplicate", "junk_gibberish"}
    assert all((r["source_id"] is None) == r["kind"].startswith("junk_") for r in rows)
