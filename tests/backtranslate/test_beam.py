"""The Backtranslate transform in TestPipelines: with a fake translator (gate outcomes, lineage,
determinism) and with tiny random HF models (real loading, batching and generation plumbing)."""

import json
import os

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline

from fullchain.pipelines.backtranslate.beam import Backtranslate, METRICS_NAMESPACE
from fullchain.pipelines.backtranslate.config import BacktranslateConfig, GenerationConfig
from fullchain.pipelines.backtranslate.model_check import check_models
from fullchain.pipelines.document import Document
from fullchain.pipelines.ledger import build_ledger
from tests.backtranslate.samples import FakeTranslator, english_documents, slight_edit
from tests.beam_metrics import beam_counters


def run(docs, cfg, out_dir, translator=None):
    """Run the stage; returns (kept, rejected rows, added, counters) read back from JSON-lines files."""
    pipeline = test_pipeline.TestPipeline()
    outputs = pipeline | beam.Create(docs) | Backtranslate(cfg, translator=translator)
    for name, pcoll, to_row in (("kept", outputs.kept, Document.to_row), ("rejected", outputs.rejected, None),
                                ("added", outputs.added, Document.to_row)):
        (pcoll
         | f"Row{name}" >> beam.Map(lambda item, f=to_row: json.dumps(f(item) if f else item.to_row()))
         | f"Write{name}" >> beam.io.WriteToText(os.path.join(out_dir, name), shard_name_template=""))
    result = pipeline.run()
    result.wait_until_finish()
    counters = beam_counters(result, METRICS_NAMESPACE)  # summed over both directions' steps

    def rows(name):
        with open(os.path.join(out_dir, name)) as f:
            return [json.loads(line) for line in f]

    return rows("kept"), rows("rejected"), rows("added"), counters


def balanced_ledger(docs, kept, rejected, added):
    reasons = {}
    for row in rejected:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    added_kept = sum(1 for row in kept if "augmented_from" in json.loads(row["meta"]))
    parts = [{"path": "data/part-00000-of-00001.parquet", "rows": len(kept), "bytes": 0, "sha256": ""}]
    return build_ledger("backtranslate", len(docs), len(kept), reasons.items(), {}, [], "test", parts=parts,
                        added=len(added), added_kept=added_kept)


def test_fake_translator_augments_the_selected_share_with_lineage(tmp_path):
    # an id the seeded selection picks: only its augmented_from keeps it from being augmented again
    earlier = Document(id="aug-0", text=english_documents(1)[0].text, lang="en", meta={"augmented_from": "x"})
    docs = english_documents(40) + [Document(id="zh-1", text="这是一个中文文档。", lang="zh"), earlier]
    cfg = BacktranslateConfig(fraction=0.5, seed=3)
    kept, rejected, added, counters = run(docs, cfg, str(tmp_path), FakeTranslator(slight_edit))
    ledger = balanced_ledger(docs, kept, rejected, added)
    assert 10 < ledger["added"] < 30 and not rejected
    originals = {d.id: d for d in docs}
    assert {row["id"] for row in kept} >= set(originals)  # every original kept
    added_kept = ledger["added_kept"] - 1  # the earlier augmentation passed through counts as well
    for row in kept:
        if row["id"] in originals:
            assert row["text"] == originals[row["id"]].text
    for row in added:
        meta = json.loads(row["meta"])
        source = originals[meta["augmented_from"]]
        assert meta["augmentation"] == "backtranslate" and meta["pivot_lang"] == "zh" and meta["url"] == source.meta["url"]
        assert row["text"] == slight_edit(source.text)  # chunks came back in order, layout kept
    assert {"zh-1", "aug-0"}.isdisjoint(json.loads(row["meta"])["augmented_from"] for row in added)
    assert counters["input"] == 42 and counters["other_language"] == 1 and counters["already_augmented"] == 1
    assert counters["selected"] == counters["generated"] == counters["augmented_kept"] == added_kept == ledger["added"]

    again = run(docs, cfg, str(tmp_path / "again"), FakeTranslator(slight_edit))
    assert sorted(r["id"] for r in again[2]) == sorted(r["id"] for r in added)  # same selection, same new ids


def test_identity_translator_is_rejected_as_too_similar(tmp_path):
    docs = english_documents(6)
    kept, rejected, added, counters = run(docs, BacktranslateConfig(fraction=1.0), str(tmp_path), FakeTranslator())
    ledger = balanced_ledger(docs, kept, rejected, added)
    assert ledger["kept"] == 6 and ledger["rejected"] == {"roundtrip_too_similar": 6}
    assert all(row["stage"] == "backtranslate" and "chrF 1.000" in row["detail"] for row in rejected)
    assert counters["roundtrip_too_similar"] == 6


def tiny_cfg(**fields):
    return BacktranslateConfig(fraction=0.5, max_input_tokens=24, batch_size=4,
                               generation=GenerationConfig(max_new_tokens=6), **fields)


@pytest.mark.parametrize("kind", ["seq2seq", "causal"])
def test_tiny_models_run_end_to_end_and_the_ledger_balances(tmp_path, tiny_models, kind):
    if kind == "seq2seq":
        cfg = tiny_cfg(forward_model=tiny_models["forward"], backward_model=tiny_models["backward"])
    else:
        cfg = tiny_cfg(model_kind="causal", forward_model=tiny_models["causal"])
    check_models(cfg)
    docs = english_documents(12)
    kept, rejected, added, counters = run(docs, cfg, str(tmp_path), None)
    ledger = balanced_ledger(docs, kept, rejected, added)  # raises if input + added != kept + rejected
    assert ledger["added"] == counters["selected"] > 0
    assert counters["chunks"] > counters["selected"]  # documents were cut into several chunks
    assert counters["num_inferences"] == 2 * counters["chunks"]  # RunInference: each chunk both ways
    assert ledger["added_kept"] + len(rejected) == ledger["added"]
    if kind == "seq2seq":  # greedy decoding and seeded selection: a second run generates the same documents
        again = run(docs, cfg, str(tmp_path / "again"), None)[2]
        assert sorted((r["id"], r["text"]) for r in again) == sorted((r["id"], r["text"]) for r in added)
