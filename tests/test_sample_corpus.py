"""The generated sample corpus: deterministic, realistic enough for the clean stage, planted duplicates."""

import gzip
import json
import re
from collections import Counter

import pytest
from langdetect import DetectorFactory, detect

from fullchain.pipelines.clean.cleaner import DocumentCleaner
from fullchain.pipelines.clean.config import CleanConfig
from fullchain.pipelines.dedup.exact_hash import exact_hash
from fullchain.pipelines.document import Document
from fullchain.pipelines.sample_corpus import NEAR_EDITS, generate_corpus, write_jsonl, write_sample_corpus


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(1000, seed=4)


def test_same_seed_same_corpus(corpus):
    records, truth = corpus
    again, truth_again = generate_corpus(1000, seed=4)
    assert again == records and truth_again == truth
    other, _ = generate_corpus(1000, seed=5)
    assert other != records


def test_counts_ids_and_fields(corpus):
    records, truth = corpus
    assert len(records) == 1000
    assert [r["id"] for r in records] == sorted({r["id"] for r in records})
    assert all(set(r) == {"id", "text", "url", "date"} for r in records)
    kinds = Counter(d.kind for d in truth.duplicates)
    assert kinds == {"exact": 50, "near": 100} and len(truth.noisy) == 50
    originals = {d.original_id for d in truth.duplicates}
    assert len(originals) == 150  # every copy has an original of its own
    assert not originals & {d.duplicate_id for d in truth.duplicates}
    langs = Counter(lang for doc_id, lang in truth.languages.items() if doc_id not in truth.noisy)
    assert 0.15 < langs["zh"] / (langs["zh"] + langs["en"]) < 0.25
    assert truth.summary().startswith("1000 documents (")


def test_documents_look_like_prose(corpus):
    records, truth = corpus
    texts = [r["text"] for r in records if r["id"] not in truth.noisy]
    sizes = [len(t.encode("utf-8")) for t in texts]
    assert 1500 < sum(sizes) / len(sizes) < 2600 and min(sizes) > 1000
    for text, lang in ((r["text"], truth.languages[r["id"]]) for r in records if r["id"] not in truth.noisy):
        paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        end = "。" if lang == "zh" else "."
        assert len(paragraphs) >= 2 and all(p.strip().endswith(end) for p in paragraphs)
        assert text.count(end) >= 5
        if lang == "en":
            assert all(len(line.split()) >= 5 for line in text.splitlines() if line.strip())
            assert {"the", "of", "that"} <= set(text.lower().split())


def test_languages_are_detected(monkeypatch):
    records, truth = generate_corpus(120, seed=6, noise_fraction=0.0)
    monkeypatch.setattr(DetectorFactory, "seed", 0)  # langdetect is random otherwise
    detected = Counter((truth.languages[r["id"]], detect(r["text"])) for r in records)
    assert set(detected) == {("en", "en"), ("zh", "zh-cn")}


def test_clean_stage_keeps_the_prose_and_drops_the_noise(corpus):
    records, truth = corpus
    cleaner = DocumentCleaner(CleanConfig())
    outcomes = Counter()
    for r in records[:500]:
        result = cleaner(Document(id=r["id"], text=r["text"]))
        kept = isinstance(result, Document)
        if r["id"] in truth.noisy:
            outcomes["noise kept" if kept else "noise dropped"] += 1
        else:
            assert kept, (result.reason, result.detail)
            assert result.lang == truth.languages[r["id"]]
            outcomes["kept"] += 1
    assert outcomes["noise kept"] == 0 and outcomes["noise dropped"] > 10


def test_planted_duplicates(corpus):
    records, truth = corpus
    text = {r["id"]: r["text"] for r in records}
    exact = [d for d in truth.duplicates if d.kind == "exact"]
    assert all(exact_hash(text[d.original_id]) == exact_hash(text[d.duplicate_id]) for d in exact)
    assert any(text[d.original_id] != text[d.duplicate_id] for d in exact)  # some are re-wrapped
    assert all(d.jaccard == 1.0 for d in exact)
    near = [d for d in truth.duplicates if d.kind == "near"]
    assert all(abs(d.jaccard - d.target_jaccard) < 0.05 for d in near)
    assert min(d.jaccard for d in near) < 0.35 and max(d.jaccard for d in near) > 0.9
    assert all(text[d.original_id] != text[d.duplicate_id] for d in near)


def test_near_duplicates_of_every_edit():
    records, truth = generate_corpus(1200, seed=6, exact_dup_fraction=0.0, near_dup_fraction=0.3, noise_fraction=0.0,
                                     near_edits=NEAR_EDITS)
    text = {r["id"]: r["text"] for r in records}
    near = [d for d in truth.duplicates if d.kind == "near"]
    assert Counter(d.edit for d in near) == {edit: 60 for edit in NEAR_EDITS}
    assert all(text[d.original_id] != text[d.duplicate_id] for d in near)

    def paragraphs(doc_id):
        return text[doc_id].strip("\n").split("\n\n")

    for d in near:
        original, copy = paragraphs(d.original_id), paragraphs(d.duplicate_id)
        if d.edit == "truncation":  # whole paragraphs kept from the start, then a cut paragraph
            assert copy[:-1] == original[:len(copy) - 1] and original[len(copy) - 1].startswith(copy[-1])
        elif d.edit == "containment":  # the original whole, with new text before and after it
            assert "\n\n".join(original) in "\n\n".join(copy) and len(copy) > len(original)
        elif d.edit == "boilerplate":  # another text between the same header and footer
            assert (copy[0], copy[-1]) == (original[0], original[-1]) and copy[1:-1] != original[1:-1]
    # sentence deletions and insertions also change the shingles across each edit, so they land
    # further from their target than the other edits
    error = {edit: max(abs(d.jaccard - d.target_jaccard) for d in near if d.edit == edit) for edit in NEAR_EDITS}
    assert all(error[edit] < 0.06 for edit in ("substitution", "truncation", "containment", "boilerplate")), error
    assert all(error[edit] < 0.35 for edit in ("deletion", "insertion")), error


def test_invalid_arguments():
    with pytest.raises(ValueError, match="zh_fraction"):
        generate_corpus(10, zh_fraction=1.5)
    with pytest.raises(ValueError, match="near_jaccard_range"):
        generate_corpus(10, near_jaccard_range=(0.5, 1.0))
    with pytest.raises(ValueError, match="more duplicates than originals"):
        generate_corpus(10, exact_dup_fraction=0.4, near_dup_fraction=0.4)
    with pytest.raises(ValueError, match="near_edits"):
        generate_corpus(10, near_edits=("paraphrase",))


@pytest.mark.parametrize("name", ["corpus.jsonl", "corpus.jsonl.gz"])
def test_write_jsonl(tmp_path, name):
    records, _ = generate_corpus(20, seed=1)
    path = str(tmp_path / name)
    write_jsonl(records, path)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as lines:
        assert [json.loads(line) for line in lines] == records
    if name.endswith(".gz"):
        with open(path, "rb") as raw:
            assert raw.read(2) == b"\x1f\x8b"


def test_write_sample_corpus(tmp_path):
    summary = write_sample_corpus(str(tmp_path / "demo.jsonl.gz"), n_docs=100, seed=0)
    assert summary.startswith("wrote ") and "5 exact duplicates, 10 near duplicates, 5 noisy" in summary
